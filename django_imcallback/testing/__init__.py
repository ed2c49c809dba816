"""Helpers for testing a project that receives OpenIM callbacks with django-imcallback.

``body(command, ...)`` builds the body the server sends for any command the app types;
``read_answer(command, request, answer)`` says what the server makes of an answer to a
before-callback (blocked, refused, or going on with which request).
``deliver(command, ...)`` posts one through Django's test client as the server does (its
headers, the configured Basic credentials, secret path and allowed address) and runs the
announcements that wait for the commit, so the receivers a project connects run in a
``TestCase`` as they do in production::

    from django.test import TestCase
    from django_imcallback.testing import deliver

    class DismissalTests(TestCase):
        def test_members_are_told(self):
            result = deliver("callbackAfterDisMissGroupCommand", user_ids=["u1", "u2"])
            self.assertEqual(result.answer["errCode"], 0)

pytest users add ``pytest_plugins = ["django_imcallback.testing.fixtures"]`` to their root
``conftest.py`` for the ``imcallback`` fixture (``imcallback.deliver(...)``).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import DEFAULT_DB_ALIAS
from django.test import Client, TestCase
from django.urls import NoReverseMatch, reverse

from ..wire.golang import go_json
from ..wire.server import Reading, read_answer

if TYPE_CHECKING:
    from django.test.client import _MonkeyPatchedWSGIResponse as TestResponse

    from ..models import CallbackEvent

__all__ = ["COMMANDS", "Delivery", "Reading", "body", "deliver", "read_answer"]


def body(command: str, **params: Any) -> dict[str, Any]:
    """The body the server sends for ``command``: see ``django_imcallback.openim.body``."""
    from ..openim import body as build  # Here: this module loads before Django is set up.

    return build(command, **params)


def __getattr__(name: str) -> Any:
    if name == "COMMANDS":  # every command ``body`` builds
        from ..openim import COMMANDS

        return COMMANDS
    raise AttributeError(name)


@dataclass
class Delivery:
    """What a delivery came to: the response and the event it stored, if any."""

    response: TestResponse
    #: The stored CallbackEvent; ``None`` when the record policy kept none.
    event: CallbackEvent | None

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def answer(self) -> dict[str, Any]:
        """The JSON answer OpenIM reads (``errCode``, ``actionCode``, ...)."""
        answer: dict[str, Any] = json.loads(self.response.content)
        return answer


def callback_url(command: str) -> str:
    """The path the server posts ``command`` to, with the secret path when one is set."""
    from ..conf import imcallback_settings

    secret = imcallback_settings.secret_path
    try:
        if secret:
            kwargs = {"token": secret, "command": command}
            return reverse("django_imcallback:callback-with-secret", kwargs=kwargs)
        return reverse("django_imcallback:callback", kwargs={"command": command})
    except NoReverseMatch as exc:
        raise NoReverseMatch(
            'django_imcallback.urls is not mounted: add path("imcallback/", '
            'include("django_imcallback.urls")) to your ROOT_URLCONF.'
        ) from exc


def caller_headers() -> dict[str, str]:
    """The headers of the server's request, with the first configured Basic credentials."""
    from ..conf import imcallback_settings

    headers = {"User-Agent": "Go-http-client/1.1"}
    if credentials := imcallback_settings.basic_auth:
        token = f"{credentials[0].username}:{credentials[0].password}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode()
    return headers


def caller_address() -> str:
    """An address ``ALLOWED_IPS`` lets in (the test client's own when none is set)."""
    from ..conf import imcallback_settings

    if not (networks := imcallback_settings.allowed_ips):
        return "127.0.0.1"
    network = networks[0]
    host = network.network_address if network.num_addresses <= 2 else network.network_address + 1
    return str(host)


def deliver(
    command: str,
    payload: dict[str, Any] | bytes | None = None,
    *,
    client: Client | None = None,
    operation_id: str | None = None,
    headers: dict[str, str] | None = None,
    using: str = DEFAULT_DB_ALIAS,
    **params: Any,
) -> Delivery:
    """POST ``command`` as the server does and run the announcements owed after commit.

    ``payload``: the body (a dict, encoded as Go encodes it, or raw bytes); by default
    ``body(command, **params)``. ``client``: a test client (``self.client``, pytest-django's
    ``client``); a new one by default. ``headers`` are added to (or replace) the server's.
    Inside a ``TestCase`` the transaction never commits, which is why a plain
    ``self.client.post`` leaves the receivers unrun; this runs them (with
    ``captureOnCommitCallbacks(execute=True)``), as the commit would.
    """
    from ..models import CallbackEvent

    if payload is None:
        payload = body(command, **params)
    elif params:
        raise TypeError("Pass either a payload or the body's parameters, not both.")
    from ..openim import operation_id as new_operation_id

    data = payload if isinstance(payload, bytes) else go_json(payload)
    headers = dict(headers or {})
    for name in [name for name in headers if name.lower() == "operationid"]:
        operation_id = headers.pop(name)  # the event is found by the id actually sent
    operation_id = operation_id or new_operation_id()
    sent = {**caller_headers(), "Operationid": operation_id, **headers}
    client = client or Client()
    with TestCase.captureOnCommitCallbacks(using=using, execute=True):
        response = client.generic(
            "POST",
            callback_url(command),
            data,
            content_type="application/json; charset=utf-8",
            headers=sent,
            REMOTE_ADDR=caller_address(),
        )
    events = CallbackEvent.objects.using(using).filter(operation_id=operation_id)
    return Delivery(response, events.order_by("-pk").first())
