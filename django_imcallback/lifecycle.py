"""The life of a ``CallbackEvent``: the only module that writes an event's state.

Each transition is a function here; ``storage`` says which route a delivery takes, the
pipeline which transition it has earned. ``status`` is how far storing got, ``dispatch_state``
where its announcement (its signals) stands::

    new ──refuse────────────────────────────────────────────────▶ invalid
     │ ──stored (nothing else to store) ─────────────────────────▶ processed | unhandled
     │ ──begin (a large body, committed first) ─▶ received ──┐
     │ ──┬───────────────────────────────────────────────────┘
     │   └─ storing: one transaction ──stored──────────────────▶ processed | duplicate
     └──────── anything raised: rolled back ──store_failed ────▶ failed
    a decider raised (after storing) ──decider_failed ─────────▶ failed

    announcement:  none                (nobody to tell)
                   pending ──sent─────▶ sent        (inline, after commit)
                   queued ──claim_for_sending──▶ sending ──sent──▶ sent   (a task worker)
                   pending | sending ──announcement_failed──▶ failed (status failed too)

    replay: claim_for_replay ─▶ received (+1 attempt), then the pipeline again; an event
            whose outcome is kept is announced again (``restore``), never stored again.

Storing's outcome is kept on the event (``CallbackEvent.outcome``: its status, its note, its
signal's arguments, model instances by reference), written in the same statement as the
status: a task worker and a replay announce from it and never run ``apply`` again, so
``apply`` runs once for each event whose storing commits. Route 1 of ``storage`` (one
PostgreSQL statement) writes what ``stored`` would, in that statement (``sql``).
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import attempts, sql
from .commands import Outcome
from .models import CallbackEvent, is_stored

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch

#: What a transition changes on a stored event.
STATE_FIELDS = [
    "status",
    "error",
    "command",
    "attempts",
    "processed_at",
    "dispatch_state",
    "verdict",
    "answer",
    "outcome",
    "group_id",  # filled by the pipeline: a replay fills them on events recorded before
    "user_id",
]


def _write(event: CallbackEvent, status: str, error: str = "") -> None:
    """INSERT the event with this status if it is new, else UPDATE its state."""
    event.status, event.error, event.processed_at = status, error, timezone.now()
    if is_stored(event):
        event.save(update_fields=STATE_FIELDS)
    else:
        sql.insert(event)


def refuse(event: CallbackEvent, note: str) -> None:
    """Invalid: refused before anything it says was stored (size, type, body, command)."""
    event.outcome = None
    _write(event, Status.INVALID, note)


def begin(event: CallbackEvent) -> None:
    """Received, committed before storing starts: a large body is kept whatever happens."""
    marker, event.dispatch_state = event.dispatch_state, Dispatch.NONE
    _write(event, Status.RECEIVED)
    event.dispatch_state = marker


@contextmanager
def storing(event: CallbackEvent) -> Iterator[None]:
    """The storing transaction. A new event gets its primary key first, so what the handler
    stores can refer to it: drawn from the sequence on PostgreSQL (the row is written once,
    by ``stored``; foreign keys to it are checked at commit), an INSERT elsewhere. When the
    transaction rolls back, the event is new again."""
    using, new, outcome = sql.db_of(event), not is_stored(event), event.outcome
    try:
        with transaction.atomic(using=using):
            if new and sql.is_postgresql(using):
                event.pk = sql.next_id(CallbackEvent, using)
            elif new:
                _write(event, Status.RECEIVED)
            yield
    except BaseException:
        event.outcome = outcome
        if new:
            event._state.adding = True
        raise


def stored(event: CallbackEvent, outcome: Outcome, *, keep: bool = True) -> None:
    """Processed, duplicate or unhandled, with the outcome that announces it (``keep``:
    kept on the event, so nothing stores it again)."""
    event.outcome = outcome.kept() if keep else None
    _write(event, outcome.status, outcome.note)


def store_failed(event: CallbackEvent, exc: BaseException) -> None:
    """Failed while storing (rolled back: nothing it says is stored), with the traceback.

    Needs the database too: if it is gone, ``DatabaseError`` propagates.
    """
    event.dispatch_state = Dispatch.NONE
    _write(event, Status.FAILED, "".join(traceback.format_exception(exc)))
    attempts.note(event)


def decider_failed(event: CallbackEvent, error: str) -> None:
    """Failed: a decider raised (the server had the default answer); stored as it says."""
    _write(event, Status.FAILED, error)
    attempts.note(event)


def claim_for_replay(pk: int, condition: Q) -> bool:
    """Received again, one more attempt, if the event still meets ``condition``: of two
    replays of one event, one claims it."""
    claimed = CallbackEvent.objects.filter(condition, pk=pk).update(
        status=Status.RECEIVED, processed_at=timezone.now(), attempts=F("attempts") + 1
    )
    return bool(claimed)


def restore(event: CallbackEvent, outcome: Outcome, marker: str) -> None:
    """A replay of an event whose storing committed: its kept outcome again, the
    announcement ``marker`` owed (or none)."""
    event.dispatch_state = marker
    _write(event, outcome.status, outcome.note)


def claim_for_sending(pk: int) -> bool:
    """Queued -> sending, once: of two workers given one event, one sends it."""
    claimed = CallbackEvent.objects.filter(pk=pk, dispatch_state=Dispatch.QUEUED).update(
        dispatch_state=Dispatch.SENDING, processed_at=timezone.now()
    )
    return bool(claimed)


def sent(event: CallbackEvent) -> None:
    """Every receiver ran: the marker cleared without waiting for the disk (losing that
    write only makes a replay announce the event again)."""
    event.dispatch_state = Dispatch.SENT
    sql.clear_marker(event)


def announcement_failed(event: CallbackEvent, error: str) -> None:
    """A receiver raised: failed, with the tracebacks; a replay sends to those again."""
    event.dispatch_state = Dispatch.FAILED
    _write(event, Status.FAILED, error)


def kept(event: CallbackEvent) -> Outcome | None:
    """The outcome storing ``event`` had, its model instances read again; ``None``: its
    storing never committed."""
    return None if event.outcome is None else Outcome.revive(event.outcome, sql.db_of(event))
