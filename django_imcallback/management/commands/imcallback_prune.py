from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

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
    help = (
        "Delete callback events older than --older-than DAYS, in batches. Failed events are "
        "kept (they can still be replayed) unless --include-failed; dismissals and their "
        "members are kept unless --include-dismissals."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, required=True, metavar="DAYS")
        parser.add_argument("--batch-size", type=int, default=1000)
        parser.add_argument(
            "--include-failed", action="store_true", help="Delete failed events too."
        )
        parser.add_argument(
            "--include-dismissals",
            action="store_true",
            help="Also delete dismissals (with their members) received before the cut-off.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Only count what would go.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["older_than"] < 0 or options["batch_size"] < 1:
            raise CommandError("--older-than must be >= 0 and --batch-size >= 1.")
        cutoff = timezone.now() - timedelta(days=options["older_than"])
        events = CallbackEvent.objects.filter(received_at__lt=cutoff)
        if not options["include_failed"]:
            events = events.exclude(status=CallbackEvent.Status.FAILED)
        targets: list[tuple[str, QuerySet[Any]]] = [("event", events)]
        if options["include_dismissals"]:
            targets.append(("dismissal", DismissedGroup.objects.filter(received_at__lt=cutoff)))
        before = f"received before {cutoff:%Y-%m-%d %H:%M} UTC"
        for label, queryset in targets:
            if options["dry_run"]:
                self.stdout.write(f"Would delete {queryset.count()} {label}(s) {before}.")
            else:
                count = delete_in_batches(queryset, options["batch_size"])
                self.stdout.write(f"Deleted {count} {label}(s) {before}.")
