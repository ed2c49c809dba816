"""What every admin of the app shares: read-only, exact searches, status badges, links."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from ..commands import registry
from ..models import (
    CallbackEvent,
)

Status = CallbackEvent.Status
#: Statuses that need no operator (the attention index leaves them out).
DONE = (Status.PROCESSED, Status.DUPLICATE)
MEMBER_PREVIEW = 200
BODY_PREVIEW_BYTES = 256 * 1024


if TYPE_CHECKING:
    ModelAdmin = admin.ModelAdmin[Any]
else:  # ModelAdmin is generic only in django-stubs, not at run time.
    ModelAdmin = admin.ModelAdmin


def _event_link(event_id: int | None) -> str:
    if event_id is None:
        return "-"
    url = reverse("admin:django_imcallback_callbackevent_change", args=[event_id])
    return format_html('<a href="{}">#{}</a>', url, event_id)


class ReadOnlyAdmin(ModelAdmin):
    """Records of what the OpenIM server said are evidence: nobody edits them here."""

    show_full_result_count = False
    search_help_text = _("Exact match.")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        raise NotImplementedError

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        term = search_term.strip()
        if not term:
            return queryset, False
        return self.exact_search(queryset, term), False


class CommandFilter(admin.SimpleListFilter):
    """Every handled command and every other command seen among the events that need
    attention (``unhandled`` included), read from a bounded sample of the partial index:
    no DISTINCT over the whole event table."""

    title = _("command")
    parameter_name = "command"
    SAMPLE = 10_000

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        attention = CallbackEvent.objects.exclude(status__in=DONE).order_by()
        seen = set(attention.values_list("command", flat=True)[: self.SAMPLE])
        commands = sorted({*registry.commands(), *seen} - {""}, key=str.lower)
        return [(command, short_command(command)) for command in commands]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(command=value) if value else queryset


#: Colours of the status badges: what needs an operator stands out.
STATUS_COLOURS = {
    Status.FAILED: "#ba2121",
    Status.INVALID: "#ba2121",
    Status.RECEIVED: "#c86400",
    Status.UNHANDLED: "#666",
    Status.DUPLICATE: "#417690",
    Status.PROCESSED: "#2e7d32",
}
#: Statuses whose ``error`` is an error; on other events it is a note.
PROBLEMS = (Status.FAILED, Status.INVALID)


def status_badge(status: str) -> str:
    """The status's label, coloured so that what needs an operator stands out."""
    known = Status(status) if status in Status.values else None
    label = known.label if known is not None else status
    colour = STATUS_COLOURS.get(known, "#666") if known is not None else "#666"
    weight = "bold" if status in PROBLEMS or status == Status.RECEIVED else "normal"
    return format_html('<span style="color: {}; font-weight: {}">{}</span>', colour, weight, label)


def short_command(command: str) -> str:
    """``AfterDisMissGroup`` for ``callbackAfterDisMissGroupCommand``: what tells them apart."""
    return command.removeprefix("callback").removesuffix("Command") or command


def seconds(value: datetime | None) -> str:
    """A time with its seconds, in the current time zone."""
    if value is None:
        return "-"
    return date_format(timezone.localtime(value), "Y-m-d H:i:s")


def shown_with_seconds(model: type[Any], name: str) -> Any:
    """A ModelAdmin method showing the time field ``name`` with its seconds."""

    @admin.display(description=model._meta.get_field(name).verbose_name, ordering=name)
    def shown(self: Any, obj: Any) -> str:
        return seconds(getattr(obj, name))

    return shown


def deliveries(group_id: str, limit: int = MEMBER_PREVIEW) -> str:
    """Every delivery about ``group_id``, newest first, with its status and a link."""
    rows = list(
        CallbackEvent.objects.filter(group_id=group_id)
        .order_by("-id")
        .values_list("pk", "received_at", "command", "status")[:limit]
    )
    if not rows:
        return "-"
    lines = [
        format_html(
            "{} {} {} {}", _event_link(pk), seconds(received_at), command, status_badge(status)
        )
        for pk, received_at, command, status in rows
    ]
    url = reverse("admin:django_imcallback_callbackevent_changelist")
    everything = format_html(
        '<a href="{}?q={}">{}</a>', url, quote(group_id), _("all deliveries about this group")
    )
    return mark_safe("<br>".join([*lines, everything]))  # noqa: S308 - parts escaped above
