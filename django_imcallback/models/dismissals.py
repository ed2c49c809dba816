"""Dismissed groups and their member snapshots."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .events import ID_MAX_LENGTH, CallbackEvent


class MembersSource(models.TextChoices):
    CALLBACK = "callback", _("the callback")
    MIRROR = "mirror", _("the mirror")
    NONE = "none", _("nothing known")


class DismissedGroup(models.Model):
    """A group the OpenIM server dismissed: one row per group, however often it was announced."""

    MembersSource = MembersSource

    group_id = models.CharField(_("group ID"), max_length=ID_MAX_LENGTH)
    owner_id = models.CharField(_("owner ID"), max_length=ID_MAX_LENGTH, blank=True)
    group_type_raw = models.JSONField(
        _("group type (as sent)"),
        null=True,
        blank=True,
        help_text=_('groupType exactly as it arrived: 2, "2" or the one-character "\\u0002".'),
    )
    group_type = models.IntegerField(_("group type"), null=True, blank=True)
    member_count = models.PositiveIntegerField(_("member count"), default=0)
    members_source = models.CharField(
        _("members from"),
        max_length=16,
        choices=MembersSource.choices,
        default=MembersSource.CALLBACK,
        db_default=MembersSource.CALLBACK,
        help_text=_(
            "Where the member snapshot came from: the callback's membersID, the mirror of the "
            "group's members (the callback named none), or nowhere (nothing was known)."
        ),
    )
    event_time = models.DateTimeField(
        _("dismissed at (server time)"),
        null=True,
        blank=True,
        help_text=_("The server's eventTime, when it sent one."),
    )
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    event = models.ForeignKey(
        CallbackEvent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="dismissals",
        verbose_name=_("first event"),
    )

    class Meta:
        verbose_name = _("dismissed group")
        verbose_name_plural = _("dismissed groups")
        # Declared here, not on the fields: see CallbackEvent.Meta.
        constraints = [models.UniqueConstraint(fields=["group_id"], name="imcallback_group_id")]
        indexes = [models.Index(fields=["owner_id"], name="imcallback_group_owner")]

    def __str__(self) -> str:
        return self.group_id


class DismissedGroupMember(models.Model):
    """One member of a group at the moment it was dismissed."""

    # No index of its own: the unique (dismissal, user_id) index serves lookups by dismissal.
    dismissal = models.ForeignKey(
        DismissedGroup,
        on_delete=models.CASCADE,
        related_name="members",
        db_index=False,
        verbose_name=_("dismissal"),
    )
    user_id = models.CharField(_("user ID"), max_length=ID_MAX_LENGTH)

    class Meta:
        verbose_name = _("dismissed group member")
        verbose_name_plural = _("dismissed group members")
        constraints = [
            models.UniqueConstraint(
                fields=["dismissal", "user_id"], name="imcallback_member_unique_per_dismissal"
            )
        ]
        # Declared here, not on the field: see CallbackEvent.Meta.
        indexes = [models.Index(fields=["user_id"], name="imcallback_member_user")]

    def __str__(self) -> str:
        return self.user_id
