"""The mirror: groups and their members."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from .. import mirror
from ..models import (
    DismissedGroup,
    IMGroup,
    IMGroupMember,
)
from .base import (
    MEMBER_PREVIEW,
    ReadOnlyAdmin,
    _event_link,
    deliveries,
    shown_with_seconds,
)


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
        "synced",
        "sync_changes_shown",
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

    synced = shown_with_seconds(IMGroup, "synced_at")

    @admin.display(description=_("what the last sync changed"))
    def sync_changes_shown(self, obj: IMGroup) -> str:
        if obj.synced_at is None:
            return "-"
        if not obj.sync_changes:
            return str(_("nothing: the mirror agreed with the server"))
        return format_html_join(mark_safe("<br>"), "{}", ((line,) for line in obj.sync_changes))

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
        changes = mirror.history(obj).values_list("pk", "command")[:200]
        rows = ((_event_link(event_id), command) for event_id, command in changes)
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
