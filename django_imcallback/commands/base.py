"""What a command is (``Command``: its wire facts, declared once in its family's module),
what a handler is, the registry of both, and how a body becomes its data.

A handler is three things: its serializer (what a valid body is), ``apply`` (what storing
it means, run inside the storing transaction) and its signal (sent after commit). The
view, the event log, authentication, replay, task dispatch and the admin serve it
unchanged. See docs/handlers.md ("Handling another command").
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, ClassVar

from django.apps import apps
from django.db import models
from django.dispatch import Signal
from rest_framework import serializers

from ..models import CallbackEvent
from ..signals import send_robust
from ..wire.golang import Field, Struct

Status = CallbackEvent.Status


@dataclass
class Outcome:
    """What applying one event did."""

    #: ``processed``, or ``duplicate`` when the delivery repeats one already stored.
    status: str = Status.PROCESSED
    #: A note kept on the event (e.g. which stored row a duplicate repeats).
    note: str = ""
    #: The keyword arguments of the handler's signal (``sender`` and ``event`` are added);
    #: ``None``: the signal is not sent for this delivery. JSON values and model instances:
    #: they are kept on the event (``kept``), for a task worker or a replay to send again.
    announce: dict[str, Any] | None = None

    def kept(self) -> dict[str, Any]:
        """As the event keeps it (JSON; a model instance by app label and primary key)."""
        return {"status": self.status, "note": self.note, "announce": _keep(self.announce)}

    @classmethod
    def revive(cls, kept: dict[str, Any], using: str) -> Outcome:
        """The outcome ``kept`` describes, its model instances read from ``using``."""
        return cls(kept["status"], kept["note"], _revive(kept["announce"], using))


#: How a model instance among a signal's arguments is kept: its label, and its primary key.
MODEL_KEY = "$model"


def _keep(value: Any, name: str = "announce") -> Any:
    if isinstance(value, models.Model):
        return {MODEL_KEY: value._meta.label_lower, "pk": value.pk}
    if isinstance(value, dict):
        return {str(k): _keep(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_keep(v, f"{name}[{i}]") for i, v in enumerate(value)]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(
        f"Outcome.{name} is a {type(value).__name__}: a signal's arguments are kept on the "
        "event as JSON, so they must be JSON values or model instances."
    )


def _revive(value: Any, using: str) -> Any:
    if isinstance(value, dict) and MODEL_KEY in value:
        model = apps.get_model(value[MODEL_KEY])
        return model._default_manager.using(using).get(pk=value["pk"])
    if isinstance(value, dict):
        return {k: _revive(v, using) for k, v in value.items()}
    if isinstance(value, list):
        return [_revive(v, using) for v in value]
    return value


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

    def __init__(
        self,
        command: str | None = None,
        serializer_class: type[serializers.Serializer[Any]] | None = None,
    ) -> None:
        # A built-in handler gets its command and serializer from its declaration.
        if command is not None:
            self.command = command  # type: ignore[misc]
        if serializer_class is not None:
            self.serializer_class = serializer_class  # type: ignore[misc]
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


class RecordOnlyHandler(Handler):
    """A command the app types and records: its body is validated and stored (the event log
    shows it, ``callback_received`` announces it); nothing else is stored."""

    records_only = True

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        return Outcome()


@dataclass(frozen=True)
class Example:
    """What an example body is about: ``user_id`` acts (the owner, the sender, the user who
    asks), ``user_ids`` are the users it concerns (members, the joiner, the recipient)."""

    group_id: str = "G001"
    user_id: str = "user123"
    user_ids: tuple[str, ...] = ("user001", "user002")
    text: str = "hello"
    operation_id: str = ""

    @property
    def user(self) -> str:
        """The first user it concerns (the quitter, the new owner, a message's recipient)."""
        return self.user_ids[0] if self.user_ids else "user001"


@dataclass(frozen=True)
class Command:
    """One callback command's wire facts, as the server has them (``pkg/callbackstruct``)."""

    #: As the server spells it in the URL, e.g. ``callbackAfterDisMissGroupCommand``.
    name: str
    #: Its switch in the server's ``webhooks.yml``, e.g. ``afterDismissGroup``.
    yml_key: str
    #: A before-callback: the server waits for the answer and obeys it.
    before: bool
    #: The body, typed (keys as the server spells them).
    serializer: type[serializers.Serializer[Any]]
    #: The body the server sends, keys in its order, for ``testing.body()`` and
    #: ``imcallback_send``.
    example: Callable[[Example], dict[str, Any]]
    #: What storing it means; records only when ``None``.
    handler_class: type[Handler] | None = None
    #: The answer fields the server reads (``wire.golang.fields``): their Go types and how
    #: the server applies each; what a ``Change`` may set and what an allow answer echoes.
    answer: tuple[Field, ...] = ()
    #: The body keys naming the group and the user the delivery is about (the first
    #: non-empty one), for the event's columns.
    group_key: str = "groupID"
    user_keys: tuple[str, ...] = ()
    family: str = ""
    #: When the server sends it, in a line.
    summary: str = ""

    def with_family(self, family: str) -> Command:
        return dataclasses.replace(self, family=family)

    def handler(self) -> Handler:
        handler_class = self.handler_class or RecordOnlyHandler
        return handler_class(self.name, self.serializer)

    @cached_property
    def echoed(self) -> tuple[Field, ...]:
        """The answer fields the server copies whether the answer has them or not: an allow
        answer repeats the request's values, or the server would blank them."""
        return tuple(f for f in self.answer if f.how == "always")

    @cached_property
    def changeable(self) -> Struct:
        """The answer fields the server applies (what a ``Change`` may set), matched as the
        server matches keys."""
        return Struct(self.name, (f for f in self.answer if f.applied))


@dataclass
class CommandRegistry:
    """Every command the app knows (its declaration) and the handler that stores it.

    Lookup ignores case: forks disagree on ``DisMiss``/``Dismiss``. A host's ``register``
    replaces the handler of a declared command, or adds a command the app does not know.
    """

    _commands: dict[str, Command] = field(default_factory=dict)
    _handlers: dict[str, Handler] = field(default_factory=dict)

    def declare(self, *commands: Command) -> None:
        for command in commands:
            key = command.name.lower()
            if key in self._commands:
                raise ValueError(f"{command.name} is declared twice.")
            self._commands[key] = command
            self._handlers[key] = command.handler()

    def register(self, handler: Handler) -> Handler:
        self._handlers[handler.command.lower()] = handler
        return handler

    def unregister(self, command: str) -> None:
        """Forget a host's handler: a declared command goes back to its own."""
        key = command.lower()
        self._handlers.pop(key, None)
        if key in self._commands:
            self._handlers[key] = self._commands[key].handler()

    def get(self, command: str) -> Handler | None:
        return self._handlers.get(command.lower())

    def command(self, name: str) -> Command | None:
        """The declaration of ``name`` (any case), or ``None``."""
        return self._commands.get(name.lower())

    def commands(self) -> list[str]:
        """Every command with a handler, sorted."""
        return sorted(handler.command for handler in self._handlers.values())

    def declarations(self) -> list[Command]:
        """Every declared command, in declaration order (family by family)."""
        return list(self._commands.values())

    def resolve(self, name: str) -> Command | None:
        """The declaration ``name`` means: a command, or its ``webhooks.yml`` key."""
        return self.command(name) or next(
            (c for c in self._commands.values() if c.yml_key.lower() == name.lower()), None
        )

    def suggest(self, name: str) -> list[str]:
        """Declared commands whose name or ``webhooks.yml`` key is a near miss of ``name``."""

        def bare(text: str) -> str:
            return text.lower().removeprefix("callback").removesuffix("command")

        names = {bare(c.yml_key): c.name for c in self._commands.values()}
        names.update({bare(c.name): c.name for c in self._commands.values()})
        close = difflib.get_close_matches(bare(name), names, n=3, cutoff=0.8)
        return list(dict.fromkeys(names[match] for match in close))

    def is_before(self, command: str) -> bool:
        """Whether the server waits for ``command``'s answer. An undeclared command is
        judged by its name."""
        declared = self.command(command)
        if declared is not None:
            return declared.before
        return command.lower().startswith("callbackbefore")


registry = CommandRegistry()
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
