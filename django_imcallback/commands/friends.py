"""The friend before-callbacks (``pkg/callbackstruct/friend.go``), keys as the server spells
them: an agreement names the accepting user ``blackUserID`` and has ``HandleResult`` and
``HandleMsg`` with capitals."""

from __future__ import annotations

from typing import Any

from ..wire.fields import BodySerializer, ids, integer, text
from ..wire.golang import fields
from .base import Command


class AddFriendSerializer(BodySerializer):
    """A friend application from ``fromUserID`` to ``toUserID``."""

    fromUserID = text()
    toUserID = text()
    reqMsg = text()
    ex = text()


class AddFriendAgreeSerializer(BodySerializer):
    """``blackUserID`` (sic) accepts ``fromUserID``'s application."""

    fromUserID = text()
    blackUserID = text()
    HandleResult = integer()
    HandleMsg = text()


class ImportFriendsSerializer(BodySerializer):
    ownerUserID = text()
    friendUserIDs = ids()


class FriendRemarkSerializer(BodySerializer):
    ownerUserID = text()
    friendUserID = text()
    remark = text()


class BlackSerializer(BodySerializer):
    ownerUserID = text()
    blackUserID = text()


def _command(name: str, yml: str, serializer: Any, example: Any, **kwargs: Any) -> Command:
    return Command(name, yml, True, serializer, example, group_key="", **kwargs)


COMMANDS = [
    _command(
        "callbackBeforeAddFriendCommand",
        "beforeAddFriend",
        AddFriendSerializer,
        lambda x: {
            "callbackCommand": "callbackBeforeAddFriendCommand",
            "fromUserID": x.user_id,
            "toUserID": x.user,
            "reqMsg": x.text,
            "ex": "",
        },
        user_keys=("fromUserID",),
        summary="A user is about to ask another to be friends (block only).",
    ),
    _command(
        "callbackBeforeAddFriendAgreeCommand",
        "beforeAddFriendAgree",
        AddFriendAgreeSerializer,
        lambda x: {
            "callbackCommand": "callbackBeforeAddFriendAgreeCommand",
            "fromUserID": x.user_id,
            "blackUserID": x.user,  # the user who agrees
            "HandleResult": 1,
            "HandleMsg": x.text,
        },
        user_keys=("fromUserID",),
        summary="A user is about to accept a friend application (block only).",
    ),
    _command(
        "callbackBeforeImportFriendsCommand",
        "beforeImportFriends",
        ImportFriendsSerializer,
        lambda x: {
            "callbackCommand": "callbackBeforeImportFriendsCommand",
            "ownerUserID": x.user_id,
            "friendUserIDs": list(x.user_ids) or None,
        },
        answer=fields("friendUserIDs []string nonempty"),
        user_keys=("ownerUserID",),
        summary="Friends are about to be imported for a user (/friend/import_friend).",
    ),
    _command(
        "callbackBeforeSetFriendRemarkCommand",
        "beforeSetFriendRemark",
        FriendRemarkSerializer,
        lambda x: {
            "callbackCommand": "callbackBeforeSetFriendRemarkCommand",
            "ownerUserID": x.user_id,
            "friendUserID": x.user,
            "remark": x.text,
        },
        answer=fields("remark string nonempty"),
        user_keys=("ownerUserID",),
        summary="A user is about to set a remark on a friend.",
    ),
    _command(
        "callbackBeforeAddBlackCommand",
        "beforeAddBlack",
        BlackSerializer,
        lambda x: {
            "callbackCommand": "callbackBeforeAddBlackCommand",
            "ownerUserID": x.user_id,
            "blackUserID": x.user,
        },
        user_keys=("ownerUserID",),
        summary="A user is about to block another (block only).",
    ),
]
