"""A native (msgspec) pre-filter for the one-pass reading: it can only accept, never refuse.

:mod:`agent.records.canonical_line` reads a log line with pydantic-core, which
builds the record's ~300 Python values and then re-serialises them to prove
the line canonical. This module tries msgspec first: the line is decoded into
typed structs (no dict per object), re-encoded, and compared byte for byte.
When any step fails the caller goes on to the pydantic-core reading unchanged,
so every refusal and every message stays what it was.

The struct types are *generated* from :func:`agent.records.stored_schema.derive`
(``fast=True``), the very schema of the pydantic one-pass reader, one set per
readable record version: the same members (all required, none extra, sorted
as RFC 8785 sorts them), the same length and numeric bounds, the same model
validators and value checks (run in ``__post_init__``). The same patterns are
then checked on the plain data by pydantic-core itself (:func:`pattern_schema`,
one call per line). A schema construct the generator does not know raises at
import.

Why acceptance here implies acceptance there, with the same record:

- every constraint of the derived schema is checked (or a stricter one);
- msgspec writes strings and, within the fast float domain the derived schema
  enforces, numbers exactly as RFC 8785 does (tests/records/test_native_line.py
  compares every character and sampled numbers), so equal bytes mean the line
  is the record's canonical JSON: no duplicate key, no other spelling, members
  in order;
- the record handed on is ``msgspec.to_builtins`` of the structs: the same plain
  JSON data pydantic-core gives (checked on every mutant by the differential test).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal, Optional, Union

import msgspec
from pydantic_core import CoreSchema, SchemaValidator, ValidationError, core_schema

from agent.records.model import READABLE_SCHEMA_VERSIONS, SessionRecord
from agent.records.stored_schema import derive, version_number
from agent.signing import SIGNATURE_FIELD

Check = Callable[[Any], None]
"""Checks one value (raises ValueError to refuse it)."""

_STR_KEYS = {"type", "min_length", "max_length", "pattern", "strict", "metadata"}
"""A string's constraints; its pattern is checked by :func:`pattern_schema`, the others by msgspec."""
_INT_KEYS = {"type", "ge", "gt", "le", "lt", "strict", "metadata"}
_FLOAT_KEYS = _INT_KEYS  # no multiple_of: msgspec's and pydantic's float remainders need not agree
_BOUND_KEYS = ("ge", "gt", "le", "lt")


def _meta(schema: CoreSchema, allowed: set[str], names: tuple[str, ...]) -> msgspec.Meta | None:
    unknown = set(schema) - allowed
    if unknown:
        raise TypeError(f"the native reader cannot derive {schema['type']!r} constraints {sorted(unknown)}")
    if schema.get("strict") is False:
        raise TypeError("a lax member cannot be read natively")
    kwargs = {name: schema[name] for name in names if name in schema}
    return msgspec.Meta(**kwargs) if kwargs else None


def _annotated(kind: Any, meta: msgspec.Meta | None) -> Any:
    return kind if meta is None else Annotated[kind, meta]


class _Number:
    """The checks of an int-or-float member, kept flat so that one call runs them all.

    pydantic runs an after-validator on whichever arm of the union took the
    value; here each list holds, in order, what runs for a float and for an int.
    """

    def __init__(self, on_float: tuple[Callable[[Any], Any], ...], on_int: tuple[Callable[[Any], Any], ...]):
        self.on_float = on_float
        self.on_int = on_int

    def then(self, function: Callable[[Any], Any]) -> _Number:
        return _Number((*self.on_float, function), (*self.on_int, function))

    def build(self, *, none_ok: bool) -> Check:
        on_float, on_int = self.on_float, self.on_int

        def run(value: Any) -> None:
            if type(value) is float:
                for check in on_float:
                    check(value)
            elif on_int and (value is not None or not none_ok):
                for check in on_int:
                    check(value)

        return run


Pending = Check | _Number | None
"""A value's remaining Python checks: none, a function, or an int-or-float member's checks."""


def _built(pending: Pending, *, none_ok: bool = False) -> Check | None:
    if isinstance(pending, _Number):
        return pending.build(none_ok=none_ok) if pending.on_float or pending.on_int else None
    return pending


