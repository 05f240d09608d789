"""agent.signing's canonical JSON against RFC 8785's own examples and two other implementations.

canonical_json has a fast path (the standard library encoder on a checked
subset of values); these tests pin it to the RFC's examples and, property by
property, to rfc8785 and to the independent ``jcs`` package.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import jcs
import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.signing import (
    CanonicalJsonError,
    Signer,
    _in_fast_domain,
    canonical_json,
    loads_for_canonical,
    object_hash_hex,
    verify_embedded,
)

# RFC 8785 section 3.2.2 / 3.2.4: the sample input and its canonical form (as UTF-8 bytes).
RFC_SAMPLE_INPUT = (
    '{\n  "numbers": [333333333.33333329, 1E30, 4.50,\n              2e-3, 0.000000000000000000000000001],\n'
    '  "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",\n  "literals": [null, true, false]\n}'
)
RFC_SAMPLE_OUTPUT_HEX = (
    "7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72 75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72"
    " 73 22 3a 5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31 65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32"
    " 2c 31 65 2d 32 37 5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30 30 66 5c 6e 41 27 42 5c 22 5c 5c"
    " 5c 5c 5c 22 2f 22 7d"
)

# RFC 8785 appendix B: IEEE 754 doubles (hex) and their canonical number text (None: must be rejected).
RFC_NUMBERS = [
    ("0000000000000000", "0"),
    ("8000000000000000", "0"),
    ("0000000000000001", "5e-324"),
    ("8000000000000001", "-5e-324"),
    ("7fefffffffffffff", "1.7976931348623157e+308"),
    ("ffefffffffffffff", "-1.7976931348623157e+308"),
    ("4340000000000000", "9007199254740992"),
    ("c340000000000000", "-9007199254740992"),
    ("4430000000000000", "295147905179352830000"),
    ("7fffffffffffffff", None),
    ("7ff0000000000000", None),
    ("44b52d02c7e14af5", "9.999999999999997e+22"),
    ("44b52d02c7e14af6", "1e+23"),
    ("44b52d02c7e14af7", "1.0000000000000001e+23"),
    ("444b1ae4d6e2ef4e", "999999999999999700000"),
    ("444b1ae4d6e2ef4f", "999999999999999900000"),
    ("444b1ae4d6e2ef50", "1e+21"),
    ("3eb0c6f7a0b5ed8c", "9.999999999999997e-7"),
    ("3eb0c6f7a0b5ed8d", "0.000001"),
    ("41b3de4355555553", "333333333.3333332"),
    ("41b3de4355555554", "333333333.33333325"),
    ("41b3de4355555555", "333333333.3333333"),
    ("41b3de4355555556", "333333333.3333334"),
    ("41b3de4355555557", "333333333.33333343"),
    ("becbf647612f3696", "-0.0000033333333333333333"),
    ("43143ff3c1cb0959", "1424953923781206.2"),
]

# RFC 8785 section 3.2.3: property sorting by UTF-16 code units (the values in expected order).
RFC_SORT_INPUT = {
    "\u20ac": "Euro Sign",
    "\r": "Carriage Return",
    "\ufb33": "Hebrew Letter Dalet With Dagesh",
    "1": "One",
    "\U0001f600": "Emoji: Grinning Face",
    "\u0080": "Control",
    "\u00f6": "Latin Small Letter O With Diaeresis",
}
RFC_SORT_ORDER = [
    "Carriage Return",
    "One",
    "Control",
    "Latin Small Letter O With Diaeresis",
    "Euro Sign",
    "Emoji: Grinning Face",
    "Hebrew Letter Dalet With Dagesh",
]


def test_rfc_sample_is_canonicalised_byte_for_byte() -> None:
    value = json.loads(RFC_SAMPLE_INPUT)
    expected = bytes.fromhex(RFC_SAMPLE_OUTPUT_HEX.replace(" ", ""))
    assert canonical_json(value) == expected
    parsed, _ = loads_for_canonical(RFC_SAMPLE_INPUT.encode())
    assert canonical_json(parsed) == expected


@pytest.mark.parametrize(("ieee_hex", "expected"), RFC_NUMBERS)
def test_rfc_number_serialisation(ieee_hex: str, expected: str | None) -> None:
    (number,) = struct.unpack(">d", bytes.fromhex(ieee_hex))
    if expected is None:
        with pytest.raises(CanonicalJsonError):
            canonical_json(number)
    else:
        assert canonical_json(number) == expected.encode()
        assert canonical_json([number, {"x": number}]) == f'[{expected},{{"x":{expected}}}]'.encode()


def test_rfc_property_sorting_uses_utf16_code_units() -> None:
    encoded = canonical_json(RFC_SORT_INPUT)
    assert list(json.loads(encoded).values()) == RFC_SORT_ORDER


def test_fast_path_covers_a_session_record_and_falls_back_outside_its_domain() -> None:
    assert _in_fast_domain({"a": [1, "x", None, True, 0.3187, {"b": -2}]})
    for outside in ({"ä": 1}, {"a": 1.0}, {"a": 1e-7}, {"a": 2**53}, {"a": (1, 2)}, {1: "a"}):
        assert not _in_fast_domain(outside)
    assert canonical_json({"a": 1.0, "b": 1e-7, "c": (1, 2)}) == b'{"a":1,"b":1e-7,"c":[1,2]}'


@pytest.mark.parametrize(
    "bad", [float("nan"), float("inf"), 2**53, -(2**53), "\udead", {1: "x"}, {"a": {1, 2}}, b"bytes"]
)
def test_values_json_cannot_express_are_rejected(bad: Any) -> None:
    with pytest.raises(CanonicalJsonError):
        canonical_json(bad)


def test_strict_parsing_rejects_nan_literals_and_reports_the_domain() -> None:
    with pytest.raises(ValueError, match="NaN"):
        loads_for_canonical(b'{"a": NaN}')
    assert loads_for_canonical(b'{"a": 0.5, "b": 3}')[1] is True
    assert loads_for_canonical(b'{"a": 2.0}')[1] is False
    assert loads_for_canonical(b'{"a": 9007199254740993}')[1] is False
    assert loads_for_canonical('{"ä": "x"}'.encode())[1] is False
    assert loads_for_canonical('{"a": "ä"}'.encode())[1] is True


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from([0.3187, 1e-4, 9.999e15, 1e16, 123.0, -0.0, 5e-324, 0.1 + 0.2])
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=25,
)


def _without_lone_surrogates(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(json_values)
def test_fast_path_equals_rfc8785_and_jcs(value: Any) -> None:
    if not _without_lone_surrogates(value):
        with pytest.raises(CanonicalJsonError):
            canonical_json(value)
        return
    ours = canonical_json(value)
    assert ours == rfc8785.dumps(value)
    assert ours == jcs.canonicalize(value)
    parsed, fast = loads_for_canonical(ours)
    if _has_unsafe_integer(parsed):
        # e.g. the float 2**53 is written "9007199254740992", which parses back as an integer
        # that rfc8785 refuses (it accepts only integers within +-(2**53 - 1))
        with pytest.raises(CanonicalJsonError):
            canonical_json(parsed, fast_domain=fast)
    else:
        assert canonical_json(parsed, fast_domain=fast) == ours


def _has_unsafe_integer(value: Any) -> bool:
    if isinstance(value, dict):
        return any(_has_unsafe_integer(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_unsafe_integer(item) for item in value)
    return type(value) is int and abs(value) > 2**53 - 1


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=6), json_scalars, max_size=6))
def test_signatures_survive_a_round_trip_through_json_text(payload: dict[str, Any]) -> None:
    if not _without_lone_surrogates(payload) or "signature" in payload:
        return
    signer = Signer(Ed25519PrivateKey.generate())
    signed = signer.sign_into(payload)
    reread = json.loads(json.dumps(signed))  # re-serialised by a different encoder on the way
    verify_embedded(reread, {signer.key_id: signer.public_key})
    assert object_hash_hex(reread) == object_hash_hex(signed)
