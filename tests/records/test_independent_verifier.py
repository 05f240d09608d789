"""An independent verifier, written from docs/records.md alone, accepts ScanGate's logs.

It deliberately uses nothing of ScanGate: ``cryptography`` for Ed25519, the
``jcs`` package (a separate RFC 8785 implementation) for canonical JSON, and
the standard library. If ScanGate's format drifted from its documentation,
this verifier (and the worked example in the document) would stop agreeing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jcs
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.conftest import REPO_ROOT

DOC = REPO_ROOT / "docs" / "records.md"
GENESIS = "0" * 64


class LogRejectedError(Exception):
    """The independent verifier found the log not intact."""


def key_id_of(raw_public_key: bytes) -> str:
    """Key id: 'ed25519:' + first 32 hex digits of SHA-256 over the raw 32-byte key."""
    return "ed25519:" + hashlib.sha256(raw_public_key).hexdigest()[:32]


def b64url_decode_strict(text: str) -> bytes:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() != text:
        raise LogRejectedError("signature value is not canonical base64url")
    return raw


def verify_record_signature(record: dict[str, Any], keys: dict[str, Ed25519PublicKey]) -> None:
    signature = record.get("signature")
    if not isinstance(signature, dict) or set(signature) != {"alg", "key_id", "value"}:
        raise LogRejectedError("signature member missing or malformed")
    if signature["alg"] != "Ed25519":
        raise LogRejectedError("unsupported algorithm")
    key = keys.get(signature["key_id"])
    if key is None:
        raise LogRejectedError(f"unknown key {signature['key_id']}")
    value = b64url_decode_strict(signature["value"])
    payload = {name: member for name, member in record.items() if name != "signature"}
    digest = hashlib.sha256(jcs.canonicalize(payload)).digest()
    try:
        key.verify(value, digest)
    except InvalidSignature:
        raise LogRejectedError(f"record {record.get('sequence')}: signature does not verify") from None


def independent_verify(log: bytes, raw_public_keys: list[bytes]) -> list[dict[str, Any]]:
    """Verify a whole log per docs/records.md; returns the records or raises LogRejectedError."""
    keys = {key_id_of(raw): Ed25519PublicKey.from_public_bytes(raw) for raw in raw_public_keys}
    if log and not log.endswith(b"\n"):
        raise LogRejectedError("torn last line")
    records = []
    previous_hash = GENESIS
    for number, line in enumerate(log.split(b"\n")[:-1], start=1):
        record = json.loads(line.decode("utf-8"))
        if record.get("schema_version") not in {f"scangate.session-record/{n}" for n in (1, 2, 3)}:
            raise LogRejectedError(f"line {number}: unknown schema")
        verify_record_signature(record, keys)
        if jcs.canonicalize(record) != line:
            raise LogRejectedError(f"line {number}: not canonical JSON")
        if record["sequence"] != number:
            raise LogRejectedError(f"line {number}: sequence {record['sequence']}")
        if record["previous_hash"] != previous_hash:
            raise LogRejectedError(f"line {number}: broken chain")
        previous_hash = hashlib.sha256(jcs.canonicalize(record)).hexdigest()
        records.append(record)
    return records


# -- against ScanGate's own writer ----------------------------------------------------------------------


def test_independent_verifier_accepts_a_scangate_log(written_log: Path, rig_key: Any) -> None:
    pem = rig_key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    loaded = serialization.load_pem_public_key(pem)  # as a third party receives it: 'keys show --pem'
    assert isinstance(loaded, Ed25519PublicKey)
    raw = loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    records = independent_verify(written_log.read_bytes(), [raw])
    assert [r["sequence"] for r in records] == list(range(1, 13))
    assert {r["signature"]["key_id"] for r in records} == {key_id_of(raw)}


def test_independent_verifier_accepts_a_log_with_a_recovery_record(
    open_log: Any, written_log: Path, rig_key: Any
) -> None:
    written_log.write_bytes(written_log.read_bytes() + b'{"torn')
    open_log().close()  # the agent restarting after a crash
    raw = rig_key.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    records = independent_verify(written_log.read_bytes(), [raw])
    recovery = records[-1]["log_recovery"]
    quarantined = written_log.with_name(recovery["quarantine_file"]).read_bytes()
    assert hashlib.sha256(quarantined).hexdigest() == recovery["torn_sha256"]


def test_independent_verifier_is_not_vacuous(written_log: Path, rig_key: Any) -> None:
    raw = rig_key.public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    lines = written_log.read_bytes().split(b"\n")
    tampered = b"\n".join([lines[0].replace(b'"captured"', b'"declined"', 1), *lines[1:]])
    with pytest.raises(LogRejectedError, match="does not verify"):
        independent_verify(tampered, [raw])
    with pytest.raises(LogRejectedError, match="sequence"):
        independent_verify(b"\n".join([lines[1], lines[0], *lines[2:]]), [raw])


# -- the worked example in the document ------------------------------------------------------------------


def _doc_example() -> tuple[bytes, bytes, list[str], list[str]]:
    text = DOC.read_text(encoding="utf-8")
    example = text[text.index("## Worked example") :]
    block = re.search(r"```jsonl\n(.*?)```", example, flags=re.DOTALL)
    public = re.search(r"public key\s+\(base64url\) `([A-Za-z0-9_-]{43})`", example)
    assert block is not None and public is not None
    digests = re.findall(
        r"\| SHA-256 of JCS\(record without `signature`\).*?\| `(\w{64})` \| `(\w{64})` \|", example
    )
    hashes = re.findall(r"\| record hash = SHA-256 of the line \| `(\w{64})` \| `(\w{64})` \|", example)
    raw = base64.urlsafe_b64decode(public.group(1) + "=")
    return block.group(1).encode(), raw, list(digests[0]), list(hashes[0])


def test_worked_example_in_the_documentation_verifies_and_its_values_are_right() -> None:
    log, raw, digests, hashes = _doc_example()
    records = independent_verify(log, [raw])
    assert key_id_of(raw) == "ed25519:21fe31dfa154a261626bf854046fd227"
    for record, line, digest, record_hash in zip(records, log.split(b"\n"), digests, hashes, strict=False):
        payload = {name: member for name, member in record.items() if name != "signature"}
        assert hashlib.sha256(jcs.canonicalize(payload)).hexdigest() == digest
        assert hashlib.sha256(line).hexdigest() == record_hash


def test_worked_example_verifies_with_scangate_and_openssl(tmp_path: Path) -> None:
    log, raw, digests, _ = _doc_example()
    from agent.records.verify import verify_log
    from agent.signing import key_id_for

    public = Ed25519PublicKey.from_public_bytes(raw)
    (tmp_path / "example.jsonl").write_bytes(log)
    assert verify_log(tmp_path / "example.jsonl", {key_id_for(public): public}).intact

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed; the documented shell check is not exercised")
    record = json.loads(log.split(b"\n")[0])
    (tmp_path / "digest.bin").write_bytes(bytes.fromhex(digests[0]))
    (tmp_path / "sig.bin").write_bytes(b64url_decode_strict(record["signature"]["value"]))
    (tmp_path / "public.pem").write_bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    command = [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "public.pem", "-rawin",
               "-in", "digest.bin", "-sigfile", "sig.bin"]  # fmt: skip
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60)
    if "rawin" in result.stderr and result.returncode != 0 and "Unknown" in result.stderr:
        pytest.skip("this openssl lacks -rawin (needs OpenSSL 3)")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Signature Verified Successfully" in result.stdout
