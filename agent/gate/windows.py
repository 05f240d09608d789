"""Reconciling captures with unlock windows, and quarantining what falls outside.

An *unlock window* is the half-open interval ``[start, end)`` during which the
gate was unlocked for one session. Every capture event is classified against
the windows: inside one, or outside all of them. Files captured outside are
flagged in the record and moved into ``<session folder>/quarantine/`` with a
sidecar JSON explaining why; nothing is ever deleted, so a human can review it.

Times are plain floats on one clock chosen by the caller (the gates use
``time.monotonic``), which keeps this module pure and trivially testable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from agent.gate.errors import QuarantineError
from agent.private_files import private_dir, private_file_opener

QUARANTINE_DIR_NAME = "quarantine"
SIDECAR_SUFFIX = ".quarantine.json"


class WindowVerdict(StrEnum):
    """Whether a capture happened inside an unlock window."""

    INSIDE = "inside"
    OUTSIDE = "outside"


@dataclass(frozen=True)
class UnlockWindow:
    """One unlock interval ``[start, end)``; ``end`` is None while still open."""

    session_id: str
    start: float
    end: float | None = None
    token_id: str | None = None

    def contains(self, moment: float, *, grace: float = 0.0) -> bool:
        """True when ``moment`` lies in ``[start, end + grace)`` (open windows have no end)."""
        if moment < self.start:
            return False
        return self.end is None or moment < self.end + grace


class UnlockWindows:
    """The unlock windows of a gate, across sessions, in opening order.

    Not thread-safe by itself; a gate guards it with its own state lock.
    """

    def __init__(self) -> None:
        self._windows: list[UnlockWindow] = []

    @property
    def windows(self) -> tuple[UnlockWindow, ...]:
        """All windows so far, oldest first."""
        return tuple(self._windows)

    @property
    def current(self) -> UnlockWindow | None:
        """The open window, if the gate is unlocked."""
        if self._windows and self._windows[-1].end is None:
            return self._windows[-1]
        return None

    def open(self, session_id: str, at: float, *, token_id: str | None = None) -> UnlockWindow:
        """Open a window at ``at``; an already open window is closed there first."""
        if self._windows and at < self._windows[-1].start:
            raise ValueError("unlock windows must be opened in time order")
        self.close(at)
        window = UnlockWindow(session_id=session_id, start=at, token_id=token_id)
        self._windows.append(window)
        return window

    def close(self, at: float) -> UnlockWindow | None:
        """Close the open window at ``at`` (no-op when none is open); returns the closed window."""
        current = self.current
        if current is None:
            return None
        closed = UnlockWindow(current.session_id, current.start, max(at, current.start), current.token_id)
        self._windows[-1] = closed
        return closed

    def window_at(
        self, moment: float, *, session_id: str | None = None, grace: float = 0.0
    ) -> UnlockWindow | None:
        """The window containing ``moment`` (for ``session_id`` when given), or None."""
        for window in reversed(self._windows):
            if (session_id is None or window.session_id == session_id) and window.contains(
                moment, grace=grace
            ):
                return window
        return None

    def classify(self, moment: float, *, session_id: str | None = None, grace: float = 0.0) -> WindowVerdict:
        """INSIDE when some window (of ``session_id``, if given) contains ``moment``.

        ``grace`` extends each *closed* window's end, for captures that are only
        reported a little after they happened (e.g. a photo still downloading
        when the gate locked). Zero is strictest.
        """
        found = self.window_at(moment, session_id=session_id, grace=grace)
        return WindowVerdict.INSIDE if found is not None else WindowVerdict.OUTSIDE

    def covers(self, start: float, end: float, *, session_id: str | None = None) -> bool:
        """True when one single window contains the whole interval ``[start, end]``.

        Used for captures with a known duration (a capture command): a lock in
        the middle of the capture means it was not fully authorised.
        """
        if end < start:
            return False
        window = self.window_at(start, session_id=session_id)
        return window is not None and (window.end is None or end < window.end)

    def last_session_id(self) -> str | None:
        """The session of the most recent window, if any."""
        return self._windows[-1].session_id if self._windows else None


def sha256_file(path: Path, *, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's content."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def is_within(path: Path, roots: list[Path]) -> bool:
    """True when ``path`` (resolved) lies inside one of ``roots`` (resolved)."""
    resolved = path.resolve()
    return any(resolved.is_relative_to(root.resolve()) for root in roots)


def quarantine_file(
    path: Path,
    quarantine_dir: Path,
    *,
    reason: str,
    details: dict[str, Any] | None = None,
) -> Path:
    """Move ``path`` into ``quarantine_dir`` and write a sidecar JSON saying why.

    The file keeps its name (a numeric suffix avoids overwriting an earlier
    one). The sidecar ``<name>.quarantine.json`` holds the reason, the original
    path, the SHA-256 and ``details``. The sidecar is written first, so a crash
    mid-way never leaves a quarantined file without its explanation.

    Raises:
        QuarantineError: the file is missing or cannot be moved.
    """
    if not path.is_file():
        raise QuarantineError(f"cannot quarantine {path}: no such file")
    try:
        private_dir(quarantine_dir)
        target = _free_name(quarantine_dir / path.name)
        sidecar = target.with_name(target.name + SIDECAR_SUFFIX)
        content = {
            "reason": reason,
            "original_path": str(path),
            "quarantined_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "sha256": sha256_file(path),
            **(details or {}),
        }
        tmp = sidecar.with_name(sidecar.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", opener=private_file_opener) as handle:
            handle.write(json.dumps(content, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, sidecar)
        shutil.move(str(path), str(target))
    except OSError as exc:
        raise QuarantineError(
            f"cannot move {path} into quarantine {quarantine_dir}: {exc}",
            hint="the file was captured outside an unlock window; move it away by hand",
        ) from None
    return target


def _free_name(candidate: Path) -> Path:
    if not candidate.exists():
        return candidate
    stem, suffix = candidate.stem, candidate.suffix
    for number in range(1, 100_000):
        alternative = candidate.with_name(f"{stem}.{number}{suffix}")
        if not alternative.exists():
            return alternative
    raise OSError(f"no free file name for {candidate}")
