"""One path for every delivery, live or replayed:

parse -> find the handler -> validate -> store (``storage``) -> announce after commit.

Every way out writes the event with its status, so the event log always says how far a
delivery got, and ends in a ``Result`` whose ``answer`` the view turns into OpenIM's
JSON through one table. Attempts are counted where they start: 1 when a delivery
arrives, +1 when a replay claims the event.
"""

from __future__ import annotations

import enum
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from . import announcing, decisions, lifecycle, sql, storage
from .commands import BadPayload, Handler, Outcome, parse_payload, registry
from .conf import imcallback_settings
from .logs import logsafe
from .models import COMMAND_MAX_LENGTH, CallbackEvent, is_stored, storable, subject

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch


class Answer(enum.Enum):
    """What the caller is told; the view's ``ANSWERS`` table maps each to a response."""

    STORED = "stored"  # processed, duplicate or unhandled (a failed receiver included)
    INVALID = "invalid"  # refused before storing: bad JSON, type, validation
    TOO_LARGE = "too large"
    FAILED = "failed"  # recorded, but storing what it says raised
    LOST = "lost"  # the database could not take the delivery: logged whole
    INTERRUPTED = "interrupted"  # recorded, then the database went away


@dataclass
class Result:
    answer: Answer
    message: str = ""
    detail: Any = field(default="")
    #: Answer fields an error answer carries too: what the server copies from any answer
    #: to a before-callback, repeated from its request (see ``decisions.allow_answer``).
    echo: dict[str, Any] = field(default_factory=dict)


JSON_CONTENT_TYPES = ("application/json", "text/json")
#: Why a delivery is refused before its body is read as JSON: (answer, message, detail).
Refusal = tuple[Answer, str, str]


