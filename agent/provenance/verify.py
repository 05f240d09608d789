"""What ``scangate provenance`` checks for one file: manifest, hash binding, signer, terms, consent now.

For a VFX vendor, a union or a platform that receives a scan. In order:

1. the file's C2PA manifest (embedded, or the sidecar ``<file>.c2pa``) is read and validated by
   c2pa-rs — the claim signature and the hash binding of the file's bytes;
2. the signing certificate must chain to the production's CA (``--ca``, or fetched from the
   registry named with ``--registry``), and must not have been revoked before the capture;
3. the ScanGate consent assertion is read strictly and the CAWG training-and-data-mining
   entries must be what the consent implies;
4. with a registry: the consent must still be active now and not past its destroy-by date.

Every finding is a :class:`Finding` with a stable code; nothing here raises for a bad file.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import c2pa
from cryptography import x509
from pydantic import ValidationError

from agent.errors import ScanGateError
from agent.provenance.assertions import (
    CONSENT_LABEL,
    TRAINING_MINING_LABEL,
    TRAINING_MINING_USES,
    ConsentAssertion,
    training_mining_entries,
)
from agent.provenance.embed import SIDECAR_FORMAT, sidecar_path
from agent.wire.provenance import ProductionCa

_FAILURE_TEXT = {
    "assertion.dataHash.mismatch": "the file's bytes do not match the hash its manifest signed: it was"
    " changed after signing",
    "claimSignature.mismatch": "the claim signature does not verify: the manifest was changed",
    "signingCredential.expired": "the signing certificate has expired (no trusted timestamp keeps it valid)",
    "signingCredential.invalid": "the signing certificate is not valid for C2PA",
    "signingCredential.revoked": "the signing certificate was revoked",
}


class ProvenanceInputError(ScanGateError):
    """A CA file or registry answer given to ``provenance`` cannot be used (a usage error, exit 2)."""


@dataclass(frozen=True)
class Finding:
    """One problem (or notice) about a file, with a stable code."""

    code: str
    message: str

    def as_json(self) -> dict[str, str]:
        """``{"code", "message"}``."""
        return {"code": self.code, "message": self.message}


@dataclass
class ProvenanceReport:
    """Everything ``provenance`` says about one file (``as_json`` is its one JSON line)."""

    file: str
    credentials: str = "none"
    manifest_label: str | None = None
    validation_state: str | None = None
    signer: dict[str, Any] | None = None
    trust: str = "not_checked"
    consent: dict[str, Any] | None = None
    permitted_uses: dict[str, str] = field(default_factory=dict)
    registry: dict[str, Any] | None = None
    problems: list[Finding] = field(default_factory=list)
    notices: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Valid, trusted, consented, and (when asked) still permitted."""
        return not self.problems

    def problem(self, code: str, message: str) -> None:
        """Add a problem."""
        self.problems.append(Finding(code, message))

    def as_json(self) -> dict[str, Any]:
        """The report as one JSON object."""
        return {
            "file": self.file,
            "ok": self.ok,
            "credentials": self.credentials,
            "manifest_label": self.manifest_label,
            "validation_state": self.validation_state,
            "signer": self.signer,
            "trust": self.trust,
            "consent": self.consent,
            "permitted_uses": self.permitted_uses,
            "registry": self.registry,
            "problems": [p.as_json() for p in self.problems],
            "notices": [n.as_json() for n in self.notices],
        }


@dataclass(frozen=True)
class TrustAnchor:
    """A production CA to check signers against, with its revocation list when known."""

    ca_pem: str
    revoked: dict[int, tuple[datetime, str]] = field(default_factory=dict)
    """Revoked serial → (when, why)."""
    source: str = ""


def anchor_from_production_ca(answer: ProductionCa, source: str) -> TrustAnchor:
    """A trust anchor from the registry's CA answer (its CRL is checked to be the CA's own)."""
    ca = x509.load_pem_x509_certificate(answer.ca_certificate_pem.encode("ascii"))
    crl = x509.load_pem_x509_crl(answer.crl_pem.encode("ascii"))
    if not crl.is_signature_valid(ca.public_key()):  # type: ignore[arg-type]
        raise ProvenanceInputError("the revocation list is not signed by the production CA", where=source)
    listed = {entry.serial_number for entry in crl}
    revoked = {
        int(item.serial, 16): (item.revoked_at, item.reason)
        for item in answer.revoked
        if int(item.serial, 16) in listed
    }
    return TrustAnchor(answer.ca_certificate_pem, revoked, source)


