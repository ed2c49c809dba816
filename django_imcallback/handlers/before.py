"""Typed before-callbacks outside the group family: messages, pushes, users, friends.

Each is a records-only handler: its body is validated, its deciders (``decisions``) answer
it, and the record policy decides whether it is written. Bodies follow the server's
structs loosely on purpose: every key is optional, types are checked, unknown keys are
kept in the raw body, because these sit on the user's critical path and a receiver that
refuses a body the server will send tomorrow refuses nothing (an invalid body is answered
with an error OpenIM reads as "go on"), but decides nothing either.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ..serializers import MemberIDsField, WireStringField
from .groups import integer, record_only, text


def ids() -> MemberIDsField:
    return MemberIDsField(required=False)


class BeforeBodySerializer(serializers.Serializer[Any]):
    callbackCommand = WireStringField(required=False, allow_blank=True)


class MessageSerializer(BeforeBodySerializer):
    """``CommonCallbackReq``: every message callback, one-to-one (``recvID``) or group."""

    sendID = text()
    serverMsgID = text()
    clientMsgID = text()
    senderPlatformID = integer()
    senderNickname = text()
    sessionType = integer()
    msgFrom = integer()
    contentType = integer()
    status = integer()
    sendTime = integer(64)
    createTime = integer(64)
    content = text()  # itself JSON, as a string
    seq = integer(64)
    atUserList = ids()
    faceURL = text()
    ex = text()
    recvID = text()
    groupID = text()


class PushSerializer(MessageSerializer):
    """Online, offline and group online pushes: a message and whom it goes to."""

    userIDList = ids()
    userIDs = ids()
    platformID = integer()


class UserInfoSerializer(BeforeBodySerializer):
    """``callbackBeforeUpdateUserInfo(Ex)Command``: ``null`` fields are unchanged."""

    userID = text()
    nickName = text()
    nickname = text()
    faceURL = text()
    ex = text()


class UserRegisterSerializer(BeforeBodySerializer):
    secret = text()
    users = serializers.ListField(
        child=serializers.DictField(), required=False, allow_null=True, default=list
    )


class FriendSerializer(BeforeBodySerializer):
    """The friend before-callbacks: a request, an answer to one, an import, a remark."""

    fromUserID = text()
    toUserID = text()
    ownerUserID = text()
    friendUserID = text()
    friendUserIDs = ids()
    reqMsg = text()
    handleMsg = text()
    handleResult = integer()
    remark = text()
    ex = text()


class BlackSerializer(BeforeBodySerializer):
    ownerUserID = text()
    blackUserID = text()


BEFORE_COMMANDS = {
    "callbackBeforeSendSingleMsgCommand": MessageSerializer,
    "callbackBeforeSendGroupMsgCommand": MessageSerializer,
    "callbackBeforeMsgModifyCommand": MessageSerializer,
    "callbackBeforeOnlinePushCommand": PushSerializer,
    "callbackBeforeOfflinePushCommand": PushSerializer,
    "callbackBeforeGroupOnlinePushCommand": PushSerializer,
    "callbackBeforeUserRegisterCommand": UserRegisterSerializer,
    "callbackBeforeUpdateUserInfoCommand": UserInfoSerializer,
    "callbackBeforeUpdateUserInfoExCommand": UserInfoSerializer,
    "callbackBeforeAddFriendCommand": FriendSerializer,
    "callbackBeforeAddFriendAgreeCommand": FriendSerializer,
    "callbackBeforeImportFriendsCommand": FriendSerializer,
    "callbackBeforeSetFriendRemarkCommand": FriendSerializer,
    "callbackBeforeAddBlackCommand": BlackSerializer,
}


def handlers() -> list[Any]:
    return [record_only(command, serializer) for command, serializer in BEFORE_COMMANDS.items()]
