"""Revocation polling: a thread that follows GET /v1/revocations and reports revoked consents.

Every ``revocation_poll_interval_s`` the poller reads the feed from its
cursor (all pages), hands the new entries to ``on_revoked`` (the controller
turns each into a ``ConsentRevoked`` event) and saves the cursor together with
every revoked id, so a restart neither re-reads the whole feed nor forgets a
revocation. It also refreshes the registry keys and reports pinned keys that
stopped being trusted to ``on_key_untrusted`` (→ ``RegistryKeyUntrusted``),
and measures the rig clock against the registry's signed time
(``GET /v1/time``), so an offline decision has a recent offset to carry forward
and the health panel can show it.

Failures never stop the thread: they are logged, counted in :meth:`health`
and retried with a backoff (1 s doubling, at most the poll interval).
:meth:`stop` returns promptly; a request in flight finishes within the
client's timeouts.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from agent.consent import ClockReading
from agent.errors import ScanGateError
from agent.registry_client.cache import OfflineCacheError, RevocationState
from agent.registry_client.client import REVOCATION_PAGE, RegistryClient
from agent.registry_client.trust import KeyTrust, untrusted_since
from agent.wire import Revocation

log = logging.getLogger(__name__)

MAX_PAGES_PER_POLL = 100
FIRST_RETRY_S = 1.0


@dataclass(frozen=True)
class PollerHealth:
    """How the revocation poller is doing (shown as 'registry' health on the technician screen)."""

    ok: bool
    cursor: int
    revoked_count: int
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None
    clock: ClockReading | None = None
    """The last clock measurement carried forward to now (None: none recent)."""


class RevocationPoller:
    """Polls the revocation feed in a daemon thread; see the module docstring."""

    def __init__(
        self,
        client: RegistryClient,
        on_revoked: Callable[[Sequence[Revocation]], None],
        *,
        on_key_untrusted: Callable[[str], None] | None = None,
        interval_s: float | None = None,
        page_size: int = REVOCATION_PAGE,
    ) -> None:
        self.client = client
        self.on_revoked = on_revoked
        self.on_key_untrusted = on_key_untrusted
        self.page_size = page_size
        self.interval_s = interval_s if interval_s is not None else client.settings.revocation_poll_interval_s
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._state = self._load_state()
        self._trust: KeyTrust | None = None
        self._last_success: datetime | None = None
        self._failures = 0
        self._last_error: str | None = None

    def _load_state(self) -> RevocationState:
        try:
            return self.client.cache.load_revocations()
        except OfflineCacheError as exc:
            log.warning("%s; reading the revocation feed from the start", exc)
            return RevocationState()

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start polling (the first poll happens at once)."""
        if self._thread is not None:
            raise RuntimeError("the revocation poller is already running")
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="scangate-revocations", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop polling and wait (at most ``timeout`` seconds) for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> RevocationPoller:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- queries ----------------------------------------------------------------------------------

    def revoked_ids(self) -> frozenset[str]:
        """Every consent id the feed has named so far (give this to ConsentLookup)."""
        with self._lock:
            return frozenset(self._state.revoked)

    def health(self) -> PollerHealth:
        """The poller's current health."""
        with self._lock:
            return PollerHealth(
                ok=self._failures == 0 and self._last_success is not None,
                cursor=self._state.cursor,
                revoked_count=len(self._state.revoked),
                last_success_at=self._last_success,
                consecutive_failures=self._failures,
                last_error=self._last_error,
                clock=self.client.last_clock_reading(),
            )

    # --- polling ----------------------------------------------------------------------------------

    def poll_once(self) -> list[Revocation]:
        """Read the feed up to its end, deliver and persist new entries; returns them.

        Then refreshes the keys and measures the clock offset.

        Raises:
            ScanGateError: the registry could not be read (nothing is lost: the
                cursor only advances past entries that were delivered), or its
                time statement was not verifiable (RegistryTimeError).
        """
        delivered: list[Revocation] = []
        for _ in range(MAX_PAGES_PER_POLL):
            with self._lock:
                cursor = self._state.cursor
            feed = self.client.revocations(cursor, self.page_size)
            if feed.items:
                self.on_revoked(feed.items)
                delivered.extend(feed.items)
            with self._lock:
                revoked = dict(self._state.revoked)
                revoked.update({item.consent_id: item.revoked_at for item in feed.items})
                self._state = RevocationState(cursor=feed.next_cursor, revoked=revoked)
                state = self._state
            if feed.items:
                self._save(state)
            if not feed.has_more:
                break
        self._check_keys()
        self.client.measure_clock()
        return delivered

    def _save(self, state: RevocationState) -> None:
        try:
            self.client.cache.save_revocations(state, self.client.clock())
        except (OSError, OfflineCacheError) as exc:
            log.warning("could not save the revocation feed position: %s", exc)

    def _check_keys(self) -> None:
        trust = self.client.refresh_keys()
        lost = untrusted_since(self._trust, trust)
        self._trust = trust
        if self.on_key_untrusted is not None:
            for key_id in sorted(lost):
                self.on_key_untrusted(key_id)

    def _run(self) -> None:
        wait = 0.0
        while not self._stop.wait(wait):
            try:
                self.poll_once()
            except Exception as exc:  # the thread must survive any failure
                text = exc.message() if isinstance(exc, ScanGateError) else f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self._failures += 1
                    self._last_error = text
                    failures = self._failures
                log.warning("revocation poll failed (%d in a row): %s", failures, text)
                wait = min(self.interval_s, FIRST_RETRY_S * 2 ** (failures - 1))
                continue
            with self._lock:
                self._failures = 0
                self._last_error = None
                self._last_success = self.client.clock()
            wait = self.interval_s
