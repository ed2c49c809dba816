"""The delivery health page."""

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse

from django_imcallback import health
from django_imcallback.models import CallbackEvent

from ..factories import CallbackEventFactory

Status = CallbackEvent.Status


NOW = datetime(2026, 11, 29, 12, 30, tzinfo=UTC)


ONLINE = "callbackAfterUserOnlineCommand"


DISMISS = "callbackAfterDisMissGroupCommand"


def hourly(command, hours, status=Status.PROCESSED, count=10):
    """Rows as the report's query gives them: ``count`` deliveries ``hours`` ago each."""
    top = NOW.replace(minute=0)
    return [(command, top - timedelta(hours=h), status, count) for h in hours]


def test_a_command_that_arrived_every_hour_and_stopped_is_quiet():
    rows = hourly(ONLINE, range(5, 24 * 7))  # every hour for a week, nothing for 5 hours
    last = {ONLINE: NOW.replace(minute=0) - timedelta(hours=5)}

    report = health.build(rows, last, NOW)

    [online] = report.quiet
    assert online.command == ONLINE
    assert online.quiet_since == timedelta(hours=5, minutes=30)
    assert online.usual_per_hour == pytest.approx(10 * (24 * 7 - 5) / (24 * 7))


def test_rare_or_new_commands_are_not_called_quiet():
    rows = hourly(DISMISS, [30, 80], count=1)  # twice a week: silence means nothing
    rows += hourly(ONLINE, range(3, 30))  # busy, but only for a day: not steady yet
    last = {DISMISS: NOW - timedelta(hours=30), ONLINE: NOW - timedelta(hours=3)}

    assert health.build(rows, last, NOW).quiet == []


def test_counts_split_into_hours_days_and_trouble():
    rows = hourly(DISMISS, [0, 1], count=3) + hourly(DISMISS, [1], Status.FAILED, 2)
    rows += hourly(DISMISS, [30], count=7)  # yesterday: the week's chart only

    report = health.build(rows, {DISMISS: NOW}, NOW)

    [dismiss] = report.commands
    assert (dismiss.last_day, dismiss.trouble_last_day, dismiss.last_week) == (8, 2, 15)
    assert [(bar.ok, bar.trouble) for bar in report.hourly[-2:]] == [(3, 2), (3, 0)]
    assert sum(bar.total for bar in report.hourly) == 8
    assert sum(bar.total for bar in report.daily) == 15
    assert len(report.hourly) == 24
    assert len(report.daily) == 7


def test_chart_scales_bars_to_a_round_ceiling():
    bars = [health.Bar(NOW, ok=40, trouble=10), health.Bar(NOW, ok=0, trouble=0)]

    drawing = health.chart(bars, width=100, height=120)

    assert drawing["ceiling"] == 50
    first = drawing["bars"][0]
    assert (first["ok_h"], first["trouble_h"]) == (80.0, 20.0)  # plot: 100 px
    assert drawing["bars"][1]["ok_h"] == 0


@pytest.mark.django_db
def test_the_health_page_draws_the_week_and_warns_of_a_quiet_command(admin_client):
    from django.core.cache import cache

    cache.clear()  # the report is cached for a minute
    now = datetime.now(UTC)
    for hours_ago in range(8, 24 * 7, 2):  # every two hours for a week, then 8 hours of silence
        CallbackEventFactory(command=ONLINE, received_at=now - timedelta(hours=hours_ago))
    CallbackEventFactory(command=DISMISS, status=Status.FAILED, received_at=now)

    page = admin_client.get(reverse("admin:django_imcallback_callbackevent_health"))

    assert page.status_code == 200
    text = page.content.decode()
    assert text.count("<svg viewBox") == 2 + 2  # two charts and a sparkline per command
    assert f"{ONLINE} has gone quiet" in text
    assert f"{DISMISS} has gone quiet" not in text
    assert 'class="trouble"' in text
    events = admin_client.get(reverse("admin:django_imcallback_callbackevent_changelist"))
    assert reverse("admin:django_imcallback_callbackevent_health") in events.content.decode()


@pytest.mark.django_db
def test_the_hourly_chart_counts_deliveries_in_a_half_hour_time_zone(settings):
    settings.TIME_ZONE = "Asia/Kolkata"  # UTC+05:30: local hours start at :30 UTC
    now = datetime(2026, 11, 29, 12, 50, tzinfo=UTC)  # 18:20 in Kolkata
    for minutes in (5, 15, 45):  # 18:15, 18:05 (this local hour), 17:35 (the one before)
        CallbackEventFactory(command=DISMISS, received_at=now - timedelta(minutes=minutes))

    report = health.report(now, cached=False)

    assert [bar.total for bar in report.hourly[-2:]] == [1, 2]
    [dismissals] = report.commands
    assert [bar.total for bar in dismissals.hourly[-2:]] == [1, 2]
    assert report.daily[-1].total == 3


def test_a_steady_command_is_not_quiet_before_its_rate_says_deliveries_are_missing():
    rows = hourly(DISMISS, range(3, 24 * 7, 12), count=1)  # twice a day, every day
    last = {DISMISS: NOW.replace(minute=0) - timedelta(hours=3)}

    report = health.build(rows, last, NOW)

    [dismiss] = report.commands
    assert dismiss.days_seen >= health.STEADY_DAYS  # steady: only the rate keeps it calm
    assert report.quiet == []


def test_a_busy_command_seen_on_too_few_days_is_not_quiet_however_long_the_silence():
    rows = hourly(ONLINE, range(30, 50))  # busy for most of a day, two days ago
    last = {ONLINE: NOW.replace(minute=0) - timedelta(hours=30)}

    report = health.build(rows, last, NOW)

    [online] = report.commands
    expected = online.usual_per_hour * 30.5
    assert expected >= health.QUIET_EXPECTED  # the rate alone would call it quiet
    assert report.quiet == []
