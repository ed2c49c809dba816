"""Sending a stored event's signals, and recording that they were sent.

An event whose announcement is owed carries the marker ``pending`` (sent in the request)
or ``queued`` (sent by a task worker), written with the outcome it announces. Inline, it
is owed only when a receiver is connected to the handler's signal or to
``callback_received``: with none, there is nothing to send and nothing to mark. ``send``
runs after commit, sends both signals through ``send_robust``, then clears the marker to
``sent`` (``lifecycle.sent``). A raising receiver marks the event ``failed`` with the
traceback instead (``lifecycle.announcement_failed``), and is logged once, here, naming
the event and the receiver (the app's signals are ``CallbackSignal``s, which leave
``django.dispatch`` silent).
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from . import attempts, lifecycle
from .commands import Handler, Outcome
from .logs import logsafe
from .models import CallbackEvent
from .signals import callback_received, receiver_name, send_robust

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch


def owed(handler: Handler | None) -> bool:
    """Whether a delivery for ``handler`` has anyone to announce it to."""
    return callback_received.has_listeners(CallbackEvent) or (
        handler is not None and handler.has_receivers()
    )


def send(
    event: CallbackEvent, handler: Handler | None, outcome: Outcome, payload: dict[str, Any]
) -> bool:
    """Send the signals of a committed event and record how that went; True if all went well."""
    only = attempts.retried_receivers(event)
    responses = handler.send(event, outcome, only) if handler is not None else []
    responses += send_robust(
        callback_received,
        CallbackEvent,
        only,
        event=event,
        command=event.command,
        payload=payload,
    )
    failures = [(r, error) for r, error in responses if isinstance(error, BaseException)]
    if not failures:
        lifecycle.sent(event)
        if event.attempts > 1:
            attempts.note(event)
        return True
    errors = [error for _, error in failures]
    for receiver, error in failures:
        logger.error(
            "Receiver %s of event %s (%s) raised.",
            receiver_name(receiver),
            event.pk,
            logsafe(event.command),
            exc_info=error,
        )
    text = "\n".join("".join(traceback.format_exception(error)) for error in errors)
    lifecycle.announcement_failed(event, text)
    attempts.note(event, [receiver_name(receiver) for receiver, _ in failures])
    return False
