"""The session controller with real parts: embedded registry, consent policy, signed log, a gate.

Frames are fed as identification results (what the recognition worker would
deliver), so these tests exercise the engine thread, the lookup pool and the
effects without a camera. The gate's peer is the switchable in-process rig of
tests/gate/test_fail_closed.py (there is no capture hardware on this machine).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent import durable
from agent.faces.decision import Decision
from agent.faces.identifier import FrameAnalysis
from agent.gate.models import CaptureEvent
from agent.liveness.challenge import Thresholds
from agent.records.recorder import SessionRecorder
from agent.registry_client.client import RegistryClient
from agent.registry_client.lookup import ConsentLookup
from agent.rig import RegistryConsentService
from agent.session import journal as journal_module
from agent.session.controller import ControllerSettings, SessionController
from agent.session.journal import SessionJournal
from agent.session.liveness_checks import LivenessChecks
from agent.session.model import ConsentCheck, IdentificationMethod, Phase, Timing
from agent.session.ports import ConsentAnswer
from agent.session.snapshot import SessionSnapshot
from agent.signing import Signer
from registry.demo import DemoEnvironment, prepare_demo
from registry.demo.environment import STAND_IN_ID, STAND_IN_NAME
from tests.gate.test_fail_closed import SwitchablePeerGate


class ReportingGate(SwitchablePeerGate):
    """The switchable rig, able to report a photo late, as capture software does."""

    def report(self, event: CaptureEvent) -> str | None:
        """Report ``event`` as capture software would; returns why it was not kept, or None (kept)."""
        return self._emit(event)


TYPES = frozenset({"face", "facs_expressions"})
WAIT_S = 30.0


def matching_frame() -> FrameAnalysis:
    return FrameAnalysis(
        decision=Decision.MATCH,
        reason="matched",
        performer_id=STAND_IN_ID,
        display_name=STAND_IN_NAME,
        distance=0.1,
        margin=0.3,
        faces_found=1,
    )


@dataclass
class Harness:
    env: DemoEnvironment
    controller: SessionController
    gate: ReportingGate
    log_path: Path
    feeding: threading.Event
    recorder: SessionRecorder

    def wait(self, what: str, predicate: Callable[[SessionSnapshot], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if predicate(self.controller.snapshot()):
                return
            time.sleep(0.01)
        raise AssertionError(f"timed out waiting for {what}: {self.controller.snapshot().detail}")

    def unlock(self) -> str:
        session_id = self.controller.start_session("tech", TYPES)
        self.wait("terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
        self.controller.confirm(TYPES, session_id=session_id)
        self.wait("unlock", lambda s: s.phase is Phase.UNLOCKED)
        return session_id

    def records(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line.strip()]


@pytest.fixture
def unlock_timebox_s(request: pytest.FixtureRequest) -> float:
    """The unlock time-box of the harness (tests override it with indirect parametrisation)."""
    return float(getattr(request, "param", 120.0))


@pytest.fixture
def liveness_method(request: pytest.FixtureRequest) -> str | None:
    """The harness's liveness method (None: no challenge); tests override it indirectly."""
    return getattr(request, "param", None)


@pytest.fixture
def consent_recheck_s(request: pytest.FixtureRequest) -> float | None:
    """The harness's consent re-check interval (None: the configuration's)."""
    return getattr(request, "param", None)


