"""Dismissed groups and their member snapshots."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..models import (
    DismissedGroup,
    DismissedGroupMember,
    IMGroup,
)
from .base import (
    MEMBER_PREVIEW,
    ReadOnlyAdmin,
    _event_link,
    deliveries,
    seconds,
    shown_with_seconds,
    status_badge,
)


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