def is_json_content_type(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return not media_type or media_type in JSON_CONTENT_TYPES or media_type.endswith("+json")


def content_type_refusal(content_type: str) -> Refusal | None:
    if is_json_content_type(content_type):
        return None
    return Answer.INVALID, "The Content-Type must be application/json.", f"got {content_type!r}"


def too_large_refusal(detail: str) -> Refusal:
    return Answer.TOO_LARGE, "The request body is too large.", detail


def recorded_refusal(event: CallbackEvent) -> Refusal | None:
    """Why the request refused a recorded delivery, read again from what was recorded (so a
    replay refuses it too): a body cut off at the size limit, a Content-Type not JSON."""
    if event.body_size > len(event.body):
        return too_large_refusal(f"{event.body_size} bytes; only {len(event.body)} were recorded.")
    headers = {name.lower(): value for name, value in (event.headers or {}).items()}
    return content_type_refusal(headers.get("content-type", ""))


def reject(event: CallbackEvent, answer: Answer, message: str, detail: str) -> Result:
    """Record a delivery refused before parsing (too large, wrong content type)."""
    if not is_stored(event):
        event.attempts = 1
    lifecycle.refuse(event, f"{message} ({detail})")
    return Result(answer, message, detail)


def receive(event: CallbackEvent) -> Result:
    """Record and process a new delivery."""
    event.attempts = 1
    return process(event)


def process(event: CallbackEvent) -> Result:
    """Validate, store and announce an event, new or recorded. Safe to repeat (replay).

    Whatever raises on the way is recorded on the event (``failed``, with the traceback),
    so one failure policy serves every command. ``DatabaseError`` escapes only when the
    database cannot take even that.
    """
    if is_stored(event) and (refused := recorded_refusal(event)):  # a replay
        return reject(event, *refused)
    try:
        payload = parse_payload(bytes(event.body))
    except BadPayload as exc:
        lifecycle.refuse(event, f"{exc.message} {exc.detail}".strip())
        return Result(Answer.INVALID, exc.message, exc.detail)
    if not event.command and isinstance(payload.get("callbackCommand"), str):
        # Old servers post to the bare URL and name the command only in the body.
        event.command = storable(payload["callbackCommand"], COMMAND_MAX_LENGTH)
    declared = registry.command(event.command)
    if declared is not None:
        event.group_id, event.user_id = subject(payload, declared.group_key, declared.user_keys)
    else:
        event.group_id, event.user_id = subject(payload)
    try:
        if is_stored(event) and (outcome := lifecycle.kept(event)) is not None:
            result = _announce_again(event, outcome, payload)  # a replay: stored already
        else:
            result = _process(event, payload)
    except Exception as exc:
        command = logsafe(event.command)
        logger.error("Processing event %s (%s) failed.", event.pk, command, exc_info=exc)
        lifecycle.store_failed(event, exc)
        result = Result(Answer.FAILED, "Storing the callback failed.")
    return result


def _process(event: CallbackEvent, payload: dict[str, Any]) -> Result:
    if not event.command:
        message = "No callback command: neither the URL nor callbackCommand names one."
        lifecycle.refuse(event, message)
        return Result(Answer.INVALID, message, {"callbackCommand": ["This field is required."]})
    handler = registry.get(event.command)
    data, detail = handler.validate(payload) if handler else ({}, None)
    if data is None:
        message = f"The {event.command} body is invalid: " + ", ".join(detail or ()) + "."
        lifecycle.refuse(event, json.dumps(detail, ensure_ascii=False))
        # The server goes on after an error answer, copying these fields from it.
        return Result(Answer.INVALID, message, detail, decisions.echo(event.command, payload))
    decision = None
    if decisions.is_before(event.command):
        # Decided before anything is stored: the answer never waits for, nor depends on,
        # the database (the view answers event.answer whatever happens next).
        decision = decisions.decide(event.command, event, payload)
    note = ""
    if decision is not None:
        event.verdict, event.answer = decision.verdict, decision.answer
        if decision.slow:
            note = "Slow decider: " + "; ".join(decision.slow)
    if not _kept(event.command, handler, decision):
        return Result(Answer.STORED)
    event.dispatch_state = _marker(handler)
    if handler is None or handler.records_only:
        # Recorded, nothing else stored: one write of the event, with its final status.
        if handler is None:
            logger.info("No handler for %s; acknowledged.", logsafe(event.command))
        outcome = Outcome(Status.UNHANDLED if handler is None else Status.PROCESSED, note)
        # An unhandled event's outcome is not kept: a replay after a handler is registered
        # stores it.
        lifecycle.stored(event, outcome, keep=handler is not None)
    else:
        limit = imcallback_settings.record_first_bytes
        outcome = storage.store(event, handler, data, record_first_bytes=limit)
    _announce_after_commit(event, handler, outcome, payload)
    if decision is not None and decision.error:
        lifecycle.decider_failed(event, decision.error)
    return Result(Answer.STORED)


def _marker(handler: Handler | None) -> str:
    """What an announcement for ``handler`` starts as. Inline, the receivers are this
    process's: with none connected, nothing is owed. A task worker may connect others, so
    in task mode the announcement is always queued."""
    if imcallback_settings.dispatch == "task":
        return Dispatch.QUEUED
    return Dispatch.PENDING if announcing.owed(handler) else Dispatch.NONE


def _announce_again(event: CallbackEvent, outcome: Outcome, payload: dict[str, Any]) -> Result:
    """A replay of an event whose storing committed: announce its kept outcome again."""
    handler = registry.get(event.command)
    lifecycle.restore(event, outcome, _marker(handler))
    _announce_after_commit(event, handler, outcome, payload)
    return Result(Answer.STORED)


def _announce_after_commit(
    event: CallbackEvent, handler: Handler | None, outcome: Outcome, payload: dict[str, Any]
) -> None:
    if event.dispatch_state not in (Dispatch.PENDING, Dispatch.QUEUED):
        return
    queued = event.dispatch_state == Dispatch.QUEUED

    def announce() -> None:  # A function: on_commit logs its __qualname__ on errors.
        _announce(event, handler, outcome, payload, queued)

    transaction.on_commit(announce, using=sql.db_of(event), robust=True)


def _kept(command: str, handler: Handler | None, decision: decisions.Decision | None) -> bool:
    """Whether the record policy keeps a valid delivery (invalid ones are always kept).

    The policy covers commands that are only recorded (no handler, or one that only
    records); a delivery that changes something (a dismissal, the mirror) is always kept.
    """
    if handler is not None and not handler.records_only:
        return True
    policy = imcallback_settings.record_policy(command)
    if policy == "all" or (decision is not None and (decision.error or decision.slow)):
        return True
    return policy == "decisions" and decision is not None and decision.verdict != "allow"


def _announce(
    event: CallbackEvent,
    handler: Handler | None,
    outcome: Outcome,
    payload: dict[str, Any],
    queued: bool,
) -> None:
    if not queued:
        announcing.send(event, handler, outcome, payload)
        return
    from .tasks import announce_event  # Only in task mode: it needs the Tasks framework.

    try:
        announce_event.enqueue(event.pk)
    except Exception:
        # The event stays "queued"; imcallback_replay re-enqueues it once it is stale.
        logger.exception("Could not enqueue the announcement of event %s.", event.pk)
