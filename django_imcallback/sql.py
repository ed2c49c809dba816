"""The few statements the storing core writes by hand; everything else uses the ORM.

- ``insert``: a new event, its large body sent as bytes rather than escaped into SQL;
  ``next_id``: a primary key drawn for a row before it is written.
- ``insert_children``: many ``(parent, value)`` rows: ``unnest`` or sorted ``COPY`` on
  PostgreSQL, batched ``executemany`` elsewhere; no model instance per row.
- ``store_in_one_statement``: route 1 of ``storage``, a new event and a row unique on a key,
  with its children, in one autocommitted PostgreSQL statement.
- ``upsert``: a row unique on a key, created if missing, returned and (on PostgreSQL)
  locked, in one round trip.
- ``upsert_members``: memberships begun or ended, many users in one statement, returning
  the users whose membership it changed.
- ``clear_marker``: an event's announcement state, without waiting for the disk.

Statements are built once per model and database (building one through the ORM costs more
CPU than the rest of a small callback); values go through each field's ``get_db_prep_save``,
so JSON, binary and time columns behave exactly as through the ORM.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from typing import Any

from django.db import connections, models, router
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from .models import CallbackEvent

#: Above this many bytes of binary data, psycopg 3 sends them with server-side binding.
BINARY_BINDING_BYTES = 64 * 1024
#: Below this many child rows, one ``INSERT ... unnest()`` (one round trip) beats ``COPY``.
COPY_THRESHOLD = 1_000
BATCH_SIZE = 5_000
#: Appended to a PostgreSQL statement's select list: its implicit transaction commits
#: without waiting for the disk. Only for writes whose loss loses no delivery.
NO_WAIT = "set_config('synchronous_commit', 'off', true)"


def db_of(obj: models.Model) -> str:
    """The database alias ``obj`` was saved to, or will be."""
    return obj._state.db or router.db_for_write(type(obj), instance=obj)


def is_postgresql(using: str) -> bool:
    return connections[using].vendor == "postgresql"


def autocommits(using: str) -> bool:
    """Whether a statement on ``using`` now commits by itself (no transaction is open)."""
    connection = connections[using]
    return not connection.in_atomic_block and connection.get_autocommit()


def column(model: type[models.Model], using: str, name: str = "pk") -> str:
    field = model._meta.pk if name == "pk" else model._meta.get_field(name)
    return connections[using].ops.quote_name(str(getattr(field, "column", None)))


def table(model: type[models.Model], using: str) -> str:
    return connections[using].ops.quote_name(model._meta.db_table)


def _set_pk(obj: models.Model, pk: Any, using: str) -> None:
    obj.pk = pk
    obj._state.adding, obj._state.db = False, using


@cache
def _insert(
    model: type[models.Model],
    using: str,
    computed: tuple[tuple[str, str], ...] = (),
    with_pk: bool = False,
) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    """``INSERT INTO model (...) SELECT <values>`` and the fields given as parameters.

    ``computed`` maps field names (the primary key's included) to SQL expressions;
    ``with_pk``: the primary key is a parameter too.
    """
    expressions = dict(computed)
    fields = [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key or with_pk or f.name in expressions
    ]
    values = ", ".join(expressions.get(f.name, "%s") for f in fields)
    names = ", ".join(column(model, using, f.name) for f in fields)
    sql = f"INSERT INTO {table(model, using)} ({names}) SELECT {values}"
    return sql, tuple(f for f in fields if f.name not in expressions)


def _params(obj: models.Model, fields: Sequence[models.Field[Any, Any]], using: str) -> list[Any]:
    connection = connections[using]
    return [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]


def insert(event: CallbackEvent) -> None:
    """INSERT a new event. A large body goes to psycopg 3 as bytes (server-side binding)
    rather than escaped into the SQL text: a 27 MB body in 0.7 s instead of 2.4 s."""
    using = db_of(event)
    connection = connections[using]
    connection.ensure_connection()
    if len(event.body) <= BINARY_BINDING_BYTES or not hasattr(connection.connection, "pipeline"):
        event.save(force_insert=True, using=using)  # Not psycopg 3, or a small body.
        return
    import psycopg

    sql, fields = _insert(CallbackEvent, using, with_pk=event.pk is not None)
    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    with wrapper(psycopg.Cursor(connection.connection), connection) as cursor:
        cursor.execute(
            f"{sql} RETURNING {column(CallbackEvent, using)}", _params(event, fields, using)
        )
        _set_pk(event, cursor.fetchone()[0], using)


def next_id(model: type[models.Model], using: str) -> int:
    """A primary key for a new ``model`` row, drawn from its PostgreSQL sequence."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT nextval({_sequence(model, using)}::regclass)")
        return int(cursor.fetchone()[0])


