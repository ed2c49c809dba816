"""The mirror's core helpers: memberships begun and ended by one statement, the same as
row by row (the way for a database without ``INSERT ... ON CONFLICT ... RETURNING``)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from django_imcallback import mirror, sql
from django_imcallback.models import IMGroup, IMGroupMember

from ..factories import CallbackEventFactory

pytestmark = pytest.mark.django_db

Source = IMGroupMember.Source
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def story(group_id):
    """Changes to one group's members, as the handlers make them, and what each returned."""
    group = mirror.lock_group(group_id)

    def event():
        return CallbackEventFactory(group_id=group_id)

    said = [
        mirror.admit(group, event(), {"owner": 100, "a": 20, "b": 60}, Source.CREATED),
        mirror.admit(group, event(), {"a": None, "c": None}, Source.JOINED),
        mirror.admit(group, event(), {"a": 60, "owner": 100}, Source.SEEN),  # a's new role
        mirror.release(group, event(), ["b", "never-seen", "b"], Source.KICKED),
        mirror.release(group, event(), ["b"], Source.QUIT),  # gone already
        mirror.admit(group, event(), {"b": None}, Source.ANNOUNCED),  # back
    ]
    early, late = event(), event()  # two deliveries that arrived in this order
    said += [
        mirror.release(group, late, ["c"], Source.QUIT),
        mirror.admit(group, early, {"c": None}, Source.JOINED),  # replayed after the quit
        mirror.admit(group, event(), {"d": None}, Source.JOINED, T0 + timedelta(hours=2)),
        mirror.release(group, event(), ["d"], Source.QUIT, T0 + timedelta(hours=1)),  # older
        mirror.release(group, event(), ["d"], Source.KICKED, T0 + timedelta(hours=3)),
        mirror.admit(group, event(), {"d": 20}, Source.SEEN, T0 + timedelta(hours=2)),  # older
    ]
    rows = {
        m.user_id: (
            m.role_level,
            m.joined_how,
            m.left_how,
            m.is_member,
            m.joined_at is None,
            m.event_time,
            m.last_event.pk if m.last_event else None,
            m.info,
        )
        for m in group.members.select_related("last_event")
    }
    events = {pk: n for n, pk in enumerate(sorted(r[6] for r in rows.values() if r[6]))}
    return said, {user: (*row[:6], events.get(row[6]), row[7]) for user, row in rows.items()}


def test_one_statement_and_row_by_row_agree(monkeypatch):
    with transaction.atomic():
        fast = story("G-fast")
    monkeypatch.setattr(sql, "can_upsert", lambda using: False)
    with transaction.atomic():
        slow = story("G-slow")

    assert fast == slow
    said, rows = fast
    assert said == [
        ["owner", "a", "b"],
        ["c"],
        [],
        ["b", "never-seen"],
        [],
        ["b"],
        ["c"],
        [],
        ["d"],
        [],
        ["d"],
        [],
    ]
    assert {user: row[:4] for user, row in rows.items()} == {
        "owner": (100, Source.CREATED, "", True),
        "a": (60, Source.CREATED, "", True),
        "b": (20, Source.ANNOUNCED, "", True),
        "c": (20, Source.JOINED, Source.QUIT, False),
        "d": (20, Source.JOINED, Source.KICKED, False),
        "never-seen": (None, "", Source.KICKED, False),
    }
    assert rows["d"][5] == T0 + timedelta(hours=3)


@pytest.mark.skipif(not sql.can_upsert("default"), reason="needs ON CONFLICT ... RETURNING")
def test_a_change_to_many_members_is_one_statement_per_batch(monkeypatch):
    monkeypatch.setattr(sql, "MEMBER_BATCH", 4)
    group = IMGroup.objects.create(group_id="G1")
    event = CallbackEventFactory()
    users = {f"u{n:02d}": None for n in range(10)}

    with CaptureQueriesContext(connection) as queries:
        joined = mirror.admit(group, event, users, Source.JOINED)
        left = mirror.release(group, event, [*users, "x"], Source.KICKED)

    assert joined == list(users)
    assert left == [*users, "x"]
    writes = [q["sql"] for q in queries if q["sql"].startswith("INSERT")]
    assert len(writes) == len(queries) == 3 + 3
    assert not group.members.filter(left_at__isnull=True).exists()
