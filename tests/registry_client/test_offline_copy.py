"""Offline copies: used only while the registry is unavailable, re-verified, and refused when stale."""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from agent.registry_client.errors import RegistryAuthError, RegistryUnavailableError
from agent.registry_client.roster_source import RegistryRosterSource
from agent.session.model import IdentificationMethod
from agent.signing import BadSignatureError
from agent.wire import format_utc, utc_now
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


# --- roster ----------------------------------------------------------------------------------------


def test_roster_is_not_written_to_disk_by_default_and_old_copies_are_purged(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    stale_copy = live.cache_dir / "roster" / f"{PRODUCTION}.json"
    stale_copy.parent.mkdir(parents=True)
    stale_copy.write_text("{}")
    with live.client(proxy.url) as client:
        roster = RegistryRosterSource(client, PRODUCTION).load_roster()
        assert len(roster) == 3
        proxy.fault = Fault("status", "/v1/productions", status=503)
        with pytest.raises(RegistryUnavailableError):
            RegistryRosterSource(client, PRODUCTION).load_roster()
    assert not stale_copy.exists()
    assert not list(live.cache_dir.rglob("roster/*.json"))


def test_roster_copy_when_enabled_is_used_offline_and_verified(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    with live.client(proxy.url, cache_roster=True) as client:
        online = RegistryRosterSource(client, PRODUCTION).load_roster()
        proxy.fault = Fault("status", "/v1/productions", status=503)
        offline = RegistryRosterSource(client, PRODUCTION).load_roster()
    assert [p.performer_id for p in offline.performers] == [p.performer_id for p in online.performers]
    path = live.cache_dir / "roster" / f"{PRODUCTION}.json"
    saved = json.loads(path.read_text())
    saved["data"]["entries"] = saved["data"]["entries"][:1]  # drop performers from the signed roster
    path.write_text(json.dumps(saved))
    with live.client(proxy.url, cache_roster=True) as client, pytest.raises(BadSignatureError):
        RegistryRosterSource(client, PRODUCTION).load_roster()


def test_stale_roster_copy_is_refused_by_its_signed_time(live: LiveRegistry, proxy: TamperingProxy) -> None:
    with live.client(proxy.url, cache_roster=True) as client:
        RegistryRosterSource(client, PRODUCTION).load_roster()
    proxy.fault = Fault("status", "/v1/productions", status=503)
    path = live.cache_dir / "roster" / f"{PRODUCTION}.json"
    saved = json.loads(path.read_text())
    saved["fetched_at"] = format_utc(utc_now() + timedelta(days=1))  # the unsigned time is ignored
    path.write_text(json.dumps(saved))
    later = utc_now() + timedelta(hours=1)
    with live.client(proxy.url, cache_roster=True, max_staleness_s=600) as client:
        client.clock = lambda: later
        with pytest.raises(RegistryUnavailableError, match="too old"):
            RegistryRosterSource(client, PRODUCTION).load_roster()


def test_saved_roster_age_is_judged_on_registry_time_not_the_rig_clock(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    """The rig clock stands still (or was turned back); the monotonic clock says 599.5 s went by."""
    elapsed = [0.0]
    frozen = utc_now() + timedelta(seconds=5)  # by the rig clock the roster stays 5 s old
    settings: dict[str, object] = {"cache_roster": True, "max_staleness_s": 600}
    monotonic = lambda: time.monotonic() + elapsed[0]  # noqa: E731
    with live.client(proxy.url, clock=lambda: frozen, monotonic=monotonic, **settings) as client:
        RegistryRosterSource(client, PRODUCTION).load_roster()
        time.sleep(1.0)
        client.measure_clock()  # as the poller does: registry time measured after the roster came
        proxy.fault = Fault("status", "/v1/productions", status=503)
        elapsed[0] = 599.5  # the measurement is still usable; the roster is > 600 s old
        with pytest.raises(RegistryUnavailableError, match="too old"):
            RegistryRosterSource(client, PRODUCTION).load_roster()
