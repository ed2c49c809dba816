"""A fake of the OpenIM server's REST API on 127.0.0.1, for tests of what calls it
(``imcallback_sync``, a host's own code). It speaks what the server's source says
(``internal/api/router.go``, ``pkg/common/servererrs``, the group RPC's listings):

- every answer is HTTP 200 with ``{"errCode", "errMsg", "errDlt", "data"}``;
- ``operationID`` is required on every call (1001), ``token`` on every call but
  ``/auth/get_admin_token`` (1507 unknown, 1501 expired);
- ``/auth/get_admin_token`` checks the secret (1002) and that the user is an admin (1001);
  each call demotes the admin's earlier tokens (they expire after ``grace`` seconds);
- ``/group/get_groups`` pages over the groups that are not dismissed, newest first;
  ``/group/get_groups_info`` answers dismissed groups too (``status`` 2), an empty list is
  1001; ``/group/get_group_member_list`` pages over a group's members, role first, then by
  join time; pages are ``{"pageNumber" >= 1, "showNumber"}``, and at most 1,000 long.

It is not the server: no users, no messages, no permissions beyond the admin token.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DISMISSED = 2
ARGS, NO_PERMISSION, GROUP_NOT_FOUND = 1001, 1002, 1201
TOKEN_EXPIRED, TOKEN_UNKNOWN = 1501, 1507


@dataclass
class FakeOpenIM:
    secret: str = "openIM123"  # noqa: S105 - the server's documented default
    admin_user_ids: tuple[str, ...] = ("imAdmin",)
    #: Seconds an earlier token still works after a new one is issued (the server: 300).
    grace: float = 300.0
    #: ``groupID`` -> ``sdkws.GroupInfo``; ``groupID`` -> its members (``GroupMemberFullInfo``).
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: Every call: (path, headers, body).
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    #: Close the connection without answering the next N calls (a network error).
    drop: int = 0
    #: Answer every call with this (errCode, errMsg) instead.
    fail: tuple[int, str] | None = None
    #: Answer every call with an HTML page (not the API at this URL).
    html: bool = False
    #: Called with the group ID before a member page is answered (a race in a test).
    on_members: Callable[[str], None] | None = None
    _tokens: dict[str, float] = field(default_factory=dict)  # token -> expires at
    _server: ThreadingHTTPServer | None = None

    # -- the data ---------------------------------------------------------------------

    def add_group(
        self,
        group_id: str,
        owner: str,
        members: dict[str, int] | list[str] = (),  # type: ignore[assignment]
        *,
        name: str = "",
        status: int = 0,
        created: int | None = None,
    ) -> None:
        """A group, its owner (100) and members (user -> role level, or 20)."""
        created = created if created is not None else int(time.time() * 1000) + len(self.groups)
        roles = dict(members) if isinstance(members, dict) else dict.fromkeys(members, 20)
        roles = {owner: 100, **{u: r for u, r in roles.items() if u != owner}}
        self.groups[group_id] = {
            "groupID": group_id,
            "groupName": name or f"Group {group_id}",
            "notification": "",
            "introduction": "",
            "faceURL": "",
            "ownerUserID": owner,
            "createTime": created,
            "memberCount": len(roles),
            "ex": "",
            "status": status,
            "creatorUserID": owner,
            "groupType": 2,
            "needVerification": 0,
            "lookMemberInfo": 0,
            "applyMemberFriend": 0,
            "notificationUpdateTime": 0,
            "notificationUserID": "",
        }
        self.members[group_id] = [
            self.member(group_id, user, role, created + i)
            for i, (user, role) in enumerate(roles.items())
        ]

    @staticmethod
    def member(group_id: str, user: str, role: int = 20, joined: int = 0) -> dict[str, Any]:
        return {
            "groupID": group_id,
            "userID": user,
            "roleLevel": role,
            "joinTime": joined,
            "nickname": user,
            "faceURL": "",
            "appMangerLevel": 0,
            "joinSource": 2,
            "operatorUserID": "",
            "ex": "",
            "muteEndTime": 0,
            "inviterUserID": "",
        }

    def calls(self, path: str) -> int:
        return sum(1 for called, _, _ in self.requests if called == path)

    def expire_tokens(self) -> None:
        """Every token issued so far stops working (as after its expiry time)."""
        self._tokens = dict.fromkeys(self._tokens, 0.0)

    # -- serving ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start() it first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeOpenIM:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenIM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        self.requests.append((request.path, headers, body))
        if self.drop > 0:
            self.drop -= 1
            request.close_connection = True
            request.connection.close()
            return
        if self.html:
            self._send(request, b"<html><body>404 page not found</body></html>", "text/html")
            return
        code, message, data = self._answer(request.path, headers, body)
        envelope: dict[str, Any] = {"errCode": code, "errMsg": message, "errDlt": ""}
        if code == 0:
            envelope["data"] = data
        self._send(request, json.dumps(envelope).encode(), "application/json")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, payload: bytes, content_type: str) -> None:
        request.send_response(200)
        request.send_header("Content-Type", content_type)
        request.send_header("Content-Length", str(len(payload)))
        request.end_headers()
        request.wfile.write(payload)

    def _answer(self, path: str, headers: dict[str, str], body: Any) -> tuple[int, str, Any]:
        if not headers.get("operationid"):
            return ARGS, "ArgsError", "header must have operationID"
        if self.fail is not None:
            return self.fail[0], self.fail[1], None
        if not isinstance(body, dict):
            return ARGS, "ArgsError", None
        if path == "/auth/get_admin_token":
            return self._admin_token(body)
        token = headers.get("token", "")
        if token not in self._tokens:
            return TOKEN_UNKNOWN, "TokenNotExistError", None
        if self._tokens[token] < time.time():
            return TOKEN_EXPIRED, "TokenExpiredError", None
        routes = {
            "/group/get_groups": self._get_groups,
            "/group/get_groups_info": self._get_groups_info,
            "/group/get_group_member_list": self._get_members,
        }
        if path not in routes:
            return 404, "404 page not found", None
        return routes[path](body)

    def _admin_token(self, body: dict[str, Any]) -> tuple[int, str, Any]:
        if body.get("secret") != self.secret:
            return NO_PERMISSION, "NoPermissionError", None
        if body.get("userID") not in self.admin_user_ids:
            return ARGS, "ArgsError", None
        now = time.time()
        self._tokens = {t: min(expires, now + self.grace) for t, expires in self._tokens.items()}
        token = f"token-{len(self._tokens) + 1}"
        self._tokens[token] = now + 90 * 86400
        return 0, "", {"token": token, "expireTimeSeconds": 90 * 86400}

    @staticmethod
    def _page(body: dict[str, Any], items: list[Any]) -> tuple[int, str, Any] | list[Any]:
        page = body.get("pagination") or {}
        number, size = page.get("pageNumber"), page.get("showNumber")
        if not isinstance(number, int) or number < 1 or not isinstance(size, int) or size < 1:
            return ARGS, "ArgsError: pagination", None
        if size > 1000:
            return ARGS, "ArgsError: showNumber > 1000", None
        return items[(number - 1) * size : number * size]

    def _get_groups(self, body: dict[str, Any]) -> tuple[int, str, Any]:
        listed = sorted(
            (g for g in self.groups.values() if g["status"] != DISMISSED),
            key=lambda g: -g["createTime"],
        )
        page = self._page(body, listed)
        if isinstance(page, tuple):
            return page
        groups = [
            {
                "groupInfo": g,
                "groupOwnerUserName": g["ownerUserID"],
                "groupOwnerUserID": g["ownerUserID"],
            }
            for g in page
        ]
        return 0, "", {"total": len(listed), "groups": groups}

    def _get_groups_info(self, body: dict[str, Any]) -> tuple[int, str, Any]:
        ids = body.get("groupIDs")
        if not isinstance(ids, list) or not ids:
            return ARGS, "ArgsError: groupIDs is empty", None
        return 0, "", {"groupInfos": [self.groups[i] for i in ids if i in self.groups]}

    def _get_members(self, body: dict[str, Any]) -> tuple[int, str, Any]:
        group_id = body.get("groupID")
        if group_id not in self.groups:
            return GROUP_NOT_FOUND, "GroupIDNotFound", None
        if self.on_members is not None:
            self.on_members(group_id)
        members = sorted(self.members[group_id], key=lambda m: (-m["roleLevel"], m["joinTime"]))
        page = self._page(body, members)
        if isinstance(page, tuple):
            return page
        return 0, "", {"total": len(members), "members": page}
