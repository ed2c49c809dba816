"""The operator's console: what an operator has to connect, the admin connects."""

import re
from datetime import UTC

import pytest
from django.urls import reverse

from django_imcallback.models import CallbackEvent, DismissedGroup, IMGroup
from django_imcallback.openim import body

from .factories import DISMISS, CallbackEventFactory

pytestmark = pytest.mark.django_db(transaction=True)  # receivers run after a real commit

Status = CallbackEvent.Status
EVENTS = reverse("admin:django_imcallback_callbackevent_changelist")
DISMISSALS = reverse("admin:django_imcallback_dismissedgroup_changelist")


def event_page(event):
    return reverse("admin:django_imcallback_callbackevent_change", args=[event.pk])


def listed(response):
    return sorted(obj.pk for obj in response.context["cl"].result_list)


@pytest.fixture
def dismissal_twice(post):
    """A dismissal as the server sends it: with its members, then again without."""
    post(body(DISMISS, group_id="g-ops", user_id="own", user_ids=["ann", "bob"]), operation_id="1")
    post(body(DISMISS, group_id="g-ops", user_id="own", membersID=None), operation_id="2")
    post(body(DISMISS, group_id="g-ops", membersID="garbage"), operation_id="3")
    post(body(DISMISS, group_id="g-other", user_ids=["ann"]), operation_id="4")
    return list(CallbackEvent.objects.filter(group_id="g-ops").order_by("pk"))


def test_the_event_log_finds_every_delivery_about_a_group_or_a_user(admin_client, dismissal_twice):
    assert [e.status for e in dismissal_twice] == [
        Status.PROCESSED,
        Status.DUPLICATE,
        Status.INVALID,
    ]

    assert listed(admin_client.get(EVENTS, {"q": "g-ops"})) == [e.pk for e in dismissal_twice]
    by_owner = listed(admin_client.get(EVENTS, {"q": "own"}))
    assert by_owner == [e.pk for e in dismissal_twice[:2]]


def test_a_dismissal_and_its_group_list_every_delivery_about_them(admin_client, dismissal_twice):
    dismissal = DismissedGroup.objects.get(group_id="g-ops")
    page = admin_client.get(
        reverse("admin:django_imcallback_dismissedgroup_change", args=[dismissal.pk])
    ).content.decode()

    for event in dismissal_twice:
        assert event_page(event) in page
    assert "duplicate" in page
    assert "invalid" in page
    other = CallbackEvent.objects.get(group_id="g-other")
    assert event_page(other) not in page


def test_a_groups_page_lists_its_deliveries(admin_client, post):
    create, quit = "callbackAfterCreateGroupCommand", "callbackAfterQuitGroupCommand"
    post(body(create, group_id="g-m", user_ids=["ann"]), command=create)
    post(body(quit, group_id="g-m", user_ids=["ann"]), command=quit, operation_id="2")
    group = IMGroup.objects.get(group_id="g-m")

    page = admin_client.get(
        reverse("admin:django_imcallback_imgroup_change", args=[group.pk])
    ).content.decode()

    for event in CallbackEvent.objects.all():
        assert event_page(event) in page


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


def test_the_command_filter_lists_unhandled_commands_seen(admin_client, post):
    post({"userID": "u1", "platformID": 1}, command="callbackAfterUserOnlineCommand")

    response = admin_client.get(EVENTS)
    [command_filter] = [f for f in response.context["cl"].filter_specs if f.title == "command"]
    commands = [value for value, _ in command_filter.lookup_choices]
    assert "callbackAfterUserOnlineCommand" in commands
    assert DISMISS in commands


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


def test_dismissals_show_how_their_delivery_ended_and_filter_by_it(
    admin_client, post, failing_receiver
):
    post(body(DISMISS, group_id="g-bad", user_ids=["u"]))
    failing_receiver.fixed = True
    post(body(DISMISS, group_id="g-good", user_ids=["u"]), operation_id="2")

    failed = admin_client.get(DISMISSALS, {"event__status": "failed"})
    assert [d.group_id for d in failed.context["cl"].result_list] == ["g-bad"]
    response = admin_client.get(DISMISSALS)
    assert response.context["cl"].date_hierarchy == "received_at"
    rows = re.findall(r"<tr>.*?</tr>", response.content.decode(), re.S)
    [bad] = [row for row in rows if "g-bad" in row]
    [good] = [row for row in rows if "g-good" in row]
    assert ">failed</span>" in bad
    assert ">processed</span>" in good


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
