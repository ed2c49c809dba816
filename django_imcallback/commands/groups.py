"""The group callbacks: each declared as the server sends it, typed, and the
after-callbacks (and the one before-callback that names joining members) kept in the mirror
of groups. The dismissal is in ``dismissals``.

Bodies follow the server's structs (``pkg/callbackstruct/group.go``); keys keep their wire
names in ``validated_data``, except ``groupID`` (``group_id``) and ``eventTime``
(``event_time``, which the open-source server never sends). Go's nil slices arrive as
``null`` and are read as empty lists.
"""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import Any, ClassVar

from django.utils import timezone
from rest_framework import serializers

from .. import mirror
from ..conf import imcallback_settings
from ..models import CallbackEvent, IMGroup, IMGroupMember
from ..signals import (
    group_created,
    group_info_changed,
    group_member_changed,
    group_member_left,
    group_members_joined,
    group_owner_changed,
)
from ..wire.fields import (
    BodySerializer,
    EventTimeField,
    GroupTypeField,
    IDField,
    group_id,
    ids,
    integer,
    object_list,
    text,
)
from ..wire.golang import fields
from ..wire.server import STRUCTS
from .base import Command, Example, Handler, Outcome, Status

OWNER, ADMIN, ORDINARY = mirror.OWNER, mirror.ADMIN, mirror.ORDINARY
#: A body's validated data, and what a change says (its signal's arguments), or None.
Data = dict[str, Any]
Details = dict[str, Any] | None
Source = IMGroupMember.Source


class GroupBodySerializer(BodySerializer):
    """What every group callback body has."""

    groupID = group_id()
    eventTime = EventTimeField(source="event_time")


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
    memberCount = integer(unsigned=True)
    status = integer()
    creatorUserID = text()
    groupType = GroupTypeField(required=False, allow_null=True, default=None)
    notificationUpdateTime = integer(64)
    notificationUserID = text()


class InitMemberSerializer(serializers.Serializer[Any]):
    userID = IDField()
    roleLevel = integer()


class CreateGroupSerializer(GroupInfoSerializer):
    """``callbackBefore/AfterCreateGroupCommand``."""

    initMemberList = object_list(InitMemberSerializer())


class JoiningMemberSerializer(serializers.Serializer[Any]):
    userID = IDField()
    ex = text()


class MembersJoinSerializer(GroupBodySerializer):
    """``callbackBeforeMembersJoinGroupCommand``."""

    memberList = object_list(JoiningMemberSerializer())
    groupEx = text()


class InviteSerializer(GroupBodySerializer):
    """``callbackBeforeInviteJoinGroupCommand``."""

    operationID = text()
    reason = text()
    invitedUserIDs = ids()


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
    kickedUserIDs = ids()
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


class GroupChangeHandler(Handler):
    """An after-callback that changes the mirror, and the signal that says how.

    ``change`` makes the change on the locked group and returns the signal's arguments
    (besides ``group``), or ``None`` when the delivery changes nothing (a repeat, or older
    than what the mirror shows): it is then a duplicate, and not announced. ``apply`` runs
    once per event (a replay or a task worker announces the outcome kept on the event).
    """

    sender = IMGroup

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        group = mirror.lock_group(data["group_id"])
        details = self.change(group, event, data)
        if details is None:
            note = f"Nothing to change in group {group.group_id!r}: the mirror shows it already."
            return Outcome(Status.DUPLICATE, note)
        if group.last_event_id == event.pk:  # its own fields changed (mirror.touch)
            group.save()
        return Outcome(announce={"group": group, **details})

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        raise NotImplementedError


class CreateGroupHandler(GroupChangeHandler):
    signal = group_created

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        if mirror.was_created(group, event) or mirror.is_older(group, data["event_time"]):
            return None
        group.name = data["groupName"] or group.name
        group.owner_id = data["ownerUserID"] or group.owner_id
        group.group_type = (data["groupType"] or (None, group.group_type))[1]
        group.created_at = data["createTime"] or group.created_at
        group.info = {key: data[key] for key in CREATE_INFO_FIELDS}
        mirror.touch(group, event, data["event_time"])
        founders = founding_members(data["initMemberList"], imcallback_settings.admin_user_ids)
        if group.owner_id and group.owner_id not in founders:
            founders = {group.owner_id: OWNER, **founders}
        mirror.admit(group, event, founders, Source.CREATED, data["event_time"])
        return {"member_ids": list(founders)}


