"""Limits on JSON the registry accepts, checked on the text *before* it is decoded.

A JSON text that is valid but hostile — nested thousands of levels deep,
holding a megabyte-long string, a huge array or a 5000-digit number — can make
a decoder, a validator or a later serialiser fail. Stored once, such a record
would make every later read of it fail. :func:`load_json_object` walks the
text's tokens once (no recursion), stops at the first limit broken and names
the member where it happened, and only then decodes the text.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, NoReturn

from registry.errors import InvalidInputError, RegistryError

DEFAULT_MAX_RECORD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class JsonLimits:
    """How large and deep an accepted JSON text may be."""

    max_bytes: int = DEFAULT_MAX_RECORD_BYTES
    """Whole text, UTF-8 encoded."""
    max_depth: int = 16
    """Nesting of objects and arrays (the top-level object is level 1)."""
    max_string_chars: int = 32 * 1024
    """One string (member name or value) as written, escapes included."""
    max_array_items: int = 10_000
    """Items of one array."""
    max_object_members: int = 256
    """Members of one object."""
    max_number_chars: int = 32
    """One number as written (a 64-bit integer has at most 20 characters)."""


RECORD_LIMITS = JsonLimits()
"""Limits for an uploaded session record; its schema needs far less (depth 3, short strings)."""


class MalformedJsonError(RegistryError):
    """The body is not a JSON object (not UTF-8, not JSON, or another JSON value)."""


class JsonLimitError(InvalidInputError):
    """The body is JSON but breaks a size or depth limit."""


# Structural tokens, strings and numbers; true/false/null need no checks and are skipped.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],:]|-?Infinity|NaN|-?[0-9][0-9.eE+-]*', re.DOTALL)
_PATH_SHOWN = 12


@dataclass
class _Frame:
    is_object: bool
    label: str | int | None  # member name or item index of the value being read
    count: int = 0
    expect_key: bool = True


def _where(stack: list[_Frame]) -> str:
    labels = [str(frame.label) for frame in stack if frame.label is not None]
    if not labels:
        return "(top level)"
    if len(labels) > _PATH_SHOWN:
        labels = [*labels[:_PATH_SHOWN], f"… ({len(labels) - _PATH_SHOWN} more levels)"]
    return ".".join(labels)


def _refuse(what: str, stack: list[_Frame], limit: str, maximum: int) -> NoReturn:
    """Refuse at the member being read in ``stack``'s innermost container."""
    where = _where(stack)
    raise JsonLimitError(f"{what} at {where}", detail={"limit": limit, "maximum": maximum, "at": where})


def _scan(text: str, limits: JsonLimits, what: str) -> None:
    """Raise JsonLimitError at the first broken limit; stop quietly on malformed structure."""
    stack: list[_Frame] = []
    for match in _TOKENS.finditer(text):
        token = match.group()
        top = stack[-1] if stack else None
        first = token[0]
        if first in "{[":
            if len(stack) >= limits.max_depth:
                _refuse(
                    f"{what} is nested deeper than {limits.max_depth} levels",
                    stack,
                    "depth",
                    limits.max_depth,
                )
            stack.append(_Frame(is_object=first == "{", label=None if first == "{" else 0))
        elif first in "}]":
            if top is None or top.is_object != (first == "}"):
                return  # mismatched brackets: the decoder names the syntax error
            stack.pop()
        elif first == ",":
            if top is None:
                return
            top.count += 1
            if top.is_object:
                top.expect_key = True
                if top.count >= limits.max_object_members:
                    _refuse(
                        f"{what} has an object with more than {limits.max_object_members} members",
                        stack[:-1],
                        "object_members",
                        limits.max_object_members,
                    )
            else:
                top.label = top.count
                if top.count >= limits.max_array_items:
                    _refuse(
                        f"{what} has an array with more than {limits.max_array_items} items",
                        stack[:-1],
                        "array_items",
                        limits.max_array_items,
                    )
        elif first == ":":
            if top is not None:
                top.expect_key = False
        elif first == '"':
            if top is not None and top.is_object and top.expect_key:
                top.label = token[1:-1][:64]
            if len(token) - 2 > limits.max_string_chars:
                _refuse(
                    f"{what} has a string of {len(token) - 2} characters (at most {limits.max_string_chars})",
                    stack,
                    "string_chars",
                    limits.max_string_chars,
                )
        elif first in "NI" or token.startswith("-I"):
            raise MalformedJsonError(
                f"{what} is not valid JSON: {token} is not a JSON number (at {_where(stack)})"
            )
        elif len(token) > limits.max_number_chars:
            _refuse(
                f"{what} has a number of {len(token)} characters (at most {limits.max_number_chars})",
                stack,
                "number_chars",
                limits.max_number_chars,
            )


def _not_json_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def load_json_object(data: bytes | str, limits: JsonLimits, *, what: str = "the body") -> dict[str, Any]:
    """Decode a JSON object within ``limits``.

    Raises:
        MalformedJsonError: not UTF-8, not JSON, or not an object (HTTP 400).
        JsonLimitError: larger, deeper or longer than the limits allow, naming where (HTTP 422).
    """
    size = len(data.encode("utf-8")) if isinstance(data, str) else len(data)
    if size > limits.max_bytes:
        raise JsonLimitError(
            f"{what} has {size} bytes; at most {limits.max_bytes} are accepted",
            detail={"limit": "bytes", "maximum": limits.max_bytes, "at": "(top level)"},
        )
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJsonError(f"{what} is not UTF-8 text (byte {exc.start} is not UTF-8)") from None
    else:
        text = data
    _scan(text, limits, what)
    try:
        value = json.loads(text, parse_constant=_not_json_constant)
    except ValueError as exc:  # JSONDecodeError, or a NaN/Infinity constant
        raise MalformedJsonError(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise MalformedJsonError(
            f"{what} must be a JSON object, not {type(value).__name__}",
            hint="send the record as a JSON object with Content-Type: application/json",
        )
    return value
