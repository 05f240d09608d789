"""Headless rehearsal scenarios: a whole session against the embedded registry, scripted.

``run_headless(name, out_dir)`` prepares a demo rig, plays one scenario as the
technician and the performer would, then checks what must have happened
(outcome, whether the gate ever unlocked, lock latency) and that the signed log
verifies. It returns 0 when the scenario behaved as expected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.gate.models import GateStatus
from agent.records.keys import load_public_key_file, trusted_keys
from agent.records.verify import verify_log
from agent.rig import Rig
from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot
from registry.demo.environment import BADGE_CODE, BADGE_PIN, DemoEnvironment, prepare_demo

TYPES = frozenset({"face", "facs_expressions"})
STEP_TIMEOUT_S = 60.0


@dataclass
class Run:
    """A scenario in progress: the rig, what was observed, and what went wrong."""

    env: DemoEnvironment
    rig: Rig
    ever_unlocked: bool = False
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def on_gate(self, status: GateStatus) -> None:
        if not status.locked:
            self.ever_unlocked = True

    def wait(
        self, what: str, predicate: Callable[[SessionSnapshot], bool], timeout: float = STEP_TIMEOUT_S
    ) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.rig.controller.snapshot()):
                return True
            time.sleep(0.02)
        snap = self.rig.controller.snapshot()
        self.problems.append(f"timed out waiting for {what} (phase {snap.phase.value}: {snap.detail})")
        return False

    def wait_phase(self, phase: Phase, timeout: float = STEP_TIMEOUT_S) -> bool:
        return self.wait(f"phase {phase.value}", lambda s: s.phase is phase, timeout)

    def gate_locked_within(self, start: float, timeout: float) -> float | None:
        while time.monotonic() - start < timeout:
            if self.rig.gate.status().locked:
                return (time.monotonic() - start) * 1000
            time.sleep(0.002)
        return None

    def last_record(self) -> dict[str, Any]:
        return dict(self.rig.controller.snapshot().last_record or {})

    def expect_record(self, outcome: str, *, codes: tuple[str, ...] = ()) -> dict[str, Any]:
        record = self.last_record()
        if record.get("outcome") != outcome:
            self.problems.append(f"expected outcome {outcome!r}, record says {record.get('outcome')!r}")
        for code in codes:
            if code not in record.get("reason_codes", []):
                self.problems.append(f"expected reason code {code!r} in {record.get('reason_codes')}")
        self.facts.append(
            f"record #{record.get('sequence')}: outcome {record.get('outcome')},"
            f" reasons {record.get('reason_codes')}, files {len(record.get('captured_files', []))}"
        )
        return record

    def expect_never_unlocked(self) -> None:
        if self.ever_unlocked:
            self.problems.append("the gate unlocked, but it must never unlock in this scenario")

    def start_and_reach_terms(self) -> bool:
        self.rig.controller.start_session("demo-technician", TYPES)
        return self.wait_phase(Phase.AWAITING_CONFIRMATION)

    def reach_unlock(self, confirmed: frozenset[str] = TYPES) -> bool:
        """Start a session, wait for the terms, confirm ``confirmed`` and wait for the unlock."""
        if not self.start_and_reach_terms():
            return False
        self.rig.controller.confirm(confirmed)
        return self.wait_phase(Phase.UNLOCKED, 10)

    def end_and_settle(self) -> None:
        self.rig.controller.end_session()
        self.wait_phase(Phase.IDLE, 15)


def _capture(run: Run, capture_type: str, expected_total: int) -> None:
    run.rig.controller.capture(capture_type)
    run.wait(f"{expected_total} capture(s)", lambda s: s.captures >= expected_total, 15)


def scenario_confirm(run: Run) -> None:
    """The performer confirms; two captures; the technician ends the session."""
    if not run.reach_unlock():
        return
    _capture(run, "face", 1)
    _capture(run, "facs_expressions", 2)
    run.end_and_settle()
    record = run.expect_record("captured")
    if len(record.get("captured_files", [])) != 2:
        run.problems.append("expected 2 captured files in the record")


def scenario_narrow(run: Run) -> None:
    """The performer removes FACS expressions; only face captures are possible."""
    if not run.reach_unlock(frozenset({"face"})):
        return
    _capture(run, "face", 1)
    run.rig.controller.capture("facs_expressions")  # refused by the gate: not confirmed
    time.sleep(0.5)
    if run.rig.controller.snapshot().captures != 1:
        run.problems.append("a capture type the performer removed was captured")
    run.end_and_settle()
    record = run.expect_record("captured")
    confirmation = record.get("confirmation") or {}
    if confirmation.get("decision") != "narrowed" or confirmation.get("capture_types") != ["face"]:
        run.problems.append(f"expected a narrowed confirmation to ['face'], got {confirmation}")


def scenario_decline(run: Run) -> None:
    """The performer declines the terms."""
    if not run.start_and_reach_terms():
        return
    run.rig.controller.decline()
    run.wait_phase(Phase.IDLE, 15)
    run.expect_record("declined", codes=("performer_declined",))
    run.expect_never_unlocked()


def scenario_stop_midway(run: Run) -> None:
    """The performer taps STOP while capture is unlocked."""
    if not run.reach_unlock():
        return
    _capture(run, "face", 1)
    start = time.monotonic()
    run.rig.controller.stop_capture()
    latency = run.gate_locked_within(start, 2.0)
    if latency is None or latency > 200:
        run.problems.append(f"STOP took {latency} ms to lock the gate (target ≤ 200 ms)")
    run.facts.append(
        f"STOP → gate locked in {latency:.1f} ms" if latency is not None else "STOP never locked"
    )
    run.wait_phase(Phase.IDLE, 15)
    run.expect_record("captured", codes=("performer_stopped",))


def scenario_impostor(run: Run) -> None:
    """An unenrolled face is in front of the camera: nobody is identified, nothing unlocks."""
    run.rig.controller.start_session("demo-technician", TYPES)
    time.sleep(6.0)
    snap = run.rig.controller.snapshot()
    if snap.phase is not Phase.IDENTIFYING:
        run.problems.append(f"an unknown face must not get past identification (phase {snap.phase.value})")
    run.end_and_settle()
    run.expect_record("refused", codes=("performer_not_identified",))
    run.expect_never_unlocked()


def scenario_revoked(run: Run) -> None:
    """The performer's consent was revoked in the registry before the session."""
    run.env.revoke_stand_in_consent()
    run.rig.controller.start_session("demo-technician", TYPES)
    run.wait("the refusal record", lambda s: s.last_record is not None, STEP_TIMEOUT_S)
    record = run.expect_record("refused")
    # Refused by the policy (the registry's record says revoked) or by the engine (the
    # revocation feed reached it first): either way, named as a revocation.
    if not {"revoked", "consent_revoked"} & set(record.get("reason_codes", [])):
        run.problems.append(f"the refusal does not name the revocation: {record.get('reason_codes')}")
    run.expect_never_unlocked()


