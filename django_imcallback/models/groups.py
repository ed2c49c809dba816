"""The mirror of OpenIM groups and their members."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .events import ID_MAX_LENGTH, CallbackEvent


def last_event_field() -> models.ForeignKey[CallbackEvent | None, CallbackEvent | None]:
    """The mirror's link to the delivery that last changed a row."""
    return models.ForeignKey(
        CallbackEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("last changed by"),
    )


class IMGroup(models.Model):
    """The app's mirror of an OpenIM group, kept up to date by the group callbacks.

    From callbacks alone it knows only what the server sent since the app was installed
    (it starts empty, a dropped callback leaves a gap); ``imcallback_sync`` fills and mends
    it from the server's REST API. Changes apply in the order they were stored.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        DISMISSED = "dismissed", _("dismissed")

    group_id = models.CharField(_("group ID"), max_length=ID_MAX_LENGTH)
    # The server puts no limit on a group's name.
    name = models.TextField(_("name"), blank=True)
    owner_id = models.CharField(_("owner ID"), max_length=ID_MAX_LENGTH, blank=True)
    group_type = models.IntegerField(_("group type"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE
    )
    info = models.JSONField(
        _("group info"),
        default=dict,
        blank=True,
        help_text=_("The other group info fields, as the server last sent them."),
    )
    created_at = models.DateTimeField(
        _("created at (server time)"), null=True, blank=True, help_text=_("createTime")
    )
    first_seen_at = models.DateTimeField(_("first seen at"), default=timezone.now)
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)
    event_time = models.DateTimeField(
        _("latest eventTime"),
        null=True,
        blank=True,
        help_text=_("The newest eventTime a change carried; older changes are not applied."),
    )
    last_event = last_event_field()
    synced_at = models.DateTimeField(
        _("last synced at"),
        null=True,
        blank=True,
        help_text=_("When imcallback_sync last compared it with the server's REST API."),
    )
    sync_changes = models.JSONField(
        _("what the last sync changed"),
        null=True,
        blank=True,
        help_text=_("The differences the last sync found and mended; empty: none."),
    )

    class Meta:
        # Not plain "groups": the admin's sidebar already has Django's own.
        verbose_name = _("OpenIM group")
        verbose_name_plural = _("OpenIM groups")
        constraints = [models.UniqueConstraint(fields=["group_id"], name="imcallback_imgroup_id")]
        indexes = [models.Index(fields=["owner_id"], name="imcallback_imgroup_owner")]

    def __str__(self) -> str:
        return self.group_id


class IMGroupMember(models.Model):
    """A user's membership of a mirrored group: one row per (group, user), reopened on re-join."""

    class Source(models.TextChoices):
        CREATED = "created", _("founding member")
        ANNOUNCED = "announced", _("announced before joining")
        JOINED = "joined", _("joined directly")
        KICKED = "kicked", _("kicked")
        QUIT = "quit", _("quit")
        DISMISSED = "dismissed", _("group dismissed")
        SEEN = "seen", _("seen in another callback")
        SYNCED = "synced", _("found by a sync with the server")

    group = models.ForeignKey(
        IMGroup,
        on_delete=models.CASCADE,
        related_name="members",
        db_index=False,
        verbose_name=pgettext_lazy("OpenIM", "group"),
    )
    user_id = models.CharField(_("user ID"), max_length=ID_MAX_LENGTH)
    role_level = models.IntegerField(
        _("role level"), null=True, blank=True, help_text=_("100 owner, 60 admin, 20 member.")
    )
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True)
    joined_how = models.CharField(_("joined how"), max_length=16, blank=True)
    left_at = models.DateTimeField(
        _("left at"), null=True, blank=True, help_text=_("Empty while the user is a member.")
    )
    left_how = models.CharField(_("left how"), max_length=16, blank=True)
    info = models.JSONField(_("member info"), default=dict, blank=True)
    event_time = models.DateTimeField(_("latest eventTime"), null=True, blank=True)
    last_event = last_event_field()

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        constraints = [
            models.UniqueConstraint(fields=["group", "user_id"], name="imcallback_imgroup_member")
        ]
        indexes = [models.Index(fields=["user_id"], name="imcallback_imgroup_member_user")]

    def __str__(self) -> str:
        return self.user_id

    @property
    def is_member(self) -> bool:
        return self.left_at is None
