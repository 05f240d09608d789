"""Capture tokens: signed by the rig key, bound to session/performer/production/types/expiry."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from agent.gate.errors import CaptureTokenError
from agent.gate.token import verify_capture_token
from agent.signing import Signer
from tests.gate.conftest import MakeToken

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_minted_token_verifies_and_binds_its_fields(
    make_token: MakeToken, trusted_keys: dict[str, Ed25519PublicKey]
) -> None:
    token = make_token(now=NOW, lifetime=timedelta(minutes=5))
    verified = verify_capture_token(token.to_json(), trusted_keys, NOW + timedelta(minutes=1))
    assert verified == token
    wire = json.loads(token.to_json())
    assert wire["schema"] == "scangate.capture-token/1"
    assert {
        "session_id",
        "rig_id",
        "performer_id",
        "production_id",
        "capture_types",
        "expires_at",
    } <= wire.keys()
    assert wire["signature"]["key_id"] in trusted_keys


def test_expired_token_is_rejected(make_token: MakeToken, trusted_keys: dict[str, Ed25519PublicKey]) -> None:
    token = make_token(now=NOW, lifetime=timedelta(minutes=5))
    with pytest.raises(CaptureTokenError, match="expired"):
        verify_capture_token(token.to_json(), trusted_keys, NOW + timedelta(minutes=5))


def test_token_from_the_future_is_rejected(
    make_token: MakeToken, trusted_keys: dict[str, Ed25519PublicKey]
) -> None:
    token = make_token(now=NOW)
    with pytest.raises(CaptureTokenError, match="not valid yet"):
        verify_capture_token(token.to_json(), trusted_keys, NOW - timedelta(minutes=1))


def test_unknown_key_is_rejected(make_token: MakeToken, trusted_keys: dict[str, Ed25519PublicKey]) -> None:
    stranger = Signer(Ed25519PrivateKey.generate())
    token = make_token(now=NOW, signer=stranger)
    with pytest.raises(CaptureTokenError, match="unknown key"):
        verify_capture_token(token.to_json(), trusted_keys, NOW)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("session_id", "session-2"),
        ("performer_id", "someone-else"),
        ("production_id", "other-production"),
        ("capture_types", ["face", "facs", "full_body"]),
        ("expires_at", "2025-03-01T23:00:00Z"),
        ("rig_id", "rig-2"),
    ],
)
def test_any_modified_binding_breaks_the_signature(
    make_token: MakeToken, trusted_keys: dict[str, Ed25519PublicKey], field: str, value: object
) -> None:
    wire = make_token(now=NOW).to_wire()
    wire[field] = value
    with pytest.raises(CaptureTokenError, match="does not verify"):
        verify_capture_token(wire, trusted_keys, NOW)


@settings(max_examples=40, deadline=None)
@given(st.text(min_size=1, max_size=20).filter(lambda s: s != "facs"))
def test_widening_capture_types_never_verifies(rig_signer: Signer, extra: str) -> None:
    from agent.gate.token import mint_capture_token

    token = mint_capture_token(
        rig_signer,
        session_id="s",
        rig_id="r",
        performer_id="p",
        production_id="x",
        capture_types=["facs"],
        lifetime=timedelta(minutes=1),
        now=NOW,
    )
    wire = token.to_wire()
    wire["capture_types"] = ["facs", extra]
    with pytest.raises(CaptureTokenError):
        verify_capture_token(wire, {rig_signer.key_id: rig_signer.public_key}, NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"schema": "scangate.capture-token/1"}', "malformed capture token"),
    ],
)
def test_malformed_tokens_get_clear_errors(
    trusted_keys: dict[str, Ed25519PublicKey], text: str, message: str
) -> None:
    with pytest.raises(CaptureTokenError, match=message):
        verify_capture_token(text, trusted_keys, NOW)


def test_unknown_member_is_rejected(make_token: MakeToken, trusted_keys: dict[str, Ed25519PublicKey]) -> None:
    wire = make_token(now=NOW).to_wire()
    wire["note"] = "added later"
    with pytest.raises(CaptureTokenError, match="note"):
        verify_capture_token(wire, trusted_keys, NOW)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"session_id": "../etc"}, "session_id"),
        ({"capture_types": []}, "capture_types"),
        ({"capture_types": ["face", "face"]}, "repeat"),
        ({"lifetime": timedelta(hours=13)}, "lifetime"),
        ({"lifetime": timedelta(0)}, "later than issued_at"),
    ],
)
def test_minting_refuses_bad_fields(
    make_token: MakeToken, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(CaptureTokenError, match=message):
        make_token(**overrides)
