"""Operators recover and tidy up: replay, prune, and a database outage."""

import json
import logging
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from django_imcallback import pipeline
from django_imcallback.handlers import DismissGroupHandler
from django_imcallback.logs import LOST_DELIVERY
from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember
from django_imcallback.replay import replay_events

from .conftest import database_down, go_json, updates_fail
from .factories import (
    CallbackEventFactory,
    DismissedGroupFactory,
    DismissedGroupMemberFactory,
    DismissPayloadFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


def dismiss_event(**kwargs):
    payload = DismissPayloadFactory(**kwargs.pop("payload", {}))
    return CallbackEventFactory(body=go_json(payload), **kwargs)


# -- Replay -----------------------------------------------------------------------------


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


def test_replay_without_arguments_takes_failed_invalid_and_unhandled_events(capsys):
    failed = dismiss_event(status=Status.FAILED)
    invalid = dismiss_event(status=Status.INVALID, payload={"groupID": "g-invalid"})
    unhandled = dismiss_event(status=Status.UNHANDLED, payload={"groupID": "g-unhandled"})
    processed = dismiss_event(status=Status.PROCESSED, payload={"groupID": "g-processed"})

    call_command("imcallback_replay")

    statuses = {e.pk: (e.status, e.attempts) for e in CallbackEvent.objects.all()}
    assert statuses == {
        failed.pk: (Status.PROCESSED, 1),
        invalid.pk: (Status.PROCESSED, 1),
        unhandled.pk: (Status.PROCESSED, 1),
        processed.pk: (Status.PROCESSED, 0),
    }
    assert "Replayed 3 event(s): 3 processed." in capsys.readouterr().out


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


# -- Prune ------------------------------------------------------------------------------


def aged(obj, days):
    type(obj).objects.filter(pk=obj.pk).update(received_at=timezone.now() - timedelta(days=days))
    return obj


def test_prune_deletes_old_events_in_batches_and_keeps_dismissals(capsys):
    old = [aged(dismiss_event(), 40) for _ in range(5)]
    recent = dismiss_event()
    dismissal = DismissedGroupFactory(event=old[0])

    call_command("imcallback_prune", "--older-than", "30", "--batch-size", "2")

    assert list(CallbackEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    dismissal.refresh_from_db()
    assert dismissal.event is None
    assert "Deleted 5 event(s)" in capsys.readouterr().out


def test_prune_keeps_failed_events_unless_asked():
    failed = aged(dismiss_event(status=Status.FAILED), 40)

    call_command("imcallback_prune", "--older-than", "30")
    assert CallbackEvent.objects.filter(pk=failed.pk).exists()

    call_command("imcallback_prune", "--older-than", "30", "--include-failed")
    assert not CallbackEvent.objects.exists()


def test_prune_can_include_dismissals_with_their_members():
    old = aged(DismissedGroupFactory(), 40)
    DismissedGroupMemberFactory.create_batch(3, dismissal=old)
    recent = DismissedGroupFactory()
    DismissedGroupMemberFactory(dismissal=recent)

    call_command("imcallback_prune", "--older-than", "30", "--include-dismissals")

    assert list(DismissedGroup.objects.all()) == [recent]
    assert DismissedGroupMember.objects.count() == 1


def test_prune_dry_run_deletes_nothing(capsys):
    aged(dismiss_event(), 40)

    call_command("imcallback_prune", "--older-than", "30", "--dry-run")

    assert CallbackEvent.objects.count() == 1
    assert "Would delete 1 event(s)" in capsys.readouterr().out


# -- Database outage --------------------------------------------------------------------


def lost_delivery(record):
    """The delivery a "NOT stored" line holds, parsed back."""
    message = record.getMessage()
    assert message.startswith(LOST_DELIVERY)
    return json.loads(message.removeprefix(LOST_DELIVERY))


@pytest.fixture
def database_gone(monkeypatch):
    """Every statement fails as it does when PostgreSQL has gone away."""
    monkeypatch.setattr(CursorWrapper, "execute", database_down)
    monkeypatch.setattr(CursorWrapper, "executemany", database_down)


@pytest.mark.usefixtures("database_gone")
def test_database_down_answers_503_and_logs_the_whole_delivery(post, caplog):
    payload = DismissPayloadFactory(groupID="g-lost", membersID=["u-1"])

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        response = post(payload, operation_id="op-lost")

    assert response.status_code == 503
    assert response.json()["errCode"] == 503
    [record] = [r for r in caplog.records if "NOT stored" in r.getMessage()]
    lost = lost_delivery(record)
    assert lost["body"] == go_json(payload).decode()
    assert (lost["body_encoding"], lost["operation_id"]) == ("utf-8", "op-lost")
    assert lost["command"] == "callbackAfterDisMissGroupCommand"


@pytest.mark.usefixtures("database_gone")
def test_database_down_with_a_binary_body_logs_it_as_base64(post, caplog):

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        post(b"\xff\x00\x01")

    [record] = [r for r in caplog.records if "NOT stored" in r.getMessage()]
    lost = lost_delivery(record)
    assert (lost["body_encoding"], lost["body"]) == ("base64", "/wAB")


def test_database_failing_after_the_event_is_recorded_first_is_a_503(post, monkeypatch, settings):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 0}
    monkeypatch.setattr(DismissGroupHandler, "apply", database_down)
    monkeypatch.setattr(CallbackEvent, "save", updates_fail(CallbackEvent.save))

    response = post(DismissPayloadFactory())

    assert response.status_code == 503
    assert "was recorded" in response.json()["errMsg"]  # not "could not be stored"
    assert CallbackEvent.objects.get().status == Status.RECEIVED  # replayable once stuck


@pytest.mark.parametrize("record_first_bytes", [0, 10_000_000])
def test_a_failing_apply_is_recorded_with_its_traceback(
    post, monkeypatch, settings, record_first_bytes
):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": record_first_bytes}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full of bugs")

    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", broken)  # route 1
    monkeypatch.setattr(DismissGroupHandler, "apply", broken)  # route 2

    response = post(DismissPayloadFactory())

    assert response.status_code == 500  # recorded, replayable, and visibly failed
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "RuntimeError: disk full of bugs" in event.error
    assert event.attempts == 1
    assert not DismissedGroup.objects.exists()


