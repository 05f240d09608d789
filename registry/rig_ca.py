"""The registry as each production's certificate authority for rig C2PA signing.

C2PA Content Credentials are signed with an X.509 certificate chain. Each production
gets its own CA (an Ed25519 key and a self-signed certificate, created with the
production or on first use); every rig key registered for the production gets an
end-entity certificate for exactly that public key, so the rig signs C2PA claims with
the key it already signs records with, and the private key never leaves the rig.

Certificates follow the rig keys: :func:`sync_rig_certificates` issues one for every
active key that has no usable certificate and revokes those of retired keys. It is
called wherever rig keys change (``register_rig``, ``add_rig_key``, and any key
rotation route). Revoked certificates are listed in a CRL that the CA signs and the
public CA endpoint serves; ``scangate provenance --registry`` reports them.

What c2pa-rs (0.91) accepts, checked by signing and validating with it: an end-entity
certificate (basicConstraints CA:false, critical keyUsage digitalSignature) with an
extendedKeyUsage it allows — emailProtection or documentSigning (both are set here; the
C2PA claim-signing OID alone was refused as "missing required EKU").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.signing import public_key_from_b64
from agent.wire import utc_now
from agent.wire.provenance import ProductionCa, RevokedCertificate, RigCertificate
from registry.db import ProductionCaRow, ProductionRow, RigCertificateRow, RigKeyRow, RigRow
from registry.errors import NotFoundError
from registry.keys import load_stored_private_key, stored_private_key

CA_VALIDITY = timedelta(days=3650)
RIG_CERTIFICATE_VALIDITY = timedelta(days=365)
"""A rig certificate lasts a year at most (renewed by :func:`current_rig_certificate` before it ends)."""
RENEW_BEFORE = timedelta(days=30)
BACKDATE = timedelta(minutes=5)
"""Certificates start a little in the past, so a rig clock slightly behind still accepts them."""
CRL_LIFETIME = timedelta(days=7)
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
"""id-kp-documentSigning (RFC 9336), one of the extended key usages C2PA validators accept."""
RETIRED_KEY_REASON = "the rig key was retired"


def _serial_hex(serial: int) -> str:
    return format(serial, "x")


def _ca_name(production: ProductionRow) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, f"ScanGate production CA {production.production_id}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, production.name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, production.production_id),
        ]
    )


def ensure_production_ca(session: Session, production_id: str) -> ProductionCaRow:
    """The production's CA, created (key + self-signed certificate) if it has none yet."""
    existing = session.get(ProductionCaRow, production_id)
    if existing is not None:
        return existing
    production = session.get(ProductionRow, production_id)
    if production is None:
        raise NotFoundError(f"unknown production {production_id!r}")
    now = utc_now()
    key = Ed25519PrivateKey.generate()
    name = _ca_name(production)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, None)
    )
    pem, encrypted = stored_private_key(key)
    row = ProductionCaRow(
        production_id=production_id,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        private_key_pem=pem,
        encrypted=encrypted,
        created_at=now,
    )
    session.add(row)
    session.flush()
    return row


def _ca_key(row: ProductionCaRow) -> Ed25519PrivateKey:
    return load_stored_private_key(
        row.private_key_pem, row.encrypted, f"the CA key of production {row.production_id!r}"
    )


def _ca_certificate(row: ProductionCaRow) -> x509.Certificate:
    return x509.load_pem_x509_certificate(row.certificate_pem.encode("ascii"))


def issue_rig_certificate(session: Session, rig: RigRow, key: RigKeyRow) -> RigCertificateRow:
    """Issue a certificate for one rig key, signed by the rig's production CA."""
    ca_row = ensure_production_ca(session, rig.production_id)
    ca_key, ca_certificate = _ca_key(ca_row), _ca_certificate(ca_row)
    production = session.get(ProductionRow, rig.production_id)
    production_name = production.name if production is not None else rig.production_id
    public_key: Ed25519PublicKey = public_key_from_b64(key.public_key)
    now = utc_now()
    not_after = min(now + RIG_CERTIFICATE_VALIDITY, ca_certificate.not_valid_after_utc)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, rig.rig_id),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, production_name[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, rig.production_id),
        ]
    )
    serial = x509.random_serial_number()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_certificate.subject)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, None)
    )
    row = RigCertificateRow(
        serial=_serial_hex(serial),
        rig_id=rig.rig_id,
        key_id=key.key_id,
        production_id=rig.production_id,
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        not_before=now - BACKDATE,
        not_after=not_after,
        revoked_at=None,
        revocation_reason=None,
    )
    session.add(row)
    session.flush()
    return row


