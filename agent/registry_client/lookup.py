"""The full consent check: registry lookup (or offline copy) → signature → policy → Decision.

This is what the session controller runs on ``FetchConsent``:
:meth:`ConsentLookup.check` returns a :class:`LookupResult` whose
:meth:`~LookupResult.consent_check` is the engine's ``ConsentCheck``.

Which record is judged: the registry lists every version of every consent of
the performer for the production. Each is evaluated; an allowed one wins
(the highest version among them), then one that only needs the non-biometric
fallback, otherwise the newest record's refusal is reported (all its reasons).

Registry time: every decision is judged on registry time, i.e. the rig's
clock plus the offset measured from the registry's signed time statement in
the very answer judged (:attr:`LookupResult.clock`); an offset beyond
``max_clock_skew_s`` is the refusal ``clock_skew``. ``fetched_at`` (also in the
offline copy) is the registry's time of the answer.

When the registry is unavailable and ``offline_consents`` is on, the saved
copy is evaluated instead, with its age (the policy refuses a copy older than
``max_staleness_s`` with ``cache_stale``), on the last measured registry time
carried forward on the monotonic clock when there is one no older than
``max_staleness_s`` (clock source ``offline_last_known``), otherwise on the
rig's clock (notice ``clock_not_verified``; see docs/consent-policy.md for why).
Auth and protocol errors — a missing, replayed or forged time statement
included — never fall back to the copy: a registry that refuses this rig, or
answers nonsense, must not be bypassed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from agent.consent import ClockReading, Decision, PolicyContext, ReasonCode, evaluate, to_consent_check
from agent.registry_client.cache import CachedConsents, OfflineCacheError
from agent.registry_client.client import RegistryClient
from agent.registry_client.errors import RegistryUnavailableError
from agent.registry_client.trust import KeyTrust
from agent.session.model import ConsentCheck, IdentificationMethod
from agent.wire import ConsentRecord, TimeStatement

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LookupResult:
    """A decision, the record it is about, where the record came from, and on which time it was judged.

    Attributes:
        decision: the policy's decision.
        consent: the record it is about (None: no consent found).
        source: ``registry`` (fetched now) or ``offline_copy``.
        fetched_at: when the registry produced the records (registry time; for an old offline
            copy written before registry time existed, the rig clock at the fetch).
        judged_at: the instant the decision was judged at (registry time when ``clock`` is set,
            otherwise the rig's clock).
        clock: the rig clock's offset from registry time used for this decision; None only for
            an offline copy judged without a recent measurement.
        time_statement: the registry's signed time statement of this answer (None offline).
    """

    decision: Decision
    consent: ConsentRecord | None
    source: Literal["registry", "offline_copy"]
    fetched_at: datetime
    judged_at: datetime
    clock: ClockReading | None
    time_statement: TimeStatement | None

    def consent_check(self) -> ConsentCheck:
        """The session engine's view of this result, on the rig's clock.

        The engine times the end of the consent window with the rig clock it runs on, so the
        window's end (registry time) is moved onto that clock by the measured offset, and
        earlier by the measurement's uncertainty (the window must surely still be open); the
        check carries the reading and where the answer came from.
        """
        check = to_consent_check(self.decision, self.consent)
        terms = check.terms
        if terms is not None and self.clock is not None:
            earliest_end = terms.valid_until - self.clock.offset - timedelta(seconds=self.clock.uncertainty_s)
            terms = replace(terms, valid_until=earliest_end)
        return replace(check, terms=terms, source=self.source, clock=self.clock)


def _rank(decision: Decision, consent: ConsentRecord) -> tuple[int, int, datetime]:
    return (
        2 if decision.allowed else 1 if decision.fallback_required else 0,
        consent.version,
        consent.issued_at,
    )


def choose(
    records: Iterable[ConsentRecord], context: PolicyContext, now: datetime
) -> tuple[Decision, ConsentRecord | None]:
    """Evaluate every record; the best decision and its record (see module docstring)."""
    judged = [(evaluate(record, context, now), record) for record in records]
    if not judged:
        return evaluate(None, context, now), None
    return max(judged, key=lambda pair: _rank(*pair))


class ConsentLookup:
    """Looks up and judges the consent of the performer in front of the rig."""

    def __init__(
        self,
        client: RegistryClient,
        *,
        production_id: str,
        revoked_ids: Callable[[], frozenset[str]] = frozenset,
        guardian_co_confirmation_available: bool = False,
    ) -> None:
        self.client = client
        self.production_id = production_id
        self.revoked_ids = revoked_ids
        self.guardian_co_confirmation_available = guardian_co_confirmation_available

    def check(
        self,
        performer_id: str,
        requested_capture_types: Iterable[str],
        identification_method: IdentificationMethod,
        now: datetime | None = None,
    ) -> LookupResult:
        """Fetch, verify and judge the performer's consent, on registry time.

        Args:
            now: the rig-clock instant to judge at (default: the client's clock now); it is
                corrected by the measured offset like the clock itself.

        Raises:
            RegistryUnavailableError: the registry is down and there is no usable offline copy.
            RegistryTimeError: the answer's time statement is missing, replayed or not verifiable.
            RegistryAuthError, RegistryProtocolError, RegistryTLSError: see RegistryClient.
        """
        settings = self.client.settings
        requested = frozenset(requested_capture_types)  # once: context_for may run twice
        trust = self.client.key_trust()
        source: Literal["registry", "offline_copy"] = "registry"
        cached_at: datetime | None = None
        statement: TimeStatement | None = None
        reading: ClockReading | None
        try:
            listing, measurement = self.client.timed_consents(performer_id, self.production_id)
            records, statement, reading = listing.consents, measurement.statement, measurement.reading
            fetched_at = statement.registry_time
            rig_now = now or self.client.clock()
            try:
                self.client.cache.save_consents(self.production_id, performer_id, records, fetched_at)
            except (OSError, OfflineCacheError) as exc:
                log.warning("could not save the offline consent copy: %s", exc)
        except RegistryUnavailableError as exc:
            rig_now = now or self.client.clock()
            reading = self.client.last_clock_reading(rig_now)
            if reading is None:
                log.warning("no recent registry time: judging the offline copy on the rig's clock")
            judged = reading.registry_time(rig_now) if reading is not None else rig_now
            cached = self._offline_copy(performer_id, exc, judged)
            records, fetched_at, cached_at = cached.records, cached.fetched_at, cached.fetched_at
            source = "offline_copy"
        current = reading.registry_time(rig_now) if reading is not None else rig_now

        def context_for(keys: KeyTrust) -> PolicyContext:
            return PolicyContext(
                production_id=self.production_id,
                performer_id=performer_id,
                requested_capture_types=requested,
                identification_method=identification_method,
                trusted_keys=keys.keys,
                revoked_consent_ids=self.revoked_ids(),
                guardian_co_confirmation_available=self.guardian_co_confirmation_available,
                cached_at=cached_at,
                max_staleness=settings.max_staleness,
                clock=reading,
                max_clock_skew=settings.max_clock_skew,
            )

        decision, consent = choose(records, context_for(trust), current)
        if (
            consent is not None
            and ReasonCode.SIGNATURE_UNKNOWN_KEY.value in decision.codes
            and consent.signature.key_id in settings.pinned_key_ids
            and source == "registry"
        ):
            # signed by a pinned key this rig has not seen listed yet (just rotated in): look again once
            decision, consent = choose(records, context_for(self.client.refresh_keys()), current)
        return LookupResult(
            decision=decision,
            consent=consent,
            source=source,
            fetched_at=fetched_at,
            judged_at=current,
            clock=reading,
            time_statement=statement,
        )

    def _offline_copy(
        self, performer_id: str, cause: RegistryUnavailableError, now: datetime
    ) -> CachedConsents:
        """The saved copy (records past destroy_by at ``now`` left out and deleted), else ``cause``."""
        try:
            cached = self.client.cache.load_consents(self.production_id, performer_id, now)
        except OfflineCacheError as exc:
            raise RegistryUnavailableError(
                f"{cause.what}; the offline copy cannot be used either: {exc.what}",
                where=cause.where,
                hint=cause.hint,
            ) from None
        if cached is None:
            raise cause
        log.warning("registry unavailable (%s); judging the offline copy", cause.what)
        return cached
