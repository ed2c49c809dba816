"""Replaying recorded events: the admin action and ``manage.py imcallback_replay``.

A replay runs the stored raw body through the same pipeline as a live delivery.
Each event is first *claimed* with a conditional UPDATE, so two operators replaying
the same event at once process it once; the pipeline is idempotent per group, so a
replayed dismissal is stored once and announced once.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from .models import CallbackEvent
from .processing import process_event

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch
#: Statuses a replay retries by default.
REPLAYABLE = (Status.FAILED, Status.INVALID, Status.UNHANDLED)
#: Already handled: replayed only with ``force`` (to re-send signals after a receiver fix).
DONE = (Status.PROCESSED, Status.DUPLICATE)
#: A ``received`` event (or, in task mode, a ``queued`` or ``sending`` one) untouched this
#: long was cut off mid-way (a crash, a kill, a lost task).
STUCK_AFTER = timedelta(minutes=5)


def claimable(force: bool = False) -> Q:
    """Events a replay may take now."""
    stale = timezone.now() - STUCK_AFTER
    untouched_since = Q(processed_at__isnull=True) | Q(processed_at__lt=stale)
    condition = (
        Q(status__in=REPLAYABLE)
        | (Q(status=Status.RECEIVED, received_at__lt=stale) & untouched_since)
        # Task mode: an announcement never enqueued, or whose worker died while sending.
        | (Q(dispatch_state__in=[Dispatch.QUEUED, Dispatch.SENDING]) & untouched_since)
    )
    if force:
        condition |= Q(status__in=DONE)
    return condition


@dataclass
class ReplayReport:
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "Would replay" if self.dry_run else "Replayed"
        done = sum(self.outcomes.values())
        parts = ", ".join(f"{count} {status}" for status, count in sorted(self.outcomes.items()))
        text = f"{verb} {done} event(s)" + (f": {parts}" if parts else "") + "."
        if self.skipped:
            text += f" Skipped {len(self.skipped)} not replayable now (already done or in flight)."
        return text

    def problems(self) -> list[str]:
        return [f"Event #{pk} failed again; its error holds the traceback." for pk in self.failed]


def replay_events(
    events: QuerySet[CallbackEvent] | Iterable[CallbackEvent],
    *,
    force: bool = False,
    dry_run: bool = False,
) -> ReplayReport:
    """Replay each event that is replayable now; report what happened to each."""
    report = ReplayReport(dry_run=dry_run)
    pks = (
        [event.pk for event in events]
        if not isinstance(events, QuerySet)
        else list(events.order_by("pk").values_list("pk", flat=True))
    )
    for pk in pks:
        if dry_run:
            if CallbackEvent.objects.filter(claimable(force), pk=pk).exists():
                report.outcomes["to replay"] += 1
            else:
                report.skipped.append(pk)
            continue
        claimed = CallbackEvent.objects.filter(claimable(force), pk=pk).update(
            status=Status.RECEIVED, processed_at=timezone.now(), attempts=F("attempts") + 1
        )
        if not claimed:
            report.skipped.append(pk)
            continue
        event = CallbackEvent.objects.get(pk=pk)
        status = process_event(event).status
        logger.info("Replayed event %s (%s): %s.", pk, event.command, status)
        report.outcomes[status] += 1
        if status == Status.FAILED:
            report.failed.append(pk)
    return report
