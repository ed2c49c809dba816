"""Time the admin pages operators use, on a database the size of a busy deployment.

    python -m benchmarks.admin [--dismissals 100000] [--members-each 50] [--reseed]

Seeds (once; again with --reseed) a PostgreSQL database with 100,000 dismissals of 50
members each (5,000,000 member rows) and 100,000 events, then renders each page through
Django's full request cycle and reports the median of several renders.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DB_URL = os.environ.get(
    "BENCH_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/imcallback_bench_admin"
)
TARGET_SECONDS = 0.5


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ensure_database(reseed: bool) -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and reseed:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def seed(dismissals: int, members_each: int) -> None:
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM django_imcallback_dismissedgroup")
        if cursor.fetchone()[0] >= dismissals:
            log("Database already seeded.")
            return
        log(
            f"Seeding {dismissals:,} events and dismissals, "
            f"{dismissals * members_each:,} members..."
        )
        start = time.monotonic()
        # A seed cut short leaves rows and advanced sequences; the rows below assume neither.
        cursor.execute(
            "TRUNCATE django_imcallback_dismissedgroupmember, django_imcallback_dismissedgroup,"
            " django_imcallback_callbackevent RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            """
            INSERT INTO django_imcallback_callbackevent
                (command, operation_id, body, body_size, headers, received_at, status, error,
                 attempts, dispatch_state, group_id, user_id)
            SELECT 'callbackAfterDisMissGroupCommand', 'op-' || i, '{}'::bytea, 2, '{}',
                   now() - i * interval '1 second',
                   (ARRAY['processed','processed','processed','duplicate','failed'])[1 + i %% 5],
                   '', 1, (ARRAY['sent','sent','sent','sent','failed'])[1 + i %% 5],
                   'group-' || lpad(i::text, 7, '0'), 'owner-' || (i %% 5000)
            FROM generate_series(1, %s) AS i
            """,
            [dismissals],
        )
        cursor.execute(
            """
            INSERT INTO django_imcallback_dismissedgroup
                (group_id, owner_id, group_type_raw, group_type, member_count, event_time,
                 received_at, event_id)
            SELECT 'group-' || lpad(i::text, 7, '0'), 'owner-' || (i %% 5000), '2', 2, %s,
                   now() - i * interval '1 second', now() - i * interval '1 second', i
            FROM generate_series(1, %s) AS i
            """,
            [members_each, dismissals],
        )
        # Each user is in 5 groups; user IDs are spread so that indexes see random order.
        cursor.execute(
            """
            INSERT INTO django_imcallback_dismissedgroupmember (dismissal_id, user_id)
            SELECT d.id, 'user-' || lpad((((d.id * %s + j) * 7919) %% %s)::text, 8, '0')
            FROM django_imcallback_dismissedgroup AS d, generate_series(1, %s) AS j
            """,
            [members_each, dismissals * members_each // 5, members_each],
        )
        cursor.execute("ANALYZE")
        log(f"Seeded in {time.monotonic() - start:.0f} s.")


def time_page(client, url: str, expect: str, runs: int = 7) -> float:
    from django.core.cache import cache

    response = client.get(url)  # warm caches and code paths
    assert response.status_code == 200, (url, response.status_code)
    assert expect in response.content.decode(), (url, expect)
    durations = []
    for _ in range(runs):
        cache.clear()  # the health page caches its report for a minute: time the query
        start = time.perf_counter()
        response = client.get(url)
        durations.append(time.perf_counter() - start)
    return statistics.median(durations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dismissals", type=int, default=100_000)
    parser.add_argument("--members-each", type=int, default=50)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    os.environ["BENCH_DATABASE_URL"] = DB_URL
    ensure_database(args.reseed)
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from django_imcallback.models import DismissedGroup, DismissedGroupMember

    seed(args.dismissals, args.members_each)
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)

    member = DismissedGroupMember.objects.order_by("pk").last()
    dismissal = DismissedGroup.objects.order_by("pk")[args.dismissals // 2]
    changelist = reverse("admin:django_imcallback_dismissedgroup_changelist")
    pages = [
        ("dismissal list", changelist, "group-"),
        ("search by member user ID", f"{changelist}?q={member.user_id}", member.dismissal.group_id),
        (
            "a dismissal's page",
            reverse("admin:django_imcallback_dismissedgroup_change", args=[dismissal.pk]),
            dismissal.group_id,
        ),
        (
            "all members of one dismissal",
            reverse("admin:django_imcallback_dismissedgroupmember_changelist")
            + f"?dismissal__id__exact={dismissal.pk}",
            "user-",
        ),
        ("event list", reverse("admin:django_imcallback_callbackevent_changelist"), "group-"),
        (
            "events filtered by status",
            reverse("admin:django_imcallback_callbackevent_changelist") + "?status__exact=failed",
            "failed",
        ),
        (
            "events about a group (search by group ID)",
            reverse("admin:django_imcallback_callbackevent_changelist")
            + f"?q={dismissal.group_id}",
            dismissal.group_id,
        ),
        (
            f"delivery health ({args.dismissals:,} events in the last day, uncached)",
            reverse("admin:django_imcallback_callbackevent_health"),
            "callbackAfterDisMissGroupCommand",
        ),
    ]
    print(
        f"\n{args.dismissals:,} dismissals, "
        f"{DismissedGroupMember.objects.count():,} member rows, PostgreSQL.\n"
    )
    print("| page | median time (s) | target |")
    print("|---|---|---|")
    for label, url, expect in pages:
        seconds = time_page(client, url, expect)
        target = "-" if "event" in label or "all members" in label else f"< {TARGET_SECONDS}"
        print(f"| {label} | {seconds:.3f} | {target} |")


if __name__ == "__main__":
    main()
