"""The full consent check against a real registry: lookup → signature → policy → Decision."""

from __future__ import annotations

from typing import Any

import pytest

from agent.registry_client.errors import RegistryTimeError
from agent.registry_client.lookup import LookupResult
from agent.session.model import IdentificationMethod
from tests.registry_client.conftest import OTHER_PRODUCTION, PRODUCTION, LiveRegistry, lookup_for
from tests.registry_client.peers import TamperingProxy

FACE = IdentificationMethod.FACE
BADGE = IdentificationMethod.FALLBACK_BADGE_PIN


def check(
    live: LiveRegistry,
    performer_id: str,
    capture_types: set[str] | None = None,
    method: IdentificationMethod = FACE,
    *,
    url: str | None = None,
    pinned_key_ids: tuple[str, ...] | None = None,
    **lookup_kwargs: Any,
) -> LookupResult:
    pins = {"pinned_key_ids": pinned_key_ids} if pinned_key_ids is not None else {}
    with live.client(url, **pins) as client:
        return lookup_for(client, **lookup_kwargs).check(performer_id, capture_types or {"face"}, method)


def assert_refused(result: LookupResult, *codes: str) -> None:
    assert not result.decision.allowed
    assert result.decision.codes == codes, result.decision.explain()
    check = result.consent_check()
    assert not check.allowed
    assert [code for code, _ in check.reasons] == list(codes)


def test_valid_consent_allows_and_gives_the_engine_its_terms(live: LiveRegistry) -> None:
    result = check(live, "p-ada", {"face", "facs_expressions"})
    assert result.decision.allowed, result.decision.explain()
    assert result.source == "registry"
    assert result.consent is not None and result.consent.consent_id == "c-p-ada"
    engine_check = result.consent_check()
    assert engine_check.allowed
    assert engine_check.terms is not None
    assert engine_check.terms.registry_key_id == live.key_id
    assert engine_check.terms.permitted_capture_types == {"face", "facs_expressions"}


def test_revoked_consent_is_refused(live: LiveRegistry) -> None:
    live.revoke("c-p-grace")
    assert_refused(check(live, "p-grace"), "revoked")


def test_revocation_seen_on_the_feed_refuses_even_before_the_record_says_so(live: LiveRegistry) -> None:
    result = check(live, "p-ada", revoked_ids=lambda: frozenset({"c-p-ada"}))
    assert_refused(result, "revoked")


def test_expired_and_not_yet_valid_consents_are_refused(live: LiveRegistry) -> None:
    assert_refused(check(live, "p-gone"), "expired")
    assert_refused(check(live, "p-late"), "not_yet_valid")


def test_capture_type_outside_the_consent_is_refused(live: LiveRegistry) -> None:
    result = check(live, "p-ada", {"face", "hands"})
    assert_refused(result, "capture_type_not_permitted")
    assert "hand scans" in result.decision.reasons[0].message


def test_minor_needs_a_guardian_co_confirmation(live: LiveRegistry) -> None:
    assert_refused(check(live, "p-minor"), "guardian_required")
    with_guardian = check(live, "p-minor", guardian_co_confirmation_available=True)
    assert with_guardian.decision.allowed
    terms = with_guardian.consent_check().terms
    assert terms is not None and terms.minor  # the engine will demand the co-confirmation


def test_no_biometric_consent_requires_the_fallback(live: LiveRegistry) -> None:
    by_face = check(live, "p-noface")
    assert_refused(by_face, "biometric_check_not_consented")
    assert by_face.decision.fallback_required
    assert by_face.consent_check().fallback_required
    assert check(live, "p-noface", method=BADGE).decision.allowed


def test_unknown_performer_has_no_consent(live: LiveRegistry) -> None:
    result = check(live, "p-nobody")
    assert_refused(result, "no_consent")
    assert result.consent is None
    assert result.consent_check().terms is None


