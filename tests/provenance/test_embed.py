"""Signing single files with the real c2pa library: sidecars, refusals, the consent-to-CAWG mapping, the worker."""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import c2pa
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from agent.provenance.assertions import (
    CONSENT_SCHEMA,
    ConsentAssertion,
    manifest_definition,
    training_mining_entries,
)
from agent.provenance.certificates import CertificateSource
from agent.provenance.embed import (
    SIDECAR_FORMAT,
    CredentialsError,
    SigningIdentity,
    sidecar_path,
    write_credentials,
)
from agent.provenance.outcomes import CredentialJob, CredentialOutcome
from agent.provenance.service import CredentialsWorker
from agent.signing import Signer


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _chain(rig: Signer) -> tuple[str, str]:
    """(chain PEM for ``rig``, CA PEM): built like registry/rig_ca.py, with cryptography alone."""
    ca_key, now = Ed25519PrivateKey.generate(), datetime.now(UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("test CA"))
        .issuer_name(_name("test CA"))
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(ca_key, None)
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("rig-t"))
        .issuer_name(ca.subject)
        .public_key(rig.public_key)
        .serial_number(2)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, None)
    )
    pem = serialization.Encoding.PEM
    return (leaf.public_bytes(pem) + ca.public_bytes(pem)).decode(), ca.public_bytes(pem).decode()


def _assertion(*, training: bool = False, synthetic: bool = False) -> ConsentAssertion:
    return ConsentAssertion.model_validate(
        {
            "schema": CONSENT_SCHEMA,
            "consent_id": "c-1",
            "consent_version": 2,
            "consent_hash": "a" * 64,
            "document_sha256": "b" * 64,
            "registry_key_id": "ed25519:" + "c" * 32,
            "production_id": "prod-1",
            "performer_id": "P-0042",
            "rig_id": "rig-t",
            "session_record_id": "3f0c8a52-5a3e-4d0e-9a51-0c2f6f1f7b11",
            "capture_type": "face",
            "captured_at": "2026-03-01T12:00:00Z",
            "capture_sha256": "d" * 64,
            "capture_types_confirmed": ["face"],
            "use_categories": ["vfx_digital_double"],
            "intended_use_text": "Digital double for the bell-tower sequence only.",
            "ai_training_allowed": training,
            "synthetic_performance_allowed": synthetic,
            "third_party_licensing_allowed": False,
            "valid_until": "2026-03-31T20:00:00Z",
            "destroy_by": "2030-12-31",
        }
    )


@pytest.mark.parametrize(
    ("training", "synthetic", "allowed"),
    [
        (False, False, set()),
        (True, False, {"cawg.ai_training", "cawg.data_mining"}),
        (False, True, {"cawg.ai_inference"}),
        (
            True,
            True,
            {"cawg.ai_training", "cawg.data_mining", "cawg.ai_inference", "cawg.ai_generative_training"},
        ),
    ],
)
def test_each_cawg_use_is_not_allowed_unless_the_consent_allows_it_and_then_only_in_its_words(
    training: bool, synthetic: bool, allowed: set[str]
) -> None:
    entries = training_mining_entries(_assertion(training=training, synthetic=synthetic))
    assert {use for use, entry in entries.items() if entry["use"] != "notAllowed"} == allowed
    for use in allowed:
        assert entries[use]["use"] == "constrained"
        assert "bell-tower sequence only" in entries[use]["constraint_info"]


def _write(path: Path, rig: Signer, chain: str, expected: str | None = None) -> None:
    data = path.read_bytes()
    write_credentials(
        path,
        expected_sha256=expected or hashlib.sha256(data).hexdigest(),
        manifest=lambda mime: manifest_definition(
            title=path.name,
            mime_type=mime,
            rig_id="rig-t",
            captured_at="2026-03-01T12:00:00Z",
            consent=_assertion(),
        ),
        identity=SigningIdentity(rig.sign_bytes, chain),
    )


def _sidecar_state(path: Path, ca_pem: str) -> str:
    settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": ca_pem}}
    context = c2pa.Context.from_dict(settings)
    with c2pa.Reader(
        SIDECAR_FORMAT, io.BytesIO(path.read_bytes()), sidecar_path(path).read_bytes(), context
    ) as r:
        return str(r.get_validation_state())


def test_an_unsupported_format_gets_a_sidecar_that_validates_against_the_file(tmp_path: Path) -> None:
    rig = Signer(Ed25519PrivateKey.generate())
    chain, ca_pem = _chain(rig)
    raw = tmp_path / "S00001_CAM01.CR3"
    original = b"ftypcrx " + bytes(range(256)) * 64
    raw.write_bytes(original)
    _write(raw, rig, chain)
    assert raw.read_bytes() == original  # the capture itself is untouched
    assert sidecar_path(raw).name == "S00001_CAM01.CR3.c2pa"
    assert _sidecar_state(raw, ca_pem) == "Trusted"
    raw.write_bytes(original[:-1] + b"\x00")  # one byte of the raw changed
    assert _sidecar_state(raw, ca_pem) == "Invalid"


def test_a_file_changed_since_capture_is_not_signed_and_left_as_it_is(tmp_path: Path) -> None:
    rig = Signer(Ed25519PrivateKey.generate())
    chain, _ = _chain(rig)
    photo = tmp_path / "a.cr3"
    photo.write_bytes(b"changed after capture")
    with pytest.raises(CredentialsError, match="changed after it was captured"):
        _write(photo, rig, chain, expected="0" * 64)
    assert photo.read_bytes() == b"changed after capture" and not sidecar_path(photo).exists()


def test_without_a_certificate_the_worker_reports_why_and_never_touches_the_capture(tmp_path: Path) -> None:
    rig = Signer(Ed25519PrivateKey.generate())
    photo = tmp_path / "a.cr3"
    photo.write_bytes(b"raw bytes")
    outcomes: list[CredentialOutcome] = []
    done = threading.Event()

    def on_done(outcome: CredentialOutcome) -> None:
        outcomes.append(outcome)
        done.set()

    worker = CredentialsWorker(
        rig_id="rig-t",
        sign=rig.sign_bytes,
        certificates=CertificateSource(None, rig.public_key, None, lambda: datetime.now(UTC)),
        on_done=on_done,
    )
    worker.start()
    job = CredentialJob(
        "e1", "s1", photo, hashlib.sha256(b"raw bytes").hexdigest(), "2026-03-01T12:00:00Z", _assertion()
    )
    worker.submit(job)
    assert done.wait(10)
    worker.close()
    [outcome] = outcomes
    assert outcome.entry["status"] == "not_written" and "no rig certificate" in outcome.entry["reason"]
    assert photo.read_bytes() == b"raw bytes" and not sidecar_path(photo).exists()
    assert worker.pending("s1") == 0
