"""Fast insertion of member snapshots, which can hold hundreds of thousands of rows."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from . import store
from .models import CallbackEvent, DismissedGroup, DismissedGroupMember

BATCH_SIZE = 5_000
#: Below this many rows one INSERT ... unnest() (one round trip) beats COPY (three).
COPY_THRESHOLD = 1_000


def one_statement(using: str, rows: int) -> bool:
    """Whether a dismissal with ``rows`` members can be stored in one statement on ``using``."""
    return connections[using].vendor == "postgresql" and rows < COPY_THRESHOLD


def insert_dismissal(
    dismissal: DismissedGroup,
    user_ids: Sequence[str],
    using: str,
    *,
    with_event: CallbackEvent | None = None,
) -> None:
    """INSERT a dismissal and its member snapshot, in the current transaction.

    On PostgreSQL a small snapshot rides in the dismissal's own statement (a
    data-modifying CTE), saving a round trip and a statement on every ordinary callback.

    ``with_event`` (a new, unsaved event; only where ``one_statement`` says so) goes in
    the same statement, first, and becomes the dismissal's event. Outside a transaction
    that one statement is the whole transaction: the delivery, the dismissal and its
    members are committed together, or none of them is.
    """
    connection = connections[using]
    if with_event is None and (
        connection.vendor != "postgresql" or not 0 < len(user_ids) < COPY_THRESHOLD
    ):
        store.insert(dismissal, using)
        insert_members(dismissal.pk, user_ids, using)
        return
    if with_event is not None and not one_statement(using, len(user_ids)):
        raise ValueError("This dismissal cannot be stored in one statement here.")
    pk = connection.ops.quote_name(store.column(DismissedGroup))
    parts, params = [], []
    if with_event is not None:
        event_sql, event_params, _ = store.insert_statement(with_event, using)
        parts.append(f"new_event AS ({event_sql})")
        params.extend(event_params)
        computed = (("event", f"(SELECT {pk} FROM new_event)"),)
        dismissal_sql, dismissal_params, _ = store.insert_statement(dismissal, using, computed)
    else:
        dismissal_sql, dismissal_params, _ = store.insert_statement(dismissal, using)
    parts.append(f"new_dismissal AS ({dismissal_sql})")
    params.extend(dismissal_params)
    if user_ids:
        table, columns = _member_table(connection)
        parts.append(
            f"new_members AS (INSERT INTO {table} ({columns}) "
            f"SELECT new_dismissal.{pk}, unnest(%s::text[]) FROM new_dismissal)"
        )
        params.append(list(user_ids))
    event_pk = f"(SELECT {pk} FROM new_event)" if with_event is not None else "NULL"
    sql = f"WITH {', '.join(parts)} SELECT {event_pk}, (SELECT {pk} FROM new_dismissal)"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        event_id, dismissal_id = cursor.fetchone()
    if with_event is not None:
        store.set_pk(with_event, event_id, using)
        dismissal.event_id = event_id
    store.set_pk(dismissal, dismissal_id, using)


def _member_table(connection: BaseDatabaseWrapper) -> tuple[str, str]:
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(store.column(DismissedGroupMember, name)) for name in ("dismissal", "user_id")
    )
    return quote(DismissedGroupMember._meta.db_table), columns


def insert_members(dismissal_id: int, user_ids: Sequence[str], using: str = "default") -> None:
    """Insert one ``DismissedGroupMember`` row per user ID, in the current transaction.

    PostgreSQL gets one ``INSERT ... SELECT unnest(array)`` for small snapshots and, with
    psycopg 3, ``COPY ... FROM STDIN`` for large ones; every other database gets batched
    ``executemany``. None of them builds a model instance per row.
    """
    if not user_ids:
        return
    connection = connections[using]
    table, columns = _member_table(connection)
    with connection.cursor() as cursor:
        raw = cursor.cursor
        if connection.vendor == "postgresql" and len(user_ids) < COPY_THRESHOLD:
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT %s, unnest(%s::text[])",
                [dismissal_id, list(user_ids)],
            )
            return
        if connection.vendor == "postgresql" and hasattr(raw, "copy"):
            # Sorted rows land next to each other in the (dismissal, user_id) and user_id
            # indexes: COPY runs over twice as fast as in payload order (measured).
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for user_id in sorted(user_ids):
                    copy.write_row((dismissal_id, user_id))
            return
        sql = f"INSERT INTO {table} ({columns}) VALUES (%s, %s)"
        for start in range(0, len(user_ids), BATCH_SIZE):
            batch = user_ids[start : start + BATCH_SIZE]
            cursor.executemany(sql, [(dismissal_id, user_id) for user_id in batch])
