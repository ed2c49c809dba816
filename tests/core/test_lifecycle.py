"""The event's life: one transaction per delivery, the outcome kept on the event, and
nothing stored twice by a task worker or a replay."""

from datetime import UTC, datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_imcallback import mirror, pipeline
from django_imcallback.commands import Handler, Outcome, registry
from django_imcallback.models import CallbackEvent, DismissedGroup, IMGroup
from django_imcallback.replay import replay_events
from django_imcallback.signals import group_members_joined
from django_imcallback.tasks import send_queued

from ..conftest import requires_postgres, send
from ..factories import DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch
JOIN = "callbackAfterJoinGroupCommand"


@pytest.fixture
def joined_signals(recorder):
    return recorder(group_members_joined).calls


@pytest.fixture
def apply_calls(monkeypatch):
    """Counts the join handler's ``apply`` calls; ``apply_calls.broken = True`` makes it raise."""
    handler = registry.get(JOIN)
    original = handler.apply

    def apply(event, data):
        apply.calls += 1
        if apply.broken:
            raise RuntimeError("stored again")
        return original(event, data)

    apply.calls, apply.broken = 0, False
    monkeypatch.setattr(handler, "apply", apply)
    return apply


def statements_on_events(queries):
    table = CallbackEvent._meta.db_table
    return [q["sql"].split(" ", 1)[0] for q in queries if f'"{table}"' in q["sql"]]


def test_a_delivery_is_stored_in_one_transaction(post):
    outside = []

    def note(execute, sql, params, many, context):
        if not connection.in_atomic_block and sql != "BEGIN":  # SQLite's BEGIN opens it
            outside.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(note), CaptureQueriesContext(connection) as queries:
        post({"groupID": "G1", "inviterUserID": "u1"}, JOIN)

    assert outside == [], "every storing statement runs in the one transaction"
    expected = ["INSERT"] if connection.vendor == "postgresql" else ["INSERT", "UPDATE"]
    assert statements_on_events(queries) == expected
    event = CallbackEvent.objects.get()
    assert (event.status, event.attempts) == (Status.PROCESSED, 1)
    assert IMGroup.objects.get().members.get().last_event_id == event.pk


@requires_postgres
def test_on_postgresql_the_event_is_written_once_with_its_key_drawn_first(post):
    with CaptureQueriesContext(connection) as queries:
        post({"groupID": "G1", "inviterUserID": "u1"}, JOIN)

    event = CallbackEvent.objects.get()
    statements = [q["sql"] for q in queries]
    assert statements.count("COMMIT") == 1, "one transaction, one flush"
    assert statements[statements.index("BEGIN") + 1].startswith("SELECT nextval(")
    events = f'INSERT INTO "{CallbackEvent._meta.db_table}"'
    [insert] = [n for n, sql in enumerate(statements) if sql.startswith(events)]
    assert statements[insert + 1] == "COMMIT", "written last, with its outcome"
    assert list(mirror.history(IMGroup.objects.get())) == [event]


def test_the_outcome_is_kept_on_the_event(post):
    event = send(post, JOIN, users=["u1"])

    event.refresh_from_db()
    group = IMGroup.objects.get()
    assert event.outcome == {
        "status": "processed",
        "note": "",
        "announce": {
            "group": {"$model": "django_imcallback.imgroup", "pk": group.pk},
            "user_ids": ["u1"],
            "how": "joined",
        },
    }


@requires_postgres
def test_the_one_statement_route_keeps_the_outcome_with_the_rows_key(post):
    post(DismissPayloadFactory(groupID="g1", membersID=["a"]))
    post(DismissPayloadFactory(groupID="g1", membersID=[]))

    first, repeat = CallbackEvent.objects.order_by("pk")
    dismissal = DismissedGroup.objects.get()
    reference = {"$model": "django_imcallback.dismissedgroup", "pk": dismissal.pk}
    assert first.outcome == {
        "status": "processed",
        "note": "",
        "announce": {"dismissal": reference},
    }
    assert repeat.outcome == {"status": "duplicate", "note": repeat.error, "announce": None}
    assert f"dismissal #{dismissal.pk}" in repeat.error


def test_a_storing_failure_rolls_back_everything_but_the_failed_delivery(post, monkeypatch):
    def broken(event, data):
        mirror.lock_group(data["group_id"])  # stored, then rolled back
        raise RuntimeError("bug")

    monkeypatch.setattr(registry.get(JOIN), "apply", broken)

    response = post({"groupID": "G1", "inviterUserID": "u1"}, JOIN)

    assert response.status_code == 500
    event = CallbackEvent.objects.get()
    assert (event.status, event.outcome) == (Status.FAILED, None)
    assert "RuntimeError: bug" in event.error
    assert not IMGroup.objects.exists()


