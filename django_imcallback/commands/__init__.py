"""Every callback command the app knows, one declaration each, in a module per family.

``registry`` holds the declarations (``Command``: the wire name, before or after, the
serializer, the example body, the answer fields the server applies, the keys naming the
group and user, the handler) and the handler of each command. The pipeline, decisions,
``testing``, ``imcallback_send``, the OpenAPI schema and the admin read it; nothing else
lists commands. Adding a command: docs/handlers.md.
"""

from .. import signals
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


#: How the table says the server applies an answer field (``wire.golang``).
HOWS = {"nonnull": "", "always": ", always: echoed", "nonempty": ", if not empty"}


def table() -> str:
    """Every declared command as a Markdown table (docs/commands.md holds it)."""
    rows = [
        "| command | `webhooks.yml` | | family | signal | a `Change` may set |",
        "|---|---|---|---|---|---|",
    ]
    for command in registry.declarations():
        handler = command.handler_class
        signal = next(
            (name for name, value in vars(signals).items() if handler and value is handler.signal),
            "",
        )
        changes = ", ".join(
            f"`{f.key}` ({f.type}{HOWS.get(f.how, ', ' + f.how)})"
            for f in command.changeable.fields
        )
        if not command.before:
            changes = "-"
        rows.append(
            f"| `{command.name}`<br>{command.summary} | `{command.yml_key}` "
            f"| {'before' if command.before else 'after'} | {command.family} "
            f"| {f'`{signal}`' if signal else ''} | {changes or 'block or allow only'} |"
        )
    return "\n".join(rows) + "\n"


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
    "table",
]
