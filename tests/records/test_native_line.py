"""The native (msgspec) pre-filter against the strict pydantic-core reading: it may only accept what that accepts.

Differential: on real log lines written by :class:`agent.records.log.RecordLog`,
records of every schema version, and a generated corpus of damaged and respelled
lines (every member type-swapped, removed, given an unknown sibling or a later
version's; members duplicated; numbers at the edges and in other spellings;
strings with escapes, control and non-ASCII characters, trailing newlines on
patterned members; impossible dates; unsorted and non-ASCII free-form keys),
every line the native reader accepts must be accepted by the strict reader with
the same record (types included), the same signed payload, and the same
:class:`LineResult` from ``check_line``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import msgspec
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import SchemaValidator, ValidationError, core_schema

from agent.records import canonical_line, native_line
from agent.records.canonical_line import read_strictly
from agent.records.key_rotation import rotation_draft
from agent.records.keys import RigKey
from agent.records.linecheck import check_line
from agent.records.log import RecordLog
from agent.records.model import READABLE_SCHEMA_VERSIONS
from agent.records.native_line import pattern_schema, read_native
from agent.records.stored_schema import FAST_FLOAT_MAX, FAST_FLOAT_MIN, SAFE_INTEGER, version_number
from agent.signing import Signer, canonical_json
from tests.records.factories import captured_draft, draft_for, refused_draft
from tests.records.mutants import _paths, base_records, mutants, resigned
from tests.records.test_canonical_line import SURROGATES, _respelled

STRINGS = [
    "a\nb", "x\u2028y", "é", "\u0000", "\\", '"', "\x7f", "\U0001f600", "A" * 300, "٢", "\t",
]  # fmt: skip
"""Strings put in place of a string member (some only break lengths or patterns)."""
NUMBERS: list[Any] = [
    2**53 - 1, 2**53, -(2**53 - 1), 1e-4, 9.999e-5, 1e16 - 2, 9999999999999998.5, 0.1 + 0.2, 0.5, 1.25,
    -0.25, 12.34567, 3, 10,
]  # fmt: skip
"""Numbers put in place of a numeric member: at the edges of integers, of the float domain, of decimals."""
DATES = ["2025-02-29", "2024-02-29", "2025-13-01", "0000-01-01", "2025-1-01"]
TIMES = ["T24:00:00.000Z", "T23:59:60.000Z", "T23:59:59.999Z", "T12:00:00.000z", "T12:00:00.000+00:00"]


def same(left: Any, right: Any) -> bool:
    """Equal as JSON data *and* type by type (``1 == 1.0 == True`` in Python)."""
    if type(left) is not type(right):
        return False
    if isinstance(left, dict):
        return list(left) == list(right) and all(same(left[key], right[key]) for key in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(same(a, b) for a, b in zip(left, right, strict=True))
    return bool(left == right or (isinstance(left, float) and math.isnan(left) and math.isnan(right)))


def _signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def _leaves(record: dict[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    for path in _paths(record):
        if path[0] == "signature":
            continue
        value: Any = record
        for step in path:
            value = value[step]
        if not isinstance(value, dict | list):
            yield path, value


def _set(record: dict[str, Any], path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    copied: dict[str, Any] = json.loads(json.dumps(record))
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return copied


def _duplicated(value: Any, path: tuple[str | int, ...], other: Any) -> str:
    """Canonical JSON text of ``value`` with the member at ``path`` written twice (the second holding ``other``)."""
    if isinstance(value, dict):
        parts = []
        for key in sorted(value):
            parts.append(
                f"{rfc8785.dumps(key).decode()}:{_duplicated(value[key], path[1:], other) if path[:1] == (key,) and len(path) > 1 else canonical_json(value[key]).decode()}"
            )
            if path == (key,):
                parts.append(f"{rfc8785.dumps(key).decode()}:{canonical_json(other).decode()}")
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list):
        return "[" + ",".join(
            _duplicated(item, path[1:], other) if path[:1] == (index,) and len(path) > 1 else canonical_json(item).decode()
            for index, item in enumerate(value)
        ) + "]"  # fmt: skip
    return canonical_json(value).decode()


def _value_mutants(record: dict[str, Any], signer: Signer) -> Iterator[bytes]:
    """Leaves replaced by edge numbers, odd strings and impossible dates, then signed again."""
    for path, value in _leaves(record):
        replacements: list[Any] = []
        if isinstance(value, bool) or value is None:
            replacements = [0, 1, "true"]
        elif isinstance(value, int | float):
            replacements = [*NUMBERS, float(value), -value, str(value)]
        elif isinstance(value, str):
            replacements = [*STRINGS, value + "\n", "\n" + value, value + " ", value.upper(), value[:-1]]
            if re.fullmatch(r"\d{4}-\d\d-\d\d(T.*)?", value):
                day, _, time = value.partition("T")
                replacements += [d + (value[10:] if time else "") for d in DATES]
                replacements += [day + t for t in TIMES] if time else []
        for replacement in replacements:
            line = resigned(_set(record, path, replacement), signer)
            if line is not None:
                yield line


def _text_mutants(line: bytes, record: dict[str, Any]) -> Iterator[bytes]:
    """Other spellings of the same or nearly the same record (not re-signed: the payload is unchanged)."""
    yield from _respelled(line)
    text = line.decode()
    yield text.replace("é", "\\u00e9", 1).encode()
    yield text.replace("/", "\\/", 1).encode()
    yield text.replace(":0.", ':NaN,"x":0.', 1).encode()
    yield re.sub(r":(\d+\.\d+)", r":\1e0", text, count=1).encode()
    yield re.sub(r":(\d+\.\d+)", r":\g<1>0", text, count=1).encode()
    yield re.sub(r":0\.(\d)", r":.\1", text, count=1).encode()
    yield re.sub(r'"turn":([0-9.]+)', r'"turn":Infinity', text, count=1).encode()
    yield text.replace('{"planarity_residual":', '{"zz":0.5,"planarity_residual":', 1).encode()
    yield text.replace('"\\u001f', '"\\u001F', 1).encode()
    yield line + b"\n"
    yield b"\xef\xbb\xbf" + line
    yield line.replace(b"Ana", b"An\xff", 1)
    yield line.replace(b'"Ana', b'"\\ud800', 1)
    for path, _ in list(_leaves(record))[::3]:
        for other in (None, "x"):
            yield _duplicated(record, path, other).encode()
        yield _duplicated(record, path, _get(record, path)).encode()


def _get(record: dict[str, Any], path: tuple[str | int, ...]) -> Any:
    value: Any = record
    for step in path:
        value = value[step]
    return value


def _odd_records(signer: Signer) -> list[dict[str, Any]]:
    """Conforming records the base set lacks: free-form keys out of order or non-ASCII, odd strings in names."""
    records = []
    for index in (2, 3, 5, 8):
        body = captured_draft(index).model_dump(mode="json")
        body["performer"]["display_name"] = 'Zoë \u2028 "Q" \\ \u0001 \U0001f600'
        body["outcome_detail"] = "line\nbreak\ttab\u007f"
        steps = body["identification"]["liveness"]["steps"]
        if steps:
            steps[0]["evidence"] = {"zeta": 0.5, "alpha": 1, "é": 0.25}
        records.append(body)
    records.append(refused_draft(9).model_dump(mode="json"))
    records.append(rotation_draft(signer.key_id, Ed25519PrivateKey.generate()).model_dump(mode="json"))
    stored = []
    for sequence, body in enumerate(records, start=1):
        body.update(
            schema_version="scangate.session-record/3", rig_id="rig-1", sequence=sequence,
            previous_hash="cd" * 32, written_at=body["ended_at"], agent_version="0.1.0",
        )  # fmt: skip
        stored.append(json.loads(canonical_json(signer.sign_into(body))))
    return stored


def _written_lines(tmp_path: Path, rig_key: RigKey) -> list[bytes]:
    """Lines as ScanGate's own recorder writes them (RecordLog: chain, signature, fsync)."""
    path = tmp_path / "log.jsonl"
    writer = RecordLog.open(path, rig_key.signer, "stage4-facs-booth")
    try:
        for index in range(16):
            writer.append(draft_for(index))
    finally:
        writer.close()
    return path.read_bytes().splitlines()


