"""``callbackAfterDisMissGroupCommand``: a group was dismissed."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from .. import mirror, sql
from ..models import CallbackEvent, DismissedGroup, DismissedGroupMember, IMGroup, MembersSource
from ..signals import group_dismissed
from ..wire.fields import EventTimeField, GroupTypeField, IDField, MemberIDsField, WireStringField
from .base import Command, Handler, Outcome, Status

DISMISS_GROUP = "callbackAfterDisMissGroupCommand"


class DismissGroupSerializer(serializers.Serializer[Any]):
    """Body of ``callbackAfterDisMissGroupCommand`` (Go: ``CallbackDisMissGroupReq``).

    Keys keep their wire names; ``validated_data`` uses the model's names. Unknown
    keys are ignored here and kept in the event's raw body.
    """

    callbackCommand = WireStringField(required=False, allow_blank=True, source="callback_command")
    groupID = IDField(source="group_id")
    ownerID = IDField(
        required=False, allow_blank=True, allow_null=True, default="", source="owner_id"
    )
    groupType = GroupTypeField(required=False, allow_null=True, default=None, source="group_type")
    membersID = MemberIDsField(source="member_ids")
    eventTime = EventTimeField(source="event_time")

    def validate_ownerID(self, value: str | None) -> str:
        return value or ""


def duplicate_note(group_id: str, dismissal_id: object) -> str:
    """What a duplicate's event says: which stored dismissal it repeats."""
    return f"Group {group_id!r} is already stored as dismissal #{dismissal_id}."


class DismissGroupHandler(Handler):
    """``callbackAfterDisMissGroupCommand``: a group was dismissed.

    Stored as one ``DismissedGroup`` per group, with a ``DismissedGroupMember`` per member,
    and the mirror's group (if it knows the group) marked dismissed. The server sends each
    dismissal twice, the second time with no members, and the two copies race; an
    administrator's dismissal comes once, with no members. The unique ``group_id`` decides
    which copy stores the dismissal and announces it. The snapshot is the callback's
    members; when it names none, the mirror's members at that moment. A later copy that
    names members replaces a snapshot the callback did not give; a copy without members
    never shrinks one.
    """

    command = DISMISS_GROUP
    serializer_class = DismissGroupSerializer
    signal = group_dismissed
    sender = DismissedGroup

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        new = self._dismissal(event, data, member_count=0)
        new.members_source = MembersSource.NONE
        DismissedGroup.objects.bulk_create([new], ignore_conflicts=True)
        dismissal = DismissedGroup.objects.select_for_update().get(group_id=data["group_id"])
        # Locked after the dismissal (see mirror); a group the mirror never saw stays unseen.
        group = IMGroup.objects.select_for_update().filter(group_id=data["group_id"]).first()
        if group is not None and group.status != IMGroup.Status.DISMISSED:
            self._dismiss(group, event, data)
            group.save(update_fields=["status", "dismissed_at", "last_event"])
        mine = dismissal.event_id == event.pk  # This delivery stored it, now or on an earlier try.
        members, source = data["member_ids"], MembersSource.CALLBACK
        if not members and mine and dismissal.members_source == MembersSource.NONE and group:
            members, source = mirror.current_member_ids(group), MembersSource.MIRROR
        replaced = bool(members) and dismissal.members_source != MembersSource.CALLBACK
        note = f"Completed the member snapshot of dismissal #{dismissal.pk}" + (
            " (it replaces the one taken from the mirror)."
            if dismissal.members_source == MembersSource.MIRROR
            else "."
        )
        if replaced:
            dismissal.members.all().delete()
            using = sql.db_of(event)
            sql.insert_children(
                DismissedGroupMember, "dismissal", "user_id", dismissal.pk, members, using
            )
            dismissal.member_count, dismissal.members_source = len(members), source
            dismissal.save(update_fields=["member_count", "members_source"])
        if mine:
            return Outcome(announce={"dismissal": dismissal})
        if replaced:
            return Outcome(note=note)
        return Outcome(Status.DUPLICATE, duplicate_note(dismissal.group_id, dismissal.pk))

    def store_in_one_statement(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome | None:
        dismissal = self._dismissal(event, data, member_count=len(data["member_ids"]))
        children = (DismissedGroupMember, "dismissal", "user_id", data["member_ids"])
        group = IMGroup(group_id=data["group_id"])
        self._dismiss(group, event, data)
        also = (group, "group_id", ("status", "dismissed_at", "last_event"))
        # The note around the stored dismissal's id, which only the statement learns.
        note = tuple(duplicate_note(data["group_id"], "\x00").split("\x00"))
        stored = Outcome(announce={"dismissal": dismissal})
        kept = (stored.kept(), ["announce", "dismissal", "pk"])  # its pk: the statement's
        status = sql.store_in_one_statement(
            event,
            dismissal,
            "group_id",
            children,
            note,  # type: ignore[arg-type]
            kept,
            also,
        )
        if status == Status.PROCESSED:
            return stored
        return None if status is None else Outcome(Status.DUPLICATE, event.error)

    @staticmethod
    def _dismiss(group: IMGroup, event: CallbackEvent, data: dict[str, Any]) -> None:
        group.status = IMGroup.Status.DISMISSED
        group.dismissed_at = data["event_time"] or timezone.now()
        group.last_event = event

    @staticmethod
    def _dismissal(event: CallbackEvent, data: dict[str, Any], member_count: int) -> DismissedGroup:
        group_type_raw, group_type = data["group_type"] or (None, None)
        return DismissedGroup(
            group_id=data["group_id"],
            owner_id=data["owner_id"],
            group_type_raw=group_type_raw,
            group_type=group_type,
            member_count=member_count,
            event_time=data["event_time"],
            event=event,
        )


def dismiss_group_body(group_id: str, owner_id: str, member_ids: list[str]) -> dict[str, Any]:
    """A ``CallbackDisMissGroupReq`` as the open-source server fills it in (no eventTime)."""
    return {
        "callbackCommand": DISMISS_GROUP,
        "groupID": group_id,
        "ownerID": owner_id,
        "groupType": "\u0002",  # Go's string(rune(2))
        "membersID": member_ids,
    }


COMMANDS = [
    Command(
        DISMISS_GROUP,
        "afterDismissGroup",
        before=False,
        serializer=DismissGroupSerializer,
        example=lambda x: dismiss_group_body(x.group_id, x.user_id, list(x.user_ids)),
        handler_class=DismissGroupHandler,
        user_keys=("ownerID",),
        summary="A group was dismissed (twice for the SDK's dismissal: with members, then "
        "without).",
    ),
]
