"""Content Credentials in whole rehearsals (embedded registry, stand-in camera, real gate, real c2pa)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import c2pa
import pytest

from agent.cli.main import main
from agent.provenance.assertions import (
    CONSENT_LABEL,
    TRAINING_MINING_LABEL,
    ConsentAssertion,
    training_mining_entries,
)
from agent.wire.provenance import ProductionCa
from registry.demo import run_headless


def _run(scenario: str, out: Path) -> dict[str, Any]:
    lines: list[str] = []
    assert run_headless(scenario, out, echo=lines.append) == 0, "\n".join(lines)
    record: dict[str, Any] = json.loads((out / "sessions.jsonl").read_text().splitlines()[-1])
    return record


def _read(path: Path, ca_pem: str) -> tuple[str, dict[str, Any]]:
    settings = {"verify": {"verify_trust": True}, "trust": {"trust_anchors": ca_pem}}
    with c2pa.Reader(str(path), None, None, c2pa.Context.from_dict(settings)) as reader:
        store = json.loads(reader.json())
        return str(reader.get_validation_state()), store["manifests"][store["active_manifest"]]


def test_a_confirm_rehearsal_still_carries_a_trusted_manifest_with_the_demo_consents_terms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], pyproject_commands: None
) -> None:
    record = _run("confirm", tmp_path)
    ca_pem = ProductionCa.model_validate_json(
        (tmp_path / "production-ca.json").read_text()
    ).ca_certificate_pem
    files = record["captured_files"]
    assert files and all(f["content_credentials"]["status"] == "embedded" for f in files)
    for entry in files:
        path = Path(entry["name"])
        credentials = entry["content_credentials"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == credentials["file_sha256"]
        assert credentials["file_sha256"] != entry["sha256"]  # the record keeps the bytes as captured too
        state, manifest = _read(path, ca_pem)
        assert state == "Trusted"
        assert manifest["label"] == credentials["manifest_label"]
        assertions = {a["label"]: a["data"] for a in manifest["assertions"]}
        consent = ConsentAssertion.model_validate(assertions[CONSENT_LABEL], strict=True)
        assert consent.consent_id == record["consent"]["consent_id"]
        assert consent.consent_hash == record["consent"]["consent_hash"]
        assert consent.session_record_id == record["record_id"]
        assert consent.capture_sha256 == entry["sha256"] and consent.capture_type == entry["capture_type"]
        assert consent.performer_id == record["performer"]["performer_id"]
        assert record["performer"]["display_name"] not in json.dumps(manifest)  # never the name
        # the demo consent allows no AI training and no synthetic performance: every use notAllowed
        assert not consent.ai_training_allowed and not consent.synthetic_performance_allowed
        assert assertions[TRAINING_MINING_LABEL]["entries"] == training_mining_entries(consent)
        assert {e["use"] for e in assertions[TRAINING_MINING_LABEL]["entries"].values()} == {"notAllowed"}
        actions = assertions["c2pa.actions.v2"]["actions"]
        assert actions[0]["action"] == "c2pa.created"
        assert actions[0]["digitalSourceType"].endswith("/digitalCapture")

    first = Path(files[0]["name"])
    capsys.readouterr()
    assert main(["provenance", "--ca", str(tmp_path / "production-ca.json"), str(first)]) == 0
    data = bytearray(first.read_bytes())
    data[len(data) // 2] ^= 0x01  # one byte of pixel data
    first.write_bytes(bytes(data))
    assert _read(first, ca_pem)[0] == "Invalid"
    assert main(["provenance", "--ca", str(tmp_path / "production-ca.json"), str(first)]) == 1


def test_a_quarantined_capture_gets_no_credentials_and_the_record_says_why(tmp_path: Path) -> None:
    record = _run("capture-out-of-scope", tmp_path)
    flagged = [f for f in record["captured_files"] if f["flag_reason"] is not None]
    assert flagged
    for entry in flagged:
        credentials = entry["content_credentials"]
        assert credentials["status"] == "not_written" and credentials["consent_assertion"] is False
        assert "not a consented capture" in credentials["reason"]
    quarantined = [p for p in (tmp_path / "captures").rglob("quarantine/*") if not p.name.endswith(".json")]
    assert len(quarantined) == len([f for f in flagged if f["quarantined"]]) > 0
    hashes = {f["sha256"] for f in flagged}
    for path in quarantined:
        data = path.read_bytes()
        assert hashlib.sha256(data).hexdigest() in hashes  # evidence left byte for byte as captured
        assert b"c2pa" not in data and not path.with_name(path.name + ".c2pa").exists()
    clean = [f for f in record["captured_files"] if f["flag_reason"] is None]
    assert clean and all(f["content_credentials"]["consent_assertion"] for f in clean)
