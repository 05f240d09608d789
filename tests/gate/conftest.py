"""Fixtures for the capture gate tests: a rig key, capture tokens, grants and gate options."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from agent.gate.base import CaptureGate
from agent.gate.models import CaptureEvent, GateStatus, UnlockGrant
from agent.gate.token import CaptureToken, mint_capture_token
from agent.signing import Signer

RIG_ID = "rig-1"

MakeToken = Callable[..., CaptureToken]
MakeGrant = Callable[..., UnlockGrant]


@pytest.fixture(scope="session")
def rig_signer() -> Signer:
    """The rig key (generated per test session)."""
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture(scope="session")
def trusted_keys(rig_signer: Signer) -> dict[str, Ed25519PublicKey]:
    """The pinned rig keys: just the rig key."""
    return {rig_signer.key_id: rig_signer.public_key}


@pytest.fixture
def make_token(rig_signer: Signer) -> MakeToken:
    """Mint a capture token; keyword arguments override the defaults."""

    def make(**overrides: Any) -> CaptureToken:
        fields: dict[str, Any] = {
            "session_id": "session-1",
            "rig_id": RIG_ID,
            "performer_id": "performer-7",
            "production_id": "prod-42",
            "capture_types": ["face", "facs"],
            "lifetime": timedelta(minutes=10),
            "now": datetime.now(UTC),
        }
        signer = overrides.pop("signer", rig_signer)
        fields.update(overrides)
        return mint_capture_token(signer, **fields)

    return make


@pytest.fixture
def make_grant(make_token: MakeToken) -> MakeGrant:
    """An UnlockGrant with a fresh token; ``lease`` sets the lease seconds."""

    def make(lease: float = 5.0, **token_overrides: Any) -> UnlockGrant:
        return UnlockGrant(token=make_token(**token_overrides), lease_seconds=lease)

    return make


@pytest.fixture
def gate_options(tmp_path: Path, trusted_keys: dict[str, Ed25519PublicKey]) -> dict[str, Any]:
    """Common CaptureGate keyword arguments for a test."""
    return {
        "trusted_keys": trusted_keys,
        "capture_root": tmp_path / "captures",
        "rig_id": RIG_ID,
        "health_check_interval_s": 0.1,
    }


class Recorder:
    """Collects a gate's capture events and status changes."""

    def __init__(self, gate: CaptureGate) -> None:
        self.events: list[CaptureEvent] = []
        self.statuses: list[GateStatus] = []
        gate.add_capture_listener(self.events.append)
        gate.add_status_listener(self.statuses.append)


@pytest.fixture
def closing() -> Iterator[Callable[[CaptureGate], CaptureGate]]:
    """Register gates to be closed at the end of the test, even when it fails."""
    gates: list[CaptureGate] = []

    def register(gate: CaptureGate) -> CaptureGate:
        gates.append(gate)
        return gate

    yield register
    for gate in gates:
        gate.close()
