"""Replay: what it takes, what it skips, what it reports."""

import contextlib
import logging
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone, translation

from django_imcallback import replay
from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember
from django_imcallback.replay import ReplayReport, replay_events
from django_imcallback.signals import group_dismissed, receiver_name
from django_imcallback.testing import deliver

from ..conftest import go_json, requires_postgres, run_concurrently
from ..factories import (
    DISMISS,
    CallbackEventFactory,
    DismissPayloadFactory,
    dismiss_event,
)

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


Dispatch = CallbackEvent.Dispatch


def test_failed_receiver_event_is_replayed_for_that_receiver_only(
    post, failing_receiver, dismissed_signals
):
    post(DismissPayloadFactory(groupID="g1", membersID=["a", "b"]))
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert [call["dismissal"].group_id for call in dismissed_signals] == ["g1"]
    failing_receiver.fixed = True  # the host fixed its receiver

    call_command("imcallback_replay", str(event.pk))

    event.refresh_from_db()
    assert event.status == Status.PROCESSED
    assert event.error == ""
    assert event.attempts == 2
    assert DismissedGroup.objects.count() == 1
    assert DismissedGroupMember.objects.count() == 2
    assert failing_receiver.calls == 2
    assert len(dismissed_signals) == 1  # the receiver that had run is not run again
    assert "receiver exploded" in event.attempt_log.get(number=1).error

    call_command("imcallback_replay", str(event.pk))  # idempotent: nothing more happens

    event.refresh_from_db()
    assert event.attempts == 2
    assert (failing_receiver.calls, len(dismissed_signals)) == (2, 1)


def test_replay_without_arguments_takes_what_failed_and_leaves_the_rest_alone(capsys):
    """What cron runs: never a delivery that succeeded, nor an invalid or unhandled one
    (replaying them changes nothing until the app changes; they are asked for by status)."""
    failed = dismiss_event(status=Status.FAILED, attempts=1)
    invalid = dismiss_event(status=Status.INVALID, payload={"groupID": "g-invalid"})
    unhandled = dismiss_event(status=Status.UNHANDLED, payload={"groupID": "g-unhandled"})
    processed = dismiss_event(status=Status.PROCESSED, payload={"groupID": "g-processed"})

    call_command("imcallback_replay")

    statuses = {e.pk: (e.status, e.attempts) for e in CallbackEvent.objects.all()}
    assert statuses == {
        failed.pk: (Status.PROCESSED, 2),
        invalid.pk: (Status.INVALID, 0),
        unhandled.pk: (Status.UNHANDLED, 0),
        processed.pk: (Status.PROCESSED, 0),
    }
    assert "Replayed 1 event(s): 1 processed." in capsys.readouterr().out

    call_command("imcallback_replay", "--status", "invalid", "--status", "unhandled")

    assert set(CallbackEvent.objects.values_list("status", flat=True)) == {Status.PROCESSED}


def test_a_delivery_that_keeps_failing_is_retried_with_a_backoff_and_a_cap(failing_receiver):
    event = dismiss_event(status=Status.FAILED, attempts=1)

    def cron(minutes_later):
        CallbackEvent.objects.filter(pk=event.pk).update(
            processed_at=timezone.now() - timedelta(minutes=minutes_later)
        )
        with contextlib.suppress(CommandError):  # "failed again"
            call_command("imcallback_replay", "--max-attempts", "4")
        return CallbackEvent.objects.get(pk=event.pk).attempts

    assert cron(0) == 2  # the first retry at once
    assert cron(4) == 2  # then after five minutes
    assert cron(5) == 3
    assert cron(9) == 3  # then after ten
    assert cron(10) == 4
    assert cron(60 * 24) == 4  # four attempts: left alone
    with pytest.raises(CommandError, match="failed again"):
        call_command("imcallback_replay", str(event.pk))  # unless asked for by id
    assert CallbackEvent.objects.get(pk=event.pk).attempts == 5
    assert failing_receiver.calls == 4


