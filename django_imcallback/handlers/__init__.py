"""Command handlers, found through ``registry``. The built-in ones register on import."""

from . import before, groups
from .base import BadPayload, Handler, HandlerRegistry, Outcome, parse_payload, register, registry
from .dismissals import DismissGroupHandler

register(DismissGroupHandler())
for _handler in [*groups.handlers(), *before.handlers()]:
    register(_handler)

__all__ = [
    "BadPayload",
    "DismissGroupHandler",
    "Handler",
    "HandlerRegistry",
    "Outcome",
    "parse_payload",
    "register",
    "registry",
]
