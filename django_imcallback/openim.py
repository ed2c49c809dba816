"""How an OpenIM server puts a callback on the wire, for tools and tests that imitate one."""

from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

DISMISS_GROUP = "callbackAfterDisMissGroupCommand"

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(payload: Any) -> bytes:
    """Encode like Go's ``json.Encoder``: compact, ``<>&`` escaped, trailing newline."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return (text.translate(_GO_ESCAPES) + "\n").encode()


def dismiss_group_body(group_id: str, owner_id: str, member_ids: list[str]) -> dict[str, Any]:
    """A ``CallbackDisMissGroupReq`` as the open-source server fills it in (no eventTime)."""
    return {
        "callbackCommand": DISMISS_GROUP,
        "groupID": group_id,
        "ownerID": owner_id,
        "groupType": "\u0002",  # Go's string(rune(2))
        "membersID": member_ids,
    }


def _group_info(group_id: str, owner_id: str, member_count: int) -> dict[str, Any]:
    """``sdkws.GroupInfo``: protobuf's Go structs omit zero values (``omitempty``)."""
    info = {
        "groupID": group_id,
        "groupName": f"Group {group_id}",
        "ownerUserID": owner_id,
        "createTime": int(time.time() * 1000),
        "memberCount": member_count,
        "creatorUserID": owner_id,
        "groupType": 2,  # an integer here, unlike the dismissal's string
    }
    return {key: value for key, value in info.items() if value}


def group_body(
    command: str,
    group_id: str = "G001",
    owner_id: str = "user123",
    user_ids: list[str] | None = None,
    op_id: str = "",
) -> dict[str, Any]:
    """A group callback's body as the open-source server builds it, keys in its order.

    ``user_ids`` are the users it is about (members, joiners, the quitter, the kicked, the
    new owner, the member whose info changed: the first of them where there is one).
    """
    users = list(user_ids if user_ids is not None else ["user001", "user002"])
    user = users[0] if users else "user001"
    name = command.removeprefix("callback").removesuffix("Command")
    head: dict[str, Any] = {"callbackCommand": command}
    if name == "AfterDisMissGroup":
        return dismiss_group_body(group_id, owner_id, users)
    if name in ("BeforeCreateGroup", "AfterCreateGroup"):
        members = [{"userID": owner_id, "roleLevel": 100}]
        members += [{"userID": u, "roleLevel": 20} for u in users if u != owner_id]
        if name == "BeforeCreateGroup":
            head["operationID"] = op_id
        return {**head, **_group_info(group_id, owner_id, len(members)), "initMemberList": members}
    bodies: dict[str, dict[str, Any]] = {
        "BeforeMembersJoinGroup": {
            "groupID": group_id,
            "memberList": [{"userID": u, "ex": ""} for u in users] or None,
            "groupEx": "",
        },
        "BeforeInviteJoinGroup": {
            "operationID": op_id,
            "groupID": group_id,
            "reason": "",
            "invitedUserIDs": users or None,
        },
        "BeforeJoinGroup": {
            "groupID": group_id,
            "groupType": "\u0002",
            "applyID": user,
            "reqMessage": "hello",
            "ex": "",
        },
        "AfterJoinGroup": {
            "operationID": op_id,
            "groupID": group_id,
            "reqMessage": "",
            "joinSource": 3,  # search
            "inviterUserID": user,  # the user who joined
        },
        "AfterQuitGroup": {"groupID": group_id, "userID": user},
        "AfterKickGroup": {"groupID": group_id, "kickedUserIDs": users or None, "reason": ""},
        "AfterTransferGroupOwner": {
            "groupID": group_id,
            "oldOwnerUserID": owner_id,
            "newOwnerUserID": user,
        },
        "BeforeSetGroupMemberInfo": {
            "groupID": group_id,
            "userID": user,
            "nickName": None,
            "faceURL": None,
            "roleLevel": 60,
            "ex": None,
        },
    }
    bodies["AfterSetGroupMemberInfo"] = bodies["BeforeSetGroupMemberInfo"]
    info = {
        "operationID": op_id,
        "groupID": group_id,
        "groupName": f"Group {group_id} renamed",
        "notification": "",
        "introduction": "",
        "faceURL": "",
        "ex": "",
    }
    flags = {"needVerification": None, "lookMemberInfo": None, "applyMemberFriend": None}
    bodies["BeforeSetGroupInfo"] = {**info, **dict.fromkeys(flags, 0)}
    bodies["AfterSetGroupInfo"] = {**info, **flags}
    bodies["BeforeSetGroupInfoEx"] = bodies["AfterSetGroupInfoEx"] = {
        **dict.fromkeys(info, None),
        "operationID": op_id,
        "groupID": group_id,
        "groupName": f"Group {group_id} renamed",
        **flags,
    }
    if name not in bodies:
        raise ValueError(f"No body known for {command}.")
    return {**head, **bodies[name]}


