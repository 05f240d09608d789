"""The strict reading of stored records, derived from the models of :mod:`agent.records.model`.

A stored record is read strictly: no coercion, no defaults, every member of its
schema version present at every depth and none of a later version (a member's
version is in :data:`INTRODUCED_IN`), unknown members refused. The models say
what each member may hold; this module derives from their pydantic-core schema
one validator per record version in which

- every member of that version is required (defaults are dropped), members of
  later versions and unknown members are refused (``extra_forbidden``);
- each object is checked as a typed dict, not built as a model instance, so the
  output is the record's own plain JSON value with the members in sorted order;
- a JSON number where a float is allowed keeps its type (``0`` stays an integer),
  so the output re-serialises to the record's text;
- model validators run unchanged, on a read-only attribute view of the dict.

Nothing here restates a member, a type or a constraint: a change to a model
changes both validators. Any construct the derivation does not know raises at
import, so a new kind of field cannot slip through unchecked.

:data:`STORED_RECORD` is the reader (:func:`schema_problem_in_json` for
``scangate verify`` and the registry's intake, :func:`agent.records.model.parse_record`). :data:`FAST_STORED_RECORD`
is the same reader with extra refusals that let :mod:`agent.records.canonical_line`
prove a line canonical by re-serialising it; whatever it refuses goes the
general way, so it only has to accept a subset of what the reader accepts
(tests/records/test_stored_schema.py checks both on many records).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final

from pydantic import BaseModel, ValidationError
from pydantic_core import CoreConfig, CoreSchema, ErrorDetails, SchemaValidator, core_schema

from agent.records.field_types import CHECKS_ONLY, EXACT_PATTERNS
from agent.records.model import READABLE_SCHEMA_VERSIONS, CapturedFile, ConsentRef, SessionRecord

INTRODUCED_IN: Final[dict[type[BaseModel], dict[str, int]]] = {
    SessionRecord: {"registry_clock": 2, "key_rotation": 3},
    ConsentRef: {"source": 2, "status_confirmed_at": 2, "destroy_by": 3},
    CapturedFile: {"capture_type": 2, "flag_reason": 2, "content_credentials": 3},
}
"""Members added after version 1, with the record version that added them, by the model they belong to.

A stored record has exactly the members of its version: every one up to it, none after it.
"""

SAFE_INTEGER: Final = 2**53 - 1
"""Integers beyond +-(2**53 - 1) have no RFC 8785 form (canonicalisation refuses them)."""
FAST_FLOAT_MIN: Final = 1e-4
FAST_FLOAT_MAX: Final = 1e16
"""Floats whose JSON text is the same from pydantic-core and RFC 8785: non-integral, in this range."""

_NUMBER_CONSTRAINTS = ("ge", "gt", "le", "lt", "multiple_of")
_KNOWN_MODEL_CONFIG = {"extra_fields_behavior", "validate_default", "title"}


def version_number(schema_version: str) -> int:
    """2 for ``scangate.session-record/2``."""
    return int(schema_version.rsplit("/", 1)[1])


@functools.cache
def members(cls: type[BaseModel], version: int) -> frozenset[str]:
    """The members a stored object of model ``cls`` has in record version ``version``."""
    introduced = INTRODUCED_IN.get(cls, {})
    return frozenset(name for name in cls.model_fields if introduced.get(name, 1) <= version)


_get = dict.get


class _View(dict[str, Any]):
    """Read-only attribute access to a validated object, for model validators written against instances.

    A member the object does not have (one of a later version) reads as None, as
    the model's default does; a member holding an object reads as a view of it.
    Every attribute is a member (no method can be reached): ``__getattribute__``
    answers directly, which is several times faster than a failed lookup
    followed by ``__getattr__``.
    """

    __slots__ = ()

    def __getattribute__(self, name: str) -> Any:
        value = _get(self, name)
        return _View(value) if type(value) is dict else value

    def __bool__(self) -> bool:
        return True  # a model instance is true, whatever it holds


def _on_view(validator: Callable[[Any], Any]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def run(data: dict[str, Any]) -> dict[str, Any]:
        validator(_View(data))
        return data

    run.__name__ = getattr(validator, "__name__", "model_validator")
    run.__wrapped__ = validator  # type: ignore[attr-defined]  # what agent.records.native_line runs
    return run


def _fast_float(value: float) -> float:
    if value.is_integer() or not FAST_FLOAT_MIN <= abs(value) < FAST_FLOAT_MAX:
        raise ValueError("a float outside the one-pass canonical domain")
    return value


def _sorted_ascii_keys(value: dict[str, Any]) -> dict[str, Any]:
    keys = list(value)
    if keys != sorted(keys) or not "".join(keys).isascii():
        raise ValueError("keys not in canonical (sorted ASCII) order")
    return value


_BOUNDS = {
    "greater_than_validator": "gt",
    "greater_than_or_equal_validator": "ge",
    "less_than_validator": "lt",
    "less_than_or_equal_validator": "le",
}
"""pydantic's validator functions for a numeric bound it cannot put on the number itself (it follows an
``AfterValidator``), by the constraint of the number schema that checks the same."""


def _bound_of(function: Callable[..., Any]) -> tuple[str, float] | None:
    """(constraint, value) if ``function`` is pydantic's check of one numeric bound, else None."""
    if not isinstance(function, functools.partial) or function.args or len(function.keywords) != 1:
        return None
    constraint = _BOUNDS.get(getattr(function.func, "__name__", ""))
    if constraint is None or constraint not in function.keywords:
        return None
    return constraint, function.keywords[constraint]


