"""Build the configured capture gate from ``[gate]`` settings."""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.gate.base import CaptureGate
from agent.gate.builtin import BuiltinStillGate, FrameProvider
from agent.gate.errors import GateError
from agent.gate.models import SYSTEM_CLOCK, Clock
from agent.gate.settings import (
    BuiltinGateSettings,
    CommandGateSettings,
    GateSettings,
    HttpApiGateSettings,
    SmartShooterGateSettings,
    TriggerBoxGateSettings,
)


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
    common = {
        "trusted_keys": trusted_keys,
        "capture_root": settings.capture_root,
        "rig_id": rig_id,
        "capture_dirs": settings.capture_dirs,
        "arrival_grace_s": settings.arrival_grace_seconds,
        "health_check_interval_s": settings.health_check_interval_seconds,
        "clock": clock,
    }
    backend = settings.backend
    if isinstance(backend, BuiltinGateSettings):
        if frame_provider is None:
            raise GateError("the built-in capture gate needs the rig camera's frames")
        return BuiltinStillGate(
            frame_provider, image_format=backend.image_format, jpeg_quality=backend.jpeg_quality, **common
        )
    if isinstance(backend, CommandGateSettings):
        from agent.gate.command import CommandGate  # noqa: PLC0415 (load drivers only when chosen)

        return CommandGate(backend, **common)
    if isinstance(backend, TriggerBoxGateSettings):
        from agent.gate.triggerbox import TriggerBoxGate  # noqa: PLC0415 (load drivers only when chosen)

        return TriggerBoxGate(backend, **common)
    if isinstance(backend, SmartShooterGateSettings):
        from agent.gate.smartshooter import SmartShooterGate  # noqa: PLC0415 (load drivers only when chosen)

        return SmartShooterGate(backend, **common)
    if isinstance(backend, HttpApiGateSettings):
        from agent.gate.http_api import HttpApiGate  # noqa: PLC0415 (load drivers only when chosen)

        return HttpApiGate(backend, **common)
    raise GateError(f"unknown gate backend {backend!r}")
