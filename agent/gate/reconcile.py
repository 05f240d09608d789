"""Turning a capture into a :class:`CaptureEvent`: place it in the unlock windows, hash, quarantine.

Split from the gate so the rules are in one small place: a capture the gate
triggered must lie entirely inside one window; a capture reported later is
placed by when the gate first heard of it (with the arrival grace); anything
outside a window, with a wrong hash or otherwise flagged is moved into the
session's quarantine folder when it lies in a capture folder.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agent.gate.errors import QuarantineError
from agent.gate.models import CaptureEvent, CaptureKind
from agent.gate.windows import QUARANTINE_DIR_NAME, UnlockWindows, is_within, quarantine_file, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Placement:
    """Where a capture falls: inside a window or not, and which session/token it belongs to."""

    inside: bool
    session_id: str | None
    token_id: str | None


def place_capture(
    windows: UnlockWindows,
    *,
    seen_at: float,
    started_at: float | None = None,
    session_hint: str | None = None,
    grace: float = 0.0,
) -> Placement:
    """Place a capture in the windows (caller holds whatever lock guards ``windows``).

    With ``started_at`` the whole interval ``[started_at, seen_at]`` must lie in one
    window; otherwise ``seen_at`` is placed with ``grace``. A capture claiming another
    session than the window's is outside.
    """
    if started_at is not None:
        window = windows.window_at(started_at)
        inside = window is not None and windows.covers(started_at, seen_at)
    else:
        window = windows.window_at(seen_at, grace=grace)
        inside = window is not None
    if window is not None and session_hint is not None and window.session_id != session_hint:
        inside = False
    session_id = window.session_id if window else (session_hint or windows.last_session_id())
    return Placement(inside=inside, session_id=session_id, token_id=window.token_id if window else None)


class Reconciler:
    """Builds capture events for one gate and quarantines flagged files."""

    def __init__(self, backend_name: str, capture_root: Path, capture_dirs: list[Path]) -> None:
        """Args: the gate's backend name, its capture root and the folders files may be moved from."""
        self._backend = backend_name
        self._capture_root = capture_root
        self._capture_dirs = capture_dirs

    def event(
        self,
        placement: Placement,
        *,
        kind: CaptureKind,
        captured_at: datetime,
        path: Path | None = None,
        capture_type: str | None = None,
        camera_id: str | None = None,
        photo_id: str | None = None,
        claimed_sha256: str | None = None,
        extra_flag: str | None = None,
    ) -> CaptureEvent:
        """Hash the file (if any), collect flags, quarantine when flagged, and build the event."""
        flags: list[str] = []
        if not placement.inside:
            flags.append("captured outside an unlock window")
        if extra_flag:
            flags.append(extra_flag)
        sha256: str | None = None
        if path is not None:
            try:
                sha256 = sha256_file(path)
            except OSError as exc:
                flags.append(f"file unreadable: {exc.strerror or exc}")
        if claimed_sha256 is not None and sha256 is not None and claimed_sha256.lower() != sha256:
            flags.append("reported SHA-256 does not match the file")
        quarantined_to: Path | None = None
        if flags and path is not None and sha256 is not None:
            quarantined_to, note = self._quarantine(
                path, placement.session_id, "; ".join(flags), kind, photo_id
            )
            if note:
                flags.append(note)
        return CaptureEvent(
            event_id=uuid.uuid4().hex,
            source=self._backend,
            kind=kind,
            session_id=placement.session_id,
            token_id=placement.token_id,
            capture_type=capture_type,
            path=str(path) if path is not None else None,
            camera_id=camera_id,
            photo_id=photo_id,
            sha256=sha256,
            captured_at=captured_at,
            within_unlock_window=placement.inside,
            quarantined=quarantined_to is not None,
            quarantine_path=str(quarantined_to) if quarantined_to else None,
            flag_reason="; ".join(flags) or None,
        )

    def _quarantine(
        self, path: Path, session_id: str | None, reason: str, kind: str, photo_id: str | None
    ) -> tuple[Path | None, str | None]:
        if not is_within(path, self._capture_dirs):
            log.error(
                "capture %s is flagged (%s) but lies outside the capture folders; not moved", path, reason
            )
            return None, "not quarantined: file lies outside the configured capture folders"
        base = self._capture_root / session_id if session_id else self._capture_root
        try:
            target = quarantine_file(
                path,
                base / QUARANTINE_DIR_NAME,
                reason=reason,
                details={
                    "source": self._backend,
                    "kind": kind,
                    "session_id": session_id,
                    "photo_id": photo_id,
                },
            )
        except QuarantineError as exc:
            log.error("%s", exc.message())
            return None, f"not quarantined: {exc.what}"
        log.warning("quarantined %s -> %s (%s)", path, target, reason)
        return target, None
