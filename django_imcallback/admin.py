"""Read-only admin for the event log and the dismissals, fast on millions of rows.

Searches are exact matches on indexed columns (an ``icontains`` over millions of
member rows would scan them all), the event list never loads raw bodies, and a
dismissal's page shows a bounded preview of its members with a link to all of them.
"""

from __future__ import annotations

import contextlib
import json
from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from .handlers import registry
from .models import (
    CallbackEvent,
    DismissedGroup,
    DismissedGroupMember,
    IMGroup,
    IMGroupMember,
)
from .replay import replay_events

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
    """Commands with a handler, without a DISTINCT over the whole event table."""

    title = _("command")
    parameter_name = "command"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [(command, command) for command in registry.commands()]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(command=value) if value else queryset


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "received_at",
        "command",
        "status",
        "verdict",
        "dispatch_state",
        "operation_id",
        "remote_addr",
        "body_size",
        "attempts",
    )
    list_filter = ("status", "verdict", "dispatch_state", CommandFilter)
    search_fields = ("operation_id",)
    search_help_text = _("Exact operation ID, command or event number.")
    ordering = ("-id",)
    actions = ["replay"]
    fields = (
        "command",
        "status",
        "dispatch_state",
        "operation_id",
        "remote_addr",
        "received_at",
        "processed_at",
        "attempts",
        "body_size",
        "verdict",
        "answer_sent",
        "pretty_body",
        "pretty_headers",
        "error_text",
        "dismissal_links",
    )
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Bodies can be megabytes; the list never shows them.
        return super().get_queryset(request).defer("body")

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        condition = Q(operation_id=term) | Q(command=term)
        if term.isdigit():
            condition |= Q(pk=int(term))
        return queryset.filter(condition)

    @admin.display(description=_("body"))
    def pretty_body(self, obj: CallbackEvent) -> str:
        body = bytes(obj.body)
        text = body[:BODY_PREVIEW_BYTES].decode("utf-8", errors="backslashreplace")
        if len(body) <= BODY_PREVIEW_BYTES:
            with contextlib.suppress(ValueError):
                text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        else:
            text += f"\n... ({len(body) - BODY_PREVIEW_BYTES} more bytes)"
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', text)

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
        return format_html("<pre>{}</pre>", obj.error) if obj.error else "-"

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
        report = replay_events(queryset)
        self.message_user(request, report.summary(), messages.SUCCESS)
        for line in report.problems():
            self.message_user(request, line, messages.WARNING)


@admin.register(DismissedGroup)
class DismissedGroupAdmin(ReadOnlyAdmin):
    list_display = (
        "group_id",
        "owner_id",
        "member_count",
        "members_source",
        "group_type",
        "event_time",
        "received_at",
    )
    list_filter = ("members_source",)
    search_fields = ("group_id",)
    search_help_text = _("Exact group ID, owner ID or the user ID of any member.")
    ordering = ("-id",)
    fields = (
        "group_id",
        "owner_id",
        "group_type",
        "group_type_as_sent",
        "member_count",
        "members_source",
        "event_time",
        "received_at",
        "event_link",
        "group_link",
        "members_preview",
    )
    readonly_fields = fields

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        members = DismissedGroupMember.objects.filter(user_id=term).values("dismissal_id")
        return queryset.filter(Q(group_id=term) | Q(owner_id=term) | Q(pk__in=members))

    @admin.display(description=_("group type (as sent)"))
    def group_type_as_sent(self, obj: DismissedGroup) -> str:
        return json.dumps(obj.group_type_raw)

    @admin.display(description=_("first event"))
    def event_link(self, obj: DismissedGroup) -> str:
        return _event_link(obj.event_id)

    @admin.display(description=_("group"))
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

    list_display = ("group_id", "name", "owner_id", "status", "created_at", "first_seen_at")
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
        "created_at",
        "dismissed_at",
        "first_seen_at",
        "info",
        "dismissal_link",
        "current_members",
        "former_members",
        "changes",
    )
    readonly_fields = fields

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
        "joined_at",
        "joined_how",
        "left_at",
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
        "joined_at",
        "joined_how",
        "left_at",
        "left_how",
        "info",
        "last_event_link",
    )
    readonly_fields = fields

    def exact_search(self, queryset: QuerySet[Any], term: str) -> QuerySet[Any]:
        return queryset.filter(user_id=term)

    @admin.display(description=_("last changed by"))
    def last_event_link(self, obj: IMGroupMember) -> str:
        return _event_link(obj.last_event_id)
