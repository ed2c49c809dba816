"""Replaying recorded events: the admin action and ``manage.py imcallback_replay``.

A replay runs the stored raw body through the same pipeline as a live delivery, and keeps
its outcome in an attempt row of its own (``attempts``). When only receivers failed, it
retries only those (by dotted path); ``force`` re-sends every receiver.
Each event is first *claimed* (``lifecycle.claim_for_replay``), so two operators replaying
the same event at once process it once. An event whose storing committed is not stored
again: its kept outcome is announced again (``lifecycle.kept``).

Besides failed, invalid and unhandled events, a replay takes what was cut off, once it
is older than ``STALE_AFTER``: events still ``received`` (a worker killed while storing)
and announcements still owed (``pending``, ``queued`` or ``sending``: a worker killed
before or while announcing, a task never enqueued or lost). A replay that names no event
(``imcallback_replay`` from cron) takes only what is ``due``: failures once their backoff
has passed, up to ``MAX_ATTEMPTS``, and what was cut off.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from . import attempts, lifecycle
from .logs import logsafe
from .models import CallbackEvent
from .pipeline import process

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch
#: Statuses a replay retries by default.
REPLAYABLE = (Status.FAILED, Status.INVALID, Status.UNHANDLED)
#: Already handled: replayed only with ``force`` (to re-send signals after a receiver fix).
DONE = (Status.PROCESSED, Status.DUPLICATE)
#: Announcement states that mean the signals are still owed.
OWED = (Dispatch.PENDING, Dispatch.QUEUED, Dispatch.SENDING)
#: An event still ``received``, or still owing its announcement, untouched this long was
#: cut off mid-way (a kill, a crash, a lost task); younger ones may still be in flight.
STALE_AFTER = timedelta(minutes=5)
#: The outcome of a replay in task mode: stored, its signals left to a worker.
QUEUED = "queued"
#: How many attempts a failing event gets from a replay that names no event.
MAX_ATTEMPTS = 8


def claimable(force: bool = False, stale_after: timedelta = STALE_AFTER) -> Q:
    """Events a replay may take now."""
    stale = timezone.now() - stale_after
    untouched = Q(processed_at__isnull=True) | Q(processed_at__lte=stale)
    condition = (
        Q(status__in=REPLAYABLE)
        | (Q(status=Status.RECEIVED, received_at__lte=stale) & untouched)
        | (Q(dispatch_state__in=OWED, received_at__lte=stale) & untouched)
    )
    if force:
        condition |= Q(status__in=DONE)
    return condition


def due(backoff: timedelta = STALE_AFTER, max_attempts: int = MAX_ATTEMPTS) -> Q:
    """What a replay that names no event takes (cron's): what failed, while it has had
    fewer than ``max_attempts`` (the first retry at once, then after ``backoff``, doubling
    with each attempt), and what was cut off (``claimable``). Never what succeeded, nor
    invalid or unhandled events (they are asked for by status)."""
    now = timezone.now()
    failed = Q(attempts__lt=min(2, max_attempts))
    for tried in range(2, max_attempts):
        failed |= Q(attempts=tried, processed_at__lte=now - backoff * 2 ** (tried - 2))
    cut_off = claimable(stale_after=backoff) & ~Q(status__in=REPLAYABLE)
    return (Q(status=Status.FAILED) & failed) | cut_off


@dataclass
class ReplayReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        done = sum(self.outcomes.values())
        labels = {
            **dict(Status.choices),
            "to replay": _("to replay"),
            QUEUED: _("stored, announcement queued"),
        }
        parts = ", ".join(
            f"{count} {labels.get(status, status)}"
            for status, count in sorted(self.outcomes.items())
        )
        if self.dry_run:
            text = _("Would replay %(count)d event(s)") % {"count": done}
        else:
            text = _("Replayed %(count)d event(s)") % {"count": done}
        text += (f": {parts}" if parts else "") + "."
        if self.skipped:
            text += " " + _("Skipped %(count)d not replayable now (already done or in flight).") % {
                "count": len(self.skipped)
            }
        return text

    def problems(self) -> list[str]:
        message = _("Event #%(id)s failed again; its error holds the traceback.")
        return [message % {"id": pk} for pk in self.failed]


def replay_events(
    events: QuerySet[CallbackEvent] | Iterable[CallbackEvent],
    *,
    force: bool = False,
    dry_run: bool = False,
    stale_after: timedelta = STALE_AFTER,
) -> ReplayReport:
    """Replay each event that is replayable now, in the given order; report each outcome."""
    report = ReplayReport(dry_run=dry_run)
    pks = (
        [event.pk for event in events]
        if not isinstance(events, QuerySet)
        else list(events.values_list("pk", flat=True))
    )
    for pk in pks:
        condition = claimable(force, stale_after)
        if dry_run:
            if CallbackEvent.objects.filter(condition, pk=pk).exists():
                report.outcomes["to replay"] += 1
            else:
                report.skipped.append(pk)
            continue
        if not lifecycle.claim_for_replay(pk, condition):
            report.skipped.append(pk)
            continue
        event = CallbackEvent.objects.get(pk=pk)
        attempts.begin_replay(event, forced=force)
        process(event)
        attempts.note(event)
        status = event.status
        logger.info("Replayed event %s (%s): %s.", pk, logsafe(event.command), status)
        # In task mode the signals are a worker's to send: say so, not "processed".
        report.outcomes[QUEUED if event.dispatch_state == Dispatch.QUEUED else status] += 1
        if status == Status.FAILED:
            report.failed.append(pk)
    return report
