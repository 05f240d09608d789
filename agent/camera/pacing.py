"""Real-time pacing for file sources, interruptible by ``close()`` from another thread."""

from __future__ import annotations

import threading
import time


class Pacer:
    """Releases one frame every ``interval_s`` seconds, measured on ``time.monotonic()``.

    The first frame is due immediately. A consumer that falls behind (for example
    a slow decode) does not get a burst of catch-up frames afterwards: the
    schedule restarts from now.
    """

    def __init__(self, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError(f"pacing interval must be positive, got {interval_s}")
        self.interval_s = interval_s
        self._next_due: float | None = None

    def reset(self) -> None:
        """Make the next frame due immediately (after a re-open)."""
        self._next_due = None

    def wait(self, cancelled: threading.Event) -> bool:
        """Sleep until the next frame is due; False if ``cancelled`` was set meanwhile."""
        now = time.monotonic()
        if self._next_due is None:
            self._next_due = now
        remaining = self._next_due - now
        if remaining > 0 and cancelled.wait(remaining):
            return False
        if cancelled.is_set():
            return False
        scheduled = self._next_due + self.interval_s
        now = time.monotonic()
        self._next_due = scheduled if scheduled > now else now + self.interval_s
        return True