def _children_sql(child: type[models.Model], fk: str, value: str, source: str, using: str) -> str:
    """One ``child`` row per element of a text array parameter, under each row of ``source``."""
    columns = f"{column(child, using, fk)}, {column(child, using, value)}"
    return f"INSERT INTO {table(child, using)} ({columns}) SELECT {source}, unnest(%s::text[])"


def insert_children(
    child: type[models.Model],
    fk: str,
    value: str,
    parent_pk: Any,
    values: Sequence[str],
    using: str,
) -> None:
    """Insert one ``child`` row ``(fk=parent_pk, value=v)`` per ``v`` in ``values``."""
    if not values:
        return
    connection = connections[using]
    columns = f"{column(child, using, fk)}, {column(child, using, value)}"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(values) < COPY_THRESHOLD:
            cursor.execute(_children_sql(child, fk, value, "%s", using), [parent_pk, list(values)])
        elif connection.vendor == "postgresql" and hasattr(cursor.cursor, "copy"):
            # Sorted rows land next to each other in the indexes: over twice as fast.
            with cursor.cursor.copy(f"COPY {table(child, using)} ({columns}) FROM STDIN") as copy:
                for item in sorted(values):
                    copy.write_row((parent_pk, item))
        else:
            sql = f"INSERT INTO {table(child, using)} ({columns}) VALUES (%s, %s)"
            for start in range(0, len(values), BATCH_SIZE):
                batch = values[start : start + BATCH_SIZE]
                cursor.executemany(sql, [(parent_pk, item) for item in batch])


def store_in_one_statement(
    event: CallbackEvent,
    row: models.Model,
    key: str,
    children: tuple[type[models.Model], str, str, Sequence[str]],
    duplicate_note: tuple[str, str],
    kept: tuple[dict[str, Any], list[str]],
    also: tuple[models.Model, str, tuple[str, ...]] | None = None,
) -> str | None:
    """Route 1: store the new ``event`` and ``row`` (unique on ``key``) in one statement.

    ``children`` is ``(model, fk, value field, values)``: rows inserted under ``row``.
    ``also`` is ``(other row, its unique key, fields)``: the stored row with that key, if
    there is one, gets these fields' values (a foreign key to the event: the new event).
    Foreign keys to the event take an id drawn from the event's sequence (checked at the
    end of the statement). ``kept`` is the event's outcome as ``lifecycle.stored`` keeps it
    when everything is stored, and the path in it of ``row``'s primary key (known only to
    the statement). Sent outside a transaction, the statement is the transaction:
    all of it is stored, or nothing. Two shapes, because the server sends each delivery
    with its children first and then again without them:

    - with children: ``"processed"`` (everything is stored), or ``None`` when ``key`` is
      stored already (nothing is written; route 2 decides under a lock);
    - without children, only for a repeat: ``"duplicate"`` when ``key`` is stored (the
      event is stored as a duplicate, its error ``note[0] + stored id + note[1]``, without
      waiting for the disk: losing that record would lose no data), else ``None``.
    """
    using = db_of(event)
    model, (child, fk, value, values) = type(row), children
    sql = _one_statement(model, key, child, fk, value, using, bool(values), _also_spec(also))
    params: list[Any] = []
    if values:
        params += _params(row, _insert(model, using, _event_id(model, using))[1], using)
        params.append(list(values))
        if also is not None:
            other, other_key, updated = also
            fields = [f for f in _update_fields(type(other), updated) if not _is_event_fk(f)]
            params += _params(other, fields, using)
            params.append(getattr(other, other_key))
        params += [json.dumps(kept[0]), kept[1]]
    else:
        params += [*duplicate_note, getattr(row, key)]
    params += _params(event, _event_insert(using, bool(values))[1], using)
    with connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        status, note, event_id, row_pk = (cursor.fetchone() or (None,) * 4)[:4]
    if status is None:
        return None
    _set_pk(event, event_id, using)
    event.status, event.error = str(status), str(note)
    event.outcome = {"status": event.status, "note": event.error, "announce": None}
    if status == CallbackEvent.Status.PROCESSED:
        setattr(row, event_field(model) + "_id", event_id)
        _set_pk(row, row_pk, using)
        event.outcome = _with(kept[0], kept[1], row_pk)
    return str(status)


