"""pytest fixtures: add ``pytest_plugins = ["django_imcallback.testing.fixtures"]`` to the
root ``conftest.py`` (pytest-django needed)."""

from __future__ import annotations

from typing import Any

import pytest


class CallbackSender:
    """``deliver`` and ``body`` of ``django_imcallback.testing``, bound to a test client."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def deliver(self, command: str, payload: Any = None, **kwargs: Any) -> Any:
        from . import deliver

        return deliver(command, payload, client=self.client, **kwargs)

    def body(self, command: str, **params: Any) -> dict[str, Any]:
        from . import body

        return body(command, **params)


@pytest.fixture
def imcallback(db: None, client: Any) -> CallbackSender:
    """Deliver callbacks as the OpenIM server does, receivers run:
    ``imcallback.deliver("callbackAfterJoinGroupCommand", group_id="g1", user_ids=["u1"])``."""
    return CallbackSender(client)
