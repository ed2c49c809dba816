"""Operators browse and search everything in the admin, fast and read-only."""

import pytest
from django.urls import reverse

from django_imcallback.models import CallbackEvent, DismissedGroup

from .conftest import go_json
from .factories import (
    CallbackEventFactory,
    DismissedGroupFactory,
    DismissedGroupMemberFactory,
    DismissPayloadFactory,
)

pytestmark = pytest.mark.django_db

Status = CallbackEvent.Status
DISMISSALS = reverse("admin:django_imcallback_dismissedgroup_changelist")
EVENTS = reverse("admin:django_imcallback_callbackevent_changelist")


def listed_groups(response):
    return sorted(obj.group_id for obj in response.context["cl"].result_list)


def test_dismissal_list_shows_group_owner_and_member_count(admin_client):
    DismissedGroupFactory(group_id="g-list", owner_id="o-list", member_count=42)

    response = admin_client.get(DISMISSALS)

    assert response.status_code == 200
    content = response.content.decode()
    assert "g-list" in content
    assert "o-list" in content
    assert "42" in content


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("g-2", ["g-2"]),
        ("owner-1", ["g-1"]),
        ("member-x", ["g-1", "g-2"]),
        ("member", []),
    ],
)
def test_dismissals_are_searchable_by_group_owner_and_member(admin_client, term, expected):
    one = DismissedGroupFactory(group_id="g-1", owner_id="owner-1")
    two = DismissedGroupFactory(group_id="g-2", owner_id="owner-2")
    DismissedGroupMemberFactory(dismissal=one, user_id="member-x")
    DismissedGroupMemberFactory(dismissal=two, user_id="member-x")
    DismissedGroupMemberFactory(dismissal=two, user_id="member-y")
    DismissedGroupFactory(group_id="g-3")

    response = admin_client.get(DISMISSALS, {"q": term})

    assert listed_groups(response) == expected


def test_dismissal_page_shows_a_bounded_member_preview(admin_client):
    dismissal = DismissedGroupFactory(member_count=250)
    for i in range(250):
        DismissedGroupMemberFactory(dismissal=dismissal, user_id=f"m{i:03d}")

    response = admin_client.get(
        reverse("admin:django_imcallback_dismissedgroup_change", args=[dismissal.pk])
    )

    content = response.content.decode()
    assert response.status_code == 200
    assert "m000" in content
    assert "m199" in content
    assert "m200" not in content
    assert "and 50 more" in content
    assert f"dismissal__id__exact={dismissal.pk}" in content


def test_member_list_filtered_by_dismissal_lists_all_members(admin_client):
    dismissal = DismissedGroupFactory()
    for i in range(3):
        DismissedGroupMemberFactory(dismissal=dismissal, user_id=f"m{i}")
    DismissedGroupMemberFactory(user_id="elsewhere")

    response = admin_client.get(
        reverse("admin:django_imcallback_dismissedgroupmember_changelist"),
        {"dismissal__id__exact": dismissal.pk},
    )

    assert sorted(m.user_id for m in response.context["cl"].result_list) == ["m0", "m1", "m2"]


def test_events_filter_by_status_and_command(admin_client):
    CallbackEventFactory(status=Status.FAILED, command="callbackAfterDisMissGroupCommand")
    CallbackEventFactory(status=Status.PROCESSED)
    CallbackEventFactory(status=Status.FAILED, command="callbackAfterQuitGroupCommand")

    response = admin_client.get(
        EVENTS, {"status__exact": "failed", "command": "callbackAfterDisMissGroupCommand"}
    )

    [event] = response.context["cl"].result_list
    assert (event.status, event.command) == ("failed", "callbackAfterDisMissGroupCommand")


def test_event_list_does_not_load_bodies(admin_client, django_assert_max_num_queries):
    CallbackEventFactory.create_batch(30, body=b"x" * 100_000)

    with django_assert_max_num_queries(12):
        response = admin_client.get(EVENTS)

    assert response.status_code == 200
    assert all(
        "body" in event.get_deferred_fields() for event in response.context["cl"].result_list
    )


def test_event_page_shows_the_raw_body_readably(admin_client):
    event = CallbackEventFactory(body=go_json(DismissPayloadFactory(groupID="g<1>")))

    response = admin_client.get(
        reverse("admin:django_imcallback_callbackevent_change", args=[event.pk])
    )

    assert response.status_code == 200
    assert "&quot;groupID&quot;: &quot;g&lt;1&gt;&quot;" in response.content.decode()


def test_garbage_body_page_still_renders(admin_client):
    event = CallbackEventFactory(body=b"\xff\xfe not json", status=Status.INVALID)

    response = admin_client.get(
        reverse("admin:django_imcallback_callbackevent_change", args=[event.pk])
    )

    assert response.status_code == 200
    assert "\\xff\\xfe not json" in response.content.decode()


@pytest.mark.parametrize("model", ["callbackevent", "dismissedgroup", "dismissedgroupmember"])
def test_admin_is_read_only(admin_client, model):
    assert admin_client.get(reverse(f"admin:django_imcallback_{model}_add")).status_code == 403


def test_dismissal_list_query_count_is_constant(admin_client, django_assert_max_num_queries):
    for _ in range(40):
        DismissedGroupFactory()

    with django_assert_max_num_queries(8):
        assert admin_client.get(DISMISSALS).status_code == 200


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
