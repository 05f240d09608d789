"""The machinery of a headless rehearsal: a demo rig, what was observed, what went wrong.

A :class:`Rehearsal` says how the demo rig is prepared (gate backend, session
and liveness settings, a skewed rig clock, a step before the rig starts) and which script
plays it; :class:`Run` is the script's handle on the running rig.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from agent.gate.models import GateStatus
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot
from registry.demo.environment import DemoEnvironment, GateBackendKind

TYPES = frozenset({"face", "facs_expressions"})
STEP_TIMEOUT_S = 60.0
HEADLESS_SYNTHETIC_STEP_S = 0.5
"""A headless rehearsal's synthetic liveness step (the windowed demo holds each for 1.5 s)."""


@dataclass
class Run:
    """A scenario in progress: the rig, what was observed, and what went wrong."""

    env: DemoEnvironment
    rig: Rig
    ever_unlocked: bool = False
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def on_gate(self, status: GateStatus) -> None:
        """Gate status listener: remembers whether the gate ever unlocked."""
        if not status.locked:
            self.ever_unlocked = True

    def wait(
        self, what: str, predicate: Callable[[SessionSnapshot], bool], timeout: float = STEP_TIMEOUT_S
    ) -> bool:
        """Wait until ``predicate`` holds for the snapshot (a problem is noted on timeout)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.rig.controller.snapshot()):
                return True
            time.sleep(0.02)
        snap = self.rig.controller.snapshot()
        self.problems.append(f"timed out waiting for {what} (phase {snap.phase.value}: {snap.detail})")
        return False

    def wait_phase(self, phase: Phase, timeout: float = STEP_TIMEOUT_S) -> bool:
        """Wait for the session to reach ``phase`` (a problem is noted if it does not)."""
        return self.wait(f"phase {phase.value}", lambda s: s.phase is phase, timeout)

    def gate_locked_within(self, start: float, timeout: float) -> float | None:
        """Milliseconds from ``start`` (monotonic) until the gate reports locked; None if not within ``timeout``."""
        while time.monotonic() - start < timeout:
            if self.rig.gate.status().locked:
                return (time.monotonic() - start) * 1000
            time.sleep(0.002)
        return None

    def last_record(self) -> dict[str, Any]:
        """The last record the controller wrote (empty if none)."""
        return dict(self.rig.controller.snapshot().last_record or {})

    def expect_record(self, outcome: str, *, codes: tuple[str, ...] = ()) -> dict[str, Any]:
        """Check the last record's outcome and reason codes (problems noted); returns the record."""
        record = self.last_record()
        if record.get("outcome") != outcome:
            self.problems.append(f"expected outcome {outcome!r}, record says {record.get('outcome')!r}")
        for code in codes:
            if code not in record.get("reason_codes", []):
                self.problems.append(f"expected reason code {code!r} in {record.get('reason_codes')}")
        files = record.get("captured_files", [])
        self.facts.append(
            f"record #{record.get('sequence')}: outcome {record.get('outcome')},"
            f" reasons {record.get('reason_codes')}, files {len(files)}"
        )
        statuses = [(f.get("content_credentials") or {}).get("status") for f in files if isinstance(f, dict)]
        if any(statuses):
            written = sum(status in ("embedded", "sidecar") for status in statuses)
            self.facts.append(f"content credentials written for {written} of {len(files)} file(s)")
        return record

    def expect_never_unlocked(self) -> None:
        """Note a problem if the gate ever unlocked."""
        if self.ever_unlocked:
            self.problems.append("the gate unlocked, but it must never unlock in this scenario")

    def start_and_reach_terms(self) -> bool:
        """Start a session and wait until the terms are shown."""
        self.rig.controller.start_session("demo-technician", TYPES)
        return self.wait_phase(Phase.AWAITING_CONFIRMATION)

    def reach_unlock(self, confirmed: frozenset[str] = TYPES) -> bool:
        """Start a session, wait for the terms, confirm ``confirmed`` and wait for the unlock."""
        if not self.start_and_reach_terms():
            return False
        self.rig.controller.confirm(confirmed)
        return self.wait_phase(Phase.UNLOCKED, 10)

    def end_and_settle(self) -> None:
        """End the session as the technician and wait for the engine to be idle again."""
        self.rig.controller.end_session()
        self.wait_phase(Phase.IDLE, 15)


@dataclass(frozen=True)
class Rehearsal:
    """One rehearsal: how its demo rig is prepared, and the script that plays it."""

    play: Callable[[Run], None]
    enrol_stand_in: bool = True
    biometric_consent: bool = True
    gate_backend: GateBackendKind = "builtin"
    session_settings: Mapping[str, float] = field(default_factory=dict)
    liveness_settings: Mapping[str, float] = field(default_factory=dict)
    """``[liveness]`` values for the rig, e.g. a short ``step_time_limit_s`` so a timeout comes soon."""
    synthetic_liveness: bool = True
    """The stand-in camera cannot do a challenge: it gets a synthetic one, unless this is off."""
    synthetic_step_s: float = HEADLESS_SYNTHETIC_STEP_S
    """How long each synthetic step holds the face; nobody reads the prompts of a headless run."""
    rig_clock_offset: timedelta = timedelta(0)
    """Added to the real time for the rig's wall clock (negative: the rig clock is slow)."""
    before_rig: Callable[[DemoEnvironment, list[str], list[str]], None] | None = None
    """Runs before the rehearsal's rig starts, with (env, facts, problems) to add to."""


def capture_and_wait(run: Run, capture_type: str, expected_total: int) -> None:
    """Trigger a capture through the engine and wait until the session counts ``expected_total``."""
    run.rig.controller.capture(capture_type)
    run.wait(f"{expected_total} capture(s)", lambda s: s.captures >= expected_total, 15)
