"""The event log: every delivery, its attempts, replay, and the delivery health page."""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import quote

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .. import health
from ..conf import imcallback_settings
from ..models import (
    CallbackEvent,
    IMGroup,
)
from ..replay import replay_events
from .base import (
    BODY_PREVIEW_BYTES,
    PROBLEMS,
    CommandFilter,
    ReadOnlyAdmin,
    seconds,
    short_command,
    status_badge,
)

#: Verdicts worth showing beside the status in the list (an allow is the usual answer).
DECIDED = (CallbackEvent.Verdict.BLOCK, CallbackEvent.Verdict.CHANGE, CallbackEvent.Verdict.DEFAULT)


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received",
        "command_shown",
        "status_shown",
        "group_id",
        "user_id",
        "size",
    )
    list_filter = ("status", "verdict", CommandFilter)
    search_fields = ("operation_id",)
    search_help_text = _("Exact group ID, user ID, operation ID, command or event number.")
    ordering = ("-id",)
    actions = ["replay"]
    fields = (
        "command",
        "status_shown",
        "dispatch_state",
        "about",
        "operation_id",
        "remote_addr",
        "received",
        "processed",
        "attempts",
        "size",
        "verdict",
        "answer_sent",
        "announced",
        "note_text",
        "attempt_history",
        "pretty_body",
        "pretty_headers",
        "dismissal_links",
    )
    readonly_fields = (*fields, "error_text")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Bodies can be megabytes; the list never shows them.
        return super().get_queryset(request).defer("body")

    def get_list_display(self, request: HttpRequest) -> Any:
        # Inline, every event's announcement is sent in its request: the column says
        # nothing. In task mode it shows what the workers still owe.
        if imcallback_settings.dispatch == "task":
            return (*self.list_display, "dispatch_state")
        return self.list_display

    def get_list_filter(self, request: HttpRequest) -> Any:
        if imcallback_settings.dispatch == "task":
            return (*self.list_filter, "dispatch_state")
        return self.list_filter

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None or obj.status not in PROBLEMS:
            return self.fields
        # What went wrong comes first (under the status), above thousands of member IDs.
        fields = [f for f in self.fields if f != "note_text"]
        fields.insert(fields.index("status_shown") + 1, "error_text")
        return fields

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        condition = Q(group_id=term) | Q(user_id=term) | Q(operation_id=term) | Q(command=term)
        if term.isdigit():
            condition |= Q(pk=int(term))
        return queryset.filter(condition)

    def get_urls(self) -> list[Any]:
        urls = [
            path(
                "health/",
                self.admin_site.admin_view(self.health_view),
                name="django_imcallback_callbackevent_health",
            ),
            path(
                "<int:event_id>/body/",
                self.admin_site.admin_view(self.body_view),
                name="django_imcallback_callbackevent_body",
            ),
            path(
                "<int:event_id>/replay/",
                self.admin_site.admin_view(self.replay_view),
                name="django_imcallback_callbackevent_replay",
            ),
        ]
        return urls + super().get_urls()

    def health_view(self, request: HttpRequest) -> HttpResponse:
        """Deliveries per command and status over the last day and week, as SVG charts;
        the last delivery per command; a warning for each command gone quiet."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        report = health.report()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Delivery health"),
            "health": report,
            "now": seconds(report.now),
            "charts": [
                (_("Last 24 hours, by hour"), health.chart(report.hourly)),
                (_("Last 7 days, by day"), health.chart(report.daily, label="%a %d")),
            ],
            "rows": [
                {"health": row, "spark": health.chart(row.hourly, width=144, height=28, axis=False)}
                for row in report.commands
            ],
            "events_url": reverse("admin:django_imcallback_callbackevent_changelist"),
        }
        return TemplateResponse(request, "admin/django_imcallback/health.html", context)

    def body_view(self, request: HttpRequest, event_id: int) -> HttpResponse:
        """The raw body, byte for byte, as a download."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        event = get_object_or_404(CallbackEvent.objects.only("body"), pk=event_id)
        response = HttpResponse(bytes(event.body), content_type="application/octet-stream")
        response["Content-Disposition"] = f'attachment; filename="event-{event_id}.json"'
        return response

    def replay_view(self, request: HttpRequest, event_id: int) -> HttpResponse:
        """The Replay button of an event's page (POST; ``force`` re-sends every receiver)."""
        if request.method != "POST" or not self.has_replay_permission(request):
            raise PermissionDenied
        events = CallbackEvent.objects.filter(pk=event_id)
        self._replay(request, events, force=request.POST.get("force") == "1")
        return redirect("admin:django_imcallback_callbackevent_change", event_id)

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> Any:
        context["can_replay"] = self.has_replay_permission(request)
        return super().render_change_form(request, context, add, change, form_url, obj)

    @admin.display(description=_("received"), ordering="received_at")
    def received(self, obj: CallbackEvent) -> str:
        return format_html('<span style="white-space: nowrap">{}</span>', seconds(obj.received_at))

    @admin.display(description=_("command"), ordering="command")
    def command_shown(self, obj: CallbackEvent) -> str:
        return format_html('<span title="{}">{}</span>', obj.command, short_command(obj.command))

    @admin.display(description=_("last processed"))
    def processed(self, obj: CallbackEvent) -> str:
        return seconds(obj.processed_at)

    @admin.display(description=_("status"), ordering="status")
    def status_shown(self, obj: CallbackEvent) -> str:
        badge = status_badge(obj.status)
        if obj.verdict in DECIDED:
            # "processed" alone would hide that the user's action was blocked or changed.
            label = CallbackEvent.Verdict(obj.verdict).label
            return format_html('{} <span class="imcallback-verdict">({})</span>', badge, label)
        return badge

    @admin.display(description=_("body size"), ordering="body_size")
    def size(self, obj: CallbackEvent) -> str:
        return filesizeformat(obj.body_size)

    @admin.display(description=_("about"))
    def about(self, obj: CallbackEvent) -> str:
        parts = []
        if obj.group_id:
            group = IMGroup.objects.filter(group_id=obj.group_id).values_list("pk", flat=True)
            url = (
                reverse("admin:django_imcallback_imgroup_change", args=[group[0]])
                if group
                else reverse("admin:django_imcallback_callbackevent_changelist")
                + f"?q={quote(obj.group_id)}"
            )
            label = pgettext_lazy("OpenIM", "group")
            parts.append(format_html('{} <a href="{}">{}</a>', label, url, obj.group_id))
        if obj.user_id:
            parts.append(format_html("{} {}", _("user"), obj.user_id))
        return mark_safe(", ".join(parts)) if parts else "-"  # noqa: S308 - escaped above

    @admin.display(description=_("body"))
    def pretty_body(self, obj: CallbackEvent) -> str:
        body = bytes(obj.body)
        text = body[:BODY_PREVIEW_BYTES].decode("utf-8", errors="backslashreplace")
        if len(body) <= BODY_PREVIEW_BYTES:
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        else:
            text += f"\n... ({len(body) - BODY_PREVIEW_BYTES} more bytes)"
        url = reverse("admin:django_imcallback_callbackevent_body", args=[obj.pk])
        return format_html(
            '<a href="{}" download>{}</a> ({})'
            '<pre style="max-height: 32em; max-width: 100%; overflow: auto; '
            'white-space: pre; border: 1px solid var(--hairline-color, #ddd); padding: 8px">'
            "{}</pre>",
            url,
            _("Download the raw body"),
            filesizeformat(len(body)),
            text,
        )

    @admin.display(description=_("answer sent"))
    def answer_sent(self, obj: CallbackEvent) -> str:
        if obj.answer is None:
            return "-"
        return format_html("<pre>{}</pre>", json.dumps(obj.answer, indent=2, ensure_ascii=False))

    @admin.display(description=_("announced with"))
    def announced(self, obj: CallbackEvent) -> str:
        """The signal's arguments storing kept (what a worker or a replay sends again)."""
        if obj.outcome is None or obj.outcome.get("announce") is None:
            return "-"
        text = json.dumps(obj.outcome["announce"], indent=2, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)

    @admin.display(description=_("headers"))
    def pretty_headers(self, obj: CallbackEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.headers, indent=2, ensure_ascii=False))

    @admin.display(description=_("error"))
    def error_text(self, obj: CallbackEvent) -> str:
        return format_html(
            '<pre style="max-height: 32em; overflow: auto; color: #ba2121">{}</pre>', obj.error
        )

    @admin.display(description=_("note"))
    def note_text(self, obj: CallbackEvent) -> str:
        return format_html("<pre>{}</pre>", obj.error) if obj.error else "-"

    @admin.display(description=_("attempts, one by one"))
    def attempt_history(self, obj: CallbackEvent) -> str:
        rows = list(obj.attempt_log.order_by("number"))
        if not rows:
            return "-"
        items = []
        for attempt in rows:
            how = _("replay (forced)") if attempt.forced else _("replay") if attempt.replay else ""
            failed = ", ".join(attempt.failed_receivers)
            items.append(
                format_html(
                    "<li>{} {} {} {}{}{}</li>",
                    f"#{attempt.number}",
                    seconds(attempt.started_at),
                    how,
                    status_badge(attempt.status),
                    format_html(" &middot; {} {}", _("receivers that failed:"), failed)
                    if failed
                    else "",
                    format_html(
                        "<details><summary>{}</summary><pre>{}</pre></details>",
                        _("traceback"),
                        attempt.error,
                    )
                    if attempt.error
                    else "",
                )
            )
        return format_html('<ol style="margin-left: 0">{}</ol>', mark_safe("".join(items)))  # noqa: S308

    @admin.display(description=_("dismissals created"))
    def dismissal_links(self, obj: CallbackEvent) -> str:
        links = [
            (reverse("admin:django_imcallback_dismissedgroup_change", args=[pk]), group_id)
            for pk, group_id in obj.dismissals.values_list("pk", "group_id")
        ]
        return format_html_join(", ", '<a href="{}">{}</a>', links) or "-"

    def has_replay_permission(self, request: HttpRequest) -> bool:
        """Replaying needs the replay permission and seeing the events it replays."""
        return self.has_view_permission(request) and request.user.has_perm(
            "django_imcallback.replay_callbackevent"
        )

    @admin.action(description=_("Replay selected events"), permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._replay(request, queryset, force=False)

    def _replay(self, request: HttpRequest, queryset: QuerySet[Any], *, force: bool) -> None:
        report = replay_events(queryset, force=force)
        self.message_user(request, report.summary(), messages.SUCCESS)
        for line in report.problems():
            self.message_user(request, line, messages.WARNING)
