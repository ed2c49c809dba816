"""The message callbacks (``pkg/callbackstruct/message.go``, ``revoke.go``): every one is
``CommonCallbackReq`` (a message's fields, its ``content`` a JSON string), plus ``recvID``
(one-to-one) or ``groupID`` (groups); the modify callback has neither.

The before-callbacks are typed and recorded (``RECORD`` may keep them out), and decided by
the host's deciders. Bodies are typed as the server's structs have them; an invalid body is
answered with an error the server reads as "go on", and decides nothing.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from ..wire.fields import BodySerializer, ids, integer, text
from ..wire.golang import fields
from ..wire.server import STRUCTS
from .base import Command, Example

TEXT = 101


class MessageSerializer(BodySerializer):
    """``CommonCallbackReq``."""

    sendID = text()
    serverMsgID = text()
    clientMsgID = text()
    operationID = text()
    senderPlatformID = integer()
    senderNickname = text()
    sessionType = integer()
    msgFrom = integer()
    contentType = integer()
    status = integer()
    sendTime = integer(64)
    createTime = integer(64)
    content = text()  # itself JSON, as a string
    seq = integer(unsigned=True)
    atUserList = ids()
    faceURL = text()  # the sender's
    ex = text()


class SingleMessageSerializer(MessageSerializer):
    recvID = text()


class GroupMessageSerializer(MessageSerializer):
    groupID = text()


class RevokeSerializer(BodySerializer):
    """``CallbackAfterRevokeMsgReq``: the revoker, and the message by conversation and seq."""

    conversationID = text()
    seq = integer(64)
    userID = text()


def text_content(text: str) -> str:
    """A text message's ``content``: ``{"content": ...}`` as a JSON string."""
    return json.dumps({"content": text}, ensure_ascii=False, separators=(",", ":"))


def message_body(command: str, x: Example, to: dict[str, str]) -> dict[str, Any]:
    """A text message from ``x.user_id``, keys in ``CommonCallbackReq``'s order."""
    now = int(time.time() * 1000)
    group = "groupID" in to
    return {
        "sendID": x.user_id,
        "callbackCommand": command,
        "serverMsgID": "",
        "clientMsgID": secrets.token_hex(16),
        "operationID": x.operation_id,
        "senderPlatformID": 1,
        "senderNickname": x.user_id,
        "sessionType": 3 if group else 1,
        "msgFrom": 100,
        "contentType": TEXT,
        "status": 1,
        "sendTime": now,
        "createTime": now,
        "content": text_content(x.text),
        "seq": 0,
        "atUserList": None,
        "faceURL": "",
        "ex": "",
        **to,
    }


COMMANDS = [
    Command(
        "callbackBeforeSendSingleMsgCommand",
        "beforeSendSingleMsg",
        before=True,
        serializer=SingleMessageSerializer,
        example=lambda x: message_body("callbackBeforeSendSingleMsgCommand", x, {"recvID": x.user}),
        group_key="",
        user_keys=("sendID",),
        summary="A one-to-one message is about to be sent (block only).",
    ),
    Command(
        "callbackBeforeSendGroupMsgCommand",
        "beforeSendGroupMsg",
        before=True,
        serializer=GroupMessageSerializer,
        example=lambda x: message_body(
            "callbackBeforeSendGroupMsgCommand", x, {"groupID": x.group_id}
        ),
        user_keys=("sendID",),
        summary="A group message is about to be sent (block only).",
    ),
    Command(
        "callbackBeforeMsgModifyCommand",
        "beforeMsgModify",
        before=True,
        serializer=MessageSerializer,
        example=lambda x: message_body("callbackBeforeMsgModifyCommand", x, {}),
        answer=fields(
            "content *string json, recvID *string, groupID *string, clientMsgID *string, "
            "serverMsgID *string, senderPlatformID *int32, senderNickname *string, "
            "senderFaceURL *string ->faceURL, sessionType *int32, msgFrom *int32, "
            "contentType *int32, status *int32, options *map[string]bool, "
            "offlinePushInfo *OfflinePushInfo, atUserIDList *[]string ->atUserList, "
            "msgDataList *[]byte never, attachedInfo *string, ex *string",
            STRUCTS,
        ),
        group_key="",
        user_keys=("sendID",),
        summary="A message may be rewritten before it is sent (after the send checks).",
    ),
    Command(
        "callbackBeforeAfterMsgCommand",
        "afterRevokeMsg",
        before=False,
        serializer=RevokeSerializer,
        example=lambda x: {
            "callbackCommand": "callbackBeforeAfterMsgCommand",
            "conversationID": f"si_{x.user_id}_{x.user}",
            "seq": 1,
            "userID": x.user_id,
        },
        group_key="",
        user_keys=("userID",),
        summary="A message was revoked (an after-callback, despite its name).",
    ),
]
