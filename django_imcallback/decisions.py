"""Before-callbacks: the host project decides, on the user's critical path.

OpenIM posts a *before* callback and waits: ``actionCode == 0 and nextCode == 1`` refuses
the user's action, anything else lets it go on, and a late or non-JSON answer refuses it
too. A host registers deciders::

    from django_imcallback.decisions import Block, Change, decides

    @decides("callbackBeforeSendSingleMsgCommand")
    def no_spam(event, payload):
        if "buy now" in payload.get("content", ""):
            return Block(5001, "Message refused", "spam")
        return None  # no opinion: allow

Several deciders of one command run in registration order: the first ``Block`` wins and
ends the run; ``Change``s merge in order (a later one overrides an earlier key). A decider
that raises, returns something else, or changes a key its command cannot take, gets the
command's *default* verdict answered (allow, unless ``IMCALLBACK["DECISION_DEFAULTS"]``
says otherwise) and the event recorded ``failed`` with the traceback. Nothing on this side
ever turns into a refusal unless a decider, or a configured default, blocks.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .commands import registry
from .conf import imcallback_settings
from .logs import logsafe
from .models import CallbackEvent
from .wire.fields import encodable
from .wire.golang import INT32, Field, GoDecodeError, GoType, Map, Pointer, Slice, Struct

logger = logging.getLogger("django_imcallback")

__all__ = [
    "BadChange",
    "Block",
    "Change",
    "Decision",
    "allow_answer",
    "checked_change",
    "decide",
    "deciders",
    "decides",
    "echo",
    "is_before",
]


@dataclass(frozen=True)
class Block:
    """Refuse the user's action; the user gets ``err_code``, ``err_msg`` and ``err_dlt``."""

    err_code: int
    err_msg: str
    err_dlt: str = ""


class Change:
    """Let the action go on with these answer fields, spelled as the server spells them
    (``nickName=...``; any case is read as Go reads it). The fields each command takes are
    its declaration's ``answer`` (docs/commands.md lists them)."""

    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Change) and other.fields == self.fields

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.fields)))

    def __repr__(self) -> str:
        return f"Change({', '.join(f'{k}={v!r}' for k, v in self.fields.items())})"


Verdict = Block | Change | None
Decider = Callable[[CallbackEvent, dict[str, Any]], Verdict]

DEFAULT_BUDGET_MS = 1000
ALLOW = {"actionCode": 0, "errCode": 0, "errMsg": "", "errDlt": "", "nextCode": 0}

_deciders: dict[str, list[Decider]] = {}


def is_before(command: str) -> bool:
    """Whether the server waits for ``command``'s answer and obeys it."""
    return registry.is_before(command)


def decides(command: str) -> Callable[[Decider], Decider]:
    """Register the decorated function as a decider of ``command`` (a before-callback)."""
    if not is_before(command):
        raise ValueError(f"{command} is not a before-callback; OpenIM ignores its answer.")

    def register(decider: Decider) -> Decider:
        _deciders.setdefault(command.lower(), []).append(decider)
        return decider

    return register


def deciders(command: str) -> list[Decider]:
    """The deciders of ``command``, in the order they run (a copy)."""
    return list(_deciders.get(command.lower(), ()))


def forget(decider: Decider) -> None:
    """Unregister ``decider`` from every command (for tests and reloads)."""
    for registered in _deciders.values():
        while decider in registered:
            registered.remove(decider)


# -- what each before-callback's answer may change ----------------------------------------


class BadChange(ValueError):
    """A decider's ``Change`` (or ``Block``) the server would ignore, choke on, or read
    otherwise than meant."""


