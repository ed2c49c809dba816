"""What django-imcallback stores: every delivery, and what it meant."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

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


#: Body keys that name the user a delivery is about, the first present one wins: the
#: member (quit, member info), the joiner (``inviterUserID`` in a join), the applicant, a
#: message's or request's sender, the new owner, a group's or dismissal's owner.
USER_KEYS = (
    "userID",
    "inviterUserID",
    "applyID",
    "sendID",
    "fromUserID",
    "newOwnerUserID",
    "ownerUserID",
    "ownerID",
)


def subject(payload: dict[str, object]) -> tuple[str, str]:
    """The group and the user a parsed body is about, as the event's columns store them."""
    group_id = payload.get("groupID")
    user_id = next((v for k in USER_KEYS if isinstance(v := payload.get(k), str) and v), "")
    return (
        storable(group_id, ID_MAX_LENGTH) if isinstance(group_id, str) else "",
        storable(user_id, ID_MAX_LENGTH),
    )


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

    class Verdict(models.TextChoices):
        NONE = "", _("no decision")
        ALLOW = "allow", _("allowed")
        BLOCK = "block", _("blocked")
        CHANGE = "change", _("changed")
        DEFAULT = "default", _("default (a decider failed)")

    class Status(models.TextChoices):
        RECEIVED = "received", pgettext_lazy("event status", "received")
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

    verdict = models.CharField(
        _("verdict"),
        max_length=16,
        choices=Verdict.choices,
        blank=True,
        default=Verdict.NONE,
        db_default=Verdict.NONE,
        help_text=_("For a before-callback with deciders: what was decided."),
    )
    answer = models.JSONField(
        _("answer sent"),
        null=True,
        blank=True,
        help_text=_("The exact answer a before-callback's decision sent back."),
    )
    group_id = models.CharField(
        _("group ID"),
        max_length=ID_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        help_text=_("The group the delivery is about (its groupID), when it names one."),
    )
    user_id = models.CharField(
        _("user ID"),
        max_length=ID_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        help_text=_(
            "The user the delivery is about, when it names one: the joiner, the quitter, "
            "a message's sender, the owner of a dismissed group."
        ),
    )

    class Meta:
        verbose_name = _("callback event")
        verbose_name_plural = _("callback events")
        permissions = [("replay_callbackevent", _("Can replay callback events"))]
        # Indexes are declared here rather than with db_index/unique on the fields: on
        # PostgreSQL those add a second, varchar_pattern_ops index per text column for LIKE
        # queries, which nothing here runs (searches are exact) and every INSERT would pay.
        indexes = [
            models.Index(fields=["operation_id"], name="imcallback_event_operation"),
            # Every delivery about a group or a user, for the admin's pages and searches.
            models.Index(
                fields=["group_id"], condition=~models.Q(group_id=""), name="imcallback_event_group"
            ),
            models.Index(
                fields=["user_id"], condition=~models.Q(user_id=""), name="imcallback_event_user"
            ),
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


def is_stored(event: CallbackEvent) -> bool:
    """Whether the event's row exists: its primary key is ``None`` until an INSERT succeeds."""
    return event.pk is not None


class CallbackAttempt(models.Model):
    """One attempt at an event that did not simply succeed the first time: a failure
    (storing, a decider, a receiver), or a replay, whatever came of it. Each keeps its own
    outcome and traceback: a later attempt never rewrites an earlier one."""

    event = models.ForeignKey(
        CallbackEvent,
        on_delete=models.CASCADE,
        related_name="attempt_log",
        verbose_name=_("event"),
    )
    number = models.PositiveIntegerField(_("attempt"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    replay = models.BooleanField(_("replay"), default=False)
    forced = models.BooleanField(
        _("forced"), default=False, help_text=_("A forced replay re-sends every receiver.")
    )
    retried_receivers = models.JSONField(
        _("receivers retried"),
        default=list,
        blank=True,
        help_text=_("The receivers a replay sent to, by dotted path; empty: all of them."),
    )
    status = models.CharField(_("status"), max_length=16, choices=CallbackEvent.Status.choices)
    dispatch_state = models.CharField(
        _("dispatch"), max_length=8, choices=CallbackEvent.Dispatch.choices, blank=True
    )
    failed_receivers = models.JSONField(
        _("receivers that failed"),
        default=list,
        blank=True,
        help_text=_("Dotted paths of the receivers that raised in this attempt."),
    )
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        constraints = [
            models.UniqueConstraint(fields=["event", "number"], name="imcallback_attempt_once")
        ]

    def __str__(self) -> str:
        return f"#{self.event_id} attempt {self.number} [{self.status}]"


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

    It knows only what the server sent since the app was installed: it starts empty, a
    dropped callback leaves a gap, and changes apply in the order they were stored.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        DISMISSED = "dismissed", _("dismissed")

    group_id = models.CharField(_("group ID"), max_length=ID_MAX_LENGTH)
    name = models.CharField(_("name"), max_length=ID_MAX_LENGTH, blank=True)
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

    class Meta:
        verbose_name = pgettext_lazy("OpenIM", "group")
        verbose_name_plural = pgettext_lazy("OpenIM", "groups")
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


class IMGroupChange(models.Model):
    """A delivery that changed a mirrored group, and the announcement it made."""

    group = models.ForeignKey(
        IMGroup,
        on_delete=models.CASCADE,
        related_name="changes",
        verbose_name=pgettext_lazy("OpenIM", "group"),
    )
    event = models.OneToOneField(
        CallbackEvent,
        on_delete=models.CASCADE,
        related_name="group_change",
        verbose_name=_("event"),
    )
    kind = models.CharField(_("kind"), max_length=32)
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("group change")
        verbose_name_plural = _("group changes")

    def __str__(self) -> str:
        return f"{self.kind} ({self.group_id})"
