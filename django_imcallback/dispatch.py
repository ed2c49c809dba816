"""Announcing a committed event: in the request (inline) or on a task worker (task).

In task mode the storing transaction marks the event ``queued`` and, once it commits,
enqueues one Django Task carrying only the event's id. The worker *claims* the event
(``queued`` -> ``sending``, a conditional UPDATE) before it sends anything, so a task
that runs twice (a retry, a duplicate enqueue, two workers) announces once.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from typing import Any

from django.db import transaction

from .conf import imcallback_settings
from .handlers import Handler, Outcome, registry
from .models import CallbackEvent
from .signals import callback_received

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch


def tasks_framework_error() -> str:
    """Why task mode cannot work here, or "" when it can."""
    for module in ("django.tasks", "django_tasks"):
        try:
            importlib.import_module(module)
        except ImportError:
            continue
        return ""
    return (
        'IMCALLBACK["DISPATCH"] = "task" needs Django\'s Tasks framework: Django 6.0+, or '
        "the django-tasks backport (pip install 'django-imcallback[tasks]')."
    )


def prepare(event: CallbackEvent) -> None:
    """Inside the storing transaction: mark the event's announcement as owed."""
    event.dispatch_state = (
        Dispatch.QUEUED if imcallback_settings.dispatch == "task" else Dispatch.INLINE
    )


def schedule(
    event: CallbackEvent, payload: dict[str, Any], handler: Handler | None, outcome: Outcome
) -> None:
    """Inside the storing transaction: arrange the announcement for after the commit."""
    if event.dispatch_state == Dispatch.QUEUED:
        transaction.on_commit(lambda: enqueue(event.pk), using=event._state.db)
    else:
        transaction.on_commit(
            lambda: announce(event, payload, handler, outcome), using=event._state.db
        )


def enqueue(event_id: int) -> None:
    from .tasks import announce_event

    try:
        announce_event.enqueue(event_id)
    except Exception:
        # The event stays "queued"; imcallback_replay re-enqueues it once it is stale.
        logger.exception("Could not enqueue the announcement of event %s.", event_id)


def announce(
    event: CallbackEvent, payload: dict[str, Any], handler: Handler | None, outcome: Outcome
) -> bool:
    """Send the signals for a committed event. A raising receiver marks the event failed.

    Returns whether every receiver succeeded.
    """
    responses: list[tuple[Any, Any]] = []
    if handler is not None and outcome.announce:
        responses += handler.announce(event, outcome)
    responses += callback_received.send_robust(
        sender=CallbackEvent, event=event, command=event.command, payload=payload
    )
    errors = [response for _, response in responses if isinstance(response, BaseException)]
    if not errors:
        return True
    text = "\n".join("".join(traceback.format_exception(error)) for error in errors)
    for error in errors:
        logger.error("A receiver of event %s raised.", event.pk, exc_info=error)
    failed = {"status": Status.FAILED, "error": text}
    if event.dispatch_state != Dispatch.INLINE:
        failed["dispatch_state"] = Dispatch.FAILED
    CallbackEvent.objects.filter(pk=event.pk).update(**failed)
    for name, value in failed.items():
        setattr(event, name, value)
    return False


def announce_queued(event_id: int) -> str:
    """The worker's side: claim a queued event, then announce it. Returns what happened."""
    from .processing import parse_payload  # processing imports this module

    claimed = CallbackEvent.objects.filter(pk=event_id, dispatch_state=Dispatch.QUEUED).update(
        dispatch_state=Dispatch.SENDING
    )
    if not claimed:
        return "skipped: not queued (already sent, or being sent by another worker)"
    event = CallbackEvent.objects.get(pk=event_id)
    event.dispatch_state = Dispatch.SENDING
    handler = registry.get(event.command)
    outcome = handler.recorded_outcome(event) if handler else Outcome(event.status)
    if not announce(event, parse_payload(bytes(event.body)), handler, outcome):
        raise RuntimeError(f"A receiver of event {event_id} raised; see the event's error.")
    CallbackEvent.objects.filter(pk=event_id, dispatch_state=Dispatch.SENDING).update(
        dispatch_state=Dispatch.SENT
    )
    return "sent"
