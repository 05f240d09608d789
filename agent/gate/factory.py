"""Build the configured capture gate from ``[gate]`` settings."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.gate.base import CaptureGate
from agent.gate.errors import GateError
from agent.gate.guardian import GuardianLink
from agent.gate.models import SYSTEM_CLOCK, Clock
from agent.gate.settings import (
    BuiltinGateSettings,
    CommandGateSettings,
    GateBackendSettings,
    GateSettings,
    HttpApiGateSettings,
    SmartShooterGateSettings,
    TriggerBoxGateSettings,
)

if TYPE_CHECKING:
    from agent.gate.builtin import FrameProvider


def build_gate(
    settings: GateSettings,
    *,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    rig_id: str | None = None,
    frame_provider: FrameProvider | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> CaptureGate:
    """The gate chosen by ``settings.backend``, locked and not yet started.

    Args:
        settings: the ``[gate]`` section.
        trusted_keys: rig public keys whose capture tokens unlock the gate.
        rig_id: this rig's id; tokens for other rigs are refused.
        frame_provider: latest RGB frame; required by the built-in backend.
        clock: monotonic + wall clock.

    Raises:
        GateError: the built-in backend was chosen but no frame provider given.
    """
    backend = settings.backend
    guardian = None
    if settings.guardian and needs_guardian(backend):
        guardian = GuardianLink(backend, settings.capture_root, margin_s=settings.guardian_margin_seconds)
    common = {
        "trusted_keys": trusted_keys,
        "capture_root": settings.capture_root,
        "rig_id": rig_id,
        "capture_dirs": settings.capture_dirs,
        "arrival_grace_s": settings.arrival_grace_seconds,
        "health_check_interval_s": settings.health_check_interval_seconds,
        "clock": clock,
        "guardian": guardian,
    }
    if isinstance(backend, BuiltinGateSettings):
        if frame_provider is None:
            raise GateError("the built-in capture gate needs the rig camera's frames")
        from agent.gate.builtin import BuiltinStillGate  # noqa: PLC0415 (OpenCV only when chosen)

        return BuiltinStillGate(
            frame_provider, image_format=backend.image_format, jpeg_quality=backend.jpeg_quality, **common
        )
    return backend_gate_class(backend)(backend, **common)


def needs_guardian(backend: GateBackendSettings) -> bool:
    """True for backends whose peer stays armed when the agent process dies."""
    if isinstance(backend, CommandGateSettings):
        return backend.lock_command is not None
    if isinstance(backend, SmartShooterGateSettings):
        return backend.lock_mode == "disconnect"
    return isinstance(backend, TriggerBoxGateSettings)


def backend_gate_class(backend: GateBackendSettings) -> Callable[..., CaptureGate]:
    """The gate class of a backend that is built from its settings alone (not ``builtin``)."""
    if isinstance(backend, CommandGateSettings):
        from agent.gate.command import CommandGate  # noqa: PLC0415 (load drivers only when chosen)

        return CommandGate
    if isinstance(backend, TriggerBoxGateSettings):
        from agent.gate.triggerbox import TriggerBoxGate  # noqa: PLC0415

        return TriggerBoxGate
    if isinstance(backend, SmartShooterGateSettings):
        from agent.gate.smartshooter import SmartShooterGate  # noqa: PLC0415

        return SmartShooterGate
    if isinstance(backend, HttpApiGateSettings):
        from agent.gate.http_api import HttpApiGate  # noqa: PLC0415

        return HttpApiGate
    raise GateError(f"gate backend {backend.kind!r} cannot be built from settings alone")
