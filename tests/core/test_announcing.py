"""The signals: after commit, once, and what a failing receiver leaves."""

import threading
import traceback

import pytest
from django.core.management import call_command
from django.db import OperationalError, connections, transaction

from django_imcallback import announcing
from django_imcallback.handlers import Handler, Outcome, registry
from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.replay import replay_events
from django_imcallback.serializers import IDField
from django_imcallback.signals import callback_received, group_dismissed

from ..conftest import SUCCESS, requires_postgres, updates_fail
from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


Dispatch = CallbackEvent.Dispatch


def test_group_dismissed_carries_the_dismissal_and_event(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", membersID=["a", "b"]))

    [call] = dismissed_signals
    assert call["sender"] is DismissedGroup
    assert call["dismissal"] == DismissedGroup.objects.get()
    assert call["event"] == CallbackEvent.objects.get()
    assert sorted(call["dismissal"].members.values_list("user_id", flat=True)) == ["a", "b"]


def test_callback_received_carries_command_and_payload(post, received_signals):
    payload = DismissPayloadFactory()
    post(payload)

    [call] = received_signals
    assert call["sender"] is CallbackEvent
    assert call["command"] == DISMISS
    assert call["payload"] == payload
    assert call["event"] == CallbackEvent.objects.get()


def test_signals_are_sent_after_commit(post):
    """A receiver sees committed rows: it could hand them to another connection."""
    seen = {}

    def receiver(sender, dismissal, event, **kwargs):
        seen["in_atomic_block"] = transaction.get_connection().in_atomic_block
        seen["status"] = CallbackEvent.objects.get(pk=event.pk).status

    group_dismissed.connect(receiver)
    try:
        post(DismissPayloadFactory())
    finally:
        group_dismissed.disconnect(receiver)

    assert seen == {"in_atomic_block": False, "status": CallbackEvent.Status.PROCESSED}


def test_invalid_callbacks_are_not_announced(post, dismissed_signals, received_signals):
    post(DismissPayloadFactory(groupID=""))

    assert dismissed_signals == []
    assert received_signals == []


def test_failing_receiver_keeps_the_data_and_marks_the_event_failed(
    post, failing_receiver, received_signals
):
    response = post(DismissPayloadFactory(groupID="g1", membersID=["a"]))

    assert response.json() == SUCCESS
    assert DismissedGroup.objects.get().member_count == 1
    event = CallbackEvent.objects.get()
    assert event.status == CallbackEvent.Status.FAILED
    assert "RuntimeError: receiver exploded" in event.error
    assert "Traceback" in event.error
    # The other receivers still ran.
    assert len(received_signals) == 1


def test_nothing_is_owed_when_no_receiver_listens(post):
    """Inline, with no receiver connected there is nothing to announce and nothing to mark."""
    post(DismissPayloadFactory())

    assert CallbackEvent.objects.get().dispatch_state == CallbackEvent.Dispatch.NONE


@pytest.mark.usefixtures("received_signals")
def test_a_callback_received_receiver_makes_every_delivery_owed_then_sent(post):
    payload = DismissPayloadFactory()
    post(payload)
    post({**payload, "membersID": None})

    states = set(CallbackEvent.objects.values_list("status", "dispatch_state"))
    assert states == {
        (CallbackEvent.Status.PROCESSED, CallbackEvent.Dispatch.SENT),
        (CallbackEvent.Status.DUPLICATE, CallbackEvent.Dispatch.SENT),
    }


def test_a_handler_written_as_documented_announces_in_task_mode(post, settings):
    from django.dispatch import Signal
    from rest_framework import serializers

    done = Signal()
    calls = []
    done.connect(lambda sender, **kwargs: calls.append(kwargs), weak=False)

    class PingSerializer(serializers.Serializer):
        groupID = IDField(source="group_id")

    class PingHandler(Handler):
        command = "callbackAfterPingCommand"
        serializer_class = PingSerializer
        signal = done

        def apply(self, event, data):
            return Outcome(announce={"group_id": data["group_id"]})

    settings.IMCALLBACK = {"DISPATCH": "task"}
    registry.register(PingHandler())
    try:
        assert post({"groupID": "g1"}, PingHandler.command).json() == SUCCESS
    finally:
        registry.unregister(PingHandler.command)

    assert [call["group_id"] for call in calls] == ["g1"]
    assert CallbackEvent.objects.get().dispatch_state == Dispatch.SENT


def test_a_receiver_whose_connection_dies_leaves_the_event_owed(post, monkeypatch):
    from django_imcallback.signals import group_dismissed

    def receiver(sender, **kwargs):
        # The connection died: the failure cannot be recorded.
        monkeypatch.setattr(CallbackEvent, "save", updates_fail(CallbackEvent.save))
        raise OperationalError("connection lost")

    group_dismissed.connect(receiver, weak=False)
    try:
        response = post(DismissPayloadFactory())
    finally:
        group_dismissed.disconnect(receiver)
    monkeypatch.undo()

    assert response.json() == SUCCESS  # it is stored: never "NOT stored"
    event = CallbackEvent.objects.get()
    assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.PENDING)