def _with(kept: Any, path: list[str], value: Any) -> Any:
    """``kept`` with ``value`` at ``path`` (as ``jsonb_set`` puts it there)."""
    if not path:
        return value
    return {**kept, path[0]: _with(kept[path[0]], path[1:], value)}


def _also_spec(
    also: tuple[models.Model, str, tuple[str, ...]] | None,
) -> tuple[type[models.Model], str, tuple[str, ...]] | None:
    return None if also is None else (type(also[0]), also[1], also[2])


@cache
def _event_id(model: type[models.Model], using: str) -> tuple[tuple[str, str], ...]:
    """``model``'s foreign key to its event, drawn from the events' sequence."""
    return ((event_field(model), f"nextval({_sequence(CallbackEvent, using)}::regclass)"),)


def _update_fields(model: type[models.Model], names: tuple[str, ...]) -> list[Any]:
    return [model._meta.get_field(name) for name in names]


def _is_event_fk(field: Any) -> bool:
    return bool(field.is_relation and field.related_model is CallbackEvent)


@cache
def _sequence(model: type[models.Model], using: str) -> str:
    """``model``'s id sequence as a SQL literal, asked of PostgreSQL once."""
    with connections[using].cursor() as cursor:
        name, pk = model._meta.db_table, model._meta.pk.column
        cursor.execute("SELECT pg_get_serial_sequence(%s, %s)", [name, pk])
        (name,) = cursor.fetchone()
    return "'" + str(name).replace("'", "''") + "'"


@cache
def _event_insert(using: str, processed: bool) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    source = "new_row" if processed else "outcome"
    status = "'processed'" if processed else f"{source}.status"
    error = "''" if processed else f"{source}.note"
    kept = (
        "kept.outcome"
        if processed
        else "jsonb_build_object('status', outcome.status, 'note', outcome.note, 'announce', NULL)"
    )
    computed = (("id", f"{source}.event_id"), ("status", status), ("error", error))
    return _insert(CallbackEvent, using, (*computed, ("outcome", kept)))


@cache
def _one_statement(
    model: type[models.Model],
    key: str,
    child: type[models.Model],
    fk: str,
    value: str,
    using: str,
    with_children: bool,
    also: tuple[type[models.Model], str, tuple[str, ...]] | None,
) -> str:
    pk, key_column = column(model, using), column(model, using, key)
    if with_children:
        event_id = column(model, using, event_field(model))
        row_sql = _insert(model, using, _event_id(model, using))[0]
        children = _children_sql(child, fk, value, "new_row.id", using) + " FROM new_row"
        update = ""
        if also is not None:
            other, other_key, updated = also
            sets = ", ".join(
                f"{column(other, using, f.name)} = "
                + ("new_row.event_id" if _is_event_fk(f) else "%s")
                for f in sorted(_update_fields(other, updated), key=_is_event_fk)
            )
            update = (
                f" also_row AS (UPDATE {table(other, using)} SET {sets} FROM new_row"
                f" WHERE {table(other, using)}.{column(other, using, other_key)} = %s),"
            )
        return (
            f"WITH new_row AS ({row_sql} ON CONFLICT ({key_column}) DO NOTHING"
            f" RETURNING {pk} AS id, {event_id} AS event_id),"
            f" new_children AS ({children}),{update}"
            " kept AS (SELECT jsonb_set(%s::jsonb, %s::text[], to_jsonb(new_row.id)) AS outcome"
            " FROM new_row),"
            f" new_event AS ({_event_insert(using, True)[0]} FROM new_row, kept)"
            " SELECT 'processed', '', event_id, id FROM new_row"
        )
    stored = f"SELECT {pk} FROM {table(model, using)} WHERE {key_column} = %s"
    return (
        "WITH outcome AS MATERIALIZED (SELECT 'duplicate' AS status, %s || stored.id || %s AS"
        f" note, nextval({_sequence(CallbackEvent, using)}::regclass) AS event_id, stored.id"
        f" FROM ({stored}) stored),"
        f" new_event AS ({_event_insert(using, False)[0]} FROM outcome)"
        f" SELECT status, note, event_id, id, {NO_WAIT} FROM outcome"
    )