@pytest.fixture
def harness(
    tmp_path: Path, unlock_timebox_s: float, liveness_method: str | None, consent_recheck_s: float | None
) -> Iterator[Harness]:
    env = prepare_demo(tmp_path / "demo")
    config = env.config
    session = config.session.model_copy(update={"unlock_timebox_s": unlock_timebox_s})
    if consent_recheck_s is not None:
        session = session.model_copy(update={"consent_recheck_interval_s": consent_recheck_s})
    timing = replace(session.timing(), liveness_required=liveness_method is not None)
    liveness = (
        LivenessChecks(
            "synthetic" if liveness_method == "synthetic" else "challenge",
            2,
            Thresholds(step_time_limit=timedelta(seconds=1)),
            "test",
        )
        if liveness_method is not None
        else None
    )
    recorder = SessionRecorder.open(config.records, config.rig.rig_id)
    signer = recorder.key.signer
    gate = ReportingGate(trusted_keys={signer.key_id: signer.public_key}, capture_root=tmp_path / "captures")
    gate.start()
    client = RegistryClient(config.registry)
    lookup = ConsentLookup(
        client, production_id=config.rig.production_id, guardian_co_confirmation_available=True
    )
    controller = SessionController(
        ControllerSettings(
            rig_id=config.rig.rig_id,
            production_id=config.rig.production_id,
            timing=timing,
            lease_seconds=config.gate.lease_seconds,
            renew_interval=config.gate.renew_interval_seconds,
            journal_path=tmp_path / "open-session.json",
        ),
        gate=gate,
        consent=RegistryConsentService(lookup),
        records=recorder,
        signer=signer,
        liveness=liveness,
    )
    controller.start()
    feeding = threading.Event()
    feeding.set()
    stop_feeding = threading.Event()

    def feed() -> None:
        while not stop_feeding.wait(0.1):
            if feeding.is_set():
                controller.on_frame(matching_frame())

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield Harness(env, controller, gate, config.records.log_path, feeding, recorder)
    finally:
        stop_feeding.set()
        feeder.join()
        controller.stop()
        gate.close()
        recorder.close()
        client.close()
        env.close()


def test_stopping_the_agent_mid_session_still_writes_the_record(harness: Harness) -> None:
    harness.unlock()
    harness.controller.stop()
    assert harness.gate.status().locked and not harness.gate.armed
    records = harness.records()
    assert len(records) == 1
    assert "technician_ended" in records[0]["reason_codes"]


def test_a_lock_the_rig_does_not_confirm_is_recorded_as_a_fault(harness: Harness) -> None:
    harness.unlock()
    harness.gate.failing.add("lock")
    harness.controller.stop_capture()
    harness.wait("the record", lambda s: s.last_record is not None)
    record = harness.controller.snapshot().last_record or {}
    assert record["outcome"] == "fault"
    assert "performer_stopped" in record["reason_codes"]  # type: ignore[operator]


def test_stop_locks_the_gate_even_while_the_engine_is_busy(harness: Harness) -> None:
    harness.unlock()
    harness.controller.inject_stall(3.0)
    time.sleep(0.2)  # the engine is now stuck in the stall
    harness.controller.stop_capture()
    deadline = time.monotonic() + 1.0  # well before the 1.5 s lease could lapse
    while time.monotonic() < deadline and not harness.gate.status().locked:
        time.sleep(0.005)
    assert harness.gate.status().locked and not harness.gate.armed
    harness.wait("the record", lambda s: s.last_record is not None)
    assert "performer_stopped" in (harness.controller.snapshot().last_record or {})["reason_codes"]  # type: ignore[operator]


