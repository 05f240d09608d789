"""``scangate provenance`` against the real registry on loopback, on files signed by the real C2PA library."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.cli.main import main
from agent.provenance.assertions import manifest_definition
from agent.provenance.embed import SigningIdentity, write_credentials
from agent.session.credentials import consent_assertion
from agent.session.model import Capture, IdentificationMethod, Identity, SessionContext
from agent.wire import ConsentList
from agent.wire.provenance import RigCertificate
from registry import admin_ops
from registry.schemas import ProductionCreate
from tests.registry.conftest import PRODUCTION, RIG, Registry

pytestmark = pytest.mark.usefixtures("pyproject_commands")


def _signed_capture(registry: Registry, folder: Path, performer_id: str = "p-ada") -> Path:
    """A still signed as the rig signs a consented capture of ``performer_id`` (registry consent, rig cert)."""
    answer = registry.get("/v1/consents", params={"performer_id": performer_id, "production_id": PRODUCTION})
    consent = ConsentList.model_validate(answer.json()).consents[0]
    pixels = np.random.default_rng(7).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    ok, encoded = cv2.imencode(".jpg", pixels)
    assert ok
    photo = folder / "s1_face_00001.jpg"
    photo.write_bytes(encoded.tobytes())
    digest = hashlib.sha256(encoded.tobytes()).hexdigest()
    now = datetime.now(UTC)
    capture = Capture(photo.name, digest, now, True, session_id="s1", capture_type="face", event_id="e1")
    ctx = SessionContext(
        session_id="s1",
        identity=Identity(performer_id, IdentificationMethod.FACE, now),
        confirmed_capture_types=frozenset({"face"}),
    )
    assertion = consent_assertion(capture, ctx, consent, RIG)
    chain = RigCertificate.model_validate(registry.get(f"/v1/rigs/{RIG}/certificate").json())
    write_credentials(
        photo,
        expected_sha256=digest,
        manifest=lambda mime: manifest_definition(
            title=photo.name, mime_type=mime, rig_id=RIG, captured_at=assertion.captured_at, consent=assertion
        ),
        identity=SigningIdentity(registry.rig_signer.sign_bytes, chain.chain_pem),
    )
    return photo


def _provenance(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[dict[str, object]], str]:
    capsys.readouterr()
    status = main(["provenance", "--json", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, [json.loads(line) for line in out.splitlines() if line.strip()], err


def test_active_consent_is_valid_and_permitted(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _signed_capture(registry, tmp_path)
    status, [line], _ = _provenance(capsys, "--registry", registry.url, str(photo))
    assert status == 0, line["problems"]
    assert line["ok"] is True and line["trust"] == "production_ca" and line["validation_state"] == "Trusted"
    assert line["registry"]["status"] == "active"  # type: ignore[index]
    assert line["permitted_uses"] == {  # the seeded consent allows no AI use
        "cawg.ai_training": "notAllowed",
        "cawg.ai_generative_training": "notAllowed",
        "cawg.ai_inference": "notAllowed",
        "cawg.data_mining": "notAllowed",
    }
    consent = line["consent"]
    assert consent["consent_id"] == "c-p-ada" and consent["performer_id"] == "p-ada"  # type: ignore[index]
    assert "Ada" not in json.dumps(consent)  # pseudonymous: never the performer's name


def test_consent_revoked_after_capture_is_exit_1_naming_the_revocation(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _signed_capture(registry, tmp_path)
    revoked = registry.admin_post("/v1/admin/consents/c-p-ada/revoke", json={"reason": "performer withdrew"})
    assert revoked.status_code == 200, revoked.text
    status, [line], _ = _provenance(capsys, "--registry", registry.url, str(photo))
    assert status == 1
    codes = [p["code"] for p in line["problems"]]  # type: ignore[attr-defined]
    assert codes == ["consent_revoked"]
    assert "c-p-ada was revoked on" in line["problems"][0]["message"]  # type: ignore[index]
    assert line["validation_state"] == "Trusted"  # the file itself is still intact


def test_a_ca_other_than_the_productions_is_exit_1_untrusted_signer(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _signed_capture(registry, tmp_path)
    with registry.database.write() as session:
        admin_ops.add_production(
            session, ProductionCreate(production_id="other-film", name="O", producer="P")
        )
    other_ca = tmp_path / "other-ca.json"
    other_ca.write_text(registry.http.get(f"{registry.url}/v1/productions/other-film/ca", timeout=10).text)
    status, [line], _ = _provenance(capsys, "--ca", str(other_ca), str(photo))
    assert status == 1
    assert [p["code"] for p in line["problems"]] == ["untrusted_signer"]  # type: ignore[attr-defined]
    own_ca = tmp_path / "own-ca.json"
    own_ca.write_text(registry.http.get(f"{registry.url}/v1/productions/{PRODUCTION}/ca", timeout=10).text)
    assert _provenance(capsys, "--ca", str(own_ca), str(photo))[0] == 0  # offline, with the saved CA


def test_one_changed_pixel_and_a_missing_file(
    registry: Registry, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = _signed_capture(registry, tmp_path)
    data = bytearray(photo.read_bytes())
    data[-100] ^= 0x01  # inside the entropy-coded image data, before the end marker
    photo.write_bytes(bytes(data))
    status, [line], _ = _provenance(capsys, "--registry", registry.url, str(photo))
    assert status == 1 and line["validation_state"] == "Invalid"
    assert any("assertion.dataHash.mismatch" in p["message"] for p in line["problems"])  # type: ignore[attr-defined]
    status, [line], _ = _provenance(capsys, "--registry", registry.url, str(tmp_path / "missing.jpg"))
    assert (
        status == 2 and "cannot read the file" in str(line["error"]) and "missing.jpg" in str(line["error"])
    )
