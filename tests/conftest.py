"""Fixtures and helpers every topic's tests share."""

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import OperationalError, connection, connections
from django.urls import reverse

from django_imcallback import decisions
from django_imcallback.commands import registry
from django_imcallback.models import CallbackEvent
from django_imcallback.openim import body, go_json
from django_imcallback.signals import callback_received, group_dismissed
from django_imcallback.testing import read_answer
from django_imcallback.testing.fake_openim import FakeOpenIM

from .factories import DISMISS, group_body

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
def recorder():
    """Record a signal's sends for one test: ``recorder(signal).calls``."""

    def connect(signal):
        receiver = Recorder()
        signal.connect(receiver, weak=False)
        receivers.append((signal, receiver))
        return receiver

    receivers = []
    yield connect
    for signal, receiver in receivers:
        signal.disconnect(receiver)


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


def run_concurrently(functions):
    """Start every function at once in its own thread (own connection); re-raise errors."""
    barrier = threading.Barrier(len(functions))
    errors = []

    def run(function):
        try:
            barrier.wait()
            function()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(f,)) for f in functions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def event_page(event):
    return reverse("admin:django_imcallback_callbackevent_change", args=[event.pk])


@pytest.fixture
def dismissal_twice(post):
    """A dismissal as the server sends it: with its members, then again without."""
    post(body(DISMISS, group_id="g-ops", user_id="own", user_ids=["ann", "bob"]), operation_id="1")
    post(body(DISMISS, group_id="g-ops", user_id="own", membersID=None), operation_id="2")
    post(body(DISMISS, group_id="g-ops", membersID="garbage"), operation_id="3")
    post(body(DISMISS, group_id="g-other", user_ids=["ann"]), operation_id="4")
    return list(CallbackEvent.objects.filter(group_id="g-ops").order_by("pk"))


@pytest.fixture
def server(settings):
    with FakeOpenIM() as fake:
        settings.IMCALLBACK = {"OPENIM_API": {"URL": fake.url, "SECRET": "openIM123"}}
        yield fake


def send(post, command, group_id="G1", users=None, owner="owner", **changes):
    body = {**group_body(command, group_id, owner, users, "op"), **changes}
    response = post(body, command)
    assert_goes_on_unchanged(command, body, response)
    return CallbackEvent.objects.order_by("-pk").first()


def assert_goes_on_unchanged(command, body, response):
    """An after-callback is acknowledged; a before-callback's answer, read as the server
    reads it, lets the action go on with the request as it was."""
    if not registry.is_before(command):
        assert response.json() == SUCCESS, response.content
        return
    reading = read_answer(command, body, response.content)
    assert (reading.outcome, reading.changed(body)) == ("goes on", {}), response.content