def test_an_announcement_cut_off_in_inline_mode_is_marked_and_replayed(
    post, monkeypatch, dismissed_signals
):
    monkeypatch.setattr(announcing, "send", lambda *args: None)  # killed before the signals
    assert post(DismissPayloadFactory(groupID="g-killed")).json() == SUCCESS
    monkeypatch.undo()
    event = CallbackEvent.objects.get()
    assert event.dispatch_state == Dispatch.PENDING

    call_command("imcallback_replay", "--stale-after", "0")

    assert [call["dismissal"].group_id for call in dismissed_signals] == ["g-killed"]
    event.refresh_from_db()
    assert event.dispatch_state == Dispatch.SENT


@requires_postgres  # SQLite's in-memory test database is not shared across threads
@pytest.mark.parametrize("record_first_bytes", [0, 64 * 1024])
def test_receivers_run_after_commit_seen_from_another_connection(
    post, settings, record_first_bytes
):
    """Another connection (a task queue, a service) sees the rows a receiver is told of.

    On PostgreSQL this runs both routes: the one statement and the transaction."""
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": record_first_bytes}
    seen = []

    def look(group_id):
        try:
            seen.append(DismissedGroup.objects.filter(group_id=group_id).exists())
        finally:
            connections.close_all()

    def receiver(sender, dismissal, event, **kwargs):
        thread = threading.Thread(target=look, args=(dismissal.group_id,))
        thread.start()
        thread.join()

    group_dismissed.connect(receiver, weak=False)
    try:
        assert post(DismissPayloadFactory(groupID="g-after-commit")).json() == SUCCESS
    finally:
        group_dismissed.disconnect(receiver)

    assert seen == [True]


def test_a_first_delivery_that_goes_well_writes_no_attempt(post, dismissed_signals):
    post(DismissPayloadFactory())

    event = CallbackEvent.objects.get()
    assert (event.status, event.dispatch_state, event.attempts) == ("processed", "sent", 1)
    assert not event.attempt_log.exists()
    assert len(dismissed_signals) == 1


def test_every_failing_receivers_traceback_is_kept(post):
    errors = []

    def raising(message):
        def receiver(sender, **kwargs):
            errors.append(RuntimeError(message))
            raise errors[-1]

        return receiver

    receivers = [raising("first broke"), raising("second broke")]
    for receiver in receivers:
        group_dismissed.connect(receiver, weak=False)
    try:
        post(DismissPayloadFactory())
    finally:
        for receiver in receivers:
            group_dismissed.disconnect(receiver)

    event = CallbackEvent.objects.get()
    assert event.error == "\n".join("".join(traceback.format_exception(e)) for e in errors)


def test_a_replay_retries_only_the_failed_callback_received_receivers(post):
    calls = {"steady": 0, "flaky": 0}

    def steady(sender, **kwargs):
        calls["steady"] += 1

    def flaky(sender, **kwargs):
        calls["flaky"] += 1
        if calls["flaky"] == 1:
            raise RuntimeError("flaky")

    callback_received.connect(steady, weak=False)
    callback_received.connect(flaky, weak=False)
    try:
        post(DismissPayloadFactory())
        replay_events(CallbackEvent.objects.all())
    finally:
        callback_received.disconnect(steady)
        callback_received.disconnect(flaky)

    assert calls == {"steady": 1, "flaky": 2}
    assert CallbackEvent.objects.get().dispatch_state == "sent"
