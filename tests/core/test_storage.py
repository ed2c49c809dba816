"""Storing a delivery: its routes, transactions, and what a failing database leaves."""

import json
import logging
import traceback

import pytest
from django.db import connection
from django.db.backends.utils import CursorWrapper
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_imcallback import announcing, pipeline
from django_imcallback.handlers import DismissGroupHandler
from django_imcallback.logs import LOST_DELIVERY
from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember

from ..conftest import (
    SUCCESS,
    database_down,
    go_json,
    requires_postgres,
    run_concurrently,
    updates_fail,
)
from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status


Dispatch = CallbackEvent.Dispatch


def lost_delivery(record):
    """The delivery a "NOT stored" line holds, parsed back."""
    message = record.getMessage()
    assert message.startswith(LOST_DELIVERY)
    return json.loads(message.removeprefix(LOST_DELIVERY))


@pytest.fixture
def database_gone(monkeypatch):
    """Every statement fails as it does when PostgreSQL has gone away."""
    monkeypatch.setattr(CursorWrapper, "execute", database_down)
    monkeypatch.setattr(CursorWrapper, "executemany", database_down)


@pytest.fixture
def atomic_requests(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)


@pytest.fixture
def member_table_refusing_boom():
    """A constraint that makes the statement fail at its last part, the members."""
    table = DismissedGroupMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT test_no_boom CHECK (user_id <> 'boom')")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT test_no_boom")


@pytest.mark.usefixtures("dismissed_signals")
def test_a_send_raising_after_commit_on_a_dropped_connection_leaves_the_event_owed(
    post, monkeypatch
):
    """A handler whose send raises after the commit, on a connection that has dropped: the
    failure cannot be written, and the stored event is neither inserted again nor lost."""
    sent = []

    def send(self, event, outcome, only=None):
        sent.append(event.pk)
        monkeypatch.setattr(CallbackEvent, "save", updates_fail(CallbackEvent.save))
        raise RuntimeError("send, not send_robust")

    monkeypatch.setattr(DismissGroupHandler, "send", send)

    response = post(DismissPayloadFactory())
    monkeypatch.undo()

    assert response.json() == SUCCESS
    event = CallbackEvent.objects.get()  # one row: not inserted a second time as failed
    assert sent == [event.pk]  # the send ran, and raised
    assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.PENDING)
    assert DismissedGroup.objects.get().event_id == event.pk


def test_a_database_error_after_recording_first_does_not_say_not_stored(
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
def test_a_failing_storing_step_gets_one_answer_with_or_without_a_handler(
    post, monkeypatch, command
):
    def broken(*args, **kwargs):
        raise RuntimeError("storing failed")

    monkeypatch.setattr(announcing, "owed", broken)  # a step of storing

    response = post(DismissPayloadFactory(), command)

    assert response.status_code == 500
    assert CallbackEvent.objects.get().status == Status.FAILED


@requires_postgres
def test_recording_first_waits_for_the_disk(post, settings):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 0}

    with CaptureQueriesContext(connection) as queries:
        assert post(DismissPayloadFactory()).json() == SUCCESS

    inserts = [q["sql"] for q in queries if q["sql"].startswith("INSERT INTO")]
    assert inserts
    assert not any("synchronous_commit" in statement for statement in inserts)


def test_a_storing_failure_is_not_answered_as_stored(post, monkeypatch):
    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", database_down)
    monkeypatch.setattr(DismissGroupHandler, "apply", database_down)

    response = post(DismissPayloadFactory())

    assert response.status_code == 500
    assert CallbackEvent.objects.get().status == Status.FAILED
    assert not DismissedGroup.objects.exists()


@pytest.mark.usefixtures("database_gone")
def test_database_down_answers_503_and_logs_the_whole_delivery(post, caplog):
    payload = DismissPayloadFactory(groupID="g-lost", membersID=["u-1"])

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        response = post(payload, operation_id="op-lost")

    assert response.status_code == 503
    assert response.json()["errCode"] == 503
    [record] = [r for r in caplog.records if "NOT stored" in r.getMessage()]
    lost = lost_delivery(record)
    assert lost["body"] == go_json(payload).decode()
    assert (lost["body_encoding"], lost["operation_id"]) == ("utf-8", "op-lost")
    assert lost["command"] == "callbackAfterDisMissGroupCommand"


