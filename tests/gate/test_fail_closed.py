"""Fail-closed invariants, checked as properties over random operation sequences.

The peer here is a small in-process stand-in with switchable failures (every
real backend is tested against its real peer in its own module); the property
is about the shared gate logic: no sequence of unlocks, renewals, locks,
captures, peer failures and recoveries ever leaves capture possible unless the
last successful unlock had a valid token and nothing locked the gate since.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import mkdtemp
from typing import Any, ClassVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from agent.gate.base import CaptureGate
from agent.gate.errors import CaptureRefusedError, GateError, GateFaultError
from agent.gate.models import CaptureEvent, UnlockGrant
from agent.gate.token import CaptureToken, mint_capture_token
from agent.signing import Signer

RIG_KEY = Signer(Ed25519PrivateKey.generate())
OTHER_KEY = Signer(Ed25519PrivateKey.generate())
OPERATIONS = ("lock", "unlock", "capture", "renew")


class InjectedPeerError(OSError):
    """An injected I/O failure of the stand-in peer."""


class SwitchablePeerGate(CaptureGate):
    """A gate whose peer is a boolean 'armed', with failures switched on per operation."""

    backend_name: ClassVar[str] = "switchable"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.armed = True  # an unknown rig is assumed armed until the gate locks it
        self.failing: set[str] = set()
        self.shots = 0

    def _check(self, operation: str) -> None:
        if operation in self.failing:
            raise InjectedPeerError(f"injected {operation} failure")

    def _peer_open(self) -> None:
        pass

    def _peer_lock(self, reason: str) -> None:
        self._check("lock")
        self.armed = False

    def _peer_unlock(self, token: CaptureToken) -> None:
        self._check("unlock")
        self.armed = True

    def _peer_renew(self) -> None:
        self._check("renew")

    def _peer_capture(self, capture_type: str) -> list[CaptureEvent]:
        with self._io_lock:
            self._authorise_capture(capture_type)
            self._check("capture")
            self.shots += 1
        return []


def _grant(signer: Signer, *, expired: bool = False) -> UnlockGrant:
    now = datetime.now(UTC) - (timedelta(hours=1) if expired else timedelta(0))
    token = mint_capture_token(
        signer,
        session_id="s1",
        rig_id="rig-1",
        performer_id="p",
        production_id="x",
        capture_types=["face"],
        lifetime=timedelta(minutes=10),
        now=now,
    )
    return UnlockGrant(token=token, lease_seconds=60)


class FailClosedMachine(RuleBasedStateMachine):
    """Model: the gate may be open only after a valid unlock with no lock or failure since."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = SwitchablePeerGate(
            trusted_keys={RIG_KEY.key_id: RIG_KEY.public_key},
            capture_root=Path(mkdtemp(prefix="scangate-failclosed-")),
            rig_id="rig-1",
            health_check_interval_s=3600,
        )
        self.gate.start()
        self.may_be_open = False

    def teardown(self) -> None:
        self.gate.close()

    @rule(signer=st.sampled_from(["rig", "rig", "rig", "other", "expired"]))
    def unlock(self, signer: str) -> None:
        grant = _grant(OTHER_KEY) if signer == "other" else _grant(RIG_KEY, expired=signer == "expired")
        try:
            self.gate.unlock(grant)
        except GateError:
            # Refused: a bad token leaves the state as it was; a peer failure locks. Never opens.
            if self.gate.status().locked:
                self.may_be_open = False
            return
        assert signer == "rig", "an invalid token unlocked the gate"
        assert "unlock" not in self.gate.failing, "the gate opened although the peer failed to arm"
        self.may_be_open = True

    @rule()
    def lock(self) -> None:
        self.gate.lock("test lock")
        self.may_be_open = False

    @rule()
    def renew(self) -> None:
        try:
            self.gate.renew()
        except GateError:
            self.may_be_open = False

    @rule()
    def capture(self) -> None:
        shots = self.gate.shots
        try:
            self.gate.capture("face")
        except CaptureRefusedError:
            assert self.gate.shots == shots
            return
        except GateFaultError:
            self.may_be_open = False
            return
        assert self.may_be_open, "captured although the gate should be locked"

    @rule(operation=st.sampled_from(OPERATIONS))
    def break_peer(self, operation: str) -> None:
        self.gate.failing.add(operation)

    @rule(operation=st.sampled_from(OPERATIONS))
    def repair_peer(self, operation: str) -> None:
        self.gate.failing.discard(operation)

    @rule()
    def recover(self) -> None:
        status = self.gate.recover()
        assert status.locked
        self.may_be_open = False

    @invariant()
    def never_open_unless_allowed(self) -> None:
        status = self.gate.status()
        if not status.locked:
            assert self.may_be_open, "gate open without a valid, unrevoked unlock"
            assert status.healthy

    @invariant()
    def faulted_means_locked(self) -> None:
        status = self.gate.status()
        if not status.healthy:
            assert status.locked

    @invariant()
    def armed_peer_while_locked_is_always_reported(self) -> None:
        status = self.gate.status()
        if status.locked and self.gate.armed:
            assert status.peer_locked is not True, "peer armed while the gate claims it locked it"
            assert not status.healthy


FailClosedMachine.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
TestFailClosed = FailClosedMachine.TestCase
