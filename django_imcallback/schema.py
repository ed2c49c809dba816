"""The callback contract as OpenAPI 3, through drf-spectacular (``django-imcallback[openapi]``).

``make openapi`` writes ``openapi.yaml`` with::

    python manage.py spectacular --urlconf django_imcallback.schema --file openapi.yaml

This module is a URLconf made for the schema generator only: one documented POST per
registered command, and one for every other command. The real endpoint is the plain
Django view in ``views.py``; these DRF views are never served.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from .commands import Handler, registry
from .models import ID_MAX_LENGTH

#: PostgreSQL cannot store NUL in text, so IDs with one are refused.
NO_NUL = "^[^\\u0000]*$"
#: 9999-12-31T23:59:59.999Z, the last instant Python (and so the app) can represent.
MAX_EVENT_TIME = 253_402_300_799_999


class CommonCallbackRespSerializer(serializers.Serializer[Any]):
    """OpenIM's ``CommonCallbackResp``: every answer, success or error, has this shape."""

    actionCode = serializers.IntegerField(help_text="0 on success, 1 on error.")
    errCode = serializers.IntegerField(help_text="0 on success; the HTTP status on error.")
    errMsg = serializers.CharField(allow_blank=True, help_text="What went wrong.")
    errDlt = serializers.CharField(
        allow_blank=True, help_text="Detail; field errors as a JSON object in a string."
    )
    nextCode = serializers.IntegerField(help_text="Always 0: never blocks an operation.")


class WireStringFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "django_imcallback.wire.fields.WireStringField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        field = self.target
        schema: dict[str, Any] = {"type": "string", "pattern": NO_NUL}
        if field.min_length:
            schema["minLength"] = field.min_length
        if field.allow_blank:
            # drf-spectacular adds the blank string as a oneOf branch of its own: keep the
            # branches exclusive, or "" would match both.
            schema["minLength"] = max(1, field.min_length or 0)
        if field.max_length:
            schema["maxLength"] = field.max_length
        if field.allow_null:
            schema["nullable"] = True
        return schema


class GroupTypeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "django_imcallback.wire.fields.GroupTypeField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "oneOf": [
                {"type": "integer", "format": "int32"},
                {
                    "type": "string",
                    "pattern": r"^(\s*[+-]?[0-9]{1,9}\s*|[\s\S])$",
                    "description": 'numeric ("2") or one character ("\\u0002")',
                },
            ],
            "nullable": True,
            "description": 'Group type: 2, "2", or Go\'s string(rune(2)) as the server sends it.',
        }


class MemberIDsFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "django_imcallback.wire.fields.MemberIDsField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "array",
            "items": {
                "type": "string",
                "minLength": 1,
                "maxLength": ID_MAX_LENGTH,
                "pattern": NO_NUL,
            },
            "nullable": True,
            "description": "Members at dismissal; null or empty on the server's second copy.",
        }


class EventTimeFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "django_imcallback.wire.fields.EventTimeField"

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> dict[str, Any]:
        return {
            "type": "integer",
            "format": "int64",
            "minimum": 0,
            "maximum": MAX_EVENT_TIME,
            "nullable": True,
            "description": "Milliseconds since the epoch (newer servers only; 0 means unset).",
        }


ANSWERS = {
    200: OpenApiResponse(CommonCallbackRespSerializer, "Stored (or a duplicate, or unhandled)."),
    400: OpenApiResponse(CommonCallbackRespSerializer, "Not JSON, not an object, or invalid."),
    401: OpenApiResponse(CommonCallbackRespSerializer, "Basic auth required or wrong."),
    403: OpenApiResponse(CommonCallbackRespSerializer, "Address not allowed, or wrong secret."),
    404: OpenApiResponse(CommonCallbackRespSerializer, "Unknown callback path."),
    413: OpenApiResponse(CommonCallbackRespSerializer, "Body over MAX_BODY_BYTES."),
    500: OpenApiResponse(CommonCallbackRespSerializer, "Recorded, but processing crashed."),
    503: OpenApiResponse(CommonCallbackRespSerializer, "Database unavailable; logged."),
}
PARAMETERS = [
    OpenApiParameter(
        "operationID", str, OpenApiParameter.HEADER, description="OpenIM's correlation ID."
    ),
    OpenApiParameter(
        "contenttype",
        str,
        OpenApiParameter.QUERY,
        description='OpenIM\'s documentation shows "json"; any value is ignored.',
    ),
]


def require_request_bodies(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: a callback without a body is a 400."""
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if "requestBody" in operation:
                operation["requestBody"]["required"] = True
    return result


def _documented_view(handler: Handler | None) -> type[APIView]:
    command = handler.command if handler else "{command}"
    summary = f"OpenIM callback {command}" if handler else "Any other OpenIM callback"
    declared = registry.command(command) if handler else None
    if declared is not None:
        direction = "before" if declared.before else "after"
        description = f"{declared.summary} (`{declared.yml_key}`, {direction}-callback)"
        if declared.handler_class is not None:
            description += "\n\n" + (declared.handler_class.__doc__ or "").strip()
    elif handler:
        description = (handler.__doc__ or "").strip()
    else:
        description = (
            "Recorded as `unhandled`, acknowledged, and announced through `callback_received`."
        )

    class DocumentedCallback(APIView):
        parser_classes = [JSONParser]

        @extend_schema(
            operation_id=command if handler else "otherCallback",
            summary=summary,
            description=description,
            request=handler.serializer_class if handler else OpenApiTypes.OBJECT,
            responses=ANSWERS,
            parameters=PARAMETERS,
            auth=[],
            tags=["callbacks"],
        )
        def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
            raise NotImplementedError("documentation only")

    DocumentedCallback.__name__ = f"{command}Callback"
    return DocumentedCallback


def _urlpatterns() -> list[Any]:
    from django.urls import path

    patterns = [
        path(f"imcallback/{handler.command}", _documented_view(handler).as_view())
        for handler in (registry.get(c) for c in registry.commands())
        if handler is not None
    ]
    patterns.append(path("imcallback/<str:command>", _documented_view(None).as_view()))
    return patterns


urlpatterns = _urlpatterns()