@pytest.mark.usefixtures("database_gone")
def test_database_down_with_a_binary_body_logs_it_as_base64(post, caplog):

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        post(b"\xff\x00\x01")

    [record] = [r for r in caplog.records if "NOT stored" in r.getMessage()]
    lost = lost_delivery(record)
    assert (lost["body_encoding"], lost["body"]) == ("base64", "/wAB")


def test_database_failing_after_the_event_is_recorded_first_is_a_503(post, monkeypatch, settings):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 0}
    monkeypatch.setattr(DismissGroupHandler, "apply", database_down)
    monkeypatch.setattr(CallbackEvent, "save", updates_fail(CallbackEvent.save))

    response = post(DismissPayloadFactory())

    assert response.status_code == 503
    assert "was recorded" in response.json()["errMsg"]  # not "could not be stored"
    assert CallbackEvent.objects.get().status == Status.RECEIVED  # replayable once stuck


@pytest.mark.parametrize("record_first_bytes", [0, 10_000_000])
def test_a_failing_apply_is_recorded_with_its_traceback(
    post, monkeypatch, settings, record_first_bytes
):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": record_first_bytes}

    def broken(*args, **kwargs):
        raise RuntimeError("disk full of bugs")

    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", broken)  # route 1
    monkeypatch.setattr(DismissGroupHandler, "apply", broken)  # route 2

    response = post(DismissPayloadFactory())

    assert response.status_code == 500  # recorded, replayable, and visibly failed
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "RuntimeError: disk full of bugs" in event.error
    assert event.attempts == 1
    assert not DismissedGroup.objects.exists()


def test_a_crash_outside_the_pipeline_still_records_the_delivery(post, monkeypatch):
    def crash(payload):
        raise RuntimeError("bug in a serializer")

    monkeypatch.setattr(DismissGroupHandler, "validate", lambda self, payload: crash(payload))

    response = post(DismissPayloadFactory())

    assert response.status_code == 500
    assert response.json()["errCode"] == 500
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "bug in a serializer" in event.error


def test_a_crash_and_then_a_database_outage_answers_503_and_logs_the_delivery(
    post, monkeypatch, caplog
):
    """The failure cannot be recorded either: the delivery is in the log, and nowhere else."""

    def crash(payload):
        raise RuntimeError("bug in a serializer")

    monkeypatch.setattr(DismissGroupHandler, "validate", lambda self, payload: crash(payload))
    monkeypatch.setattr(CursorWrapper, "execute", database_down)
    payload = DismissPayloadFactory(groupID="g-double-fault")

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        response = post(payload)

    assert response.status_code == 503
    [record] = [r for r in caplog.records if "NOT stored" in r.getMessage()]
    assert lost_delivery(record)["body"] == go_json(payload).decode()


@pytest.mark.usefixtures("received_signals")
def test_a_failing_storing_transaction_still_leaves_the_delivery_recorded(post, monkeypatch):
    """A command without a handler fails as a handled one does: recorded, answered 500."""

    def broken(*args, **kwargs):
        raise RuntimeError("scheduling failed")

    monkeypatch.setattr(pipeline.announcing, "owed", broken)

    response = post({"userID": "u"}, command="callbackAfterUserOnlineCommand")

    assert response.status_code == 500
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "scheduling failed" in event.error


@requires_postgres
@pytest.mark.usefixtures("atomic_requests")
def test_large_event_is_committed_before_processing_under_atomic_requests(monkeypatch, settings):
    """A worker killed mid-way (e.g. a timeout on a huge group) leaves the record behind."""
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 100}
    seen_from_elsewhere = []
    original_apply = DismissGroupHandler.apply

    def apply(self, event, data):
        def look():
            seen_from_elsewhere.append(CallbackEvent.objects.filter(pk=event.pk).exists())

        run_concurrently([look])
        return original_apply(self, event, data)

    monkeypatch.setattr(DismissGroupHandler, "apply", apply)

    assert (
        Client()
        .post(f"/imcallback/{DISMISS}", DismissPayloadFactory(), content_type="application/json")
        .status_code
        == 200
    )
    assert seen_from_elsewhere == [True]


