"""Consent lookup, roster, revocation feed and key rotation, over real HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from agent.signing import BadSignatureError, UnknownKeyError, verify_embedded
from agent.wire import ConsentList, ConsentStatus, KeyList, RevocationFeed, Roster, utc_now
from registry.setup import demo_grant
from tests.registry.conftest import PRODUCTION, SEED_PERFORMERS, Registry
from tests.registry.test_server_basics import assert_error


def consents(registry: Registry, performer_id: str, **params: Any) -> ConsentList:
    response = registry.get(
        "/v1/consents", params={"performer_id": performer_id, "production_id": PRODUCTION, **params}
    )
    assert response.status_code == 200, response.text
    return ConsentList.model_validate(response.json())


def grant_body(performer_index: int, **overrides: Any) -> dict[str, Any]:
    grant = demo_grant(SEED_PERFORMERS[performer_index], PRODUCTION, utc_now())
    return {**grant.model_dump(mode="json"), "consent_id": "c-new", **overrides}


def test_consent_lookup_returns_records_signed_by_a_listed_key(registry: Registry) -> None:
    response = registry.get("/v1/consents", params={"performer_id": "p-ada", "production_id": PRODUCTION})
    raw = response.json()
    listing = ConsentList.model_validate(raw)
    assert [c.consent_id for c in listing.consents] == ["c-p-ada"]
    trusted = registry.trusted_keys()
    verify_embedded(raw["consents"][0], trusted)  # the raw JSON, exactly as received
    record = listing.consents[0]
    assert record.verify(trusted).key_id == registry.seeded.key_id
    assert record.wire_dict() == raw["consents"][0]
    assert record.performer.display_name == "Ada Lovelace"
    assert record.production.production_id == PRODUCTION


def test_unknown_performer_has_no_consents_and_other_productions_are_forbidden(registry: Registry) -> None:
    assert consents(registry, "p-nobody").consents == ()
    other = registry.get("/v1/consents", params={"performer_id": "p-ada", "production_id": "other-film"})
    assert_error(other, 403, "forbidden")
    assert_error(registry.get("/v1/productions/other-film/roster"), 403, "forbidden")
    bad_id = registry.get("/v1/consents", params={"performer_id": "p ada!", "production_id": PRODUCTION})
    assert_error(bad_id, 422, "validation_failed")


def test_roster_lists_only_biometric_consents_and_is_signed(registry: Registry) -> None:
    raw = registry.get(f"/v1/productions/{PRODUCTION}/roster").json()
    roster = Roster.model_validate(raw)
    roster.verify(registry.trusted_keys())
    by_id = {entry.performer_id: entry for entry in roster.entries}
    assert sorted(by_id) == ["p-ada", "p-grace", "p-minor"]  # p-noface refused biometric checks
    assert len(by_id["p-ada"].templates) == 2
    assert by_id["p-ada"].templates[0].encoding == tuple(SEED_PERFORMERS[0].encodings[0])
    tampered = dict(raw, entries=raw["entries"][1:])
    with pytest.raises(BadSignatureError):
        Roster.model_validate(tampered).verify(registry.trusted_keys())


def test_supersede_revoke_and_suspend_feed_the_revocation_feed(registry: Registry) -> None:
    body = grant_body(0, consent_id="c-ada-2", supersedes="c-p-ada", capture_types=["face"])
    granted = registry.admin_post("/v1/admin/consents", json=body)
    assert granted.status_code == 201, granted.text
    listing = consents(registry, "p-ada")
    assert [(c.consent_id, c.version, c.status) for c in listing.consents] == [
        ("c-ada-2", 2, ConsentStatus.ACTIVE),
        ("c-p-ada", 1, ConsentStatus.SUPERSEDED),
    ]
    for record in listing.consents:
        record.verify(registry.trusted_keys())  # status changes are re-signed
    assert consents(registry, "p-ada", status="active").consents[0].consent_id == "c-ada-2"

    revoked = registry.admin_post(
        "/v1/admin/consents/c-p-grace/revoke", json={"reason": "performer withdrew"}
    )
    assert revoked.status_code == 200, revoked.text
    suspended = registry.admin_post("/v1/admin/consents/c-p-minor/suspend", json={"reason": "guardian query"})
    assert suspended.status_code == 200, suspended.text

    feed = RevocationFeed.model_validate(registry.get("/v1/revocations", params={"since": 0}).json())
    assert [(i.consent_id, i.status.value, i.reason) for i in feed.items] == [
        ("c-p-ada", "superseded", "superseded by c-ada-2"),
        ("c-p-grace", "revoked", "performer withdrew"),
        ("c-p-minor", "suspended", "guardian query"),
    ]
    assert not feed.has_more
    page = RevocationFeed.model_validate(
        registry.get("/v1/revocations", params={"since": 0, "limit": 2}).json()
    )
    assert page.has_more and len(page.items) == 2
    rest = RevocationFeed.model_validate(
        registry.get("/v1/revocations", params={"since": page.next_cursor}).json()
    )
    assert [i.consent_id for i in rest.items] == ["c-p-minor"]
    empty = RevocationFeed.model_validate(
        registry.get("/v1/revocations", params={"since": rest.next_cursor}).json()
    )
    assert empty.items == () and empty.next_cursor == rest.next_cursor

    roster = Roster.model_validate(registry.get(f"/v1/productions/{PRODUCTION}/roster").json())
    assert [e.performer_id for e in roster.entries] == ["p-ada"]  # grace revoked, minor suspended

    again = registry.admin_post("/v1/admin/consents/c-p-grace/revoke", json={"reason": "twice"})
    assert_error(again, 409, "conflict")
    resurrect = registry.admin_post(
        "/v1/admin/consents", json=grant_body(1, consent_id="c-x", supersedes="c-p-grace")
    )
    assert_error(resurrect, 409, "conflict")


def test_rotated_key_signs_new_objects_and_old_signatures_still_verify(registry: Registry) -> None:
    old_record = consents(registry, "p-grace").consents[0]
    rotated = registry.admin_post("/v1/admin/keys/rotate")
    assert rotated.status_code == 200, rotated.text
    keys = KeyList.model_validate(registry.http.get(registry.url + "/v1/keys", timeout=10).json())
    assert [k.status.value for k in keys.keys] == ["active", "retired"]
    new_key, old_key = keys.keys
    assert old_key.key_id == registry.seeded.key_id and old_key.retired_at is not None
    trusted = registry.trusted_keys()
    old_record.verify(trusted)
    registry.admin_post("/v1/admin/consents/c-p-grace/revoke", json={"reason": "after rotation"})
    reissued = consents(registry, "p-grace").consents[0]
    assert reissued.signature.key_id == new_key.key_id
    reissued.verify(trusted)
    roster = Roster.model_validate(registry.get(f"/v1/productions/{PRODUCTION}/roster").json())
    assert roster.signature.key_id == new_key.key_id
    with pytest.raises(UnknownKeyError):  # a rig that pinned only the old key refuses new objects
        reissued.verify({old_key.key_id: trusted[old_key.key_id]})
    health = registry.http.get(registry.url + "/v1/health", timeout=10).json()
    assert health["active_key_id"] == new_key.key_id


def test_bad_admin_grants_are_refused_and_change_nothing(registry: Registry) -> None:
    before = registry.snapshot()
    cases = [
        (grant_body(0, performer_id="p-nobody"), 404, "unknown performer 'p-nobody'"),
        (grant_body(0, production_id="no-film"), 404, "unknown production 'no-film'"),
        (grant_body(0, consent_id="c-p-grace"), 409, "consent 'c-p-grace' already exists"),
        (grant_body(0, supersedes="c-p-grace"), 422, "belongs to another performer or production"),
        (grant_body(0, minor=True), 422, "guardian must be given exactly when minor is true"),
        (grant_body(0, valid_until="2000-01-01T00:00:00Z"), 422, "valid_until must be after valid_from"),
        ({**grant_body(0), "ai_training": True}, 422, "unknown member"),
    ]
    for body, status, message in cases:
        response = registry.admin_post("/v1/admin/consents", json=body)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"]
    assert registry.snapshot() == before
