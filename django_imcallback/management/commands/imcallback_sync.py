from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_imcallback.openim_api import NO_PERMISSION, PAGE_MAX, APIError
from django_imcallback.sync import client_from_settings, sync


class Command(BaseCommand):
    help = gettext_noop(
        "Make the mirror of groups and members agree with the OpenIM server's REST API "
        '(IMCALLBACK["OPENIM_API"]): add what is missing, update names, owners and roles, '
        "end memberships the server no longer has, mark dismissed groups. Run it once at "
        "install, then periodically."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self.help = _(type(self).help)  # in the active language, as the options' help
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--group",
            action="append",
            dest="groups",
            metavar="ID",
            help=_("Only this group (repeat for more)."),
        )
        parser.add_argument(
            "--dry-run", action="store_true", help=_("Print the differences; change nothing.")
        )
        parser.add_argument(
            "--skip-recent",
            type=int,
            metavar="MINUTES",
            help=_("Skip groups the mirror saw change (a callback, a sync) in the last MINUTES."),
        )
        parser.add_argument(
            "--page-size",
            type=int,
            default=PAGE_MAX,
            help=_("Groups and members per page (at most 1000, the default)."),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            client = client_from_settings()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        skip = options["skip_recent"]
        started = time.monotonic()
        try:
            report = sync(
                client,
                group_ids=options["groups"],
                skip_recent=timedelta(minutes=skip) if skip is not None else None,
                dry_run=options["dry_run"],
                page_size=options["page_size"],
                progress=self.stderr.write if options["verbosity"] > 1 else None,
            )
        except APIError as exc:
            if exc.code == NO_PERMISSION and exc.path == "/auth/get_admin_token":
                message = _(
                    'The server refused the admin token: IMCALLBACK["OPENIM_API"]["SECRET"] '
                    "is not its secret (errCode 1002)."
                )
                raise CommandError(message) from exc
            raise CommandError(_("The OpenIM API failed: %(error)s") % {"error": exc}) from exc
        if options["dry_run"] or options["verbosity"] > 1:
            for line in report.differences:
                self.stdout.write(line)
        prefix = _("Dry run, nothing changed: ") if options["dry_run"] else ""
        self.stdout.write(prefix + report.summary())
        calls = sum(client.calls.values())
        self.stderr.write(
            _("%(calls)d API calls in %(seconds).1f s.")
            % {"calls": calls, "seconds": time.monotonic() - started}
        )
