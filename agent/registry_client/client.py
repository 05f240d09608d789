"""The registry client: typed calls to the consent registry (protocol scangate.registry/1).

``RegistryClient(settings)`` holds one requests.Session (see
:mod:`agent.registry_client.transport` for timeouts, retries and size limits)
and the key trust resolved from the pinned key ids. Every answer is validated
against the wire schema; signed objects are verified against pinned keys only
(the consent policy verifies consent records itself, so that rule can never be
skipped; :meth:`RegistryClient.roster` verifies the roster).

Registry time: consent lookups (:meth:`RegistryClient.timed_consents`) and
:meth:`RegistryClient.measure_clock` send a fresh nonce, verify the registry's
signed time statement and measure the rig clock's offset from it (see
:mod:`agent.registry_client.clock`); the last measurement is kept for offline
decisions (:meth:`RegistryClient.last_clock_reading`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

import requests

from agent.consent import ClockReading
from agent.registry_client.cache import OfflineCache, OfflineCacheError
from agent.registry_client.clock import (
    ClockKeeper,
    ClockMeasurement,
    measurement_from,
    new_nonce,
    verify_time_statement,
)
from agent.registry_client.errors import RegistryProtocolError, RegistryUnavailableError
from agent.registry_client.settings import RegistrySettings
from agent.registry_client.transport import Transport
from agent.registry_client.trust import KeyTrust, public_keys, resolve_pinned
from agent.signing import SignatureError
from agent.wire import (
    Confirmation,
    ConfirmationReceipt,
    ConsentList,
    Health,
    KeyList,
    RevocationFeed,
    Roster,
    TimeStatement,
    utc_now,
)
from agent.wire.provenance import RigCertificate

log = logging.getLogger(__name__)

REVOCATION_PAGE = 500


class RegistryClient:
    """Talks to one consent registry for one rig.

    Thread-safe: the controller, the revocation poller and the roster loader
    may share one client.

    Raises (from every call):
        RegistryUnavailableError: down, timed out, HTTP 5xx/408/429 (retry later).
        RegistryAuthError: HTTP 401/403 (re-provision the rig token / fix production_id).
        RegistryProtocolError: not JSON, schema violation, oversized or unexpected answer.
        RegistryTLSError: the registry's certificate could not be verified.
    """

    def __init__(
        self,
        settings: RegistrySettings,
        session: requests.Session | None = None,
        *,
        cache: OfflineCache | None = None,
        clock: Callable[[], datetime] = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create the client (no request is made yet).

        Args:
            settings: the ``[registry]`` settings.
            session: a requests.Session to use (tests); a new one by default.
            cache: the offline cache; by default the one under ``settings.cache_dir``.
            clock: the rig's wall clock (UTC). It is measured against registry time and never
                trusted alone for consent decisions; inject a skewed one to rehearse clock faults.
            monotonic: the rig's monotonic clock (round trips, age of the last measurement).
        """
        self.settings = settings
        self.transport = Transport(settings, session)
        self.clock = clock
        self.cache = cache or OfflineCache(
            settings.cache_dir, consents=settings.offline_consents, now=clock()
        )
        self.monotonic = monotonic
        self._clock_keeper = ClockKeeper(monotonic)
        self._lock = threading.Lock()
        self._trust: KeyTrust | None = None
        self._trust_loaded_at = 0.0

    def close(self) -> None:
        """Close the HTTP session."""
        self.transport.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # --- public endpoints -------------------------------------------------------------------------

    def health(self) -> Health:
        """GET /v1/health."""
        return self.transport.get(Health, "/v1/health", authenticated=False)

    def key_list(self) -> KeyList:
        """GET /v1/keys (unverified; see :meth:`key_trust` for what this rig trusts)."""
        return self.transport.get(KeyList, "/v1/keys", authenticated=False)

    # --- key trust --------------------------------------------------------------------------------

    def refresh_keys(self) -> KeyTrust:
        """Fetch the key list now and resolve the pinned key ids against it.

        When the registry is unavailable the saved key list is used instead (a
        key list cannot widen trust: only pinned ids count, and each id is
        recomputed from its public key). Raises RegistryUnavailableError when
        there is no saved list either.
        """
        where = f"GET {self.transport.base_url}/v1/keys"
        try:
            key_list = self.key_list()
            fetched_at = self.clock()
            try:
                self.cache.save_keys(key_list, fetched_at)
            except (OSError, OfflineCacheError) as exc:
                log.warning("could not save the registry key list: %s", exc)
        except RegistryUnavailableError as exc:
            saved = self._saved_keys()
            if saved is None:
                raise
            log.warning("registry unavailable (%s); using the saved key list", exc.what)
            key_list = saved
        trust = resolve_pinned(
            key_list,
            self.settings.pinned_key_ids,
            trust_retired_keys=self.settings.trust_retired_keys,
            where=where,
        )
        with self._lock:
            self._trust = trust
            self._trust_loaded_at = time.monotonic()
        if trust.missing:
            log.warning("pinned registry keys not listed by the registry: %s", sorted(trust.missing))
        if trust.active_key_id is not None and not trust.active_key_pinned:
            log.warning(
                "the registry signs with key %s, which this rig does not pin: new consents will be refused",
                trust.active_key_id,
            )
        return trust

    def _saved_keys(self) -> KeyList | None:
        try:
            saved = self.cache.load_keys()
        except OfflineCacheError as exc:
            log.warning("saved key list unusable: %s", exc)
            return None
        return saved[0] if saved else None

    def key_trust(self, *, max_age_s: float | None = None) -> KeyTrust:
        """The current key trust, refreshed when older than ``max_age_s`` (default: keys_refresh_s)."""
        limit = self.settings.keys_refresh_s if max_age_s is None else max_age_s
        with self._lock:
            trust, loaded_at = self._trust, self._trust_loaded_at
        if trust is not None and time.monotonic() - loaded_at < limit:
            return trust
        return self.refresh_keys()

    def trusted_key_ids(self) -> frozenset[str]:
        """Ids of the registry keys trusted right now (pinned, listed, not excluded as retired).

        The controller compares successive answers and emits ``RegistryKeyUntrusted``
        for a key id that disappears (see trust.untrusted_since).
        """
        return self.key_trust().key_ids

    # --- rig endpoints ----------------------------------------------------------------------------

    def consents(self, performer_id: str, production_id: str) -> ConsentList:
        """GET /v1/consents: every signed record of a performer for a production (not yet verified).

        The registry's time is measured with it (see :meth:`timed_consents`).
        """
        return self.timed_consents(performer_id, production_id)[0]

    def timed_consents(self, performer_id: str, production_id: str) -> tuple[ConsentList, ClockMeasurement]:
        """GET /v1/consents with a nonce: the records and the clock measurement of this very answer.

        Raises (besides the usual):
            RegistryTimeError: the answer's time statement is missing, for another nonce or not
                verifiable against the trusted keys.
        """
        path = "/v1/consents"
        where = f"GET {self.transport.base_url}{path}"
        nonce = new_nonce()
        params = {"performer_id": performer_id, "production_id": production_id, "nonce": nonce}
        sent_at, sent_monotonic = self.clock(), self.monotonic()
        listing = self.transport.get(ConsentList, path, params)
        received_monotonic = self.monotonic()
        if (listing.performer_id, listing.production_id) != (performer_id, production_id):
            raise RegistryProtocolError(
                f"asked for performer {performer_id!r} in production {production_id!r}, the registry"
                f" answered about {listing.performer_id!r} in {listing.production_id!r}",
                where=where,
            )
        measurement = self._measurement(
            listing.time_statement, nonce, sent_at, sent_monotonic, received_monotonic, where
        )
        return listing, measurement

    # --- registry time ----------------------------------------------------------------------------

    def measure_clock(self) -> ClockReading:
        """GET /v1/time: measure this rig clock's offset from the registry's signed time now.

        Raises (besides the usual):
            RegistryTimeError: the statement is for another nonce or not verifiable.
        """
        path = "/v1/time"
        nonce = new_nonce()
        sent_at, sent_monotonic = self.clock(), self.monotonic()
        statement = self.transport.get(TimeStatement, path, {"nonce": nonce})
        received_monotonic = self.monotonic()
        where = f"GET {self.transport.base_url}{path}"
        return self._measurement(statement, nonce, sent_at, sent_monotonic, received_monotonic, where).reading

    def last_clock_reading(self, now: datetime | None = None) -> ClockReading | None:
        """The last measurement carried forward to ``now`` (rig clock; default: the clock now).

        Source ``offline_last_known``; None when nothing was measured by this client, or the
        measurement is older than ``max_staleness_s`` (what the offline rules rely on at most).
        """
        rig_now = self.clock() if now is None else now
        return self._clock_keeper.carried_forward(rig_now, self.settings.max_staleness_s)

    def _measurement(
        self,
        statement: TimeStatement | None,
        nonce: str,
        sent_at: datetime,
        sent_monotonic: float,
        received_monotonic: float,
        where: str,
    ) -> ClockMeasurement:
        trust = self.key_trust()
        if (
            statement is not None
            and statement.signature.key_id not in trust.keys
            and statement.signature.key_id in self.settings.pinned_key_ids
        ):
            trust = self.refresh_keys()  # a pinned key this rig has not seen listed yet (just rotated in)
        key_id = verify_time_statement(statement, nonce, trust, where=where)
        assert statement is not None  # verify_time_statement refuses None
        measurement = measurement_from(
            statement,
            key_id=key_id,
            sent_at=sent_at,
            sent_monotonic=sent_monotonic,
            received_monotonic=received_monotonic,
        )
        self._clock_keeper.record(measurement)
        return measurement

    def roster(self, production_id: str) -> Roster:
        """GET /v1/productions/{id}/roster, verified against the pinned keys.

        Raises:
            agent.signing.SignatureError: unpinned key or bad signature (refuse the roster).
            RegistryProtocolError: the roster is for another production.
        """
        path = f"/v1/productions/{production_id}/roster"
        roster = self.transport.get(Roster, path, max_bytes=self.settings.max_roster_bytes)
        self.verify_roster(roster, production_id, where=f"GET {self.transport.base_url}{path}")
        return roster

    def verify_roster(self, roster: Roster, production_id: str, *, where: str) -> None:
        """Check a roster's signature (pinned keys) and production; raises SignatureError/ProtocolError."""
        trust = self.key_trust()
        try:
            signature = roster.verify(public_keys(trust.keys))
        except SignatureError as exc:
            raise type(exc)(exc.what, where=where, hint=exc.hint) from None
        retired_at = trust.keys[signature.key_id].retired_at
        if retired_at is not None and roster.generated_at > retired_at:
            raise SignatureError(
                f"the roster is dated after its signing key {signature.key_id} was retired",
                where=where,
                hint="refresh the registry's keys; a retired key signing new rosters is a sign of key theft",
            )
        if roster.production_id != production_id:
            raise RegistryProtocolError(
                f"asked for the roster of {production_id!r}, got the roster of {roster.production_id!r}",
                where=where,
            )

    def revocations(self, since: int, limit: int = REVOCATION_PAGE) -> RevocationFeed:
        """GET /v1/revocations?since=cursor (one page, oldest first)."""
        path = "/v1/revocations"
        feed = self.transport.get(RevocationFeed, path, {"since": since, "limit": limit})
        if any(item.cursor <= since for item in feed.items) or feed.next_cursor < since:
            raise RegistryProtocolError(
                f"the revocation feed went backwards (asked since {since})",
                where=f"GET {self.transport.base_url}{path}",
            )
        return feed

    def confirm(self, confirmation: Confirmation) -> ConfirmationReceipt:
        """POST /v1/consents/{id}/confirmations, retried safely (idempotent by consent + session)."""
        path = f"/v1/consents/{confirmation.consent_id}/confirmations"
        data = self.transport.post_json(
            path,
            confirmation.model_dump(mode="json"),
            idempotency_key=f"{confirmation.rig_id}:{confirmation.session_id}:{confirmation.consent_id}",
        )
        return self.transport.validate(
            ConfirmationReceipt, data, where=f"POST {self.transport.base_url}{path}"
        )

    def rig_certificate(self, rig_id: str, key_id: str) -> RigCertificate:
        """GET /v1/rigs/{rig_id}/certificate?key_id=: the rig's C2PA certificate chain for this key."""
        return self.transport.get(RigCertificate, f"/v1/rigs/{rig_id}/certificate", {"key_id": key_id})
