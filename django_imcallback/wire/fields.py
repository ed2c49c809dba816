"""The field kit for bodies as Go encodes them: DRF fields for Go's strings, IDs, integers
of a given width, nil slices (``null``) and the server's quirks (``groupType``,
``eventTime``). Every command's serializer is built from these."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.core.validators import (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
)
from rest_framework import serializers
from rest_framework.validators import ProhibitSurrogateCharactersValidator

from ..models.events import ID_MAX_LENGTH

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
# A decimal integer as a string, short enough that int() never refuses it.
NUMERIC = re.compile(r"\s*[+-]?[0-9]{1,20}\s*", re.ASCII)


_CHECKED_HERE = (
    MaxLengthValidator,
    MinLengthValidator,
    ProhibitNullCharactersValidator,
    ProhibitSurrogateCharactersValidator,
)


class WireStringField(serializers.CharField):
    """A JSON string (Go's ``string``), kept exactly as sent: no number coercion, no trimming."""

    default_error_messages = {"not_a_string": "Expected a string, got {input_type}."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)
        # DRF's length, NUL and surrogate validators cost a lazy message per call and a
        # Python step per character; to_internal_value makes the same checks in C, which
        # matters on before-callbacks (every message, on the sender's critical path).
        self.validators = [v for v in self.validators if not isinstance(v, _CHECKED_HERE)]

    def run_validation(self, data: Any = serializers.empty) -> Any:
        """DRF's, without its generic detours for a value that is present (most are)."""
        if data is serializers.empty or data is None:
            return super().run_validation(data)  # DRF's rules for missing and null
        if data == "":
            if not self.allow_blank:
                self.fail("blank")
            return ""
        value = self.to_internal_value(data)
        if self.validators:
            self.run_validators(value)
        return value

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("not_a_string", input_type=type(data).__name__)
        if self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        if self.min_length is not None and len(data) < self.min_length:
            self.fail("min_length", min_length=self.min_length)
        if "\x00" in data:
            raise serializers.ValidationError(
                ProhibitNullCharactersValidator.message, code=ProhibitNullCharactersValidator.code
            )
        if not data.isascii() and not encodable(data):
            ProhibitSurrogateCharactersValidator()(data)  # raises, naming the first one
        return data


class IDField(WireStringField):
    """An OpenIM ID."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", ID_MAX_LENGTH)
        if not kwargs.get("allow_blank"):
            kwargs.setdefault("min_length", 1)
        super().__init__(**kwargs)


class GroupTypeField(serializers.Field):  # type: ignore[type-arg]
    """``groupType`` as any server sends it; validates to ``(raw, integer_or_None)``.

    The contract says int32 ``2``; the open-source server sends ``string(rune(2))``,
    i.e. the one-character string ``"\\u0002"``; some forks send ``"2"``.
    """

    default_error_messages = {
        "invalid": "Expected an integer, a numeric string or a one-character string.",
        "range": "Must fit in a 32-bit signed integer.",
    }

    def to_internal_value(self, data: Any) -> tuple[Any, int | None]:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            value = data
        elif isinstance(data, str) and NUMERIC.fullmatch(data):
            value = int(data)
        elif isinstance(data, str) and len(data) == 1:
            value = ord(data)  # Go's string(rune(n)) conversion, undone.
        else:
            self.fail("invalid")
        if not INT32_MIN <= value <= INT32_MAX:
            self.fail("range")
        return data, value

    def to_representation(self, value: Any) -> Any:
        return value


class MemberIDsField(serializers.Field):  # type: ignore[type-arg]
    """``membersID``: a list of user ID strings, or ``null`` (Go's nil slice).

    Validated with whole-list operations rather than a child field per item, because
    a group can have hundreds of thousands of members. Duplicates are dropped, first
    occurrence wins, order kept.
    """

    default_error_messages = {
        "not_a_list": "Expected a list of user IDs or null, got {input_type}.",
        "not_a_string": "Item {index} is not a string: {value}.",
        "blank": "Item {index} is an empty user ID.",
        "too_long": "Item {index} is longer than {max_length} characters.",
        "null_character": "Item {index} contains a NUL character.",
        "surrogate": "Item {index} contains a lone surrogate, which is not valid Unicode text.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", list)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is None or data is serializers.empty:
            return True, []
        return super().validate_empty_values(data)

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if not all(type(item) is str for item in data):
            index, item = next((i, x) for i, x in enumerate(data) if type(x) is not str)
            self.fail("not_a_string", index=index, value=_short_repr(item))
        seen = dict.fromkeys(data)
        joined = "".join(seen)
        if seen and (
            "" in seen
            or max(map(len, seen)) > ID_MAX_LENGTH
            or "\x00" in joined
            or not (joined.isascii() or encodable(joined))
        ):
            self._fail_on_first_bad_item(data)
        return list(seen)

    def _fail_on_first_bad_item(self, data: list[str]) -> None:
        for index, item in enumerate(data):
            if not item:
                self.fail("blank", index=index)
            if len(item) > ID_MAX_LENGTH:
                self.fail("too_long", index=index, max_length=ID_MAX_LENGTH)
            if "\x00" in item:
                self.fail("null_character", index=index)
            if not encodable(item):
                self.fail("surrogate", index=index)

    def to_representation(self, value: Any) -> Any:
        return list(value)


class EventTimeField(serializers.Field):  # type: ignore[type-arg]
    """``eventTime``: milliseconds since the epoch, sent by newer servers only. 0 means unset."""

    default_error_messages = {
        "invalid": "Expected milliseconds since the epoch as an integer.",
        "range": "Is not a representable point in time.",
    }

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default", None)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime | None:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and NUMERIC.fullmatch(data):
            data = int(data)
        if not isinstance(data, int):
            self.fail("invalid")
        if data == 0:
            return None
        if data < 0:
            self.fail("range")
        try:
            return datetime.fromtimestamp(data / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            self.fail("range")
        raise AssertionError("unreachable")  # pragma: no cover

    def to_representation(self, value: Any) -> Any:
        return value


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer (Go's ``int32``/``int64``/``uint32``): no strings, no booleans, no
    fractions. Bounds are checked here rather than by validators (a lazy message per call)."""

    def __init__(self, **kwargs: Any) -> None:
        bounds = kwargs.pop("min_value", None), kwargs.pop("max_value", None)
        super().__init__(**kwargs)
        self.min_value, self.max_value = bounds  # for the schema

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data is serializers.empty or data is None:
            return super().run_validation(data)  # DRF's rules for missing and null
        value = self.to_internal_value(data)
        if self.validators:
            self.run_validators(value)
        return value

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if self.max_value is not None and data > self.max_value:
            self.fail("max_value", max_value=self.max_value)
        if self.min_value is not None and data < self.min_value:
            self.fail("min_value", min_value=self.min_value)
        return data


class BooleanField(serializers.BooleanField):
    """A JSON boolean (Go's ``bool``): ``true`` or ``false``, not ``"true"`` nor ``1``."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


def text(**kwargs: Any) -> WireStringField:
    """An optional Go string: absent and ``null`` read as ``None``, ``""`` kept."""
    kwargs.update(required=False, allow_blank=True, allow_null=True, default=None)
    return WireStringField(**kwargs)


def integer(bits: int = 32, *, unsigned: bool = False, **kwargs: Any) -> StrictIntegerField:
    """An optional Go ``int32`` (or ``int64``, or unsigned): ``null`` reads as ``None``."""
    if unsigned:
        kwargs.update(min_value=0, max_value=2**bits - 1)
    else:
        limit = 2 ** (bits - 1)
        kwargs.update(min_value=-limit, max_value=limit - 1)
    return StrictIntegerField(required=False, allow_null=True, default=None, **kwargs)


def boolean() -> BooleanField:
    """An optional Go ``bool``: ``null`` reads as ``None``."""
    return BooleanField(required=False, allow_null=True, default=None)


def ids(**kwargs: Any) -> MemberIDsField:
    """A Go ``[]string`` of user IDs, ``null`` (a nil slice) read as ``[]``."""
    kwargs.setdefault("required", False)
    return MemberIDsField(**kwargs)


def group_id() -> IDField:
    """``groupID``, required, as ``group_id`` in the validated data."""
    return IDField(source="group_id")


def object_list(child: serializers.Serializer[Any]) -> serializers.ListSerializer[Any]:
    """A Go slice of objects; the list may be ``null`` (a nil slice), its items not."""
    return serializers.ListSerializer(child=child, required=False, allow_null=True, default=list)


class BodySerializer(serializers.Serializer[Any]):
    """What every callback body has: ``callbackCommand``. Keys keep their wire names in the
    validated data unless a field says otherwise; a ``null`` list (Go's nil slice) of
    objects reads as ``[]``. Unknown keys are ignored here and kept in the raw body."""

    callbackCommand = WireStringField(required=False, allow_blank=True)

    def to_internal_value(self, data: Any) -> Any:
        values = super().to_internal_value(data)
        for name in self._object_lists:
            if values.get(name) is None:
                values[name] = []
        return values

    @cached_property
    def _object_lists(self) -> list[str]:
        return [
            str(field.source)
            for field in self.fields.values()
            if isinstance(field, serializers.ListSerializer)
        ]


def encodable(text: str) -> bool:
    """Whether ``text`` is valid Unicode text (no lone surrogates), as UTF-8 needs."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _short_repr(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
