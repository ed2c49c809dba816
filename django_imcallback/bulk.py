"""Fast insertion of member snapshots, which can hold hundreds of thousands of rows."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections

from .models import DismissedGroupMember

BATCH_SIZE = 5_000


def insert_members(dismissal_id: int, user_ids: Sequence[str], using: str = "default") -> None:
    """Insert one ``DismissedGroupMember`` row per user ID, in the current transaction.

    PostgreSQL with psycopg 3 gets ``COPY ... FROM STDIN``; every other database gets
    batched ``executemany``. Neither builds a model instance per row.
    """
    if not user_ids:
        return
    connection = connections[using]
    meta = DismissedGroupMember._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = (
        f"{quote(meta.get_field('dismissal').column)}, {quote(meta.get_field('user_id').column)}"
    )
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if connection.vendor == "postgresql" and hasattr(raw, "copy"):
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for user_id in user_ids:
                    copy.write_row((dismissal_id, user_id))
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES (%s, %s)"  # noqa: S608
        for start in range(0, len(user_ids), BATCH_SIZE):
            batch = user_ids[start : start + BATCH_SIZE]
            cursor.executemany(sql, [(dismissal_id, user_id) for user_id in batch])
