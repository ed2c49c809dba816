"""The conversation callbacks (``pkg/callbackstruct/conversation.go``, main only): keys
spelled ``ownerUserId``, ``conversationId``, ``userId``, ``groupId`` (a lower-case ``d``).
The before-callbacks may set the new conversation's options."""

from __future__ import annotations

from typing import Any

from ..wire.fields import BodySerializer, BooleanField, integer, text
from ..wire.golang import fields
from .base import Command, Example


def _flag() -> BooleanField:
    return BooleanField(required=False, allow_null=True, default=None)


class ConversationSerializer(BodySerializer):
    ownerUserId = text()
    conversationId = text()
    conversationType = integer()
    recvMsgOpt = integer()
    isPinned = _flag()
    isPrivateChat = _flag()
    burnDuration = integer()
    groupAtType = integer()
    attachedInfo = text()
    ex = text()


class SingleConversationSerializer(ConversationSerializer):
    userId = text()


class GroupConversationSerializer(ConversationSerializer):
    groupId = text()


def conversation_body(command: str, x: Example, *, group: bool) -> dict[str, Any]:
    """A new conversation of ``x.user_id``'s (the group's has no owner: the server sends
    ``""``)."""
    peer = {"groupId": x.group_id} if group else {"userId": x.user}
    return {
        "callbackCommand": command,
        "ownerUserId": "" if group else x.user_id,
        "conversationId": f"sg_{x.group_id}" if group else f"si_{x.user_id}_{x.user}",
        "conversationType": 3 if group else 1,
        **peer,
        "recvMsgOpt": 0,
        "isPinned": False,
        "isPrivateChat": False,
        "burnDuration": 0,
        "groupAtType": 0,
        "attachedInfo": "",
        "ex": "",
    }


ANSWER = fields(
    "recvMsgOpt *int32, isPinned *bool, isPrivateChat *bool, burnDuration *int32, "
    "groupAtType *int32, attachedInfo *string, ex *string"
)

COMMANDS = [
    Command(
        "callbackBeforeCreateSingleChatConversationsCommand",
        "beforeCreateSingleChatConversations",
        before=True,
        serializer=SingleConversationSerializer,
        example=lambda x: conversation_body(
            "callbackBeforeCreateSingleChatConversationsCommand", x, group=False
        ),
        answer=ANSWER,
        group_key="",
        user_keys=("ownerUserId",),
        summary="A one-to-one conversation is about to be created (its options).",
    ),
    Command(
        "callbackBeforeCreateGroupChatConversationsCommand",
        "beforeCreateGroupChatConversations",
        before=True,
        serializer=GroupConversationSerializer,
        example=lambda x: conversation_body(
            "callbackBeforeCreateGroupChatConversationsCommand", x, group=True
        ),
        answer=ANSWER,
        group_key="groupId",
        summary="Group conversations are about to be created (their options).",
    ),
]
