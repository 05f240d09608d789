"""Measuring the rig clock against the registry's signed time (NTP/Roughtime style).

One measurement::

    nonce                  fresh, random (secrets.token_urlsafe), one per request
    sent_at, sent_mono     rig wall clock and monotonic clock just before the request
    received_mono          monotonic clock once the answer is parsed
    rtt                    received_mono − sent_mono (monotonic: a wall-clock step cannot fake it)
    offset                 statement.registry_time − (sent_at + rtt / 2)

The statement must echo the nonce (else it answers another request: replayed
or mixed up) and verify against a trusted (pinned) registry key that was not
retired before the statement's time. Anything else raises
:class:`~agent.registry_client.errors.RegistryTimeError`: without a verified
statement, no consent is judged.

:class:`ClockKeeper` keeps the last measurement and carries it forward on the
monotonic clock for offline decisions: registry time now = measured registry
time + monotonic seconds since the round trip's midpoint, which does not
depend on the rig's wall clock at all; the reading's offset is recomputed
against the wall clock now, so a clock turned back after the measurement shows.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from agent.consent import ClockReading
from agent.registry_client.errors import RegistryTimeError
from agent.registry_client.trust import KeyTrust, public_keys
from agent.signing import SignatureError, UnknownKeyError
from agent.wire import TimeStatement

NONCE_BYTES = 32


def new_nonce() -> str:
    """A fresh random nonce (32 random bytes, base64url: 43 characters)."""
    return secrets.token_urlsafe(NONCE_BYTES)


@dataclass(frozen=True)
class ClockMeasurement:
    """A verified time statement, the reading taken from it, and the monotonic instant it belongs to."""

    statement: TimeStatement
    reading: ClockReading
    midpoint_monotonic: float
    """The rig's monotonic clock at the midpoint of the round trip (what registry_time is taken for)."""


def verify_time_statement(statement: TimeStatement | None, nonce: str, trust: KeyTrust, *, where: str) -> str:
    """Check that ``statement`` answers ``nonce`` and is signed by a trusted key; its key id.

    Raises:
        RegistryTimeError: no statement, another nonce, an untrusted key, a bad signature, or a
            key retired before the statement's time.
    """
    if statement is None:
        raise RegistryTimeError(
            "the registry's answer carries no signed time statement",
            where=where,
            hint="the registry predates registry time (or something between strips it): upgrade the"
            " registry; consent is never judged on the rig's clock alone",
        )
    if not secrets.compare_digest(statement.nonce, nonce):
        raise RegistryTimeError(
            "the registry's time statement answers another request (its nonce is not the one this"
            " rig sent): an old statement replayed, or answers mixed up",
            where=where,
            hint="something between the rig and the registry is replaying answers; report it to the"
            " registry operator",
        )
    key_id = statement.signature.key_id
    try:
        statement.verify(public_keys(trust.keys))
    except UnknownKeyError:
        raise RegistryTimeError(
            f"the registry's time statement is signed by key {key_id}, which this rig does not trust",
            where=where,
            hint="the registry signs its time with its active key: add that key id (see `scangate"
            " registry keys`) to [registry] pinned_key_ids",
        ) from None
    except SignatureError as exc:
        raise RegistryTimeError(
            f"the registry's time statement fails its signature check: {exc.what}",
            where=where,
            hint="the statement was changed on the way (or forged); capture stays locked",
        ) from None
    retired_at = trust.keys[key_id].retired_at
    if retired_at is not None and statement.registry_time > retired_at:
        raise RegistryTimeError(
            f"the registry's time statement is signed by key {key_id}, which was retired before it",
            where=where,
            hint="refresh the registry's keys; a retired key signing fresh statements is a sign of key theft",
        )
    return key_id


def measurement_from(
    statement: TimeStatement,
    *,
    key_id: str,
    sent_at: datetime,
    sent_monotonic: float,
    received_monotonic: float,
) -> ClockMeasurement:
    """The measurement a verified statement gives, for a request sent at ``sent_at`` (rig wall clock)."""
    rtt = max(0.0, received_monotonic - sent_monotonic)
    midpoint = sent_at + timedelta(seconds=rtt / 2)
    reading = ClockReading(
        offset_s=(statement.registry_time - midpoint).total_seconds(),
        rtt_s=rtt,
        measured_at=statement.registry_time,
        source="registry",
        registry_key_id=key_id,
    )
    return ClockMeasurement(statement, reading, sent_monotonic + rtt / 2)


class ClockKeeper:
    """The last measurement, carried forward on the monotonic clock (thread-safe)."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._last: ClockMeasurement | None = None

    def record(self, measurement: ClockMeasurement) -> None:
        """Keep ``measurement`` if it is at least as recent as the one kept."""
        with self._lock:
            if self._last is None or measurement.midpoint_monotonic >= self._last.midpoint_monotonic:
                self._last = measurement

    def carried_forward(self, rig_now: datetime, max_age_s: float) -> ClockReading | None:
        """The last reading carried to ``rig_now`` (source ``offline_last_known``), or None.

        None when nothing was measured yet, or the measurement is older than ``max_age_s``
        (monotonic seconds), or the monotonic clock went backwards (a different boot).
        """
        with self._lock:
            last = self._last
        if last is None:
            return None
        age = self._monotonic() - last.midpoint_monotonic
        if age < 0 or age > max_age_s:
            return None
        registry_now = last.statement.registry_time + timedelta(seconds=age)
        return ClockReading(
            offset_s=(registry_now - rig_now).total_seconds(),
            rtt_s=last.reading.rtt_s,
            measured_at=last.reading.measured_at,
            source="offline_last_known",
            registry_key_id=last.reading.registry_key_id,
            age_s=age,
        )
