"""Revocation polling against the real registry: delivery, persistence, failures, key rotation."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence

import pytest

from agent.registry_client.errors import RegistryTimeError, RegistryUnavailableError
from agent.registry_client.poller import RevocationPoller
from agent.wire import Revocation
from tests.registry_client.conftest import LiveRegistry
from tests.registry_client.peers import Fault, TamperingProxy

WAIT = 20.0  # generous upper bound for an event that normally takes milliseconds


def wait_until(predicate: Callable[[], bool]) -> bool:
    """Poll ``predicate`` until true (or WAIT seconds passed); returns its last value."""
    deadline = time.monotonic() + WAIT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Collector:
    """Thread-safe sink for poller callbacks."""

    def __init__(self) -> None:
        self.revoked: queue.Queue[str] = queue.Queue()
        self.untrusted: queue.Queue[str] = queue.Queue()

    def on_revoked(self, items: Sequence[Revocation]) -> None:
        for item in items:
            self.revoked.put(item.consent_id)

    def on_key_untrusted(self, key_id: str) -> None:
        self.untrusted.put(key_id)


def test_poll_once_delivers_new_revocations_and_persists_the_cursor(live: LiveRegistry) -> None:
    sink = Collector()
    with live.client() as client:
        poller = RevocationPoller(client, sink.on_revoked)
        assert poller.poll_once() == []
        live.revoke("c-p-grace")
        live.grant("p-ada", supersedes="c-p-ada", consent_id="c-ada-2")
        delivered = poller.poll_once()
        assert [(r.consent_id, r.status.value) for r in delivered] == [
            ("c-p-grace", "revoked"),
            ("c-p-ada", "superseded"),
        ]
        assert poller.poll_once() == []  # nothing new
        assert poller.revoked_ids() == {"c-p-grace", "c-p-ada"}
        cursor = poller.health().cursor
    with live.client() as client:  # a restart: same cache folder
        restarted = RevocationPoller(client, sink.on_revoked)
        assert restarted.revoked_ids() == {"c-p-grace", "c-p-ada"}
        assert restarted.health().cursor == cursor
        assert restarted.poll_once() == []


def test_feed_is_read_page_by_page(live: LiveRegistry) -> None:
    for consent_id in ("c-p-grace", "c-p-minor", "c-p-noface"):
        live.revoke(consent_id)
    sink = Collector()
    with live.client() as client:
        poller = RevocationPoller(client, sink.on_revoked, page_size=1)
        delivered = poller.poll_once()
    assert [r.consent_id for r in delivered] == ["c-p-grace", "c-p-minor", "c-p-noface"]


def test_thread_delivers_revocations_and_stops_promptly(live: LiveRegistry) -> None:
    sink = Collector()
    with (
        live.client(revocation_poll_interval_s=0.1) as client,
        RevocationPoller(client, sink.on_revoked) as poller,
    ):
        live.revoke("c-p-grace")
        assert sink.revoked.get(timeout=WAIT) == "c-p-grace"
        assert wait_until(lambda: poller.health().ok)
    assert poller._thread is None


def test_failures_are_reported_in_health_and_retried(live: LiveRegistry) -> None:
    sink = Collector()
    with TamperingProxy(live.url) as proxy, live.client(proxy.url, revocation_poll_interval_s=0.1) as client:
        proxy.fault = Fault("status", "/v1/revocations", status=503)
        poller = RevocationPoller(client, sink.on_revoked)
        with pytest.raises(RegistryUnavailableError):
            poller.poll_once()
        poller.start()
        try:
            assert wait_until(lambda: poller.health().consecutive_failures >= 2)
            health = poller.health()
            assert not health.ok
            assert health.last_error is not None and "HTTP 503" in health.last_error
            live.revoke("c-p-grace")
            proxy.fault = None  # the registry comes back
            assert sink.revoked.get(timeout=WAIT) == "c-p-grace"
        finally:
            poller.stop()


def test_a_failing_callback_does_not_lose_the_entry(live: LiveRegistry) -> None:
    calls: list[str] = []

    def flaky(items: Sequence[Revocation]) -> None:
        calls.extend(item.consent_id for item in items)
        if len(calls) == 1:
            raise RuntimeError("controller busy")

    live.revoke("c-p-grace")
    with live.client() as client:
        poller = RevocationPoller(client, flaky)
        with pytest.raises(RuntimeError):
            poller.poll_once()
        assert poller.revoked_ids() == frozenset()
        poller.poll_once()
    assert calls == ["c-p-grace", "c-p-grace"]


def test_rotated_away_key_is_reported(live: LiveRegistry) -> None:
    sink = Collector()
    with live.client(trust_retired_keys=False) as client:
        poller = RevocationPoller(client, sink.on_revoked, on_key_untrusted=sink.on_key_untrusted)
        poller.poll_once()
        assert client.trusted_key_ids() == {live.key_id}
        live.rotate_key()
        with pytest.raises(RegistryTimeError):  # the new active key signs the time; it is not pinned
            poller.poll_once()
        assert sink.untrusted.get_nowait() == live.key_id
        assert client.trusted_key_ids() == frozenset()


def test_retired_but_still_trusted_key_is_not_reported(live: LiveRegistry) -> None:
    sink = Collector()
    with live.client() as client:
        poller = RevocationPoller(client, sink.on_revoked, on_key_untrusted=sink.on_key_untrusted)
        poller.poll_once()
        new_key = live.rotate_key()
        client.settings = client.settings.model_copy(update={"pinned_key_ids": (live.key_id, new_key)})
        poller.poll_once()
    assert sink.untrusted.empty()
