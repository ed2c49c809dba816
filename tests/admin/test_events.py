"""The event log in the admin: lists, searches, filters, pages, read-only."""

import re
from datetime import UTC

import pytest
from django.urls import reverse

from django_imcallback.decisions import Block
from django_imcallback.models import CallbackEvent, IMGroup
from django_imcallback.openim import body

from ..conftest import event_page, go_json
from ..factories import (
    DISMISS,
    SINGLE,
    CallbackEventFactory,
    DismissedGroupFactory,
    DismissPayloadFactory,
    message,
)

pytestmark = pytest.mark.django_db

Status = CallbackEvent.Status


EVENTS = reverse("admin:django_imcallback_callbackevent_changelist")


def listed(response):
    return sorted(obj.pk for obj in response.context["cl"].result_list)


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


@pytest.mark.django_db(transaction=True)
def test_the_event_log_finds_every_delivery_about_a_group_or_a_user(admin_client, dismissal_twice):
    assert [e.status for e in dismissal_twice] == [
        Status.PROCESSED,
        Status.DUPLICATE,
        Status.INVALID,
    ]

    assert listed(admin_client.get(EVENTS, {"q": "g-ops"})) == [e.pk for e in dismissal_twice]
    by_owner = listed(admin_client.get(EVENTS, {"q": "own"}))
    assert by_owner == [e.pk for e in dismissal_twice[:2]]


@pytest.mark.django_db(transaction=True)
def test_a_failed_events_error_comes_first_and_a_duplicates_note_is_no_error(
    admin_client, post, failing_receiver
):
    post(body(DISMISS, group_id="g-f", user_ids=["u"] * 1 + [f"m{i}" for i in range(3000)]))
    post(body(DISMISS, group_id="g-f", membersID=None), operation_id="again")
    failed, duplicate = CallbackEvent.objects.order_by("pk")
    assert (failed.status, duplicate.status) == (Status.FAILED, Status.DUPLICATE)

    page = admin_client.get(event_page(failed)).content.decode()
    assert page.index("receiver exploded") < page.index("m2999")  # above the members
    assert re.search(r"<label>Error:</label>", page)

    page = admin_client.get(event_page(duplicate)).content.decode()
    assert re.search(r"<label>Note:</label>", page)
    assert not re.search(r"<label>Error:</label>", page)


@pytest.mark.django_db(transaction=True)
def test_a_large_body_scrolls_and_downloads_byte_for_byte(admin_client):
    raw = (
        b'{"groupID":"g-big","membersID":[' + b",".join(b'"u%d"' % i for i in range(60_000)) + b"]}"
    )
    event = CallbackEventFactory(body=raw)

    page = admin_client.get(event_page(event)).content.decode()
    assert "overflow: auto" in page
    url = reverse("admin:django_imcallback_callbackevent_body", args=[event.pk])
    assert url in page
    download = admin_client.get(url)
    assert download.content == raw
    assert download["Content-Disposition"] == f'attachment; filename="event-{event.pk}.json"'


@pytest.mark.django_db(transaction=True)
def test_the_list_shows_seconds_and_readable_sizes_and_dispatch_only_in_task_mode(
    admin_client, settings
):
    from datetime import UTC, datetime

    CallbackEventFactory(received_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), body=b"x" * 650_000)
    settings.TIME_ZONE = "UTC"

    page = admin_client.get(EVENTS).content.decode()
    assert "2026-01-02 03:04:05" in page
    assert "634.8\xa0KB" in page
    assert "column-dispatch_state" not in page

    settings.IMCALLBACK = {"DISPATCH": "task"}
    assert "column-dispatch_state" in admin_client.get(EVENTS).content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_command_filter_lists_unhandled_commands_seen(admin_client, post):
    post({"userID": "u1", "platformID": 1}, command="callbackAfterUserOnlineCommand")

    response = admin_client.get(EVENTS)
    [command_filter] = [f for f in response.context["cl"].filter_specs if f.title == "command"]
    commands = [value for value, _ in command_filter.lookup_choices]
    assert "callbackAfterUserOnlineCommand" in commands
    assert DISMISS in commands


