"""Read-only admin for the event log and the dismissals, fast on millions of rows.

Searches are exact matches on indexed columns (an ``icontains`` over millions of
member rows would scan them all), the event list never loads raw bodies, and a
dismissal's page shows a bounded preview of its members with a link to all of them.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from . import health
from .commands import registry
from .conf import imcallback_settings
from .models import (
    CallbackEvent,
    DismissedGroup,
    DismissedGroupMember,
    IMGroup,
    IMGroupMember,
)
from .replay import replay_events

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
        return status_badge(obj.status)

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
        return request.user.has_perm("django_imcallback.replay_callbackevent")

    @admin.action(description=_("Replay selected events"), permissions=["replay"])
    def replay(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        self._replay(request, queryset, force=False)

    def _replay(self, request: HttpRequest, queryset: QuerySet[Any], *, force: bool) -> None:
        report = replay_events(queryset, force=force)
        self.message_user(request, report.summary(), messages.SUCCESS)
        for line in report.problems():
            self.message_user(request, line, messages.WARNING)


@admin.register(DismissedGroup)
class DismissedGroupAdmin(ReadOnlyAdmin):
    list_display = (
        "group_id",
        "owner_id",
        "members",
        "members_source",
        "event_status",
        "group_type",
        "received",
    )
    list_filter = (("event__status", admin.ChoicesFieldListFilter), "members_source")
    date_hierarchy = "received_at"
    search_fields = ("group_id",)
    search_help_text = _("Exact group ID, owner ID or the user ID of any member.")
    ordering = ("-id",)
    fields = (
        "group_id",
        "owner_id",
        "group_type",
        "group_type_as_sent",
        "members",
        "members_source",
        "event_time_shown",
        "received",
        "event_link",
        "group_link",
        "group_deliveries",
        "members_preview",
    )
    readonly_fields = fields

    event_time_shown = shown_with_seconds(DismissedGroup, "event_time")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset: QuerySet[Any] = super().get_queryset(request)
        annotated: QuerySet[Any] = queryset.annotate(status_of_event=F("event__status"))
        return annotated

    @admin.display(description=_("member count"), ordering="member_count")
    def members(self, obj: DismissedGroup) -> str:
        return number_format(obj.member_count, force_grouping=True)

    @admin.display(description=_("received"), ordering="received_at")
    def received(self, obj: DismissedGroup) -> str:
        return seconds(obj.received_at)

    @admin.display(description=_("status"), ordering="event__status")
    def event_status(self, obj: DismissedGroup) -> str:
        """How its storing delivery ended: failed when a receiver raised."""
        status = getattr(obj, "status_of_event", None)
        if status is None:
            return "-"
        return status_badge(status)

    @admin.display(description=_("deliveries about this group"))
    def group_deliveries(self, obj: DismissedGroup) -> str:
        return deliveries(obj.group_id)

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        members = DismissedGroupMember.objects.filter(user_id=term).values("dismissal_id")
        return queryset.filter(Q(group_id=term) | Q(owner_id=term) | Q(pk__in=members))

    @admin.display(description=_("group type (as sent)"))
    def group_type_as_sent(self, obj: DismissedGroup) -> str:
        return json.dumps(obj.group_type_raw)

    @admin.display(description=_("first event"))
    def event_link(self, obj: DismissedGroup) -> str:
        return _event_link(obj.event_id)

    @admin.display(description=pgettext_lazy("OpenIM", "group"))
    def group_link(self, obj: DismissedGroup) -> str:
        group = IMGroup.objects.filter(group_id=obj.group_id).values_list("pk", flat=True)
        if not group:
            return "-"
        url = reverse("admin:django_imcallback_imgroup_change", args=[group[0]])
        return format_html('<a href="{}">{}</a>', url, obj.group_id)

    @admin.display(description=_("members"))
    def members_preview(self, obj: DismissedGroup) -> str:
        user_ids = list(
            obj.members.order_by("pk").values_list("user_id", flat=True)[:MEMBER_PREVIEW]
        )
        if not user_ids:
            return "-"
        listing = format_html_join(", ", "{}", ((user_id,) for user_id in user_ids))
        url = reverse("admin:django_imcallback_dismissedgroupmember_changelist")
        more = obj.member_count - len(user_ids)
        if more > 0:
            return format_html(
                '{} &hellip; <a href="{}?dismissal__id__exact={}">{}</a>',
                listing,
                url,
                obj.pk,
                _("and %(count)d more") % {"count": more},
            )
        return format_html(
            '{} (<a href="{}?dismissal__id__exact={}">{}</a>)', listing, url, obj.pk, _("list")
        )


@admin.register(DismissedGroupMember)
class DismissedGroupMemberAdmin(ReadOnlyAdmin):
    list_display = ("user_id", "dismissal")
    list_select_related = ("dismissal",)
    search_fields = ("user_id",)
    search_help_text = _("Exact user ID.")
    ordering = ("-id",)
    fields = ("user_id", "dismissal")
    readonly_fields = fields

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        return queryset.filter(user_id=term)


@admin.register(IMGroup)
class IMGroupAdmin(ReadOnlyAdmin):
    """The mirror of groups: who is in a group now, who was, and what said so."""

    list_display = ("group_id", "name", "owner_id", "status", "created", "first_seen")
    list_filter = ("status",)
    search_fields = ("group_id",)
    search_help_text = _("Exact group ID, owner ID or the user ID of a member (current or former).")
    ordering = ("-id",)
    fields = (
        "group_id",
        "name",
        "owner_id",
        "group_type",
        "status",
        "created",
        "dismissed",
        "first_seen",
        "info",
        "dismissal_link",
        "current_members",
        "former_members",
        "changes",
        "group_deliveries",
    )
    readonly_fields = fields

    @admin.display(description=_("every delivery about it"))
    def group_deliveries(self, obj: IMGroup) -> str:
        return deliveries(obj.group_id)

    created = shown_with_seconds(IMGroup, "created_at")
    dismissed = shown_with_seconds(IMGroup, "dismissed_at")
    first_seen = shown_with_seconds(IMGroup, "first_seen_at")

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        members = IMGroupMember.objects.filter(user_id=term).values("group_id")
        return queryset.filter(Q(group_id=term) | Q(owner_id=term) | Q(pk__in=members))

    def _members(self, obj: IMGroup, current: bool) -> str:
        order = (F("role_level").desc(nulls_last=True), "user_id")
        rows = obj.members.filter(left_at__isnull=current).order_by(*order)
        shown = list(rows.values_list("user_id", "role_level", "left_how")[:MEMBER_PREVIEW])
        if not shown:
            return "-"
        if current:
            items = ((user, role if role is not None else "?") for user, role, _ in shown)
            listing = format_html_join(", ", "{} ({})", items)
        else:
            listing = format_html_join(", ", "{} ({})", ((u, how) for u, _, how in shown))
        url = reverse("admin:django_imcallback_imgroupmember_changelist")
        link = f"{url}?group__id__exact={obj.pk}&left_at__isempty={int(current)}"
        return format_html('{} (<a href="{}">{}</a>)', listing, link, _("list"))

    @admin.display(description=_("members now"))
    def current_members(self, obj: IMGroup) -> str:
        return self._members(obj, current=True)

    @admin.display(description=_("former members"))
    def former_members(self, obj: IMGroup) -> str:
        return self._members(obj, current=False)

    @admin.display(description=_("dismissal"))
    def dismissal_link(self, obj: IMGroup) -> str:
        found = DismissedGroup.objects.filter(group_id=obj.group_id).values_list("pk", flat=True)
        if not found:
            return "-"
        url = reverse("admin:django_imcallback_dismissedgroup_change", args=[found[0]])
        return format_html('<a href="{}">#{}</a>', url, found[0])

    @admin.display(description=_("events that shaped it"))
    def changes(self, obj: IMGroup) -> str:
        changes = obj.changes.order_by("-event_id").values_list("event_id", "kind")[:200]
        rows = ((_event_link(event_id), kind) for event_id, kind in changes)
        return format_html_join(mark_safe("<br>"), "{} {}", rows) or "-"


@admin.register(IMGroupMember)
class IMGroupMemberAdmin(ReadOnlyAdmin):
    list_display = (
        "user_id",
        "group",
        "role_level",
        "joined",
        "joined_how",
        "left",
        "left_how",
    )
    list_select_related = ("group",)
    list_filter = (("left_at", admin.EmptyFieldListFilter), "joined_how", "left_how")
    search_fields = ("user_id",)
    search_help_text = _("Exact user ID.")
    ordering = ("-id",)
    fields = (
        "user_id",
        "group",
        "role_level",
        "joined",
        "joined_how",
        "left",
        "left_how",
        "info",
        "last_event_link",
    )
    readonly_fields = fields

    joined = shown_with_seconds(IMGroupMember, "joined_at")
    left = shown_with_seconds(IMGroupMember, "left_at")

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        return queryset.filter(user_id=term)

    @admin.display(description=_("last changed by"))
    def last_event_link(self, obj: IMGroupMember) -> str:
        return _event_link(obj.last_event_id)
