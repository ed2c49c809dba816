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
    """A ``CallbackDisMissGroupReq`` as the open-source server fills it in."""
    return {
        "callbackCommand": DISMISS_GROUP,
        "groupID": group_id,
        "ownerID": owner_id,
        "groupType": "\u0002",  # Go's string(rune(2))
        "membersID": member_ids,
        "eventTime": int(time.time() * 1000),
    }


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
