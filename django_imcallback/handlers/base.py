"""What a handler is, and how a body becomes its data.

A handler is three things: its serializer (what a valid body is), ``apply`` (what storing
it means, run inside the storing transaction) and its signal (sent after commit). The
view, the event log, authentication, replay, task dispatch and the admin serve it
unchanged. See docs/handlers.md ("Handling another command").
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from django.dispatch import Signal
from rest_framework import serializers

from ..models import CallbackEvent
from ..signals import send_robust

Status = CallbackEvent.Status


@dataclass
class Outcome:
    """What applying one event did."""

    #: ``processed``, or ``duplicate`` when the delivery repeats one already stored.
    status: str = Status.PROCESSED
    #: A note kept on the event (e.g. which stored row a duplicate repeats).
    note: str = ""
    #: The keyword arguments of the handler's signal (``sender`` and ``event`` are added);
    #: ``None``: the signal is not sent for this delivery.
    announce: dict[str, Any] | None = None


class Handler:
    """Base class of command handlers: subclass, set the three attributes, write ``apply``."""

    #: The command as OpenIM spells it in the URL, e.g. ``callbackAfterDisMissGroupCommand``.
    command: ClassVar[str]
    serializer_class: ClassVar[type[serializers.Serializer[Any]]]
    #: Sent after commit with ``sender``, ``event`` and ``Outcome.announce``.
    signal: ClassVar[Signal | None] = None
    #: The signal's sender; the handler's class when not set.
    sender: ClassVar[Any] = None
    #: True: the delivery is recorded and nothing else stored (``apply`` is not called);
    #: the record policy (``IMCALLBACK["RECORD"]``) may then keep it out of the database.
    records_only: ClassVar[bool] = False

    def __init__(self) -> None:
        self._local = threading.local()

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        """Store the validated ``data`` of the stored ``event``, inside a transaction.

        Runs again for the same event on replay and on the task worker, so it must be
        idempotent: insert-or-ignore on a unique key and lock what it then changes (the
        ORM's ``bulk_create(..., ignore_conflicts=True)`` and ``select_for_update()``), and
        recognise its own earlier work, returning the same announcement.
        """
        raise NotImplementedError

    def store_in_one_statement(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome | None:
        """Optional, PostgreSQL only: insert the new ``event`` with what ``apply`` would
        store in one statement (``sql.store_in_one_statement``). ``None``: nothing was
        written, ``apply`` runs instead. Not needed for correctness, only for speed."""
        return None

    def send(
        self, event: CallbackEvent, outcome: Outcome, only: frozenset[str] | None = None
    ) -> list[tuple[Any, Any]]:
        """Send the signal (``only``: to the receivers with these dotted paths)."""
        if self.signal is None or outcome.announce is None:
            return []
        return send_robust(self.signal, self._sender(), only, event=event, **outcome.announce)

    def has_receivers(self) -> bool:
        return self.signal is not None and self.signal.has_listeners(self._sender())

    def _sender(self) -> Any:
        return self.sender if self.sender is not None else type(self)

    def validate(self, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        """``(validated_data, None)`` or ``(None, errors)``, as ``is_valid()`` would give.

        One serializer per thread is reused: building one per request deep-copies every
        declared field, which costs more than validating a small body.
        """
        serializer = getattr(self._local, "serializer", None)
        if serializer is None:
            serializer = self._local.serializer = self.serializer_class()
        try:
            return serializer.run_validation(payload), None
        except serializers.ValidationError as exc:
            return None, exc.detail


class HandlerRegistry:
    """Handlers by command. Lookup ignores case: forks disagree on ``DisMiss``/``Dismiss``."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}

    def register(self, handler: Handler) -> Handler:
        self._handlers[handler.command.lower()] = handler
        return handler

    def unregister(self, command: str) -> None:
        self._handlers.pop(command.lower(), None)

    def get(self, command: str) -> Handler | None:
        return self._handlers.get(command.lower())

    def commands(self) -> list[str]:
        return sorted(handler.command for handler in self._handlers.values())


registry = HandlerRegistry()
register = registry.register


class BadPayload(ValueError):
    """The body is not a JSON object; ``detail`` says what is wrong with it."""

    def __init__(self, message: str, detail: Any = "") -> None:
        super().__init__(message)
        self.message, self.detail = message, detail


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_payload(body: bytes) -> dict[str, Any]:
    """Decode a body as a JSON object, with an error message a person can act on."""
    if not body.strip():
        raise BadPayload("The request body is empty; expected a JSON object.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadPayload(
            "The request body is not valid UTF-8.",
            f"byte 0x{body[exc.start]:02x} at position {exc.start}",
        ) from exc
    try:
        payload = json.loads(text, parse_constant=_reject_constant)
    except RecursionError as exc:
        raise BadPayload("The request body is JSON nested too deeply.") from exc
    except ValueError as exc:
        raise BadPayload("The request body is not valid JSON.", str(exc)) from exc
    if not isinstance(payload, dict):
        names = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        kind = names.get(type(payload), "a number")
        raise BadPayload(f"The request body must be a JSON object, not {kind}.")
    return payload
