"""A model of how the OpenIM server reads a before-callback's answer: ``read_answer``.

Written from open-im-server ``main`` at 7848d7c7354945fe7b40f6b990db8b6013a9037c
(2026-07-02): the request and response structs of ``pkg/callbackstruct/*.go``, and how
``internal/rpc/{group,msg,user,relation,conversation}/callback.go`` and
``internal/push/callback.go`` apply an answer to the request; with openimsdk/protocol
91e8d26 (``sdkws``, ``wrapperspb``) and openimsdk/tools b233959 (``datautil.NotNilReplace``).
The table below is kept apart from the commands' declarations on purpose: the tests check
every declaration against it, and read every answer the app gives through it.

The server ``json.Unmarshal``s the answer into the command's response struct (a decoding
error fails the call, which refuses the user's action), blocks when ``actionCode == 0 &&
nextCode == 1``, and otherwise copies answer fields onto its request, field by field.
Where the server dereferences a pointer it has not checked (``deref``, ``bykey``), a
``null`` there would crash its call: read as refused (an inference; the RPC's recovery
answers the user with an error).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from .golang import Answer, Field, GoDecodeError, Struct, decode_answer, fields, struct

#: Structs the answers and requests nest (``sdkws``, ``apistruct``, ``callbackstruct``).
STRUCTS: dict[str, Struct] = {}
STRUCTS["UserInfo"] = struct(
    "UserInfo",
    "userID string, nickname string, faceURL string, ex string, createTime int64, "
    "appMangerLevel int32, globalRecvMsgOpt int32",
)
STRUCTS["OfflinePushInfo"] = struct(
    "OfflinePushInfo",
    "title string, desc string, ex string, iOSPushSound string, iOSBadgeCount bool, "
    "signalInfo string",
)
STRUCTS["MemberJoinGroupCallBack"] = struct(
    "MemberJoinGroupCallBack",
    "userID *string, nickname *string, faceURL *string, roleLevel *int32, muteEndTime *int64, "
    "ex *string",
)
STRUCTS["GroupAddMemberInfo"] = struct("GroupAddMemberInfo", "userID string, roleLevel int32")
STRUCTS["CallbackGroupMember"] = struct("CallbackGroupMember", "userID string, ex string")

_MSG = (
    "sendID string, callbackCommand string, serverMsgID string, clientMsgID string, "
    "operationID string, senderPlatformID int32, senderNickname string, sessionType int32, "
    "msgFrom int32, contentType int32, status int32, sendTime int64, createTime int64, "
    "content string, seq uint32, atUserList []string, faceURL string, ex string"
)
_PUSH = (
    "callbackCommand string, operationID string, platformID int, platform string, "
    "userIDList []string"
)
_PUSHED = (
    "clientMsgID string, sendID string, groupID string, contentType int32, sessionType int32, "
    "atUserIDList []string, content string"
)
_GROUP_INFO = (
    "groupID string, groupName string, notification string, introduction string, "
    "faceURL string, ownerUserID string, createTime int64, memberCount uint32, ex string, "
    "status int32, creatorUserID string, groupType int32, needVerification int32, "
    "lookMemberInfo int32, applyMemberFriend int32, notificationUpdateTime int64, "
    "notificationUserID string"
)
_CONVERSATION = (
    "callbackCommand string, ownerUserId string, conversationId string, "
    "conversationType int32, {who} string, recvMsgOpt int32, isPinned bool, "
    "isPrivateChat bool, burnDuration int32, groupAtType int32, attachedInfo string, ex string"
)
_CONVERSATION_ANSWER = (
    "recvMsgOpt *int32, isPinned *bool, isPrivateChat *bool, burnDuration *int32, "
    "groupAtType *int32, attachedInfo *string, ex *string"
)
_OFFLINE_PUSH_INFO = (
    "title string, desc string, ex string, iOSPushSound string, iOSBadgeCount bool, "
    "signalInfo string"
)
_SET_GROUP_INFO_EX = (
    "callbackCommand string, operationID string, groupID string, "
    "groupName *StringValue, notification *StringValue, introduction *StringValue, "
    "faceURL *StringValue, ex *StringValue, needVerification *Int32Value, "
    "lookMemberInfo *Int32Value, applyMemberFriend *Int32Value"
)

#: Every before-callback: (its request as the server sends it, its answer as the server
#: reads it). A request key ending in ``?`` may be absent (an embedded nil pointer).
BEFORE: dict[str, tuple[str, str]] = {
    "callbackBeforeSendSingleMsgCommand": (f"{_MSG}, recvID string", ""),
    "callbackBeforeSendGroupMsgCommand": (f"{_MSG}, groupID string", ""),
    "callbackBeforeMsgModifyCommand": (
        _MSG,
        "content *string json, recvID *string, groupID *string, clientMsgID *string, "
        "serverMsgID *string, senderPlatformID *int32, senderNickname *string, "
        "senderFaceURL *string ->faceURL, sessionType *int32, msgFrom *int32, "
        "contentType *int32, status *int32, options *map[string]bool, "
        "offlinePushInfo *OfflinePushInfo, atUserIDList *[]string ->atUserList, "
        "msgDataList *[]byte never, attachedInfo *string, ex *string",
    ),
    "callbackBeforeOnlinePushCommand": (
        f"{_PUSH}, {_PUSHED}",
        "userIDList []string never, offlinePushInfo *OfflinePushInfo never",
    ),
    "callbackBeforeOfflinePushCommand": (
        f"{_PUSH}, {_OFFLINE_PUSH_INFO.replace(' string', '? string').replace(' bool', '? bool')}"
        f", {_PUSHED}",
        "userIDList []string nonempty, offlinePushInfo *OfflinePushInfo nonnull ->*",
    ),
    "callbackBeforeGroupOnlinePushCommand": (
        f"{_PUSH.removesuffix(', userIDList []string')}, {_PUSHED}, seq int64",
        "userIDList []string nonempty, offlinePushInfo *OfflinePushInfo never",
    ),
    "callbackBeforeUserRegisterCommand": (
        "callbackCommand string, users []*UserInfo",
        "users []*UserInfo nonempty",
    ),
    "callbackBeforeUpdateUserInfoCommand": (
        "callbackCommand string, userID string, nickName *string, faceURL *string, ex *string",
        "nickName *string, faceURL *string, ex *string",
    ),
    "callbackBeforeUpdateUserInfoExCommand": (
        "callbackCommand string, userID string, nickName *StringValue, faceURL *StringValue, "
        "ex *StringValue",
        "nickName *StringValue deref, faceURL *StringValue deref, ex *StringValue deref",
    ),
    "callbackBeforeAddFriendCommand": (
        "callbackCommand string, fromUserID string, toUserID string, reqMsg string, ex string",
        "",
    ),
    "callbackBeforeAddFriendAgreeCommand": (
        "callbackCommand string, fromUserID string, blackUserID string, HandleResult int32, "
        "HandleMsg string",
        "",
    ),
    "callbackBeforeImportFriendsCommand": (
        "callbackCommand string, ownerUserID string, friendUserIDs []string",
        "friendUserIDs []string nonempty",
    ),
    "callbackBeforeSetFriendRemarkCommand": (
        "callbackCommand string, ownerUserID string, friendUserID string, remark string",
        "remark string nonempty",
    ),
    "callbackBeforeAddBlackCommand": (
        "callbackCommand string, ownerUserID string, blackUserID string",
        "",
    ),
    "callbackBeforeCreateGroupCommand": (
        f"operationID string, callbackCommand string, {_GROUP_INFO}, "
        "initMemberList []*GroupAddMemberInfo",
        "groupID *string, groupName *string, notification *string, introduction *string, "
        "faceURL *string, ownerUserID *string, ex *string, status *int32, "
        "creatorUserID *string, groupType *int32, needVerification *int32, "
        "lookMemberInfo *int32, applyMemberFriend *int32 never",
    ),
    "callbackBeforeMembersJoinGroupCommand": (
        "callbackCommand string, groupID string, memberList []*CallbackGroupMember, groupEx string",
        "memberCallbackList []*MemberJoinGroupCallBack bykey ->memberList",
    ),
    "callbackBeforeInviteJoinGroupCommand": (
        "callbackCommand string, operationID string, groupID string, reason string, "
        "invitedUserIDs []string",
        "refusedMembersAccount []string never",
    ),
    "callbackBeforeJoinGroupCommand": (
        "callbackCommand string, groupID string, groupType string, applyID string, "
        "reqMessage string, ex string",
        "",
    ),
    "callbackBeforeSetGroupInfoCommand": (
        "callbackCommand string, operationID string, groupID string, groupName string, "
        "notification string, introduction string, faceURL string, ex string, "
        "needVerification int32, lookMemberInfo int32, applyMemberFriend int32",
        "groupID string always, groupName string always, notification string never, "
        "introduction string always, faceURL string always, ex *string, "
        "needVerification *int32, lookMemberInfo *int32, applyMemberFriend *int32",
    ),
    "callbackBeforeSetGroupInfoExCommand": (
        _SET_GROUP_INFO_EX,
        "groupID string always, groupName *StringValue always, "
        "notification *StringValue never, introduction *StringValue always, "
        "faceURL *StringValue always, ex *StringValue always, "
        "needVerification *Int32Value always, lookMemberInfo *Int32Value always, "
        "applyMemberFriend *Int32Value always",
    ),
    "callbackBeforeSetGroupMemberInfoCommand": (
        "callbackCommand string, groupID string, userID string, nickName *string, "
        "faceURL *string, roleLevel *int32, ex *string",
        "ex *string, nickName *string, faceURL *string, roleLevel *int32",
    ),
    "callbackBeforeCreateSingleChatConversationsCommand": (
        _CONVERSATION.format(who="userId"),
        _CONVERSATION_ANSWER,
    ),
    "callbackBeforeCreateGroupChatConversationsCommand": (
        _CONVERSATION.format(who="groupId"),
        _CONVERSATION_ANSWER,
    ),
}


@dataclass(frozen=True)
class ServerCommand:
    """A before-callback as the server holds it: its request struct and its response struct
    (the common fields aside)."""

    name: str
    request: tuple[Field, ...]
    #: Request keys the server may leave out (an embedded nil pointer).
    optional: frozenset[str]
    response: Struct


def server_command(name: str) -> ServerCommand:
    """The model of the before-callback ``name`` (exact spelling)."""
    request_spec, response_spec = BEFORE[name]
    optional = frozenset(
        entry.split()[0].removesuffix("?")
        for entry in request_spec.split(",")
        if entry.split()[0].endswith("?")
    )
    request = fields(request_spec.replace("?", ""), STRUCTS)
    return ServerCommand(name, request, optional, Struct(name, fields(response_spec, STRUCTS)))


@dataclass
class Reading:
    """What the server makes of an answer."""

    #: ``"goes on"``, ``"blocked"`` or ``"refused"`` (the answer failed the server's call).
    outcome: str
    #: The request as the action goes on with it (``outcome == "goes on"``).
    request: dict[str, Any] | None = None
    #: What the user gets when blocked: ``errCode``, ``errMsg``, ``errDlt``.
    error: dict[str, Any] = field(default_factory=dict)
    #: Why it was refused.
    reason: str = ""

    @property
    def goes_on(self) -> bool:
        return self.outcome == "goes on"

    def changed(self, request: dict[str, Any]) -> dict[str, Any]:
        """The request keys whose value the answer changed, with their new values."""
        assert self.request is not None
        return {k: v for k, v in self.request.items() if k not in request or request[k] != v}


def read_answer(command: str, request: dict[str, Any], answer: Any) -> Reading:
    """How the server reads ``answer`` (bytes, text or a decoded dict) to the before-callback
    ``command`` whose body was ``request``: blocked, refused, or going on with the request
    as the answer changed it."""
    model = server_command(command)
    try:
        decoded = decode_answer(answer, model.response)
    except GoDecodeError as exc:
        return Reading("refused", reason=str(exc))
    if decoded.blocks:
        error = {k: decoded.common[k] for k in ("errCode", "errMsg", "errDlt")}
        return Reading("blocked", error=error)
    try:
        return Reading("goes on", request=_apply(model, request, decoded))
    except GoDecodeError as exc:
        return Reading("refused", reason=str(exc))


def _apply(model: ServerCommand, request: dict[str, Any], answer: Answer) -> dict[str, Any]:
    result = copy.deepcopy(request)
    for spec in model.response.fields:
        value = answer.values[spec.key]
        target = spec.lands_on
        if spec.how == "never":
            continue
        if spec.how == "always":
            result[target] = value
        elif spec.how == "nonempty":
            if value:
                result[target] = value
        elif value is None:
            continue
        elif spec.how == "json":
            try:
                content = json.loads(value)
            except ValueError:
                content = ""
            if content is not None and not isinstance(content, dict):
                raise GoDecodeError(f"webhook msg modify content is not json: {value!r}")
            result[target] = value
        elif spec.how == "deref":
            if result.get(target) is None:
                raise GoDecodeError(f"nil pointer dereference: the request's {target} is null")
            result[target] = value
        elif spec.how == "bykey":
            _patch_members(result, target, value)
        elif target == "*":
            result.update(value)
        else:
            result[target] = value
    return result


def _patch_members(request: dict[str, Any], target: str, patches: list[Any]) -> None:
    """``memberCallbackList``: each entry patches the joining member with its ``userID``."""
    members = {m.get("userID"): m for m in request.get(target) or [] if isinstance(m, dict)}
    for patch in patches:
        if patch is None or patch["userID"] is None:
            raise GoDecodeError("nil pointer dereference: a memberCallbackList entry has no userID")
        member = members.get(patch["userID"])
        if member is None:
            continue
        member.update({k: v for k, v in patch.items() if k != "userID" and v is not None})