class MembersJoinHandler(GroupChangeHandler):
    """The before-callback that names members just before the server stores them: for a
    creation, an invitation, a direct join or an approved application. The only callback
    that names invited and approved members, so the mirror takes them from it."""

    signal = group_members_joined

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        users = {m["userID"]: None for m in data["memberList"]}
        joined = mirror.admit(group, event, users, Source.ANNOUNCED, data["event_time"])
        return {"user_ids": joined, "how": Source.ANNOUNCED.value} if joined else None


class JoinHandler(GroupChangeHandler):
    signal = group_members_joined

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        users = {data["inviterUserID"]: None}
        joined = mirror.admit(group, event, users, Source.JOINED, data["event_time"])
        return {"user_ids": joined, "how": Source.JOINED.value} if joined else None


class QuitHandler(GroupChangeHandler):
    signal = group_member_left

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        left = mirror.release(group, event, [data["userID"]], Source.QUIT, data["event_time"])
        if not left:
            return None
        return {"user_ids": left, "reason": "quit", "kicked_by": "", "message": ""}


class KickHandler(GroupChangeHandler):
    signal = group_member_left

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
    signal = group_owner_changed

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

    signal = group_info_changed
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

    unchanged = (None,)


class SetMemberInfoHandler(GroupChangeHandler):
    signal = group_member_changed

    def change(self, group: IMGroup, event: CallbackEvent, data: Data) -> Details:
        user = data["userID"]
        member = mirror.members(group, [user]).get(user) or IMGroupMember(
            group=group, user_id=user, joined_at=timezone.now(), joined_how=Source.SEEN
        )
        if mirror.is_older(member, data["event_time"], event):
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


def founding_members(
    entries: list[dict[str, Any]], admin_user_ids: Collection[str]
) -> dict[str, int]:
    """The members a creation stores, user ID -> role level, owner first.

    The after-create list names the owner (100) and the admins (60), then every user of the
    creation again at 20, and after them the operator when not among them (e.g. the
    server's admin user creating through the REST API), who does not become a member. So:
    each user's first (highest) role, and the server's admin users
    (``IMCALLBACK["ADMIN_USER_IDS"]``) left out unless listed before the repeats.
    """
    roles: dict[str, int] = {}
    repeats_from = len(entries)
    for index, entry in enumerate(entries):
        user = entry["userID"]
        if user in roles:
            repeats_from = min(repeats_from, index)
            continue
        roles[user] = entry["roleLevel"] if entry["roleLevel"] is not None else ORDINARY
    first = {entry["userID"]: index for index, entry in reversed(list(enumerate(entries)))}
    return {
        user: role
        for user, role in roles.items()
        if user not in admin_user_ids or first[user] < repeats_from
    }


# -- the bodies the server sends ---------------------------------------------------------


def group_info(group: str, owner: str, member_count: int, name: str = "") -> dict[str, Any]:
    """``sdkws.GroupInfo`` as the server fills it for a new working group (every key: the
    protocol's Go structs do not omit zero values)."""
    now = int(time.time() * 1000)
    return {
        "groupID": group,
        "groupName": name or f"Group {group}",
        "notification": "",
        "introduction": "",
        "faceURL": "",
        "ownerUserID": owner,
        "createTime": now,
        "memberCount": member_count,
        "ex": "",
        "status": 0,
        "creatorUserID": owner,
        "groupType": 2,  # an integer here, unlike the dismissal's string
        "needVerification": 0,
        "lookMemberInfo": 0,
        "applyMemberFriend": 0,
        "notificationUpdateTime": 0,
        "notificationUserID": "",
    }


def _members(x: Example) -> list[str]:
    return [u for u in x.user_ids if u != x.user_id]


def before_create_body(x: Example) -> dict[str, Any]:
    """The proposal: owner (100), then the members (20)."""
    members = [{"userID": x.user_id, "roleLevel": OWNER}]
    members += [{"userID": u, "roleLevel": ORDINARY} for u in _members(x)]
    info = group_info(x.group_id, x.user_id, 0)
    return {
        "operationID": x.operation_id,
        "callbackCommand": "callbackBeforeCreateGroupCommand",
        **info,
        "initMemberList": members,
    }


def after_create_body(x: Example) -> dict[str, Any]:
    """As stored: owner (100), then every user of the creation again at 20, owner last."""
    members = [{"userID": x.user_id, "roleLevel": OWNER}]
    users = [*_members(x), x.user_id]
    members += [{"userID": u, "roleLevel": ORDINARY} for u in users]
    return {
        "callbackCommand": "callbackAfterCreateGroupCommand",
        **group_info(x.group_id, x.user_id, len(users)),
        "initMemberList": members,
    }


