"""OpenIM's ``CommonCallbackResp``: the only response body the endpoint ever sends."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse

SUCCESS_BODY = b'{"actionCode":0,"errCode":0,"errMsg":"","errDlt":"","nextCode":0}'


def success() -> HttpResponse:
    return HttpResponse(SUCCESS_BODY, content_type="application/json")


def decided(answer: dict[str, Any]) -> HttpResponse:
    """A before-callback's decision, exactly as ``decisions`` built it."""
    body = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
    return HttpResponse(body, content_type="application/json")


def error(
    status: int,
    message: str,
    detail: Any = "",
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """An error in OpenIM's shape. ``errCode`` repeats the HTTP status; ``errDlt`` is a
    string (Go's type), holding JSON when the detail is structured (field errors).

    ``actionCode`` is 1 and ``nextCode`` 0, so that a before-callback answered with an
    error never blocks the user's operation on the OpenIM side; ``extra`` answer fields
    (what the server copies from any answer) follow them.
    """
    if not isinstance(detail, str):
        detail = json.dumps(detail, ensure_ascii=False, separators=(",", ":"))
    body = {"actionCode": 1, "errCode": status, "errMsg": message, "errDlt": detail, "nextCode": 0}
    body.update(extra or {})
    response = HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type="application/json",
    )
    for name, value in (headers or {}).items():
        response[name] = value
    return response
