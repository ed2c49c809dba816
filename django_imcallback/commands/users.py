"""The user before-callbacks (``pkg/callbackstruct/user.go``): a registration and the two
profile updates. ``nickName`` is the update bodies' spelling (``UserInfo`` has
``nickname``); ``ex`` is always ``null`` in them, whatever the request changes."""

from __future__ import annotations

import time
from typing import Any

from rest_framework import serializers

from ..wire.fields import BodySerializer, IDField, integer, object_list, text
from ..wire.golang import fields
from ..wire.server import STRUCTS
from .base import Command, Example


class UserInfoSerializer(serializers.Serializer[Any]):
    """``sdkws.UserInfo``."""

    userID = IDField()
    nickname = text()
    faceURL = text()
    ex = text()
    createTime = integer(64)
    appMangerLevel = integer()
    globalRecvMsgOpt = integer()


class UserRegisterSerializer(BodySerializer):
    users = object_list(UserInfoSerializer())


class UpdateUserInfoSerializer(BodySerializer):
    """``callbackBeforeUpdateUserInfo(Ex)Command``: ``null`` fields are unchanged (in the
    Ex body; the other always has ``nickName`` and ``faceURL``)."""

    userID = text()
    nickName = text()
    faceURL = text()
    ex = text()


def register_body(x: Example) -> dict[str, Any]:
    users = [
        {
            "userID": user,
            "nickname": user,
            "faceURL": "",
            "ex": "",
            "createTime": int(time.time() * 1000),
            "appMangerLevel": 0,
            "globalRecvMsgOpt": 0,
        }
        for user in x.user_ids
    ]
    return {"callbackCommand": "callbackBeforeUserRegisterCommand", "users": users}


def update_body(command: str, x: Example, *, ex: bool) -> dict[str, Any]:
    """``x.user`` renames itself ``x.text``; the Ex update leaves the face URL ``null``."""
    return {
        "callbackCommand": command,
        "userID": x.user,
        "nickName": x.text,
        "faceURL": None if ex else "",
        "ex": None,
    }


COMMANDS = [
    Command(
        "callbackBeforeUserRegisterCommand",
        "beforeUserRegister",
        before=True,
        serializer=UserRegisterSerializer,
        example=register_body,
        answer=fields("users []*UserInfo nonempty", STRUCTS),
        group_key="",
        summary="Users are about to be registered (/user/user_register).",
    ),
    Command(
        "callbackBeforeUpdateUserInfoCommand",
        "beforeUpdateUserInfo",
        before=True,
        serializer=UpdateUserInfoSerializer,
        example=lambda x: update_body("callbackBeforeUpdateUserInfoCommand", x, ex=False),
        answer=fields("nickName *string, faceURL *string, ex *string"),
        group_key="",
        user_keys=("userID",),
        summary="A user's profile is about to change (/user/update_user_info).",
    ),
    Command(
        "callbackBeforeUpdateUserInfoExCommand",
        "beforeUpdateUserInfoEx",
        before=True,
        serializer=UpdateUserInfoSerializer,
        example=lambda x: update_body("callbackBeforeUpdateUserInfoExCommand", x, ex=True),
        answer=fields(
            "nickName *StringValue deref, faceURL *StringValue deref, ex *StringValue deref"
        ),
        group_key="",
        user_keys=("userID",),
        summary="A user's profile is about to change (/user/update_user_info_ex, the SDK's).",
    ),
]
