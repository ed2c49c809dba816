"""Every callback command the app knows, one declaration each, in a module per family.

``registry`` holds the declarations (``Command``: the wire name, before or after, the
serializer, the example body, the answer fields the server applies, the keys naming the
group and user, the handler) and the handler of each command. The pipeline, decisions,
``testing``, ``imcallback_send``, the OpenAPI schema and the admin read it; nothing else
lists commands. Adding a command: docs/handlers.md.
"""

from . import conversations, dismissals, friends, groups, messages, pushes, users
from .base import (
    BadPayload,
    Command,
    CommandRegistry,
    Example,
    Handler,
    Outcome,
    RecordOnlyHandler,
    parse_payload,
    register,
    registry,
)

FAMILIES = {
    "groups": groups,
    "dismissals": dismissals,
    "messages": messages,
    "pushes": pushes,
    "users": users,
    "friends": friends,
    "conversations": conversations,
}
for _family, _module in FAMILIES.items():
    for _command in _module.COMMANDS:
        registry.declare(_command.with_family(_family))

__all__ = [
    "FAMILIES",
    "BadPayload",
    "Command",
    "CommandRegistry",
    "Example",
    "Handler",
    "Outcome",
    "RecordOnlyHandler",
    "parse_payload",
    "register",
    "registry",
]
