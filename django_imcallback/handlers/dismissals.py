"""``callbackAfterDisMissGroupCommand``: a group was dismissed."""

from __future__ import annotations

from typing import Any

from .. import sql
from ..models import CallbackEvent, DismissedGroup, DismissedGroupMember
from ..serializers import DismissGroupSerializer
from ..signals import group_dismissed
from .base import Handler, Outcome, Status


def duplicate_note(group_id: str, dismissal_id: object) -> str:
    """What a duplicate's event says: which stored dismissal it repeats."""
    return f"Group {group_id!r} is already stored as dismissal #{dismissal_id}."


class DismissGroupHandler(Handler):
    """``callbackAfterDisMissGroupCommand``: a group was dismissed.

    Stored as one ``DismissedGroup`` per group, with a ``DismissedGroupMember`` per member.
    The server sends each dismissal twice, the second time with no members, and the two
    copies race. The unique ``group_id`` decides which copy stores the dismissal and
    announces it; a later copy never shrinks the snapshot, but completes an empty one.
    """

    command = "callbackAfterDisMissGroupCommand"
    serializer_class = DismissGroupSerializer
    signal = group_dismissed
    sender = DismissedGroup

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        new = self._dismissal(event, data, member_count=0)
        DismissedGroup.objects.bulk_create([new], ignore_conflicts=True)
        dismissal = DismissedGroup.objects.select_for_update().get(group_id=data["group_id"])
        members = data["member_ids"]
        completed = bool(members) and dismissal.member_count == 0
        if completed:
            sql.insert_children(
                DismissedGroupMember,
                "dismissal",
                "user_id",
                dismissal.pk,
                members,
                sql.db_of(event),
            )
            dismissal.member_count = len(members)
            dismissal.save(update_fields=["member_count"])
        if dismissal.event_id == event.pk:  # This delivery stored it, now or on an earlier try.
            return Outcome(announce={"dismissal": dismissal})
        if completed:
            return Outcome(
                note=f"Completed the empty member snapshot of dismissal #{dismissal.pk}."
            )
        return Outcome(Status.DUPLICATE, duplicate_note(dismissal.group_id, dismissal.pk))

    def store_in_one_statement(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome | None:
        dismissal = self._dismissal(event, data, member_count=len(data["member_ids"]))
        children = (DismissedGroupMember, "dismissal", "user_id", data["member_ids"])
        # The note around the stored dismissal's id, which only the statement learns.
        note = tuple(duplicate_note(data["group_id"], "\x00").split("\x00"))
        status = sql.store_in_one_statement(event, dismissal, "group_id", children, note)  # type: ignore[arg-type]
        if status == Status.PROCESSED:
            return Outcome(announce={"dismissal": dismissal})
        return None if status is None else Outcome(Status.DUPLICATE, event.error)

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
