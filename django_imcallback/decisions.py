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

import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers

from .conf import imcallback_settings
from .logs import logsafe
from .models import CallbackEvent

logger = logging.getLogger("django_imcallback")

__all__ = ["Block", "Change", "Decision", "decide", "deciders", "decides", "is_before"]


@dataclass(frozen=True)
class Block:
    """Refuse the user's action; the user gets ``err_code``, ``err_msg`` and ``err_dlt``."""

    err_code: int
    err_msg: str
    err_dlt: str = ""


class Change:
    """Let the action go on with these answer fields (wire names, e.g. ``content=...``);
    the keys a command takes are in ``ANSWER_FIELDS``."""

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
    return command.lower().startswith("callbackbefore")


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


def _strings(*names: str) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    return {name: serializers.CharField(allow_blank=True) for name in names}


def _integers(*names: str) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    return {name: serializers.IntegerField() for name in names}


def _string_lists(*names: str) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
    return {name: serializers.ListField(child=serializers.CharField()) for name in names}


def _object_list() -> serializers.ListField:
    """A list of objects the server checks itself (e.g. ``memberCallbackList``)."""
    return serializers.ListField(child=serializers.DictField())


#: The answer fields a ``Change`` may carry per command (``pkg/callbackstruct``); a
#: command missing here can only be blocked or allowed.
ANSWER_FIELDS: dict[str, dict[str, serializers.Field[Any, Any, Any, Any]]] = {
    "callbackBeforeMsgModifyCommand": {
        **_strings("content", "recvID", "groupID", "clientMsgID", "serverMsgID", "ex"),
        **_strings("senderNickname", "senderFaceURL", "attachedInfo"),
        **_integers("senderPlatformID", "sessionType", "msgFrom", "contentType", "status"),
        **_integers("sendTime", "createTime"),
        **_string_lists("atUserIDList"),
    },
    "callbackBeforeUpdateUserInfoCommand": _strings("nickname", "faceURL", "ex"),
    "callbackBeforeUpdateUserInfoExCommand": _strings("nickname", "faceURL", "ex"),
    "callbackBeforeUserRegisterCommand": {"users": _object_list()},
    "callbackBeforeCreateGroupCommand": {
        **_strings("groupID", "groupName", "notification", "introduction", "faceURL"),
        **_strings("ownerUserID", "ex", "creatorUserID"),
        **_integers("status", "groupType", "needVerification", "lookMemberInfo"),
    },
    "callbackBeforeMembersJoinGroupCommand": {"memberCallbackList": _object_list()},
    "callbackBeforeSetGroupMemberInfoCommand": {
        **_strings("nickname", "faceURL", "ex"),
        **_integers("roleLevel"),
    },
    "callbackBeforeSetGroupInfoCommand": {
        **_strings("groupID", "groupName", "notification", "introduction", "faceURL", "ex"),
        **_integers("needVerification", "lookMemberInfo", "applyMemberFriend"),
    },
    "callbackBeforeOnlinePushCommand": _string_lists("userIDs"),
    "callbackBeforeOfflinePushCommand": {
        **_string_lists("userIDs"),
        "offlinePushInfo": serializers.DictField(),
    },
    "callbackBeforeGroupOnlinePushCommand": _string_lists("userIDs"),
}
_ANSWER_FIELDS = {command.lower(): fields for command, fields in ANSWER_FIELDS.items()}


class BadChange(ValueError):
    """A decider's ``Change`` that its command cannot take."""


def _checked(command: str, change: Change) -> dict[str, Any]:
    fields = _ANSWER_FIELDS.get(command.lower(), {})
    unknown = sorted(set(change.fields) - set(fields))
    if unknown:
        allowed = ", ".join(sorted(fields)) or "nothing (block or allow only)"
        raise BadChange(f"{command} cannot change {', '.join(unknown)}; it takes {allowed}.")
    checked = {}
    for name, value in change.fields.items():
        try:
            checked[name] = fields[name].run_validation(value)
        except serializers.ValidationError as exc:
            raise BadChange(f"{command}: {name} {exc.detail}") from exc
    return checked


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
    return {
        "actionCode": 0,
        "errCode": block.err_code,
        "errMsg": block.err_msg,
        "errDlt": block.err_dlt,
        "nextCode": 1,
    }


def default_answer(command: str) -> dict[str, Any]:
    """The configured default verdict's answer; allow when it is missing or malformed."""
    value = imcallback_settings.per_command("DECISION_DEFAULTS", command, "allow")
    if value == "allow":
        return dict(ALLOW)
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
        return dict(ALLOW)


def decide(command: str, event: CallbackEvent, payload: dict[str, Any]) -> Decision | None:
    """Run ``command``'s deciders; ``None`` when it has none (the plain allow answer)."""
    registered = deciders(command)
    if not registered:
        return None
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
                changes.update(_checked(command, verdict))
        except Exception as exc:
            name = _name(decider)
            logger.error(
                "Decider %s of %s failed; answering the default.",
                name,
                logsafe(command),
                exc_info=exc,
            )
            error = f"Decider {name} failed:\n" + "".join(traceback.format_exception(exc))
            return Decision("default", default_answer(command), error, slow)
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
        if isinstance(verdict, Block):
            return Decision("block", block_answer(verdict), slow=slow)
    if changes:
        return Decision("change", {**ALLOW, **changes}, slow=slow)
    return Decision("allow", dict(ALLOW), slow=slow)


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