def allow_answer(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Allow, with ``echo``: without it the server would blank those fields of the request."""
    return {**ALLOW, **echo(command, payload)}


def echo(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the server copies from any answer (a plain field in its response struct), as the
    request has it: every answer that lets the action go on carries it."""
    answer: dict[str, Any] = {}
    declared = registry.command(command)
    for spec in declared.echoed if declared else ():
        if spec.lands_on not in payload:
            continue
        value = payload[spec.lands_on]
        try:
            spec.type.fill(value, spec.key, spec.type.zero())
        except GoDecodeError:
            continue  # Not what the server sent: nothing the server would read as meant.
        answer[spec.key] = value
    return answer


def checked_change(command: str, change: Change, payload: dict[str, Any]) -> dict[str, Any]:
    """The answer fields of ``change``, keys as the server spells them (matched as Go
    matches keys: exactly, else ignoring case), each value checked against its Go type and
    against how the server applies it."""
    declared = registry.command(command)
    takes = declared.changeable if declared else Struct(command, ())
    checked: dict[str, Any] = {}
    for key, value in change.fields.items():
        spec = takes.field(key)
        if spec is None:
            allowed = ", ".join(f.key for f in takes.fields) or "nothing (block or allow only)"
            raise BadChange(f"{command} cannot change {key}; it takes {allowed}.")
        if spec.key in checked:
            raise BadChange(f"{command}: {key} and another key both name {spec.key}.")
        checked[spec.key] = _checked_value(command, spec, value, payload)
    return checked


def _checked_value(command: str, spec: Field, value: Any, payload: dict[str, Any]) -> Any:
    where = f"{command}: {spec.key}"
    if value is None:
        if spec.how == "always" and spec.type.nilable:
            return None  # null: the server leaves the field unchanged
        raise BadChange(f"{where} cannot be null: the server would ignore it.")
    try:
        value = canonical(spec.type, value, spec.key)
    except GoDecodeError as exc:
        raise BadChange(f"{where} must be Go's {spec.type}: {exc}") from exc
    if spec.how in ("nonempty", "bykey") and not value:
        raise BadChange(f"{where} is ignored by the server when empty.")
    if spec.how == "json":
        try:
            content = json.loads(value)
        except ValueError:
            content = None
        if not isinstance(content, dict):
            raise BadChange(
                f"{where} must be a JSON object in a string; the server refuses the message "
                "otherwise."
            )
    if spec.how == "deref" and payload.get(spec.lands_on) is None:
        raise BadChange(
            f"{where}: the request leaves {spec.lands_on} unset, and the server would write "
            "through its unset value (the update would fail)."
        )
    if spec.how == "bykey":
        joining = {m.get("userID") for m in payload.get(spec.lands_on) or () if isinstance(m, dict)}
        for item in value:
            if item.get("userID") not in joining:
                raise BadChange(
                    f"{where}: every entry needs the userID of a joining member "
                    f"({', '.join(map(str, sorted(joining, key=str))) or 'none'}); "
                    f"got {item.get('userID')!r}."
                )
    return value


def canonical(go_type: GoType, value: Any, path: str) -> Any:
    """``value`` as the server decodes it into ``go_type``, with the struct keys spelled as
    the server spells them; ``GoDecodeError`` where the server would fail or ignore part."""
    if isinstance(go_type, Pointer):
        return canonical(go_type.target, value, path)
    if isinstance(go_type, Struct):
        if not isinstance(value, dict):
            raise GoDecodeError(f"{path} must be an object")
        result: dict[str, Any] = {}
        for key, item in value.items():
            spec = go_type.field(key)
            if spec is None:
                raise GoDecodeError(f"{path} has no field {key!r}")
            result[spec.key] = None if item is None else canonical(spec.type, item, f"{path}.{key}")
        return result
    if isinstance(go_type, Slice) and isinstance(value, list | tuple):
        if any(item is None for item in value):
            raise GoDecodeError(f"{path} has a null item")
        return [canonical(go_type.item, item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(go_type, Map) and isinstance(value, dict):
        if not all(isinstance(key, str) for key in value):
            raise GoDecodeError(f"{path} keys must be strings")
        return {k: canonical(go_type.item, v, f"{path}[{k}]") for k, v in value.items()}
    decoded = go_type.decode(value, path)
    if isinstance(decoded, str) and not encodable(decoded):
        raise GoDecodeError(f"{path} is not valid Unicode text")
    return decoded


# -- deciding -----------------------------------------------------------------------------


@dataclass
class Decision:
    """What was decided and the exact answer to send."""

    #: ``allow``, ``block``, ``change``; ``default`` when a failure made the default answer.
    verdict: str
    answer: dict[str, Any]
    #: A failure's traceback or message ("" when every decider did its job).
    error: str = ""
    #: Deciders slower than ``DECISION_BUDGET_MS``, with their time.
    slow: list[str] = field(default_factory=list)


def block_answer(block: Block) -> dict[str, Any]:
    """The answer that blocks; ``BadChange`` when the server could not read it (its codes are
    ``int32``, its messages strings)."""
    try:
        INT32.decode(block.err_code, "errCode")
    except GoDecodeError as exc:
        raise BadChange(f"Block: {exc}") from exc
    if not isinstance(block.err_msg, str) or not isinstance(block.err_dlt, str):
        raise BadChange("Block: err_msg and err_dlt must be strings.")
    if not encodable(block.err_msg + block.err_dlt):
        raise BadChange("Block: err_msg and err_dlt must be valid Unicode text.")
    return {
        "actionCode": 0,
        "errCode": block.err_code,
        "errMsg": block.err_msg,
        "errDlt": block.err_dlt,
        "nextCode": 1,
    }


def default_answer(command: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The configured default verdict's answer; allow when it is missing or malformed."""
    value = imcallback_settings.per_command("DECISION_DEFAULTS", command, "allow")
    if value == "allow":
        return allow_answer(command, payload)
    try:
        return block_answer(
            Block(int(value["errCode"]), str(value["errMsg"]), str(value.get("errDlt", "")))
        )
    except (TypeError, KeyError, ValueError):
        logger.error(
            'IMCALLBACK["DECISION_DEFAULTS"] for %s is neither "allow" nor a block '
            '({"errCode": ..., "errMsg": ...}); answering allow.',
            logsafe(command),
        )
        return allow_answer(command, payload)


def decide(command: str, event: CallbackEvent, payload: dict[str, Any]) -> Decision | None:
    """Run ``command``'s deciders; ``None`` when it has none and the plain allow answer
    says all (the command has no field the server copies from any answer)."""
    registered = deciders(command)
    if not registered:
        answer = allow_answer(command, payload)
        return Decision("allow", answer) if answer != ALLOW else None
    budget = _budget_ms()
    changes: dict[str, Any] = {}
    slow: list[str] = []
    for decider in registered:
        started = time.perf_counter()
        try:
            verdict = decider(event, payload)
            if verdict is not None and not isinstance(verdict, Block | Change):
                raise TypeError(
                    f"A decider returns Block, Change or None, not {type(verdict).__name__}."
                )
            if isinstance(verdict, Change):
                changes.update(checked_change(command, verdict, payload))
            blocked = block_answer(verdict) if isinstance(verdict, Block) else None
        except Exception as exc:
            name = _name(decider)
            logger.error(
                "Decider %s of %s failed; answering the default.",
                name,
                logsafe(command),
                exc_info=exc,
            )
            error = f"Decider {name} failed:\n" + "".join(traceback.format_exception(exc))
            return Decision("default", default_answer(command, payload), error, slow)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            if elapsed > budget:
                slow.append(f"{_name(decider)} took {elapsed:.0f} ms")
                logger.warning(
                    "Decider %s of %s took %.0f ms (budget %d ms).",
                    _name(decider),
                    logsafe(command),
                    elapsed,
                    budget,
                )
        if blocked is not None:
            return Decision("block", blocked, slow=slow)
    allowed = allow_answer(command, payload)
    if changes:
        return Decision("change", {**allowed, **changes}, slow=slow)
    return Decision("allow", allowed, slow=slow)


def _budget_ms() -> int:
    try:
        return imcallback_settings.decision_budget_ms
    except ImproperlyConfigured as exc:
        logger.error("%s Using %d ms.", exc, DEFAULT_BUDGET_MS)
        return DEFAULT_BUDGET_MS


def _name(decider: Decider) -> str:
    return (
        f"{getattr(decider, '__module__', '?')}.{getattr(decider, '__qualname__', repr(decider))}"
    )