def test_a_confirmation_for_an_ended_session_is_dropped(harness: Harness) -> None:
    first = harness.controller.start_session("tech", TYPES)
    harness.wait("terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    harness.controller.end_session()
    harness.wait("the first record", lambda s: s.phase is Phase.IDLE and s.last_record is not None)
    harness.controller.start_session("tech", TYPES)
    harness.wait("new terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    harness.controller.confirm(TYPES, session_id=first)  # a late tap on the old session's terms
    time.sleep(0.5)
    assert harness.controller.snapshot().phase is Phase.AWAITING_CONFIRMATION
    assert not harness.gate.armed


def test_frames_taken_before_the_session_started_never_identify_its_performer(harness: Harness) -> None:
    """Issue 9, finding 9: the feeder's frames before the start gave the voter a streak, and results of
    frames taken before the start but delivered after it confirmed the identity (identified_at 0.8 s
    before started_at). Only frames taken after the start may identify the session's performer."""
    harness.feeding.clear()
    time.sleep(0.3)  # the feeder has voted for the performer while no session was open
    start_session_at = datetime.now(UTC)
    harness.controller.start_session("tech", TYPES)
    for early in (0.8, 0.6, 0.4):  # results of frames taken before the start, arriving after it
        harness.controller.on_frame(matching_frame(), start_session_at - timedelta(seconds=early))
    harness.controller.on_frame(matching_frame())  # one frame taken after the start
    time.sleep(0.5)
    assert harness.controller.snapshot().phase is Phase.IDENTIFYING
    harness.feeding.set()
    harness.wait("terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    harness.controller.end_session()
    harness.wait("the record", lambda s: s.last_record is not None)
    record = harness.controller.snapshot().last_record or {}
    identification: Any = record["identification"]
    assert identification["identified_at"] >= record["started_at"]


def test_performer_walking_away_relocks_and_says_why(harness: Harness) -> None:
    harness.unlock()
    harness.feeding.clear()  # the analysed frames show nobody from now on
    empty = FrameAnalysis(decision=Decision.NO_FACE, reason="no face found in the frame")
    while harness.controller.snapshot().last_record is None:
        harness.controller.on_frame(empty)
        time.sleep(0.1)
    record = harness.controller.snapshot().last_record or {}
    assert "performer_absent" in record["reason_codes"]  # type: ignore[operator]
    assert harness.gate.status().locked


def test_frames_that_stop_being_analysed_lock_as_a_recognition_stall(harness: Harness) -> None:
    """No analysed frames at all is not 'the performer left': the record says the rig could not
    analyse frames in time (a fault), and the technician's console says so."""
    harness.unlock()
    harness.feeding.clear()  # recognition stops delivering results
    harness.wait("the fault", lambda s: s.phase is Phase.LOCKED_FAULT and s.last_record is not None)
    snapshot = harness.controller.snapshot()
    record: Any = snapshot.last_record
    assert record["outcome"] == "fault"
    assert "recognition_stalled" in record["reason_codes"]
    assert "performer_absent" not in record["reason_codes"]
    assert "could not analyse camera frames in time" in record["outcome_detail"]
    assert "could not analyse camera frames in time" in snapshot.detail
    assert harness.gate.status().locked


def test_a_lease_that_ran_out_before_the_watchdog_locked_is_judged_before_anything_else(
    harness: Harness,
) -> None:
    """After the whole agent was frozen (SIGSTOP) its threads resume in any order; if the engine
    runs before the gate's watchdog, the gate still says unlocked with a lease that ran out long ago,
    and no frame was analysed meanwhile. That is a lapsed lease, not a recognition stall (the
    end-to-end version with a real frozen process is tests/session/test_frozen_agent.py)."""
    harness.unlock()
    harness.gate._stop.set()  # the watchdog (and health) threads stop: the engine sees the lapse first
    harness.gate._wake.set()
    harness.feeding.clear()  # no frames are analysed (the camera is frozen too)
    stalled_at = datetime.now(UTC)
    harness.controller._lease.stopped()  # and no renewals: the lease runs out while the engine ticks
    harness.wait("the fault record", lambda s: s.phase is Phase.LOCKED_FAULT and s.last_record is not None)
    record: Any = harness.controller.snapshot().last_record
    assert record["reason_codes"][0] == "gate_lease_lapsed", record["outcome_detail"]
    assert "recognition_stalled" not in record["reason_codes"]
    lease = timedelta(seconds=harness.env.config.gate.lease_seconds)
    locked_at = datetime.fromisoformat(record["gate_events"][-1]["at"].replace("Z", "+00:00"))
    assert stalled_at - lease <= locked_at <= stalled_at + lease + timedelta(seconds=0.5)


def test_a_capture_reported_after_the_record_gets_a_correction_record(
    harness: Harness, tmp_path: Path
) -> None:
    session_id = harness.unlock()
    harness.controller.end_session()
    harness.wait("the record", lambda s: s.phase is Phase.IDLE and s.last_record is not None)
    original = harness.records()[-1]
    assert original["outcome"] == "refused"  # nothing captured yet
    photo = tmp_path / "IMG_0042.jpg"
    photo.write_bytes(b"late photo bytes")
    harness.gate.report(
        CaptureEvent(
            event_id="late-1",
            source="switchable",
            kind="file",
            session_id=session_id,
            path=str(photo),
            sha256=hashlib.sha256(photo.read_bytes()).hexdigest(),
            captured_at=datetime.now(UTC),
            within_unlock_window=True,
        )
    )
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline and len(harness.records()) < 2:
        time.sleep(0.02)
    records = harness.records()
    assert len(records) == 2, "the original record is never rewritten; a correction is added"
    correction = records[1]
    assert correction["corrects_record_id"] == original["record_id"]
    assert correction["outcome"] == "captured"
    assert [f["name"] for f in correction["captured_files"]] == [str(photo)]


@pytest.mark.parametrize("consent_recheck_s", [0.3], indirect=True)
def test_an_unlocked_session_whose_journal_cannot_be_written_locks_and_the_record_says_so(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk under the open-session journal fills while capture is unlocked, with no capture:
    the session's next journal write (a consent re-check's) fails. A crash could then lose the
    session's evidence, so capture must lock, and the record must name the journal."""
    harness.unlock()

    def disk_full(_fd: int, _data: bytes) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(journal_module, "write_all", disk_full)  # the journal's own writes only
    harness.wait("the fault record", lambda s: s.phase is Phase.LOCKED_FAULT and s.last_record is not None)
    assert harness.gate.status().locked
    record: Any = harness.controller.snapshot().last_record
    assert record["outcome"] == "fault"
    assert "open-session journal cannot be written" in record["outcome_detail"]
    assert "No space left on device" in record["outcome_detail"]


def test_a_capture_the_journal_cannot_keep_locks_capture_and_the_record_says_so(
    harness: Harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk under the open-session journal while unlocked: the capture the gate reports
    cannot be journaled, so a crash could lose it. The gate must lock before the capture is
    acknowledged, the acknowledgement must say the capture was not kept, and the record must
    list the capture and name the journal as the fault."""
    session_id = harness.unlock()
    write_all = durable.write_all
    full = threading.Event()

    def disk_full(fd: int, data: bytes) -> None:
        # The disk fills as the capture is journaled, and stays full. Filling it earlier would
        # let another journal write of the unlocked session (a consent re-check, say) fail first:
        # a fault recorded before the capture is reported, which is another test's scenario.
        if json.loads(data).get("kind") == "capture":
            full.set()
        if full.is_set():
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        write_all(fd, data)

    monkeypatch.setattr(journal_module, "write_all", disk_full)  # the journal's own writes only
    photo = tmp_path / "IMG_0007.jpg"
    photo.write_bytes(b"photo bytes")
    problem = harness.gate.report(
        CaptureEvent(
            event_id="unjournaled-1",
            source="switchable",
            kind="file",
            session_id=session_id,
            path=str(photo),
            sha256=hashlib.sha256(photo.read_bytes()).hexdigest(),
            captured_at=datetime.now(UTC),
            within_unlock_window=True,
        )
    )
    locked_at_acknowledgement = harness.gate.status().locked
    harness.wait("the fault record", lambda s: s.phase is Phase.LOCKED_FAULT and s.last_record is not None)
    record: Any = harness.controller.snapshot().last_record
    assert record["outcome"] == "captured", "a consented capture was made (and the record says so)"
    assert "fault" in record["reason_codes"]
    assert "open-session journal could not be written" in record["outcome_detail"]
    assert [f["name"] for f in record["captured_files"]] == [str(photo)], "the capture happened"
    assert harness.records()[-1]["record_id"] == record["record_id"]
    assert locked_at_acknowledgement, "the gate was still unlocked when the capture was acknowledged"
    assert problem is not None and "journal" in problem, "the capture was acknowledged as kept"
    assert not harness.gate.armed


def test_a_capture_reported_while_a_fault_awaits_acknowledgement_gets_a_correction_record(
    harness: Harness, tmp_path: Path
) -> None:
    """A faulted session stays on screen until the technician acknowledges it; capture software
    may report a photo of it meanwhile (downloaded after the lock). Its record is already written,
    so the photo needs a correction record, not a place in a context nobody records again."""
    session_id = harness.unlock()
    harness.controller.on_fault("camera", "injected fault")
    harness.wait("the fault record", lambda s: s.phase is Phase.LOCKED_FAULT and s.last_record is not None)
    photo = tmp_path / "IMG_0099.jpg"
    photo.write_bytes(b"photo downloaded after the lock")
    harness.gate.report(
        CaptureEvent(
            event_id="late-after-fault",
            source="switchable",
            kind="file",
            session_id=session_id,
            path=str(photo),
            sha256=hashlib.sha256(photo.read_bytes()).hexdigest(),
            captured_at=datetime.now(UTC),
            within_unlock_window=True,
        )
    )
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline and len(harness.records()) < 2:
        time.sleep(0.02)
    records = harness.records()
    assert len(records) == 2, "the photo is in no record"
    assert records[1]["corrects_record_id"] == records[0]["record_id"]
    assert [f["name"] for f in records[1]["captured_files"]] == [str(photo)]


def restart_agent(harness: Harness, journal: Path) -> dict[str, object] | None:
    """Start the agent again on the same log and journal (as after a crash), then stop it; returns
    the last record its snapshot showed as soon as ``start()`` returned."""
    recorder = SessionRecorder.open(harness.env.config.records, harness.env.config.rig.rig_id)
    client = RegistryClient(harness.env.config.registry)
    try:
        restarted = SessionController(
            ControllerSettings(rig_id="demo-rig", production_id="demo-production", journal_path=journal),
            gate=harness.gate,
            consent=RegistryConsentService(ConsentLookup(client, production_id="demo-production")),
            records=recorder,
            signer=recorder.key.signer,
        )
        restarted.start()
        shown = restarted.snapshot().last_record
        restarted.stop()
    finally:
        recorder.close()
        client.close()
    return dict(shown) if shown is not None else None


def test_a_session_the_agent_never_finished_gets_a_fault_record_at_the_next_start(
    harness: Harness, tmp_path: Path
) -> None:
    journal = tmp_path / "open-session.json"
    session_id = harness.unlock()
    assert json.loads(journal.read_text().splitlines()[0])["session_id"] == session_id
    left_behind = journal.read_bytes()  # what a crash at this moment would leave
    harness.controller.stop()
    assert not journal.exists(), "a finished session leaves no journal"
    written_id = harness.records()[-1]["record_id"]
    # As if that record had never been written (the crash came first): another record id.
    journal.write_bytes(left_behind.replace(written_id.encode(), str(uuid.uuid4()).encode()))
    harness.recorder.close()  # the agent is gone: its log lock with it
    shown = restart_agent(harness, journal)
    records = harness.records()
    assert records[-1]["outcome"] == "fault"
    assert records[-1]["reason_codes"] == ["agent_stopped_mid_session"]
    # Shown at once, not when the engine thread first gets the CPU (a loaded rig showed none).
    assert shown is not None and shown["record_id"] == records[-1]["record_id"]
    assert [e["action"] for e in records[-1]["gate_events"]] == ["unlock"]
    assert records[-1]["identification"]["method"] == "face", "the journal keeps the identification"
    assert records[-1]["consent"]["consent_id"], "and the consent relied on"
    assert not journal.exists()


def test_a_journal_left_beside_a_written_record_does_not_duplicate_it(
    harness: Harness, tmp_path: Path
) -> None:
    journal = tmp_path / "open-session.json"
    harness.unlock()
    left_behind = journal.read_bytes()
    harness.controller.stop()
    journal.write_bytes(left_behind)  # the agent died after writing the record, before forgetting it
    harness.recorder.close()
    restart_agent(harness, journal)
    assert len(harness.records()) == 1
    assert not journal.exists()


@pytest.mark.parametrize("unlock_timebox_s", [2.0], indirect=True)
def test_the_unlock_time_box_relocks_and_is_recorded_as_such(harness: Harness) -> None:
    """At the end of the time-box the gate's token expires at the same instant; the record must
    say the time-box ended, not that the agent failed to renew the lease."""
    harness.unlock()
    harness.wait("the record", lambda s: s.last_record is not None)
    record = harness.controller.snapshot().last_record or {}
    assert record["outcome"] == "refused"
    assert "unlock_timebox_expired" in record["reason_codes"]  # type: ignore[operator]
    assert "gate_lease_lapsed" not in record["reason_codes"]  # type: ignore[operator]
    assert harness.gate.status().locked


def test_an_unlock_the_gate_refuses_is_not_recorded_as_an_unlock(harness: Harness) -> None:
    harness.gate.failing.add("unlock")
    session_id = harness.controller.start_session("tech", TYPES)
    harness.wait("terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    harness.controller.confirm(TYPES, session_id=session_id)
    harness.wait("the record", lambda s: s.last_record is not None)
    record: dict[str, Any] = harness.controller.snapshot().last_record or {}
    assert record["outcome"] == "fault"
    assert [e["action"] for e in record["gate_events"]] == ["lock"]
    assert not harness.gate.armed


def test_a_journal_that_cannot_be_removed_does_not_duplicate_the_record(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_self: SessionJournal) -> None:
        raise PermissionError("read-only folder")

    harness.unlock()
    monkeypatch.setattr(SessionJournal, "clear", refuse)
    harness.controller.end_session()
    harness.wait("the record", lambda s: s.phase is Phase.IDLE and s.last_record is not None)
    time.sleep(0.5)  # long enough for several engine ticks to retry a write
    records = harness.records()
    assert len(records) == 1, "the record is in the log: it must not be appended again"
    assert "record_write_retried" not in records[0]["reason_codes"]


class HeldConsent:
    """A consent service whose answers wait until the test releases them, one gate per performer."""

    def __init__(self) -> None:
        self.release = {"perf-a": threading.Event(), "perf-b": threading.Event()}

    def lookup(
        self, performer_id: str, capture_types: frozenset[str], method: IdentificationMethod
    ) -> ConsentAnswer:
        self.release[performer_id].wait(WAIT_S)
        return ConsentAnswer(ConsentCheck(False, (("no_consent", f"nothing for {performer_id}"),)), None)


class BadgeOfB:
    def verify(self, badge_code: str, pin: str) -> tuple[str, str]:
        return "perf-b", "B"


class ListSink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def append(self, draft: Mapping[str, Any]) -> Mapping[str, Any]:
        stored = {**draft, "record_id": f"r{len(self.records)}", "sequence": len(self.records) + 1}
        self.records.append(stored)
        return stored


def test_a_lookup_overtaken_by_a_badge_identification_is_not_taken_as_its_answer(tmp_path: Path) -> None:
    """Face says A, the technician switches to badge + PIN, which says B; A's late refusal is
    not B's refusal (and a record never names a consent or refusal of someone else)."""
    signer = Signer(Ed25519PrivateKey.generate())
    gate = ReportingGate(trusted_keys={signer.key_id: signer.public_key}, capture_root=tmp_path / "captures")
    gate.start()
    consent, sink = HeldConsent(), ListSink()
    controller = SessionController(
        ControllerSettings(
            rig_id="r", production_id="p", timing=Timing(timedelta(seconds=60), timedelta(seconds=120))
        ),
        gate=gate,
        consent=consent,
        records=sink,
        signer=signer,
        fallback=BadgeOfB(),
    )
    controller.start()

    def wait(what: str, predicate: Callable[[SessionSnapshot], bool]) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate(controller.snapshot()):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.01)

    try:
        controller.start_session("tech", TYPES)
        frame = FrameAnalysis(Decision.MATCH, "matched", performer_id="perf-a", distance=0.1, faces_found=1)
        for _ in range(3):
            controller.on_frame(frame)
        wait("A's lookup", lambda s: s.phase is Phase.CHECKING_CONSENT)
        controller.request_fallback()
        wait("the fallback", lambda s: s.fallback_mode and s.phase is Phase.IDENTIFYING)
        controller.submit_fallback("BADGE-B", "1234", "tech")
        wait("B's lookup", lambda s: s.phase is Phase.CHECKING_CONSENT)
        consent.release["perf-a"].set()
        time.sleep(0.5)
        assert controller.snapshot().phase is Phase.CHECKING_CONSENT, "A's answer decided B's session"
        consent.release["perf-b"].set()
        wait("B's answer", lambda s: s.phase is Phase.IDLE)
    finally:
        for event in consent.release.values():
            event.set()
        controller.stop()
        gate.close()
    [record] = sink.records
    assert record["performer"]["performer_id"] == "perf-b"
    assert record["reason_codes"][0] == "no_consent"


class BrokenBadgeReader:
    def verify(self, badge_code: str, pin: str) -> tuple[str, str]:
        raise RuntimeError("reader driver crashed")


def test_a_badge_check_that_crashes_is_reported_not_swallowed(tmp_path: Path) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    gate = ReportingGate(trusted_keys={signer.key_id: signer.public_key}, capture_root=tmp_path / "captures")
    gate.start()
    controller = SessionController(
        ControllerSettings(rig_id="r", production_id="p"),
        gate=gate,
        consent=HeldConsent(),
        records=ListSink(),
        signer=signer,
        fallback=BrokenBadgeReader(),
    )
    controller.start()
    try:
        controller.start_session("tech", TYPES)
        controller.request_fallback()
        controller.submit_fallback("BADGE-B", "1234", "tech")
        deadline = time.monotonic() + WAIT_S
        while not any("failed unexpectedly" in text for _, text in controller.snapshot().events):
            assert time.monotonic() < deadline, "the technician was never told the badge check failed"
            time.sleep(0.01)
        assert controller.snapshot().phase is Phase.IDENTIFYING and not gate.armed
    finally:
        controller.stop()
        gate.close()


@pytest.mark.parametrize("liveness_method", ["synthetic"], indirect=True)
def test_a_synthetic_challenge_passes_for_the_stand_in_and_unlocks(harness: Harness) -> None:
    harness.controller.start_session("tech", TYPES)
    harness.wait("the challenge", lambda s: s.phase is Phase.CHALLENGING)
    harness.wait("terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    harness.controller.confirm(TYPES)
    harness.wait("unlock", lambda s: s.phase is Phase.UNLOCKED)


@pytest.mark.parametrize("liveness_method", ["challenge"], indirect=True)
def test_a_rig_that_measures_no_landmarks_fails_the_challenge_and_never_unlocks(harness: Harness) -> None:
    """The frames carry no landmarks: every step times out, the retry too, nothing unlocks."""
    harness.controller.start_session("tech", TYPES)
    harness.wait("the record", lambda s: s.last_record is not None)
    record = harness.controller.snapshot().last_record or {}
    assert record["outcome"] == "refused"
    assert "liveness_failed" in record["reason_codes"]  # type: ignore[operator]
    events: list[dict[str, Any]] = record["gate_events"]  # type: ignore[assignment]
    assert not [e for e in events if e["action"] == "unlock"]
    # Both attempts are in the record, the first one too.
    liveness: dict[str, Any] = record["identification"]["liveness"]  # type: ignore[index]
    assert (liveness["method"], liveness["passed"], liveness["attempt"]) == ("challenge", False, 2)
    [first] = liveness["earlier_attempts"]
    assert first["attempt"] == 1 and first["passed"] is False
    assert first["steps"] and "not done within" in first["steps"][0]["reason"]


def test_the_identified_performer_is_named_only_once_face_votes_confirmed_them_in_this_session(
    harness: Harness,
) -> None:
    """What the identification process may follow a face under (agent/faces/tracking.py): the
    session's confirmed face identity, nothing before it, nothing after the session."""
    controller = harness.controller
    harness.feeding.clear()
    assert controller.identified_performer is None  # no session
    controller.start_session("tech", TYPES)
    harness.wait("identifying", lambda s: s.phase is Phase.IDENTIFYING)
    assert controller.identified_performer is None  # no votes yet
    harness.feeding.set()
    harness.wait("terms", lambda s: s.phase is Phase.AWAITING_CONFIRMATION)
    assert controller.identified_performer == STAND_IN_ID
    controller.end_session()
    harness.wait("idle", lambda s: s.phase is Phase.IDLE)
    assert controller.identified_performer is None


def test_the_session_counts_only_frames_taken_after_it_started(harness: Harness) -> None:
    """What the recognition worker skips instead of identifying (issue 14, goal 2): exactly the
    frames FrameEvents would drop, and none outside a session."""
    controller = harness.controller
    harness.feeding.clear()
    now = datetime.now(UTC)
    assert controller.counts_frame(now - timedelta(hours=1))  # no session: nothing is skipped
    before = datetime.now(UTC)
    controller.start_session("tech", TYPES)
    harness.wait("identifying", lambda s: s.phase is Phase.IDENTIFYING)
    after = datetime.now(UTC)
    assert not controller.counts_frame(before - timedelta(milliseconds=1))
    assert controller.counts_frame(after)
    controller.end_session()
    harness.wait("idle", lambda s: s.phase is Phase.IDLE)
    assert controller.counts_frame(before - timedelta(milliseconds=1))