@cache
def event_field(model: type[models.Model]) -> str:
    """The name of ``model``'s foreign key to ``CallbackEvent``."""
    return next(
        f.name
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model is CallbackEvent
    )


@cache
def _upsert(model: type[models.Model], key: str, using: str) -> tuple[str, tuple[Any, ...]]:
    insert, fields = _insert(model, using)
    names = [str(f.column) for f in model._meta.concrete_fields]
    returning = ", ".join(connections[using].ops.quote_name(name) for name in names)
    key_column = column(model, using, key)
    # "WHERE true": SQLite reads "ON CONFLICT" after a bare SELECT as a join clause.
    sql = (
        f"{insert} WHERE true ON CONFLICT ({key_column}) DO UPDATE"
        f" SET {key_column} = EXCLUDED.{key_column} RETURNING {returning}"
    )
    return sql, fields


def upsert(obj: models.Model, key: str) -> models.Model:
    """The stored row of ``type(obj)`` with ``obj``'s value of the unique ``key``: ``obj``
    inserted if there is none. One statement; on PostgreSQL its row stays locked until
    the transaction ends (an ``ON CONFLICT DO UPDATE`` locks the row it updates)."""
    model, using = type(obj), db_of(obj)
    connection = connections[using]
    if not can_upsert(using):
        model._default_manager.using(using).bulk_create([obj], ignore_conflicts=True)
        return (
            model._default_manager.using(using).select_for_update().get(**{key: getattr(obj, key)})
        )
    sql, fields = _upsert(model, key, using)
    with connection.cursor() as cursor:
        cursor.execute(sql, _params(obj, fields, using))
        row = cursor.fetchone()
    concrete = model._meta.concrete_fields
    values = [_from_db(f, value, connection) for f, value in zip(concrete, row, strict=True)]
    return model.from_db(using, [f.attname for f in concrete], values)


def _from_db(field: Any, value: Any, connection: Any) -> Any:
    """``value`` as the ORM reads a ``field``'s column (the backend's and field's converters)."""
    expression = field.get_col(field.model._meta.db_table)
    converters = connection.ops.get_db_converters(expression) + expression.get_db_converters(
        connection
    )
    for converter in converters:
        value = converter(value, expression, connection)
    return value


#: Rows per membership statement: within PostgreSQL's 65,535 and SQLite's 32,766 parameters.
MEMBER_BATCH = 3_000


def can_upsert(using: str) -> bool:
    """Whether ``using`` takes ``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``."""
    connection = connections[using]
    if connection.vendor == "sqlite":
        import sqlite3

        return sqlite3.sqlite_version_info >= (3, 35)
    return connection.vendor == "postgresql"