def anchor_from_file(path: Path) -> TrustAnchor:
    """``--ca FILE``: a PEM CA certificate, or the saved JSON answer of ``GET /v1/productions/{id}/ca``."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ProvenanceInputError(f"cannot read the CA file: {exc}", where=str(path)) from None
    if text.lstrip().startswith("{"):
        try:
            return anchor_from_production_ca(ProductionCa.model_validate_json(text), str(path))
        except (ValidationError, ValueError) as exc:
            raise ProvenanceInputError(f"not a production CA answer: {exc}", where=str(path)) from None
    try:
        x509.load_pem_x509_certificate(text.encode("ascii"))
    except ValueError as exc:
        raise ProvenanceInputError(f"not a PEM certificate: {exc}", where=str(path)) from None
    return TrustAnchor(text, {}, str(path))


def _reader(
    path: Path, data: bytes, sidecar: bytes | None, context: c2pa.Context | None
) -> c2pa.Reader | None:
    if sidecar is not None:
        return c2pa.Reader(SIDECAR_FORMAT, io.BytesIO(data), sidecar, context)
    try:
        return c2pa.Reader(str(path), None, None, context) if context else c2pa.Reader(str(path))
    except c2pa.C2paError.ManifestNotFound:
        return None


def read_manifest(path: Path, anchor: TrustAnchor | None) -> tuple[dict[str, Any] | None, ProvenanceReport]:
    """Read and validate the file's manifest; the active manifest (or None) and the report so far.

    Raises:
        ProvenanceInputError: the file cannot be read at all.
    """
    report = ProvenanceReport(file=str(path))
    try:
        data = path.read_bytes()
        side = sidecar_path(path)
        sidecar = side.read_bytes() if side.is_file() else None
    except OSError as exc:
        raise ProvenanceInputError(f"cannot read the file: {exc.strerror or exc}", where=str(path)) from None
    settings = (
        {"verify": {"verify_trust": True}, "trust": {"trust_anchors": anchor.ca_pem}} if anchor else None
    )
    try:
        context = c2pa.Context.from_dict(settings) if settings else None
        reader = _reader(path, data, sidecar, context)
        if reader is None:
            report.problem(
                "no_credentials",
                "the file carries no Content Credentials: none were written for it, or they were stripped"
                " (the rig's signed session record still proves the capture)",
            )
            return None, report
        with reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
            results = reader.get_validation_results() or {}
    except c2pa.C2paError as exc:
        report.problem("unreadable_manifest", f"the C2PA manifest cannot be read: {exc}")
        return None, report
    report.credentials = "sidecar" if sidecar is not None else "embedded"
    label = store.get("active_manifest")
    manifest = store.get("manifests", {}).get(label) if isinstance(label, str) else None
    report.manifest_label = label if isinstance(label, str) else None
    report.validation_state = state
    failures = [f for f in (results.get("activeManifest") or {}).get("failure", []) if isinstance(f, dict)]
    _judge_validation(report, failures, anchor)
    if isinstance(manifest, dict):
        info = manifest.get("signature_info") or {}
        report.signer = {
            "common_name": info.get("common_name"),
            "issuer": info.get("issuer"),
            "serial": info.get("cert_serial_number"),
            "alg": info.get("alg"),
        }
    return manifest if isinstance(manifest, dict) else None, report


def _judge_validation(
    report: ProvenanceReport, failures: list[dict[str, Any]], anchor: TrustAnchor | None
) -> None:
    codes = [str(f.get("code")) for f in failures]
    for failure in failures:
        code = str(failure.get("code"))
        if code == "signingCredential.untrusted":
            continue
        text = _FAILURE_TEXT.get(code, str(failure.get("explanation") or code))
        report.problem("manifest_invalid", f"{code}: {text}")
    if anchor is None:
        report.problem(
            "trust_not_checked",
            "no production CA to check the signer against: give --ca FILE or --registry URL",
        )
    elif "signingCredential.untrusted" in codes:
        report.trust = "untrusted"
        report.problem(
            "untrusted_signer",
            f"the signing certificate does not chain to the production CA from {anchor.source}: not signed"
            " by a rig of this production",
        )
    else:
        report.trust = "production_ca"


def judge_terms(
    report: ProvenanceReport, manifest: dict[str, Any], anchor: TrustAnchor | None
) -> ConsentAssertion | None:
    """Read the consent and training-mining assertions; check they agree, the signer and the CRL."""
    assertions = {
        a.get("label"): a.get("data") for a in manifest.get("assertions", []) if isinstance(a, dict)
    }
    entries = (assertions.get(TRAINING_MINING_LABEL) or {}).get("entries") or {}
    report.permitted_uses = {
        use: str(entry.get("use")) for use, entry in entries.items() if isinstance(entry, dict)
    }
    raw = assertions.get(CONSENT_LABEL)
    if raw is None:
        report.problem(
            "no_consent_assertion",
            f"the manifest has no ScanGate consent assertion ({CONSENT_LABEL}): not a consented ScanGate capture",
        )
        return None
    try:
        consent = ConsentAssertion.model_validate(raw, strict=True)
    except ValidationError as exc:
        report.problem("malformed_consent_assertion", f"the consent assertion does not fit its schema: {exc}")
        return None
    report.consent = consent.data()
    expected = training_mining_entries(consent)
    if entries != expected or set(report.permitted_uses) != set(TRAINING_MINING_USES):
        report.problem(
            "terms_inconsistent",
            "the training-and-data-mining assertion does not match the consent assertion's terms",
        )
    signer = report.signer or {}
    if signer.get("common_name") not in (None, consent.rig_id):
        report.problem(
            "rig_mismatch",
            f"signed by rig {signer.get('common_name')!r} but the consent assertion names rig {consent.rig_id!r}",
        )
    serial = signer.get("serial")
    if anchor is not None and isinstance(serial, str) and serial.isdigit() and int(serial) in anchor.revoked:
        revoked_at, why = anchor.revoked[int(serial)]
        captured = datetime.fromisoformat(consent.captured_at.replace("Z", "+00:00"))
        if captured >= revoked_at:
            report.problem(
                "certificate_revoked",
                f"signed with a rig certificate revoked on {revoked_at.isoformat()} ({why}), at or before"
                " the capture time it states",
            )
        else:
            report.notices.append(
                Finding(
                    "certificate_revoked_later",
                    f"the rig certificate was revoked on {revoked_at.isoformat()} ({why}), after this capture",
                )
            )
    return consent
