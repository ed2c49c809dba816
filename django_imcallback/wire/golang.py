"""Go's side of the wire: how the server encodes a body and how it decodes an answer.

``go_json`` encodes like Go's ``json.Encoder``. The rest models ``encoding/json``'s
``Unmarshal`` into the server's structs, written in a small Go-like notation::

    fields("groupID string always, ex *string, needVerification *int32")

Each entry is a JSON key (the struct's tag), a Go type, and for an answer how the server
applies it to its request: ``always`` (a plain field: copied whether the answer has it or
not), ``nonnull`` (a pointer: copied when not ``null``; the default for pointers, slices and
maps), ``nonempty`` (copied when not empty), ``never`` (decoded, never applied), ``json``
(a string that must hold a JSON object), ``bykey`` (patches the request's list items with the
same ``userID``) or ``deref`` (copied into the request's own pointer, which must not be
``null``); then, after ``->``, the request key it lands on when that differs (``->*``: the
request's top level, for an embedded struct).

Decoding follows ``encoding/json``: keys match a field exactly, else case-insensitively;
unknown keys are ignored; a later duplicate key wins; ``null`` sets a pointer, slice or map
to nil and leaves anything else as it was; a value of the wrong JSON type is an error,
which fails the server's call (for a before-callback, the user's action is refused).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
)


def go_json(payload: Any) -> bytes:
    """Encode like Go's ``json.Encoder``: compact, ``<>&`` escaped, trailing newline."""
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return (text.translate(_GO_ESCAPES) + "\n").encode()


class GoDecodeError(ValueError):
    """``json.Unmarshal`` would fail: the server's call fails with it."""


class GoType:
    """A Go type as ``encoding/json`` fills it from a decoded JSON value."""

    name: str = ""
    #: ``null`` makes it nil (pointers, slices, maps) rather than leaving it unchanged.
    nilable = False

    def zero(self) -> Any:
        raise NotImplementedError

    def decode(self, value: Any, path: str) -> Any:
        """Go's value for the JSON ``value`` (never ``None`` here: callers handle null)."""
        raise NotImplementedError

    def fill(self, value: Any, path: str, current: Any) -> Any:
        """Decode ``value`` into a field that holds ``current``."""
        if value is None:
            return None if self.nilable else current
        return self.decode(value, path)

    def __str__(self) -> str:
        return self.name


def _wrong(path: str, go_type: GoType, value: Any) -> GoDecodeError:
    kind = {bool: "bool", str: "string", list: "array", dict: "object"}.get(type(value), "number")
    return GoDecodeError(f"json: cannot unmarshal {kind} into {path} of type {go_type}")


