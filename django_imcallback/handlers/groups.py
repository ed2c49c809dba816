"""The group callbacks: each typed as the server sends it, and the after-callbacks (and
the one before-callback that names joining members) kept in the mirror of groups.

Bodies follow the server's structs (``pkg/callbackstruct/group.go``); keys keep their wire
names in ``validated_data``, except ``groupID`` (``group_id``) and ``eventTime``
(``event_time``, which the open-source server never sends). Go's nil slices arrive as
``null`` and are read as empty lists. The dismissal is in ``dismissals``.
"""

from __future__ import annotations

from typing import Any, ClassVar

from django.utils import timezone
from rest_framework import serializers

from .. import mirror
from ..models import CallbackEvent, IMGroup, IMGroupChange, IMGroupMember
from ..serializers import EventTimeField, GroupTypeField, IDField, MemberIDsField, WireStringField
from ..signals import (
    group_created,
    group_info_changed,
    group_member_changed,
    group_member_left,
    group_members_joined,
    group_owner_changed,
)
from .base import Handler, Outcome, Status

OWNER, ORDINARY = mirror.OWNER, mirror.ORDINARY
#: A body's validated data, and what a change says (its signal's arguments), or None.
Data = dict[str, Any]
Details = dict[str, Any] | None
Source = IMGroupMember.Source


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (Go's ``int32``/``int64``): no strings, no booleans, no fractions.

    Bounds are checked here rather than by validators (a lazy message per call)."""

    def __init__(self, **kwargs: Any) -> None:
        bounds = kwargs.pop("min_value", None), kwargs.pop("max_value", None)
        super().__init__(**kwargs)
        self.min_value, self.max_value = bounds  # for the schema

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data is serializers.empty or data is None:
            return super().run_validation(data)  # DRF's rules for missing and null
        value = self.to_internal_value(data)
        if self.validators:
            self.run_validators(value)
        return value

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if self.max_value is not None and data > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        if self.min_value is not None and data < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        return data


def text(**kwargs: Any) -> WireStringField:
    """An optional Go string: absent and ``null`` read as ``None``, ``""`` kept."""
    kwargs.update(required=False, allow_blank=True, allow_null=True, default=None)
    return WireStringField(**kwargs)


def integer(bits: int = 32, **kwargs: Any) -> StrictIntegerField:
    """An optional Go ``int32`` (or ``int64``): ``null`` reads as ``None``."""
    limit = 2 ** (bits - 1)
    kwargs.update(min_value=-limit, max_value=limit - 1)
    return StrictIntegerField(required=False, allow_null=True, default=None, **kwargs)


def group_id() -> IDField:
    return IDField(source="group_id")


class GroupBodySerializer(serializers.Serializer[Any]):
    """What every group callback body has."""

    callbackCommand = WireStringField(required=False, allow_blank=True)
    groupID = group_id()
    eventTime = EventTimeField(source="event_time")

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value(data)
        # Go's nil slices encode as null: read them as empty lists.
        for name, field in self.fields.items():
            if isinstance(field, serializers.ListSerializer) and values.get(name) is None:
                values[name] = []
        return values


class SetGroupInfoSerializer(GroupBodySerializer):
    """``callbackBefore/AfterSetGroupInfo(Ex)Command``."""

    operationID = text()
    groupName = text()
    notification = text()
    introduction = text()
    faceURL = text()
    ex = text()
    needVerification = integer()
    lookMemberInfo = integer()
    applyMemberFriend = integer()


class GroupInfoSerializer(SetGroupInfoSerializer):
    """``sdkws.GroupInfo``, as in the create bodies (``groupType`` an integer there): the
    fields a set-info body changes, and the rest."""

    ownerUserID = text()
    createTime = EventTimeField()
    memberCount = integer()
    status = integer()
    creatorUserID = text()
    groupType = GroupTypeField(required=False, allow_null=True, default=None)
    notificationUpdateTime = integer(64)
    notificationUserID = text()


class InitMemberSerializer(serializers.Serializer[Any]):
    userID = IDField()
    roleLevel = integer()


def member_list(child: serializers.Serializer[Any]) -> serializers.ListSerializer[Any]:
    """A list of member objects; the list may be ``null`` (Go's nil slice), its items not."""
    return serializers.ListSerializer(child=child, required=False, allow_null=True, default=list)


class CreateGroupSerializer(GroupInfoSerializer):
    """``callbackBefore/AfterCreateGroupCommand``."""

    initMemberList = member_list(InitMemberSerializer())


class JoiningMemberSerializer(serializers.Serializer[Any]):
    userID = IDField()
    ex = text()


class MembersJoinSerializer(GroupBodySerializer):
    """``callbackBeforeMembersJoinGroupCommand``."""

    memberList = member_list(JoiningMemberSerializer())
    groupEx = text()


class InviteSerializer(GroupBodySerializer):
    """``callbackBeforeInviteJoinGroupCommand``."""

    operationID = text()
    reason = text()
    invitedUserIDs = MemberIDsField()


class ApplySerializer(GroupBodySerializer):
    """``callbackBeforeJoinGroupCommand``: an application (``groupType`` a string here)."""

    groupType = GroupTypeField(required=False, allow_null=True, default=None)
    applyID = IDField()
    reqMessage = text()
    ex = text()


class JoinSerializer(GroupBodySerializer):
    """``callbackAfterJoinGroupCommand``: ``inviterUserID`` is the user who joined."""

    operationID = text()
    reqMessage = text()
    joinSource = integer()
    inviterUserID = IDField()


class QuitSerializer(GroupBodySerializer):
    userID = IDField()


class KickSerializer(GroupBodySerializer):
    kickedUserIDs = MemberIDsField()
    reason = text()
    opUserID = text()  # Not in the open-source server's body; read when a sender adds it.


class TransferOwnerSerializer(GroupBodySerializer):
    oldOwnerUserID = IDField()
    newOwnerUserID = IDField()


#: The group info fields a create body has besides name, owner, type and time.
CREATE_INFO_FIELDS = (
    "notification",
    "introduction",
    "faceURL",
    "memberCount",
    "ex",
    "status",
    "creatorUserID",
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
    "notificationUpdateTime",
    "notificationUserID",
)
#: The group info fields a set-info body may change, wire names.
INFO_FIELDS = (
    "groupName",
    "notification",
    "introduction",
    "faceURL",
    "ex",
    "needVerification",
    "lookMemberInfo",
    "applyMemberFriend",
)


class SetGroupInfoExSerializer(SetGroupInfoSerializer):
    """``callbackBefore/AfterSetGroupInfoExCommand``: every field nullable (``null``:
    unchanged)."""


class SetMemberInfoSerializer(GroupBodySerializer):
    """``callbackBefore/AfterSetGroupMemberInfoCommand``."""

    userID = IDField()
    nickName = text()
    faceURL = text()
    roleLevel = integer()
    ex = text()


# -- handlers --------------------------------------------------------------------------


class RecordOnlyHandler(Handler):
    """A before-callback the app types and records, answering allow at once.

    Its body is validated and stored (the event log shows it, ``callback_received``
    announces it); nothing else is stored, no other signal is sent.
    """

    records_only = True

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        return Outcome()


class GroupChangeHandler(Handler):
    """An after-callback that changes the mirror, and the signal that says how.

    ``change`` makes the change on the locked group and returns the signal's arguments
    (besides ``group``), or ``None`` when the delivery changes nothing (a repeat, or older
    than what the mirror shows): it is then a duplicate, and not announced. The arguments
    are kept with the change, so a replay or a task worker announces the same again.
    """

    sender = IMGroup
    kind: ClassVar[str]

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        group = mirror.lock_group(data["group_id"])
        done = IMGroupChange.objects.filter(event=event).first()
        if done is not None:  # This delivery changed the group on an earlier try.
            return Outcome(announce={"group": group, **done.details})
        details = self.change(group, event, data)
        if details is None:
            note = f"Nothing to change in group {group.group_id!r}: the mirror shows it already."
            return Outcome(Status.DUPLICATE, note)
        group.last_event = event
        group.save()
        IMGroupChange.objects.create(group=group, event=event, kind=self.kind, details=details)
        return Outcome(announce={"group": group, **details})

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        raise NotImplementedError


class CreateGroupHandler(GroupChangeHandler):
    command = "callbackAfterCreateGroupCommand"
    serializer_class = CreateGroupSerializer
    signal = group_created
    kind = "created"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        if group.changes.filter(kind=self.kind).exists() or mirror.is_older(
            group, data["event_time"]
        ):
            return None
        group.name = data["groupName"] or group.name
        group.owner_id = data["ownerUserID"] or group.owner_id
        group.group_type = (data["groupType"] or (None, group.group_type))[1]
        group.created_at = data["createTime"] or group.created_at
        group.info = {key: data[key] for key in CREATE_INFO_FIELDS}
        mirror.touch(group, event, data["event_time"])
        founders = {m["userID"]: m["roleLevel"] for m in data["initMemberList"]}
        if group.owner_id:
            founders = {group.owner_id: OWNER, **founders}
        mirror.admit(group, event, founders, Source.CREATED, data["event_time"])
        return {"member_ids": list(founders)}


class MembersJoinHandler(GroupChangeHandler):
    """The before-callback that names members just before the server stores them: for a
    creation, an invitation, a direct join or an approved application. The only callback
    that names invited and approved members, so the mirror takes them from it."""

    command = "callbackBeforeMembersJoinGroupCommand"
    serializer_class = MembersJoinSerializer
    signal = group_members_joined
    kind = "announced"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        users = {m["userID"]: None for m in data["memberList"]}
        joined = mirror.admit(group, event, users, Source.ANNOUNCED, data["event_time"])
        return {"user_ids": joined, "how": Source.ANNOUNCED.value} if joined else None


class JoinHandler(GroupChangeHandler):
    command = "callbackAfterJoinGroupCommand"
    serializer_class = JoinSerializer
    signal = group_members_joined
    kind = "joined"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        users = {data["inviterUserID"]: None}
        joined = mirror.admit(group, event, users, Source.JOINED, data["event_time"])
        return {"user_ids": joined, "how": Source.JOINED.value} if joined else None


class QuitHandler(GroupChangeHandler):
    command = "callbackAfterQuitGroupCommand"
    serializer_class = QuitSerializer
    signal = group_member_left
    kind = "quit"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        left = mirror.release(group, event, [data["userID"]], Source.QUIT, data["event_time"])
        if not left:
            return None
        return {"user_ids": left, "reason": "quit", "kicked_by": "", "message": ""}


class KickHandler(GroupChangeHandler):
    command = "callbackAfterKickGroupCommand"
    serializer_class = KickSerializer
    signal = group_member_left
    kind = "kicked"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        users = data["kickedUserIDs"]
        left = mirror.release(group, event, users, Source.KICKED, data["event_time"])
        if not left:
            return None
        return {
            "user_ids": left,
            "reason": "kicked",
            "kicked_by": data["opUserID"] or "",
            "message": data["reason"] or "",
        }


class TransferOwnerHandler(GroupChangeHandler):
    command = "callbackAfterTransferGroupOwnerCommand"
    serializer_class = TransferOwnerSerializer
    signal = group_owner_changed
    kind = "owner changed"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        old, new = data["oldOwnerUserID"], data["newOwnerUserID"]
        if mirror.is_older(group, data["event_time"]):
            return None
        # The server makes the old owner an ordinary member; both are members after it.
        roles = {old: ORDINARY, new: OWNER}
        known = mirror.members(group, roles)
        changed = group.owner_id != new or any(
            user not in known or not known[user].is_member or known[user].role_level != role
            for user, role in roles.items()
        )
        group.owner_id = new
        mirror.touch(group, event, data["event_time"])
        mirror.admit(group, event, roles, Source.SEEN, data["event_time"])
        return {"old_owner_id": old, "new_owner_id": new} if changed else None


class SetGroupInfoHandler(GroupChangeHandler):
    """``callbackAfterSetGroupInfoCommand``: an empty string or ``null`` means unchanged."""

    command = "callbackAfterSetGroupInfoCommand"
    serializer_class = SetGroupInfoSerializer
    signal = group_info_changed
    kind = "info changed"
    unchanged: ClassVar[tuple[Any, ...]] = ("", None)

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        if mirror.is_older(group, data["event_time"]):
            return None
        sent = {k: data[k] for k in INFO_FIELDS if data[k] not in self.unchanged}
        current = {"groupName": group.name, **group.info}
        changes = {k: v for k, v in sent.items() if current.get(k) != v}
        if not changes:
            return None
        group.name = changes.get("groupName", group.name)
        group.info = {**group.info, **{k: v for k, v in changes.items() if k != "groupName"}}
        mirror.touch(group, event, data["event_time"])
        return {"changes": changes}


class SetGroupInfoExHandler(SetGroupInfoHandler):
    """``callbackAfterSetGroupInfoExCommand``: only ``null`` means unchanged."""

    command = "callbackAfterSetGroupInfoExCommand"
    serializer_class = SetGroupInfoExSerializer
    unchanged = (None,)


class SetMemberInfoHandler(GroupChangeHandler):
    command = "callbackAfterSetGroupMemberInfoCommand"
    serializer_class = SetMemberInfoSerializer
    signal = group_member_changed
    kind = "member changed"

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        user = data["userID"]
        member = mirror.members(group, [user]).get(user) or IMGroupMember(
            group=group, user_id=user, joined_at=timezone.now(), joined_how=Source.SEEN
        )
        if mirror.is_older(member, data["event_time"]):
            return None
        fields = ("nickName", "faceURL", "roleLevel", "ex")
        sent = {k: data[k] for k in fields if data[k] is not None}
        current = {"roleLevel": member.role_level, **member.info}
        changes = {k: v for k, v in sent.items() if current.get(k) != v}
        if not changes and member.pk is not None:
            return None
        member.role_level = changes.get("roleLevel", member.role_level)
        member.info = {**member.info, **{k: v for k, v in changes.items() if k != "roleLevel"}}
        mirror.touch(member, event, data["event_time"])
        member.save()
        return {"user_id": user, "changes": changes}


def record_only(command: str, serializer: type[serializers.Serializer[Any]]) -> RecordOnlyHandler:
    handler_class: type[RecordOnlyHandler] = type(
        command.removeprefix("callback").removesuffix("Command") + "Handler",
        (RecordOnlyHandler,),
        {"command": command, "serializer_class": serializer, "__module__": __name__},
    )
    return handler_class()


def handlers() -> list[Handler]:
    """Every group handler but the dismissal's, before-callbacks included."""
    return [
        CreateGroupHandler(),
        MembersJoinHandler(),
        JoinHandler(),
        QuitHandler(),
        KickHandler(),
        TransferOwnerHandler(),
        SetGroupInfoHandler(),
        SetGroupInfoExHandler(),
        SetMemberInfoHandler(),
        record_only("callbackBeforeCreateGroupCommand", CreateGroupSerializer),
        record_only("callbackBeforeInviteJoinGroupCommand", InviteSerializer),
        record_only("callbackBeforeJoinGroupCommand", ApplySerializer),
        record_only("callbackBeforeSetGroupInfoCommand", SetGroupInfoSerializer),
        record_only("callbackBeforeSetGroupInfoExCommand", SetGroupInfoExSerializer),
        record_only("callbackBeforeSetGroupMemberInfoCommand", SetMemberInfoSerializer),
    ]
