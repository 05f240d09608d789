"""The capture gate interface and the lease logic every backend shares.

A :class:`CaptureGate` is locked when constructed, after ``lock()``, after any
error, and whenever its lease lapses. ``unlock(grant)`` verifies the signed
capture token and arms the peer; the lease then lasts ``grant.lease_seconds``
(never past the token's expiry) and must be extended with ``renew()``. A
watchdog thread locks the gate, and the peer, the moment the lease lapses: a
hung or crashed session engine cannot leave the rig armed.

Backends implement the ``_peer_*`` hooks (open, lock, unlock, capture, poll,
close). The base class owns all state, runs every hook inside a fail-closed
wrapper (any exception faults *and* locks the gate), reconciles capture events
with the unlock windows and quarantines what falls outside.

Concurrency: ``_state_lock`` guards state and is held only briefly;
``_io_lock`` (re-entrant) serialises talking to the peer. ``lock()`` flips the
state *first*, so no new capture is authorised from that instant, and then
waits for the peer I/O lock to send the lock command. An unlock that races a
lock notices through a generation counter and fails.
"""

from __future__ import annotations

import atexit
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.errors import ScanGateError
from agent.gate.errors import (
    CaptureNotKeptError,
    CaptureRefusedError,
    CaptureTokenError,
    GateFaultError,
    LeaseExpiredError,
    UnlockRefusedError,
)
from agent.gate.guardian import GuardianLink
from agent.gate.listeners import CaptureListener, GateListeners, StatusListener
from agent.gate.models import (
    SYSTEM_CLOCK,
    CaptureEvent,
    CaptureKind,
    Clock,
    GateStatus,
    LockCause,
    UnlockGrant,
)
from agent.gate.reconcile import Reconciler, place_capture
from agent.gate.token import CaptureToken, verify_capture_token
from agent.gate.windows import UnlockWindows

log = logging.getLogger(__name__)

START_REASON = "gate started"
"""Reason passed to ``_peer_lock`` by :meth:`CaptureGate.start` (backends may persist the lock then)."""


