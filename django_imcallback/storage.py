"""How a delivery is stored. There are three routes, and ``store`` chooses between them;
every write of the event's row is a transition of ``lifecycle``.

1. **One statement.** On PostgreSQL, for a new delivery whose body is at most
   ``RECORD_FIRST_BYTES`` and whose handler offers it, outside any transaction: one
   autocommitted statement stores the event with its outcome, its announcement marker
   and what the handler stores (or records an ordinary repeat as a duplicate), or it
   stores nothing and says that the delivery needs route 2.
2. **One transaction.** Everything else: one transaction runs the handler's ``apply``
   (upserts, locks, the change) and writes the event with its outcome and announcement
   marker, committed once. A new event's primary key is drawn first (PostgreSQL's
   sequence; elsewhere the event is INSERTed first, then UPDATEd, in the transaction), so
   the event is written once. A body larger than ``RECORD_FIRST_BYTES`` is committed first
   (``lifecycle.begin``): kept, whatever happens to the transaction.
3. **Failure.** When storing raises, the transaction rolls back and the event is written
   as ``failed`` with the traceback (``lifecycle.store_failed``).

A delivery with no handler, or with one that only records (``Handler.records_only``), is
one write of the event, with its final status (``lifecycle.stored``, called by the
pipeline). Nothing is stored twice: a task worker and a replay announce the outcome kept
on the event (``lifecycle.kept``) rather than run ``apply`` again.
"""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from . import lifecycle, sql
from .commands import Handler, Outcome
from .models import CallbackEvent, is_stored


def store(
    event: CallbackEvent, handler: Handler, data: dict[str, Any], *, record_first_bytes: int
) -> Outcome:
    """Store a validated delivery by route 1 or 2; return what it meant."""
    using = sql.db_of(event)
    small = event.body_size <= record_first_bytes
    if not is_stored(event) and small and sql.is_postgresql(using) and sql.autocommits(using):
        event.processed_at = timezone.now()
        outcome = handler.store_in_one_statement(event, data)
        if outcome is not None:
            return outcome
    if not is_stored(event) and not small:
        lifecycle.begin(event)
    with lifecycle.storing(event):
        outcome = handler.apply(event, data)
        lifecycle.stored(event, outcome)
    return outcome
