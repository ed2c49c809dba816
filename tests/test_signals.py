"""Signals: sent after commit, with the documented arguments; failures never lose data."""

import pytest
from django.db import transaction

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.signals import group_dismissed

from .conftest import SUCCESS
from .factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)


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
