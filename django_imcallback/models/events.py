"""The event log: every delivery (``CallbackEvent``) and every attempt at it."""

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


#: For a command the app does not declare: body keys that name the user a delivery is
#: about, the first present one wins: the
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


def subject(
    payload: dict[str, object], group_key: str = "groupID", user_keys: tuple[str, ...] = USER_KEYS
) -> tuple[str, str]:
    """The group and the user a parsed body is about, as the event's columns store them
    (``user_keys``: the first non-empty one names the user)."""
    group_id = payload.get(group_key) if group_key else None
    user_id = next((v for k in user_keys if isinstance(v := payload.get(k), str) and v), "")
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
    outcome = models.JSONField(
        _("stored outcome"),
        null=True,
        blank=True,
        help_text=_(
            "What storing it did: its status, note and signal's arguments, which a task "
            "worker or a replay announces again. Empty until its storing commits."
        ),
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
    """Whether the event's row exists (a new event may hold a primary key drawn for it
    before its row is written: see ``lifecycle.storing``)."""
    return not event._state.adding


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
