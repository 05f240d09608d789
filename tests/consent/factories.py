"""Signed consent records and policy contexts for policy tests (real Ed25519 signatures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consent import PolicyContext, TrustedKey
from agent.session.model import IdentificationMethod
from agent.signing import Signer
from agent.wire import ConsentRecord

NOW = datetime(2030, 6, 1, 12, 0, tzinfo=UTC)
PRODUCTION = "demo-production"
PERFORMER = "p-ada"

REGISTRY_SIGNER = Signer(Ed25519PrivateKey.generate())
OTHER_SIGNER = Signer(Ed25519PrivateKey.generate())


def consent_payload(**overrides: Any) -> dict[str, Any]:
    """A consent payload (everything but the signature) that every rule accepts at NOW."""
    payload: dict[str, Any] = {
        "consent_id": "c-ada",
        "version": 1,
        "supersedes": None,
        "performer": {"performer_id": PERFORMER, "display_name": "Ada Lovelace"},
        "production": {"production_id": PRODUCTION, "name": "Demo", "producer": "ScanGate Studios"},
        "capture_types": ["face", "facs_expressions"],
        "intended_use_text": "Digital double for stunt shots of this production only.",
        "use_categories": ["vfx_digital_double"],
        "ai_training_allowed": False,
        "synthetic_performance_allowed": False,
        "third_party_licensing_allowed": False,
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=30),
        "notice_given_at": NOW - timedelta(days=3),
        "notice_hours": 48,
        "status": "active",
        "revoked_at": None,
        "minor": False,
        "guardian": None,
        "biometric_check_consent": True,
        "destroy_by": "2035-01-01",
        "remuneration_reference": "SCAN-FEE-1",
        "document_sha256": "ab" * 32,
        "representation_basis": "union_agreement",
        "issued_at": NOW - timedelta(days=2),
    }
    payload.update(overrides)
    return payload


def signed_consent(signer: Signer = REGISTRY_SIGNER, **overrides: Any) -> ConsentRecord:
    """A consent record signed by ``signer`` (the registry key by default)."""
    return ConsentRecord.sign(consent_payload(**overrides), signer)


def trusted(*signers: Signer, retired_at: datetime | None = None) -> dict[str, TrustedKey]:
    """Trusted keys for the given signers (the registry key by default)."""
    chosen = signers or (REGISTRY_SIGNER,)
    return {s.key_id: TrustedKey(s.key_id, s.public_key, retired_at) for s in chosen}


def context(**overrides: Any) -> PolicyContext:
    """A context under which signed_consent() is allowed."""
    values: dict[str, Any] = {
        "production_id": PRODUCTION,
        "performer_id": PERFORMER,
        "requested_capture_types": frozenset({"face"}),
        "identification_method": IdentificationMethod.FACE,
        "trusted_keys": trusted(),
    }
    values.update(overrides)
    return PolicyContext(**values)