def _usable(row: RigCertificateRow, now: datetime) -> bool:
    return row.revoked_at is None and row.not_after - RENEW_BEFORE > now


def sync_rig_certificates(session: Session, rig_id: str) -> list[RigCertificateRow]:
    """Make the rig's certificates follow its keys; returns the certificates issued.

    Every active (not retired) key without a usable certificate gets one; every
    unrevoked certificate of a retired key is revoked. Call it after any change to a
    rig's keys, inside the same transaction.
    """
    rig = session.get(RigRow, rig_id)
    if rig is None:
        raise NotFoundError(f"unknown rig {rig_id!r}")
    now = utc_now()
    keys = session.scalars(select(RigKeyRow).where(RigKeyRow.rig_id == rig_id)).all()
    certificates = session.scalars(select(RigCertificateRow).where(RigCertificateRow.rig_id == rig_id)).all()
    issued: list[RigCertificateRow] = []
    for key in keys:
        of_key = [c for c in certificates if c.key_id == key.key_id]
        if key.retired_at is not None:
            for certificate in of_key:
                if certificate.revoked_at is None:
                    certificate.revoked_at = key.retired_at
                    certificate.revocation_reason = RETIRED_KEY_REASON
        elif not any(_usable(c, now) for c in of_key):
            issued.append(issue_rig_certificate(session, rig, key))
    session.flush()
    return issued


def current_rig_certificate(session: Session, rig_id: str, key_id: str | None = None) -> RigCertificate:
    """The rig's newest usable certificate (for ``key_id``, or its newest active key), with the chain.

    Renews it first when it is missing or ends within :data:`RENEW_BEFORE` (needs a write session).

    Raises:
        NotFoundError: the rig has no such active key.
    """
    sync_rig_certificates(session, rig_id)
    query = select(RigCertificateRow).where(
        RigCertificateRow.rig_id == rig_id, RigCertificateRow.revoked_at.is_(None)
    )
    if key_id is not None:
        query = query.where(RigCertificateRow.key_id == key_id)
    row = session.scalars(query.order_by(RigCertificateRow.not_after.desc())).first()
    if row is None:
        which = f"key {key_id}" if key_id else "an active key"
        raise NotFoundError(
            f"rig {rig_id!r} has no certificate for {which}",
            hint="register the rig's current key with the registry (scangate registry add-rig-key)",
        )
    ca_row = ensure_production_ca(session, row.production_id)
    return RigCertificate(
        rig_id=row.rig_id,
        production_id=row.production_id,
        key_id=row.key_id,
        serial=row.serial,
        not_before=row.not_before,
        not_after=row.not_after,
        chain_pem=row.certificate_pem + ca_row.certificate_pem,
    )


def production_ca(session: Session, production_id: str) -> ProductionCa:
    """The production's CA certificate and a freshly signed CRL of its revoked rig certificates."""
    ca_row = ensure_production_ca(session, production_id)
    ca_key, ca_certificate = _ca_key(ca_row), _ca_certificate(ca_row)
    now = utc_now()
    revoked_rows = session.scalars(
        select(RigCertificateRow)
        .where(RigCertificateRow.production_id == production_id, RigCertificateRow.revoked_at.is_not(None))
        .order_by(RigCertificateRow.revoked_at)
    ).all()
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_certificate.subject)
        .last_update(now)
        .next_update(now + CRL_LIFETIME)
    )
    revoked: list[RevokedCertificate] = []
    for row in revoked_rows:
        assert row.revoked_at is not None
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(row.serial, 16))
            .revocation_date(row.revoked_at)
            .build()
        )
        revoked.append(
            RevokedCertificate(
                serial=row.serial,
                rig_id=row.rig_id,
                key_id=row.key_id,
                revoked_at=row.revoked_at,
                reason=row.revocation_reason or "revoked",
            )
        )
    crl = builder.sign(ca_key, None)
    return ProductionCa(
        production_id=production_id,
        ca_certificate_pem=ca_row.certificate_pem,
        crl_pem=crl.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        revoked=tuple(revoked),
        generated_at=now,
    )
