"""How an OpenIM server puts a callback on the wire, for tools and tests that imitate one:
the body of any declared command (``body``), the request it travels in (``build_request``)."""

from __future__ import annotations

import base64
import secrets
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from .commands import Example, registry
from .commands.dismissals import DISMISS_GROUP, dismiss_group_body
from .wire.golang import go_json

__all__ = [
    "COMMANDS",
    "DISMISS_GROUP",
    "Request",
    "body",
    "build_request",
    "dismiss_group_body",
    "go_json",
    "operation_id",
]

#: Every command ``body`` builds: every declared one.
COMMANDS = [command.name for command in registry.declarations()]


def body(
    command: str,
    *,
    group_id: str = "G001",
    user_id: str = "user123",
    user_ids: list[str] | None = None,
    text: str = "hello",
    operation_id: str = "",
    **fields: Any,
) -> dict[str, Any]:
    """The body OpenIM sends for ``command`` (any case), keys in the server's order.

    ``user_id`` is the user who acts (the group's owner, a message's sender, the user who
    adds a friend), ``user_ids`` the users it is about (members, the joiner, the quitter,
    the kicked, a message's recipient, friends); ``group_id`` and ``text`` where the
    command has them. ``fields`` set wire keys on top, e.g. ``membersID=None``.
    """
    declared = registry.command(command)
    if declared is None:
        raise ValueError(f"No body known for {command}.")
    users = tuple(user_ids) if user_ids is not None else Example.user_ids
    example = Example(group_id, user_id, users, text, operation_id)
    return {**declared.example(example), **fields}


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
