"""The log lines: one per delivery, nothing a caller sent forges one."""

import json
import logging
from datetime import datetime

import pytest
from django.db import OperationalError

from django_imcallback.logs import LOST_DELIVERY, logsafe
from django_imcallback.models import CallbackEvent
from django_imcallback.openim import body

from ..conftest import database_down, go_json
from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)


def delivery_records(caplog):
    return [r for r in caplog.records if r.name == "django_imcallback" and hasattr(r, "imcallback")]


def test_a_stored_delivery_is_logged_at_info_with_its_fields(post, caplog):
    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        post(DismissPayloadFactory(groupID="g-log"), operation_id="op-log")

    [record] = delivery_records(caplog)
    assert record.levelno == logging.INFO
    fields = record.imcallback
    assert {k: fields[k] for k in ("command", "operation_id", "group_id", "status")} == {
        "command": DISMISS,
        "operation_id": "op-log",
        "group_id": "g-log",
        "status": "processed",
    }
    assert fields["http_status"] == 200
    assert fields["duration_ms"] >= 0
    assert "group_id=g-log" in record.getMessage()


def test_an_invalid_delivery_is_logged_at_warning(post, caplog):
    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        post(DismissPayloadFactory(groupID=""))

    [record] = delivery_records(caplog)
    assert record.levelno == logging.WARNING
    assert record.imcallback["status"] == "invalid"
    assert record.imcallback["http_status"] == 400


def test_refused_callers_are_not_delivery_lines(post, settings, caplog):
    settings.IMCALLBACK = {"ALLOWED_IPS": ["10.0.0.1"]}

    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        post(DismissPayloadFactory())

    assert delivery_records(caplog) == []
    assert "Refused callback" in caplog.text


def test_a_failing_receiver_is_logged_once_naming_it_and_the_event(post, failing_receiver, caplog):
    """django.dispatch would log the failure too: error trackers would open two issues."""
    with caplog.at_level(logging.DEBUG):
        post(DismissPayloadFactory(groupID="g-receiver"))

    [record] = [r for r in caplog.records if r.exc_info]
    assert record.name == "django_imcallback"
    assert record.levelno == logging.ERROR
    assert isinstance(record.exc_info[1], RuntimeError)

    event = CallbackEvent.objects.get()
    name = f"{failing_receiver.__module__}.{failing_receiver.__qualname__}"
    assert record.getMessage() == f"Receiver {name} of event {event.pk} ({DISMISS}) raised."


def test_nothing_a_caller_sends_forges_a_log_line(post, settings, caplog):
    forged = "\nERROR Database unavailable; callback NOT stored"
    settings.IMCALLBACK = {"BASIC_AUTH": ["openim:secret"]}
    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        post(DismissPayloadFactory(), path="/imcallback/x%0AERROR%20forged")  # refused
        settings.IMCALLBACK = {}
        post(DismissPayloadFactory(groupID="g" + forged), operation_id="op\r\nforged")

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) >= 2
    assert not any("\n" in message or "\r" in message for message in messages)
    assert any("\\x0aERROR forged" in message for message in messages)


def test_a_lost_delivery_is_one_line_that_parses_back_exactly(post, monkeypatch, caplog):
    from django.db.backends.utils import CursorWrapper

    body = go_json(DismissPayloadFactory(groupID="g\nsecond line\u2028"))  # ends with "\n"
    monkeypatch.setattr(CursorWrapper, "execute", database_down)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        assert post(body).status_code == 503

    [message] = [r.getMessage() for r in caplog.records if LOST_DELIVERY in r.getMessage()]
    assert "\n" not in message
    assert message.isascii()
    assert json.loads(message.removeprefix(LOST_DELIVERY))["body"].encode() == body


def test_a_backslash_is_escaped_so_that_no_escape_can_be_forged():
    sent = "op\\x0aERROR forged"  # the characters of an escape, not a line break

    assert logsafe(sent) == "op\\\\x0aERROR forged"
    assert logsafe(sent) != logsafe("op\nERROR forged")


def test_a_lost_delivery_holds_every_field_of_the_delivery_and_the_traceback(
    post, monkeypatch, caplog
):
    from django.db.backends.utils import CursorWrapper

    payload = DismissPayloadFactory(groupID="g-lost")
    monkeypatch.setattr(CursorWrapper, "execute", database_down)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        post(payload, operation_id="op-lost", REMOTE_ADDR="10.1.2.3")

    [record] = [r for r in caplog.records if LOST_DELIVERY in r.getMessage()]
    lost = json.loads(record.getMessage().removeprefix(LOST_DELIVERY))
    assert set(lost) == {
        "command",
        "operation_id",
        "remote_addr",
        "received_at",
        "headers",
        "body_encoding",
        "body",
    }
    assert (lost["command"], lost["operation_id"], lost["remote_addr"]) == (
        DISMISS,
        "op-lost",
        "10.1.2.3",
    )
    assert lost["headers"]["Operationid"] == "op-lost"
    assert datetime.fromisoformat(lost["received_at"]).tzinfo is not None
    assert (lost["body_encoding"], lost["body"]) == ("utf-8", go_json(payload).decode())
    assert record.exc_info[0] is OperationalError  # the database's error, with its traceback


def test_a_lost_delivery_with_non_ascii_text_is_still_one_ascii_line(post, monkeypatch, caplog):
    from django.db.backends.utils import CursorWrapper

    payload = DismissPayloadFactory(groupID="群-lost")
    monkeypatch.setattr(CursorWrapper, "execute", database_down)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        post(payload)

    [message] = [r.getMessage() for r in caplog.records if LOST_DELIVERY in r.getMessage()]
    assert message.isascii()
    assert json.loads(message.removeprefix(LOST_DELIVERY))["body"] == go_json(payload).decode()


@pytest.mark.parametrize(
    ("sent", "logged"),
    [
        ("a\ud800b", "a\\ud800b"),  # a lone surrogate: escaped
        ("\udfff", "\\udfff"),
        ("\ud7ff群\ue000", "\ud7ff群\ue000"),  # around the surrogates, and CJK: kept
    ],
)
def test_lone_surrogates_are_escaped_and_other_text_kept(sent, logged):
    assert logsafe(sent) == logged


def test_a_delivery_line_names_its_event_and_how_long_it_took(post, caplog, monkeypatch):
    from django_imcallback import views

    clock = iter([100.0, 100.2504])
    monkeypatch.setattr(views.time, "perf_counter", lambda: next(clock))

    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        post(DismissPayloadFactory(groupID="g-log"))

    [record] = delivery_records(caplog)
    event = CallbackEvent.objects.get()
    assert (record.imcallback["event_id"], record.imcallback["duration_ms"]) == (event.pk, 250.4)
    message = record.getMessage()
    assert message.startswith("callback command=")
    assert {f"event_id={event.pk}", "duration_ms=250.4", "group_id=g-log"} <= set(message.split())


def test_a_command_without_a_handler_is_logged_as_acknowledged(post, caplog):
    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        post({"userID": "u"}, "callbackAfterSomethingNewCommand")
        post(body("callbackBeforeSendSingleMsgCommand"), "callbackBeforeSendSingleMsgCommand")

    acknowledged = [
        r.getMessage() for r in caplog.records if r.getMessage().startswith("No handler")
    ]
    assert acknowledged == ["No handler for callbackAfterSomethingNewCommand; acknowledged."]
