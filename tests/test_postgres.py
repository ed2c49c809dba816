"""Concurrency and transaction guarantees. Meaningful only on PostgreSQL (DATABASE_URL)."""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from django_imcallback.handlers import DismissGroupHandler
from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember
from django_imcallback.replay import replay_events

from .conftest import go_json, requires_postgres
from .factories import DISMISS, CallbackEventFactory, DismissPayloadFactory

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]

Status = CallbackEvent.Status


def run_concurrently(functions):
    """Start every function at once in its own thread (own connection); re-raise errors."""
    barrier = threading.Barrier(len(functions))
    errors = []

    def run(function):
        try:
            barrier.wait()
            function()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def deliver(body):
    def post():
        response = Client().post(f"/imcallback/{DISMISS}", body, content_type="application/json")
        assert response.status_code == 200, response.content

    return post


def test_twenty_concurrent_copies_store_and_announce_once(dismissed_signals):
    members = [f"user-{i}" for i in range(500)]
    body = go_json(DismissPayloadFactory(groupID="g-race", membersID=members))

    run_concurrently([deliver(body) for _ in range(20)])

    assert DismissedGroup.objects.count() == 1
    assert set(DismissedGroupMember.objects.values_list("user_id", flat=True)) == set(members)
    assert DismissedGroup.objects.get().member_count == 500
    assert len(dismissed_signals) == 1
    statuses = sorted(CallbackEvent.objects.values_list("status", flat=True))
    assert statuses == [Status.DUPLICATE] * 19 + [Status.PROCESSED]


def test_racing_member_less_copies_never_lose_the_member_set(dismissed_signals):
    members = [f"user-{i}" for i in range(200)]
    full = go_json(DismissPayloadFactory(groupID="g-mixed", membersID=members))
    empty = go_json(DismissPayloadFactory(groupID="g-mixed", membersID=None))

    # Mostly member-less copies, so that one of them usually wins the insert.
    run_concurrently([deliver(full)] + [deliver(empty) for _ in range(19)])

    assert DismissedGroup.objects.count() == 1
    assert sorted(DismissedGroupMember.objects.values_list("user_id", flat=True)) == sorted(members)
    assert DismissedGroup.objects.get().member_count == 200
    assert len(dismissed_signals) == 1


def test_concurrent_replays_of_one_event_announce_once(failing_receiver, dismissed_signals):
    from django_imcallback.signals import group_dismissed

    body = go_json(DismissPayloadFactory(groupID="g-replay"))
    event = CallbackEventFactory(body=body, status=Status.FAILED)
    group_dismissed.disconnect(failing_receiver)

    run_concurrently([lambda: replay_events([event]) for _ in range(10)])

    assert len(dismissed_signals) == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)


@pytest.fixture
def atomic_requests(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "ATOMIC_REQUESTS", True)


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


# -- An ordinary delivery: one statement --------------------------------------------------


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


@pytest.fixture
def member_table_refusing_boom():
    """A constraint that makes the statement fail at its last part, the members."""
    table = DismissedGroupMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT test_no_boom CHECK (user_id <> 'boom')")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT test_no_boom")


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


def test_the_servers_repeat_raises_no_database_error(post, dismissed_signals, failed_statements):
    """OpenIM sends every dismissal twice; the repeat must not put an ERROR in PostgreSQL's log."""
    payload = DismissPayloadFactory()
    for body in (payload, {**payload, "membersID": None}):
        assert post(body).status_code == 200

    assert failed_statements == []
    assert list(CallbackEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        Status.PROCESSED,
        Status.DUPLICATE,
    ]
    assert DismissedGroup.objects.get().member_count == 3
    assert len(dismissed_signals) == 1


def test_the_servers_repeat_is_recorded_as_a_duplicate_by_one_statement(post, received_signals):
    payload = DismissPayloadFactory()
    assert post(payload).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        repeat = post({**payload, "membersID": None})

    assert repeat.status_code == 200
    stores, clears = [q["sql"] for q in queries]
    assert stores.startswith("WITH outcome")
    assert clears.startswith("UPDATE")
    dismissal = DismissedGroup.objects.get()
    event = CallbackEvent.objects.exclude(pk=dismissal.event_id).get()
    assert event.status == Status.DUPLICATE
    assert (
        event.error
        == f"Group {payload['groupID']!r} is already stored as dismissal #{dismissal.pk}."
    )
    assert [call["event"].pk for call in received_signals] == [dismissal.event_id, event.pk]


def test_a_repeat_that_waited_for_the_first_copy_is_recorded_as_a_duplicate():
    """The repeat's statement cannot see the first copy's uncommitted row: it stores
    nothing, and route 2 waits for the first copy under a lock, then records a duplicate."""
    payload = DismissPayloadFactory()
    first_inserted, commit_first = threading.Event(), threading.Event()
    answers, statements = [], []

    def first_copy():
        try:
            with transaction.atomic():
                DismissedGroup.objects.create(group_id=payload["groupID"], member_count=3)
                first_inserted.set()
                commit_first.wait(timeout=30)
        finally:
            connections.close_all()

    def repeat():
        try:
            first_inserted.wait(timeout=30)
            with CaptureQueriesContext(connections["default"]) as queries:
                answers.append(
                    Client().post(
                        f"/imcallback/{DISMISS}",
                        go_json({**payload, "membersID": None}),
                        content_type="application/json",
                    )
                )
            statements.extend(query["sql"] for query in queries)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first_copy), threading.Thread(target=repeat)]
    for thread in threads:
        thread.start()
    first_inserted.wait(timeout=30)
    for _ in range(300):  # until the repeat waits on the first copy's row lock
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
        time.sleep(0.01)
    else:
        pytest.fail("the repeat never waited for the first copy")
    commit_first.set()
    for thread in threads:
        thread.join(timeout=30)

    assert [answer.status_code for answer in answers] == [200]
    dismissal = DismissedGroup.objects.get()
    event = CallbackEvent.objects.get()
    assert event.status == Status.DUPLICATE
    assert (
        event.error
        == f"Group {payload['groupID']!r} is already stored as dismissal #{dismissal.pk}."
    )
    assert statements[0].startswith("WITH outcome")  # route 1 found nothing stored
    assert any("FOR UPDATE" in statement for statement in statements)  # route 2 waited
