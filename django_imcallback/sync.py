"""Make the mirror agree with the server: ``imcallback_sync`` and the ``sync_mirror`` task.

The server's REST API (``openim_api``) lists its groups (``/group/get_groups``: the ones not
dismissed) and each group's members; ``/group/get_groups_info`` tells what became of a group
the mirror holds that the listing no longer shows (dismissed: ``status`` 2, or gone). For each
group, in a transaction of its own and under the lock the group handlers take
(``mirror.lock_group``), the mirror is made to agree: missing groups and members added,
names, owners and roles updated, memberships the server no longer has ended
(``left_how = "synced"``), dismissed groups marked. A row a callback changed after the sync
read the server (its ``last_event`` arrived later) is left as the callback made it: the
callback is newer. Running it twice changes nothing the second time.

A dismissal whose callback names no members takes its snapshot from the mirror, so a
mirror synced at install and then periodically gives those dismissals their members. It
cannot help after the fact: once the server has dismissed a group with ``deleteMember``,
its members are gone from the server too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from . import mirror
from .commands.groups import CREATE_INFO_FIELDS as INFO_FIELDS
from .conf import imcallback_settings
from .models import IMGroup, IMGroupMember
from .openim_api import PAGE_MAX, Client

DISMISSED_ON_SERVER = 2
#: Differences kept per group in ``IMGroup.sync_changes`` and printed, at most.
SHOWN = 50
Source = IMGroupMember.Source


@dataclass
class Report:
    """What a sync found and did (or, in a dry run, would do)."""

    groups: int = 0
    groups_added: int = 0
    groups_changed: int = 0
    groups_dismissed: int = 0
    groups_skipped: int = 0
    members_added: int = 0
    members_changed: int = 0
    members_ended: int = 0
    #: One line per difference ("G1: u3 joined (role 20)").
    differences: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.groups} groups read: {self.groups_added} added, {self.groups_changed} "
            f"changed, {self.groups_dismissed} dismissed, {self.groups_skipped} skipped "
            f"(changed recently); members: {self.members_added} added, "
            f"{self.members_changed} changed, {self.members_ended} ended."
        )


def client_from_settings() -> Client:
    """A client of the server ``IMCALLBACK["OPENIM_API"]`` names."""
    api = imcallback_settings.openim_api
    return Client(api.url, api.secret, api.admin_user_id, timeout=api.timeout)


def sync(
    client: Client,
    *,
    group_ids: Iterable[str] | None = None,
    skip_recent: timedelta | None = None,
    dry_run: bool = False,
    page_size: int = PAGE_MAX,
    progress: Callable[[str], None] | None = None,
) -> Report:
    """Read the server's groups (``group_ids``: only these) and mend the mirror."""
    report = Report()
    infos = _server_groups(client, list(group_ids) if group_ids is not None else None, page_size)
    recent: set[str] = set()
    if skip_recent is not None:
        since = timezone.now() - skip_recent
        changed = (
            Q(last_event__received_at__gte=since)
            | Q(members__last_event__received_at__gte=since)
            | Q(synced_at__gte=since)
        )
        recent = set(IMGroup.objects.filter(changed).values_list("group_id", flat=True))
    for group_id, info in infos.items():
        report.groups += 1
        if group_id in recent:
            report.groups_skipped += 1
            continue
        read_at = timezone.now()
        members = []
        if info is not None and info.get("status") != DISMISSED_ON_SERVER:
            members = list(client.members(group_id, page_size))
        with transaction.atomic():
            _mend(group_id, info, members, read_at, report)
            if dry_run:
                transaction.set_rollback(True)
        if progress is not None and report.groups % 100 == 0:
            progress(f"{report.groups} of {len(infos)} groups")
    return report


def _server_groups(
    client: Client, group_ids: list[str] | None, page_size: int
) -> dict[str, dict[str, Any] | None]:
    """``groupID`` -> the server's ``GroupInfo``, ``None`` for a group it does not know."""
    if group_ids is not None:
        found = {g["groupID"]: g for g in client.groups_info(group_ids)} if group_ids else {}
        return {group_id: found.get(group_id) for group_id in dict.fromkeys(group_ids)}
    listed: dict[str, dict[str, Any] | None] = {g["groupID"]: g for g in client.groups(page_size)}
    active = IMGroup.objects.filter(status=IMGroup.Status.ACTIVE)
    unlisted = [g for g in active.values_list("group_id", flat=True) if g not in listed]
    found = {g["groupID"]: g for g in client.groups_info(unlisted)} if unlisted else {}
    return {**listed, **{group_id: found.get(group_id) for group_id in unlisted}}


