"""Health lines for the console: camera, registry, gate and upload queue (no Qt here)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from agent.camera.status import CameraState, CameraStatus

if TYPE_CHECKING:  # the console paints before the gate and the outbox are imported
    from agent.gate.models import GateStatus
    from agent.records.outbox import OutboxCounts

COMPONENTS = ("camera", "registry", "gate", "upload")
"""The health pills of the console, in display order."""

TITLES = {"camera": "CAMERA", "registry": "REGISTRY", "gate": "GATE", "upload": "UPLOAD QUEUE"}


@dataclass(frozen=True)
class HealthItem:
    """One component's health: a colour tone, a short text and a longer detail (tooltip)."""

    component: str
    tone: str
    text: str
    detail: str = ""


HealthProbe = Callable[[], Sequence[HealthItem]]
"""Returns current health items; may do I/O, so it is called on a worker thread."""


def unknown(component: str) -> HealthItem:
    """A component nothing was heard from yet."""
    return HealthItem(component, "neutral", "not connected", "no status received yet")


def camera_health(status: CameraStatus) -> HealthItem:
    """Camera health from the camera worker's status."""
    state = status.state
    if state is CameraState.STREAMING:
        return HealthItem("camera", "unlocked", "streaming", f"{status.source_label}: {status.detail}")
    if state is CameraState.STARTING:
        return HealthItem("camera", "checking", "starting", status.detail)
    if state is CameraState.RECONNECTING:
        return HealthItem(
            "camera",
            "locked",
            "no picture · reconnecting",
            f"{status.detail}\nCheck the camera cable and power; ScanGate reconnects by itself.",
        )
    if state is CameraState.ENDED:
        return HealthItem("camera", "locked", "video ended", status.detail)
    if state is CameraState.STOPPED:
        return HealthItem("camera", "neutral", "stopped", status.detail)
    return HealthItem(
        "camera",
        "locked",
        "no picture",
        f"{status.detail}\nCheck the camera cable and power; ScanGate reconnects by itself.",
    )


def gate_health(status: GateStatus) -> HealthItem:
    """Gate health from a gate status snapshot."""
    if not status.healthy:
        return HealthItem(
            "gate",
            "locked",
            "fault",
            f"{status.backend}: {status.last_error or status.reason}\nCapture stays locked until the gate recovers.",
        )
    if status.locked and status.peer_locked is False:
        return HealthItem(
            "gate", "locked", "lock not confirmed", f"{status.reason}\nThe rig may still be armed: check it."
        )
    state = "armed" if not status.locked else "locked"
    return HealthItem("gate", "unlocked", f"{status.backend} · {state}", status.reason)


def upload_health(counts: OutboxCounts | None) -> HealthItem:
    """Upload queue health from the outbox counts (None: the outbox cannot be read)."""
    if counts is None:
        return HealthItem(
            "upload", "locked", "unreadable", "The upload outbox cannot be read; records stay in the log."
        )
    if counts.rejected:
        return HealthItem(
            "upload",
            "locked",
            f"{counts.rejected} rejected",
            "The registry refused some records: run 'scangate outbox list' to see why.",
        )
    if counts.pending:
        return HealthItem(
            "upload",
            "checking",
            f"{counts.pending} waiting",
            "Records are kept safely and sent when the registry answers.",
        )
    return HealthItem("upload", "unlocked", "all sent", f"{counts.delivered} record(s) delivered")


def registry_health(ok: bool, detail: str, roster_size: int) -> HealthItem:
    """Registry health: reachable, and how many performers the roster holds."""
    if not ok:
        return HealthItem(
            "registry", "locked", "unreachable", f"{detail}\nNo new session can be checked until it answers."
        )
    return HealthItem("registry", "unlocked", f"connected · {roster_size} on roster", detail)


class RigHealthLike(Protocol):
    """The fields of :class:`agent.rig.RigHealth` the console shows."""

    @property
    def camera(self) -> CameraStatus: ...
    @property
    def registry_ok(self) -> bool: ...
    @property
    def registry_detail(self) -> str: ...
    @property
    def roster_size(self) -> int: ...
    @property
    def gate(self) -> GateStatus: ...
    @property
    def uploads(self) -> OutboxCounts | None: ...


def rig_health_items(health: RigHealthLike) -> list[HealthItem]:
    """All four health pills from one rig health snapshot."""
    return [
        camera_health(health.camera),
        registry_health(health.registry_ok, health.registry_detail, health.roster_size),
        gate_health(health.gate),
        upload_health(health.uploads),
    ]
