"""Offline copies: used only while the registry is unavailable, re-verified, and refused when stale."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest

from agent.registry_client.errors import RegistryAuthError, RegistryUnavailableError
from agent.registry_client.roster_source import RegistryRosterSource
from agent.session.model import IdentificationMethod
from agent.wire import utc_now
from tests.registry_client.conftest import PRODUCTION, LiveRegistry, lookup_for
from tests.registry_client.peers import Fault, TamperingProxy

FACE = IdentificationMethod.FACE


def consent_file(live: LiveRegistry, performer_id: str = "p-ada") -> Path:
    return live.cache_dir / "consents" / PRODUCTION / f"{performer_id}.json"


def fetch_then_go_offline(live: LiveRegistry, proxy: TamperingProxy, **settings: object) -> None:
    """Look the consent up once online (saving the copy), then make the registry unavailable."""
    with live.client(proxy.url, offline_consents=True, **settings) as client:
        assert lookup_for(client).check("p-ada", {"face"}, FACE).source == "registry"
    proxy.fault = Fault("status", "/v1/", status=503)


@pytest.fixture
def proxy(live: LiveRegistry) -> Iterator[TamperingProxy]:
    with TamperingProxy(live.url) as running:
        yield running


def test_copies_are_off_by_default(live: LiveRegistry, proxy: TamperingProxy) -> None:
    with live.client(proxy.url) as client:
        assert lookup_for(client).check("p-ada", {"face"}, FACE).decision.allowed
        proxy.fault = Fault("status", "/v1/consents", status=503)
        with pytest.raises(RegistryUnavailableError):
            lookup_for(client).check("p-ada", {"face"}, FACE)
    assert not consent_file(live).exists()


def test_fresh_copy_is_used_while_the_registry_is_down_and_says_so(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    fetch_then_go_offline(live, proxy)
    assert stat.S_IMODE(os.stat(consent_file(live)).st_mode) == 0o600
    with live.client(proxy.url, offline_consents=True) as client:
        result = lookup_for(client).check("p-ada", {"face"}, FACE)
    assert result.source == "offline_copy"
    assert result.decision.allowed
    # a new client has measured no registry time: judged on the rig clock, and it says so
    assert [n.code.value for n in result.decision.notices] == ["offline_copy", "clock_not_verified"]


def test_stale_copy_is_refused(live: LiveRegistry, proxy: TamperingProxy) -> None:
    fetch_then_go_offline(live, proxy)
    later = utc_now() + timedelta(minutes=20)
    with live.client(proxy.url, offline_consents=True, max_staleness_s=600) as client:
        result = lookup_for(client).check("p-ada", {"face"}, FACE, now=later)
    assert result.source == "offline_copy"
    assert result.decision.codes == ("cache_stale",)
    assert not result.consent_check().allowed


def test_tampered_copy_is_refused_by_its_signature(live: LiveRegistry, proxy: TamperingProxy) -> None:
    fetch_then_go_offline(live, proxy)
    path = consent_file(live)
    saved = json.loads(path.read_text())
    saved["data"][0]["capture_types"] = ["face", "hands"]
    path.write_text(json.dumps(saved))
    with live.client(proxy.url, offline_consents=True) as client:
        result = lookup_for(client).check("p-ada", {"hands"}, FACE)
    assert result.decision.codes == ("signature_invalid",)


def test_damaged_copy_leaves_the_registry_unavailable(live: LiveRegistry, proxy: TamperingProxy) -> None:
    fetch_then_go_offline(live, proxy)
    consent_file(live).write_text("{not json")
    with (
        live.client(proxy.url, offline_consents=True) as client,
        pytest.raises(RegistryUnavailableError) as caught,
    ):
        lookup_for(client).check("p-ada", {"face"}, FACE)
    assert "offline copy cannot be used" in caught.value.what


def test_auth_errors_never_fall_back_to_the_copy(live: LiveRegistry, proxy: TamperingProxy) -> None:
    fetch_then_go_offline(live, proxy)
    proxy.fault = None
    settings = {"offline_consents": True, "token": "revoked-or-wrong"}
    with live.client(proxy.url, **settings) as client, pytest.raises(RegistryAuthError):
        lookup_for(client).check("p-ada", {"face"}, FACE)


def test_revocation_seen_before_going_offline_refuses_the_copy(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    fetch_then_go_offline(live, proxy)
    with live.client(proxy.url, offline_consents=True) as client:
        result = lookup_for(client, revoked_ids=lambda: frozenset({"c-p-ada"})).check("p-ada", {"face"}, FACE)
    assert result.decision.codes == ("revoked",)


# --- roster: never on disk -----------------------------------------------------------------------


def test_roster_is_never_written_and_a_legacy_roster_folder_is_deleted_at_start(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    legacy = live.cache_dir / "roster"
    (legacy / "nested").mkdir(parents=True)
    (legacy / f"{PRODUCTION}.json").write_text('{"templates": "biometric"}')
    (legacy / "nested" / "left.tmp").write_text("x")
    with live.client(proxy.url, offline_consents=True) as client:
        assert not legacy.exists()  # deleted when the client (its cache) is opened
        roster = RegistryRosterSource(client, PRODUCTION).load_roster()
        assert len(roster) == 3
        proxy.fault = Fault("status", "/v1/productions", status=503)
        with pytest.raises(RegistryUnavailableError):  # no saved roster to fall back on
            RegistryRosterSource(client, PRODUCTION).load_roster()
    assert not legacy.exists()
    saved = [path.read_text() for path in live.cache_dir.rglob("*") if path.is_file()]
    assert saved and not [text for text in saved if "biometric" in text or "encoding" in text]


# --- retention: copies past destroy_by --------------------------------------------------------------


def grant_ending(live: LiveRegistry, performer_id: str, destroy_by: date) -> str:
    live.add_performer(performer_id, "Rita Retained")
    return str(live.grant(performer_id, destroy_by=destroy_by.isoformat())["consent"]["consent_id"])


def test_cached_consents_past_destroy_by_are_deleted_when_the_cache_opens(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    grant_ending(live, "p-ret", utc_now().date())  # still allowed today
    with live.client(proxy.url, offline_consents=True) as client:
        for performer in ("p-ret", "p-ada"):
            assert lookup_for(client).check(performer, {"face"}, FACE).decision.allowed
    assert consent_file(live, "p-ret").exists() and consent_file(live, "p-ada").exists()
    in_two_days = utc_now() + timedelta(days=2)
    with live.client(proxy.url, offline_consents=False, clock=lambda: in_two_days):
        pass  # opening is enough, even with offline consents switched off since
    assert not consent_file(live, "p-ret").exists()
    assert consent_file(live, "p-ada").exists()  # destroy_by years away: kept


def test_an_offline_copy_past_destroy_by_is_never_judged(live: LiveRegistry, proxy: TamperingProxy) -> None:
    grant_ending(live, "p-ret", utc_now().date())
    elapsed = [0.0]
    monotonic = lambda: time.monotonic() + elapsed[0]  # noqa: E731
    with live.client(proxy.url, offline_consents=True, monotonic=monotonic) as client:
        assert lookup_for(client).check("p-ret", {"face"}, FACE).decision.allowed
        proxy.fault = Fault("status", "/v1/", status=503)
        assert lookup_for(client).check("p-ret", {"face"}, FACE).source == "offline_copy"
        # the same running rig, a day later: both clocks moved on
        later = utc_now() + timedelta(days=1, minutes=1)
        elapsed[0] = timedelta(days=1, minutes=1).total_seconds()
        client.clock = lambda: later
        with pytest.raises(RegistryUnavailableError):
            lookup_for(client).check("p-ret", {"face"}, FACE)
    assert not consent_file(live, "p-ret").exists()