def _mend(
    group_id: str,
    info: dict[str, Any] | None,
    members: list[dict[str, Any]],
    read_at: datetime,
    report: Report,
) -> None:
    """Make the mirror's ``group_id`` agree with ``info`` and ``members`` (read at
    ``read_at``), leaving alone what a later callback changed."""
    known = IMGroup.objects.filter(group_id=group_id).exists()
    if info is None and not known:
        return  # Neither side has it.
    group = mirror.lock_group(group_id)
    differences: list[str] = []
    if not known:
        report.groups_added += 1
        differences.append("added")
    callback_later = _changed_after(IMGroup.objects.filter(pk=group.pk), read_at)
    if group.pk not in callback_later:
        differences += _mend_group(group, info)
    if info is not None and info.get("status") != DISMISSED_ON_SERVER:
        differences += _mend_members(group, members, read_at, report)
    if any(line.startswith("dismissed") for line in differences):
        report.groups_dismissed += 1
    elif known and differences:
        report.groups_changed += 1
    group.synced_at = timezone.now()
    group.sync_changes = differences[:SHOWN] or None
    group.save()
    report.differences += [f"{group_id}: {line}" for line in differences]


def _mend_group(group: IMGroup, info: dict[str, Any] | None) -> list[str]:
    if info is None or info.get("status") == DISMISSED_ON_SERVER:
        if group.status == IMGroup.Status.DISMISSED:
            return []
        group.status, group.dismissed_at = IMGroup.Status.DISMISSED, timezone.now()
        group.last_event = None
        return ["dismissed" if info is not None else "dismissed (the server does not know it)"]
    wanted: dict[str, Any] = {
        "name": info.get("groupName") or "",
        "owner_id": info.get("ownerUserID") or "",
        "group_type": info.get("groupType"),
        "status": IMGroup.Status.ACTIVE,
        "info": {key: info.get(key) for key in INFO_FIELDS},
    }
    if created := info.get("createTime"):
        wanted["created_at"] = datetime.fromtimestamp(created / 1000, tz=UTC)
    differences = []
    for name, value in wanted.items():
        if getattr(group, name) != value:
            if name != "info":
                differences.append(f"{name} {getattr(group, name)!r} -> {value!r}")
            elif group.info:
                changed = sorted(k for k in value if group.info.get(k) != value[k])
                differences.append("info: " + ", ".join(changed))
            setattr(group, name, value)
    if differences:
        group.last_event = None
    return differences


def _mend_members(
    group: IMGroup, members: list[dict[str, Any]], read_at: datetime, report: Report
) -> list[str]:
    rows = {m.user_id: m for m in group.members.all()}
    later = _changed_after(group.members.all(), read_at)
    on_server = {m["userID"]: m for m in members}
    now, new, updated, differences = timezone.now(), [], [], []
    for user_id, member in on_server.items():
        role = member.get("roleLevel")
        row = rows.get(user_id)
        if row is not None and row.pk in later:
            continue  # A callback after the read: it is newer.
        if row is not None and row.left_at is None:
            if row.role_level != role:
                differences.append(f"{user_id} role {row.role_level} -> {role}")
                row.role_level, row.last_event = role, None
                updated.append(row)
                report.members_changed += 1
            continue
        if row is None:
            row = IMGroupMember(group=group, user_id=user_id)
            new.append(row)
        else:
            updated.append(row)
        joined = member.get("joinTime")
        row.joined_at = datetime.fromtimestamp(joined / 1000, tz=UTC) if joined else now
        row.joined_how, row.left_at, row.left_how = Source.SYNCED, None, ""
        row.role_level, row.last_event = role, None
        differences.append(f"{user_id} joined (role {role})")
        report.members_added += 1
    for user_id, row in rows.items():
        if row.left_at is None and user_id not in on_server and row.pk not in later:
            row.left_at, row.left_how, row.last_event = now, Source.SYNCED, None
            updated.append(row)
            differences.append(f"{user_id} left")
            report.members_ended += 1
    IMGroupMember.objects.bulk_create(new, batch_size=PAGE_MAX)
    fields = ["role_level", "joined_at", "joined_how", "left_at", "left_how", "last_event"]
    IMGroupMember.objects.bulk_update(updated, fields, batch_size=PAGE_MAX)
    return differences


def _changed_after(rows: Any, read_at: datetime) -> set[int]:
    """The primary keys of ``rows`` whose last change came from a callback received after
    ``read_at``."""
    later = rows.filter(last_event__received_at__gt=read_at).order_by()
    return set(later.values_list("pk", flat=True))
