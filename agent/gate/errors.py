"""Errors of the capture gate layer.

Every gate error leaves the gate locked: an error is never a reason to unlock.
"""

from __future__ import annotations

from agent.errors import ScanGateError


class GateError(ScanGateError):
    """Base of all capture gate failures."""


class CaptureRefusedError(GateError):
    """A capture was requested while the gate is locked, its lease lapsed or the type is not granted."""


class UnlockRefusedError(GateError):
    """An unlock was refused (bad or expired token, faulted gate, wrong rig); the gate stays locked."""


class LeaseExpiredError(GateError):
    """``renew()`` came too late: the lease had already lapsed and the gate has locked itself."""


class GateFaultError(GateError):
    """The gate's peer (device, program, socket) failed; the gate is faulted and locked."""


class CaptureTokenError(GateError):
    """A capture token is malformed, expired, not yet valid, or its signature does not verify."""


class CaptureNotKeptError(GateError):
    """A capture was made, but its evidence could not be kept safely (e.g. its journal entry could not
    be written, so a crash could lose it). The gate locked before the capture was acknowledged."""


class QuarantineError(GateError):
    """A file captured outside an unlock window could not be moved into quarantine."""