@requires_postgres
@pytest.mark.usefixtures("atomic_requests")
def test_failure_note_survives_atomic_requests(failing_receiver):
    response = Client().post(
        f"/imcallback/{DISMISS}", DismissPayloadFactory(), content_type="application/json"
    )

    assert response.status_code == 200
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "receiver exploded" in event.error
    assert DismissedGroup.objects.count() == 1


@requires_postgres
@pytest.mark.usefixtures("atomic_requests")
def test_crash_in_processing_keeps_the_event_under_atomic_requests(monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", crash)  # route 1
    monkeypatch.setattr(DismissGroupHandler, "apply", crash)  # route 2

    response = Client().post(
        f"/imcallback/{DISMISS}", DismissPayloadFactory(), content_type="application/json"
    )

    assert response.status_code == 500
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "RuntimeError: bug" in event.error


@requires_postgres
def test_an_ordinary_dismissal_is_stored_by_one_statement(post, dismissed_signals):
    payload = DismissPayloadFactory(membersID=["u-1", "u-2", "u-3"])

    with CaptureQueriesContext(connection) as queries:
        response = post(payload)

    assert response.status_code == 200
    # The statement that stores everything, and the one that clears the announcement marker.
    stores, clears = [q["sql"] for q in queries]
    assert stores.startswith("WITH new_row")
    assert clears.startswith("UPDATE")
    event = CallbackEvent.objects.get()
    assert (event.status, event.attempts, event.body) == (Status.PROCESSED, 1, go_json(payload))
    assert event.dispatch_state == CallbackEvent.Dispatch.SENT
    dismissal = DismissedGroup.objects.get()
    assert (dismissal.group_id, dismissal.event_id, dismissal.member_count) == (
        payload["groupID"],
        event.pk,
        3,
    )
    assert sorted(dismissal.members.values_list("user_id", flat=True)) == ["u-1", "u-2", "u-3"]
    [call] = dismissed_signals
    assert (call["dismissal"].pk, call["event"].pk) == (dismissal.pk, event.pk)


@requires_postgres
@pytest.mark.usefixtures("member_table_refusing_boom")
def test_a_statement_failing_at_its_members_stores_only_the_failed_delivery(
    post, dismissed_signals
):
    payload = DismissPayloadFactory(membersID=["u-1", "boom"])

    response = post(payload)

    assert response.status_code == 500  # recorded for replay, and visibly failed
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "test_no_boom" in event.error
    assert not DismissedGroup.objects.exists()
    assert not DismissedGroupMember.objects.exists()
    assert dismissed_signals == []


def test_a_storing_failure_keeps_the_whole_traceback_and_its_attempt(post, monkeypatch):
    raised = []

    def broken(*args, **kwargs):
        error = RuntimeError("disk full of bugs")
        raised.append(error)
        raise error

    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", broken)
    monkeypatch.setattr(DismissGroupHandler, "apply", broken)

    post(DismissPayloadFactory())

    event = CallbackEvent.objects.get()
    [error] = raised
    assert event.error == "".join(traceback.format_exception(error))
    [attempt] = event.attempt_log.all()
    assert (attempt.number, attempt.status, attempt.error) == (1, Status.FAILED, event.error)


def test_a_storing_failure_is_answered_and_logged_as_such(post, monkeypatch, settings, caplog):
    settings.IMCALLBACK = {"RECORD_FIRST_BYTES": 0}  # recorded first: the line names it

    def broken(*args, **kwargs):
        raise RuntimeError("disk full of bugs")

    monkeypatch.setattr(DismissGroupHandler, "store_in_one_statement", broken)
    monkeypatch.setattr(DismissGroupHandler, "apply", broken)

    with caplog.at_level(logging.ERROR, logger="django_imcallback"):
        response = post(DismissPayloadFactory())

    event = CallbackEvent.objects.get()
    assert (response.status_code, response.json()["errMsg"]) == (
        500,
        "Storing the callback failed.",
    )
    [record] = [r for r in caplog.records if r.getMessage().startswith("Processing event")]
    assert record.getMessage() == f"Processing event {event.pk} ({DISMISS}) failed."
    assert record.exc_info[0] is RuntimeError
