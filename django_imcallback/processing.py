"""The pipeline every recorded delivery goes through, in the view and on replay.

parse -> find the handler -> validate -> apply in one transaction -> announce after commit.
Every way out of it writes the event with its status (and the error, when there is one),
so the event log always says how far a delivery got. Attempts are counted where they
start: 1 when a delivery arrives, +1 when a replay claims the event.
"""

from __future__ import annotations

import json
import logging
import traceback
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from . import dispatch, store
from .handlers import Handler, Outcome, registry
from .models import COMMAND_MAX_LENGTH, CallbackEvent, storable

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status


class BadPayload(ValueError):
    """The body is not a JSON object; ``detail`` says what is wrong with it."""

    def __init__(self, message: str, detail: Any = "") -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail


@dataclass
class Result:
    """What processing one event ended in: the view turns it into a response."""

    status: str
    message: str = ""
    detail: Any = field(default="")
    #: The body's groupID, for the log line (every group callback has one).
    group_id: str = ""

    @property
    def is_invalid(self) -> bool:
        return self.status == Status.INVALID


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_payload(body: bytes) -> dict[str, Any]:
    """Decode a body as a JSON object, with an error message a person can act on."""
    if not body.strip():
        raise BadPayload("The request body is empty; expected a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload(
            "The request body is not valid UTF-8.",
            f"byte 0x{body[exc.start]:02x} at position {exc.start}",
        ) from exc
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise BadPayload("The request body is JSON nested too deeply.") from exc
    except ValueError as exc:
        raise BadPayload("The request body is not valid JSON.", str(exc)) from exc
    if not isinstance(payload, dict):
        raise BadPayload(f"The request body must be a JSON object, not {_json_type(payload)}.")
    return payload


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def _mark(event: CallbackEvent, status: str, error: str = "") -> None:
    event.status, event.error, event.processed_at = status, error, timezone.now()


def _record(
    event: CallbackEvent, status: str, error: str = "", *, flush_later: bool = False
) -> None:
    """Write the event with this status: INSERT a new delivery, UPDATE a recorded one."""
    _mark(event, status, error)
    if event._state.adding:
        store.insert(event, using=store.db_of(event), flush_later=flush_later)
    else:
        store.save_status(event, using=store.db_of(event))


def _forget_rolled_back_insert(event: CallbackEvent, was_new: bool) -> None:
    """After a rollback, a delivery inserted inside the transaction is not in the database."""
    if was_new:
        event.pk = None
        event._state.adding = True


def reject(event: CallbackEvent, error: str) -> None:
    """Record a new delivery that is refused before parsing (too large, wrong type)."""
    event.attempts = 1
    _record(event, Status.INVALID, error)


def receive(event: CallbackEvent, *, record_first: bool) -> Result:
    """Record and process a new delivery.

    A small delivery is inserted in the transaction that applies it (one commit; on
    PostgreSQL, with a handler that can, one statement and one round trip in all);
    should that fail, the event is recorded on its own with the error. With
    ``record_first`` (large bodies, whose processing takes long enough for a worker to be
    killed in it) the event is committed before processing starts, so that it survives
    as a replayable ``received`` event whatever happens next.
    """
    event.attempts = 1
    if record_first:
        _record(event, Status.RECEIVED, flush_later=True)
    return process_event(event)


def process_event(event: CallbackEvent) -> Result:
    """Validate, apply and announce an event, new or recorded. Safe to repeat (replay)."""
    try:
        payload = parse_payload(bytes(event.body))
    except BadPayload as exc:
        _record(event, Status.INVALID, f"{exc.message} {exc.detail}".strip())
        return Result(Status.INVALID, exc.message, exc.detail)
    result = _process(event, payload)
    if isinstance(group_id := payload.get("groupID"), str):
        result.group_id = group_id
    return result


