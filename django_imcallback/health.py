"""Delivery health: how many deliveries per command arrived, how they ended, and which
command that used to arrive steadily has gone quiet (OpenIM drops callbacks without a
trace when its queue is full, so a gap is only seen from this side).

``report()`` reads the event log of the last week (one grouped query over the
``received_at`` index, cached for a minute); the admin draws it as server-rendered SVG.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Max
from django.db.models.functions import TruncHour
from django.utils import timezone

from .models import CallbackEvent

Status = CallbackEvent.Status
#: Statuses drawn as trouble in the charts.
TROUBLE = (Status.FAILED, Status.INVALID, Status.RECEIVED)
HOURS, DAYS = 24, 7
#: A command is "quiet" when its usual rate says at least this many deliveries should have
#: arrived since its last one (the chance of none by luck: e^-3, about 5%).
QUIET_EXPECTED = 3.0
#: ... and when it arrived on at least this many of the last seven days (steadily).
STEADY_DAYS = 3
CACHE_SECONDS = 60


@dataclass
class Bar:
    """One bucket of a chart: deliveries that went well, and those in trouble."""

    start: datetime
    ok: int = 0
    trouble: int = 0

    @property
    def total(self) -> int:
        return self.ok + self.trouble


@dataclass
class CommandHealth:
    command: str
    last_day: int = 0
    last_week: int = 0
    trouble_last_day: int = 0
    last_received: datetime | None = None
    days_seen: int = 0
    hourly: list[Bar] = field(default_factory=list)
    quiet_since: timedelta | None = None
    usual_per_hour: float = 0.0


@dataclass
class Health:
    now: datetime
    hourly: list[Bar]
    daily: list[Bar]
    commands: list[CommandHealth]

    @property
    def quiet(self) -> list[CommandHealth]:
        return [c for c in self.commands if c.quiet_since is not None]


def buckets(now: datetime) -> tuple[list[datetime], list[datetime]]:
    """The starts of the last 24 hours and of the last 7 days (the current one last), in the
    current time zone as the report's ``TruncHour`` cuts them (in a half-hour zone an hour
    starts at :30 UTC), counted back in UTC so that a DST change skips no hour."""
    local = timezone.localtime(now).replace(minute=0, second=0, microsecond=0)
    hour = local.astimezone(UTC)
    hours = [hour - timedelta(hours=i) for i in reversed(range(HOURS))]
    day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    days = [day - timedelta(days=i) for i in reversed(range(DAYS))]
    return hours, days


def build(
    rows: list[tuple[str, datetime, str, int]],
    last_seen: dict[str, datetime],
    now: datetime,
) -> Health:
    """The report from ``(command, hour, status, count)`` rows of the last week."""
    hours, days = buckets(now)
    hourly = {start: Bar(start) for start in hours}
    daily = {start: Bar(start) for start in days}
    per_command: dict[str, CommandHealth] = {}
    command_hours: dict[str, dict[datetime, Bar]] = defaultdict(dict)
    command_days: dict[str, set[datetime]] = defaultdict(set)
    day_start = hours[0]
    for command, hour, status, count in rows:
        health = per_command.setdefault(command, CommandHealth(command))
        trouble = status in TROUBLE
        health.last_week += count
        local_day = timezone.localtime(hour).replace(hour=0, minute=0, second=0, microsecond=0)
        command_days[command].add(local_day)
        if local_day in daily:
            bar = daily[local_day]
            bar.trouble += count if trouble else 0
            bar.ok += 0 if trouble else count
        if hour >= day_start:
            health.last_day += count
            health.trouble_last_day += count if trouble else 0
            for bars in (hourly, command_hours[command]):
                bar = bars.setdefault(hour, Bar(hour))
                bar.trouble += count if trouble else 0
                bar.ok += 0 if trouble else count
    for command, health in per_command.items():
        health.last_received = last_seen.get(command)
        health.days_seen = len(command_days[command])
        health.hourly = [command_hours[command].get(start, Bar(start)) for start in hours]
        health.usual_per_hour = health.last_week / (DAYS * HOURS)
        if health.last_received is not None and health.days_seen >= STEADY_DAYS:
            silence = now - health.last_received
            expected = health.usual_per_hour * silence.total_seconds() / 3600
            if expected >= QUIET_EXPECTED:
                health.quiet_since = silence
    commands = sorted(
        per_command.values(), key=lambda c: (c.quiet_since is None, -c.last_week, c.command)
    )
    return Health(now, [hourly[h] for h in hours], [daily[d] for d in days], commands)


def report(now: datetime | None = None, *, cached: bool = True) -> Health:
    """The health of the last week's deliveries, read from the event log."""
    now = now or timezone.now()
    key = "django_imcallback:health"
    if cached and (hit := cache.get(key)) is not None:
        return hit  # type: ignore[no-any-return]
    since = buckets(now)[0][0] - timedelta(days=DAYS)
    recent = CallbackEvent.objects.filter(received_at__gte=since).order_by()
    rows = list(
        recent.annotate(hour=TruncHour("received_at"))
        .values_list("command", "hour", "status")
        .annotate(count=Count("id"))
    )
    last_seen = dict(recent.values_list("command").annotate(last=Max("received_at")))
    health = build(rows, last_seen, now)
    if cached:
        cache.set(key, health, CACHE_SECONDS)
    return health


def chart(
    bars: list[Bar],
    *,
    width: int = 720,
    height: int = 160,
    label: str = "%H",
    axis: bool = True,
) -> dict[str, Any]:
    """Rectangles of a stacked bar chart (ok below, trouble on top), for the SVG template;
    ``axis``: room for the bars' labels below the plot (not in a sparkline)."""
    top = max((bar.total for bar in bars), default=0) or 1
    scale = 10 ** math.floor(math.log10(top)) if top >= 10 else 1
    ceiling = math.ceil(top / scale) * scale
    plot = height - 20 if axis else height
    step = width / max(len(bars), 1)
    shapes = []
    for i, bar in enumerate(bars):
        ok_h = plot * bar.ok / ceiling
        trouble_h = plot * bar.trouble / ceiling
        shapes.append(
            {
                "x": round(i * step + 1, 1),
                "w": round(max(step - 2, 1), 1),
                "ok_y": round(plot - ok_h, 1),
                "ok_h": round(ok_h, 1),
                "trouble_y": round(plot - ok_h - trouble_h, 1),
                "trouble_h": round(trouble_h, 1),
                "label": timezone.localtime(bar.start).strftime(label),
                "label_x": round(i * step + step / 2, 1),
                "title": f"{timezone.localtime(bar.start):%Y-%m-%d %H:%M}: "
                f"{bar.ok} ok, {bar.trouble} failed, invalid or unfinished",
            }
        )
    return {"width": width, "height": height, "plot": plot, "ceiling": ceiling, "bars": shapes}