def _constrained(schema: CoreSchema, constraint: str, value: float) -> CoreSchema | None:
    """``schema`` with the bound on the number it ends in, or None if the bound cannot move there.

    It can move past validators that return the value unchanged (:data:`CHECKS_ONLY`):
    the number they are given is the number the bound was checked on.
    """
    if schema["type"] in ("float", "int"):
        return None if constraint in schema else {**schema, constraint: value}
    if schema["type"] == "function-after" and schema["function"]["function"] in CHECKS_ONLY:
        inner = _constrained(schema["schema"], constraint, value)
        return None if inner is None else {**schema, "schema": inner}
    return None


def _is_model(schema: CoreSchema) -> bool:
    while schema["type"] == "function-after":
        schema = schema["schema"]
    return bool(schema["type"] == "model")


class _Derivation:
    """One pass over a model's core schema for one record version (``fast``: the one-pass variant)."""

    def __init__(self, version: int, *, fast: bool) -> None:
        self.version = version
        self.fast = fast

    def derive(self, schema: CoreSchema) -> CoreSchema:
        kind = schema["type"]
        if kind == "function-after":
            return self._after(schema)
        if kind == "model":
            return self._model(schema)
        if kind == "nullable":
            return {**schema, "schema": self.derive(schema["schema"])}
        if kind == "list":
            return {**schema, "items_schema": self.derive(schema["items_schema"])}
        if kind == "dict":
            derived: CoreSchema = {
                **schema,
                "keys_schema": self.derive(schema["keys_schema"]),
                "values_schema": self.derive(schema["values_schema"]),
            }
            return (
                core_schema.no_info_after_validator_function(_sorted_ascii_keys, derived)
                if self.fast
                else derived
            )
        if kind == "float":
            return self._float(schema)
        if kind == "int":
            return self._bounded(schema) if self.fast else schema
        if kind in ("str", "bool", "literal"):
            return schema
        raise TypeError(f"the strict record reader cannot derive a {kind!r} schema; extend _Derivation")

    def _after(self, schema: CoreSchema) -> CoreSchema:
        function = schema["function"]
        if function["type"] != "no-info":
            raise TypeError(
                f"validator {function['function']!r} takes info; the strict reader cannot derive it"
            )
        inner = schema["schema"]
        if _is_model(inner):
            return core_schema.no_info_after_validator_function(
                _on_view(function["function"]), self.derive(inner)
            )
        bound = _bound_of(function["function"])
        constrained = _constrained(inner, *bound) if self.fast and bound is not None else None
        if constrained is not None:
            return self.derive(constrained)  # the same bound, checked by pydantic-core
        exact = EXACT_PATTERNS.get(function["function"])
        if self.fast and exact is not None and inner["type"] == "str":
            return {**inner, "pattern": exact}  # the same check, made by pydantic-core's regex engine
        return {**schema, "schema": self.derive(inner)}

    def _model(self, schema: CoreSchema) -> CoreSchema:
        cls = schema["cls"]
        config = schema.get("config", {})
        if set(config) - _KNOWN_MODEL_CONFIG or config.get("extra_fields_behavior") != "forbid":
            raise TypeError(
                f"{cls.__name__}: model configuration {config} is not derived by the strict reader"
            )
        if schema.get("custom_init") or schema.get("root_model") or schema.get("post_init"):
            raise TypeError(f"{cls.__name__}: custom init, root or post-init models are not derived")
        fields_schema = schema["schema"]
        if fields_schema.get("computed_fields") or fields_schema.get("extras_schema"):
            raise TypeError(f"{cls.__name__}: computed fields or extras are not derived")
        fields = fields_schema["fields"]
        derived = {}
        for name in sorted(members(cls, self.version)):  # output in RFC 8785 member order
            field = fields[name]
            if field.get("validation_alias") or field.get("serialization_alias"):
                raise TypeError(f"{cls.__name__}.{name}: aliases are not derived by the strict reader")
            value = field["schema"]
            if value["type"] == "default":
                value = value["schema"]  # a stored member never relies on its default
            derived[name] = core_schema.typed_dict_field(self.derive(value), required=True)
        return core_schema.typed_dict_schema(derived, extra_behavior="forbid", ref=None)

    def _float(self, schema: CoreSchema) -> CoreSchema:
        constraints = {key: schema[key] for key in _NUMBER_CONSTRAINTS if key in schema}
        integer: CoreSchema = core_schema.int_schema(strict=True, **constraints)
        number: CoreSchema = schema
        if self.fast:
            integer = self._bounded(integer)
            number = core_schema.no_info_after_validator_function(_fast_float, schema)
        # an integral float is an integer in canonical JSON: keep it one, so the output re-serialises
        return core_schema.union_schema(
            [integer, number], mode="left_to_right", custom_error_type="float_type"
        )

    @staticmethod
    def _bounded(schema: CoreSchema) -> CoreSchema:
        return {
            **schema,
            "ge": max(schema.get("ge", -SAFE_INTEGER), -SAFE_INTEGER),
            "le": min(schema.get("le", SAFE_INTEGER), SAFE_INTEGER),
        }


