"""How a delivery is stored. There are three routes, and ``store`` chooses between them.

1. **One statement.** On PostgreSQL, for a new delivery whose body is at most
   ``RECORD_FIRST_BYTES`` and whose handler offers it, outside any transaction: one
   autocommitted statement stores the event, its announcement marker and what the
   handler stores (or records an ordinary repeat as a duplicate), or it stores nothing
   and says that the delivery needs route 2.
2. **Record first, then one transaction.** Everything else (other databases, large
   bodies, replays, task workers, what route 1 declines): the event is committed first by
   a plain INSERT; then one transaction runs the handler's ``apply`` (insert-or-ignore,
   lock, change) and UPDATEs the event with its outcome and announcement marker.
3. **Failure.** When storing raises, the event is UPDATEd as ``failed`` with the
   traceback, or INSERTed so when route 1 stored nothing. Nothing is ever un-inserted.

A delivery with no handler, or with one that only records (``Handler.records_only``), is
route 2's first INSERT alone, with its final status (``record``, called by the pipeline). The
event's primary key says whether it is stored: ``None`` until an INSERT succeeds.
"""

from __future__ import annotations

import traceback
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import attempts, sql
from .commands import Handler, Outcome
from .models import CallbackEvent, is_stored

Status = CallbackEvent.Status


#: What processing changes on a stored event.
OUTCOME_FIELDS = [
    "status",
    "error",
    "command",
    "attempts",
    "processed_at",
    "dispatch_state",
    "verdict",
    "answer",
    "group_id",  # filled by the pipeline: a replay fills them on events recorded before
    "user_id",
]


def record(event: CallbackEvent, status: str, error: str = "") -> None:
    """Write the event with this status: INSERT it if new, UPDATE it if stored."""
    event.status, event.error, event.processed_at = status, error, timezone.now()
    if is_stored(event):
        event.save(update_fields=OUTCOME_FIELDS)
    else:
        sql.insert(event)


def store(
    event: CallbackEvent, handler: Handler, data: dict[str, Any], *, record_first_bytes: int
) -> Outcome:
    """Store a validated delivery by route 1 or 2; return what it meant."""
    using = sql.db_of(event)
    if (
        not is_stored(event)
        and event.body_size <= record_first_bytes
        and sql.is_postgresql(using)
        and sql.autocommits(using)
    ):
        event.processed_at = timezone.now()
        outcome = handler.store_in_one_statement(event, data)
        if outcome is not None:
            return outcome
    if not is_stored(event):
        marker, event.dispatch_state = event.dispatch_state, CallbackEvent.Dispatch.NONE
        record(event, Status.RECEIVED)
        event.dispatch_state = marker
    with transaction.atomic(using=using):
        outcome = handler.apply(event, data)
        record(event, outcome.status, outcome.note)
    return outcome


def fail(event: CallbackEvent, exc: BaseException) -> None:
    """Route 3: record the event as failed with the traceback (inserting it if new).

    Needs the database too: if it is gone, ``DatabaseError`` propagates.
    """
    event.dispatch_state = CallbackEvent.Dispatch.NONE
    record(event, Status.FAILED, "".join(traceback.format_exception(exc)))
    attempts.note(event)