def _each(check: Check) -> Check:
    def run(values: Any) -> None:
        for value in values:
            check(value)

    return run


def _each_value(check: Check) -> Check:
    def run(mapping: Any) -> None:
        for value in mapping.values():
            check(value)

    return run


def _unless_none(check: Check) -> Check:
    def run(value: Any) -> None:
        if value is not None:
            check(value)

    return run


def _then(check: Check | None, function: Callable[[Any], Any]) -> Check:
    if check is None:
        return function

    def run(value: Any) -> None:
        check(value)
        function(value)

    return run


def _ends_in_object(schema: CoreSchema) -> bool:
    while schema["type"] == "function-after":
        schema = schema["schema"]
    return bool(schema["type"] == "typed-dict")


def _original(validator: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The model validator that :func:`agent.records.stored_schema._on_view` runs on a view."""
    original = getattr(validator, "__wrapped__", None)
    if original is None:
        raise TypeError(f"model validator {validator!r} has no original to run on a struct")
    return original  # type: ignore[no-any-return]


class _Generator:
    """Struct types for one record version, from the derived (fast) core schema."""

    def __init__(self, version: int) -> None:
        self.version = version
        self.count = 0

    def type_of(self, schema: CoreSchema) -> tuple[Any, Pending]:
        """The msgspec type of ``schema`` and the check it still needs in Python (None: none)."""
        kind = schema["type"]
        if kind == "typed-dict":
            return self._struct(schema, []), None
        if kind == "function-after":
            function = schema["function"]
            if function["type"] != "no-info":
                raise TypeError("a validator taking info cannot be read natively")
            inner = schema["schema"]
            validators = [function["function"]]
            while inner["type"] == "function-after" and _ends_in_object(inner):
                validators.insert(0, inner["function"]["function"])  # the innermost runs first
                inner = inner["schema"]
            if inner["type"] == "typed-dict":
                return self._struct(inner, [_original(validator) for validator in validators]), None
            kind_inner, pending = self.type_of(inner)
            if isinstance(pending, _Number):
                return kind_inner, pending.then(function["function"])
            return kind_inner, _then(pending, function["function"])
        if kind == "nullable":
            inner_type, pending = self.type_of(schema["schema"])
            nullable = Optional[inner_type]  # type: ignore[valid-type]  # noqa: UP045
            if isinstance(pending, _Number):
                return nullable, _built(pending, none_ok=True)
            return nullable, (None if pending is None else _unless_none(pending))
        if kind == "list":
            if set(schema) - {"type", "items_schema", "min_length", "max_length", "strict", "metadata"}:
                raise TypeError(f"list constraints {sorted(schema)} are not derived natively")
            item, pending = self.type_of(schema["items_schema"])
            check = _built(pending)
            meta = _meta(
                {"type": "list", **{k: schema[k] for k in ("min_length", "max_length") if k in schema}},
                {"type", "min_length", "max_length"},
                ("min_length", "max_length"),
            )
            return _annotated(list[item], meta), (None if check is None else _each(check))  # type: ignore[valid-type]
        if kind == "dict":
            if set(schema) - {
                "type",
                "keys_schema",
                "values_schema",
                "min_length",
                "max_length",
                "strict",
                "metadata",
            }:
                raise TypeError(f"dict constraints {sorted(schema)} are not derived natively")
            key, key_check = self.type_of(schema["keys_schema"])
            value, pending = self.type_of(schema["values_schema"])
            value_check = _built(pending)
            if key is not str or key_check is not None:
                raise TypeError("only dicts with plain string keys are read natively")
            meta = _meta(
                {"type": "dict", **{k: schema[k] for k in ("min_length", "max_length") if k in schema}},
                {"type", "min_length", "max_length"},
                ("min_length", "max_length"),
            )
            check = None if value_check is None else _each_value(value_check)
            return _annotated(dict[str, value], meta), check  # type: ignore[valid-type]
        if kind == "union":
            return self._number_union(schema)
        if kind == "str":
            return _annotated(str, _meta(schema, _STR_KEYS, ("min_length", "max_length"))), None
        if kind == "int":
            return _annotated(int, _meta(schema, _INT_KEYS, _BOUND_KEYS)), None
        if kind == "float":
            if schema.get("allow_inf_nan") is True:
                raise TypeError("NaN and infinities are not read natively")
            rest = {k: v for k, v in schema.items() if k != "allow_inf_nan"}
            return _annotated(float, _meta(rest, _FLOAT_KEYS, _BOUND_KEYS)), None
        if kind == "bool":
            _meta(schema, {"type", "strict", "metadata"}, ())
            return bool, None
        if kind == "literal":
            values = tuple(schema["expected"])
            if not all(type(value) is str for value in values):
                raise TypeError("only string literals are read natively")
            return Literal[values], None
        raise TypeError(f"the native reader cannot derive a {kind!r} schema; extend native_line")

    def _number_union(self, schema: CoreSchema) -> tuple[Any, _Number]:
        """The derived reader's int-or-float member: the int arm for JSON integers, the float arm otherwise."""
        choices = schema["choices"]
        if len(choices) != 2 or schema.get("mode") != "left_to_right":
            raise TypeError("only the int-or-float union is read natively")
        int_type, int_check = self.type_of(choices[0])
        float_type, float_check = self.type_of(choices[1])
        base_int = getattr(int_type, "__origin__", int_type)
        base_float = getattr(float_type, "__origin__", float_type)
        if base_int is not int or base_float is not float or int_check is not None:
            raise TypeError("only the int-or-float union is read natively")
        built = _built(float_check)
        on_float = () if built is None else (built,)
        return Union[int_type, float_type], _Number(on_float, ())  # noqa: UP007

    def _struct(self, schema: CoreSchema, validators: list[Callable[[Any], Any]]) -> type[msgspec.Struct]:
        if schema.get("extra_behavior") != "forbid" or set(schema) - {
            "type",
            "fields",
            "extra_behavior",
            "ref",
        }:
            raise TypeError("only closed typed dicts are read natively")
        fields: list[tuple[str, Any]] = []
        checks: list[tuple[str, Check]] = []
        for name, field in schema["fields"].items():
            if field.get("required") is not True or set(field) - {"type", "schema", "required", "metadata"}:
                raise TypeError(f"member {name}: only required members are read natively")
            kind, pending = self.type_of(field["schema"])
            check = _built(pending)
            fields.append((name, kind))
            if check is not None:
                checks.append((name, check))
        if [name for name, _ in fields] != sorted(name for name, _ in fields):
            raise TypeError("members must be in RFC 8785 order")
        self.count += 1

        def __post_init__(self: Any) -> None:  # noqa: N807 - msgspec's hook
            try:
                for name, check in checks:
                    check(getattr(self, name))
                for validator in validators:
                    validator(self)
            except Exception as exc:  # any refusal (or surprise) sends the line the strict way
                raise ValueError(str(exc)) from None

        def __getattr__(self: Any, name: str) -> Any:  # noqa: N807 - a member of a later version reads as None
            if name.startswith("__"):
                raise AttributeError(name)
            return None

        namespace: dict[str, Any] = {"__getattr__": __getattr__}
        if checks or validators:
            namespace["__post_init__"] = __post_init__  # a Python call per object: only where needed
        return msgspec.defstruct(
            f"V{self.version}Object{self.count}",
            fields,
            namespace=namespace,
            forbid_unknown_fields=True,
        )


def pattern_schema(schema: CoreSchema) -> CoreSchema | None:
    """The part of the derived ``schema`` that checks string patterns, or None when it has none.

    Every pattern stays where it is (the same member, list item or dict value)
    and is checked by pydantic-core's regular expressions, the strict reader's
    own engine, so no pattern is translated. What the structs check (types,
    lengths, bounds, Python checks) is left out: other members are ignored.
    One call per line checks every pattern of the record; msgspec calls
    Python's ``re`` once per string, which cost more than the rest of the
    typed decode (docs/performance.md, goal 3, sixth pass).
    """
    kind = schema["type"]
    if kind == "function-after":  # the function runs in the struct's __post_init__
        return pattern_schema(schema["schema"])
    if kind == "nullable":
        inner = pattern_schema(schema["schema"])
        return None if inner is None else core_schema.nullable_schema(inner)
    if kind == "list":
        items = pattern_schema(schema["items_schema"])
        return None if items is None else core_schema.list_schema(items)
    if kind == "dict":
        if pattern_schema(schema["keys_schema"]) is not None:
            raise TypeError("only dicts with plain string keys are read natively")
        values = pattern_schema(schema["values_schema"])
        return None if values is None else core_schema.dict_schema(core_schema.str_schema(), values)
    if kind == "typed-dict":
        fields = {
            name: core_schema.typed_dict_field(checked, required=True)
            for name, field in schema["fields"].items()
            if (checked := pattern_schema(field["schema"])) is not None
        }
        return core_schema.typed_dict_schema(fields, extra_behavior="ignore") if fields else None
    if kind == "union":
        if any(pattern_schema(choice) is not None for choice in schema["choices"]):
            raise TypeError("a union holding a pattern is not read natively")
        return None
    if kind == "str":
        return core_schema.str_schema(pattern=schema["pattern"], strict=True) if "pattern" in schema else None
    if kind in ("int", "float", "bool", "literal"):
        return None
    raise TypeError(f"the native reader cannot derive a {kind!r} schema; extend native_line")


def _derived(version: str) -> CoreSchema:
    return derive(SessionRecord.__pydantic_core_schema__, version_number(version), fast=True)


def record_struct(version: str) -> type[msgspec.Struct]:
    """The struct type of a stored record of ``version`` (``scangate.session-record/3``)."""
    kind, pending = _Generator(version_number(version)).type_of(_derived(version))
    check = _built(pending)
    if check is not None or not isinstance(kind, type):
        raise TypeError("a record is an object")
    return kind


_VERSIONS: Final = tuple(sorted(READABLE_SCHEMA_VERSIONS, reverse=True))  # the newest, most common, first
_DECODERS: Final = tuple(msgspec.json.Decoder(record_struct(version), strict=True) for version in _VERSIONS)
_PATTERNS: Final = tuple(
    SchemaValidator(pattern_schema(_derived(version)) or core_schema.any_schema()) for version in _VERSIONS
)
_ENCODER: Final = msgspec.json.Encoder()
_MARKERS: Final = tuple(b'"schema_version":"' + version.encode("ascii") + b'"' for version in _VERSIONS)
"""A version's member as canonical JSON writes it: which decoder to try. The decoded record's
own ``schema_version`` must then be that version (every struct's member accepts all of them)."""
_SIGNATURE_MEMBER: Final = b',"' + SIGNATURE_FIELD.encode("ascii") + b'":'


def read_native(data: bytes) -> tuple[dict[str, Any], bytes] | None:
    """The record of ``data`` (plain JSON data) and the SHA-256 of its signed payload, when msgspec
    proves the line canonical and schema-valid; else None, which decides nothing (the pydantic-core
    reading follows).

    The payload is the line without its signature member, as :mod:`agent.records.canonical_line` cuts it.
    """
    for version, marker, decoder, patterns in zip(_VERSIONS, _MARKERS, _DECODERS, _PATTERNS, strict=True):
        if data.rfind(marker) < 0:  # from the end: a top-level "s..." member sits near it
            continue
        try:
            record = decoder.decode(data)
            if getattr(record, "schema_version", None) != version or _ENCODER.encode(record) != data:
                return None
            member = _SIGNATURE_MEMBER + _ENCODER.encode(getattr(record, SIGNATURE_FIELD))
        except (msgspec.ValidationError, msgspec.DecodeError, msgspec.EncodeError, UnicodeError):
            return None
        pieces = data.split(member)
        if len(pieces) != 2:
            return None
        built: dict[str, Any] = msgspec.to_builtins(record)
        try:
            patterns.validate_python(built, strict=True)
        except ValidationError:
            return None
        return built, payload_digest(*pieces)
    return None


def payload_digest(before: bytes, after: bytes) -> bytes:
    """SHA-256 of ``before + after`` (a line without its signature member), without joining them."""
    digest = hashlib.sha256(before)
    digest.update(after)
    return digest.digest()


__all__ = ["pattern_schema", "payload_digest", "read_native", "record_struct"]
