from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import OperationalError, connection

from django_imcallback import decisions
from django_imcallback.openim import go_json
from django_imcallback.signals import callback_received, group_dismissed

from .factories import DISMISS

requires_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="needs PostgreSQL (set DATABASE_URL)"
)


@pytest.fixture
def post(client):
    """POST a body to the callback endpoint the way OpenIM does."""

    def _post(
        body: Any,
        command: str | None = DISMISS,
        *,
        path: str | None = None,
        operation_id: str = "op-1",
        content_type: str = "application/json; charset=utf-8",
        **extra: Any,
    ):
        if not isinstance(body, bytes):
            body = go_json(body)
        url = path if path is not None else f"/imcallback/{command}"
        headers = {"Operationid": operation_id, "User-Agent": "Go-http-client/1.1"}
        headers.update(extra.pop("headers", {}))
        return client.generic(
            "POST", url, body, content_type=content_type, headers=headers, **extra
        )

    return _post


@dataclass
class Recorder:
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append({"sender": sender, **kwargs})


@pytest.fixture
def dismissed_signals():
    recorder = Recorder()
    group_dismissed.connect(recorder, weak=False)
    yield recorder.calls
    group_dismissed.disconnect(recorder)


@pytest.fixture
def received_signals():
    recorder = Recorder()
    callback_received.connect(recorder, weak=False)
    yield recorder.calls
    callback_received.disconnect(recorder)


@pytest.fixture
def failing_receiver():
    """A group_dismissed receiver that raises, as a buggy host receiver would, until the
    test sets ``failing_receiver.fixed``; ``failing_receiver.calls`` counts its calls."""

    def receiver(sender: Any, **kwargs: Any) -> None:
        receiver.calls += 1  # type: ignore[attr-defined]
        if not receiver.fixed:  # type: ignore[attr-defined]
            raise RuntimeError("receiver exploded")

    receiver.calls, receiver.fixed = 0, False  # type: ignore[attr-defined]
    group_dismissed.connect(receiver, weak=False)
    yield receiver
    group_dismissed.disconnect(receiver)


@pytest.fixture
def decider():
    """Register deciders for one test: ``decider(command)(function)``."""
    registered = []

    def register(command):
        def wrap(function):
            registered.append(decisions.decides(command)(function))
            return function

        return wrap

    yield register
    for function in registered:
        decisions.forget(function)


SUCCESS = {"actionCode": 0, "errCode": 0, "errMsg": "", "errDlt": "", "nextCode": 0}


def database_down(*args: Any, **kwargs: Any) -> None:
    """Stands in for any database call while PostgreSQL has gone away."""
    raise OperationalError("server closed the connection unexpectedly")


def updates_fail(save: Any) -> Any:
    """``Model.save`` that inserts, but fails to update: the database went away between."""

    def fake(self: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("update_fields"):
            database_down()
        return save(self, *args, **kwargs)

    return fake


@pytest.fixture
def failed_statements():
    """Every statement that raised on the default connection while the test ran."""
    errors: list[Exception] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        try:
            return execute(sql, params, many, context)
        except Exception as exc:
            errors.append(exc)
            raise

    with connection.execute_wrapper(record):
        yield errors