def test_a_replay_in_task_mode_says_the_announcement_is_queued(settings, capsys):
    settings.IMCALLBACK = {"DISPATCH": "task"}
    immediate = settings.TASKS["default"]["BACKEND"]  # a queue that only keeps the task
    settings.TASKS = {
        "default": {"BACKEND": immediate.replace("immediate.Immediate", "dummy.Dummy")}
    }
    dismiss_event(status=Status.FAILED, attempts=1)

    call_command("imcallback_replay")

    assert "Replayed 1 event(s): 1 stored, announcement queued." in capsys.readouterr().out
    assert CallbackEvent.objects.get().dispatch_state == Dispatch.QUEUED


def test_replay_by_status_and_command():
    quit_event = dismiss_event(status=Status.UNHANDLED, command="callbackAfterQuitGroupCommand")
    dismissal = dismiss_event(status=Status.UNHANDLED)

    call_command(
        "imcallback_replay",
        status=["unhandled"],
        callback_command="callbackafterdismissgroupcommand",
    )

    quit_event.refresh_from_db()
    dismissal.refresh_from_db()
    assert quit_event.attempts == 0
    assert dismissal.status == Status.PROCESSED


def test_replay_of_an_invalid_event_revalidates_it():
    event = CallbackEventFactory(body=b"{broken", status=Status.INVALID)

    call_command("imcallback_replay", str(event.pk))

    event.refresh_from_db()
    assert event.status == Status.INVALID
    assert event.attempts == 1
    assert "not valid JSON" in event.error


def test_dry_run_changes_nothing(capsys):
    event = dismiss_event(status=Status.FAILED)

    call_command("imcallback_replay", "--dry-run")

    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.FAILED, 0)
    assert not DismissedGroup.objects.exists()
    assert "Would replay 1 event(s)" in capsys.readouterr().out


def test_force_replays_processed_events_and_resends_signals(post, dismissed_signals):
    post(DismissPayloadFactory())
    event = CallbackEvent.objects.get()

    call_command("imcallback_replay", str(event.pk), "--force")

    assert len(dismissed_signals) == 2
    assert DismissedGroup.objects.count() == 1


def test_replay_skips_events_in_flight_but_takes_stuck_ones():
    in_flight = dismiss_event(status=Status.RECEIVED)
    stuck = dismiss_event(status=Status.RECEIVED)
    CallbackEvent.objects.filter(pk=stuck.pk).update(
        received_at=timezone.now() - timedelta(hours=1)
    )

    report = replay_events(CallbackEvent.objects.all())

    assert report.skipped == [in_flight.pk]
    assert dict(report.outcomes) == {Status.PROCESSED: 1}


def test_unknown_event_id_is_an_error():
    with pytest.raises(CommandError, match="No such event"):
        call_command("imcallback_replay", "999999")


def test_event_failing_again_is_reported(failing_receiver):
    event = dismiss_event(status=Status.FAILED)

    with pytest.raises(CommandError, match="1 event"):
        call_command("imcallback_replay", str(event.pk))

    event.refresh_from_db()
    assert event.status == Status.FAILED
    assert event.attempts == 1


@pytest.mark.usefixtures("received_signals")
def test_replay_without_ids_takes_stuck_received_queued_and_sending_events():
    from datetime import timedelta

    from django.utils import timezone

    from ..factories import CallbackEventFactory

    old = timezone.now() - timedelta(hours=1)
    body = go_json(DismissPayloadFactory())
    stuck = [
        CallbackEventFactory(body=body, status=Status.RECEIVED),
        CallbackEventFactory(body=body, status=Status.PROCESSED, dispatch_state=Dispatch.QUEUED),
        CallbackEventFactory(body=body, status=Status.PROCESSED, dispatch_state=Dispatch.SENDING),
    ]
    CallbackEvent.objects.update(received_at=old, processed_at=old)

    call_command("imcallback_replay")

    assert set(CallbackEvent.objects.values_list("attempts", flat=True)) == {1}
    assert len(stuck) == CallbackEvent.objects.filter(dispatch_state=Dispatch.SENT).count()


def test_a_replayed_command_from_the_body_is_escaped_in_the_log(post, caplog):
    body = go_json({**DismissPayloadFactory(), "callbackCommand": "cb\nINFO forged"})
    post(body, command=None, path="/imcallback/")
    CallbackEvent.objects.update(status=Status.FAILED)

    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        call_command("imcallback_replay")

    [message] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Replayed")]
    assert "\n" not in message
    assert "cb\\x0aINFO forged" in message


