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


def insert_dismissal(dismissal: DismissedGroup, user_ids: Sequence[str], using: str) -> None:
    """INSERT a dismissal and its member snapshot, in the current transaction.

    On PostgreSQL a small snapshot rides in the dismissal's own statement (a
    data-modifying CTE), saving a round trip and a statement on every ordinary callback.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or not 0 < len(user_ids) < COPY_THRESHOLD:
        store.insert(dismissal, using)
        insert_members(dismissal.pk, user_ids, using)
        return
    insert_sql, params, _ = store.insert_statement(dismissal, using)
    pk = connection.ops.quote_name(store.column(DismissedGroup))
    sql = (
        f"WITH dismissal AS ({insert_sql}), "
        f"members AS ({_insert_members_sql(connection, 'dismissal', pk)}) "
        f"SELECT {pk} FROM dismissal"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, list(user_ids)])
        store.set_pk(dismissal, cursor.fetchone()[0], using)


STORED, DUPLICATE, CONFLICT = "stored", "duplicate", "conflict"


def store_delivery(
    event: CallbackEvent,
    dismissal: DismissedGroup,
    user_ids: Sequence[str],
    duplicate_note: tuple[str, str],
    using: str,
) -> tuple[str, int | None]:
    """Store a new delivery of a dismissal in one statement (only where ``one_statement``).

    Sent outside a transaction, that statement is the whole transaction: everything it
    stores is committed together, or nothing is. Returns ``(STORED, None)``: the event,
    the dismissal (pointing at the event) and its members are stored; ``(DUPLICATE, id)``:
    the group is already stored as dismissal ``id`` and the event is stored as a
    duplicate, its error reading ``duplicate_note[0] + id + duplicate_note[1]``;
    ``(CONFLICT, None)``: nothing was written, a transaction must sort it out.

    The server sends every dismissal twice, with its members and then without, so the two
    shapes get two statements. With members (the first copy, as a rule): the event, the
    dismissal, the members, as cheaply as one statement can; the rare repeat fails on the
    unique group ID (``IntegrityError``). Without members (the repeat, as a rule): the
    dismissal goes first, with ``ON CONFLICT DO NOTHING``, so that the repeat never fails
    (no ERROR in the database's log for every dismissal) and is recorded at once.
    """
    if not one_statement(using, len(user_ids)):
        raise ValueError("This dismissal cannot be stored in one statement here.")
    if user_ids:
        _store_with_members(event, dismissal, user_ids, using)
        return STORED, None
    return _store_without_members(event, dismissal, duplicate_note, using)


def _store_with_members(
    event: CallbackEvent, dismissal: DismissedGroup, user_ids: Sequence[str], using: str
) -> None:
    connection = connections[using]
    pk = connection.ops.quote_name(store.column(DismissedGroup))
    event_sql, event_params, _ = store.insert_statement(event, using)
    dismissal_sql, dismissal_params, _ = store.insert_statement(
        dismissal, using, computed=(("event", f"(SELECT {pk} FROM new_event)"),)
    )
    sql = (
        f"WITH new_event AS ({event_sql}), new_dismissal AS ({dismissal_sql}), "
        f"new_members AS ({_insert_members_sql(connection, 'new_dismissal', pk)}) "
        f"SELECT (SELECT {pk} FROM new_event), (SELECT {pk} FROM new_dismissal)"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*event_params, *dismissal_params, list(user_ids)])
        event_id, dismissal_id = cursor.fetchone()
    store.set_pk(event, event_id, using)
    dismissal.event_id = event_id
    store.set_pk(dismissal, dismissal_id, using)


def _store_without_members(
    event: CallbackEvent, dismissal: DismissedGroup, duplicate_note: tuple[str, str], using: str
) -> tuple[str, int | None]:
    """The dismissal first, skipped if its group is stored; it refers to the event through
    an id drawn beforehand (the deferred foreign key is checked once both are in). The
    event follows: processed with a new dismissal, duplicate of a stored one. A conflict
    with a row committed while the statement ran is too late for it to see, so the
    statement runs once more; CONFLICT if that one cannot see it either (it was deleted)."""
    connection = connections[using]
    quote = connection.ops.quote_name
    table = quote(DismissedGroup._meta.db_table)
    pk, event_pk = quote(store.column(DismissedGroup)), quote(store.column(CallbackEvent))
    group_id = quote(store.column(DismissedGroup, "group_id"))
    new_id = "(SELECT id FROM new_event_id)"
    dismissal_sql, dismissal_params, _ = store.insert_statement(
        dismissal, using, computed=(("event", new_id),), skip_conflicts_on=("group_id",)
    )
    event_sql, event_params, _ = store.insert_statement(
        event,
        using,
        computed=(
            (CallbackEvent._meta.pk.name, new_id),
            ("status", "(SELECT status FROM outcome)"),
            ("error", "(SELECT error FROM outcome)"),
        ),
        where="(SELECT status FROM outcome) IS NOT NULL",
    )
    sql = (
        "WITH new_event_id AS MATERIALIZED (SELECT nextval(%s::regclass) AS id), "
        f"new_dismissal AS ({dismissal_sql}), "
        f"stored AS (SELECT {pk} AS id FROM {table} WHERE {group_id} = %s"
        " AND NOT EXISTS (SELECT 1 FROM new_dismissal)), "
        "outcome AS MATERIALIZED (SELECT"
        " CASE WHEN EXISTS (SELECT 1 FROM new_dismissal) THEN %s"
        " WHEN EXISTS (SELECT 1 FROM stored) THEN %s END AS status,"
        " CASE WHEN EXISTS (SELECT 1 FROM new_dismissal) THEN ''"
        " ELSE %s || (SELECT id FROM stored) || %s END AS error), "
        f"new_event AS ({event_sql}) "
        f"SELECT (SELECT {event_pk} FROM new_event), (SELECT {pk} FROM new_dismissal),"
        " (SELECT id FROM stored)"
    )
    params = [
        # PostgreSQL's name for the sequence of a serial or identity column (a literal cast
        # to regclass is resolved once, when the statement is parsed).
        quote(f"{CallbackEvent._meta.db_table}_{store.column(CallbackEvent)}_seq"),
        *dismissal_params,
        dismissal.group_id,
        CallbackEvent.Status.PROCESSED.value,
        CallbackEvent.Status.DUPLICATE.value,
        *duplicate_note,
        *event_params,
    ]
    with connection.cursor() as cursor:
        for _ in range(2):
            cursor.execute(sql, params)
            event_id, dismissal_id, stored_id = cursor.fetchone()
            if event_id is not None:
                break
            # The conflicting row was committed while the statement waited for it (the two
            # copies raced): the statement could not see it, the next one will.
    if event_id is None:
        return CONFLICT, None
    store.set_pk(event, event_id, using)
    if dismissal_id is None:
        return DUPLICATE, stored_id
    dismissal.event_id = event_id
    store.set_pk(dismissal, dismissal_id, using)
    return STORED, None


def _member_table(connection: BaseDatabaseWrapper) -> tuple[str, str]:
    quote = connection.ops.quote_name
    columns = ", ".join(
        quote(store.column(DismissedGroupMember, name)) for name in ("dismissal", "user_id")
    )
    return quote(DismissedGroupMember._meta.db_table), columns


def _insert_members_sql(connection: BaseDatabaseWrapper, source: str = "", pk: str = "") -> str:
    """PostgreSQL: one member row per element of an array parameter (``%s::text[]``).

    The dismissal is the parameter before it, or, with ``source``, column ``pk`` of the
    CTE ``source`` that inserted it.
    """
    table, columns = _member_table(connection)
    if not source:
        return f"INSERT INTO {table} ({columns}) SELECT %s, unnest(%s::text[])"
    return f"INSERT INTO {table} ({columns}) SELECT {source}.{pk}, unnest(%s::text[]) FROM {source}"


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
            cursor.execute(_insert_members_sql(connection), [dismissal_id, list(user_ids)])
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
