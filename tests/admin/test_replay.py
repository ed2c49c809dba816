"""Replaying from the admin: the action, the button, the permission."""

import pytest
from django.urls import reverse

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.openim import body

from ..conftest import event_page, go_json
from ..factories import (
    DISMISS,
    CallbackEventFactory,
    DismissPayloadFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


EVENTS = reverse("admin:django_imcallback_callbackevent_changelist")


def test_replay_action_turns_a_failed_event_processed(admin_client):
    body = go_json(DismissPayloadFactory(groupID="g-replay", membersID=["a"]))
    event = CallbackEventFactory(body=body, status=Status.FAILED, error="boom")

    response = admin_client.post(
        EVENTS, {"action": "replay", "_selected_action": [event.pk]}, follow=True
    )

    assert response.status_code == 200
    event.refresh_from_db()
    assert event.status == Status.PROCESSED
    assert event.attempts == 1
    assert DismissedGroup.objects.get().group_id == "g-replay"
    assert "Replayed 1 event(s): 1 processed." in response.content.decode()


def test_replay_action_needs_the_replay_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_callbackevent"))
    client.force_login(staff)
    event = CallbackEventFactory(status=Status.FAILED)

    response = client.post(EVENTS, {"action": "replay", "_selected_action": [event.pk]})

    assert response.status_code == 200  # the changelist, with "no action selected"
    event.refresh_from_db()
    assert event.status == Status.FAILED


def test_the_replay_button_retries_the_failed_receiver_and_keeps_the_first_traceback(
    admin_client, post, failing_receiver
):
    post(body(DISMISS, group_id="g-r", user_ids=["u"]))
    event = CallbackEvent.objects.get()
    page = admin_client.get(event_page(event)).content.decode()
    replay = reverse("admin:django_imcallback_callbackevent_replay", args=[event.pk])
    assert replay in page
    failing_receiver.fixed = True

    response = admin_client.post(replay, follow=True)

    assert "Replayed 1 event(s): 1 processed." in response.content.decode()
    event.refresh_from_db()
    assert (event.status, event.attempts, failing_receiver.calls) == (Status.PROCESSED, 2, 2)
    page = admin_client.get(event_page(event)).content.decode()
    assert "receiver exploded" in page  # the first attempt's traceback, kept
    assert "tests.conftest.failing_receiver.&lt;locals&gt;.receiver" in page


def test_the_replay_button_needs_the_replay_permission(client, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_callbackevent"))
    client.force_login(staff)
    event = CallbackEventFactory(status=Status.FAILED)

    page = client.get(event_page(event)).content.decode()
    replay = reverse("admin:django_imcallback_callbackevent_replay", args=[event.pk])
    assert replay not in page
    assert client.post(replay).status_code == 403
    event.refresh_from_db()
    assert event.status == Status.FAILED


def test_the_replay_permission_without_the_view_permission_replays_nothing(
    client, django_user_model
):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("blind", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="replay_callbackevent"))
    client.force_login(staff)
    event = CallbackEventFactory(status=Status.FAILED)
    replay = reverse("admin:django_imcallback_callbackevent_replay", args=[event.pk])

    assert client.post(replay, {"force": "1"}).status_code == 403
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.FAILED, 0)
