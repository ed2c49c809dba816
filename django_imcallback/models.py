"""What django-imcallback stores: every delivery, and what it meant."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# OpenIM IDs are varchar(64) on the server; leave room for forks and prefixes.
ID_MAX_LENGTH = 255
#: Lengths of the event columns filled from the URL and headers (cut to fit, see storable).
COMMAND_MAX_LENGTH = 128
OPERATION_ID_MAX_LENGTH = 128


def storable(text: str, max_length: int) -> str:
    """``text`` as a text column can hold it, cut short: NUL (which PostgreSQL refuses) and
    lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD."""
    text = text.replace("\x00", "\ufffd")[:max_length]
    if not text.isascii():
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in text)
    return text


class CallbackEvent(models.Model):
    """One HTTP delivery from the OpenIM server, recorded before it is trusted."""

    class Dispatch(models.TextChoices):
        """Where the event's announcement (its signals) stands. Pending, queued and
        sending are owed: ``imcallback_replay`` announces them once they are stale."""

        NONE = "", _("nothing to send")
        PENDING = "pending", _("pending")
        QUEUED = "queued", _("queued")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        FAILED = "failed", _("failed")

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSED = "processed", _("processed")
        DUPLICATE = "duplicate", _("duplicate")
        INVALID = "invalid", _("invalid")
        UNHANDLED = "unhandled", _("unhandled")
        FAILED = "failed", _("failed")

    command = models.CharField(
        _("command"),
        max_length=COMMAND_MAX_LENGTH,
        blank=True,
        help_text=_("The callback command from the URL, e.g. callbackAfterDisMissGroupCommand."),
    )
    operation_id = models.CharField(
        _("operation ID"),
        max_length=OPERATION_ID_MAX_LENGTH,
        blank=True,
        help_text=_("The operationID header: OpenIM's only correlation ID."),
    )
    body = models.BinaryField(_("raw body"), default=b"")
    body_size = models.PositiveBigIntegerField(_("body size (bytes)"), default=0)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED
    )
    error = models.TextField(_("error"), blank=True, help_text=_("Error message or traceback."))
    attempts = models.PositiveIntegerField(
        _("attempts"), default=0, help_text=_("How many times the event was processed.")
    )
    processed_at = models.DateTimeField(_("last processed at"), null=True, blank=True)
    dispatch_state = models.CharField(
        _("dispatch"),
        max_length=8,
        choices=Dispatch.choices,
        default=Dispatch.NONE,
        blank=True,
        help_text=_("Whether the event's signals were sent (in the request, or by a task)."),
    )

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        permissions = [("replay_callbackevent", "Can replay callback events")]
        # Indexes are declared here rather than with db_index/unique on the fields: on
        # PostgreSQL those add a second, varchar_pattern_ops index per text column for LIKE
        # queries, which nothing here runs (searches are exact) and every INSERT would pay.
        indexes = [
            models.Index(fields=["operation_id"], name="imcallback_event_operation"),
            # What operators look for (failed, invalid, unhandled, stuck): a partial index,
            # so the common processed and duplicate events cost no index entry here.
            models.Index(
                fields=["status", "command"],
                condition=~models.Q(status__in=["processed", "duplicate"]),
                name="imcallback_event_attention",
            ),
            # Announcements still owed, for imcallback_replay: few rows at any time.
            models.Index(
                fields=["received_at"],
                condition=models.Q(dispatch_state__in=["pending", "queued", "sending"]),
                name="imcallback_event_owed",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.command or '(no command)'} [{self.status}]"


class DismissedGroup(models.Model):
    """A group the OpenIM server dismissed: one row per group, however often it was announced."""

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
