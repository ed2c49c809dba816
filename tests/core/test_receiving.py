"""Receiving a delivery exactly as a real OpenIM server sends it: URLs, bodies, headers."""

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.urls import reverse

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.views import CallbackView

from ..conftest import SUCCESS, go_json
from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


def chunked_request(body: bytes, path: str = f"/imcallback/{DISMISS}") -> WSGIRequest:
    """A request as gunicorn hands over a chunked one: no Content-Length, decoded input."""
    return WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": path,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
        }
    )


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


def test_unknown_keys_are_kept_in_the_raw_body(post):
    post(DismissPayloadFactory(newField={"x": 1}))

    assert json.loads(bytes(CallbackEvent.objects.get().body))["newField"] == {"x": 1}
    assert DismissedGroup.objects.count() == 1


def test_ids_are_kept_exactly_without_trimming(post):
    post(DismissPayloadFactory(groupID=" g1 ", membersID=[" u1", "u1"]))

    dismissal = DismissedGroup.objects.get()
    assert dismissal.group_id == " g1 "
    assert sorted(dismissal.members.values_list("user_id", flat=True)) == [" u1", "u1"]


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


def test_proxy_authorization_is_never_stored(post):
    post(DismissPayloadFactory(), headers={"Proxy-Authorization": "Basic c2VjcmV0OnNlY3JldA=="})

    headers = {name.lower() for name in CallbackEvent.objects.get().headers}
    assert "proxy-authorization" not in headers
    assert "operationid" in headers  # the other headers are kept


def test_the_urls_command_wins_over_the_bodys(post, received_signals):
    body = {**DismissPayloadFactory(), "callbackCommand": "callbackAfterSomethingElseCommand"}

    assert post(body, DISMISS).json() == SUCCESS

    event = CallbackEvent.objects.get()
    assert (event.command, event.status) == (DISMISS, Status.PROCESSED)
    assert DismissedGroup.objects.count() == 1


def test_a_chunked_body_is_read_whole():
    payload = DismissPayloadFactory()

    response = CallbackView.as_view()(chunked_request(go_json(payload)), command=DISMISS)

    assert json.loads(response.content) == SUCCESS
    event = CallbackEvent.objects.get()
    assert (bytes(event.body), event.status) == (go_json(payload), Status.PROCESSED)