def _set_info(command: str, x: Example, flags: Any) -> dict[str, Any]:
    return {
        "callbackCommand": command,
        "operationID": "",  # the server leaves it empty
        "groupID": x.group_id,
        "groupName": f"Group {x.group_id} renamed",
        "notification": "",
        "introduction": "",
        "faceURL": "",
        "ex": "" if flags == 0 else None,
        **dict.fromkeys(("needVerification", "lookMemberInfo", "applyMemberFriend"), flags),
    }


def _set_info_ex(command: str, x: Example) -> dict[str, Any]:
    """Only the name changes: every other field ``null`` (unchanged)."""
    unchanged = ("notification", "introduction", "faceURL", "ex")
    flags = ("needVerification", "lookMemberInfo", "applyMemberFriend")
    return {
        "callbackCommand": command,
        "operationID": "",
        "groupID": x.group_id,
        "groupName": f"Group {x.group_id} renamed",
        **dict.fromkeys((*unchanged, *flags)),
    }


def _member_info(command: str, x: Example) -> dict[str, Any]:
    """An owner making the user an administrator."""
    body = {"callbackCommand": command, "groupID": x.group_id, "userID": x.user}
    return {**body, "nickName": None, "faceURL": None, "roleLevel": ADMIN, "ex": None}


_NOT_APPLIED = "notification string never"
GROUP_INFO_ANSWER = fields(
    "groupID *string, groupName *string, notification *string, introduction *string, "
    "faceURL *string, ownerUserID *string, ex *string, status *int32, creatorUserID *string, "
    "groupType *int32, needVerification *int32, lookMemberInfo *int32, "
    "applyMemberFriend *int32 never"
)

