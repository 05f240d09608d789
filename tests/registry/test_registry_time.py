"""The registry's signed statement of its time: fresh per request (bound to the rig's nonce)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from agent.signing import verify_embedded
from agent.wire import TIME_STATEMENT, ConsentList, TimeStatement
from tests.registry.conftest import PRODUCTION, Registry
from tests.registry.test_server_basics import assert_error


def nonce() -> str:
    return secrets.token_urlsafe(24)


def test_time_endpoint_signs_the_registry_time_together_with_the_rigs_nonce(registry: Registry) -> None:
    sent = nonce()
    before = datetime.now(UTC)
    response = registry.get("/v1/time", params={"nonce": sent})
    after = datetime.now(UTC)
    assert response.status_code == 200, response.text
    raw = response.json()
    statement = TimeStatement.model_validate(raw)
    assert statement.wire_dict() == raw
    assert statement.statement == TIME_STATEMENT
    assert statement.nonce == sent
    assert before - timedelta(seconds=1) <= statement.registry_time <= after + timedelta(seconds=1)
    verify_embedded(raw, registry.trusted_keys())
    assert statement.signature.key_id == registry.seeded.key_id


def test_every_time_statement_is_fresh(registry: Registry) -> None:
    first, second = nonce(), nonce()
    one = TimeStatement.model_validate(registry.get("/v1/time", params={"nonce": first}).json())
    two = TimeStatement.model_validate(registry.get("/v1/time", params={"nonce": second}).json())
    assert (one.nonce, two.nonce) == (first, second)
    assert two.registry_time >= one.registry_time
    assert one.signature != two.signature


def test_time_endpoint_needs_a_rig_token_and_a_proper_nonce(registry: Registry) -> None:
    assert_error(registry.get("/v1/time", params={"nonce": nonce()}, token="sgr_wrong"), 401, "unauthorized")
    assert_error(registry.get("/v1/time"), 422, "validation_failed")
    assert_error(registry.get("/v1/time", params={"nonce": "short"}), 422, "validation_failed")
    assert_error(registry.get("/v1/time", params={"nonce": "x" * 22 + "!"}), 422, "validation_failed")


def test_consent_lookup_with_a_nonce_carries_a_signed_time_statement(registry: Registry) -> None:
    sent = nonce()
    params = {"performer_id": "p-ada", "production_id": PRODUCTION, "nonce": sent}
    raw = registry.get("/v1/consents", params=params).json()
    listing = ConsentList.model_validate(raw)
    assert listing.time_statement is not None
    assert listing.time_statement.nonce == sent
    verify_embedded(raw["time_statement"], registry.trusted_keys())
    assert [c.consent_id for c in listing.consents] == ["c-p-ada"]


def test_consent_lookup_without_a_nonce_answers_as_before(registry: Registry) -> None:
    raw = registry.get("/v1/consents", params={"performer_id": "p-ada", "production_id": PRODUCTION}).json()
    assert "time_statement" not in raw  # rigs that do not ask get the old answer, member for member
    assert ConsentList.model_validate(raw).time_statement is None


def test_after_a_rotation_the_new_active_key_signs_time_statements(registry: Registry) -> None:
    rotated = registry.admin_post("/v1/admin/keys/rotate", json={})
    assert rotated.status_code == 200, rotated.text
    new_key = rotated.json()["keys"][0]["key_id"]
    raw = registry.get("/v1/time", params={"nonce": nonce()}).json()
    assert TimeStatement.model_validate(raw).signature.key_id == new_key
    verify_embedded(raw, registry.trusted_keys())
