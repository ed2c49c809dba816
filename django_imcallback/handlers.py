"""One handler per OpenIM callback command, found through a registry.

A handler is a serializer (what a valid body is), ``apply`` (what storing it means,
run inside the pipeline's transaction) and ``announce`` (which signal to send after
commit); optionally ``apply_with_event``, the same stored together with a new event in
one statement. Adding a command is writing one handler and one ``register()`` line; the
view, the event log, authentication, replay and the admin serve it unchanged.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, ClassVar

from django.db import IntegrityError
from rest_framework import serializers

from . import bulk, store
from .models import CallbackEvent, DismissedGroup
from .serializers import DismissGroupSerializer
from .signals import group_dismissed

Status = CallbackEvent.Status


@dataclass
class Outcome:
    """What applying one event did."""

    status: str
    #: The stored object, handed to ``announce``.
    instance: Any = None
    #: Whether ``announce`` runs after commit (False for duplicates).
    announce: bool = False
    #: A note kept on the event, e.g. why it counts as a duplicate.
    note: str = ""


class Handler:
    """Base class for callback command handlers."""

    #: The command as OpenIM spells it in the URL, e.g. ``callbackAfterDisMissGroupCommand``.
    command: ClassVar[str]
    serializer_class: ClassVar[type[serializers.Serializer[Any]]]

    def __init__(self) -> None:
        self._local = threading.local()

    def validate(self, payload: dict[str, Any]) -> tuple[dict[str, Any] | None, Any]:
        """Return ``(validated_data, None)`` or ``(None, errors)``, as ``is_valid()`` would.

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

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        """Store the validated ``data``. Runs inside a transaction.

        A unique-constraint violation may escape as ``IntegrityError``: the transaction
        is rolled back and ``on_conflict`` runs in a new one.
        """
        return Outcome(Status.PROCESSED)

    def apply_with_event(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome | None:
        """Optionally insert the new ``event`` and store ``data`` in one SQL statement.

        The fast path for new deliveries: called outside any transaction, so that one
        statement is the whole transaction (one round trip instead of BEGIN, the event's
        INSERT, the handler's statements and COMMIT). ``event`` is unsaved, ready to be
        inserted with the status success gives; the statement must insert it (setting
        its pk) together with everything it stores, or fail and store nothing.

        If the statement stores the event with another status (a duplicate, say), set
        ``event.status`` and ``event.error`` to what it stored. Return ``None`` when this
        data cannot be stored so (the default): ``apply`` then runs in a transaction. A
        unique-constraint violation may escape, as from ``apply``, and nothing is stored.
        """
        return None

    def on_conflict(
        self, event: CallbackEvent, data: dict[str, Any], error: IntegrityError
    ) -> Outcome:
        """Resolve a conflict raised by ``apply``. Runs inside a new transaction."""
        raise error

    def announce(self, event: CallbackEvent, outcome: Outcome) -> list[tuple[Any, Any]]:
        """Send this command's signal; return ``Signal.send_robust``'s result."""
        return []

    def recorded_outcome(self, event: CallbackEvent) -> Outcome:
        """Rebuild ``apply``'s outcome from the database, for a task worker to announce."""
        return Outcome(event.status)


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


def duplicate_note(group_id: str, dismissal_id: object) -> str:
    """What a duplicate's event says (its ``error``): which stored dismissal it repeats."""
    return f"Group {group_id!r} is already stored as dismissal #{dismissal_id}."


class DismissGroupHandler(Handler):
    """``callbackAfterDisMissGroupCommand``: a group was dismissed.

    The server really sends each dismissal twice, the second time with no members,
    and under load the two copies race. The unique ``group_id`` decides who stores
    the dismissal; a later copy never shrinks the snapshot, but completes one that a
    member-less copy stored first.
    """

    command = "callbackAfterDisMissGroupCommand"
    serializer_class = DismissGroupSerializer

    def apply(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome:
        dismissal = self._dismissal(event, data)
        bulk.insert_dismissal(dismissal, data["member_ids"], using=store.db_of(event))
        return Outcome(Status.PROCESSED, dismissal, announce=True)

    def apply_with_event(self, event: CallbackEvent, data: dict[str, Any]) -> Outcome | None:
        using = store.db_of(event)
        member_ids = data["member_ids"]
        if not bulk.one_statement(using, len(member_ids)):
            return None  # Not PostgreSQL, or a snapshot large enough for COPY.
        dismissal = self._dismissal(event, data)
        # The note around the stored dismissal's id, which only the statement learns.
        before, after = duplicate_note(data["group_id"], "\x00").split("\x00")
        stored, stored_id = bulk.store_delivery(
            event, dismissal, member_ids, (before, after), using
        )
        if stored == bulk.CONFLICT:
            # Nothing was written; on_conflict sorts it out in a transaction.
            raise IntegrityError(f"Group {data['group_id']!r} is already stored.")
        if stored == bulk.DUPLICATE:
            event.status = Status.DUPLICATE
            event.error = duplicate_note(data["group_id"], stored_id)
            return Outcome(Status.DUPLICATE, note=event.error)
        return Outcome(Status.PROCESSED, dismissal, announce=True)

    @staticmethod
    def _dismissal(event: CallbackEvent, data: dict[str, Any]) -> DismissedGroup:
        group_type_raw, group_type = data["group_type"] or (None, None)
        return DismissedGroup(
            group_id=data["group_id"],
            owner_id=data["owner_id"],
            group_type_raw=group_type_raw,
            group_type=group_type,
            member_count=len(data["member_ids"]),
            event_time=data["event_time"],
            event=event,
        )

    def on_conflict(
        self, event: CallbackEvent, data: dict[str, Any], error: IntegrityError
    ) -> Outcome:
        dismissal = (
            DismissedGroup.objects.select_for_update().filter(group_id=data["group_id"]).first()
        )
        if dismissal is None:
            raise error  # Not the group_id constraint: a real failure.
        if dismissal.event_id == event.pk:
            # A replay of the event that stored it: its announcement is still owed.
            return Outcome(Status.PROCESSED, dismissal, announce=True)
        member_ids = data["member_ids"]
        if dismissal.member_count == 0 and member_ids:
            bulk.insert_members(dismissal.pk, member_ids, using=store.db_of(dismissal))
            dismissal.member_count = len(member_ids)
            dismissal.save(update_fields=["member_count"])
            return Outcome(
                Status.PROCESSED,
                dismissal,
                note=f"Completed the empty member snapshot of dismissal #{dismissal.pk}.",
            )
        return Outcome(
            Status.DUPLICATE, dismissal, note=duplicate_note(dismissal.group_id, dismissal.pk)
        )

    def recorded_outcome(self, event: CallbackEvent) -> Outcome:
        # Only the event that stored the dismissal announces it.
        dismissal = DismissedGroup.objects.filter(event=event).first()
        return Outcome(event.status, dismissal, announce=dismissal is not None)

    def announce(self, event: CallbackEvent, outcome: Outcome) -> list[tuple[Any, Any]]:
        return group_dismissed.send_robust(
            sender=DismissedGroup, dismissal=outcome.instance, event=event
        )


register(DismissGroupHandler())
