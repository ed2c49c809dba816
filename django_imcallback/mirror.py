"""The mirror of OpenIM groups (``IMGroup``, ``IMGroupMember``): the changes the group
handlers make, inside their storing transaction.

Every change to a group starts with ``lock_group``, which creates the group if the
mirror has never seen it and locks its row: concurrent deliveries about one group apply
one after the other, in the order they get the lock, and none loses another's change.
(A dismissal locks its ``DismissedGroup`` first and the group second; nothing locks
them the other way round.) A change whose body carries an ``eventTime`` older than the
newest one the row has seen is not applied; without ``eventTime`` (the open-source server
never sends it), a member's change made by an event that arrived before the one that last
changed the member (a replay of a delivery a killed worker left) is not applied either.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db.models import F, QuerySet
from django.utils import timezone

from . import sql
from .models import CallbackEvent, IMGroup, IMGroupMember

Member = IMGroupMember
#: Role levels: the owner, an administrator, an ordinary member.
OWNER, ADMIN, ORDINARY = 100, 60, 20


def lock_group(group_id: str) -> IMGroup:
    """The mirror's row for ``group_id``, created if new, locked until the transaction ends
    (one statement)."""
    return sql.upsert(IMGroup(group_id=group_id), "group_id")  # type: ignore[return-value]


def is_older(
    row: IMGroup | IMGroupMember, event_time: datetime | None, event: CallbackEvent | None = None
) -> bool:
    """Whether a change sent at ``event_time`` is older than what ``row`` already shows: by
    ``eventTime`` when both have one; else, given the ``event`` making the change, by
    arrival (a replay of an event that came before the one that last changed ``row``)."""
    if event_time is not None and row.event_time is not None:
        return event_time < row.event_time
    return event is not None and row.last_event_id is not None and row.last_event_id > event.pk


def shaping(events: QuerySet[CallbackEvent]) -> QuerySet[CallbackEvent]:
    """Those of ``events`` that changed the mirror: stored (by a handler that changes it) and
    not duplicates. The events about a group that did are its history."""
    from .commands import registry

    changing = [c for c in registry.commands() if not registry.get(c).records_only]  # type: ignore[union-attr]
    return events.filter(command__in=changing, outcome__status=CallbackEvent.Status.PROCESSED)


def history(group: IMGroup) -> QuerySet[CallbackEvent]:
    """The deliveries that changed ``group`` or its members, newest first."""
    return shaping(CallbackEvent.objects.filter(group_id=group.group_id)).order_by("-pk")


def was_created(group: IMGroup, event: CallbackEvent) -> bool:
    """Whether a creation of ``group`` other than ``event`` was stored: a group is created
    once."""
    return history(group).filter(command=event.command).exclude(pk=event.pk).exists()


def touch(row: Any, event: CallbackEvent, event_time: datetime | None) -> None:
    row.last_event = event
    if event_time is not None:
        row.event_time = event_time


def members(group: IMGroup, user_ids: Iterable[str]) -> dict[str, IMGroupMember]:
    return {m.user_id: m for m in group.members.filter(user_id__in=list(user_ids))}


def admit(
    group: IMGroup,
    event: CallbackEvent,
    users: Mapping[str, int | None],
    how: str,
    event_time: datetime | None = None,
) -> list[str]:
    """Make ``users`` (user ID -> role level, or None: an ordinary member) members; return
    those who were not. A member's role changes when one is given."""
    now = timezone.now()
    given = {role is not None for role in users.values()}  # one statement: all or none
    if sql.can_upsert(sql.db_of(group)) and len(given) <= 1:
        rows = [
            Member(
                group=group,
                user_id=user_id,
                role_level=ORDINARY if role is None else role,
                joined_at=now,
                joined_how=how,
                last_event=event,
                event_time=event_time,
            )
            for user_id, role in users.items()
        ]
        return sql.upsert_members(rows, join=True, roles=given == {True})
    return _admit_by_rows(group, event, users, how, event_time, now)


def release(
    group: IMGroup,
    event: CallbackEvent,
    user_ids: Iterable[str],
    how: str,
    event_time: datetime | None = None,
) -> list[str]:
    """End the membership of ``user_ids``; return those who were (or may have been) members."""
    user_ids, now = list(dict.fromkeys(user_ids)), timezone.now()
    if sql.can_upsert(sql.db_of(group)):
        rows = [
            Member(
                group=group,
                user_id=user_id,
                left_at=now,
                left_how=how,
                last_event=event,
                event_time=event_time,
            )
            for user_id in user_ids
        ]
        return sql.upsert_members(rows, join=False)
    return _release_by_rows(group, event, user_ids, how, event_time, now)


# The same, row by row, for a database without INSERT ... ON CONFLICT ... RETURNING.


def _admit_by_rows(
    group: IMGroup,
    event: CallbackEvent,
    users: Mapping[str, int | None],
    how: str,
    event_time: datetime | None,
    now: datetime,
) -> list[str]:
    known, changed = members(group, users), []
    new, updated = [], []
    for user_id, role in users.items():
        member = known.get(user_id)
        if member is not None and is_older(member, event_time, event):
            continue
        if member is None:
            member = Member(group=group, user_id=user_id)
            new.append(member)
        elif member.left_at is None:  # A member already: at most a new role.
            if role is not None and member.role_level != role:
                member.role_level = role
                touch(member, event, event_time)
                updated.append(member)
            continue
        else:
            updated.append(member)
        member.left_at, member.left_how = None, ""
        member.joined_at, member.joined_how = now, how
        member.role_level = role if role is not None else ORDINARY
        touch(member, event, event_time)
        changed.append(user_id)
    Member.objects.bulk_create(new)
    fields = ["left_at", "left_how", "role_level", "joined_at", "joined_how"]
    Member.objects.bulk_update(updated, [*fields, "last_event", "event_time"])
    return changed


def _release_by_rows(
    group: IMGroup,
    event: CallbackEvent,
    user_ids: list[str],
    how: str,
    event_time: datetime | None,
    now: datetime,
) -> list[str]:
    known, changed = members(group, user_ids), []
    new, ended = [], []
    for user_id in user_ids:
        member = known.get(user_id)
        if member is None:  # Never seen join: remember that they left.
            member = Member(group=group, user_id=user_id, left_at=now, left_how=how)
            touch(member, event, event_time)
            new.append(member)
        elif member.left_at is not None or is_older(member, event_time, event):
            continue
        else:
            member.left_at, member.left_how = now, how
            touch(member, event, event_time)
            ended.append(member)
        changed.append(user_id)
    Member.objects.bulk_create(new)
    Member.objects.bulk_update(ended, ["left_at", "left_how", "last_event", "event_time"])
    return changed


def current_member_ids(group: IMGroup) -> list[str]:
    """The users the mirror holds as members now, owner first, then by user ID."""
    order = (F("role_level").desc(nulls_last=True), "user_id")
    rows = group.members.filter(left_at__isnull=True).order_by(*order)
    return list(rows.values_list("user_id", flat=True))