@pytest.mark.parametrize("state", [Dispatch.PENDING, Dispatch.QUEUED, Dispatch.SENDING])
def test_replay_leaves_fresh_owed_events_alone_and_takes_stale_ones(state, received_signals):
    body = go_json(DismissPayloadFactory())
    fresh = CallbackEventFactory(body=body, dispatch_state=state, processed_at=timezone.now())
    stale = CallbackEventFactory(body=body, dispatch_state=state)
    hour_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.filter(pk=stale.pk).update(received_at=hour_ago, processed_at=hour_ago)

    report = replay_events(CallbackEvent.objects.order_by("pk"))

    assert report.skipped == [fresh.pk]
    fresh.refresh_from_db()
    stale.refresh_from_db()
    assert (fresh.attempts, fresh.dispatch_state) == (0, state)
    assert (stale.attempts, stale.dispatch_state) == (1, Dispatch.SENT)


def test_replay_limit_is_honoured(capsys):
    for _ in range(5):
        CallbackEventFactory(body=go_json(DismissPayloadFactory()), status=Status.FAILED)

    call_command("imcallback_replay", "--limit", "2")

    statuses = list(CallbackEvent.objects.order_by("pk").values_list("status", flat=True))
    assert statuses == [Status.PROCESSED] * 2 + [Status.FAILED] * 3
    assert "Replayed 2 event(s)" in capsys.readouterr().out


@pytest.mark.usefixtures("received_signals")
def test_replay_without_force_leaves_stale_announced_events_alone():
    body = go_json(DismissPayloadFactory())
    done = CallbackEventFactory(body=body, dispatch_state=Dispatch.SENT)
    failed = CallbackEventFactory(body=body, status=Status.FAILED)
    hour_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.update(received_at=hour_ago, processed_at=hour_ago)

    report = replay_events(CallbackEvent.objects.order_by("pk"))

    assert report.skipped == [done.pk]
    assert CallbackEvent.objects.get(pk=failed.pk).attempts == 1


def test_force_replays_failed_events_as_well_as_done_ones():
    body = go_json(DismissPayloadFactory())
    failed = CallbackEventFactory(body=body, status=Status.FAILED)
    done = CallbackEventFactory(body=body, status=Status.PROCESSED)

    report = replay_events(CallbackEvent.objects.order_by("pk"), force=True)

    assert report.skipped == []
    assert {e.pk: e.attempts for e in CallbackEvent.objects.all()} == {failed.pk: 1, done.pk: 1}


def test_a_dry_run_goes_past_events_it_would_skip():
    body = go_json(DismissPayloadFactory())
    skipped = CallbackEventFactory(body=body, status=Status.PROCESSED)
    failed = CallbackEventFactory(body=body, status=Status.FAILED)

    report = replay_events(CallbackEvent.objects.order_by("pk"), dry_run=True)

    assert report.skipped == [skipped.pk]
    assert dict(report.outcomes) == {"to replay": 1}
    assert CallbackEvent.objects.get(pk=failed.pk).attempts == 0


def test_replay_takes_a_stored_command_the_app_does_not_declare(capsys):
    deliver("callbackAfterUserOnlineCommand", b'{"userID":"u"}')
    call_command(
        "imcallback_replay", "--command", "callbackAfterUserOnlineCommand", "--status", "unhandled"
    )
    assert "1" in capsys.readouterr().out


@requires_postgres
def test_concurrent_replays_of_one_event_announce_once(failing_receiver, dismissed_signals):

    body = go_json(DismissPayloadFactory(groupID="g-replay"))
    event = CallbackEventFactory(body=body, status=Status.FAILED)
    group_dismissed.disconnect(failing_receiver)

    run_concurrently([lambda: replay_events([event]) for _ in range(10)])

    assert len(dismissed_signals) == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)


