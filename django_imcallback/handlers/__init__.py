"""Command handlers, for hosts that write their own: ``Handler``, ``Outcome``, ``register``.

The built-in handlers live with their commands' declarations (``django_imcallback.commands``).
"""

from ..commands import BadPayload, Handler, Outcome, RecordOnlyHandler, parse_payload, registry
from ..commands import CommandRegistry as HandlerRegistry
from ..commands.base import register
from ..commands.dismissals import DismissGroupHandler

__all__ = [
    "BadPayload",
    "DismissGroupHandler",
    "Handler",
    "HandlerRegistry",
    "Outcome",
    "RecordOnlyHandler",
    "parse_payload",
    "register",
    "registry",
]
