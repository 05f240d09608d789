"""The strict reader derived from the models reads records exactly as the models and their versions say.

The reference here is the rule as it was first written: validate the model strictly, then
require that the set of members of every object is exactly that of the record's version
(``model_fields_set`` against :data:`INTRODUCED_IN`). The derived reader must agree with it on
every conforming record and every damaged variant, in JSON and in Python mode; the one-pass
variant must accept only what the reader accepts, and every record the writer writes.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import BaseModel, Field, ValidationError, field_validator

from agent.records.field_types import EXACT_PATTERNS, _real_date, _real_instant
from agent.records.model import SessionRecord
from agent.records.stored_schema import (
    FAST_STORED_RECORD,
    STORED_RECORD,
    derive,
    members,
    schema_problem_in_json,
    version_number,
)
from agent.settings_base import StrictModel
from agent.signing import CanonicalJsonError, Signer, canonical_json
from tests.records.mutants import base_records, mutants


def _members_as_first_written(model: BaseModel, version: int) -> bool:
    cls = type(model)
    if model.model_fields_set != members(cls, version):
        return False
    for name in cls.model_fields:
        value = getattr(model, name, None)
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, BaseModel) and not _members_as_first_written(item, version):
                return False
    return True


def reference_accepts(record: dict[str, Any]) -> bool:
    """The strict reading as first written: the model, strictly, then the members of its version."""
    try:
        model = SessionRecord.model_validate(record, strict=True)
    except ValidationError:
        return False
    return _members_as_first_written(model, version_number(model.schema_version))


def _accepts(validator: Any, data: Any, *, json_mode: bool) -> bool:
    try:
        if json_mode:
            validator.validate_json(data, strict=True)
        else:
            validator.validate_python(data, strict=True)
    except ValidationError:
        return False
    return True


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def records(signer: Signer) -> list[dict[str, Any]]:
    return base_records(signer)


def test_every_conforming_record_of_every_version_is_read_and_taken_in_one_pass(
    records: list[dict[str, Any]],
) -> None:
    versions = {record["schema_version"] for record in records}
    assert versions == {f"scangate.session-record/{n}" for n in (1, 2, 3)}
    for record in records:
        line = canonical_json(record)
        assert reference_accepts(record)
        assert schema_problem_in_json(line) is None
        assert FAST_STORED_RECORD.validate_json(line, strict=True) == record


def test_the_derived_reader_agrees_with_the_first_written_rule_on_every_damaged_record(
    records: list[dict[str, Any]],
) -> None:
    compared = refused = 0
    for record in records:
        for what, changed in mutants(record):
            expected = reference_accepts(changed)
            assert _accepts(STORED_RECORD, changed, json_mode=False) == expected, what
            try:
                line = canonical_json(changed)  # as a log holds it: 0.0 is written 0
            except CanonicalJsonError:
                line = json.dumps(changed).encode()
            expected_of_line = reference_accepts(json.loads(line))
            assert _accepts(STORED_RECORD, line, json_mode=True) == expected_of_line, what
            if _accepts(FAST_STORED_RECORD, line, json_mode=True):
                assert expected_of_line, f"one-pass reading accepts a bad record: {what}"
            compared += 1
            refused += not expected
    assert compared > 5000 and refused > compared // 2


def test_a_record_missing_a_member_of_its_version_is_refused_naming_it(
    records: list[dict[str, Any]],
) -> None:
    version_1 = next(r for r in records if r["schema_version"] == "scangate.session-record/1")
    changed = {**version_1, "registry_clock": None}
    del changed["technician"]
    problem = schema_problem_in_json(json.dumps(changed).encode())
    assert problem is not None
    assert "technician: member is missing" in problem
    assert "registry_clock: not a member of scangate.session-record/1" in problem


def _instant_is_real(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", text):
        return False
    try:
        _real_instant(text)
    except ValueError:
        return False
    return True


def _date_is_real(text: str) -> bool:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        _real_date(text)
    except ValueError:
        return False
    return True


YEARS = sorted(
    {*range(0, 40), *range(96, 105), *range(396, 405), *range(1896, 1905), *range(1996, 2105)}
    | {2396, 2400, 2404, 9996, 9999}
)


def test_the_date_pattern_accepts_exactly_the_real_calendar_dates() -> None:
    pattern = re.compile(EXACT_PATTERNS[_real_date])
    for year, month, day in itertools.product(YEARS, range(14), range(33)):
        text = f"{year:04d}-{month:02d}-{day:02d}"
        assert bool(pattern.fullmatch(text)) == _date_is_real(text), text


def test_the_timestamp_pattern_accepts_exactly_the_real_instants() -> None:
    pattern = re.compile(EXACT_PATTERNS[_real_instant])
    for year, month, day in itertools.product(YEARS, range(14), (0, 1, 28, 29, 30, 31, 32)):
        text = f"{year:04d}-{month:02d}-{day:02d}T12:30:45.120Z"
        assert bool(pattern.fullmatch(text)) == _instant_is_real(text), text
    for hour, minute, second in itertools.product(range(26), range(62), range(62)):
        text = f"2024-02-29T{hour:02d}:{minute:02d}:{second:02d}.999Z"
        assert bool(pattern.fullmatch(text)) == _instant_is_real(text), text
    for text in ("2025-03-01T09:00:00.00Z", "2025-03-01T09:00:00.000", "2025-03-01 09:00:00.000Z"):
        assert not pattern.fullmatch(text) and not _instant_is_real(text)


def test_the_one_pass_reader_checks_dates_as_the_reader_does() -> None:
    record = base_records(Signer(Ed25519PrivateKey.generate()))[0]
    for text in ("2027-02-29T10:00:00.000Z", "2028-02-29T10:00:00.000Z", "2027-04-31T10:00:00.000Z"):
        line = canonical_json({**record, "ended_at": text, "written_at": text})
        expected = _instant_is_real(text)
        assert _accepts(STORED_RECORD, line, json_mode=True) == expected
        assert _accepts(FAST_STORED_RECORD, line, json_mode=True) == expected


class _Aliased(StrictModel):
    name: str = Field(alias="Name", description="A member under another name.")


class _WithInfo(StrictModel):
    name: str = Field(description="A member checked with validation info.")

    @field_validator("name")
    @classmethod
    def _check(cls, value: str, info: Any) -> str:
        return value


class _WithSet(StrictModel):
    names: set[str] = Field(description="A member of a kind records do not use.")


@pytest.mark.parametrize("model", [_Aliased, _WithInfo, _WithSet])
def test_a_construct_the_derivation_does_not_know_is_refused_when_the_reader_is_built(
    model: type[BaseModel],
) -> None:
    with pytest.raises(TypeError, match="strict"):
        derive(model.__pydantic_core_schema__, 3, fast=False)