def test_a_crash_outside_the_pipeline_still_records_the_delivery(post, monkeypatch):
    def crash(payload):
        raise RuntimeError("bug in a serializer")

    monkeypatch.setattr(DismissGroupHandler, "validate", lambda self, payload: crash(payload))

    response = post(DismissPayloadFactory())

    assert response.status_code == 500
    assert response.json()["errCode"] == 500
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "bug in a serializer" in event.error


def test_a_crash_and_then_a_database_outage_answers_503_and_logs_the_delivery(
    post, monkeypatch, caplog
):
    """The failure cannot be recorded either: the delivery is in the log, and nowhere else."""

    def crash(payload):
        raise RuntimeError("bug in a serializer")

    monkeypatch.setattr(DismissGroupHandler, "validate", lambda self, payload: crash(payload))
    monkeypatch.setattr(CursorWrapper, "execute", database_down)
    payload = DismissPayloadFactory(groupID="g-double-fault")

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        response = post(payload)

    assert response.status_code == 503
    [record] = [r for r in caplog.records if "NOT stored" in r.getMessage()]
    assert lost_delivery(record)["body"] == go_json(payload).decode()


@pytest.mark.usefixtures("received_signals")
def test_a_failing_storing_transaction_still_leaves_the_delivery_recorded(post, monkeypatch):
    """A command without a handler fails as a handled one does: recorded, answered 500."""

    def broken(*args, **kwargs):
        raise RuntimeError("scheduling failed")

    monkeypatch.setattr(pipeline.announcing, "owed", broken)

    response = post({"userID": "u"}, command="callbackAfterUserOnlineCommand")

    assert response.status_code == 500
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "scheduling failed" in event.error
