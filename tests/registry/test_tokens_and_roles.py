"""Issue 11's registry-auth findings: expiring and listed tokens, roles, foreign ids, failed-auth bursts.

Each test drives the real server over loopback. A second production ("other-film", rig
"rig-2") is added through the admin API so that every scoping rule has something foreign
to refuse.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, public_key_to_b64
from agent.wire import utc_now
from registry.db import TokenRow
from registry.embedded import start_embedded_registry
from tests.registry.conftest import PRODUCTION, RIG, Registry
from tests.registry.test_consents import grant_body
from tests.registry.test_rig_reports import confirmation
from tests.registry.test_server_basics import assert_error

OTHER = "other-film"
OTHER_RIG = "rig-2"


def new_public_key() -> str:
    return public_key_to_b64(Signer(Ed25519PrivateKey.generate()).public_key)


def created(response: requests.Response) -> dict[str, Any]:
    assert response.status_code in (200, 201), response.text
    body: dict[str, Any] = response.json()
    return body


def add_other_production(registry: Registry) -> str:
    """Production 'other-film' with rig 'rig-2', a consent of p-ada there; returns rig-2's token."""
    created(
        registry.admin_post(
            "/v1/admin/productions", json={"production_id": OTHER, "name": "O", "producer": "P"}
        )
    )
    created(
        registry.admin_post(
            "/v1/admin/rigs",
            json={"rig_id": OTHER_RIG, "production_id": OTHER, "public_key": new_public_key()},
        )
    )
    created(
        registry.admin_post(
            "/v1/admin/consents", json=grant_body(0, consent_id="c-other", production_id=OTHER)
        )
    )
    token: str = created(registry.admin_post(f"/v1/admin/rigs/{OTHER_RIG}/tokens", json={}))["token"]
    return token


def production_admin(registry: Registry, production_id: str, **body: Any) -> str:
    issued = created(registry.admin_post("/v1/admin/tokens", json={"production_id": production_id, **body}))
    assert issued["role"] == "production_admin" and issued["production_id"] == production_id
    token: str = issued["token"]
    return token