class String(GoType):
    name = "string"

    def zero(self) -> str:
        return ""

    def decode(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise _wrong(path, self, value)
        return value


class Bool(GoType):
    name = "bool"

    def zero(self) -> bool:
        return False

    def decode(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise _wrong(path, self, value)
        return value


class Int(GoType):
    """``int32``, ``int64``, ``uint32``, ...: an integer literal in range (no ``1.0``, no
    ``1e3``: Go parses the literal itself)."""

    def __init__(self, name: str) -> None:
        self.name = name
        bits = int(name.removeprefix("u").removeprefix("int") or 64)
        if name.startswith("u"):
            self.low, self.high = 0, 2**bits - 1
        else:
            self.low, self.high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def zero(self) -> int:
        return 0

    def decode(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _wrong(path, self, value)
        if isinstance(value, float) or not self.low <= value <= self.high:
            raise GoDecodeError(f"json: cannot unmarshal number {value} into {path} of type {self}")
        return value


class Wrapper(GoType):
    """``wrapperspb.StringValue`` / ``Int32Value`` (openimsdk/protocol): a bare JSON value
    through its own ``UnmarshalJSON``; always behind a pointer here."""

    def __init__(self, name: str, inner: GoType) -> None:
        self.name, self.inner = name, inner

    def zero(self) -> Any:
        return self.inner.zero()

    def decode(self, value: Any, path: str) -> Any:
        return self.inner.decode(value, path)


class Bytes(GoType):
    """``[]byte``: a base64 string."""

    name = "[]byte"
    nilable = True

    def zero(self) -> None:
        return None

    def decode(self, value: Any, path: str) -> bytes:
        if not isinstance(value, str):
            raise _wrong(path, self, value)
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise GoDecodeError(f"illegal base64 data in {path}") from exc


class Pointer(GoType):
    nilable = True

    def __init__(self, target: GoType) -> None:
        self.target, self.name = target, f"*{target}"

    def zero(self) -> None:
        return None

    def decode(self, value: Any, path: str) -> Any:
        return self.target.decode(value, path)


class Slice(GoType):
    nilable = True

    def __init__(self, item: GoType) -> None:
        self.item, self.name = item, f"[]{item}"

    def zero(self) -> None:
        return None

    def decode(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            raise _wrong(path, self, value)
        return [self.item.fill(v, f"{path}[{i}]", self.item.zero()) for i, v in enumerate(value)]


class Map(GoType):
    """``map[string]T``."""

    nilable = True

    def __init__(self, item: GoType) -> None:
        self.item, self.name = item, f"map[string]{item}"

    def zero(self) -> None:
        return None

    def decode(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _wrong(path, self, value)
        return {k: self.item.fill(v, f"{path}[{k}]", self.item.zero()) for k, v in value.items()}


def fold(key: str) -> str:
    """The case-insensitive form Go's decoder compares keys in."""
    return key.upper()


@dataclass(frozen=True)
class Field:
    """A struct field: its JSON key, Go type, and (in an answer) how the server applies it."""

    key: str
    type: GoType
    how: str = "always"
    #: The request key the value lands on ("*": the request's top level).
    target: str = ""

    @property
    def applied(self) -> bool:
        return self.how != "never"

    @property
    def lands_on(self) -> str:
        return self.target or self.key

    def __str__(self) -> str:
        text = f"{self.key} {self.type} {self.how}"
        return f"{text} ->{self.target}" if self.target else text


class Struct(GoType):
    """A Go struct: its fields, matched as ``encoding/json`` matches keys."""

    def __init__(self, name: str, fields: Iterable[Field]) -> None:
        self.name, self.fields = name, tuple(fields)
        self._exact = {f.key: f for f in self.fields}
        self._folded: dict[str, Field] = {}
        for f in self.fields:
            self._folded.setdefault(fold(f.key), f)

    def field(self, key: str) -> Field | None:
        """The field ``key`` fills: the exact tag first, then a case-insensitive match."""
        return self._exact.get(key) or self._folded.get(fold(key))

    def zero(self) -> dict[str, Any]:
        return {f.key: f.type.zero() for f in self.fields}

    def decode(self, value: Any, path: str) -> dict[str, Any]:
        """Go's struct value, as ``{key: value}`` with every field."""
        if not isinstance(value, dict):
            raise _wrong(path, self, value)
        decoded = self.zero()
        for key, item in value.items():
            target = self.field(key)
            if target is None:
                continue  # Unknown keys are ignored.
            path_of = f"Go struct field {self.name}.{target.key}"
            decoded[target.key] = target.type.fill(item, path_of, decoded[target.key])
        return decoded


# -- the notation ---------------------------------------------------------------------

STRING, BOOL, INT32 = String(), Bool(), Int("int32")
_BASIC: dict[str, GoType] = {
    "string": STRING,
    "bool": BOOL,
    "int32": INT32,
    **{name: Int(name) for name in ("int", "int64", "uint32", "uint64")},
    "StringValue": Wrapper("StringValue", STRING),
    "Int32Value": Wrapper("Int32Value", INT32),
}
_HOWS = ("always", "nonnull", "nonempty", "never", "json", "bykey", "deref")
_ENTRY = re.compile(r"\s*(?P<key>\w+)\s+(?P<type>\S+)(?:\s+(?P<how>\w+))?(?:\s+->(?P<to>\S+))?\s*")


def go_type(spec: str, structs: dict[str, Struct] | None = None) -> GoType:
    """``*[]string``, ``map[string]bool``, ``[]*UserInfo``, ``*StringValue``, ..."""
    if spec.startswith("*"):
        return Pointer(go_type(spec[1:], structs))
    if spec == "[]byte":
        return Bytes()
    if spec.startswith("[]"):
        return Slice(go_type(spec[2:], structs))
    if spec.startswith("map[string]"):
        return Map(go_type(spec.removeprefix("map[string]"), structs))
    if spec in _BASIC:
        return _BASIC[spec]
    if structs and spec in structs:
        return structs[spec]
    raise ValueError(f"Unknown Go type {spec!r}.")


def fields(spec: str, structs: dict[str, Struct] | None = None) -> tuple[Field, ...]:
    """Parse ``"key type [how] [->target], ..."``; ``how`` defaults to ``nonnull`` for
    pointers, slices and maps and to ``always`` for the rest."""
    parsed = []
    for entry in filter(str.strip, spec.split(",")):
        match = _ENTRY.fullmatch(entry)
        if not match:
            raise ValueError(f"Cannot read {entry!r}: expected 'key type [how] [->target]'.")
        kind = go_type(match["type"], structs)
        how = match["how"] or ("nonnull" if kind.nilable else "always")
        if how not in _HOWS:
            raise ValueError(f"{entry!r}: how must be one of {', '.join(_HOWS)}.")
        parsed.append(Field(match["key"], kind, how, match["to"] or ""))
    return tuple(parsed)


def struct(name: str, spec: str, structs: dict[str, Struct] | None = None) -> Struct:
    return Struct(name, fields(spec, structs))


#: The response fields every answer has (``CommonCallbackResp``).
COMMON = "actionCode int32, errCode int32, errMsg string, errDlt string, nextCode int32"


@dataclass
class Answer:
    """A decoded answer: the common fields, and the command's own (every field, zero when
    the answer lacked it)."""

    common: dict[str, Any]
    values: dict[str, Any]

    @property
    def blocks(self) -> bool:
        """The server's block rule: ``actionCode == 0 && nextCode == 1``."""
        return bool(self.common["actionCode"] == 0 and self.common["nextCode"] == 1)


def decode_answer(body: bytes | str | dict[str, Any], response: Struct) -> Answer:
    """``json.Unmarshal(body, &resp)`` for a response struct (``COMMON`` fields included).

    A JSON ``null`` decodes to the zero struct, as in Go; anything but an object or null
    is an error.
    """
    if isinstance(body, bytes | str):
        try:
            value = json.loads(body)
        except ValueError as exc:
            raise GoDecodeError(f"invalid character: {exc}") from exc
    else:
        value = body
    common = Struct("CommonCallbackResp", fields(COMMON))
    whole = Struct(response.name, (*common.fields, *response.fields))
    decoded = whole.zero() if value is None else whole.decode(value, "Go value")
    names = {f.key for f in common.fields}
    return Answer(
        {k: v for k, v in decoded.items() if k in names},
        {k: v for k, v in decoded.items() if k not in names},
    )