class CaptureGate(ABC):
    """A capture interlock: locked by default, unlocked only under a valid token and a live lease."""

    backend_name: ClassVar[str] = "gate"

    def __init__(
        self,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        capture_root: Path,
        rig_id: str | None = None,
        capture_dirs: Sequence[Path] = (),
        arrival_grace_s: float = 0.0,
        health_check_interval_s: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
        guardian: GuardianLink | None = None,
    ) -> None:
        """Create a locked gate; no I/O happens until :meth:`start`.

        Args:
            trusted_keys: rig public keys (by key id) whose capture tokens are accepted.
            capture_root: session folders are ``capture_root/<session_id>``.
            rig_id: when given, tokens for any other rig are refused.
            capture_dirs: further folders from which out-of-window files may be moved
                into quarantine (files elsewhere are flagged but left in place).
            arrival_grace_s: captures *reported* this long after a window closed
                still count as inside it (peers report photos after downloading them).
            health_check_interval_s: how often the peer is polled for health.
            clock: monotonic + wall clock (tests may inject one).
            guardian: a lease guardian process that locks the peer if this process
                dies or freezes (see :mod:`agent.gate.guardian`).
        """
        self._trusted_keys = dict(trusted_keys)
        self._capture_root = capture_root
        self._rig_id = rig_id
        self._capture_dirs = [capture_root, *capture_dirs]
        self._grace = arrival_grace_s
        self._health_interval = health_check_interval_s
        self._clock = clock
        self._guardian = guardian

        self._state_lock = threading.RLock()
        self._io_lock = threading.RLock()
        self._locked = True
        self._reason = "locked: gate not started yet"
        self._lock_cause: LockCause = "not_started"
        self._grant: UnlockGrant | None = None
        self._deadline: float | None = None
        self._token_deadline: float | None = None
        self._faulted = False
        self._last_error: str | None = None
        self._peer_locked: bool | None = None
        self._generation = 0
        self._changed_at = clock.now()
        self._windows = UnlockWindows()
        self._reconciler = Reconciler(self.backend_name, capture_root, self._capture_dirs)
        self._started = False
        self._closed = False

        self._listeners = GateListeners(self.backend_name)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []

    # ----------------------------------------------------------------- public API

    def add_capture_listener(self, listener: CaptureListener) -> None:
        """Call ``listener`` with every :class:`CaptureEvent` (from any thread)."""
        self._listeners.add_capture_listener(listener)

    def add_status_listener(self, listener: StatusListener) -> None:
        """Call ``listener`` with a :class:`GateStatus` after every state change (from any thread)."""
        self._listeners.add_status_listener(listener)

    def start(self) -> GateStatus:
        """Open the peer, assert the lock on it, and start the lease watchdog.

        Never raises for peer trouble: a peer that cannot be opened leaves the
        gate faulted and locked (see :meth:`status`), and unlock is refused.
        """
        with self._state_lock:
            if self._started:
                return self.status()
            self._started = True
            self._reason = "locked: no session unlocked capture"
            self._lock_cause = "idle"
        with self._io_lock:
            self._open_and_lock(START_REASON, during="start")
        self._spawn("lease-watchdog", self._watchdog_loop)
        self._spawn("health-monitor", self._health_loop)
        atexit.register(self.close)
        self._notify_status()
        return self.status()

    def unlock(self, grant: UnlockGrant) -> GateStatus:
        """Verify the grant's capture token, arm the peer and start the lease.

        Unlocking while unlocked replaces the token and starts a new window.

        Raises:
            UnlockRefusedError: token invalid/expired/for another rig, gate faulted,
                closed or not started, the peer failed to arm, or a lock raced the unlock.
        """
        now_m, now_w = self._clock.monotonic(), self._clock.now()
        token = self._verify_grant(grant, now_w)
        token_deadline = now_m + (token.expires_at - now_w).total_seconds()
        with self._io_lock:
            with self._state_lock:
                self._refuse_unlock_if_unusable()
                generation = self._generation
                self._windows.open(token.session_id, now_m, token_id=token.token_id)
            if self._guardian is not None:
                self._guardian.armed(min(grant.lease_seconds, token_deadline - now_m))
            try:
                self._peer_unlock(token)
            except Exception as exc:
                self._fault(exc, during="unlock")
                raise UnlockRefusedError(
                    f"{self.backend_name} gate could not be unlocked: {self._last_error}",
                    hint="the gate is faulted and locked; fix the peer, then recover()",
                ) from None
            with self._state_lock:
                if generation != self._generation:
                    raise UnlockRefusedError(f"gate was locked while unlocking: {self._reason}")
                self._locked = False
                self._grant = grant
                self._token_deadline = token_deadline
                self._deadline = min(now_m + grant.lease_seconds, token_deadline)
                self._peer_locked = False
                self._reason = f"unlocked for session {token.session_id} ({', '.join(token.capture_types)})"
                self._changed_at = now_w
        self._wake.set()
        self._notify_status()
        return self.status()

    def renew(self) -> GateStatus:
        """Extend the lease by the grant's lease length (never past the token's expiry).

        Raises:
            LeaseExpiredError: the gate is locked or the lease has already lapsed
                (the gate is then locked, and stays locked).
            GateFaultError: the peer failed while renewing (the gate is now locked).
        """
        now = self._clock.monotonic()
        with self._state_lock:
            if self._locked or self._grant is None or self._deadline is None:
                raise LeaseExpiredError(f"nothing to renew: the gate is locked ({self._reason})")
            lapsed = now >= self._deadline
            if not lapsed:
                assert self._token_deadline is not None
                self._deadline = min(now + self._grant.lease_seconds, self._token_deadline)
                remaining = self._deadline - now
        if lapsed:
            self._lock(None, only_if_lapsed=True)
            raise LeaseExpiredError(f"renewed too late: {self._reason}")
        if self._guardian is not None:
            self._guardian.armed(remaining)
        try:
            with self._io_lock:
                self._peer_renew()
        except Exception as exc:
            self._fault(exc, during="renew")
            raise GateFaultError(
                f"{self.backend_name} gate failed while renewing: {self._last_error}"
            ) from None
        return self.status()

    def lock(self, reason: str) -> GateStatus:
        """Lock now: refuse captures from this instant, then lock the peer.

        Never raises. If the peer cannot be locked the gate is faulted, the error
        is logged loudly and ``status().peer_locked`` is False: the physical rig
        may still be armed and must be checked by hand.
        """
        self._lock(reason, only_if_lapsed=False)
        return self.status()

    def _lock(self, reason: str | None, *, only_if_lapsed: bool) -> bool:
        """Lock (with ``only_if_lapsed``: only when the lease has lapsed); True when it locked."""
        now_m, now_w = self._clock.monotonic(), self._clock.now()
        cause: LockCause = "requested"
        with self._state_lock:
            if self._closed:
                return False
            if only_if_lapsed:
                if self._locked or self._deadline is None or now_m < self._deadline:
                    return False
                reason, cause = self._lapse_reason()
                # Capture was refused from the deadline on (and the guardian locked the peer then),
                # however late this process noticed (frozen, starved): that is when it locked.
                late_by = now_m - self._deadline
                now_m, now_w = self._deadline, now_w - timedelta(seconds=late_by)
            assert reason is not None
            self._set_locked(reason, now_m, now_w, cause)
        self._peer_abort_inflight()
        with self._io_lock:
            try:
                self._peer_lock(reason)
            except Exception as exc:
                self._fault(exc, during="lock")  # the guardian stays armed: it will try again
                return True
            with self._state_lock:
                self._peer_locked = True
            if self._guardian is not None:
                self._guardian.disarmed()
        self._notify_status()
        return True

    def capture(self, capture_type: str) -> list[CaptureEvent]:
        """Have the backend capture now (write a still, run the capture command, fire, Shoot).

        Raises:
            CaptureRefusedError: locked, lease lapsed, faulted, or type not granted.
            GateFaultError: the peer failed (the gate is now faulted and locked).
            CaptureNotKeptError: the capture was made but could not be kept safely (the gate is
                now locked; see :meth:`_emit`).
        """
        self._authorise_capture(capture_type)
        try:
            events = self._peer_capture(capture_type)
        except CaptureRefusedError:
            raise
        except Exception as exc:
            self._fault(exc, during="capture")
            raise GateFaultError(f"{self.backend_name} capture failed: {self._last_error}") from None
        problems = [problem for problem in map(self._emit, events) if problem is not None]
        if problems:
            raise CaptureNotKeptError(
                f"the capture was made but not kept safely: {'; '.join(problems)}; capture is locked",
                hint="keep the files; the session record lists them and says what failed",
            )
        return events

    def status(self) -> GateStatus:
        """A snapshot of the gate's state."""
        now_m, now_w = self._clock.monotonic(), self._clock.now()
        with self._state_lock:
            token = self._grant.token if self._grant is not None and not self._locked else None
            remaining = None if token is None or self._deadline is None else self._deadline - now_m
            return GateStatus(
                backend=self.backend_name,
                locked=token is None,
                reason=self._reason,
                lock_cause=None if token is not None else self._lock_cause,
                session_id=token.session_id if token else None,
                capture_types=token.capture_types if token else (),
                token_id=token.token_id if token else None,
                lease_expires_in_s=remaining,
                lease_expires_at=None if remaining is None else now_w + timedelta(seconds=remaining),
                healthy=not self._faulted,
                last_error=self._last_error,
                peer_locked=self._peer_locked,
                changed_at=self._changed_at,
            )

    def recover(self) -> GateStatus:
        """After a fault: re-open the peer, assert the lock and (re)start a guardian that is not running.

        Clears the fault only if all that works. The gate is locked first (a recovery never
        leaves a session unlocked).
        """
        with self._state_lock:
            if self._closed:
                return self.status()
            self._set_locked("locked: recovering", self._clock.monotonic(), self._clock.now(), "recovering")
        self._peer_abort_inflight()
        with self._io_lock:
            try:
                self._peer_close()
            except Exception:
                log.debug("closing %s peer before recovery failed", self.backend_name, exc_info=True)
            if self._open_and_lock("recovering from a fault", during="recover"):
                with self._state_lock:
                    self._faulted = False
                    self._reason = "locked: recovered from a fault"
                    self._changed_at = self._clock.now()
        self._notify_status()
        return self.status()

    def close(self) -> None:
        """Lock the gate and the peer, stop the watchdog and release resources. Idempotent."""
        if self._closed:
            return
        if self._started:
            self.lock("gate closed")
        with self._state_lock:
            self._closed = True
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=5)
        with self._io_lock:
            try:
                self._peer_close()
            except Exception:
                log.warning("closing the %s gate peer failed", self.backend_name, exc_info=True)
        if self._guardian is not None:
            if self._peer_locked or not self._guardian.alive:
                self._guardian.stop()
            else:
                log.critical(
                    "leaving the lease guardian running: the %s peer was not confirmed locked",
                    self.backend_name,
                )
        atexit.unregister(self.close)

    def __enter__(self) -> CaptureGate:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def capture_root(self) -> Path:
        """Folder holding one sub-folder per session."""
        return self._capture_root

    def session_dir(self, session_id: str) -> Path:
        """The folder of one session's captures."""
        return self._capture_root / session_id

    # ------------------------------------------------------------ backend hooks

    @abstractmethod
    def _peer_open(self) -> None:
        """Open the device/socket/server. Raise on failure."""

    @abstractmethod
    def _peer_lock(self, reason: str) -> None:
        """Make the peer refuse to capture. Raise when that cannot be confirmed."""

    @abstractmethod
    def _peer_unlock(self, token: CaptureToken) -> None:
        """Arm the peer for ``token``'s session. Raise on failure."""

    @abstractmethod
    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        """Capture now; call :meth:`_authorise_capture` again under the I/O lock before firing.

        A peer that just fires its shutters can return :meth:`_fire`, which does both.
        """

    def _peer_renew(self) -> None:  # noqa: B027 (optional hook)
        """Tell the peer the lease was renewed (most peers need nothing)."""

    def _peer_poll(self) -> None:  # noqa: B027 (optional hook)
        """Check the peer is alive and in the expected state; raise when not."""

    def _peer_abort_inflight(self) -> None:  # noqa: B027 (optional hook)
        """Stop captures in progress (called by lock() before it waits for the I/O lock)."""

    def lock_peer_standalone(self, reason: str) -> None:
        """Open the peer just to lock it, for a process other than the agent (the guardian).

        Raises whatever the peer raises; the caller retries and reports.
        """
        self._peer_open()
        self._peer_lock(reason)

    def _peer_close(self) -> None:  # noqa: B027 (optional hook)
        """Release the peer's resources."""

    # ------------------------------------------------------------ shared helpers

    def _open_and_lock(self, reason: str, *, during: str) -> bool:
        """Open and lock the peer, then make sure the guardian runs; caller holds ``_io_lock``.

        False when something failed (the gate is then faulted).
        """
        try:
            self._peer_open()
            self._peer_lock(reason)
        except Exception as exc:
            self._fault(exc, during=during)
            return False
        with self._state_lock:
            self._peer_locked = True
        if self._guardian is not None and not self._guardian.alive:
            try:
                self._guardian.start()
            except Exception as exc:
                self._fault(exc, during=during)
                return False
        return True

    def _authorise_capture(self, capture_type: str) -> UnlockGrant:
        """The grant in force, or CaptureRefusedError saying exactly why not."""
        now = self._clock.monotonic()
        lapsed = False
        with self._state_lock:
            if self._faulted:
                raise CaptureRefusedError(f"capture refused: gate faulted ({self._last_error})")
            if self._locked or self._grant is None or self._deadline is None:
                raise CaptureRefusedError(f"capture refused: gate is locked ({self._reason})")
            if now >= self._deadline:
                lapsed = True
            else:
                grant = self._grant
        if lapsed:
            self._lock(None, only_if_lapsed=True)
            raise CaptureRefusedError(f"capture refused: {self._reason}")
        if capture_type not in grant.token.capture_types:
            raise CaptureRefusedError(
                f"capture refused: capture type {capture_type!r} is not granted"
                f" (granted: {', '.join(grant.token.capture_types)})"
            )
        return grant

    def _fire(self, capture_type: str, fire: Callable[[], object], *, camera_id: str) -> list[CaptureEvent]:
        """Re-authorise under the I/O lock, ``fire()`` the peer's shutters, and record one trigger."""
        with self._io_lock:
            grant = self._authorise_capture(capture_type)
            fire()
            fired = self._clock.monotonic()
        return [
            self._reconcile(
                kind="trigger",
                seen_at=fired,
                started_at=fired,
                capture_type=capture_type,
                camera_id=camera_id,
                session_hint=grant.token.session_id,
            )
        ]

    def _reconcile(
        self,
        *,
        kind: CaptureKind,
        seen_at: float,
        path: Path | None = None,
        started_at: float | None = None,
        capture_type: str | None = None,
        camera_id: str | None = None,
        photo_id: str | None = None,
        claimed_sha256: str | None = None,
        session_hint: str | None = None,
        extra_flag: str | None = None,
    ) -> CaptureEvent:
        """A capture event, placed in the unlock windows (see :mod:`agent.gate.reconcile`)."""
        wall = self._clock.now() - timedelta(seconds=max(self._clock.monotonic() - seen_at, 0.0))
        with self._state_lock:
            placement = place_capture(
                self._windows,
                seen_at=seen_at,
                started_at=started_at,
                session_hint=session_hint,
                grace=self._grace,
            )
        return self._reconciler.event(
            placement,
            kind=kind,
            captured_at=wall,
            path=path,
            capture_type=capture_type,
            camera_id=camera_id,
            photo_id=photo_id,
            claimed_sha256=claimed_sha256,
            extra_flag=extra_flag,
        )

    def _emit(self, event: CaptureEvent) -> str | None:
        """Hand a capture to the listeners before it is acknowledged; None when it was kept.

        A capture a listener could not keep (its journal entry failed: a crash could lose it)
        locks the gate before this returns, so no further capture is authorised and the
        acknowledgement can say so. Returns why it was not kept.
        """
        problem = self._listeners.capture(event)
        if problem is not None:
            log.error("%s capture not kept safely: %s; locking", self.backend_name, problem)
            self.lock(f"locked: a capture could not be kept safely ({problem})")
        return problem

    def _notify_status(self) -> None:
        self._listeners.status(self.status())

    def _fault(self, exc: BaseException, *, during: str) -> None:
        """Record a peer failure: faulted AND locked; try to lock the peer unless locking failed."""
        message = exc.message() if isinstance(exc, ScanGateError) else f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, ScanGateError):
            log.error("unexpected %s gate error during %s", self.backend_name, during, exc_info=exc)
        now_m, now_w = self._clock.monotonic(), self._clock.now()
        with self._state_lock:
            self._faulted = True
            self._last_error = f"{during}: {message}"
            self._set_locked(f"locked: {self.backend_name} gate fault during {during}", now_m, now_w, "fault")
        if during == "lock":
            with self._state_lock:
                self._peer_locked = False
            log.critical(
                "%s gate could NOT lock its peer: %s. The physical rig may still be ARMED; check it by hand.",
                self.backend_name,
                message,
            )
        elif during not in ("start", "recover"):
            log.error("%s gate faulted during %s: %s; locking", self.backend_name, during, message)
            with self._io_lock:
                try:
                    self._peer_lock(f"fault during {during}")
                except Exception as lock_exc:
                    with self._state_lock:
                        self._peer_locked = False
                    log.critical(
                        "%s gate could NOT lock its peer after a fault: %s. The rig may still be ARMED.",
                        self.backend_name,
                        lock_exc,
                    )
                else:
                    with self._state_lock:
                        self._peer_locked = True
                    if self._guardian is not None:
                        self._guardian.disarmed()
        else:
            log.error("%s gate unavailable (%s): %s", self.backend_name, during, message)
        self._notify_status()

    def _set_locked(self, reason: str, now_m: float, now_w: datetime, cause: LockCause) -> None:
        """State part of locking; caller holds ``_state_lock``."""
        self._generation += 1
        if not self._locked:
            self._changed_at = now_w
        self._locked = True
        self._reason = reason
        self._lock_cause = cause
        self._grant = None
        self._deadline = None
        self._token_deadline = None
        self._windows.close(now_m)

    def _refuse_unlock_if_unusable(self) -> None:
        if self._closed:
            raise UnlockRefusedError("unlock refused: the gate is closed")
        if not self._started:
            raise UnlockRefusedError("unlock refused: the gate was not started", hint="call start() first")
        if self._faulted:
            raise UnlockRefusedError(
                f"unlock refused: {self.backend_name} gate is faulted ({self._last_error})",
                hint="fix the cause (device, program, connection), then recover() the gate",
            )
        if self._guardian is not None and not self._guardian.alive:
            raise UnlockRefusedError(
                "unlock refused: the lease guardian process is not running",
                hint="without it a crashed agent could leave the rig armed; recover() the gate to restart it",
            )

    def _verify_grant(self, grant: UnlockGrant, now_w: datetime) -> CaptureToken:
        try:
            token = verify_capture_token(grant.token.to_wire(), self._trusted_keys, now_w)
        except CaptureTokenError as exc:
            raise UnlockRefusedError(f"unlock refused: {exc.what}", hint=exc.hint) from None
        if self._rig_id is not None and token.rig_id != self._rig_id:
            raise UnlockRefusedError(
                f"unlock refused: capture token is for rig {token.rig_id!r}, this rig is {self._rig_id!r}"
            )
        return token

    def _lapse_reason(self) -> tuple[str, LockCause]:
        with self._state_lock:
            token_expired = (
                self._deadline is not None
                and self._token_deadline is not None
                and self._deadline >= self._token_deadline
            )
            lease = self._grant.lease_seconds if self._grant else 0.0
        if token_expired:
            return "locked: capture token expired", "token_expired"
        return f"locked: lease not renewed within {lease:g} s (agent hung or crashed?)", "lease_lapsed"

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"{self.backend_name}-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _watchdog_loop(self) -> None:
        """Lock the gate the moment the lease lapses."""
        try:
            while not self._stop.is_set():
                with self._state_lock:
                    deadline = None if self._locked else self._deadline
                now = self._clock.monotonic()
                if deadline is not None and now >= deadline:
                    self._lock(None, only_if_lapsed=True)
                    continue
                timeout = 1.0 if deadline is None else min(deadline - now, 1.0)
                self._wake.wait(timeout)
                self._wake.clear()
        except BaseException as exc:  # the watchdog must never die silently with the gate open
            self._fault(exc, during="lease watchdog")
            raise

    def _health_loop(self) -> None:
        """Poll the peer; a failure faults and locks the gate."""
        while not self._stop.wait(self._health_interval):
            with self._state_lock:
                if self._faulted or self._closed:
                    continue
            try:
                if self._guardian is not None and not self._guardian.alive:
                    raise GateFaultError("the lease guardian process died")
                with self._io_lock:
                    self._peer_poll()
            except Exception as exc:
                if not self._stop.is_set():
                    self._fault(exc, during="health check")
