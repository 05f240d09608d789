"""The capture gate: locked by default, unlocked only under a signed token and a live lease.

Public names: :class:`CaptureGate` (interface), :class:`UnlockGrant`,
:class:`GateStatus`, :class:`CaptureEvent`, the capture token functions and
:class:`UnlockWindows`. Backends are built by
:func:`agent.gate.factory.build_gate` from ``[gate]`` settings; that module
(not this package) loads OpenCV, pyserial, pyzmq or http.server, and only for
the backend chosen, so importing the settings stays cheap.
"""

from agent.gate.base import CaptureGate
from agent.gate.errors import (
    CaptureRefusedError,
    CaptureTokenError,
    GateError,
    GateFaultError,
    LeaseExpiredError,
    QuarantineError,
    UnlockRefusedError,
)
from agent.gate.models import CaptureEvent, GateStatus, UnlockGrant
from agent.gate.settings import GateSettings
from agent.gate.token import CaptureToken, mint_capture_token, verify_capture_token
from agent.gate.windows import UnlockWindows, WindowVerdict, quarantine_file

__all__ = [
    "CaptureEvent",
    "CaptureGate",
    "CaptureRefusedError",
    "CaptureToken",
    "CaptureTokenError",
    "GateError",
    "GateFaultError",
    "GateSettings",
    "GateStatus",
    "LeaseExpiredError",
    "QuarantineError",
    "UnlockGrant",
    "UnlockRefusedError",
    "UnlockWindows",
    "WindowVerdict",
    "mint_capture_token",
    "quarantine_file",
    "verify_capture_token",
]
