"""The contract every handler meets, written once (as django-anymail's webhook_cases.py).

Subclass ``HandlerContract`` in a ``Test*`` class, say how to build a body, how to count
what it stored, and what one delivery leaves (``observe`` and ``effect``), and the handler
gets every test below, in inline and task mode, on whichever database the suite runs on.
A command whose repeats cannot be told from new deliveries (no natural duplicate key) sets
``repeats_are_duplicates = False``.
"""

from typing import Any, ClassVar

import pytest
from django.core.management import call_command
from django.dispatch import Signal

from django_imcallback import pipeline
from django_imcallback.commands import registry
from django_imcallback.models import CallbackEvent
from django_imcallback.replay import replay_events
from django_imcallback.signals import receiver_name

from .conftest import SUCCESS

Status = CallbackEvent.Status
Dispatch = CallbackEvent.Dispatch


class HandlerContract:
    command: ClassVar[str]
    signal: ClassVar[Signal]
    #: False for a command without a natural duplicate key: every copy is stored and sent.
    repeats_are_duplicates: ClassVar[bool] = True

    def body(self, key: str) -> dict[str, Any]:
        """A valid body as the server sends it; ``key`` tells deliveries apart."""
        raise NotImplementedError

    def repeat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The server's repeat of ``body`` (the dismissal's comes without members)."""
        return body

    def stored(self, key: str) -> int:
        """How many rows the handler stored for ``key``."""
        raise NotImplementedError

    def observe(self, key: str) -> Any:
        """What the handler's rows for ``key`` hold now, field by field."""
        raise NotImplementedError

    def effect(self, key: str, event: CallbackEvent) -> dict[str, Any]:
        """What one delivery of ``body(key)``, stored as ``event``, leaves: ``stored`` (as
        ``observe`` reads it) and ``announced`` (the signal's arguments, as ``arguments``
        reads them)."""
        raise NotImplementedError

    def arguments(self, call: dict[str, Any]) -> dict[str, Any]:
        """A signal's arguments besides its sender and event, made comparable."""
        return {k: v for k, v in call.items() if k not in ("sender", "signal", "event")}

    def sender(self) -> Any:
        handler = registry.get(self.command)
        return handler.sender if handler.sender is not None else type(handler)

    @pytest.fixture(params=["inline", "task"])
    def mode(self, request, settings):
        settings.IMCALLBACK = {"DISPATCH": request.param}
        return request.param

    @pytest.fixture
    def announced(self):
        calls = []

        def receiver(sender, **kwargs):
            calls.append({"sender": sender, **kwargs})

        self.signal.connect(receiver, weak=False)
        yield calls
        self.signal.disconnect(receiver)

    @pytest.fixture
    def raising_receiver(self):
        """Raises until the test sets ``receiver.fixed``; counts its calls."""

        def receiver(sender, **kwargs):
            receiver.calls += 1
            if not receiver.fixed:
                raise RuntimeError("receiver exploded")

        receiver.calls, receiver.fixed = 0, False
        self.signal.connect(receiver, weak=False)
        yield receiver
        self.signal.disconnect(receiver)

    @pytest.mark.usefixtures("mode")
    def test_a_delivery_is_stored_answered_and_announced_once(self, post, announced):
        response = post(self.body("a"), self.command)

        assert response.json() == SUCCESS
        event = CallbackEvent.objects.get()
        assert (event.status, event.dispatch_state, event.attempts) == (
            Status.PROCESSED,
            Dispatch.SENT,
            1,
        )
        assert self.stored("a") == 1
        assert [call["event"].pk for call in announced] == [event.pk]

    @pytest.mark.usefixtures("mode")
    def test_a_delivery_leaves_exactly_its_effect(self, post, announced):
        assert post(self.body("a"), self.command).json() == SUCCESS
        event = CallbackEvent.objects.get()

        expected = self.effect("a", event)
        assert self.observe("a") == expected["stored"]
        assert [self.arguments(call) for call in announced] == [expected["announced"]]
        assert [call["sender"] for call in announced] == [self.sender()]

    @pytest.mark.usefixtures("mode")
    def test_a_repeat_is_a_duplicate_stored_and_announced_once(self, post, announced):
        body = self.body("a")
        for copy in (body, self.repeat(body), body):
            assert post(copy, self.command).json() == SUCCESS

        events = list(CallbackEvent.objects.order_by("pk"))
        if not self.repeats_are_duplicates:
            assert [e.status for e in events] == [Status.PROCESSED] * 3
            assert self.stored("a") == 3
            assert [call["event"].pk for call in announced] == [e.pk for e in events]
            return
        assert [e.status for e in events] == [Status.PROCESSED, Status.DUPLICATE, Status.DUPLICATE]
        assert self.stored("a") == 1
        assert len(announced) == 1
        assert self.observe("a") == self.effect("a", events[0])["stored"]  # left as it was

    @pytest.mark.usefixtures("mode")
    def test_a_raising_receiver_fails_the_event_and_a_replay_retries_only_it(
        self, post, announced, raising_receiver
    ):
        assert post(self.body("a"), self.command).json() == SUCCESS  # stored: acknowledged
        event = CallbackEvent.objects.get()
        assert (event.status, event.dispatch_state) == (Status.FAILED, Dispatch.FAILED)
        assert "receiver exploded" in event.error
        raising_receiver.fixed = True  # the host fixed its receiver

        replay_events([event])

        event.refresh_from_db()
        assert (event.status, event.dispatch_state, event.attempts) == (
            Status.PROCESSED,
            Dispatch.SENT,
            2,
        )
        assert self.stored("a") == 1
        assert raising_receiver.calls == 2  # retried
        assert [call["event"].pk for call in announced] == [event.pk]  # not sent twice
        first, second = event.attempt_log.order_by("number")
        assert (first.number, first.status, first.failed_receivers) == (
            1,
            Status.FAILED,
            [receiver_name(raising_receiver)],
        )
        assert "receiver exploded" in first.error  # kept, though the replay succeeded
        assert (second.replay, second.status, second.retried_receivers) == (
            True,
            Status.PROCESSED,
            [receiver_name(raising_receiver)],
        )

        replay_events([event], force=True)  # forced: every receiver, a third attempt

        assert raising_receiver.calls == 3
        assert [call["event"].pk for call in announced] == [event.pk, event.pk]
        assert event.attempt_log.count() == 3
        assert "receiver exploded" in event.attempt_log.get(number=1).error

    @pytest.mark.usefixtures("mode")
    def test_an_announcement_cut_off_is_owed_and_sent_by_replay(self, post, announced, monkeypatch):
        """A worker killed between the commit and the signals: the event says so."""
        monkeypatch.setattr(pipeline, "_announce", lambda *args: None)
        assert post(self.body("a"), self.command).json() == SUCCESS
        event = CallbackEvent.objects.get()
        assert event.dispatch_state in (Dispatch.PENDING, Dispatch.QUEUED)
        assert announced == []
        monkeypatch.undo()

        call_command("imcallback_replay", "--stale-after", "0")

        event.refresh_from_db()
        assert (event.status, event.dispatch_state) == (Status.PROCESSED, Dispatch.SENT)
        assert [call["event"].pk for call in announced] == [event.pk]
        assert self.stored("a") == 1

    def test_an_invalid_body_is_answered_400_and_recorded(self, post, announced):
        response = post({"callbackCommand": self.command}, self.command)

        assert response.status_code == 400
        assert response.json()["errCode"] == 400
        event = CallbackEvent.objects.get()
        assert (event.status, event.dispatch_state) == (Status.INVALID, Dispatch.NONE)
        assert announced == []
