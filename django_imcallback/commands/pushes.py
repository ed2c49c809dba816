"""The push before-callbacks (``pkg/callbackstruct/push.go``): a message about to be pushed,
and to whom. The online push reads its answer only for a block; the offline and group
online pushes take ``userIDList`` (the recipients) from a non-empty answer."""

from __future__ import annotations

import secrets
from typing import Any

from ..wire.fields import BodySerializer, BooleanField, ids, integer, text
from ..wire.golang import fields
from ..wire.server import STRUCTS
from .base import Command, Example
from .messages import TEXT, text_content


class PushSerializer(BodySerializer):
    """``UserStatusBaseCallback`` and the message's fields."""

    operationID = text()
    platformID = integer(64)  # Go's int
    platform = text()
    clientMsgID = text()
    sendID = text()
    groupID = text()
    contentType = integer()
    sessionType = integer()
    atUserIDList = ids()
    content = text()


class OnlinePushSerializer(PushSerializer):
    userIDList = ids()


class OfflinePushSerializer(OnlinePushSerializer):
    """With the message's ``OfflinePushInfo`` flattened in (absent when it has none)."""

    title = text()
    desc = text()
    ex = text()
    iOSPushSound = text()
    iOSBadgeCount = BooleanField(required=False, allow_null=True, default=None)
    signalInfo = text()


class GroupOnlinePushSerializer(PushSerializer):
    seq = integer(64)


def push_body(command: str, x: Example, *, group: bool, offline: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callbackCommand": command,
        "operationID": x.operation_id,
        "platformID": 1,
        "platform": "iOS",
    }
    if not group:
        body["userIDList"] = list(x.user_ids)
    if offline:
        body.update(title=x.user_id, desc=x.text, ex="", iOSPushSound="", iOSBadgeCount=False)
        body["signalInfo"] = ""
    body.update(
        {
            "clientMsgID": secrets.token_hex(16),
            "sendID": x.user_id,
            "groupID": x.group_id if group else "",
            "contentType": TEXT,
            "sessionType": 3 if group else 1,
            "atUserIDList": None,
            "content": text_content(x.text),
        }
    )
    if group:
        body["seq"] = 1
    return body


_NOT_APPLIED = "offlinePushInfo *OfflinePushInfo never"

COMMANDS = [
    Command(
        "callbackBeforeOnlinePushCommand",
        "beforeOnlinePush",
        before=True,
        serializer=OnlinePushSerializer,
        example=lambda x: push_body("callbackBeforeOnlinePushCommand", x, group=False),
        answer=fields(f"userIDList []string never, {_NOT_APPLIED}", STRUCTS),
        group_key="",
        user_keys=("sendID",),
        summary="A one-to-one message is about to be pushed online (block only).",
    ),
    Command(
        "callbackBeforeOfflinePushCommand",
        "beforeOfflinePush",
        before=True,
        serializer=OfflinePushSerializer,
        example=lambda x: push_body(
            "callbackBeforeOfflinePushCommand", x, group=False, offline=True
        ),
        answer=fields(
            "userIDList []string nonempty, offlinePushInfo *OfflinePushInfo nonnull ->*",
            STRUCTS,
        ),
        group_key="",
        user_keys=("sendID",),
        summary="A message is about to be pushed offline (its recipients and push info).",
    ),
    Command(
        "callbackBeforeGroupOnlinePushCommand",
        "beforeGroupOnlinePush",
        before=True,
        serializer=GroupOnlinePushSerializer,
        example=lambda x: push_body("callbackBeforeGroupOnlinePushCommand", x, group=True),
        answer=fields(f"userIDList []string nonempty, {_NOT_APPLIED}", STRUCTS),
        user_keys=("sendID",),
        summary="A group message is about to be pushed online (its recipients).",
    ),
]