#: The message commands ``message_body`` builds.
MESSAGE_COMMANDS = [
    "callbackBeforeSendSingleMsgCommand",
    "callbackBeforeSendGroupMsgCommand",
    "callbackBeforeMsgModifyCommand",
    "callbackAfterSendSingleMsgCommand",
    "callbackAfterSendGroupMsgCommand",
]


def message_body(command: str, sender: str, to: str, text: str) -> dict[str, Any]:
    """A ``CommonCallbackReq`` for a text message from ``sender`` to a user or group."""
    now = int(time.time() * 1000)
    group = "Group" in command
    return {
        "callbackCommand": command,
        "sendID": sender,
        "serverMsgID": "",
        "clientMsgID": secrets.token_hex(16),
        "senderPlatformID": 1,
        "senderNickname": sender,
        "sessionType": 3 if group else 1,
        "msgFrom": 100,
        "contentType": 101,  # text
        "status": 1,
        "sendTime": now,
        "createTime": now,
        "content": json.dumps({"content": text}, ensure_ascii=False, separators=(",", ":")),
        "seq": 0,
        "atUserList": None,
        "faceURL": "",
        "ex": "",
        **({"groupID": to} if group else {"recvID": to}),
    }


#: The push before-callbacks ``push_body`` builds.
PUSH_COMMANDS = [
    "callbackBeforeOnlinePushCommand",
    "callbackBeforeOfflinePushCommand",
    "callbackBeforeGroupOnlinePushCommand",
]


def push_body(
    command: str, sender: str, to: list[str], text: str, op_id: str = ""
) -> dict[str, Any]:
    """A push before-callback: ``UserStatusBatchCallbackReq`` and the message's fields (the
    group online push: the group's, with ``seq``, and no recipient list)."""
    group = "Group" in command
    body: dict[str, Any] = {
        "callbackCommand": command,
        "operationID": op_id,
        "platformID": 0,
        "platform": "",
    }
    if not group:
        body["userIDList"] = to
    body.update(
        {
            "clientMsgID": secrets.token_hex(16),
            "sendID": sender,
            "groupID": to[0] if group and to else "",
            "contentType": 101,
            "sessionType": 3 if group else 1,
            "atUserIDList": None,
            "content": json.dumps({"content": text}, ensure_ascii=False, separators=(",", ":")),
        }
    )
    if group:
        body["seq"] = 1
    return body


#: The user before-callbacks ``user_body`` builds.
USER_COMMANDS = [
    "callbackBeforeUserRegisterCommand",
    "callbackBeforeUpdateUserInfoCommand",
    "callbackBeforeUpdateUserInfoExCommand",
]


def user_body(command: str, user_ids: list[str], nickname: str = "") -> dict[str, Any]:
    """A user before-callback: a registration of ``user_ids`` (``sdkws.UserInfo`` omits
    zero values), or the first one's profile update (``null``: unchanged)."""
    if command == "callbackBeforeUserRegisterCommand":
        users = [
            {"userID": user, "nickname": nickname or user, "createTime": int(time.time() * 1000)}
            for user in user_ids
        ]
        return {"callbackCommand": command, "users": users}
    return {
        "callbackCommand": command,
        "userID": user_ids[0] if user_ids else "",
        "nickName": nickname or None,
        "faceURL": None,
        "ex": None,
    }


#: The friend before-callbacks ``friend_body`` builds.
FRIEND_COMMANDS = [
    "callbackBeforeAddFriendCommand",
    "callbackBeforeAddFriendAgreeCommand",
    "callbackBeforeImportFriendsCommand",
    "callbackBeforeSetFriendRemarkCommand",
    "callbackBeforeAddBlackCommand",
]


