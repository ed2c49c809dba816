"""One test per defect found in the old storing core (issue "One way to store a callback").

Each failed on the code before the redesign; the number is the defect's in the issue.
"""

import ast
import io
import json
import logging
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from django_imcallback import announcing
from django_imcallback.handlers import DismissGroupHandler, Handler, Outcome, registry
from django_imcallback.logs import LOST_DELIVERY
from django_imcallback.models import CallbackEvent, DismissedGroup
from django_imcallback.serializers import IDField
from django_imcallback.views import CallbackView

from .conftest import SUCCESS, database_down, go_json, requires_postgres, updates_fail
from .factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch
PACKAGE = Path(__file__).resolve().parent.parent / "django_imcallback"


@pytest.mark.usefixtures("dismissed_signals")
def test_1_an_error_after_commit_is_not_taken_for_a_rollback(post, monkeypatch):
    """A handler whose send raises, then a failure UPDATE on a dropped connection."""

    def send(self, event, outcome):
        raise RuntimeError("send, not send_robust")

    monkeypatch.setattr(DismissGroupHandler, "send", send)

    response = post(DismissPayloadFactory())

    assert response.json() == SUCCESS
    event = CallbackEvent.objects.get()  # one row: not inserted a second time as failed
    assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.PENDING)
    assert DismissedGroup.objects.get().event_id == event.pk


def test_2_a_handler_written_as_documented_announces_in_task_mode(post, settings):
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


def test_3_a_database_error_after_recording_first_does_not_say_not_stored(
    post, monkeypatch, settings, caplog
):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 0}
    monkeypatch.setattr(DismissGroupHandler, "apply", database_down)
    monkeypatch.setattr(CallbackEvent, "save", updates_fail(CallbackEvent.save))

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        response = post(DismissPayloadFactory())

    assert response.status_code == 503
    assert "NOT stored" not in caplog.text
    assert "could not be stored" not in response.json()["errMsg"]
    assert CallbackEvent.objects.get().status == Status.RECEIVED


@pytest.mark.parametrize("command", [DISMISS, "callbackAfterSomethingUnknownCommand"])
@pytest.mark.usefixtures("received_signals")
def test_4_a_failing_storing_step_gets_one_answer_with_or_without_a_handler(
    post, monkeypatch, command
):
    def broken(*args, **kwargs):
        raise RuntimeError("storing failed")

    monkeypatch.setattr(announcing, "owed", broken)  # a step of storing

    response = post(DismissPayloadFactory(), command)

    assert response.status_code == 500
    assert CallbackEvent.objects.get().status == Status.FAILED


@requires_postgres
def test_5_a_repeat_with_members_fails_no_statement(post, failed_statements):
    payload = DismissPayloadFactory()
    for _ in range(3):
        assert post(payload).json() == SUCCESS

    assert failed_statements == []
    assert DismissedGroup.objects.get().member_count == 3


def _imports(path: Path) -> set[str]:
    """Package modules ``path`` imports, at module level or inside functions."""
    module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            name = f"{base}.{node.module}" if node.level and node.module else node.module or base
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name.removesuffix(".__init__") for name in found}


def test_6_the_package_has_no_import_cycle():
    modules = {
        ".".join(p.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"): p
        for p in PACKAGE.rglob("*.py")
        if "migrations" not in p.parts
    }
    graph = {name: _imports(path) & set(modules) - {name} for name, path in modules.items()}
    # A module imports its package's __init__ too.
    for name in graph:
        parent = name.rpartition(".")[0]
        if parent in modules and parent != "django_imcallback":
            graph[name].add(parent)

    def cycle_from(start, node, seen):
        for following in graph[node]:
            if following == start:
                return [*seen, following]
            if following not in seen:
                found = cycle_from(start, following, [*seen, following])
                if found:
                    return found
        return None

    cycles = [cycle for name in graph if (cycle := cycle_from(name, name, [name]))]
    assert cycles == []
    assert "django_imcallback.dispatch" not in modules  # the ambiguous name is gone


@requires_postgres
def test_7_recording_first_waits_for_the_disk(post, settings):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 0}

    with CaptureQueriesContext(connection) as queries:
        assert post(DismissPayloadFactory()).json() == SUCCESS

    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO")]
    assert inserts
    assert not any("synchronous_commit" in statement for statement in inserts)