def _process(event: CallbackEvent, payload: dict[str, Any]) -> Result:
    """Everything after parsing: command, handler, validation, the storing transaction."""
    if not event.command and isinstance(payload.get("callbackCommand"), str):
        # Old servers post to the bare URL and name the command only in the body.
        event.command = storable(payload["callbackCommand"], COMMAND_MAX_LENGTH)
    if not event.command:
        message = "No callback command: neither the URL nor callbackCommand names one."
        _record(event, Status.INVALID, message)
        return Result(Status.INVALID, message, {"callbackCommand": ["This field is required."]})

    handler = registry.get(event.command)
    if handler is None:
        logger.info("No handler for %s; acknowledged.", event.command)
        return _commit(event, payload, None, Outcome(Status.UNHANDLED))

    data, detail = handler.validate(payload)
    if data is None:
        message = f"The {event.command} body is invalid: " + ", ".join(detail) + "."
        _record(event, Status.INVALID, json.dumps(detail, ensure_ascii=False))
        return Result(Status.INVALID, message, detail)

    try:
        try:
            return _commit(event, payload, handler, None, data=data)
        except IntegrityError as conflict:
            return _commit(event, payload, handler, None, data=data, conflict=conflict)
    except Exception as exc:
        record_failure(event, exc)
        return Result(Status.FAILED, "Storing the callback failed.")


def record_failure(event: CallbackEvent, exc: BaseException) -> None:
    """Record the event as failed with the traceback (inserting it if it is new).

    This needs the database too: if it is gone, DatabaseError propagates, and the view
    answers 503 and logs the whole delivery.
    """
    logger.error("Processing event %s (%s) failed.", event.pk, event.command, exc_info=exc)
    _record(event, Status.FAILED, "".join(traceback.format_exception(exc)))


def _commit(
    event: CallbackEvent,
    payload: dict[str, Any],
    handler: Handler | None,
    outcome: Outcome | None,
    *,
    data: dict[str, Any] | None = None,
    conflict: IntegrityError | None = None,
) -> Result:
    """Apply (or resolve a conflict) and record the outcome in one transaction.

    If the transaction fails, a new delivery inserted inside it is new again, so that
    whoever records the failure inserts it rather than updating a row that is gone.
    """
    if handler is not None and data is not None and outcome is None and conflict is None:
        result = _apply_in_one_statement(event, payload, handler, data)
        if result is not None:
            return result
    was_new = event._state.adding
    try:
        return _apply_and_record(event, payload, handler, outcome, data, conflict)
    except BaseException:
        _forget_rolled_back_insert(event, was_new)
        raise


def _apply_in_one_statement(
    event: CallbackEvent, payload: dict[str, Any], handler: Handler, data: dict[str, Any]
) -> Result | None:
    """The fast path of a new delivery: event and data stored by one autocommitted statement.

    ``None`` when it does not apply (a recorded event, an open transaction, a handler or
    database without it); nothing has been written then. Once the statement has run, the
    event is committed with what it stored, and the announcement follows at once.
    """
    using = store.db_of(event)
    if not event._state.adding or not store.autocommits(using):
        return None
    dispatch.prepare(event)
    _mark(event, Status.PROCESSED)
    outcome = handler.apply_with_event(event, data)
    if outcome is None:
        return None
    if (event.status, event.error) != (outcome.status, outcome.note):
        _record(event, outcome.status, outcome.note)
    dispatch.schedule(event, payload, handler, outcome)  # No transaction: runs now.
    return Result(event.status)


def _apply_and_record(
    event: CallbackEvent,
    payload: dict[str, Any],
    handler: Handler | None,
    outcome: Outcome | None,
    data: dict[str, Any] | None,
    conflict: IntegrityError | None,
) -> Result:
    with transaction.atomic(using=store.db_of(event)):
        dispatch.prepare(event)
        if outcome is None:
            assert handler is not None
            assert data is not None
            if event._state.adding:
                # What apply stores refers to its event, so a new delivery goes in first,
                # with the status success gives; corrected below in the rare other cases.
                _record(event, Status.PROCESSED)
            outcome = (
                handler.on_conflict(event, data, conflict)
                if conflict
                else handler.apply(event, data)
            )
        if event._state.adding or (event.status, event.error) != (outcome.status, outcome.note):
            _record(event, outcome.status, outcome.note)
        dispatch.schedule(event, payload, handler, outcome)
    # Outside any outer transaction the signals have run by now and may have failed.
    return Result(event.status)