def derive(schema: CoreSchema, version: int, *, fast: bool) -> CoreSchema:
    """The strict schema of record version ``version`` derived from a model's core schema.

    Raises:
        TypeError: the schema holds a construct the derivation does not know.
    """
    return _Derivation(version, fast=fast).derive(schema)


def record_schema(*, fast: bool) -> CoreSchema:
    """The strict schema of a stored record, one variant per readable version, chosen by ``schema_version``."""
    return core_schema.tagged_union_schema(
        {
            version: derive(SessionRecord.__pydantic_core_schema__, version_number(version), fast=fast)
            for version in sorted(READABLE_SCHEMA_VERSIONS)
        },
        discriminator="schema_version",
    )


_ONLY_KEYS_CACHED = CoreConfig(cache_strings="keys")  # values (hashes, times, ids) hardly ever repeat
STORED_RECORD: Final = SchemaValidator(record_schema(fast=False), _ONLY_KEYS_CACHED)
"""Validates a stored record strictly (call with ``strict=True``); the output is the record as plain JSON data."""
FAST_STORED_RECORD: Final = SchemaValidator(record_schema(fast=True), _ONLY_KEYS_CACHED)
""":data:`STORED_RECORD` refusing, besides, what one-pass canonical reading cannot vouch for.

Integers beyond +-(2**53 - 1), floats outside ``[1e-4, 1e16)`` or integral, and
free-form objects (``evidence``) whose keys are not sorted ASCII. Every real
date check is a regular expression here (:data:`agent.records.field_types.EXACT_PATTERNS`).
"""

MISSING_MEMBER: Final = "member is missing (every member is always present; null when it does not apply)"


def describe_errors(errors: list[ErrorDetails]) -> str:
    """The problems a record reader found, one clause each, naming the member (``consent.version: ...``)."""
    problems = []
    for error in errors:
        location = error["loc"]
        version = location[0] if location and location[0] in READABLE_SCHEMA_VERSIONS else None
        where = ".".join(str(step) for step in (location[1:] if version else location))
        kind = error["type"]
        message = error["msg"]
        if kind == "value_error":
            message = message.removeprefix("Value error, ")
            if not where:
                problems.append(message)  # a rule about the whole record
                continue
        elif kind == "missing":
            message = MISSING_MEMBER
        elif kind == "extra_forbidden":
            message = f"not a member of {version}" if version else "not a member of the record format"
        elif kind == "union_tag_not_found":
            where, message = "schema_version", MISSING_MEMBER
        elif kind == "union_tag_invalid":
            readable = ", ".join(sorted(READABLE_SCHEMA_VERSIONS))
            where = "schema_version"
            message = f"{error.get('ctx', {}).get('tag')!r} is not a version this reader knows ({readable})"
        problems.append(f"{where or '(record)'}: {message}")
    return "; ".join(problems)


def schema_problem_in_json(data: bytes) -> str | None:
    """Why the JSON text of a record does not fit the schema, or None if it does.

    Strict, as signed evidence is read: no coercion (``"false"`` is not a boolean,
    ``"5"`` not an integer), no defaults (a missing member is named), exactly the
    members of the record's version, real dates only, distances with at most 4
    decimals. Validates the text directly (pydantic-core's JSON mode).
    """
    try:
        STORED_RECORD.validate_json(data, strict=True)
    except ValidationError as exc:
        return describe_errors(exc.errors())
    return None


__all__ = [
    "FAST_STORED_RECORD",
    "INTRODUCED_IN",
    "MISSING_MEMBER",
    "SAFE_INTEGER",
    "STORED_RECORD",
    "derive",
    "describe_errors",
    "members",
    "record_schema",
    "schema_problem_in_json",
    "version_number",
]
