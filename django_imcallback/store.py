"""The hot path's SQL: single-row inserts and the event status update, built once.

Compiling a query through the ORM costs more CPU than the rest of a small callback's
pipeline put together (measured with ``benchmarks/``). These helpers build each
statement once per model and database alias, convert values with each field's own
``get_db_prep_save`` (so JSON, binary and datetime columns behave exactly as through
the ORM) and execute one statement. Everything off the hot path uses the ORM.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.db import connections, models, router
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper

from .models import CallbackEvent

#: Above this many bytes of binary data, psycopg 3 sends bytes as they are (server-side
#: binding) instead of escaping them into the SQL text: 5x faster for a 27 MB body.
BINARY_BINDING_BYTES = 64 * 1024


def db_of(obj: models.Model) -> str:
    """The database alias ``obj`` was saved to, or will be."""
    return obj._state.db or router.db_for_write(type(obj), instance=obj)


def column(model: type[models.Model], name: str | None = None) -> str:
    """The database column of field ``name`` (the primary key's by default)."""
    field = model._meta.pk if name is None else model._meta.get_field(name)
    value = getattr(field, "column", None)
    if not isinstance(value, str):
        raise TypeError(f"{model.__name__}.{name or 'pk'} has no column")
    return value


@cache
def _insert_statement(
    model: type[models.Model],
    using: str,
    binary: bool = False,
    computed: tuple[tuple[str, str], ...] = (),
    where: str = "",
    skip_conflicts_on: tuple[str, ...] = (),
) -> tuple[str, tuple[models.Field[Any, Any], ...], bool]:
    """The INSERT of one ``model`` row, and the fields whose values it takes as parameters.

    ``computed`` maps field names (the primary key's included) to SQL expressions;
    ``where`` makes the row conditional (``INSERT ... SELECT ... WHERE``);
    ``skip_conflicts_on`` names the fields of a unique constraint whose violation inserts
    nothing instead of failing (``ON CONFLICT (...) DO NOTHING``).
    """
    connection = connections[using]
    quote = connection.ops.quote_name
    expressions = dict(computed)
    all_fields = [
        f for f in model._meta.concrete_fields if not f.primary_key or f.name in expressions
    ]
    returning = connection.features.can_return_columns_from_insert
    values = ", ".join(
        expressions.get(f.name) or ("%b" if binary and isinstance(f, models.BinaryField) else "%s")
        for f in all_fields
    )
    sql = "INSERT INTO {} ({}) {}".format(
        quote(model._meta.db_table),
        ", ".join(quote(column(model, f.name)) for f in all_fields),
        f"SELECT {values} WHERE {where}" if where else f"VALUES ({values})",
    )
    if skip_conflicts_on:
        targets = ", ".join(quote(column(model, name)) for name in skip_conflicts_on)
        sql += f" ON CONFLICT ({targets}) DO NOTHING"
    if returning:
        sql += f" RETURNING {quote(column(model))}"
    fields = tuple(f for f in all_fields if f.name not in expressions)
    return sql, fields, returning


# Appended to an INSERT's RETURNING clause: commit this statement's implicit transaction
# without waiting for its WAL to reach disk.
ASYNC_COMMIT = ", set_config('synchronous_commit', 'off', true)"


def insert_statement(
    obj: models.Model,
    using: str,
    computed: tuple[tuple[str, str], ...] = (),
    where: str = "",
    skip_conflicts_on: tuple[str, ...] = (),
) -> tuple[str, list[Any], bool]:
    """``(sql, params, returns_pk)`` of the INSERT of ``obj``.

    The options (see ``_insert_statement``) serve data-modifying CTEs, e.g.
    ``computed=(("event", "(SELECT id FROM new_event)"),)``.
    """
    connection = connections[using]
    sql, fields, returning = _insert_statement(
        type(obj), using, computed=computed, where=where, skip_conflicts_on=skip_conflicts_on
    )
    params = [f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in fields]
    return sql, params, returning


def insert(obj: models.Model, using: str, *, flush_later: bool = False) -> None:
    """INSERT ``obj`` in one statement and set its primary key.

    Like ``obj.save(force_insert=True)`` without model signals, which this app does not
    use on its own models.

    ``flush_later=True`` promises that a synchronous commit follows on this connection
    (the processing transaction). On PostgreSQL, outside any transaction, the row is then
    committed without waiting for the disk: it is visible and survives anything that
    happens to the app at once, and it reaches disk with the next commit, because WAL is
    flushed in order. Only a crash of the database server itself between the two commits
    could take it, and then the request answers 503 and logs the whole delivery.
    """
    connection = connections[using]
    sql, params, returning = insert_statement(obj, using)
    binary = _binary_binding(connection, obj)
    if binary:
        sql = _insert_statement(type(obj), using, binary=True)[0]
    if (
        flush_later
        and returning
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
    ):
        sql += ASYNC_COMMIT
    with _server_binding_cursor(connection) if binary else connection.cursor() as cursor:
        cursor.execute(sql, params)
        set_pk(obj, cursor.fetchone()[0] if returning else cursor.lastrowid, using)


def _binary_binding(connection: Any, obj: models.Model) -> bool:
    """Whether to send ``obj`` with server-side binding (psycopg 3, large binary values)."""
    if connection.vendor != "postgresql":
        return False
    connection.ensure_connection()
    if not hasattr(connection.connection, "pipeline"):
        return False  # psycopg 3 only
    binary_fields = (f for f in obj._meta.concrete_fields if isinstance(f, models.BinaryField))
    size = sum(len(getattr(obj, f.attname) or b"") for f in binary_fields)
    return size > BINARY_BINDING_BYTES


def _server_binding_cursor(connection: Any) -> CursorWrapper:
    """A psycopg 3 server-side-binding cursor, wrapped like Django's own (errors, logging)."""
    import psycopg

    wrapper = CursorDebugWrapper if connection.queries_logged else CursorWrapper
    return wrapper(psycopg.Cursor(connection.connection), connection)


def autocommits(using: str) -> bool:
    """Whether a statement on ``using`` now commits by itself (no transaction is open)."""
    connection = connections[using]
    return not connection.in_atomic_block and connection.get_autocommit()


def set_pk(obj: models.Model, pk: Any, using: str) -> None:
    obj.pk = pk
    obj._state.adding = False
    obj._state.db = using


@cache
def _status_statement(using: str) -> tuple[str, tuple[models.Field[Any, Any], ...]]:
    quote = connections[using].ops.quote_name
    meta = CallbackEvent._meta
    names = ("status", "error", "command", "attempts", "processed_at", "dispatch_state")
    fields = tuple(f for f in meta.concrete_fields if f.name in names)
    assignments = ", ".join(f"{quote(column(CallbackEvent, f.name))} = %s" for f in fields)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {quote(column(CallbackEvent))} = %s"
    )
    return sql, fields


def save_status(event: CallbackEvent, using: str) -> None:
    """UPDATE a recorded event's status, error, command, attempts, times and dispatch state."""
    connection = connections[using]
    sql, fields = _status_statement(using)
    params = [f.get_db_prep_save(getattr(event, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, event.pk])