def test_consent_for_another_production_is_refused(live: LiveRegistry) -> None:
    """A registry (or something in between) answers with a genuine consent of another production."""

    def ask_other_production(target: str, headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        headers = {**headers, "Authorization": f"Bearer {live.other_rig_token}"}
        return target.replace(f"production_id={PRODUCTION}", f"production_id={OTHER_PRODUCTION}"), headers

    def relabel(path: str, body: Any) -> Any:
        return {**body, "production_id": PRODUCTION} if path == "/v1/consents" else body

    with TamperingProxy(live.url) as proxy:
        proxy.rewrite_request = ask_other_production
        proxy.rewrite_response = relabel
        result = check(live, "p-ada", url=proxy.url)
    assert_refused(result, "production_mismatch")
    assert result.decision.verified_key_id == live.key_id  # genuinely signed, still refused


def test_tampered_record_fails_its_signature(live: LiveRegistry) -> None:
    def widen(path: str, body: Any) -> Any:
        if path == "/v1/consents":
            for record in body["consents"]:
                record["capture_types"] = ["face", "facs_expressions", "full_body", "hands"]
        return body

    with TamperingProxy(live.url) as proxy:
        proxy.rewrite_response = widen
        result = check(live, "p-ada", {"hands"}, url=proxy.url)
    assert_refused(result, "signature_invalid")
    assert result.consent_check().terms is None


def test_consent_signed_by_an_unpinned_key_is_refused(live: LiveRegistry) -> None:
    unpinned = live.rotate_key()
    live.grant("p-grace", supersedes="c-p-grace", consent_id="c-grace-2")
    active = live.rotate_key()  # signs the registry's time; pinned, unlike the consent's key
    with live.client(pinned_key_ids=(live.key_id, active)) as client:
        result = lookup_for(client).check("p-grace", {"face"}, FACE)
        trust = client.refresh_keys()
    assert result.consent is not None and result.consent.consent_id == "c-grace-2"
    assert result.consent.signature.key_id == unpinned
    assert_refused(result, "signature_unknown_key")
    assert unpinned in trust.unpinned


def test_a_registry_signing_with_an_unpinned_active_key_locks_every_lookup(live: LiveRegistry) -> None:
    """The active key signs the registry's time: a rig that does not pin it cannot judge any consent."""
    new_key = live.rotate_key()
    with live.client() as client:
        with pytest.raises(RegistryTimeError) as caught:
            lookup_for(client).check("p-ada", {"face"}, FACE)
        trust = client.refresh_keys()
    assert new_key in caught.value.what
    assert new_key in trust.unpinned
    assert not trust.active_key_pinned


def test_rotation_keeps_older_consents_valid_and_pinning_the_new_key_admits_new_ones(
    live: LiveRegistry,
) -> None:
    new_key = live.rotate_key()
    # signed before the rotation by the (now retired) key: still valid once the new key is pinned
    assert check(live, "p-ada", pinned_key_ids=(live.key_id, new_key)).decision.allowed
    live.grant("p-grace", supersedes="c-p-grace", consent_id="c-grace-2")
    with live.client(pinned_key_ids=(live.key_id, new_key)) as client:
        result = lookup_for(client).check("p-grace", {"face"}, FACE)
    assert result.decision.allowed, result.decision.explain()
    assert result.decision.verified_key_id == new_key


def test_distrusting_retired_keys_refuses_older_consents(live: LiveRegistry) -> None:
    new_key = live.rotate_key()
    with live.client(pinned_key_ids=(live.key_id, new_key), trust_retired_keys=False) as client:
        assert client.trusted_key_ids() == {new_key}
        result = lookup_for(client).check("p-ada", {"face"}, FACE)
    assert_refused(result, "signature_unknown_key")


def test_a_newer_refused_version_does_not_hide_an_allowed_one_and_vice_versa(live: LiveRegistry) -> None:
    live.grant("p-ada", supersedes="c-p-ada", consent_id="c-ada-2", capture_types=["face"])
    result = check(live, "p-ada", {"face"})
    assert result.decision.allowed
    assert result.consent is not None and result.consent.consent_id == "c-ada-2"
    narrowed = check(live, "p-ada", {"facs_expressions"})  # only the superseded v1 permitted it
    assert not narrowed.decision.allowed
    assert narrowed.consent is not None and narrowed.consent.consent_id == "c-ada-2"
    assert narrowed.decision.codes == ("capture_type_not_permitted",)


def test_a_key_pinned_but_not_yet_listed_is_looked_up_again_for_the_same_capture(live: LiveRegistry) -> None:
    with live.client() as client:
        client.key_trust()  # the rig's key trust dates from before the rotation
        new_key = live.rotate_key()
        live.grant("p-grace", supersedes="c-p-grace", consent_id="c-grace-2", capture_types=["face"])
        client.settings = client.settings.model_copy(update={"pinned_key_ids": (live.key_id, new_key)})
        # a one-shot iterable: the second evaluation must still judge 'hands'
        result = lookup_for(client).check("p-grace", iter(["hands"]), FACE)
    assert result.decision.verified_key_id == new_key
    assert result.consent is not None and result.consent.consent_id == "c-grace-2"
    assert_refused(result, "capture_type_not_permitted")
