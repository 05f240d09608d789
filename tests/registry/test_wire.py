"""The wire schema: strictness, deterministic serialisation, signed round trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from agent.signing import BadSignatureError, Signer, UnknownKeyError, verify_embedded
from agent.wire import (
    WIRE_VERSION,
    Confirmation,
    ConsentRecord,
    ErrorBody,
    FaceTemplate,
    FallbackVerifyResponse,
    RevocationFeed,
    WireFormatError,
    WireModel,
    format_utc,
    parse_wire,
)
from agent.wire import UtcDateTime as UtcDateTimeType

SIGNER = Signer(Ed25519PrivateKey.generate())
TRUSTED = {SIGNER.key_id: SIGNER.public_key}


def consent_payload(**overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "consent_id": "c-1",
        "version": 1,
        "supersedes": None,
        "performer": {"performer_id": "p-1", "display_name": "Ada Lovelace"},
        "production": {"production_id": "prod-1", "name": "The Engine", "producer": "Analytical Pictures"},
        "capture_types": ["face", "facs_expressions"],
        "intended_use_text": "Digital double for stunt shots in episodes 3 and 4.  Verbatim  spacing kept.",
        "use_categories": ["vfx_digital_double"],
        "ai_training_allowed": False,
        "synthetic_performance_allowed": False,
        "third_party_licensing_allowed": False,
        "valid_from": "2025-01-01T09:00:00+01:00",
        "valid_until": "2025-06-30T18:00:00Z",
        "notice_given_at": "2024-12-20T12:00:00Z",
        "notice_hours": 48,
        "status": "active",
        "revoked_at": None,
        "minor": False,
        "guardian": None,
        "biometric_check_consent": True,
        "destroy_by": "2030-12-31",
        "remuneration_reference": "AGR-2024-117",
        "document_sha256": "ab" * 32,
        "representation_basis": "union_agreement",
        "issued_at": "2024-12-21T10:00:00.123Z",
    }
    payload.update(overrides)
    return payload


def test_signed_consent_round_trips_through_json_and_verifies() -> None:
    record = ConsentRecord.sign(consent_payload(), SIGNER)
    wire = json.loads(json.dumps(record.wire_dict()))
    assert wire["valid_from"] == "2025-01-01T08:00:00Z"  # normalised to UTC before signing
    assert wire["issued_at"] == "2024-12-21T10:00:00.123000Z"
    verify_embedded(wire, TRUSTED)
    parsed = ConsentRecord.model_validate(wire)
    assert parsed.wire_dict() == wire
    assert parsed.verify(TRUSTED) == record.signature


def test_tampered_consent_fails_verification() -> None:
    wire = ConsentRecord.sign(consent_payload(), SIGNER).wire_dict()
    wire["ai_training_allowed"] = True
    with pytest.raises(BadSignatureError):
        ConsentRecord.model_validate(wire).verify(TRUSTED)
    other = Signer(Ed25519PrivateKey.generate())
    with pytest.raises(UnknownKeyError):
        ConsentRecord.model_validate(wire).verify({other.key_id: other.public_key})


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"ai_training_allowed": "false"}, "ai_training_allowed: Input should be a valid boolean"),
        ({"version": "1"}, "version: Input should be a valid integer"),
        ({"valid_from": "2025-01-01T09:00:00"}, "valid_from: Value error, expected an RFC 3339"),
        ({"valid_from": 1735722000}, "valid_from: Value error, expected an RFC 3339"),
        ({"destroy_by": "2030-12-31T00:00:00Z"}, "destroy_by: Value error, expected a date"),
        ({"capture_types": ["face", "selfie"]}, "capture_types.1: Input should be"),
        ({"capture_types": ["face", "face"]}, "capture_types contains duplicates"),
        ({"minor": True}, "guardian must be given exactly when minor is true"),
        ({"status": "revoked"}, "revoked_at must be set exactly when status is not 'active'"),
        ({"version": 2}, "supersedes must be set exactly when version > 1"),
        ({"valid_until": "2024-01-01T00:00:00Z"}, "valid_until must be after valid_from"),
        ({"document_sha256": "AB" * 32}, "document_sha256: String should match pattern"),
        ({"colour": "blue"}, "colour: unknown member"),
    ],
)
def test_bad_consent_is_rejected_with_a_clear_error(override: dict[str, Any], expected: str) -> None:
    with pytest.raises(WireFormatError) as caught:
        ConsentRecord.sign(consent_payload(), SIGNER)  # the base payload is fine
        parse_wire(
            ConsentRecord,
            {**ConsentRecord.sign(consent_payload(), SIGNER).wire_dict(), **override},
            where="registry",
        )
    assert expected in caught.value.message()
    assert caught.value.message().startswith("registry: not a valid ConsentRecord")


def test_missing_nullable_member_is_an_error_not_a_default() -> None:
    wire = ConsentRecord.sign(consent_payload(), SIGNER).wire_dict()
    del wire["supersedes"]
    with pytest.raises(WireFormatError, match="supersedes: Field required"):
        parse_wire(ConsentRecord, wire)


class _Stamp(WireModel):
    at: UtcDateTimeType


@given(
    st.datetimes(
        min_value=datetime(1000, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
        ),
    )
)
def test_utc_datetimes_serialise_deterministically(value: datetime) -> None:
    text = _Stamp(at=value).model_dump(mode="json")["at"]
    assert text.endswith("Z")
    assert text == format_utc(value)
    again = _Stamp.model_validate({"at": text})
    assert again.at == value
    assert again.model_dump(mode="json")["at"] == text


def test_face_template_needs_128_finite_floats() -> None:
    good = {
        "template_id": "t-1",
        "version": 1,
        "model": "dlib_face_recognition_resnet_model_v1",
        "encoding": [0.1] * 128,
    }
    assert len(FaceTemplate.model_validate(good).encoding) == 128
    for encoding in ([0.1] * 127, [0.1] * 127 + [float("nan")], [0.1] * 127 + ["0.1"]):
        with pytest.raises(WireFormatError):
            parse_wire(FaceTemplate, {**good, "encoding": encoding})


def test_confirmation_rules() -> None:
    base = {
        "consent_id": "c-1",
        "consent_version": 1,
        "rig_id": "rig-1",
        "session_id": "s-1",
        "decision": "declined",
        "capture_types": [],
        "guardian_co_confirmed": False,
        "confirmed_at": "2025-02-01T10:00:00Z",
    }
    assert Confirmation.model_validate(base).capture_types == ()
    with pytest.raises(WireFormatError, match="declined confirmation confirms no capture types"):
        parse_wire(Confirmation, {**base, "capture_types": ["face"]})
    with pytest.raises(WireFormatError, match="names at least one capture type"):
        parse_wire(Confirmation, {**base, "decision": "narrowed"})


def test_envelopes_carry_the_wire_version() -> None:
    feed = RevocationFeed(items=(), next_cursor=0, has_more=False)
    assert feed.model_dump(mode="json")["wire_version"] == WIRE_VERSION
    with pytest.raises(WireFormatError, match="wire_version"):
        parse_wire(RevocationFeed, {**feed.model_dump(mode="json"), "wire_version": "scangate.registry/2"})
    body = ErrorBody.model_validate({"error": {"code": "not_found", "message": "no such consent"}})
    assert body.error.detail is None
    with pytest.raises(WireFormatError):
        parse_wire(
            FallbackVerifyResponse,
            {"verified": True, "performer_id": None, "refusal": None, "attempts_left": None},
        )


def test_every_wire_field_is_described_and_unknown_members_are_forbidden() -> None:
    import inspect

    from agent import wire
    from registry import schemas

    models = [
        obj
        for module in (wire, schemas)
        for obj in vars(module).values()
        if inspect.isclass(obj) and issubclass(obj, WireModel)
    ]
    assert len(models) > 30
    for model in models:
        expected_extra = "allow" if model is wire.SessionRecordEnvelope else "forbid"
        assert model.model_config.get("extra") == expected_extra, model
        for name, field in model.model_fields.items():
            assert field.description, f"{model.__name__}.{name} has no description"
