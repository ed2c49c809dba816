"""The callback endpoint: a DRF view that checks the caller, records, processes, answers.

Caller checks are DRF permission classes (``IMCALLBACK["PERMISSION_CLASSES"]``); every
answer, refusals and crashes included, is OpenIM's ``CommonCallbackResp`` JSON.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.decorators import method_decorator
from rest_framework import exceptions
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from . import pipeline, responses
from .conf import imcallback_settings
from .logs import log_delivery, log_lost_delivery, logsafe
from .models import COMMAND_MAX_LENGTH, OPERATION_ID_MAX_LENGTH, CallbackEvent, is_stored, storable
from .permissions import CallerRefused, caller_address
from .pipeline import Answer, Result

logger = logging.getLogger("django_imcallback")

#: Never stored: they carry credentials.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
CHUNK_SIZE = 1024 * 1024

#: How each processing result is answered: (HTTP status, errMsg); "" for success.
ANSWERS: dict[Answer, tuple[int, str]] = {
    Answer.STORED: (200, ""),
    Answer.INVALID: (400, "The callback is invalid."),
    Answer.TOO_LARGE: (413, "The request body is too large."),
    Answer.FAILED: (500, "The callback was recorded but could not be processed."),
    Answer.LOST: (503, "The callback could not be stored; the database is unavailable."),
    Answer.INTERRUPTED: (
        503,
        "The callback was recorded, but the database became unavailable while it was "
        "processed; it will be replayed.",
    ),
}


def answer(result: Result, event: CallbackEvent) -> HttpResponse:
    if event.answer is not None:
        # A before-callback's decision is answered whatever became of storing it: a
        # failure on this side must not refuse the user's action.
        return responses.decided(event.answer)
    status, message = ANSWERS[result.answer]
    if status == 200:
        return responses.success()
    return responses.error(status, result.message or message, result.detail, extra=result.echo)


class BodyTooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


def read_body(request: HttpRequest, limit: int) -> bytes:
    """Read the body from the stream, never more than ``limit`` bytes.

    The app sets its own limit (``MAX_BODY_BYTES``) instead of Django's
    ``DATA_UPLOAD_MAX_MEMORY_SIZE``, which a host keeps small for forms, and a too-large
    body is refused before it is buffered. A chunked body (no Content-Length) is read from
    the WSGI input, which the server (gunicorn, uWSGI) decodes; Django itself reads it as
    empty.
    """
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > limit:
        raise BodyTooLarge(declared)
    stream: Any = request
    chunked = "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not declared and "wsgi.input" in request.META:
        stream = request.META["wsgi.input"]
    chunks, size = [], 0
    while chunk := stream.read(min(CHUNK_SIZE, limit + 1 - size)):
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


def new_event(request: HttpRequest, command: str) -> CallbackEvent:
    """The unsaved event for a delivery: command, operation ID, headers, caller address."""
    address = caller_address(request)
    return CallbackEvent(
        command=storable(command, COMMAND_MAX_LENGTH),
        operation_id=storable(request.headers.get("operationID", ""), OPERATION_ID_MAX_LENGTH),
        headers=stored_headers(request),
        remote_addr=str(address) if address else None,
    )


class OpenIMRenderer(JSONRenderer):
    """Compact JSON, as OpenIM's answers are."""

    compact = True


class IgnoreAccept(BaseContentNegotiation):
    """OpenIM sends no Accept header and reads only JSON: never refuse a delivery with 406."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> Any:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse:
    """Every exception DRF hands over, as OpenIM's JSON (never Django's HTML page)."""
    if isinstance(exc, CallerRefused):
        request = context["request"]
        logger.warning(
            "Refused callback from %s (%s): %s",
            logsafe(caller_address(request) or request.META.get("REMOTE_ADDR")),
            logsafe(request.path),
            exc.detail,
        )
        return responses.error(exc.status_code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, exceptions.MethodNotAllowed):
        method = logsafe(context["request"].method)
        message = f"Method {method} is not allowed; OpenIM callbacks are POSTed."
        return responses.error(405, message, headers={"Allow": "POST, OPTIONS"})
    if isinstance(exc, exceptions.APIException):
        return responses.error(exc.status_code, str(exc.detail))
    if isinstance(exc, ImproperlyConfigured):
        logger.error("IMCALLBACK is misconfigured, refusing callbacks: %s", exc)
        return responses.error(500, "The callback receiver is misconfigured.")
    logger.error("The callback endpoint crashed.", exc_info=exc)
    return responses.error(500, "The callback receiver failed.")


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class CallbackView(APIView):
    """``POST <prefix>/[<secret>/]<command>``: one OpenIM callback delivery.

    Not atomic even under ``ATOMIC_REQUESTS``: the event is committed before or with
    what it stores, so no rollback can take the record of a delivery with it. The body is
    read by ``read_body``, not by a DRF parser: DRF sees no body without Content-Length
    (chunked), and a parser cannot refuse a body before buffering it.
    """

    http_method_names = ["post", "options"]
    authentication_classes: Sequence[type] = ()
    parser_classes: Sequence[type] = ()
    renderer_classes = (OpenIMRenderer,)
    content_negotiation_class = IgnoreAccept
    throttle_classes: Sequence[type] = ()

    def perform_authentication(self, request: Request) -> None:
        """Nothing to do: callers are checked by the permission classes (DRF's own advice
        for views whose authentication is not needed up front)."""

    @property
    def default_response_headers(self) -> dict[str, str]:
        return {}  # OpenIM reads no headers; 405 answers set their own Allow.

    def get_permissions(self) -> list[BasePermission]:
        return [permission() for permission in imcallback_settings.permission_classes]

    def get_exception_handler(self) -> Any:
        return exception_handler

    def post(self, request: Request, command: str = "", token: str | None = None) -> HttpResponse:
        started = time.perf_counter()
        http = request._request  # Read directly: DRF's attribute proxy costs on a hot path.
        event = new_event(http, command)
        result = self._process(http, event)
        response = answer(result, event)
        log_delivery(event, response, time.perf_counter() - started)
        return response

    def _process(self, request: HttpRequest, event: CallbackEvent) -> Result:
        limit = imcallback_settings.max_body_bytes
        try:
            event.body = read_body(request, limit)
        except BodyTooLarge as exc:
            event.body_size = exc.size
            detail = f"{exc.size} bytes; the limit (IMCALLBACK['MAX_BODY_BYTES']) is {limit}."
            rejection: pipeline.Refusal | None = pipeline.too_large_refusal(detail)
        else:
            event.body_size = len(event.body)
            rejection = pipeline.content_type_refusal(request.content_type or "")
        try:
            return pipeline.reject(event, *rejection) if rejection else pipeline.receive(event)
        except DatabaseError:
            if is_stored(event):
                logger.exception("Database unavailable; event %s is stored, unfinished.", event.pk)
                return Result(Answer.INTERRUPTED)
            log_lost_delivery(event)
            return Result(Answer.LOST)
