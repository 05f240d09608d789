"""The registry as the production's CA: rig certificates follow rig keys, a CRL lists retired ones,
and what it issues is accepted by the real C2PA library (c2pa-rs through c2pa-python)."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import c2pa
import cv2
import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select

from agent.provenance.assertions import manifest_definition
from agent.provenance.certificates import CertificateUnavailableError, check_chain
from agent.provenance.embed import SigningIdentity, write_credentials
from agent.signing import Signer, object_hash_hex, public_key_to_b64, raw_public_bytes
from agent.wire import utc_now
from agent.wire.provenance import ProductionCa, RigCertificate
from registry import admin_ops
from registry.db import RigCertificateRow
from registry.rig_ca import DOCUMENT_SIGNING
from registry.schemas import ProductionCreate
from tests.registry.conftest import PRODUCTION, RIG, Registry


def _certificate(registry: Registry, key_id: str | None = None) -> RigCertificate:
    params = {"key_id": key_id} if key_id else {}
    answer = registry.get(f"/v1/rigs/{RIG}/certificate", params=params)
    assert answer.status_code == 200, answer.text
    return RigCertificate.model_validate(answer.json())


def _ca(registry: Registry) -> ProductionCa:
    answer = registry.http.get(f"{registry.url}/v1/productions/{PRODUCTION}/ca", timeout=10)
    assert answer.status_code == 200, answer.text
    return ProductionCa.model_validate(answer.json())


def test_registering_a_rig_key_issues_an_end_entity_certificate_for_exactly_that_key(
    registry: Registry,
) -> None:
    chain = _certificate(registry)
    leaf, ca = x509.load_pem_x509_certificates(chain.chain_pem.encode())
    assert chain.key_id == registry.rig_signer.key_id
    leaf_key = leaf.public_key()
    assert isinstance(leaf_key, Ed25519PublicKey)
    assert raw_public_bytes(leaf_key) == raw_public_bytes(registry.rig_signer.public_key)
    assert leaf.issuer == ca.subject != leaf.subject  # not self-signed
    assert ca.public_bytes(serialization.Encoding.PEM).decode() == _ca(registry).ca_certificate_pem
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign
    ekus = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert ekus == {DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION}
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime.days <= 366
    assert leaf.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == RIG
    check_chain(
        chain.chain_pem, registry.rig_signer.public_key, utc_now(), where="test"
    )  # the rig accepts it


def test_a_chain_for_another_key_is_refused_by_the_rig(registry: Registry) -> None:
    chain = _certificate(registry)
    with pytest.raises(CertificateUnavailableError, match="another key"):
        check_chain(chain.chain_pem, Ed25519PrivateKey.generate().public_key(), utc_now(), where="test")


def test_rotating_the_rig_key_certifies_the_new_key_and_revokes_the_old_certificate_in_a_signed_crl(
    registry: Registry,
) -> None:
    old = _certificate(registry)
    new_signer = Signer(Ed25519PrivateKey.generate())
    with registry.database.write() as session:
        admin_ops.add_rig_key(session, RIG, public_key_to_b64(new_signer.public_key), retire_others=True)
    new = _certificate(registry, new_signer.key_id)
    assert new.serial != old.serial and new.key_id == new_signer.key_id
    assert registry.get(f"/v1/rigs/{RIG}/certificate", params={"key_id": old.key_id}).status_code == 404
    ca_answer = _ca(registry)
    assert [(r.serial, r.key_id) for r in ca_answer.revoked] == [(old.serial, old.key_id)]
    ca = x509.load_pem_x509_certificate(ca_answer.ca_certificate_pem.encode())
    crl = x509.load_pem_x509_crl(ca_answer.crl_pem.encode())
    assert crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    assert [entry.serial_number for entry in crl] == [int(old.serial, 16)]


def test_c2pa_accepts_the_rig_certificate_and_trusts_it_only_under_its_production_ca(
    registry: Registry, tmp_path: Path
) -> None:
    ok, encoded = cv2.imencode(".jpg", np.full((64, 96, 3), 128, np.uint8))
    assert ok
    photo = tmp_path / "still.jpg"
    photo.write_bytes(encoded.tobytes())
    chain = _certificate(registry)
    written = write_credentials(
        photo,
        expected_sha256=hashlib.sha256(encoded.tobytes()).hexdigest(),
        manifest=lambda mime: manifest_definition(
            title="still.jpg", mime_type=mime, rig_id=RIG, captured_at="2026-01-01T00:00:00Z", consent=None
        ),
        identity=SigningIdentity(registry.rig_signer.sign_bytes, chain.chain_pem),
    )
    assert written.mode == "embedded"

    def state(anchor_pem: str) -> str:
        settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": anchor_pem}}
        with c2pa.Reader(
            "image/jpeg", io.BytesIO(photo.read_bytes()), None, c2pa.Context.from_dict(settings)
        ) as r:
            return str(r.get_validation_state())

    assert state(_ca(registry).ca_certificate_pem) == "Trusted"
    with registry.database.write() as session:
        admin_ops.add_production(
            session, ProductionCreate(production_id="other-film", name="Other", producer="P")
        )
    other = registry.http.get(f"{registry.url}/v1/productions/other-film/ca", timeout=10).json()
    assert state(other["ca_certificate_pem"]) == "Valid"  # valid signature, but not this production's rig


def test_the_rigs_own_key_rotation_certifies_the_new_key_and_revokes_the_old_certificate(
    registry: Registry,
) -> None:
    """`scangate keys rotate` registers the new key through the rig route, not the admin one."""
    from tests.registry.records import rotation_record, signed_record

    old = _certificate(registry)
    first = signed_record(registry.rig_signer, 1, None)
    assert registry.post("/v1/session-records", json=first).status_code == 200
    new_key = Ed25519PrivateKey.generate()
    rotation = rotation_record(registry.rig_signer, 2, object_hash_hex(first), new_key)
    answer = registry.post(f"/v1/rigs/{RIG}/keys/rotate", json=rotation)
    assert answer.status_code == 200, answer.text
    # revoked at once, in the CRL anyone may fetch, not only when the rig next asks for a certificate
    assert [(r.serial, r.key_id) for r in _ca(registry).revoked] == [(old.serial, old.key_id)]
    with registry.database.read() as session:
        issued = session.scalars(
            select(RigCertificateRow.key_id).where(RigCertificateRow.rig_id == RIG)
        ).all()
    assert Signer(new_key).key_id in issued
    new = _certificate(registry, Signer(new_key).key_id)
    assert new.serial != old.serial
