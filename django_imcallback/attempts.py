"""The attempt log: ``CallbackAttempt`` rows, one per attempt that did not simply succeed
the first time (a failure of storing, of a decider or of a receiver) and one per replay.

A first attempt that succeeds writes nothing here (the event row says it all), so the
delivery path pays nothing for the log. A replay opens its row when it claims the event,
naming the receivers it retries: only those that failed in the attempt before, unless the
replay is forced. Announcing reads that row, so a task worker retries the same receivers.
"""

from __future__ import annotations

from collections.abc import Iterable

from .models import CallbackAttempt, CallbackEvent, is_stored


def note(event: CallbackEvent, failed_receivers: Iterable[str] | None = None) -> None:
    """Keep the outcome of the event's current attempt, in that attempt's own row."""
    if not is_stored(event):
        return
    outcome: dict[str, object] = {
        "status": event.status,
        "dispatch_state": event.dispatch_state,
        "error": event.error,
    }
    if failed_receivers is not None:
        outcome["failed_receivers"] = sorted(set(failed_receivers))
    CallbackAttempt.objects.update_or_create(event=event, number=event.attempts, defaults=outcome)


def last_failed_receivers(event: CallbackEvent) -> list[str]:
    """The receivers that failed in the event's latest logged attempt."""
    rows = CallbackAttempt.objects.filter(event=event).order_by("-number")
    return list(rows.values_list("failed_receivers", flat=True).first() or [])


def begin_replay(event: CallbackEvent, *, forced: bool) -> list[str]:
    """Open the row of a replay that has just claimed ``event``; return the receivers it
    retries (empty: every receiver). Unless forced, an event whose receivers failed
    retries only those."""
    retried = []
    if not forced and event.dispatch_state == CallbackEvent.Dispatch.FAILED:
        retried = last_failed_receivers(event)
    CallbackAttempt.objects.update_or_create(
        event=event,
        number=event.attempts,
        defaults={
            "replay": True,
            "forced": forced,
            "retried_receivers": retried,
            "status": CallbackEvent.Status.RECEIVED,
        },
    )
    return retried


def retried_receivers(event: CallbackEvent) -> frozenset[str] | None:
    """The receivers the event's current attempt sends to: ``None`` for all of them."""
    if not is_stored(event) or event.attempts <= 1:
        return None
    rows = CallbackAttempt.objects.filter(event=event, number=event.attempts, replay=True)
    retried = rows.values_list("retried_receivers", flat=True).first()
    return frozenset(retried) if retried else None
