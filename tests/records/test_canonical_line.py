"""One-pass reading of canonical lines gives exactly what the general per-line checks give.

The one-pass reading (agent.records.canonical_line) proves a line canonical by comparing it
with pydantic-core's serialisation of the validated record. That rests on pydantic-core
writing strings and the numbers it lets through as RFC 8785 does: pinned here against
rfc8785 for every character and for numbers. Then every line of many logs, conforming and
damaged in text or in content, is checked both ways and must give the same result.
"""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import to_json

from agent.records import linecheck
from agent.records.canonical_line import read_canonical_line
from agent.records.linecheck import LineResult, check_batch, check_line
from agent.records.stored_schema import FAST_FLOAT_MAX, FAST_FLOAT_MIN, SAFE_INTEGER
from agent.signing import Signer, canonical_json
from tests.records.mutants import base_records, mutants, resigned

SURROGATES = range(0xD800, 0xE000)


def test_strings_are_escaped_as_rfc8785_escapes_them_for_every_character() -> None:
    for code in range(0x80):
        assert to_json(chr(code)) == rfc8785.dumps(chr(code)), hex(code)
    bmp = "".join(chr(code) for code in range(0x10000) if code not in SURROGATES)
    assert to_json(bmp) == rfc8785.dumps(bmp)
    astral = "".join(chr(code) for code in range(0x10000, 0x110000, 97))
    assert to_json(astral) == rfc8785.dumps(astral)


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=-SAFE_INTEGER, max_value=SAFE_INTEGER))
def test_safe_integers_are_written_as_rfc8785_writes_them(value: int) -> None:
    assert to_json(value) == rfc8785.dumps(value)


@settings(max_examples=1500, deadline=None)
@given(
    st.floats(min_value=FAST_FLOAT_MIN, max_value=FAST_FLOAT_MAX, exclude_max=True).filter(
        lambda value: not value.is_integer()
    ),
    st.booleans(),
)
def test_floats_the_one_pass_reader_lets_through_are_written_as_rfc8785_writes_them(
    value: float, negative: bool
) -> None:
    value = -value if negative else value
    assert to_json(value) == rfc8785.dumps(value)


def test_the_edges_of_the_float_range_are_written_as_rfc8785_writes_them() -> None:
    for value in (FAST_FLOAT_MIN, 0.00010000000000000002, 9999999999999998.0 + 0.5, 0.1 + 0.2, 1 / 3, 2 / 3):
        if not value.is_integer():
            assert to_json(value) == rfc8785.dumps(value), value


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def _general(line: int, data: bytes, keys: dict[str, Any]) -> LineResult:
    with mock.patch.object(linecheck, "read_canonical_line", return_value=None):
        return check_line(line, data, True, keys)


def _respelled(line: bytes) -> list[bytes]:
    """The same record in other JSON spellings: none of them is canonical."""
    record = json.loads(line)
    text = line.decode()
    return [
        json.dumps(record).encode(),
        json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode() + b" ",
        json.dumps(dict(reversed(list(record.items()))), separators=(",", ":")).encode(),
        text.replace('"outcome":', '"outcome":"x","outcome":', 1).encode(),
        text.replace("A", "\\u0041", 1).encode(),
        text.replace(":2,", ":2.0,", 1).encode(),
        text.replace(":0.", ":0.0", 1).encode(),
        text.replace(":24000000,", ":2.4e7,", 1).encode(),
    ]


def _signature_values_changed(record: dict[str, Any]) -> list[bytes]:
    """The record with signature values that fit the schema's pattern but are not a valid signature:
    not the exact base64url spelling (bad signature), another signature's spelling (modified)."""
    signature = record["signature"]
    value = signature["value"]
    other_exact_last = "Q" if value[-1] == "A" else "A"
    changed = [value[:-1] + "B", value[:-1] + other_exact_last, value[1:] + value[0]]
    lines = [canonical_json({**record, "signature": {**signature, "value": v}}) for v in changed]
    for line in lines:
        assert read_canonical_line(line) is not None, (
            "the schema lets these through: the one pass must judge them"
        )
    return lines


def _corpus(signer: Signer) -> list[bytes]:
    """Conforming lines, their other spellings, lines signed by an impostor and resigned mutants."""
    impostor = Signer(Ed25519PrivateKey.generate())
    lines: list[bytes] = []
    for record in base_records(signer):
        line = canonical_json(record)
        assert read_canonical_line(line) is not None, "a conforming canonical line takes the one pass"
        lines += [line, *_respelled(line), line.replace(b'"captured', b'"kaptured', 1)]
        lines.append(
            canonical_json(impostor.sign_into({k: v for k, v in record.items() if k != "signature"}))
        )
        lines += _signature_values_changed(record)
        for _, changed in mutants(record):
            signed = resigned(changed, signer)
            lines += [signed] if signed is not None else []
    return lines


@pytest.fixture(scope="module")
def corpus(signer: Signer) -> list[bytes]:
    return _corpus(signer)


def test_every_line_gets_the_same_result_in_one_pass_as_by_the_general_checks(
    signer: Signer, corpus: list[bytes]
) -> None:
    keys = {signer.key_id: signer.public_key}
    lines = corpus
    one_pass = 0
    for number, data in enumerate(lines, start=1):
        if read_canonical_line(data) is None:
            continue  # the general checks either way
        assert check_line(number, data, True, keys) == _general(number, data, keys), data[:200]
        one_pass += 1
    assert len(lines) > 5000 and one_pass > 1000


def test_a_batch_gives_each_line_the_result_it_gets_on_its_own(signer: Signer, corpus: list[bytes]) -> None:
    """Lines are read in a batch first and their signatures checked afterwards: no result may move."""
    keys = {signer.key_id: signer.public_key}
    lines = [*corpus[:3000], b"", b"{", corpus[5][:-1] + b' ,"x":1}', corpus[0]]
    batch = [(number, data, number % 97 != 0) for number, data in enumerate(lines, start=1)]
    alone = [check_line(number, data, complete, keys) for number, data, complete in batch]
    assert check_batch(batch, keys, True) == alone
    assert len({result.status for result in alone}) >= 5
