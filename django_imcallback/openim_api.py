"""A client of the OpenIM server's REST API, as much of it as the mirror's sync reads.

Every call is a POST of JSON with an ``operationID`` header, and (but for
``/auth/get_admin_token``) the admin's ``token`` header; the answer is always HTTP 200 with
``{"errCode", "errMsg", "errDlt", "data"}``, ``errCode`` 0 meaning success
(``internal/api/router.go``, openimsdk/tools ``apiresp``).

One admin token per client, reused: each ``/auth/get_admin_token`` call demotes the
admin's earlier tokens to a five-minute grace, which would break a concurrent caller (the
chat server caches its token for this reason). A token error is answered by one new
token, never a loop. Network errors are retried a few times with a growing pause. The
standard library's ``urllib`` is enough for this: a handful of sequential JSON POSTs.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

#: ``servererrs``: a wrong secret, and the token errors (expired ... kicked, not exist).
NO_PERMISSION = 1002
TOKEN_ERRORS = frozenset(range(1501, 1508))
#: The REST API takes at most this many entries in a list, or per page.
PAGE_MAX = 1000


class APIError(Exception):
    """The server answered a call with an error, or could not be reached or read."""

    def __init__(self, path: str, message: str, code: int | None = None, detail: str = "") -> None:
        self.path, self.message, self.code, self.detail = path, message, code, detail
        text = f"{path}: {message}" + (f" (errCode {code})" if code is not None else "")
        super().__init__(text + (f": {detail}" if detail else ""))


class Unreachable(APIError):
    """No answer at all: the network, a refused connection, a timeout."""


@dataclass
class Client:
    """The server at ``url`` (e.g. ``http://openim-server:10002``), as ``admin_user_id``."""

    url: str
    secret: str
    admin_user_id: str = "imAdmin"
    timeout: float = 10.0
    retries: int = 3
    backoff: float = 0.5
    #: Sleeps between retries (a test passes one that does not).
    sleep: Callable[[float], None] = time.sleep
    #: How many calls were made, by path (the sync reports it; tests read it).
    calls: dict[str, int] = field(default_factory=dict)
    _token: str | None = None

    def token(self) -> str:
        if self._token is None:
            body = {"secret": self.secret, "userID": self.admin_user_id}
            data = self.call("/auth/get_admin_token", body, authenticated=False)
            self._token = str(data.get("token") or "")
            if not self._token:
                raise APIError("/auth/get_admin_token", "the answer holds no token")
        return self._token

    def call(self, path: str, body: dict[str, Any], *, authenticated: bool = True) -> Any:
        """POST ``body`` to ``path``; the answer's ``data``. A token error gets one new token."""
        try:
            return self._call(path, body, authenticated)
        except APIError as exc:
            if not authenticated or exc.code not in TOKEN_ERRORS:
                raise
            self._token = None  # expired or demoted: one new token, one more try
            return self._call(path, body, authenticated)

    def _call(self, path: str, body: dict[str, Any], authenticated: bool) -> Any:
        headers = {
            "Content-Type": "application/json",
            "operationID": f"imcallback-sync-{secrets.token_hex(6)}",
        }
        if authenticated:
            headers["token"] = self.token()
        self.calls[path] = self.calls.get(path, 0) + 1
        raw = self._post(path, json.dumps(body).encode(), headers)
        try:
            envelope = json.loads(raw)
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict) or not isinstance(envelope.get("errCode"), int):
            raise APIError(path, "the answer is not OpenIM's (is the URL the server's API?)")
        if envelope["errCode"] != 0:
            raise APIError(
                path,
                str(envelope.get("errMsg") or "error"),
                envelope["errCode"],
                str(envelope.get("errDlt") or ""),
            )
        return envelope.get("data") or {}

    def _post(self, path: str, body: bytes, headers: dict[str, str]) -> bytes:
        url = self.url.rstrip("/") + path
        if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
            raise APIError(path, f"{self.url!r} is not an http(s) URL")
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
        for attempt in range(self.retries + 1):
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                    return bytes(response.read())
            except urllib.error.HTTPError as exc:
                raise APIError(path, f"HTTP {exc.code} from {url}") from exc
            except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                if attempt == self.retries:
                    reason = getattr(exc, "reason", exc)
                    raise Unreachable(path, f"cannot reach {url}: {reason}") from exc
                self.sleep(self.backoff * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- what the sync reads ---------------------------------------------------------

    def pages(self, path: str, body: dict[str, Any], key: str, size: int) -> Iterator[Any]:
        """Every item of a paginated listing (``pagination`` from page 1, ``total``)."""
        size = max(1, min(size, PAGE_MAX))
        number, seen = 1, 0
        while True:
            page = {"pageNumber": number, "showNumber": size}
            data = self.call(path, {**body, "pagination": page})
            items = data.get(key) or []
            yield from items
            seen += len(items)
            if not items or len(items) < size or seen >= int(data.get("total") or 0):
                return
            number += 1

    def groups(self, size: int = PAGE_MAX) -> Iterator[dict[str, Any]]:
        """Every group the server has that is not dismissed (``sdkws.GroupInfo``)."""
        for item in self.pages(
            "/group/get_groups", {"groupName": "", "groupID": ""}, "groups", size
        ):
            yield item.get("groupInfo") or {}

    def groups_info(self, group_ids: list[str]) -> list[dict[str, Any]]:
        """These groups, dismissed ones included (``status`` 2); unknown IDs are absent."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(group_ids), PAGE_MAX):
            chunk = group_ids[start : start + PAGE_MAX]
            found += (
                self.call("/group/get_groups_info", {"groupIDs": chunk}).get("groupInfos") or []
            )
        return found

    def members(self, group_id: str, size: int = PAGE_MAX) -> Iterator[dict[str, Any]]:
        """A group's members (``groupID``, ``userID``, ``roleLevel``, ``joinTime``, ...)."""
        body = {"groupID": group_id, "filter": 0, "keyword": ""}
        yield from self.pages("/group/get_group_member_list", body, "members", size)
