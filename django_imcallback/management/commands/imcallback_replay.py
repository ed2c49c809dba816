from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_imcallback.commands import registry
from django_imcallback.models import CallbackEvent
from django_imcallback.replay import (
    MAX_ATTEMPTS,
    REPLAYABLE,
    STALE_AFTER,
    claimable,
    due,
    replay_events,
)


class Command(BaseCommand):
    help = gettext_noop(
        "Replay recorded OpenIM callback events through the pipeline again: by id, by "
        "status and command, or, with no arguments (safe for cron), what is due: failed "
        "events (retried at once, then after --stale-after, doubling with each attempt, up "
        "to --max-attempts), events cut off while stored and announcements still owed, "
        "once older than --stale-after. Invalid and unhandled events only with --status. "
        "Idempotent: a dismissal is stored once and announced by the event that stored "
        "it. When only receivers failed, only they are retried."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self.help = _(type(self).help)  # in the active language, as the options' help
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help=_("Event ids to replay."))
        parser.add_argument(
            "--status",
            action="append",
            choices=CallbackEvent.Status.values,
            help=_("Only events with this status (repeatable)."),
        )
        parser.add_argument(
            "--command", dest="callback_command", help=_("Only this callback command.")
        )
        parser.add_argument("--limit", type=int, help=_("Replay at most this many events."))
        parser.add_argument(
            "--force",
            action="store_true",
            help=_("Also replay processed and duplicate events, and re-send every receiver."),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Only say what would be replayed.")
        )
        parser.add_argument(
            "--max-attempts",
            type=int,
            default=MAX_ATTEMPTS,
            help=_(
                "With no ids or --status: leave a failed event alone once it has had this "
                "many attempts (default: %(default)s)."
            ),
        )
        parser.add_argument(
            "--stale-after",
            type=float,
            default=STALE_AFTER.total_seconds(),
            metavar="SECONDS",
            help=_(
                "How long an event must have been left, still received or owing its "
                "announcement, before it is taken (default: five minutes)."
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        events = CallbackEvent.objects.all()
        if options["ids"]:
            events = events.filter(pk__in=options["ids"])
            missing = set(options["ids"]) - set(events.values_list("pk", flat=True))
            if missing:
                ids = ", ".join(map(str, sorted(missing)))
                raise CommandError(_("No such event(s): %(ids)s.") % {"ids": ids})
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError(_("--limit must be at least 1."))
        if options["stale_after"] < 0:
            raise CommandError(_("--stale-after must be >= 0."))
        stale_after = timedelta(seconds=options["stale_after"])
        if options["max_attempts"] < 1:
            raise CommandError(_("--max-attempts must be at least 1."))
        if not options["ids"] and (options["status"] or options["force"]):
            events = events.filter(claimable(options["force"], stale_after))
        elif not options["ids"]:  # cron's: only what is due
            events = events.filter(due(stale_after, options["max_attempts"]))
        if options["status"]:
            events = events.filter(status__in=options["status"])
        if options["callback_command"]:
            events = events.filter(command__iexact=resolve_command(options["callback_command"]))
        pks = list(events.order_by("pk").values_list("pk", flat=True)[: options["limit"]])
        report = replay_events(
            CallbackEvent.objects.filter(pk__in=pks).order_by("pk"),
            force=options["force"],
            dry_run=options["dry_run"],
            stale_after=stale_after,
        )
        self.stdout.write(report.summary())
        if report.skipped and options["verbosity"] > 1:
            statuses = ", ".join(REPLAYABLE)
            message = _(
                "Skipped ids: %(ids)s (replayable: %(statuses)s, or received and stuck; "
                "use --force for processed ones)."
            )
            ids = ", ".join(map(str, report.skipped))
            self.stdout.write(message % {"ids": ids, "statuses": statuses})
        for line in report.problems():
            self.stderr.write(line)
        if report.failed:
            message = _("%(count)d event(s) failed again.")
            raise CommandError(message % {"count": len(report.failed)})


def resolve_command(name: str) -> str:
    """The command ``name`` means (a command, or its webhooks.yml key). A command the app
    does not declare is taken as it is when events of it are stored (a fork's); otherwise a
    near miss of a declared one is a ``CommandError`` that names it."""
    declared = registry.resolve(name)
    if declared is not None:
        return declared.name
    if CallbackEvent.objects.filter(command__iexact=name).exists():
        return name
    if close := registry.suggest(name):
        raise CommandError(
            _("Unknown command %(name)s. Did you mean %(close)s?")
            % {"name": name, "close": _(" or ").join(close)}
        )
    return name