def test_8_lone_surrogates_are_recorded_or_refused_in_json(post):
    response = post(b'{"callbackCommand":"cb\\ud800"}', command=None, path="/imcallback/")

    assert response["Content-Type"] == "application/json"
    event = CallbackEvent.objects.get()
    assert event.command == "cb\ufffd"

    body = go_json({**DismissPayloadFactory(), "membersID": ["ok"]}).replace(b"ok", b"\\udc80")
    refused = post(body)

    assert refused.status_code == 400
    assert "membersID" in refused.json()["errDlt"]
    assert CallbackEvent.objects.latest("pk").status == Status.INVALID


def test_9_nothing_a_caller_sends_forges_a_log_line(post, settings, caplog):
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


def test_9_a_lost_delivery_is_one_line_that_parses_back_exactly(post, monkeypatch, caplog):
    from django.db.backends.utils import CursorWrapper

    body = go_json(DismissPayloadFactory(groupID="g\nsecond line\u2028"))  # ends with "\n"
    monkeypatch.setattr(CursorWrapper, "execute", database_down)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        assert post(body).status_code == 503

    [message] = [r.getMessage() for r in caplog.records if LOST_DELIVERY in r.getMessage()]
    assert "\n" not in message
    assert message.isascii()
    assert json.loads(message.removeprefix(LOST_DELIVERY))["body"].encode() == body


def test_10_a_receiver_whose_connection_dies_leaves_the_event_owed(post, monkeypatch):
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


def test_11_a_storing_failure_is_not_answered_as_stored(post, monkeypatch):
    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", database_down)
    monkeypatch.setattr(DismissGroupHandler, "apply", database_down)

    response = post(DismissPayloadFactory())

    assert response.status_code == 500
    assert CallbackEvent.objects.get().status == Status.FAILED
    assert not DismissedGroup.objects.exists()


def test_12_an_announcement_cut_off_in_inline_mode_is_marked_and_replayed(
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


@pytest.mark.usefixtures("received_signals")
def test_13_replay_without_ids_takes_stuck_received_queued_and_sending_events():
    from datetime import timedelta

    from django.utils import timezone

    from .factories import CallbackEventFactory

    old = timezone.now() - timedelta(hours=1)
    body = go_json(DismissPayloadFactory())
    stuck = [
        CallbackEventFactory(body=body, status=Status.RECEIVED),
        CallbackEventFactory(body=body, status=Status.PROCESSED, dispatch_state=Dispatch.QUEUED),
        CallbackEventFactory(body=body, status=Status.PROCESSED, dispatch_state=Dispatch.SENDING),
    ]
    CallbackEvent.objects.update(received_at=old, processed_at=old)

    call_command("imcallback_replay")

    assert set(CallbackEvent.objects.values_list("attempts", flat=True)) == {1}
    assert len(stuck) == CallbackEvent.objects.filter(dispatch_state=Dispatch.SENT).count()


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


def test_14_a_chunked_body_is_read_whole():
    payload = DismissPayloadFactory()

    response = CallbackView.as_view()(chunked_request(go_json(payload)), command=DISMISS)

    assert json.loads(response.content) == SUCCESS
    event = CallbackEvent.objects.get()
    assert (bytes(event.body), event.status) == (go_json(payload), Status.PROCESSED)


def test_9_a_replayed_command_from_the_body_is_escaped_in_the_log(post, caplog):
    body = go_json({**DismissPayloadFactory(), "callbackCommand": "cb\nINFO forged"})
    post(body, command=None, path="/imcallback/")
    CallbackEvent.objects.update(status=Status.FAILED)

    with caplog.at_level(logging.INFO, logger="django_imcallback"):
        call_command("imcallback_replay")

    [message] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Replayed")]
    assert "\n" not in message
    assert "cb\\x0aINFO forged" in message