@pytest.mark.django_db(transaction=True)
def test_every_time_shows_its_seconds(admin_client, post, settings):
    settings.TIME_ZONE = "UTC"
    create = "callbackAfterCreateGroupCommand"
    post(
        body(create, group_id="g-t", user_ids=["ann"], createTime=1_700_000_000_000), command=create
    )
    group = IMGroup.objects.get(group_id="g-t")
    member = group.members.get(user_id="ann")

    groups = admin_client.get(reverse("admin:django_imcallback_imgroup_changelist"))
    group_page = admin_client.get(
        reverse("admin:django_imcallback_imgroup_change", args=[group.pk])
    )
    members = admin_client.get(reverse("admin:django_imcallback_imgroupmember_changelist"))

    assert "2023-11-14 22:13:20" in groups.content.decode()  # createTime, to the second
    assert "2023-11-14 22:13:20" in group_page.content.decode()
    joined = member.joined_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert joined in members.content.decode()


@pytest.mark.django_db(transaction=True)
def test_events_are_searchable_by_operation_id(admin_client):
    CallbackEventFactory(operation_id="op-wanted")
    CallbackEventFactory(operation_id="op-other")

    response = admin_client.get(EVENTS, {"q": "op-wanted"})

    assert [event.operation_id for event in response.context["cl"].result_list] == ["op-wanted"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("model", ["callbackevent", "dismissedgroup", "dismissedgroupmember"])
def test_the_admin_cannot_add_change_or_delete(admin_client, model):
    obj = {
        "callbackevent": CallbackEventFactory,
        "dismissedgroup": DismissedGroupFactory,
        "dismissedgroupmember": lambda: DismissedGroupFactory().members.create(user_id="u"),
    }[model]()
    change = reverse(f"admin:django_imcallback_{model}_change", args=[obj.pk])
    delete = reverse(f"admin:django_imcallback_{model}_delete", args=[obj.pk])

    assert admin_client.get(reverse(f"admin:django_imcallback_{model}_add")).status_code == 403
    assert admin_client.post(change, {}).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert type(obj).objects.filter(pk=obj.pk).exists()


def test_the_admin_shows_the_verdict_and_the_answer_sent(admin_client, post, decider):
    decider(SINGLE)(lambda e, p: Block(5001, "refused <b>"))
    post(message(), SINGLE)
    post(message(), "callbackBeforeSendGroupMsgCommand")
    event = CallbackEvent.objects.get(verdict="block")

    listing = admin_client.get("/admin/django_imcallback/callbackevent/", {"verdict": "block"})
    page = admin_client.get(f"/admin/django_imcallback/callbackevent/{event.pk}/change/")

    assert list(listing.context["cl"].result_list) == [event]
    assert "&quot;errMsg&quot;: &quot;refused &lt;b&gt;&quot;" in page.content.decode()


def test_events_are_found_by_their_number(admin_client):
    wanted, other = CallbackEventFactory(), CallbackEventFactory()

    response = admin_client.get(EVENTS, {"q": str(wanted.pk)})

    assert [event.pk for event in response.context["cl"].result_list] == [wanted.pk]
    assert other.pk != wanted.pk


def test_an_events_page_shows_what_it_announced_with(admin_client, post):
    post(
        body("callbackAfterJoinGroupCommand", group_id="G1", user_ids=["u<1>"]),
        "callbackAfterJoinGroupCommand",
    )
    event = CallbackEvent.objects.get()

    page = admin_client.get(event_page(event)).content.decode()

    group = IMGroup.objects.get()
    assert "Announced with" in page
    assert f"&quot;pk&quot;: {group.pk}" in page
    assert "&quot;user_ids&quot;: [\n    &quot;u&lt;1&gt;&quot;" in page