def corpus(signer: Signer, written: list[bytes]) -> list[bytes]:
    """Every line the differential test compares the readers on."""
    lines = list(written)
    records = [json.loads(line) for line in written[:3]] + base_records(signer) + _odd_records(signer)
    for record in records:
        line = canonical_json(record)
        lines.append(line)
        lines += _text_mutants(line, record)
        lines += _value_mutants(record, signer)
        for _, changed in mutants(record):
            signed = resigned(changed, signer)
            lines += [signed] if signed is not None else []
    return lines


def disagreement(
    data: bytes, keys: dict[str, Any], reader: Callable[[bytes], Any] = read_native
) -> str | None:
    """How the native reading of ``data`` differs from the strict one, or None if it may stand."""
    native = reader(data)
    if native is None:
        return None
    strict = read_strictly(data)
    if strict is None:
        return "accepted natively, refused by the strict reader"
    if not same(native[0], strict.record):
        return "a different record"
    if native[1] != strict.payload_digest:
        return "a different signed payload"
    with mock.patch.object(canonical_line, "read_native", reader):
        fast = check_line(1, data, True, keys)
    with mock.patch.object(canonical_line, "read_native", return_value=None):
        reference = check_line(1, data, True, keys)
    if fast != reference:
        return f"a different result: {fast} != {reference}"
    return None