COMMANDS = [
    Command(
        "callbackBeforeCreateGroupCommand",
        "beforeCreateGroup",
        before=True,
        serializer=CreateGroupSerializer,
        example=before_create_body,
        answer=GROUP_INFO_ANSWER,
        user_keys=("ownerUserID",),
        summary="A group is about to be created (the proposal, with its members).",
    ),
    Command(
        "callbackAfterCreateGroupCommand",
        "afterCreateGroup",
        before=False,
        serializer=CreateGroupSerializer,
        example=after_create_body,
        handler_class=CreateGroupHandler,
        user_keys=("ownerUserID",),
        summary="A group was created: its info and founding members.",
    ),
    Command(
        "callbackBeforeMembersJoinGroupCommand",
        "beforeMemberJoinGroup",
        before=True,
        serializer=MembersJoinSerializer,
        example=lambda x: {
            "callbackCommand": "callbackBeforeMembersJoinGroupCommand",
            "groupID": x.group_id,
            "memberList": [{"userID": u, "ex": ""} for u in x.user_ids] or None,
            "groupEx": "",
        },
        handler_class=MembersJoinHandler,
        answer=fields("memberCallbackList []*MemberJoinGroupCallBack bykey ->memberList", STRUCTS),
        summary="Users are about to become members (creation, invitation, direct join, "
        "approved application).",
    ),
    Command(
        "callbackBeforeInviteJoinGroupCommand",
        "beforeInviteUserToGroup",
        before=True,
        serializer=InviteSerializer,
        example=lambda x: {
            "callbackCommand": "callbackBeforeInviteJoinGroupCommand",
            "operationID": x.operation_id,
            "groupID": x.group_id,
            "reason": "",
            "invitedUserIDs": list(x.user_ids) or None,
        },
        answer=fields("refusedMembersAccount []string never"),
        summary="Users are about to be invited (block only).",
    ),
    Command(
        "callbackBeforeJoinGroupCommand",
        "beforeApplyJoinGroup",
        before=True,
        serializer=ApplySerializer,
        example=lambda x: {
            "callbackCommand": "callbackBeforeJoinGroupCommand",
            "groupID": x.group_id,
            "groupType": "\u0002",  # Go's string(rune(2))
            "applyID": x.user,
            "reqMessage": x.text,
            "ex": "",
        },
        user_keys=("applyID",),
        summary="A user applies to join (block only).",
    ),
    Command(
        "callbackAfterJoinGroupCommand",
        "afterJoinGroup",
        before=False,
        serializer=JoinSerializer,
        example=lambda x: {
            "callbackCommand": "callbackAfterJoinGroupCommand",
            "operationID": x.operation_id,
            "groupID": x.group_id,
            "reqMessage": "",
            "joinSource": 3,  # search
            "inviterUserID": x.user,  # the user who joined
        },
        handler_class=JoinHandler,
        user_keys=("inviterUserID",),
        summary="A user joined directly (no verification); inviterUserID is the joiner.",
    ),
    Command(
        "callbackAfterQuitGroupCommand",
        "afterQuitGroup",
        before=False,
        serializer=QuitSerializer,
        example=lambda x: {
            "callbackCommand": "callbackAfterQuitGroupCommand",
            "groupID": x.group_id,
            "userID": x.user,
        },
        handler_class=QuitHandler,
        user_keys=("userID",),
        summary="A user left the group.",
    ),
    Command(
        "callbackAfterKickGroupCommand",
        "afterKickGroupMember",
        before=False,
        serializer=KickSerializer,
        example=lambda x: {
            "callbackCommand": "callbackAfterKickGroupCommand",
            "groupID": x.group_id,
            "kickedUserIDs": list(x.user_ids) or None,
            "reason": "",
        },
        handler_class=KickHandler,
        summary="Users were removed from the group.",
    ),
    Command(
        "callbackAfterTransferGroupOwnerCommand",
        "afterTransferGroupOwner",
        before=False,
        serializer=TransferOwnerSerializer,
        example=lambda x: {
            "callbackCommand": "callbackAfterTransferGroupOwnerCommand",
            "groupID": x.group_id,
            "oldOwnerUserID": x.user_id,
            "newOwnerUserID": x.user,
        },
        handler_class=TransferOwnerHandler,
        user_keys=("newOwnerUserID",),
        summary="The group has a new owner.",
    ),
    Command(
        "callbackBeforeSetGroupInfoCommand",
        "beforeSetGroupInfo",
        before=True,
        serializer=SetGroupInfoSerializer,
        example=lambda x: _set_info("callbackBeforeSetGroupInfoCommand", x, 0),
        answer=fields(
            f"groupID string always, groupName string always, {_NOT_APPLIED}, "
            "introduction string always, faceURL string always, ex *string, "
            "needVerification *int32, lookMemberInfo *int32, applyMemberFriend *int32"
        ),
        summary="The group's info is about to change (/group/set_group_info).",
    ),
    Command(
        "callbackAfterSetGroupInfoCommand",
        "afterSetGroupInfo",
        before=False,
        serializer=SetGroupInfoSerializer,
        example=lambda x: _set_info("callbackAfterSetGroupInfoCommand", x, None),
        handler_class=SetGroupInfoHandler,
        summary="The group's info changed (/group/set_group_info).",
    ),
    Command(
        "callbackBeforeSetGroupInfoExCommand",
        "beforeSetGroupInfoEx",
        before=True,
        serializer=SetGroupInfoExSerializer,
        example=lambda x: _set_info_ex("callbackBeforeSetGroupInfoExCommand", x),
        answer=fields(
            "groupID string always, groupName *StringValue always, "
            "notification *StringValue never, introduction *StringValue always, "
            "faceURL *StringValue always, ex *StringValue always, "
            "needVerification *Int32Value always, lookMemberInfo *Int32Value always, "
            "applyMemberFriend *Int32Value always"
        ),
        summary="The group's info is about to change (/group/set_group_info_ex, the SDK's).",
    ),
    Command(
        "callbackAfterSetGroupInfoExCommand",
        "afterSetGroupInfoEx",
        before=False,
        serializer=SetGroupInfoExSerializer,
        example=lambda x: _set_info_ex("callbackAfterSetGroupInfoExCommand", x),
        handler_class=SetGroupInfoExHandler,
        summary="The group's info changed (/group/set_group_info_ex, the SDK's).",
    ),
    Command(
        "callbackBeforeSetGroupMemberInfoCommand",
        "beforeSetGroupMemberInfo",
        before=True,
        serializer=SetMemberInfoSerializer,
        example=lambda x: _member_info("callbackBeforeSetGroupMemberInfoCommand", x),
        answer=fields("ex *string, nickName *string, faceURL *string, roleLevel *int32"),
        user_keys=("userID",),
        summary="A member's role or profile in the group is about to change.",
    ),
    Command(
        "callbackAfterSetGroupMemberInfoCommand",
        "afterSetGroupMemberInfo",
        before=False,
        serializer=SetMemberInfoSerializer,
        example=lambda x: _member_info("callbackAfterSetGroupMemberInfoCommand", x),
        handler_class=SetMemberInfoHandler,
        user_keys=("userID",),
        summary="A member's role or profile in the group changed.",
    ),
]
