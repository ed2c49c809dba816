"""The callback endpoint: authenticate, record, process, answer in OpenIM's JSON shape."""

from __future__ import annotations

import base64
import logging
import time
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from . import processing, responses
from .conf import imcallback_settings
from .models import COMMAND_MAX_LENGTH, OPERATION_ID_MAX_LENGTH, CallbackEvent, storable
from .security import check_caller

logger = logging.getLogger("django_imcallback")

Status = CallbackEvent.Status
#: Never stored: they carry credentials.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
JSON_CONTENT_TYPES = ("application/json", "text/json")
CHUNK_SIZE = 1024 * 1024


def log_delivery(
    event: CallbackEvent,
    result: processing.Result | None,
    response: HttpResponse,
    seconds: float,
) -> None:
    """One line per recorded delivery on the ``django_imcallback`` logger.

    INFO when it was stored, WARNING when it was refused or failed. The fields are in the
    message for plain handlers and in ``record.imcallback`` for structured ones.
    """
    failed = response.status_code != 200 or event.status == Status.FAILED
    level = logging.WARNING if failed else logging.INFO
    if not logger.isEnabledFor(level):
        return
    fields = {
        "command": event.command,
        "operation_id": event.operation_id,
        "group_id": result.group_id if result else "",
        "status": event.status,
        "event_id": event.pk,
        "http_status": response.status_code,
        "duration_ms": round(seconds * 1000, 1),
    }
    logger.log(
        level,
        "callback " + " ".join(f"{name}=%({name})s" for name in fields),
        fields,
        extra={"imcallback": fields},
    )


class BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def read_body(request: HttpRequest, limit: int) -> bytes:
    """Read the body from the stream, never more than ``limit`` bytes.

    Reading the stream rather than ``request.body`` is deliberate: the app sets its own
    limit (``MAX_BODY_BYTES``) instead of Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE``, which
    a host keeps small for forms, and a too-large body is refused before it is buffered.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge(declared)
    chunks, size = [], 0
    while chunk := request.read(min(CHUNK_SIZE, limit + 1 - size)):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(size)
    return b"".join(chunks)


def stored_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: storable(value, 1024)
        for name, value in request.headers.items()
        if name.lower() not in SECRET_HEADERS
    }


def is_json_content_type(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return not media_type or media_type in JSON_CONTENT_TYPES or media_type.endswith("+json")


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(transaction.non_atomic_requests, name="dispatch")
class CallbackView(View):
    """``POST <prefix>/[<secret>/]<command>``: one OpenIM callback delivery.

    Not atomic even under ``ATOMIC_REQUESTS``: the event is committed before processing,
    so no rollback can take the record of a delivery (or of its failure) with it.
    """

    http_method_names = ["post", "options"]

    def http_method_not_allowed(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        return responses.error(
            405,
            f"Method {request.method} is not allowed; OpenIM callbacks are POSTed.",
            headers={"Allow": "POST, OPTIONS"},
        )

    def post(
        self, request: HttpRequest, command: str = "", token: str | None = None
    ) -> HttpResponse:
        started = time.perf_counter()
        event, result, response = self._receive(request, command, token)
        if event is not None:
            log_delivery(event, result, response, time.perf_counter() - started)
        return response

    def _receive(
        self, request: HttpRequest, command: str, token: str | None
    ) -> tuple[CallbackEvent | None, processing.Result | None, HttpResponse]:
        """Authenticate, record, process; return the event (None if refused) and the answer."""
        try:
            address, denial = check_caller(request, token)
            max_body_bytes = imcallback_settings.max_body_bytes
        except ImproperlyConfigured as exc:
            logger.error("IMCALLBACK is misconfigured, refusing callbacks: %s", exc)
            return None, None, responses.error(500, "The callback receiver is misconfigured.")
        if denial is not None:
            logger.warning(
                "Refused callback from %s (%s): %s",
                address or request.META.get("REMOTE_ADDR"),
                request.path,
                denial.message,
            )
            return (
                None,
                None,
                responses.error(denial.status, denial.message, headers=denial.headers),
            )

        event = CallbackEvent(
            command=storable(command, COMMAND_MAX_LENGTH),
            operation_id=storable(request.headers.get("operationID", ""), OPERATION_ID_MAX_LENGTH),
            headers=stored_headers(request),
            remote_addr=str(address) if address else None,
        )
        problem: tuple[int, str, str] | None = None
        try:
            event.body = read_body(request, max_body_bytes)
        except BodyTooLarge as exc:
            event.body_size = exc.size
            problem = (
                413,
                "The request body is too large.",
                f"{exc.size} bytes; the limit (IMCALLBACK['MAX_BODY_BYTES']) is {max_body_bytes}.",
            )
        else:
            event.body_size = len(event.body)
            if not is_json_content_type(request.content_type or ""):
                problem = (
                    400,
                    "The Content-Type must be application/json.",
                    f"got {request.content_type!r}",
                )

        try:
            if problem:
                processing.reject(event, f"{problem[1]} ({problem[2]})")
                return event, None, responses.error(*problem)
            record_first = event.body_size > imcallback_settings.record_first_bytes
            result = processing.receive(event, record_first=record_first)
        except DatabaseError:
            self._log_lost_delivery(event)
            return None, None, self._unavailable()
        except Exception as exc:
            # A bug, in a handler or here: keep the delivery (replayable) and still answer
            # in OpenIM's JSON, never with Django's HTML error page.
            try:
                processing.record_failure(event, exc)
            except DatabaseError:
                self._log_lost_delivery(event)
                if event._state.adding:  # Never stored: say so, as for any outage.
                    return None, None, self._unavailable()
            return (
                event,
                None,
                responses.error(500, "The callback was recorded but could not be processed."),
            )
        if result.is_invalid:
            return event, result, responses.error(400, result.message, result.detail)
        return event, result, responses.success()

    @staticmethod
    def _unavailable() -> HttpResponse:
        return responses.error(
            503, "The callback could not be stored; the database is unavailable."
        )

    def _log_lost_delivery(self, event: CallbackEvent) -> None:
        """Put the whole delivery in the log: with the database down, it is the only copy."""
        body = bytes(event.body)
        try:
            text, encoding = body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(body).decode("ascii"), "base64"
        logger.error(
            "Database unavailable; callback NOT stored. command=%s operationID=%s remote=%s "
            "headers=%s body_encoding=%s body=%s",
            event.command,
            event.operation_id,
            event.remote_addr,
            event.headers,
            encoding,
            text,
            exc_info=True,
        )
