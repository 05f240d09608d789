"""Confirmations, session-record intake with checkpoints, fallback badges and tokens."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, object_hash_hex, public_key_to_b64
from agent.wire import Checkpoint, ConfirmationReceipt, FallbackVerifyResponse, SessionRecordReceipt
from registry.db import BadgeRow, TokenRow
from tests.registry.conftest import PRODUCTION, RIG, Registry
from tests.registry.records import resigned, signed_chain, signed_record
from tests.registry.test_server_basics import assert_error


def confirmation(**overrides: Any) -> dict[str, Any]:
    body = {
        "consent_id": "c-p-ada",
        "consent_version": 1,
        "rig_id": RIG,
        "session_id": "s-0001",
        "decision": "narrowed",
        "capture_types": ["face"],
        "guardian_co_confirmed": False,
        "confirmed_at": "2025-02-01T10:00:00Z",
    }
    body.update(overrides)
    return body


def test_confirmation_is_stored_once_and_never_rewritten(registry: Registry) -> None:
    first = registry.post("/v1/consents/c-p-ada/confirmations", json=confirmation())
    assert first.status_code == 200, first.text
    receipt = ConfirmationReceipt.model_validate(first.json())
    assert not receipt.duplicate
    again = ConfirmationReceipt.model_validate(
        registry.post("/v1/consents/c-p-ada/confirmations", json=confirmation()).json()
    )
    assert again.duplicate and again.confirmation_id == receipt.confirmation_id
    changed = registry.post(
        "/v1/consents/c-p-ada/confirmations", json=confirmation(decision="declined", capture_types=[])
    )
    assert_error(changed, 409, "conflict")


@pytest.mark.parametrize(
    ("url_consent", "body", "status", "code"),
    [
        ("c-p-ada", confirmation(capture_types=["face", "full_body"]), 422, "validation_failed"),
        ("c-p-ada", confirmation(consent_version=2), 409, "conflict"),
        ("c-p-ada", confirmation(rig_id="rig-2"), 403, "forbidden"),
        ("c-p-grace", confirmation(), 422, "validation_failed"),
        ("c-nothing", confirmation(consent_id="c-nothing"), 404, "not_found"),
        ("c-p-ada", confirmation(decision="declined"), 422, "validation_failed"),
    ],
)
def test_bad_confirmations_are_refused(
    registry: Registry, url_consent: str, body: dict[str, Any], status: int, code: str
) -> None:
    assert_error(registry.post(f"/v1/consents/{url_consent}/confirmations", json=body), status, code)


def upload(registry: Registry, record: dict[str, Any]) -> SessionRecordReceipt:
    response = registry.post("/v1/session-records", json=record)
    assert response.status_code == 200, response.text
    return SessionRecordReceipt.model_validate(response.json())


def test_session_records_are_stored_once_with_a_signed_checkpoint(registry: Registry) -> None:
    records = signed_chain(registry.rig_signer, 4)
    first = upload(registry, records[0])
    assert first.intake.value == "stored" and first.record_hash == object_hash_hex(records[0])
    assert upload(registry, records[0]).intake.value == "duplicate"
    upload(registry, records[2])  # out of order: a gap at 2
    gap = upload(registry, records[3]).checkpoint
    assert (gap.first_sequence, gap.sequence, gap.records_held) == (1, 1, 3)
    closed = upload(registry, records[1]).checkpoint
    assert (closed.sequence, closed.record_hash, closed.records_held) == (4, object_hash_hex(records[3]), 4)
    closed.verify(registry.trusted_keys())
    fetched = Checkpoint.model_validate(registry.get(f"/v1/rigs/{RIG}/checkpoint").json())
    assert fetched == closed
    page = registry.http.get(
        registry.url + "/v1/admin/session-records",
        params={"rig_id": RIG},
        headers=registry.admin_headers(),
        timeout=10,
    ).json()
    assert page["records"] == records  # exactly as uploaded
    assert_error(registry.get("/v1/rigs/rig-2/checkpoint"), 403, "forbidden")


def test_forged_forked_and_foreign_records_are_refused(registry: Registry) -> None:
    records = signed_chain(registry.rig_signer, 2)
    upload(registry, records[0])
    before = registry.snapshot()
    tampered = dict(records[1], outcome_detail="edited after signing")
    assert_error(registry.post("/v1/session-records", json=tampered), 400, "bad_signature")
    stranger = Signer(Ed25519PrivateKey.generate())
    forged = signed_record(stranger, 2, object_hash_hex(records[0]))
    assert_error(registry.post("/v1/session-records", json=forged), 400, "bad_signature")
    fork = resigned(registry.rig_signer, records[0], outcome_detail="rewritten")
    assert_error(registry.post("/v1/session-records", json=fork), 409, "conflict")
    broken_chain = signed_record(registry.rig_signer, 2, "cd" * 32)
    assert_error(registry.post("/v1/session-records", json=broken_chain), 409, "conflict")
    other_rig = resigned(registry.rig_signer, records[1], rig_id="rig-2")
    assert_error(registry.post("/v1/session-records", json=other_rig), 403, "forbidden")
    unsigned = {k: v for k, v in records[1].items() if k != "signature"}
    assert_error(registry.post("/v1/session-records", json=unsigned), 422, "validation_failed")
    assert_error(registry.post("/v1/session-records", json=[records[1]]), 400, "bad_request")
    assert registry.snapshot() == before


def test_rotated_rig_key_verifies_new_records_and_old_ones_still_count(registry: Registry) -> None:
    old = signed_chain(registry.rig_signer, 1)[0]
    upload(registry, old)
    new_signer = Signer(Ed25519PrivateKey.generate())
    added = registry.admin_post(
        f"/v1/admin/rigs/{RIG}/keys", json={"public_key": public_key_to_b64(new_signer.public_key)}
    )
    assert added.status_code == 201, added.text
    receipt = upload(registry, signed_record(new_signer, 2, object_hash_hex(old)))
    assert receipt.checkpoint.sequence == 2


def test_fallback_badge_and_pin(registry: Registry) -> None:
    def verify(code: str, pin: str) -> FallbackVerifyResponse:
        body = {"production_id": PRODUCTION, "badge_code": code, "pin": pin}
        response = registry.post("/v1/fallback/verify", json=body)
        assert response.status_code == 200, response.text
        return FallbackVerifyResponse.model_validate(response.json())

    ok = verify("ADA-0001", "246810")
    assert ok.verified and ok.performer_id == "p-ada"
    assert verify("ZZZ-9999", "246810").refusal.value == "unknown_badge"  # type: ignore[union-attr]
    answers = [verify("NOB-0002", "0000") for _ in range(5)]
    assert [a.attempts_left for a in answers] == [4, 3, 2, 1, 0]
    assert answers[-1].refusal is not None and answers[-1].refusal.value == "locked"
    assert verify("NOB-0002", "1357").refusal.value == "locked"  # type: ignore[union-attr]  # right PIN, still locked
    other = registry.post(
        "/v1/fallback/verify", json={"production_id": "other-film", "badge_code": "ADA-0001", "pin": "246810"}
    )
    assert_error(other, 403, "forbidden")
    with registry.database.read() as session:
        hashes = session.scalars(sa.select(BadgeRow.pin_hash)).all()
    assert hashes and all(h.startswith("scrypt$") and "246810" not in h for h in hashes)


def test_tokens_are_stored_hashed_and_revocation_takes_effect_at_once(registry: Registry) -> None:
    issued = registry.admin_post(f"/v1/admin/rigs/{RIG}/tokens", json={"label": "second tablet"})
    assert issued.status_code == 201, issued.text
    token, token_id = issued.json()["token"], issued.json()["token_id"]
    assert registry.get("/v1/revocations", token=token).status_code == 200
    with registry.database.read() as session:
        stored = session.scalars(sa.select(TokenRow.token_sha256)).all()
    assert token not in stored and registry.seeded.rig_token not in stored
    revoked = registry.admin_post(f"/v1/admin/tokens/{token_id}/revoke")
    assert revoked.status_code == 200, revoked.text
    assert_error(registry.get("/v1/revocations", token=token), 401, "unauthorized")
    assert registry.get("/v1/revocations").status_code == 200  # the rig's other token still works
    assert_error(registry.admin_post(f"/v1/admin/tokens/{token_id}/revoke"), 409, "conflict")
    assert_error(registry.admin_post("/v1/admin/rigs/rig-9/tokens", json={}), 404, "not_found")
