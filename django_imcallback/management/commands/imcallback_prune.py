from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_imcallback import mirror
from django_imcallback.models import CallbackEvent, DismissedGroup


def delete_in_batches(queryset: QuerySet[Any], batch_size: int) -> int:
    """Delete rows a batch at a time, each in its own short transaction."""
    deleted = 0
    while pks := list(queryset.order_by("pk").values_list("pk", flat=True)[:batch_size]):
        with transaction.atomic():
            queryset.model.objects.filter(pk__in=pks).delete()
        deleted += len(pks)
    return deleted


class Command(BaseCommand):
    help = gettext_noop(
        "Delete callback events older than --older-than DAYS, in batches. Failed events are "
        "kept (they can still be replayed) unless --include-failed; dismissals and their "
        "members are kept unless --include-dismissals."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        self.help = _(type(self).help)  # in the active language, as the options' help
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            required=True,
            metavar="DAYS",
            help=_("Delete what was received more than DAYS days ago."),
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=1000,
            help=_("Rows per delete transaction (default 1000)."),
        )
        parser.add_argument(
            "--include-failed", action="store_true", help=_("Delete failed events too.")
        )
        parser.add_argument(
            "--include-dismissals",
            action="store_true",
            help=_("Also delete dismissals (with their members) received before the cut-off."),
        )
        parser.add_argument("--dry-run", action="store_true", help=_("Only count what would go."))

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] < 0 or options["batch_size"] < 1:
            raise CommandError(_("--older-than must be >= 0 and --batch-size >= 1."))
        cutoff = timezone.now() - timedelta(days=options["older_than"])
        events = CallbackEvent.objects.filter(received_at__lt=cutoff)
        if not options["include_failed"]:
            events = events.exclude(status=CallbackEvent.Status.FAILED)
        targets: list[tuple[str, QuerySet[Any]]] = [(_("event(s)"), events)]
        if options["include_dismissals"]:
            dismissals = DismissedGroup.objects.filter(received_at__lt=cutoff)
            targets.append((_("dismissal(s)"), dismissals))
        before = f"{cutoff:%Y-%m-%d %H:%M} UTC"
        # The events that changed groups are the groups' history (the mirror's rows stay).
        changes = mirror.shaping(events.exclude(group_id="")).count()
        for label, queryset in targets:
            values = {"label": label, "before": before}
            if options["dry_run"]:
                message = _("Would delete %(count)d %(label)s received before %(before)s.")
                self.stdout.write(message % {**values, "count": queryset.count()})
            else:
                count = delete_in_batches(queryset, options["batch_size"])
                message = _("Deleted %(count)d %(label)s received before %(before)s.")
                self.stdout.write(message % {**values, "count": count})
            if queryset is events and changes:
                message = (
                    _(
                        "With them, %(count)d group change(s) would leave the groups' "
                        '"events that shaped it"; the groups and their members stay.'
                    )
                    if options["dry_run"]
                    else _(
                        "With them, %(count)d group change(s) left the groups' "
                        '"events that shaped it"; the groups and their members stay.'
                    )
                )
                self.stdout.write(message % {"count": changes})
