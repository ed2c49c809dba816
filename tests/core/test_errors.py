"""Bad input: a clear error in OpenIM's JSON, and the delivery recorded."""

import io
import json

import pytest
from django.core.handlers.wsgi import WSGIRequest

from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.views import BodyTooLarge, CallbackView, read_body

from ..conftest import go_json
from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


def assert_openim_error(response, status):
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"actionCode", "errCode", "errMsg", "errDlt", "nextCode"}
    assert body["errCode"] == status
    assert body["actionCode"] != 0
    assert body["nextCode"] == 0
    assert body["errMsg"]
    assert isinstance(body["errDlt"], str)
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty"),
        (b"   \n", "empty"),
        (b"{not json", "not valid JSON"),
        (b'{"groupID": "\xff\xfe"}', "not valid UTF-8"),
        (b"[1, 2]", "not an array"),
        (b'"text"', "not a string"),
        (b"null", "not null"),
        (b"42", "not a number"),
        (b'{"groupID": NaN}', "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"groupID": ' + b"9" * 5000 + b"}", "not valid JSON"),
    ],
)
def test_garbage_is_a_400_with_a_clear_message_and_is_recorded(post, body, message):
    response = post(body)

    error = assert_openim_error(response, 400)
    assert message in error["errMsg"].replace("must be a JSON object, ", "")
    event = CallbackEvent.objects.get()
    assert event.status == Status.INVALID
    assert bytes(event.body) == body
    assert event.error


@pytest.mark.parametrize(
    ("change", "offending"),
    [
        ({"groupID": None}, "groupID"),
        ({"groupID": ""}, "groupID"),
        ({"groupID": ["g"]}, "groupID"),
        ({"groupID": 42}, "groupID"),  # Go sends strings; a number is a broken sender
        ({"callbackCommand": 7}, "callbackCommand"),
        ({"groupID": "g" * 300}, "groupID"),
        ({"membersID": "u1,u2"}, "membersID"),
        ({"membersID": ["u1", 2]}, "membersID"),
        ({"membersID": ["u1", ""]}, "membersID"),
        ({"membersID": ["u1", "x" * 300]}, "membersID"),
        ({"membersID": ["u\x00"]}, "membersID"),
        ({"groupType": "two"}, "groupType"),
        ({"groupType": True}, "groupType"),
        ({"groupType": 2**40}, "groupType"),
        ({"groupType": 2.5}, "groupType"),
        ({"groupType": "0\x1f"}, "groupType"),  # int() refuses \x1c-\x1f, which \s matches
        ({"eventTime": "5\x1c"}, "eventTime"),
        ({"eventTime": "yesterday"}, "eventTime"),
        ({"eventTime": 10**30}, "eventTime"),
        ({"eventTime": -5}, "eventTime"),
        ({"ownerID": {"id": 1}}, "ownerID"),
    ],
)
def test_invalid_payload_names_the_offending_key(post, change, offending):
    response = post(DismissPayloadFactory(**change))

    error = assert_openim_error(response, 400)
    assert offending in error["errMsg"]
    assert offending in json.loads(error["errDlt"])
    event = CallbackEvent.objects.get()
    assert event.status == Status.INVALID
    assert offending in event.error
    assert not DismissedGroup.objects.exists()


def test_missing_group_id_is_required(post):
    payload = DismissPayloadFactory()
    del payload["groupID"]

    error = assert_openim_error(post(payload), 400)

    assert json.loads(error["errDlt"]) == {"groupID": ["This field is required."]}


def test_member_error_points_at_the_item(post):
    error = assert_openim_error(post(DismissPayloadFactory(membersID=["a", "b", 7])), 400)

    assert json.loads(error["errDlt"]) == {"membersID": ["Item 2 is not a string: 7."]}


def test_wrong_content_type_is_refused_and_recorded(post):
    response = post(DismissPayloadFactory(), content_type="application/x-www-form-urlencoded")

    error = assert_openim_error(response, 400)
    assert "Content-Type" in error["errMsg"]
    event = CallbackEvent.objects.get()
    assert event.status == Status.INVALID
    assert b"groupID" in bytes(event.body)
    assert not DismissedGroup.objects.exists()


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/json", "", "application/x+json"]
)
def test_json_content_types_and_none_are_accepted(post, content_type):
    assert post(DismissPayloadFactory(), content_type=content_type).status_code == 200


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete", "head"])
def test_wrong_method_is_a_json_405(client, method):
    response = getattr(client, method)(f"/imcallback/{DISMISS}")

    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"
    if method != "head":
        assert_openim_error(response, 405)
    assert not CallbackEvent.objects.exists()


def test_unknown_path_under_the_prefix_is_a_json_404(post):
    response = post(DismissPayloadFactory(), path="/imcallback/a/b/c")

    assert_openim_error(response, 404)


