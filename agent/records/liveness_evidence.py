"""What a record says about how liveness was established, for ``verify`` and the review window.

A face identification is evidence that a live person was present only when the
record shows a liveness challenge run on camera (``identification.liveness.method
== "challenge"``). Three other cases are named wherever records are read, never
shown like a real check:

- ``synthetic``: the demo's stand-in camera "passed" the steps by time alone;
- ``off``: liveness was switched off in the rig's configuration;
- no ``liveness`` member on a face identification: records written before ScanGate
  checked liveness look like this. Record format 2 cannot tell such a record from
  one whose writer skipped the check (both hold ``liveness: null``), so it is a
  notice, not a problem with the log.

Works on records as read (unvalidated): a malformed member gives ``none``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent.records.record_view import nested

LivenessEstablished = Literal["challenge", "synthetic", "off", "none"]
"""How a record says liveness was established; ``none``: it has no liveness member."""

NOT_EVIDENCE = "not evidence that a live person was present"


@dataclass(frozen=True)
class LivenessFlag:
    """Why a record's face identification is not evidence that a live person was present."""

    code: Literal["synthetic_liveness", "liveness_off", "liveness_not_recorded"]
    """Stable notice code (docs/records.md)."""
    label: str
    """A few words for a table cell, e.g. 'SYNTHETIC liveness'."""
    message: str
    """One plain sentence."""


SYNTHETIC = LivenessFlag(
    "synthetic_liveness",
    "SYNTHETIC liveness",
    f"liveness was synthetic (demo stand-in camera): {NOT_EVIDENCE}",
)
OFF = LivenessFlag(
    "liveness_off",
    "liveness OFF",
    f"liveness was off (switched off in the rig's configuration): {NOT_EVIDENCE}",
)
NOT_RECORDED = LivenessFlag(
    "liveness_not_recorded",
    "liveness not recorded",
    "identified by face, but the record does not say how liveness was established (written before"
    f" ScanGate checked liveness, or by a writer that skipped it): {NOT_EVIDENCE}",
)


def liveness_established(record: Mapping[str, Any]) -> LivenessEstablished:
    """``challenge``, ``synthetic`` or ``off`` as the record's liveness member says; else ``none``."""
    method = nested(record, "identification", "liveness", "method")
    if method in ("challenge", "synthetic", "off"):
        return method  # type: ignore[no-any-return]
    return "none"


def liveness_flag(record: Mapping[str, Any]) -> LivenessFlag | None:
    """Why the record's liveness is not evidence, or None (a real challenge, or no face identification)."""
    established = liveness_established(record)
    if established == "synthetic":
        return SYNTHETIC
    if established == "off":
        return OFF
    if established == "none" and nested(record, "identification", "method") == "face":
        return NOT_RECORDED
    return None


__all__ = [
    "NOT_EVIDENCE",
    "NOT_RECORDED",
    "OFF",
    "SYNTHETIC",
    "LivenessEstablished",
    "LivenessFlag",
    "liveness_established",
    "liveness_flag",
]