def test_a_task_worker_announces_the_kept_outcome_and_stores_nothing_again(
    post, settings, monkeypatch, apply_calls, joined_signals
):
    settings.IMCALLBACK = {"DISPATCH": "task"}
    monkeypatch.setattr(pipeline, "_announce", lambda *args: None)  # leave it queued
    event = send(post, JOIN, users=["u1"])
    assert (event.dispatch_state, apply_calls.calls) == (Dispatch.QUEUED, 1)
    apply_calls.broken = True

    assert send_queued(event.pk) == "sent"

    [call] = joined_signals
    assert (call["group"], call["user_ids"], call["how"]) == (
        IMGroup.objects.get(),
        ["u1"],
        "joined",
    )
    assert call["event"].pk == event.pk
    event.refresh_from_db()
    assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.SENT)


def test_a_replay_after_a_receiver_failed_sends_again_and_stores_nothing_again(post, apply_calls):
    calls = []

    def flaky(sender, **kwargs):
        calls.append((kwargs["group"], kwargs["user_ids"], kwargs["how"]))
        if len(calls) == 1:
            raise RuntimeError("receiver exploded")

    group_members_joined.connect(flaky, weak=False)
    try:
        event = send(post, JOIN, users=["u1"])
        event.refresh_from_db()
        assert (event.status, event.dispatch_state) == (Status.FAILED, Dispatch.FAILED)
        apply_calls.broken = True

        report = replay_events([event])
    finally:
        group_members_joined.disconnect(flaky)

    assert report.outcomes == {Status.PROCESSED: 1}
    assert apply_calls.calls == 1, "stored once, by the delivery"
    group = IMGroup.objects.get()
    assert calls == [(group, ["u1"], "joined")] * 2
    event.refresh_from_db()
    assert (event.status, event.dispatch_state, event.attempts) == (
        Status.PROCESSED,
        Dispatch.SENT,
        2,
    )
    assert list(mirror.history(group)) == [event]


def test_a_replay_of_an_unhandled_event_stores_it_with_the_handler_registered_since(post):
    class Recorded(Handler):
        command = "callbackAfterSomethingNewCommand"
        serializer_class = registry.get(JOIN).serializer_class

        def apply(self, event, data):
            return Outcome(note="stored by the new handler")

    post({"groupID": "G1", "inviterUserID": "u1"}, Recorded.command)
    event = CallbackEvent.objects.get()
    assert (event.status, event.outcome) == (Status.UNHANDLED, None)
    registry.register(Recorded())
    try:
        replay_events([event])
    finally:
        registry.unregister(Recorded.command)

    event.refresh_from_db()
    assert (event.status, event.error) == (Status.PROCESSED, "stored by the new handler")


def test_an_announcement_that_cannot_be_kept_fails_the_delivery_and_says_why(post):
    class Timed(Handler):
        command = "callbackAfterTimedCommand"
        serializer_class = registry.get(JOIN).serializer_class

        def apply(self, event, data):
            mirror.lock_group(data["group_id"])
            return Outcome(announce={"when": timezone.now()})

    registry.register(Timed())
    try:
        response = post({"groupID": "G1", "inviterUserID": "u1"}, Timed.command)
    finally:
        registry.unregister(Timed.command)

    assert response.status_code == 500
    event = CallbackEvent.objects.get()
    assert event.status == Status.FAILED
    assert "Outcome.announce['when'] is a datetime" in event.error
    assert "must be JSON values or model instances" in event.error
    assert not IMGroup.objects.exists()


def test_the_group_is_created_or_returned_as_stored_by_one_statement():
    when = datetime(2026, 1, 2, 3, 4, 5, 600000, tzinfo=UTC)
    IMGroup.objects.create(group_id="G1", name="Old", info={"ex": "x", "n": [1]}, event_time=when)

    with CaptureQueriesContext(connection) as queries:
        stored = mirror.lock_group("G1")
        new = mirror.lock_group("G2")

    assert len(queries) == 2
    expected = IMGroup.objects.get(group_id="G1")
    fields = [f.attname for f in IMGroup._meta.concrete_fields]
    assert [getattr(stored, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert (stored.info, stored.event_time) == ({"ex": "x", "n": [1]}, when)
    assert (new.pk, new.group_id, new.info, new.status) == (
        IMGroup.objects.get(group_id="G2").pk,
        "G2",
        {},
        IMGroup.Status.ACTIVE,
    )
    stored.name = "New"
    stored.save()
    assert IMGroup.objects.get(group_id="G1").name == "New"