@pytest.fixture(scope="module")
def setting(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[bytes], list[bytes]]:
    from agent.records.keys import load_or_create_rig_key

    folder = tmp_path_factory.mktemp("native")
    rig_key = load_or_create_rig_key(folder / "rig.pem")
    written = _written_lines(folder, rig_key)
    keys = {rig_key.key_id: rig_key.public_key}
    return keys, written, corpus(rig_key.signer, written)


def test_the_native_reader_accepts_only_what_the_strict_reader_accepts_and_reads_it_the_same(
    setting: tuple[dict[str, Any], list[bytes], list[bytes]],
) -> None:
    keys, _, lines = setting
    accepted = 0
    for data in lines:
        problem = disagreement(data, keys)
        assert problem is None, f"{problem}: {data[:300]!r}"
        accepted += read_native(data) is not None
    assert len(lines) > 20_000
    assert 1_000 < accepted < len(lines) // 2  # the corpus exercises both sides


def test_every_line_the_recorder_writes_is_read_natively(
    setting: tuple[dict[str, Any], list[bytes], list[bytes]],
) -> None:
    keys, written, _ = setting
    for number, data in enumerate(written, start=1):
        assert read_native(data) is not None, data[:200]
        assert check_line(number, data, True, keys).authentic


def test_records_of_every_schema_version_are_read_natively() -> None:
    versions = set()
    for record in base_records(_signer()):
        assert read_native(canonical_json(record)) is not None, record["schema_version"]
        versions.add(record["schema_version"])
    assert len(versions) == 3


def test_a_record_is_read_only_under_the_version_it_names() -> None:
    """Every version's struct accepts every version's tag, so a decoder tried on a line (the line
    holds its version's tag somewhere) must also find its own version in the record itself."""
    newest = max(READABLE_SCHEMA_VERSIONS, key=version_number)
    older = min(READABLE_SCHEMA_VERSIONS, key=version_number)
    [record] = [r for r in base_records(_signer()) if r["schema_version"] == newest][:1]
    relabelled = resigned({**record, "schema_version": older}, _signer())
    assert relabelled is not None and read_strictly(relabelled) is None
    every_marker_found = (b"",) * len(native_line._MARKERS)  # as if each version's tag stood in the line
    with mock.patch.object(native_line, "_MARKERS", every_marker_found):
        assert read_native(relabelled) is None


def _with(weakened: tuple[tuple[Any, ...], tuple[Any, ...]], data: bytes) -> Any:
    decoders, patterns = weakened
    with (
        mock.patch.object(native_line, "_DECODERS", decoders),
        mock.patch.object(native_line, "_PATTERNS", patterns),
    ):
        return read_native(data)


@pytest.mark.parametrize(
    "weakening",
    ["no pattern check", "no float domain check", "no model validators"],
)
def test_the_differential_test_catches_a_weakened_native_reader(
    weakening: str, setting: tuple[dict[str, Any], list[bytes], list[bytes]]
) -> None:
    keys, _, lines = setting
    patches: dict[str, Any] = {
        "no pattern check": mock.patch.object(native_line, "pattern_schema", lambda schema: None),
        "no float domain check": mock.patch.object(native_line, "_Number", _NoFloatChecks),
        "no model validators": mock.patch.object(native_line, "_original", lambda validator: _ignore),
    }
    versions = sorted(READABLE_SCHEMA_VERSIONS, reverse=True)
    with patches[weakening]:
        decoders = tuple(msgspec.json.Decoder(native_line.record_struct(v), strict=True) for v in versions)
        patterns = tuple(
            SchemaValidator(native_line.pattern_schema(native_line._derived(v)) or core_schema.any_schema())
            for v in versions
        )
    weakened = (decoders, patterns)
    found = next((p for data in lines if (p := disagreement(data, keys, lambda d: _with(weakened, d)))), None)
    assert found is not None, f"{weakening}: no line shows the difference"


def _ignore(_: Any) -> None:
    return None


class _NoFloatChecks(native_line._Number):
    def __init__(self, on_float: Any, on_int: Any) -> None:
        super().__init__((), ())