def scenario_registry_down(run: Run) -> None:
    """The registry goes away before the consent check: a fault, capture stays locked."""
    run.env.registry.stop()
    run.rig.controller.start_session("demo-technician", TYPES)
    run.wait_phase(Phase.LOCKED_FAULT, STEP_TIMEOUT_S)
    run.wait("the fault record", lambda s: s.last_record is not None, 15)
    run.end_and_settle()
    run.expect_record("fault", codes=("fault",))
    run.expect_never_unlocked()


def scenario_gate_crash(run: Run) -> None:
    """The agent hangs while unlocked: the lease is not renewed and the gate locks itself."""
    if not run.reach_unlock():
        return
    lease = run.rig.config.gate.lease_seconds
    start = time.monotonic()
    run.rig.controller.inject_stall(lease * 2 + 1.0)
    latency = run.gate_locked_within(start, lease + 2.0)
    budget = (lease * 1000) + 200
    if latency is None or latency > budget:
        run.problems.append(f"hung agent: gate locked after {latency} ms (target ≤ {budget:.0f} ms)")
    run.facts.append(
        f"agent hung → gate locked by its lease in {latency:.0f} ms" if latency else "never locked"
    )
    run.wait_phase(Phase.LOCKED_FAULT, lease * 2 + 10)
    run.wait("the fault record", lambda s: s.last_record is not None, 15)
    run.end_and_settle()
    run.expect_record("fault", codes=("gate_lease_lapsed", "fault"))