def test_a_replay_retries_the_receivers_that_failed_last_not_those_that_failed_first(post):
    """Two receivers fail; one is fixed; the next replay's failure names only the other,
    so the replay after that retries only the other."""
    calls = {"first": 0, "second": 0}
    broken = {"first", "second"}

    def first(sender, **kwargs):
        calls["first"] += 1
        if "first" in broken:
            raise RuntimeError("first receiver")

    def second(sender, **kwargs):
        calls["second"] += 1
        if "second" in broken:
            raise RuntimeError("second receiver")

    group_dismissed.connect(first, weak=False)
    group_dismissed.connect(second, weak=False)
    try:
        post(DismissPayloadFactory())
        event = CallbackEvent.objects.get()
        broken.discard("first")
        replay_events([event])  # retries both: the first succeeds, the second fails again
        broken.discard("second")
        replay_events([event])  # retries the second only
    finally:
        group_dismissed.disconnect(first)
        group_dismissed.disconnect(second)

    assert calls == {"first": 2, "second": 3}
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 3)
    assert event.attempt_log.get(number=3).retried_receivers == [receiver_name(second)]


def test_an_event_being_replayed_is_not_claimed_by_a_second_replay(monkeypatch):
    """The claim stamps the event, so a second replay running meanwhile (cron overlapping an
    operator) skips it though it was received long ago."""
    event = dismiss_event(status=Status.FAILED)
    hour_ago = timezone.now() - timedelta(hours=1)
    CallbackEvent.objects.filter(pk=event.pk).update(received_at=hour_ago, processed_at=hour_ago)
    meanwhile = []

    def process(claimed):
        meanwhile.append(replay_events([claimed]))  # the second replay, mid-way through
        return real_process(claimed)

    real_process = replay.process
    monkeypatch.setattr(replay, "process", process)

    report = replay_events([event])

    assert [r.skipped for r in meanwhile] == [[event.pk]]
    assert report.outcomes == {Status.PROCESSED: 1}
    event.refresh_from_db()
    assert event.attempts == 1


def test_the_replay_report_says_what_happened_in_words():
    report = ReplayReport(
        outcomes=Counter({Status.PROCESSED: 2, Status.FAILED: 1}), skipped=[7], failed=[3]
    )

    assert report.summary() == (
        "Replayed 3 event(s): 1 failed, 2 processed. "
        "Skipped 1 not replayable now (already done or in flight)."
    )
    assert report.problems() == ["Event #3 failed again; its error holds the traceback."]
    assert ReplayReport().summary() == "Replayed 0 event(s)."
    dry = ReplayReport(outcomes=Counter({"to replay": 2}), dry_run=True)
    assert dry.summary() == "Would replay 2 event(s): 2 to replay."


def test_a_dry_run_counts_every_event_it_would_replay():
    events = [dismiss_event(status=Status.FAILED) for _ in range(3)]

    report = replay_events(
        CallbackEvent.objects.filter(pk__in=[e.pk for e in events]), dry_run=True
    )

    assert report.outcomes == {"to replay": 3}
    assert report.summary() == "Would replay 3 event(s): 3 to replay."


def test_each_replay_is_logged_and_an_event_failing_again_is_listed(failing_receiver, caplog):
    event = dismiss_event(status=Status.FAILED)

    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        report = replay_events(CallbackEvent.objects.filter(pk=event.pk))

    assert report.failed == [event.pk]
    replayed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Replayed")]
    assert replayed == [f"Replayed event {event.pk} ({DISMISS}): failed."]


def test_the_replay_report_speaks_the_operators_language():
    dry = ReplayReport(outcomes=Counter({"to replay": 2}), dry_run=True)

    with translation.override("zh-hans"):
        label = translation.gettext("to replay")
        summary = dry.summary()

    assert label != "to replay"
    assert f"2 {label}" in summary


@pytest.mark.parametrize("refused", ["content type", "too large"])
def test_a_replay_refuses_what_the_request_refused(post, settings, dismissed_signals, refused):
    if refused == "content type":
        response = post(DismissPayloadFactory(groupID="g-refused"), content_type="text/plain")
    else:
        settings.IMCALLBACK = {"MAX_BODY_BYTES": 20}
        response = post(DismissPayloadFactory(groupID="g-refused"))
        settings.IMCALLBACK = {}
    event = CallbackEvent.objects.get()
    error = event.error

    call_command("imcallback_replay", "--status", "invalid")

    event.refresh_from_db()
    assert response.status_code in (400, 413)
    assert (event.status, event.attempts) == (Status.INVALID, 2)
    assert event.error.partition(" (")[0] == error.partition(" (")[0]  # the same reason
    assert not DismissedGroup.objects.exists()
    assert dismissed_signals == []
