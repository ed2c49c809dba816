"""Receiving a dismissal exactly as a real OpenIM server sends it."""

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from django_imcallback.models import CallbackEvent, DismissedGroup

from .conftest import SUCCESS, go_json
from .factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_seed_example_is_stored_and_acknowledged(post):
    seed = {
        "callbackCommand": DISMISS,
        "groupID": "G001",
        "groupType": 2,
        "ownerID": "user123",
        "membersID": ["user456", "user789"],
    }

    response = post(seed, path=f"/imcallback/{DISMISS}?contenttype=json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == SUCCESS
    dismissal = DismissedGroup.objects.get()
    assert (dismissal.group_id, dismissal.owner_id) == ("G001", "user123")
    assert (dismissal.group_type_raw, dismissal.group_type) == (2, 2)
    assert dismissal.member_count == 2
    assert sorted(dismissal.members.values_list("user_id", flat=True)) == ["user456", "user789"]
    event = CallbackEvent.objects.get()
    assert event.status == CallbackEvent.Status.PROCESSED
    assert dismissal.event == event
    assert event.attempts == 1


def test_real_server_wire_body_is_recorded_verbatim(post):
    payload = DismissPayloadFactory(groupID="g<&>1", ownerID="o\u2028x", membersID=["ä", "b&c"])
    body = go_json(payload)
    assert b"\\u003c" in body
    assert body.endswith(b"\n")

    response = post(body, operation_id="1699999999999-abc")

    assert response.json() == SUCCESS
    event = CallbackEvent.objects.get()
    assert bytes(event.body) == body
    assert event.body_size == len(body)
    assert event.operation_id == "1699999999999-abc"
    assert event.headers["User-Agent"] == "Go-http-client/1.1"
    assert event.remote_addr == "127.0.0.1"
    dismissal = DismissedGroup.objects.get()
    assert (dismissal.group_id, dismissal.owner_id) == ("g<&>1", "o\u2028x")
    assert set(dismissal.members.values_list("user_id", flat=True)) == {"ä", "b&c"}


def test_authorization_and_cookies_are_never_stored(post):
    post(DismissPayloadFactory(), headers={"Authorization": "Basic eDp5", "Cookie": "a=b"})

    headers = {name.lower() for name in CallbackEvent.objects.get().headers}
    assert "authorization" not in headers
    assert "cookie" not in headers
    assert "operationid" in headers


@pytest.mark.parametrize(
    "path",
    [
        f"/imcallback/{DISMISS}",
        f"/imcallback/{DISMISS}?contenttype=json",
        f"/imcallback//{DISMISS}",  # webhooks.yml url with a trailing slash
        f"/imcallback//{DISMISS}?contenttype=json",
        f"/imcallback/{DISMISS}/",
        "/imcallback/",  # old servers: command only in the body
    ],
)
def test_every_url_form_the_server_produces_is_accepted(post, path):
    response = post(DismissPayloadFactory(), path=path)

    assert response.status_code == 200, response.content
    assert CallbackEvent.objects.get().command == DISMISS
    assert DismissedGroup.objects.count() == 1


def test_url_is_reversible():
    assert reverse("django_imcallback:callback", kwargs={"command": DISMISS}) == (
        f"/imcallback/{DISMISS}"
    )


def test_command_lookup_ignores_case_of_forks(post):
    response = post(DismissPayloadFactory(), command="callbackAfterDismissGroupCommand")

    assert response.status_code == 200
    assert DismissedGroup.objects.count() == 1


@pytest.mark.parametrize(
    ("group_type", "as_int"),
    [(2, 2), ("2", 2), ("\u0002", 2), (" 2 ", 2), (None, None), ("A", 65)],
)
def test_group_type_in_every_form_real_servers_send(post, group_type, as_int):
    response = post(DismissPayloadFactory(groupType=group_type))

    assert response.status_code == 200, response.content
    dismissal = DismissedGroup.objects.get()
    assert dismissal.group_type_raw == group_type
    assert dismissal.group_type == as_int


def test_group_type_may_be_absent(post):
    payload = DismissPayloadFactory()
    del payload["groupType"]

    assert post(payload).status_code == 200
    assert DismissedGroup.objects.get().group_type is None


@pytest.mark.parametrize("members", [None, []])
def test_null_or_empty_members_store_an_empty_snapshot(post, members):
    response = post(DismissPayloadFactory(membersID=members))

    assert response.status_code == 200
    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 0
    assert not dismissal.members.exists()


def test_duplicate_member_ids_in_one_payload_are_stored_once(post):
    post(DismissPayloadFactory(membersID=["a", "b", "a", "c", "b"]))

    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 3
    assert sorted(dismissal.members.values_list("user_id", flat=True)) == ["a", "b", "c"]


def test_event_time_is_stored_when_sent(post):
    post(DismissPayloadFactory(eventTime=1_700_000_000_123))

    expected = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert DismissedGroup.objects.get().event_time == expected


@pytest.mark.parametrize("event_time", [0, None])
def test_unset_event_time_is_null(post, event_time):
    post(DismissPayloadFactory(eventTime=event_time))

    assert DismissedGroup.objects.get().event_time is None


def test_unknown_keys_are_kept_in_the_raw_body(post):
    post(DismissPayloadFactory(newField={"x": 1}))

    assert json.loads(bytes(CallbackEvent.objects.get().body))["newField"] == {"x": 1}
    assert DismissedGroup.objects.count() == 1


def test_ids_are_kept_exactly_without_trimming(post):
    post(DismissPayloadFactory(groupID=" g1 ", membersID=[" u1", "u1"]))

    dismissal = DismissedGroup.objects.get()
    assert dismissal.group_id == " g1 "
    assert sorted(dismissal.members.values_list("user_id", flat=True)) == [" u1", "u1"]


def test_large_group_is_stored_completely_and_verbatim(post):
    members = [f"user-{i:07d}" for i in range(20_000)]
    body = go_json(DismissPayloadFactory(membersID=members[::-1]))  # not in sorted order

    response = post(body)

    assert response.status_code == 200
    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 20_000
    assert set(dismissal.members.values_list("user_id", flat=True)) == set(members)
    event = CallbackEvent.objects.get()
    assert bytes(event.body) == body  # large bodies take another path to the database
    assert event.status == CallbackEvent.Status.PROCESSED


def test_body_larger_than_djangos_upload_limit_is_accepted(post, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    members = [f"user-{i:05d}" for i in range(500)]

    response = post(DismissPayloadFactory(membersID=members))

    assert response.status_code == 200
    assert DismissedGroup.objects.get().member_count == 500


def test_other_command_is_recorded_as_unhandled_acknowledged_and_announced(post, received_signals):
    payload = {"callbackCommand": "callbackAfterUserOnlineCommand", "userID": "u", "platformID": 1}

    response = post(payload, command="callbackAfterUserOnlineCommand")

    assert response.json() == SUCCESS
    event = CallbackEvent.objects.get()
    assert event.status == CallbackEvent.Status.UNHANDLED
    assert [call["command"] for call in received_signals] == ["callbackAfterUserOnlineCommand"]
    assert received_signals[0]["payload"] == payload
    assert not DismissedGroup.objects.exists()


def test_a_body_on_the_bare_url_that_names_no_command_is_invalid(post):
    response = post({"groupID": "g1"}, command=None, path="/imcallback/")

    assert response.status_code == 400
    body = response.json()
    assert "No callback command" in body["errMsg"]
    assert json.loads(body["errDlt"]) == {"callbackCommand": ["This field is required."]}
    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == ("", CallbackEvent.Status.INVALID)
    assert "No callback command" in event.error


@pytest.mark.parametrize("path", ["/imcallback", "/imcallback/"])
def test_an_old_server_posting_to_the_bare_url_is_not_redirected(post, path, settings):
    """With APPEND_SLASH, Django would answer /imcallback with a redirect; Go's client
    follows it with a GET without the body, and the dismissal would be lost."""
    settings.DEBUG = False
    response = post(DismissPayloadFactory(groupID="g-bare"), command=None, path=path)

    assert response.status_code == 200
    assert response.json() == SUCCESS
    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == (DISMISS, CallbackEvent.Status.PROCESSED)
    assert DismissedGroup.objects.get().group_id == "g-bare"


@pytest.mark.parametrize(
    ("command", "params", "about"),
    [
        (DISMISS, {"group_id": "g-1", "user_id": "own"}, ("g-1", "own")),
        (
            "callbackAfterJoinGroupCommand",
            {"group_id": "g-2", "user_ids": ["joiner"]},
            ("g-2", "joiner"),
        ),
        (
            "callbackAfterQuitGroupCommand",
            {"group_id": "g-3", "user_ids": ["quitter"]},
            ("g-3", "quitter"),
        ),
        ("callbackBeforeSendSingleMsgCommand", {"user_id": "sender"}, ("", "sender")),
        ("callbackAfterUserOnlineCommand", None, ("", "u-online")),  # no handler: still known
    ],
)
def test_every_event_knows_the_group_and_user_it_is_about(post, command, params, about):
    from django_imcallback.openim import body

    payload = body(command, **params) if params else {"userID": "u-online", "platformID": 1}
    post(payload, command=command)

    event = CallbackEvent.objects.get()
    assert (event.group_id, event.user_id) == about


def test_an_invalid_delivery_still_names_its_group(post):
    post({"callbackCommand": DISMISS, "groupID": "g-bad", "membersID": "not a list"})

    event = CallbackEvent.objects.get()
    assert (event.status, event.group_id) == (CallbackEvent.Status.INVALID, "g-bad")