def as_token(registry: Registry, token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    return registry.http.request(
        method, registry.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs
    )


def expire(registry: Registry, token_id: str) -> None:
    with registry.database.write() as session:
        session.execute(
            sa.update(TokenRow)
            .where(TokenRow.token_id == token_id)
            .values(expires_at=utc_now() - timedelta(minutes=5))
        )


# --- 1. tokens expire, are listed and revocable ----------------------------------------------------


def test_an_expired_token_is_refused_saying_when_and_what_to_do(registry: Registry) -> None:
    issued = created(registry.admin_post(f"/v1/admin/rigs/{RIG}/tokens", json={"expires_in": "2h"}))
    expires_at = issued["expires_at"]
    assert registry.get("/v1/revocations", token=issued["token"]).status_code == 200
    expire(registry, issued["token_id"])
    body = assert_error(registry.get("/v1/revocations", token=issued["token"]), 401, "unauthorized")
    assert "expired" in body.error.message and "issue-token" in body.error.message
    assert re.search(r"expired at \d{4}-\d\d-\d\dT", body.error.message)
    assert expires_at.startswith(str(utc_now().year)) or expires_at  # shown at issue time
    # a caller presenting an unknown token learns nothing about tokens
    unknown = [
        assert_error(registry.get("/v1/revocations", token=t), 401, "unauthorized") for t in ("sgr_x", "y")
    ]
    assert unknown[0].error.message == unknown[1].error.message
    assert not any(word in unknown[0].error.message for word in ("expired", "revoked", "tok-"))


def test_default_lifetimes_are_90_days_for_rigs_and_12_hours_for_admins(registry: Registry) -> None:
    now = utc_now()
    rig = created(registry.admin_post(f"/v1/admin/rigs/{RIG}/tokens", json={}))
    admin = created(registry.admin_post("/v1/admin/tokens", json={"production_id": PRODUCTION}))
    with registry.database.read() as session:
        rows = {row.token_id: row for row in session.scalars(sa.select(TokenRow))}
    rig_left = rows[rig["token_id"]].expires_at - now
    admin_left = rows[admin["token_id"]].expires_at - now
    assert timedelta(days=90) - timedelta(minutes=1) < rig_left <= timedelta(days=90) + timedelta(minutes=1)
    assert (
        timedelta(hours=12) - timedelta(minutes=1) < admin_left <= timedelta(hours=12) + timedelta(minutes=1)
    )
    for bad in ("90", "12x", "0d", "-1h", "1000000d", "1.5h"):
        refused = registry.admin_post(f"/v1/admin/rigs/{RIG}/tokens", json={"expires_in": bad})
        assert refused.status_code == 422, (bad, refused.text)
        assert "expires_in" in refused.json()["error"]["message"]


def test_tokens_are_listed_without_secrets_and_revocation_is_enforced(registry: Registry) -> None:
    issued = created(registry.admin_post(f"/v1/admin/rigs/{RIG}/tokens", json={"label": "tablet"}))
    listing = created(
        registry.http.get(registry.url + "/v1/admin/tokens", headers=registry.admin_headers(), timeout=10)
    )
    by_id = {item["token_id"]: item for item in listing["tokens"]}
    item = by_id[issued["token_id"]]
    assert item["kind"] == "rig" and item["rig_id"] == RIG and item["production_id"] == PRODUCTION
    assert item["label"] == "tablet" and item["revoked_at"] is None and item["expires_at"]
    assert sorted(item) == sorted(
        [
            "token_id",
            "kind",
            "role",
            "rig_id",
            "production_id",
            "label",
            "created_at",
            "expires_at",
            "revoked_at",
        ]
    )
    with registry.database.read() as session:
        digests = session.scalars(sa.select(TokenRow.token_sha256)).all()
    text = str(listing)
    assert issued["token"] not in text and not any(digest in text for digest in digests)
    created(registry.admin_post(f"/v1/admin/tokens/{issued['token_id']}/revoke"))
    body = assert_error(registry.get("/v1/revocations", token=issued["token"]), 401, "unauthorized")
    assert "revoked" in body.error.message


# --- 2. roles ------------------------------------------------------------------------------------------


def test_a_production_admin_administers_its_own_production_only(registry: Registry) -> None:
    add_other_production(registry)
    mine = production_admin(registry, PRODUCTION)

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return as_token(registry, mine, method, path, **kwargs)

    granted = created(call("POST", "/v1/admin/consents", json=grant_body(1, consent_id="c-grace-2")))
    assert granted["consent"]["production"]["production_id"] == PRODUCTION
    created(call("POST", "/v1/admin/consents/c-grace-2/suspend", json={"reason": "query"}))
    created(call("POST", "/v1/admin/consents/c-p-minor/revoke", json={"reason": "withdrawn"}))
    created(
        call(
            "POST",
            "/v1/admin/rigs",
            json={"rig_id": "rig-3", "production_id": PRODUCTION, "public_key": new_public_key()},
        )
    )
    created(call("POST", "/v1/admin/rigs/rig-3/keys", json={"public_key": new_public_key()}))
    rig_token = created(call("POST", "/v1/admin/rigs/rig-3/tokens", json={"expires_in": "30d"}))
    created(call("POST", f"/v1/admin/tokens/{rig_token['token_id']}/revoke"))
    created(call("POST", "/v1/admin/badges", json={"production_id": PRODUCTION, "performer_id": "p-grace"}))
    assert call("GET", "/v1/admin/session-records", params={"rig_id": RIG}).status_code == 200
    tokens = created(call("GET", "/v1/admin/tokens"))["tokens"]
    assert tokens and {t["production_id"] for t in tokens} == {PRODUCTION}
    assert {t["rig_id"] for t in tokens if t["kind"] == "rig"} <= {RIG, "rig-3"}

    registry_only = [
        ("POST", "/v1/admin/productions", {"production_id": "p9", "name": "N", "producer": "P"}),
        ("POST", "/v1/admin/performers", {"performer_id": "p-new", "display_name": "New"}),
        ("POST", "/v1/admin/performers/p-ada/templates", {"encodings": [[0.01] * 128]}),
        ("POST", "/v1/admin/keys/rotate", None),
        ("POST", "/v1/admin/tokens", {"production_id": PRODUCTION}),
    ]
    for method, path, body in registry_only:
        refused = assert_error(call(method, path, json=body), 403, "forbidden")
        assert "registry administrator" in refused.error.message, path


def test_production_admin_tokens_are_issued_by_registry_admins_for_existing_productions(
    registry: Registry,
) -> None:
    assert_error(registry.admin_post("/v1/admin/tokens", json={"production_id": "no-film"}), 404, "not_found")
    mine = production_admin(registry, PRODUCTION, expires_in="1h", label="line producer")
    assert as_token(registry, mine, "GET", "/v1/revocations").status_code == 403  # admins are not rigs


# --- 3. foreign ids answer exactly like unknown ones -------------------------------------------------


def same_answer(
    foreign: requests.Response, unknown: requests.Response, foreign_id: str, unknown_id: str
) -> None:
    assert foreign.status_code == unknown.status_code == 404, (foreign.text, unknown.text)
    assert foreign.headers["content-type"] == unknown.headers["content-type"]
    assert foreign.text.replace(foreign_id, "ID") == unknown.text.replace(unknown_id, "ID")


def test_a_rig_cannot_tell_another_productions_consent_from_an_unknown_one(registry: Registry) -> None:
    add_other_production(registry)
    foreign = registry.post("/v1/consents/c-other/confirmations", json=confirmation(consent_id="c-other"))
    unknown = registry.post("/v1/consents/c-nothing/confirmations", json=confirmation(consent_id="c-nothing"))
    same_answer(foreign, unknown, "c-other", "c-nothing")


def test_a_production_admin_cannot_tell_foreign_ids_from_unknown_ones(registry: Registry) -> None:
    add_other_production(registry)
    other_rig_token_id = created(registry.admin_post(f"/v1/admin/rigs/{OTHER_RIG}/tokens", json={}))[
        "token_id"
    ]
    mine = production_admin(registry, PRODUCTION)

    def call(method: str, path: str, **kwargs: Any) -> requests.Response:
        return as_token(registry, mine, method, path, **kwargs)

    key = {"public_key": new_public_key()}
    cases: list[tuple[str, str, str, str, dict[str, Any]]] = [
        # method, path template, foreign id, unknown id, request kwargs
        ("POST", "/v1/admin/consents/{}/revoke", "c-other", "c-nothing", {"json": {"reason": "x"}}),
        ("POST", "/v1/admin/consents/{}/suspend", "c-other", "c-nothing", {"json": {"reason": "x"}}),
        ("POST", "/v1/admin/rigs/{}/keys", OTHER_RIG, "rig-nothing", {"json": key}),
        ("POST", "/v1/admin/rigs/{}/tokens", OTHER_RIG, "rig-nothing", {"json": {}}),
        ("POST", "/v1/admin/tokens/{}/revoke", other_rig_token_id, "tok-0000000000000000", {}),
    ]
    for method, template, foreign_id, unknown_id, kwargs in cases:
        same_answer(
            call(method, template.format(foreign_id), **kwargs),
            call(method, template.format(unknown_id), **kwargs),
            foreign_id,
            unknown_id,
        )
    records = [
        call("GET", "/v1/admin/session-records", params={"rig_id": r}) for r in (OTHER_RIG, "rig-nothing")
    ]
    same_answer(records[0], records[1], OTHER_RIG, "rig-nothing")
    # production ids named in a body: another production answers as an unknown one
    named: list[tuple[str, Callable[[str], dict[str, Any]]]] = [
        ("/v1/admin/consents", lambda p: grant_body(1, consent_id="c-new", production_id=p)),
        ("/v1/admin/rigs", lambda p: {"rig_id": "rig-9", "production_id": p, "public_key": new_public_key()}),
        ("/v1/admin/badges", lambda p: {"production_id": p, "performer_id": "p-ada"}),
    ]
    for path, body in named:
        same_answer(
            call("POST", path, json=body(OTHER)), call("POST", path, json=body("no-film")), OTHER, "no-film"
        )
    # a foreign consent named as 'supersedes' answers like an unknown consent too
    foreign, unknown = (
        call("POST", "/v1/admin/consents", json=grant_body(0, consent_id="c-new", supersedes=old))
        for old in ("c-other", "c-nothing")
    )
    same_answer(foreign, unknown, "c-other", "c-nothing")


# --- 4. failed-authentication bursts are rate-limited per client --------------------------------------


def test_a_burst_of_failed_authentications_gets_429_with_retry_after(registry: Registry) -> None:
    with start_embedded_registry(registry.db_url, initialise_if_needed=False) as server:  # default limits
        http = requests.Session()
        path = server.url + "/v1/revocations"
        answers = [
            http.get(path, headers={"Authorization": f"Bearer sgr_guess{i}"}, timeout=10) for i in range(40)
        ]
        statuses = [a.status_code for a in answers]
        assert 401 in statuses and statuses[-1] == 429, statuses
        limited = answers[-1]
        assert int(limited.headers["retry-after"]) >= 1
        body = assert_error(limited, 429, "too_many_requests")
        assert "failed authentication" in body.error.message
        # even the right token waits out the block from this address: the registry does not look tokens up
        good = http.get(path, headers=registry.rig_headers(), timeout=10)
        assert good.status_code == 429
        server.database.close()


def test_failed_authentication_limit_is_configurable_and_lifts_after_the_block(registry: Registry) -> None:
    with start_embedded_registry(
        registry.db_url,
        initialise_if_needed=False,
        failed_auth_limit=3,
        failed_auth_window_s=60,
        failed_auth_block_s=1,
    ) as server:
        http = requests.Session()
        path = server.url + "/v1/revocations"
        ok = {"Authorization": f"Bearer {registry.seeded.rig_token}"}
        bad = {"Authorization": "Bearer sgr_guess"}
        assert [http.get(path, headers=ok, timeout=10).status_code for _ in range(10)] == [200] * 10
        assert [http.get(path, headers=bad, timeout=10).status_code for _ in range(4)] == [401, 401, 401, 429]
        time.sleep(1.2)
        assert http.get(path, headers=ok, timeout=10).status_code == 200  # successes never count
        server.database.close()
