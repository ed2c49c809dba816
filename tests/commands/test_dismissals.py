"""Dismissals: the body as the server sends it, repeats, and the member snapshot."""

import threading
import time
from datetime import UTC, datetime

import pytest
from django.db import connection, connections, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from django_imcallback.models import CallbackEvent, DismissedGroup, DismissedGroupMember, IMGroup
from django_imcallback.openim import body

from ..conftest import SUCCESS, go_json, requires_postgres, run_concurrently
from ..factories import DISMISS, DismissPayloadFactory

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallbackEvent.Status
CREATE = "callbackAfterCreateGroupCommand"


def members_of(group_id):
    return sorted(
        DismissedGroupMember.objects.filter(dismissal__group_id=group_id).values_list(
            "user_id", flat=True
        )
    )


def deliver(body):
    def post():
        response = Client().post(f"/imcallback/{DISMISS}", body, content_type="application/json")
        assert response.status_code == 200, response.content

    return post


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


def test_second_copy_without_members_keeps_the_snapshot(post, dismissed_signals):
    full = DismissPayloadFactory(groupID="g1", membersID=["a", "b", "c"])
    post(full, operation_id="op-api")

    response = post({**full, "membersID": None}, operation_id="op-push")

    assert response.json() == SUCCESS
    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 3
    assert members_of("g1") == ["a", "b", "c"]
    first, second = CallbackEvent.objects.order_by("pk")
    assert (first.status, second.status) == (Status.PROCESSED, Status.DUPLICATE)
    assert dismissal.event == first
    assert "already stored" in second.error
    assert len(dismissed_signals) == 1


def test_repeat_with_other_members_never_rewrites_the_snapshot(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", ownerID="o1", membersID=["a", "b"]))

    post(DismissPayloadFactory(groupID="g1", ownerID="o2", membersID=["x"]))

    dismissal = DismissedGroup.objects.get()
    assert (dismissal.owner_id, dismissal.member_count) == ("o1", 2)
    assert members_of("g1") == ["a", "b"]
    assert len(dismissed_signals) == 1


def test_member_less_copy_first_is_completed_by_the_full_copy(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", membersID=[]))

    post(DismissPayloadFactory(groupID="g1", membersID=["a", "b"]))

    dismissal = DismissedGroup.objects.get()
    assert dismissal.member_count == 2
    assert members_of("g1") == ["a", "b"]
    first, second = CallbackEvent.objects.order_by("pk")
    assert (first.status, second.status) == (Status.PROCESSED, Status.PROCESSED)
    assert "Completed" in second.error
    assert len(dismissed_signals) == 1


def test_different_groups_are_separate_dismissals(post, dismissed_signals):
    post(DismissPayloadFactory(groupID="g1", membersID=["a"]))
    post(DismissPayloadFactory(groupID="g2", membersID=["a"]))

    assert DismissedGroup.objects.count() == 2
    assert len(dismissed_signals) == 2


def test_duplicates_are_still_announced_through_callback_received(post, received_signals):
    payload = DismissPayloadFactory()
    post(payload)
    post(payload)

    assert len(received_signals) == 2


@requires_postgres
def test_a_repeat_with_members_fails_no_statement(post, failed_statements):
    payload = DismissPayloadFactory()
    for _ in range(3):
        assert post(payload).json() == SUCCESS

    assert failed_statements == []
    assert DismissedGroup.objects.get().member_count == 3


@requires_postgres
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


@requires_postgres
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


@requires_postgres
def test_the_servers_repeat_raises_no_database_error(post, dismissed_signals, failed_statements):
    """OpenIM sends every dismissal twice; the repeat must not put an ERROR in PostgreSQL's log."""
    payload = DismissPayloadFactory()
    for copy in (payload, {**payload, "membersID": None}):
        assert post(copy).status_code == 200

    assert failed_statements == []
    assert list(CallbackEvent.objects.order_by("pk").values_list("status", flat=True)) == [
        Status.PROCESSED,
        Status.DUPLICATE,
    ]
    assert DismissedGroup.objects.get().member_count == 3
    assert len(dismissed_signals) == 1


@requires_postgres
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


@requires_postgres
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


def test_each_copy_of_a_dismissal_says_what_it_did_to_the_stored_one(post):
    post(DismissPayloadFactory(groupID="g-notes", membersID=None))
    post(DismissPayloadFactory(groupID="g-notes", membersID=["a"]))
    post(DismissPayloadFactory(groupID="g-notes", membersID=["a", "b"]))

    dismissal = DismissedGroup.objects.get()
    first, completing, repeat = CallbackEvent.objects.order_by("pk")
    assert (first.status, first.error) == (Status.PROCESSED, "")
    assert (completing.status, completing.error) == (
        Status.PROCESSED,
        f"Completed the member snapshot of dismissal #{dismissal.pk}.",
    )
    assert (repeat.status, repeat.error) == (
        Status.DUPLICATE,
        f"Group 'g-notes' is already stored as dismissal #{dismissal.pk}.",
    )


def test_the_servers_list_replacing_the_mirrors_snapshot_says_so(post):
    post({**body(CREATE, group_id="g-m", user_id="own", user_ids=["own", "a"])}, CREATE)
    post(DismissPayloadFactory(groupID="g-m", membersID=None))
    post(DismissPayloadFactory(groupID="g-m", membersID=["own", "a", "late"]))

    dismissal = DismissedGroup.objects.get()
    completing = CallbackEvent.objects.order_by("pk").last()
    assert completing.error == (
        f"Completed the member snapshot of dismissal #{dismissal.pk}"
        " (it replaces the one taken from the mirror)."
    )
    assert (dismissal.members_source, dismissal.member_count) == ("callback", 3)


@pytest.mark.parametrize("event_time", [None, 1_700_000_000_000])
def test_a_mirrored_group_is_dismissed_at_the_event_time_by_its_event(post, event_time):
    post(body(CREATE, group_id="g-t", user_id="own", user_ids=["own"]), CREATE)
    sent = DismissPayloadFactory(groupID="g-t", membersID=None)
    if event_time is not None:
        sent["eventTime"] = event_time
    before = timezone.now()

    post(sent)

    group = IMGroup.objects.get(group_id="g-t")
    dismissal_event = CallbackEvent.objects.order_by("pk").last()
    assert (group.status, group.last_event_id) == ("dismissed", dismissal_event.pk)
    if event_time is None:
        assert before <= group.dismissed_at <= timezone.now()
    else:
        assert group.dismissed_at == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