def test_too_large_body_is_a_413_and_is_recorded_without_buffering(post, settings):
    settings.IMCALLBACK = {"MAX_BODY_BYTES": 100}

    response = post(DismissPayloadFactory(membersID=[f"user{i}" for i in range(100)]))

    error = assert_openim_error(response, 413)
    assert "MAX_BODY_BYTES" in error["errDlt"]
    event = CallbackEvent.objects.get()
    assert event.status == Status.INVALID
    assert event.body_size > 100
    assert bytes(event.body) == b""


def test_too_large_declared_body_is_refused_before_reading_it(rf):
    stream = io.BytesIO(b"x" * 50_000)
    environ = dict(rf.post("/imcallback/x").environ, CONTENT_LENGTH="50000")
    environ["wsgi.input"] = stream

    with pytest.raises(BodyTooLarge) as raised:
        read_body(WSGIRequest(environ), 1000)

    assert raised.value.size == 50_000
    assert stream.tell() == 0


def test_body_exactly_at_the_limit_is_read(rf):
    request = rf.post("/imcallback/x", data=b"x" * 1000, content_type="application/json")

    assert read_body(request, 1000) == b"x" * 1000


def test_nul_characters_in_the_url_and_headers_are_stored_safely(post):
    """PostgreSQL refuses NUL in text columns; a hostile path must not turn into a 5xx."""
    response = post({"a": 1}, path="/imcallback/cmd%00x", operation_id="op\x00id")

    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert (event.command, event.operation_id) == ("cmd\ufffdx", "op\ufffdid")
    assert event.status == Status.UNHANDLED


def test_lone_surrogates_are_recorded_or_refused_in_json(post):
    response = post(b'{"callbackCommand":"cb\\ud800"}', command=None, path="/imcallback/")

    assert response["Content-Type"] == "application/json"
    event = CallbackEvent.objects.get()
    assert event.command == "cb\ufffd"

    body = go_json({**DismissPayloadFactory(), "membersID": ["ok"]}).replace(b"ok", b"\\udc80")
    refused = post(body)

    assert refused.status_code == 400
    assert "membersID" in refused.json()["errDlt"]
    assert CallbackEvent.objects.latest("pk").status == Status.INVALID


def test_a_body_without_content_length_is_refused_past_the_limit(settings):
    settings.IMCALLBACK = {"MAX_BODY_BYTES": 100}
    request = WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": f"/imcallback/{DISMISS}",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "REMOTE_ADDR": "127.0.0.1",
            "CONTENT_TYPE": "application/json",
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(b"x" * 5000),
            "wsgi.url_scheme": "http",
        }
    )

    response = CallbackView.as_view()(request, command=DISMISS)

    assert response.status_code == 413
    event = CallbackEvent.objects.get()
    assert (event.status, event.body_size) == (Status.INVALID, 101)


def test_a_refused_delivery_is_one_attempt_with_the_reason_as_its_error(post):
    response = post(DismissPayloadFactory(), content_type="text/plain")

    event = CallbackEvent.objects.get()
    answer = response.json()
    assert (response.status_code, event.status, event.attempts) == (400, "invalid", 1)
    assert event.error == f"{answer['errMsg']} ({answer['errDlt']})"


def test_an_invalid_body_names_each_bad_key_and_keeps_the_reasons(post):
    sent = {**DismissPayloadFactory(), "groupID": "", "membersID": "not a list"}

    response = post(sent)

    event = CallbackEvent.objects.get()
    assert response.json()["errMsg"] == (
        "The callbackAfterDisMissGroupCommand body is invalid: groupID, membersID."
    )
    detail = json.loads(event.error)
    assert set(detail) == {"groupID", "membersID"}
    assert event.error == json.dumps(detail, ensure_ascii=False)


@pytest.mark.parametrize(
    ("body", "message", "detail"),
    [
        (
            b"not json",
            "The request body is not valid JSON.",
            "Expecting value: line 1 column 1 (char 0)",
        ),
        (b"\xff", "The request body is not valid UTF-8.", "byte 0xff at position 0"),
        (b"[1, 2]", "The request body must be a JSON object, not an array.", ""),
    ],
)
def test_a_body_that_is_no_json_object_says_why_where(post, body, message, detail):
    response = post(body)

    answer = response.json()
    assert (response.status_code, answer["errMsg"]) == (400, message)
    assert answer["errDlt"] == detail
    assert CallbackEvent.objects.get().error == f"{message} {detail}".strip()


def test_a_body_naming_no_command_on_the_bare_url_says_so(post):
    response = post({"groupID": "g"}, command=None, path="/imcallback/")

    assert response.json()["errMsg"] == (
        "No callback command: neither the URL nor callbackCommand names one."
    )
