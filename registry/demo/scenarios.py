"""Headless rehearsal scenarios: a whole session against the embedded registry, scripted.

``run_headless(name, out_dir)`` prepares a demo rig, plays one scenario as the
technician and the performer would, then checks what must have happened
(outcome, whether the gate ever unlocked, lock latency) and that the signed log
verifies. It returns 0 when the scenario behaved as expected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agent.faces.subprocess_identifier import SubprocessIdentifier
from agent.records.keys import load_public_key_file, trusted_keys
from agent.records.verify import verify_log
from agent.rig import Rig, WallClock
from agent.session.model import Phase
from registry.demo.environment import BADGE_CODE, BADGE_PIN, prepare_demo
from registry.demo.fault_scenarios import FAULT_REHEARSALS
from registry.demo.launch import start_demo_identifier
from registry.demo.rehearsal import STEP_TIMEOUT_S, TYPES, Rehearsal, Run, capture_and_wait
from registry.stand_in import stand_in_frame


def scenario_confirm(run: Run) -> None:
    """The performer confirms; two captures; the technician ends the session."""
    if not run.reach_unlock():
        return
    capture_and_wait(run, "face", 1)
    capture_and_wait(run, "facs_expressions", 2)
    run.end_and_settle()
    record = run.expect_record("captured")
    if len(record.get("captured_files", [])) != 2:
        run.problems.append("expected 2 captured files in the record")


def scenario_narrow(run: Run) -> None:
    """The performer removes FACS expressions; only face captures are possible."""
    if not run.reach_unlock(frozenset({"face"})):
        return
    capture_and_wait(run, "face", 1)
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
    capture_and_wait(run, "face", 1)
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
    capture_and_wait(run, "face", 1)
    run.end_and_settle()
    record = run.expect_record("captured")
    identification = record.get("identification") or {}
    if identification.get("method") != "fallback_badge_pin" or not identification.get(
        "witness_technician_id"
    ):
        run.problems.append(f"expected a witnessed badge + PIN identification, got {identification}")


REHEARSALS: dict[str, Rehearsal] = {
    "confirm": Rehearsal(scenario_confirm),
    "narrow": Rehearsal(scenario_narrow),
    "decline": Rehearsal(scenario_decline),
    "stop-midway": Rehearsal(scenario_stop_midway),
    "impostor": Rehearsal(scenario_impostor, enrol_stand_in=False),
    "revoked": Rehearsal(scenario_revoked),
    "registry-down": Rehearsal(scenario_registry_down),
    "gate-crash": Rehearsal(scenario_gate_crash),
    "fallback": Rehearsal(scenario_fallback, biometric_consent=False),
    **FAULT_REHEARSALS,
}
SCENARIOS: dict[str, Callable[[Run], None]] = {name: r.play for name, r in REHEARSALS.items()}
"""Every rehearsal's script by name (``scangate demo --headless --scenario NAME``)."""


def _rig_clock(rehearsal: Rehearsal) -> WallClock | None:
    offset = rehearsal.rig_clock_offset
    if not offset:
        return None
    return lambda: datetime.now(UTC) + offset


def run_headless(
    scenario: str,
    out_dir: Path,
    *,
    echo: Callable[[str], None] = print,
    identifier: SubprocessIdentifier | None = None,
) -> int:
    """Play ``scenario`` against a fresh demo rig in ``out_dir``; 0 when it behaved as expected.

    Args:
        scenario: a name in :data:`REHEARSALS`.
        out_dir: the demo's folder (see :func:`prepare_demo`).
        echo: where the facts and problems are written.
        identifier: an identification child the caller started early
            (:func:`registry.demo.launch.start_demo_identifier`, before importing this module);
            it computes the stand-in's template, and the rig takes it. Without one, one is
            started here, so its models load while the demo's registry is prepared.
    """
    rehearsal = REHEARSALS[scenario]
    template: tuple[float, ...] | None = None
    given = identifier is not None
    if identifier is None:
        identifier = start_demo_identifier()
    try:
        if given and rehearsal.enrol_stand_in:
            # The child has had the imports' time to load its models; the parent need not load them.
            template = identifier.encode(stand_in_frame())
        env = prepare_demo(
            out_dir,
            enrol_stand_in=rehearsal.enrol_stand_in,
            biometric_consent=rehearsal.biometric_consent,
            gate_backend=rehearsal.gate_backend,
            session_settings=rehearsal.session_settings,
            liveness_settings=rehearsal.liveness_settings,
            stand_in_template=template,
        )
    except BaseException:
        identifier.close()
        raise
    run: Run | None = None
    facts: list[str] = []
    problems: list[str] = []
    try:
        if rehearsal.before_rig is not None:
            rehearsal.before_rig(env, facts, problems)
        rig = Rig.from_config(
            env.config,
            clock=_rig_clock(rehearsal),
            synthetic_liveness=rehearsal.synthetic_liveness,
            synthetic_step_s=rehearsal.synthetic_step_s,
            identifier=identifier,
        )
        run = Run(env, rig, problems=problems, facts=facts)
        rig.gate.add_status_listener(run.on_gate)
        try:
            rig.start()  # inside: a rig that fails half-way through starting is stopped again
            has_roster = rehearsal.biometric_consent  # the fallback stand-in is on no roster
            run.wait("the roster", lambda _s: rig.health().roster_size > 0 or not has_roster, 30)
            rehearsal.play(run)
        finally:
            rig.stop()
    finally:
        identifier.close()  # the rig's, once it took it: closing twice is harmless
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
