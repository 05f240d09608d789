"""Consent is judged on registry time: a real registry states its time, the rig measures its offset.

The rig's wall clock is injected (48 h slow, 72 h fast, ...); the registry runs on
the machine's real clock, as a registry with NTP would.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from agent.registry_client.errors import RegistryProtocolError, RegistryTimeError
from agent.registry_client.lookup import LookupResult
from agent.registry_client.poller import RevocationPoller
from agent.session.model import IdentificationMethod
from agent.wire import format_utc, utc_now
from tests.registry_client.conftest import LiveRegistry, lookup_for
from tests.registry_client.peers import Fault, TamperingProxy

FACE = IdentificationMethod.FACE
HOUR = timedelta(hours=1)


def skewed(by: timedelta) -> Callable[[], datetime]:
    """A rig wall clock that is ``by`` ahead of real time (negative: behind)."""
    return lambda: utc_now() + by


def check(live: LiveRegistry, performer_id: str, *, clock_skew: timedelta, **settings: Any) -> LookupResult:
    with live.client(clock=skewed(clock_skew), **settings) as client:
        return lookup_for(client).check(performer_id, {"face"}, FACE)


@pytest.fixture
def proxy(live: LiveRegistry) -> Iterator[TamperingProxy]:
    with TamperingProxy(live.url) as running:
        yield running


def grant_expired_an_hour_ago(live: LiveRegistry) -> None:
    now = utc_now()
    live.add_performer("p-lapsed", "Lapsed")
    live.grant(
        "p-lapsed",
        valid_from=format_utc(now - 9 * 24 * HOUR),
        valid_until=format_utc(now - HOUR),
        notice_given_at=format_utc(now - 10 * 24 * HOUR),
    )


def grant_with_notice_given_now(live: LiveRegistry) -> None:
    now = utc_now()
    live.add_performer("p-notice", "Told Just Now")
    live.grant(
        "p-notice",
        valid_from=format_utc(now - 24 * HOUR),
        valid_until=format_utc(now + 30 * 24 * HOUR),
        notice_given_at=format_utc(now),
        notice_hours=48,
    )


# --- the finding: the rig's clock decided consent windows ------------------------------------------


def test_rig_clock_48h_slow_refuses_an_expired_consent_with_clock_skew(live: LiveRegistry) -> None:
    grant_expired_an_hour_ago(live)
    result = check(live, "p-lapsed", clock_skew=-48 * HOUR)
    assert not result.decision.allowed
    assert not result.consent_check().allowed
    assert result.decision.codes == ("clock_skew", "expired")  # expired on registry time
    message = result.decision.reasons[0].message
    assert "behind" in message and "60 seconds" in message and "NTP" in message
    assert result.clock is not None
    assert result.clock.source == "registry"
    assert result.clock.offset_s == pytest.approx(48 * 3600, abs=2)


def test_rig_clock_72h_fast_judges_the_notice_period_on_registry_time(live: LiveRegistry) -> None:
    grant_with_notice_given_now(live)
    result = check(live, "p-notice", clock_skew=72 * HOUR)
    assert not result.decision.allowed
    assert result.decision.codes == ("clock_skew", "notice_too_short")
    assert "ahead" in result.decision.reasons[0].message
    assert result.clock is not None and result.clock.offset_s == pytest.approx(-72 * 3600, abs=2)


def test_a_skew_within_the_limit_is_corrected_not_refused(live: LiveRegistry) -> None:
    grant_expired_an_hour_ago(live)
    grant_with_notice_given_now(live)
    limit = {"max_clock_skew_s": 3600.0}
    # 50 minutes slow: the rig clock says the consent is still valid, registry time says expired
    late = check(live, "p-lapsed", clock_skew=-50 * timedelta(minutes=1), **limit)
    assert late.decision.codes == ("expired",)
    assert late.clock is not None and late.clock.offset_s == pytest.approx(3000, abs=2)
    allowed = check(live, "p-ada", clock_skew=-50 * timedelta(minutes=1), **limit)
    assert allowed.decision.allowed, allowed.decision.explain()
    assert allowed.judged_at == pytest.approx(utc_now(), abs=timedelta(seconds=5))


def test_the_engine_times_the_consent_window_on_registry_time(live: LiveRegistry) -> None:
    """The engine re-locks at the end of the consent window by the rig clock it runs on; the
    window it gets must be the registry-time window moved onto that clock, with the offset and
    source of the answer."""
    slow = -50 * timedelta(seconds=1)  # within the default 60 s limit
    result = check(live, "p-ada", clock_skew=slow)
    assert result.decision.allowed, result.decision.explain()
    engine = result.consent_check()
    assert result.consent is not None and engine.terms is not None and result.clock is not None
    margin = timedelta(seconds=result.clock.uncertainty_s)  # the earliest the window may end
    assert engine.terms.valid_until == result.consent.valid_until - result.clock.offset - margin
    assert engine.terms.valid_until == pytest.approx(
        result.consent.valid_until + slow, abs=timedelta(seconds=2)
    )
    assert engine.clock == result.clock
    assert engine.source == "registry"


def test_a_correct_rig_clock_is_measured_and_allowed(live: LiveRegistry) -> None:
    result = check(live, "p-ada", clock_skew=timedelta(0))
    assert result.decision.allowed, result.decision.explain()
    reading = result.clock
    assert reading is not None
    assert reading.source == "registry"
    assert abs(reading.offset_s) < 1.0
    assert 0 < reading.rtt_s < 5 and reading.uncertainty_s == reading.rtt_s / 2
    assert reading.registry_key_id == live.key_id
    assert reading.age_s == 0
    assert result.time_statement is not None
    assert result.time_statement.registry_time == reading.measured_at


def test_time_endpoint_measures_the_offset(live: LiveRegistry) -> None:
    with live.client(clock=skewed(-48 * HOUR)) as client:
        reading = client.measure_clock()
        assert client.last_clock_reading() is not None
    assert reading.source == "registry"
    assert reading.offset_s == pytest.approx(48 * 3600, abs=2)


def test_poller_measures_the_clock_on_every_poll(live: LiveRegistry) -> None:
    with live.client(clock=skewed(HOUR)) as client:
        assert client.last_clock_reading() is None
        RevocationPoller(client, lambda _items: None).poll_once()
        reading = client.last_clock_reading()
    assert reading is not None and reading.offset_s == pytest.approx(-3600, abs=2)


# --- a statement the rig cannot trust is a protocol error (fail closed) ---------------------------------


def rewrite_statement(proxy: TamperingProxy, change: Callable[[dict[str, Any]], None]) -> None:
    def rewrite(path: str, body: Any) -> Any:
        if path in ("/v1/consents", "/v1/time"):
            change(body["time_statement"] if path == "/v1/consents" else body)
        return body

    proxy.rewrite_response = rewrite


def lookup_through(live: LiveRegistry, proxy: TamperingProxy) -> LookupResult:
    with live.client(proxy.url) as client:
        return lookup_for(client).check("p-ada", {"face"}, FACE)


def test_a_time_statement_moved_in_time_fails_its_signature(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    def move(statement: dict[str, Any]) -> None:
        moved = datetime.fromisoformat(statement["registry_time"]) - 48 * HOUR
        statement["registry_time"] = format_utc(moved)

    rewrite_statement(proxy, move)
    with pytest.raises(RegistryTimeError) as caught:
        lookup_through(live, proxy)
    assert "signature" in caught.value.what
    assert isinstance(caught.value, RegistryProtocolError)


def test_a_replayed_time_statement_is_refused(live: LiveRegistry, proxy: TamperingProxy) -> None:
    recorded: list[dict[str, Any]] = []

    def replay(statement: dict[str, Any]) -> None:
        if recorded:
            statement.clear()
            statement.update(recorded[0])
        else:
            recorded.append(dict(statement))

    rewrite_statement(proxy, replay)
    assert lookup_through(live, proxy).decision.allowed  # the first answer is genuine
    with pytest.raises(RegistryTimeError) as caught:
        lookup_through(live, proxy)
    assert "nonce" in caught.value.what


def test_an_unsigned_time_statement_is_refused(live: LiveRegistry, proxy: TamperingProxy) -> None:
    rewrite_statement(proxy, lambda statement: statement.pop("signature"))
    with pytest.raises(RegistryProtocolError):
        lookup_through(live, proxy)
    with live.client(proxy.url) as client, pytest.raises(RegistryProtocolError):
        client.measure_clock()


def test_an_answer_without_a_time_statement_is_refused(live: LiveRegistry, proxy: TamperingProxy) -> None:
    """What a registry that predates registry time would answer."""

    def strip(path: str, body: Any) -> Any:
        if path == "/v1/consents":
            body.pop("time_statement")
        return body

    proxy.rewrite_response = strip
    with pytest.raises(RegistryTimeError) as caught:
        lookup_through(live, proxy)
    assert "time" in caught.value.what


def test_a_time_statement_signed_by_an_unpinned_key_is_refused(live: LiveRegistry) -> None:
    new_key = live.rotate_key()
    with live.client() as client, pytest.raises(RegistryTimeError) as caught:
        lookup_for(client).check("p-ada", {"face"}, FACE)
    assert new_key in caught.value.what
    assert "pinned_key_ids" in (caught.value.hint or "")


# --- offline: the last measured offset, carried forward on the monotonic clock -----------------------


def fetch_then_go_offline(client_proxy: TamperingProxy, live: LiveRegistry, **kwargs: Any) -> Any:
    client = live.client(client_proxy.url, offline_consents=True, **kwargs)
    assert lookup_for(client).check("p-ada", {"face"}, FACE).source == "registry"
    client_proxy.fault = Fault("status", "/v1/", status=503)
    return client


def test_offline_copy_is_judged_on_the_last_measured_registry_time(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    with fetch_then_go_offline(proxy, live, clock=skewed(-20 * timedelta(seconds=1))) as client:
        result = lookup_for(client).check("p-ada", {"face"}, FACE)
    assert result.source == "offline_copy"
    assert result.decision.allowed, result.decision.explain()
    assert result.clock is not None and result.clock.source == "offline_last_known"
    assert result.clock.offset_s == pytest.approx(20, abs=2)
    assert "offline_clock" in [n.code.value for n in result.decision.notices]


def test_offline_copy_with_a_slow_rig_clock_is_still_refused(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    with fetch_then_go_offline(proxy, live, clock=skewed(-48 * HOUR)) as client:
        remembered = lookup_for(client).check("p-ada", {"face"}, FACE)
    assert remembered.source == "offline_copy"
    assert remembered.decision.codes == ("clock_skew",)
    # a rig restarted while offline has no measurement: the copy's fetch time is registry time,
    # so on a clock 48 h slow the copy looks as if it came from the future
    with live.client(proxy.url, offline_consents=True, clock=skewed(-48 * HOUR)) as restarted:
        fresh_start = lookup_for(restarted).check("p-ada", {"face"}, FACE)
    assert fresh_start.clock is None
    assert "cache_stale" in fresh_start.decision.codes


def test_rig_clock_set_back_after_the_measurement_is_caught_offline(
    live: LiveRegistry, proxy: TamperingProxy
) -> None:
    skew = [timedelta(0)]
    with fetch_then_go_offline(proxy, live, clock=lambda: utc_now() + skew[0]) as client:
        skew[0] = -48 * HOUR  # someone turns the rig clock back while the registry is unreachable
        result = lookup_for(client).check("p-ada", {"face"}, FACE)
    assert result.clock is not None and result.clock.source == "offline_last_known"
    assert result.clock.offset_s == pytest.approx(48 * 3600, abs=2)
    assert "clock_skew" in result.decision.codes


def test_an_old_measurement_is_not_carried_forward(live: LiveRegistry, proxy: TamperingProxy) -> None:
    ticks = itertools.count()
    elapsed = [0.0]

    def monotonic() -> float:
        return next(ticks) * 1e-3 + elapsed[0]

    with fetch_then_go_offline(proxy, live, monotonic=monotonic, max_staleness_s=600) as client:
        elapsed[0] = 601.0  # the measurement is older than anything offline may rely on
        result = lookup_for(client).check("p-ada", {"face"}, FACE)
        assert client.last_clock_reading() is None
    assert result.clock is None
    assert result.decision.allowed  # the rig clock is right here; the existing offline rules apply
    assert "clock_not_verified" in [n.code.value for n in result.decision.notices]
