"""The rig's hot path over real HTTP: every change is seen from the very next request, answers are the stored bytes.

``GET /v1/consents``, ``/v1/time`` and ``/v1/health`` read through pooled connections
without an ORM Session (registry.hot_reads). Nothing is cached but compiled SQL and the
decrypted signing key, so: a revoked consent, a consent past destroy_by or destroyed, a
revoked or expired token, a rotated key — each shows on the next request, whichever
pooled connection serves it. Several connections are opened first (concurrent
lookups), then each change is checked on more requests than the pool holds.
"""

from __future__ import annotations

import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa

from agent.wire import ConsentList, ConsentStatus, Health, TimeStatement, utc_now
from registry.db import DEFAULT_POOL_SIZE, ConsentRow
from tests.registry.conftest import PRODUCTION, RIG, Registry
from tests.registry.test_server_basics import assert_error
from tests.registry.test_tokens_and_roles import created, expire

AFTER_CHANGE = DEFAULT_POOL_SIZE + 5
"""Requests checked after each change: more than any pool holds, so every pooled connection serves one."""


def lookup(
    registry: Registry, performer_id: str, token: str | None = None, **params: Any
) -> requests.Response:
    query = {"performer_id": performer_id, "production_id": PRODUCTION, **params}
    return registry.get("/v1/consents", params=query, token=token)


def open_several_connections(registry: Registry, token: str | None = None) -> None:
    """Concurrent lookups, so the server's pool holds several connections (each with its own state)."""

    def one(_index: int) -> int:
        query = {"performer_id": "p-ada", "production_id": PRODUCTION}
        headers = registry.rig_headers(token)
        return requests.get(
            registry.url + "/v1/consents", params=query, headers=headers, timeout=10
        ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert set(pool.map(one, range(40))) == {200}


def statuses(registry: Registry, performer_id: str) -> list[tuple[str, ConsentStatus]]:
    response = lookup(registry, performer_id)
    assert response.status_code == 200, response.text
    listing = ConsentList.model_validate(response.json())
    for record in listing.consents:
        record.verify(registry.trusted_keys())
    return [(record.consent_id, record.status) for record in listing.consents]


def test_a_revoked_consent_is_served_revoked_from_the_next_lookup_on(registry: Registry) -> None:
    open_several_connections(registry)
    assert statuses(registry, "p-grace") == [("c-p-grace", ConsentStatus.ACTIVE)]
    created(registry.admin_post("/v1/admin/consents/c-p-grace/revoke", json={"reason": "withdrew"}))
    for _ in range(AFTER_CHANGE):
        assert statuses(registry, "p-grace") == [("c-p-grace", ConsentStatus.REVOKED)]


def test_a_consent_past_destroy_by_or_destroyed_is_withheld_from_the_next_lookup_on(
    registry: Registry,
) -> None:
    open_several_connections(registry)
    assert statuses(registry, "p-grace") and statuses(registry, "p-ada")
    with registry.database.write() as session:
        session.execute(
            sa.update(ConsentRow)
            .where(ConsentRow.consent_id == "c-p-grace")
            .values(destroy_by=utc_now().date() - timedelta(days=1))
        )
        session.execute(
            sa.update(ConsentRow).where(ConsentRow.consent_id == "c-p-ada").values(status="destroyed")
        )
    for _ in range(AFTER_CHANGE):
        assert statuses(registry, "p-grace") == [] and statuses(registry, "p-ada") == []


def test_a_revoked_or_expired_token_is_refused_from_the_next_request_on(registry: Registry) -> None:
    for change, word in (("revoke", "revoked"), ("expire", "expired")):
        issued = created(registry.admin_post(f"/v1/admin/rigs/{RIG}/tokens", json={}))
        open_several_connections(registry, issued["token"])
        if change == "revoke":
            created(registry.admin_post(f"/v1/admin/tokens/{issued['token_id']}/revoke"))
        else:
            expire(registry, issued["token_id"])
        for _ in range(AFTER_CHANGE):
            body = assert_error(lookup(registry, "p-ada", token=issued["token"]), 401, "unauthorized")
            assert word in body.error.message
            timed = registry.get(
                "/v1/time", params={"nonce": secrets.token_urlsafe(16)}, token=issued["token"]
            )
            assert word in assert_error(timed, 401, "unauthorized").error.message
        assert lookup(registry, "p-ada").status_code == 200  # the seeded token still works


def test_the_answer_is_the_stored_signed_records_byte_for_byte(registry: Registry) -> None:
    created(registry.admin_post("/v1/admin/consents/c-p-ada/suspend", json={"reason": "query"}))
    response = lookup(registry, "p-ada")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    with registry.database.read() as session:
        stored = session.scalars(
            sa.select(ConsentRow.record_json)
            .where(ConsentRow.performer_id == "p-ada")
            .order_by(ConsentRow.version.desc())
        ).all()
    head = json.loads(response.content)
    assert list(head) == ["wire_version", "performer_id", "production_id", "generated_at", "consents"]
    members = {key: head[key] for key in list(head)[:4]}
    expected = json.dumps(members, separators=(",", ":"))[:-1] + ',"consents":[' + ",".join(stored) + "]}"
    assert response.content == expected.encode("utf-8")


def test_a_rotated_key_signs_the_next_time_statement_and_health_names_it(registry: Registry) -> None:
    nonce = secrets.token_urlsafe(16)
    first = TimeStatement.model_validate(lookup(registry, "p-ada", nonce=nonce).json()["time_statement"])
    assert first.signature.key_id == registry.seeded.key_id and first.nonce == nonce
    created(registry.admin_post("/v1/admin/keys/rotate"))
    keys = registry.trusted_keys()
    new_key = next(key for key in keys if key != registry.seeded.key_id)
    for _ in range(AFTER_CHANGE):
        listed = lookup(registry, "p-ada", nonce=nonce).json()
        statement = TimeStatement.model_validate(listed["time_statement"])
        statement.verify(keys)
        assert statement.signature.key_id == new_key
        health = Health.model_validate(registry.http.get(registry.url + "/v1/health", timeout=10).json())
        assert health.active_key_id == new_key
