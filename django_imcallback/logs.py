"""Log lines about deliveries: one per delivery, one holding a lost delivery whole.

Whatever a caller sent goes through ``logsafe`` before it reaches a log line, so that no
caller (not even a refused one) can write a line that looks like another.
"""

from __future__ import annotations

import base64
import json
import logging

from django.http import HttpResponse

from .models import CallbackEvent

logger = logging.getLogger("django_imcallback")

_UNSAFE = str.maketrans(
    {
        **{c: f"\\x{c:02x}" for c in [*range(0x20), *range(0x7F, 0xA0)]},
        ord("\\"): "\\\\",
        0x2028: "\\u2028",
        0x2029: "\\u2029",
    }
)


def logsafe(value: object) -> str:
    """``value`` as text fit for one log line: control characters, line separators, lone
    surrogates and backslashes escaped, so nothing a caller sends can forge a line."""
    text = str(value).translate(_UNSAFE)
    if not text.isascii():
        text = "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


def log_delivery(event: CallbackEvent, response: HttpResponse, seconds: float) -> None:
    """One line per delivery on the ``django_imcallback`` logger.

    INFO when it was stored, WARNING when it was refused or failed. The fields are in the
    message (escaped) for plain handlers and in ``record.imcallback`` for structured ones.
    """
    failed = response.status_code != 200 or event.status == CallbackEvent.Status.FAILED
    level = logging.WARNING if failed else logging.INFO
    if not logger.isEnabledFor(level):
        return
    fields = {
        "command": event.command,
        "operation_id": event.operation_id,
        "group_id": event.group_id,
        "status": event.status,
        "event_id": event.pk,
        "http_status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
    }
    text = " ".join(f"{name}={logsafe(value)}" for name, value in fields.items())
    logger.log(level, "callback %s", text, extra={"imcallback": fields})


#: Starts the one log line that holds a delivery the database could not take.
LOST_DELIVERY = "Database unavailable; callback NOT stored: "


def log_lost_delivery(event: CallbackEvent) -> None:
    """Log the whole delivery as one line: with the database down, it is the only copy.

    After ``LOST_DELIVERY`` comes one JSON object (ASCII only, so the line is one line
    whatever the body holds) that ``json.loads`` gives back exactly: ``command``,
    ``operation_id``, ``remote_addr``, ``received_at``, ``headers``, ``body_encoding``
    (``utf-8`` or ``base64``) and ``body``.
    """
    body = bytes(event.body)
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    record = {
        "command": event.command,
        "operation_id": event.operation_id,
        "remote_addr": event.remote_addr,
        "received_at": event.received_at.isoformat(),
        "headers": event.headers,
        "body_encoding": encoding,
        "body": text,
    }
    logger.error("%s%s", LOST_DELIVERY, json.dumps(record, ensure_ascii=True), exc_info=True)