def friend_body(command: str, owner: str, others: list[str], text: str = "") -> dict[str, Any]:
    """A friend before-callback from ``owner`` about ``others`` (the first, where the
    command is about one user), with the server's own key names (``blackUserID`` and
    ``HandleResult`` in an agreement included)."""
    other = others[0] if others else ""
    name = command.removeprefix("callbackBefore").removesuffix("Command")
    bodies: dict[str, dict[str, Any]] = {
        "AddFriend": {"fromUserID": owner, "toUserID": other, "reqMsg": text, "ex": ""},
        "AddFriendAgree": {
            "fromUserID": owner,
            "blackUserID": other,  # sic: the server's tag for the user who agrees
            "HandleResult": 1,
            "HandleMsg": text,
        },
        "ImportFriends": {"ownerUserID": owner, "friendUserIDs": others or None},
        "SetFriendRemark": {"ownerUserID": owner, "friendUserID": other, "remark": text},
        "AddBlack": {"ownerUserID": owner, "blackUserID": other},
    }
    if name not in bodies:
        raise ValueError(f"No body known for {command}.")
    return {"callbackCommand": command, **bodies[name]}


#: The group commands ``group_body`` builds, before and after.
GROUP_COMMANDS = [
    f"callback{name}Command"
    for name in (
        "BeforeCreateGroup",
        "AfterCreateGroup",
        "BeforeMembersJoinGroup",
        "BeforeInviteJoinGroup",
        "BeforeJoinGroup",
        "AfterJoinGroup",
        "AfterQuitGroup",
        "AfterKickGroup",
        "AfterTransferGroupOwner",
        "BeforeSetGroupInfo",
        "AfterSetGroupInfo",
        "BeforeSetGroupInfoEx",
        "AfterSetGroupInfoEx",
        "BeforeSetGroupMemberInfo",
        "AfterSetGroupMemberInfo",
        "AfterDisMissGroup",
    )
]


#: Every command ``body`` builds: the group, message, push, user and friend callbacks.
COMMANDS = [
    *GROUP_COMMANDS,
    *MESSAGE_COMMANDS,
    *PUSH_COMMANDS,
    *USER_COMMANDS,
    *FRIEND_COMMANDS,
]


def body(
    command: str,
    *,
    group_id: str = "G001",
    user_id: str = "user123",
    user_ids: list[str] | None = None,
    text: str = "hello",
    **fields: Any,
) -> dict[str, Any]:
    """The body OpenIM sends for ``command`` (any case), keys in the server's order.

    ``user_id`` is the user who acts (the group's owner, a message's sender, the user who
    adds a friend), ``user_ids`` the users it is about (members, the joiner, the quitter,
    the kicked, a message's recipient, friends); ``group_id`` and ``text`` where the
    command has them. ``fields`` set wire keys on top, e.g. ``membersID=None``.
    """
    command = {name.lower(): name for name in COMMANDS}.get(command.lower(), command)
    users = list(user_ids) if user_ids is not None else ["user001", "user002"]
    group = "Group" in command
    if command in GROUP_COMMANDS:
        built = group_body(command, group_id, user_id, users)
    elif command in MESSAGE_COMMANDS:
        to = group_id if group else (users[0] if users else "")
        built = message_body(command, user_id, to, text)
    elif command in PUSH_COMMANDS:
        built = push_body(command, user_id, [group_id] if group else users, text)
    elif command in USER_COMMANDS:
        built = user_body(command, users, text)
    elif command in FRIEND_COMMANDS:
        built = friend_body(command, user_id, users, text)
    else:
        raise ValueError(f"No body known for {command}.")
    return {**built, **fields}


def operation_id() -> str:
    return f"{int(time.time() * 1000)}-{secrets.token_hex(4)}"


@dataclass
class Request:
    url: str
    headers: dict[str, str]
    body: bytes


def build_request(webhook_url: str, command: str, body: bytes, op_id: str) -> Request:
    """POST ``<webhook url>/<command>``, with Basic auth when the url carries credentials.

    The server appends ``"/" + command`` verbatim, so a url ending in ``/`` gives ``//``.
    """
    parts = urllib.parse.urlsplit(webhook_url)
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        "Operationid": op_id,
        "User-Agent": "Go-http-client/1.1",
    }
    netloc = parts.netloc
    if parts.username is not None:
        user = urllib.parse.unquote(parts.username)
        password = urllib.parse.unquote(parts.password or "")
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
        netloc = netloc.rpartition("@")[2]
    path = f"{parts.path}/{command}"
    url = urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, ""))
    return Request(url, headers, body)
