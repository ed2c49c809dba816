"""The dismissal and a host's handler through the contract (tests/handler_cases.py)."""

import json

import pytest

from django_imcallback.handlers import registry
from django_imcallback.models import DismissedGroup
from django_imcallback.signals import group_dismissed

from ..factories import DISMISS, DismissPayloadFactory, message
from ..handler_cases import HandlerContract
from ..testapp.handlers import MessageLogHandler, QuitGroupHandler, member_quit, message_logged
from ..testapp.models import GroupQuit, LoggedMessage

pytestmark = pytest.mark.django_db(transaction=True)


class TestDismissGroup(HandlerContract):
    command = DISMISS
    signal = group_dismissed

    def body(self, key):
        return DismissPayloadFactory(groupID=f"g-{key}")

    def repeat(self, body):
        return {**body, "membersID": None}

    def stored(self, key):
        return DismissedGroup.objects.filter(group_id=f"g-{key}", member_count=3).count()

    def observe(self, key):
        return [
            {
                "group_id": d.group_id,
                "owner_id": d.owner_id,
                "group_type": d.group_type,
                "member_count": d.member_count,
                "members_source": d.members_source,
                "members": sorted(d.members.values_list("user_id", flat=True)),
                "event": d.event_id,
            }
            for d in DismissedGroup.objects.filter(group_id=f"g-{key}")
        ]

    def effect(self, key, event):
        body = json.loads(bytes(event.body))
        stored = {
            "group_id": f"g-{key}",
            "owner_id": body["ownerID"],
            "group_type": 2,
            "member_count": 3,
            "members_source": "callback",
            "members": sorted(body["membersID"]),
            "event": event.pk,
        }
        return {"stored": [stored], "announced": {"dismissal": f"g-{key}"}}

    def arguments(self, call):
        return {"dismissal": call["dismissal"].group_id}


class TestQuitGroup(HandlerContract):
    """A handler a host writes: registered for these tests only."""

    command = QuitGroupHandler.command
    signal = member_quit

    @pytest.fixture(autouse=True)
    def registered(self):
        """The host's handler replaces the built-in one, as a host's may."""
        built_in = registry.get(self.command)
        registry.register(QuitGroupHandler())
        yield
        registry.register(built_in)

    def body(self, key):
        return {"callbackCommand": self.command, "groupID": f"g-{key}", "userID": "u-1"}

    def stored(self, key):
        return GroupQuit.objects.filter(group_id=f"g-{key}", user_id="u-1").count()

    def observe(self, key):
        rows = GroupQuit.objects.filter(group_id=f"g-{key}")
        return list(rows.values("group_id", "user_id", "event"))

    def effect(self, key, event):
        stored = {"group_id": f"g-{key}", "user_id": "u-1", "event": event.pk}
        return {"stored": [stored], "announced": {"quit": (f"g-{key}", "u-1")}}

    def arguments(self, call):
        return {"quit": (call["quit"].group_id, call["quit"].user_id)}


class TestMessageLog(HandlerContract):
    """A host's handler for a command with no natural duplicate key: every copy counts."""

    command = MessageLogHandler.command
    signal = message_logged
    repeats_are_duplicates = False

    @pytest.fixture(autouse=True)
    def registered(self):
        built_in = registry.get(self.command)
        registry.register(MessageLogHandler())
        yield
        if built_in is None:
            registry.unregister(self.command)
        else:
            registry.register(built_in)

    def body(self, key):
        return {**message(callbackCommand=self.command), "sendID": f"s-{key}"}

    def stored(self, key):
        return LoggedMessage.objects.filter(sender_id=f"s-{key}").count()

    def observe(self, key):
        rows = LoggedMessage.objects.filter(sender_id=f"s-{key}").order_by("pk")
        return list(rows.values("sender_id", "content", "event"))

    def effect(self, key, event):
        stored = {"sender_id": f"s-{key}", "content": '{"content": "hello"}', "event": event.pk}
        return {"stored": [stored], "announced": {"message": (f"s-{key}", event.pk)}}

    def arguments(self, call):
        return {"message": (call["message"].sender_id, call["message"].event_id)}
