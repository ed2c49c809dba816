"""Every handler through the same contract (tests/handler_cases.py)."""

import pytest

from django_imcallback.handlers import registry
from django_imcallback.models import DismissedGroup
from django_imcallback.signals import group_dismissed

from .factories import DISMISS, DismissPayloadFactory
from .handler_cases import HandlerContract
from .testapp.handlers import QuitGroupHandler, member_quit
from .testapp.models import GroupQuit

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