@cache
def _members_sql(model: type[models.Model], using: str, join: bool, roles: bool) -> str:
    """The statement's text after its VALUES: what a stored membership becomes."""
    q = connections[using].ops.quote_name
    m = table(model, using)
    older = (
        f"(CASE WHEN EXCLUDED.{q('event_time')} IS NOT NULL AND {m}.{q('event_time')} IS NOT NULL"
        f" THEN EXCLUDED.{q('event_time')} < {m}.{q('event_time')}"
        f" ELSE {m}.{q('last_event_id')} IS NOT NULL"
        f" AND {m}.{q('last_event_id')} > EXCLUDED.{q('last_event_id')} END)"
    )
    touch = (
        f"{q('event_time')} = COALESCE(EXCLUDED.{q('event_time')}, {m}.{q('event_time')}),"
        f" {q('last_event_id')} = EXCLUDED.{q('last_event_id')}"
    )
    conflict = f"ON CONFLICT ({q('group_id')}, {q('user_id')}) DO UPDATE SET"
    if not join:
        return (
            f" {conflict} {q('left_at')} = EXCLUDED.{q('left_at')},"
            f" {q('left_how')} = EXCLUDED.{q('left_how')}, {touch}"
            f" WHERE {m}.{q('left_at')} IS NULL AND NOT {older} RETURNING {q('user_id')}, 1"
        )

    def unless_member(name: str) -> str:
        return (
            f"{q(name)} = CASE WHEN {m}.{q('left_at')} IS NULL THEN {m}.{q(name)}"
            f" ELSE EXCLUDED.{q(name)} END"
        )

    role = (
        f"{q('role_level')} = EXCLUDED.{q('role_level')}" if roles else unless_member("role_level")
    )
    changes_role = (
        f" OR COALESCE({m}.{q('role_level')}, -1) <> EXCLUDED.{q('role_level')}" if roles else ""
    )
    return (
        f" {conflict} {role}, {unless_member('joined_at')}, {unless_member('joined_how')},"
        f" {q('left_at')} = NULL, {q('left_how')} = '', {touch}"
        f" WHERE NOT {older} AND ({m}.{q('left_at')} IS NOT NULL{changes_role})"
        f" RETURNING {q('user_id')}, {q('joined_at')} = %s"
    )


def upsert_members(rows: Sequence[models.Model], *, join: bool, roles: bool = False) -> list[str]:
    """Begin (``join``) or end the memberships ``rows`` describe, each a new member row
    (unique on group and user) as it would be stored if the user had none: one statement
    per ``MEMBER_BATCH`` rows. Returns the users whose membership it changed, in order.

    A stored row that a newer change made (by ``eventTime``, else by arrival: a larger
    ``last_event``) is left alone. Beginning: a user who has left rejoins as the row says;
    a member stays one, with the row's role when ``roles`` (else the role they have). Ending:
    a member leaves as the row says; a user with no row gets it (who left without the mirror
    seeing them join). ``can_upsert`` must hold.
    """
    if not rows:
        return []
    model, using = type(rows[0]), db_of(rows[0])
    insert, fields = _insert(model, using)
    columns = insert.split(" SELECT ", 1)[0]
    placeholders = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = _members_sql(model, using, join, roles)
    changed: set[str] = set()
    with connections[using].cursor() as cursor:
        for start in range(0, len(rows), MEMBER_BATCH):
            batch = rows[start : start + MEMBER_BATCH]
            params = [p for row in batch for p in _params(row, fields, using)]
            if join:
                joined_at = model._meta.get_field("joined_at")
                params += _params(batch[0], [joined_at], using)  # type: ignore[list-item]
            values = ", ".join([placeholders] * len(batch))
            cursor.execute(f"{columns} VALUES {values}{tail}", params)
            changed.update(user for user, is_change in cursor.fetchall() if is_change)
    return [row.user_id for row in rows if row.user_id in changed]  # type: ignore[attr-defined]


def clear_marker(event: CallbackEvent) -> None:
    """UPDATE a stored event's announcement state to ``event.dispatch_state`` (sent).

    On PostgreSQL, outside a transaction, it commits without waiting for the disk: losing
    this write loses no delivery, it only makes a replay announce the event again.
    """
    using = db_of(event)
    connection = connections[using]
    state, pk = column(CallbackEvent, using, "dispatch_state"), column(CallbackEvent, using)
    sql = f"UPDATE {table(CallbackEvent, using)} SET {state} = %s WHERE {pk} = %s"
    if connection.vendor == "postgresql" and autocommits(using):
        sql += f" RETURNING {NO_WAIT}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [event.dispatch_state, event.pk])
