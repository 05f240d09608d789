"""How far the rig's clock is from the registry's: one measurement, as the policy and records see it.

The registry client measures the offset NTP/Roughtime style (see
agent.registry_client.clock): it sends a nonce, times the round trip on the
monotonic clock, and takes the registry's signed time to belong to the
midpoint, so

    offset = registry_time − (rig time at send + round trip / 2)

and the true offset lies within ± round trip / 2 of it (whatever the network
did with the request and the answer). Registry time *now* is then rig time now
+ offset. A positive offset means the rig's clock is behind (slow).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from agent.wire import format_utc

ClockSource = Literal["registry", "offline_last_known"]
"""Where a reading comes from: measured in this lookup (or poll), or carried forward while offline."""


@dataclass(frozen=True)
class ClockReading:
    """The rig clock's offset from registry time, and how sure the rig is of it.

    Attributes:
        offset_s: registry time − rig time, in seconds (positive: the rig clock is behind).
        rtt_s: round trip of the measuring request on the rig's monotonic clock; the
            offset is known to ± ``rtt_s / 2`` (:attr:`uncertainty_s`).
        measured_at: the registry's signed time in the measuring answer (registry time).
        source: ``registry`` (measured with this answer) or ``offline_last_known``
            (the registry could not be reached; the last measurement carried forward
            on the monotonic clock, ``age_s`` seconds old).
        registry_key_id: the registry key whose signature on the time statement verified.
        age_s: seconds since the measurement (0 for a reading from this answer).
    """

    offset_s: float
    rtt_s: float
    measured_at: datetime
    source: ClockSource
    registry_key_id: str
    age_s: float = 0.0

    def __post_init__(self) -> None:
        if self.rtt_s < 0 or self.age_s < 0:
            raise ValueError("a clock reading's round trip and age cannot be negative")
        if self.measured_at.tzinfo is None:
            raise ValueError("measured_at must be an aware datetime (UTC)")

    @property
    def uncertainty_s(self) -> float:
        """How far the true offset may be from :attr:`offset_s` (half the round trip)."""
        return self.rtt_s / 2

    @property
    def offset(self) -> timedelta:
        """:attr:`offset_s` as a timedelta."""
        return timedelta(seconds=self.offset_s)

    def registry_time(self, rig_now: datetime) -> datetime:
        """Registry time at the rig-clock instant ``rig_now``."""
        return rig_now + self.offset

    def as_record(self) -> dict[str, Any]:
        """The JSON form for session records (every member, times as RFC 3339 UTC)."""
        return {
            "offset_s": self.offset_s,
            "rtt_s": self.rtt_s,
            "uncertainty_s": self.uncertainty_s,
            "measured_at": format_utc(self.measured_at),
            "source": self.source,
            "registry_key_id": self.registry_key_id,
            "age_s": self.age_s,
        }