def test_pattern_schema_keeps_every_pattern_where_it_is_and_nothing_else() -> None:
    hex64 = core_schema.str_schema(pattern=r"^[0-9a-f]{64}$")
    derived = core_schema.typed_dict_schema(
        {
            "name": core_schema.typed_dict_field(core_schema.str_schema(max_length=3)),
            "count": core_schema.typed_dict_field(core_schema.int_schema(ge=0)),
            "files": core_schema.typed_dict_field(
                core_schema.list_schema(
                    core_schema.typed_dict_schema(
                        {"sha256": core_schema.typed_dict_field(core_schema.nullable_schema(hex64))},
                        extra_behavior="forbid",
                    )
                )
            ),
            "notes": core_schema.typed_dict_field(core_schema.dict_schema(core_schema.str_schema(), hex64)),
        },
        extra_behavior="forbid",
    )
    checks = SchemaValidator(pattern_schema(derived))  # type: ignore[arg-type]
    good = {"name": "too long, not a pattern", "count": -1, "files": [{"sha256": "a" * 64}, {"sha256": None}]}
    checks.validate_python({**good, "notes": {"k": "b" * 64}}, strict=True)
    for bad in (
        {**good, "files": [{"sha256": "A" * 64}]},
        {**good, "files": [{"sha256": "a" * 64 + "\n"}]},
        {**good, "notes": {"k": "b" * 63}},
    ):
        with pytest.raises(ValidationError):
            checks.validate_python({**good, **bad, "notes": bad.get("notes", {})}, strict=True)
    assert pattern_schema(core_schema.list_schema(core_schema.str_schema(min_length=2))) is None


@pytest.mark.parametrize(
    "schema",
    [
        core_schema.union_schema([core_schema.str_schema(pattern="^a$"), core_schema.int_schema()]),
        core_schema.dict_schema(core_schema.str_schema(pattern="^a$"), core_schema.int_schema()),
        core_schema.tuple_schema([core_schema.str_schema()]),
    ],
)
def test_pattern_schema_refuses_a_construct_it_does_not_know(schema: Any) -> None:
    with pytest.raises(TypeError):
        pattern_schema(schema)


@settings(max_examples=1500, deadline=None)
@given(
    st.floats(min_value=FAST_FLOAT_MIN, max_value=FAST_FLOAT_MAX, exclude_max=True).filter(
        lambda value: not value.is_integer()
    ),
    st.booleans(),
)
def test_msgspec_writes_the_floats_it_lets_through_as_rfc8785_does(value: float, negative: bool) -> None:
    value = -value if negative else value
    assert msgspec.json.encode(value) == rfc8785.dumps(value)
    assert (
        msgspec.json.encode(round(value, 4)) == rfc8785.dumps(round(value, 4)) or round(value, 4).is_integer()
    )


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-SAFE_INTEGER, max_value=SAFE_INTEGER))
def test_msgspec_writes_safe_integers_as_rfc8785_does(value: int) -> None:
    assert msgspec.json.encode(value) == rfc8785.dumps(value)


def test_msgspec_writes_every_character_as_rfc8785_does() -> None:
    for code in range(0x80):
        assert msgspec.json.encode(chr(code)) == rfc8785.dumps(chr(code)), hex(code)
    bmp = "".join(chr(code) for code in range(0x10000) if code not in SURROGATES)
    assert msgspec.json.encode(bmp) == rfc8785.dumps(bmp)
    astral = "".join(chr(code) for code in range(0x10000, 0x110000, 97))
    assert msgspec.json.encode(astral) == rfc8785.dumps(astral)


LENGTH_EDGES = sorted(
    {edge + step for edge in (64, 80, 128, 200, 255, 256, 500, 512, 2000) for step in (-1, 0, 1)}
)
"""Around every maximum string length the models set (lengths count code points in both readers)."""


def test_string_lengths_at_their_edges_in_astral_characters(
    setting: tuple[dict[str, Any], list[bytes], list[bytes]],
) -> None:
    keys, _, _ = setting
    signer = _signer()
    keys = {**keys, signer.key_id: signer.public_key}
    record = base_records(signer)[4]  # version 3 with a registry clock and content credentials
    accepted = refused = 0
    for path, value in _leaves(record):
        if not isinstance(value, str):
            continue
        for length in (0, 1, *LENGTH_EDGES):
            line = resigned(_set(record, path, "\U0001f600" * length), signer)
            if line is None:
                continue
            assert disagreement(line, keys) is None, (path, length)
            if read_native(line) is None:
                refused += 1
            else:
                accepted += 1
    assert accepted > 20 and refused > 20