def scenario_fallback(run: Run) -> None:
    """No biometric-check consent: badge + PIN with a technician witness identify the performer."""
    run.rig.controller.start_session("demo-technician", TYPES)
    run.wait_phase(Phase.IDENTIFYING, 10)
    time.sleep(2.0)  # the face is in view but not on the roster: nothing happens
    if run.rig.controller.snapshot().phase is not Phase.IDENTIFYING:
        run.problems.append("a performer without biometric consent got past identification by face")
    run.rig.controller.request_fallback()
    run.wait("the fallback request", lambda s: s.fallback_mode, 10)
    run.rig.controller.submit_fallback("BADGE-0042", "0000", "demo-technician")  # wrong PIN first
    time.sleep(1.0)
    if run.rig.controller.snapshot().phase is not Phase.IDENTIFYING:
        run.problems.append("a wrong PIN identified the performer")
    run.rig.controller.submit_fallback(BADGE_CODE, BADGE_PIN, "demo-technician")
    if not run.wait_phase(Phase.AWAITING_CONFIRMATION, 20):
        return
    run.rig.controller.confirm(TYPES)
    if not run.wait_phase(Phase.UNLOCKED, 10):
        return
    _capture(run, "face", 1)
    run.end_and_settle()
    record = run.expect_record("captured")
    identification = record.get("identification") or {}
    if identification.get("method") != "fallback_badge_pin" or not identification.get(
        "witness_technician_id"
    ):
        run.problems.append(f"expected a witnessed badge + PIN identification, got {identification}")


SCENARIOS: dict[str, Callable[[Run], None]] = {
    "confirm": scenario_confirm,
    "narrow": scenario_narrow,
    "decline": scenario_decline,
    "stop-midway": scenario_stop_midway,
    "impostor": scenario_impostor,
    "revoked": scenario_revoked,
    "registry-down": scenario_registry_down,
    "gate-crash": scenario_gate_crash,
    "fallback": scenario_fallback,
}


def run_headless(scenario: str, out_dir: Path, *, echo: Callable[[str], None] = print) -> int:
    """Play ``scenario`` against a fresh demo rig in ``out_dir``; 0 when it behaved as expected."""
    play = SCENARIOS[scenario]
    env = prepare_demo(
        out_dir, enrol_stand_in=scenario != "impostor", biometric_consent=scenario != "fallback"
    )
    run: Run | None = None
    try:
        rig = Rig.from_config(env.config)
        run = Run(env, rig)
        rig.gate.add_status_listener(run.on_gate)
        try:
            rig.start()  # inside: a rig that fails half-way through starting is stopped again
            run.wait("the roster", lambda _s: rig.health().roster_size > 0 or scenario == "fallback", 30)
            play(run)
        finally:
            rig.stop()
    finally:
        env.close()
    assert run is not None
    log_path = env.config.records.log_path
    public_key = load_public_key_file(out_dir / "rig-public.pem")
    verdict = verify_log(log_path, trusted_keys([public_key]))
    if not verdict.intact:
        run.problems.append(f"the session log does not verify: {verdict.problem_counts}")
    for fact in run.facts:
        echo(f"  {fact}")
    echo(f"  log {log_path}: {verdict.records} record(s), {'intact' if verdict.intact else 'NOT intact'}")
    echo(f"  gate ever unlocked: {'yes' if run.ever_unlocked else 'no'}")
    for problem in run.problems:
        echo(f"  PROBLEM: {problem}")
    echo(f"scenario {scenario}: {'as expected' if not run.problems else 'NOT as expected'}")
    return 0 if not run.problems else 1
