from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from django_imcallback.models import CallbackEvent
from django_imcallback.replay import REPLAYABLE, replay_events


class Command(BaseCommand):
    help = (
        "Replay recorded OpenIM callback events through the pipeline again: by id, or by "
        "status (default: failed) and command. Idempotent: a dismissal is stored and "
        "announced once however often it is replayed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("ids", nargs="*", type=int, help="Event ids to replay.")
        parser.add_argument(
            "--status",
            action="append",
            choices=CallbackEvent.Status.values,
            help="Replay events with this status (repeatable). Default without ids: failed.",
        )
        parser.add_argument(
            "--command", dest="callback_command", help="Only this callback command."
        )
        parser.add_argument("--limit", type=int, help="Replay at most this many events.")
        parser.add_argument(
            "--force",
            action="store_true",
            help="Also replay processed and duplicate events (re-sends their signals).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only say what would be replayed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        events = CallbackEvent.objects.all()
        if options["ids"]:
            events = events.filter(pk__in=options["ids"])
            missing = set(options["ids"]) - set(events.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"No such event(s): {', '.join(map(str, sorted(missing)))}.")
        if options["status"] or not options["ids"]:
            events = events.filter(status__in=options["status"] or [CallbackEvent.Status.FAILED])
        if options["callback_command"]:
            events = events.filter(command__iexact=options["callback_command"])
        events = events.order_by("pk")
        if options["limit"]:
            events = events[: options["limit"]]
        report = replay_events(events, force=options["force"], dry_run=options["dry_run"])
        self.stdout.write(report.summary())
        if report.skipped and options["verbosity"] > 1:
            statuses = ", ".join(REPLAYABLE)
            self.stdout.write(
                f"Skipped ids: {', '.join(map(str, report.skipped))} (replayable: {statuses}, "
                "or received and stuck; use --force for processed ones)."
            )
        for line in report.problems():
            self.stderr.write(line)
        if report.failed:
            raise CommandError(f"{len(report.failed)} event(s) failed again.")
