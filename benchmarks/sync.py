"""Benchmark ``imcallback_sync``: 1,000 groups of 100 members from the fake REST API into an
empty mirror, then the same again (nothing to change), on the benchmark database.

    python -m benchmarks.sync [--groups 1000] [--members 100]

Reports the time and the statements per group of each run; the mirror's writes are bulk,
so the statements per group do not grow with the group's size.
"""

from __future__ import annotations

import argparse
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--members", type=int, default=100)
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from django_imcallback.models import IMGroup, IMGroupMember
    from django_imcallback.openim_api import Client
    from django_imcallback.sync import sync
    from django_imcallback.testing.fake_openim import FakeOpenIM

    call_command("migrate", verbosity=0)
    IMGroupMember.objects.all().delete()
    IMGroup.objects.all().delete()
    rows = []
    with FakeOpenIM() as fake:
        for index in range(args.groups):
            users = [f"u{index}-{i}" for i in range(args.members - 1)]
            fake.add_group(f"bench-{index:05d}", f"owner-{index}", users)
        for label in ("empty mirror", "again, nothing to change"):
            client = Client(fake.url, fake.secret)
            started = time.perf_counter()
            statements = []
            with connection.execute_wrapper(lambda run, *a, s=statements: s.append(1) or run(*a)):
                report = sync(client)
            elapsed = time.perf_counter() - started
            per_group = len(statements) / args.groups
            rows.append((label, elapsed, per_group, sum(client.calls.values())))
            assert report.groups == args.groups, report.summary()
    print(
        f"\n| sync of {args.groups:,} groups of {args.members} members | time (s) "
        "| statements per group | API calls |"
    )
    print("|---|---|---|---|")
    for label, elapsed, per_group, calls in rows:
        print(f"| {label} | {elapsed:.1f} | {per_group:.1f} | {calls:,} |")


if __name__ == "__main__":
    main()
