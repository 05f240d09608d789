"""Rehearsals of what an outside tester tries: bad capture reports, a crash, a lost registry, a wrong clock.

Each is played headless like the others (``scangate demo --headless --scenario NAME``)
and passes only when the gate and the signed record behave as the design says:

- ``capture-out-of-scope``: capture software reports, through the gate API, a file of a
  capture type the performer did not grant and one whose hash does not match: both are
  answered 409 and quarantined, and the record lists them as flagged, never as clean.
- ``capture-outside-folder``: reports of files outside the capture folder (the rig's own
  token file through ``..``, and ``/etc/hostname``) are answered 403 unread and recorded.
- ``crash-after-capture``: an agent process is killed (SIGKILL) right after a capture; the
  next start writes a recovery record that lists the capture, the consent and the
  identification from the journal.
- ``registry-lost-while-unlocked``: the registry goes away while capture is unlocked;
  capture locks as ``registry_unreachable`` within ``consent_max_age_s``.
- ``clock-skew``: the rig clock runs 48 h slow; the registry's signed time exposes it,
  nothing unlocks and the refusal names ``clock_skew``.
- ``photo-attack``: a portrait of the enrolled performer moved in front of the camera is
  identified, but fails the real challenge: nothing unlocks, ``liveness_failed``.
- ``challenge-timeout``: the enrolled performer is identified and the real challenge asks
  for its steps, but nobody does them: every attempt times out, the retry runs, nothing
  unlocks and the refusal names ``liveness_failed`` with the step that timed out.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import requests

from agent.gate.http_api import HttpApiGate
from agent.gate.settings import HttpApiGateSettings
from agent.gate.windows import sha256_file
from agent.private_files import private_dir, private_file_opener
from agent.session.model import Phase
from agent.session.snapshot import SessionSnapshot
from registry.demo.crash_child import CAPTURED_LINE, UNLOCKED_LINE
from registry.demo.environment import DemoEnvironment
from registry.demo.rehearsal import STEP_TIMEOUT_S, TYPES, Rehearsal, Run, capture_and_wait

REGISTRY_LOST_MAX_AGE_S = 6.0
"""``consent_max_age_s`` for the 'registry-lost-while-unlocked' rehearsal (30 s by default)."""
REGISTRY_LOST_RECHECK_S = 1.0
RIG_CLOCK_SLOW = timedelta(hours=48)
CHALLENGE_STEP_LIMIT_S = 2.0
"""``[liveness] step_time_limit_s`` for the 'challenge-timeout' rehearsal (the smallest allowed; 8 s by default)."""
CHILD_TIMEOUT_S = 120.0


class _CaptureSoftware:
    """What third-party capture software does with the gate API: ask, write, report."""

    def __init__(self, run: Run) -> None:
        gate = run.rig.gate
        settings = run.rig.config.gate.backend
        if not isinstance(gate, HttpApiGate) or not isinstance(settings, HttpApiGateSettings):
            raise TypeError("this rehearsal needs the http_api gate backend")
        self.url = gate.url
        token = settings.auth_token_file.read_text(encoding="ascii").strip()
        self.headers = {"Authorization": f"Bearer {token}"}
        self.folder = Path(run.rig.config.gate.capture_root) / "incoming"
        private_dir(self.folder)

    def session_id(self, run: Run) -> str | None:
        """The session the gate is unlocked for, asked as capture software asks (GET /v1/gate)."""
        answer = requests.get(f"{self.url}/v1/gate", headers=self.headers, timeout=5)
        if answer.status_code != 200 or not answer.json().get("allowed"):
            run.problems.append(f"the gate API did not allow capture: {answer.status_code} {answer.text}")
            return None
        session_id = answer.json().get("session_id")
        return session_id if isinstance(session_id, str) else None

    def write(self, name: str, content: bytes) -> Path:
        """Write a "captured" file into the capture folder."""
        path = self.folder / name
        with open(path, "wb", opener=private_file_opener) as handle:
            handle.write(content)
        return path

    def report(self, path: str, *, capture_type: str, sha256: str | None, session_id: str | None) -> int:
        """Report a file (POST /v1/captures); the HTTP status of the answer."""
        body = {"path": path, "capture_type": capture_type, "sha256": sha256, "session_id": session_id}
        answer = requests.post(f"{self.url}/v1/captures", json=body, headers=self.headers, timeout=5)
        return answer.status_code


def _flagged_files(run: Run, record: dict[str, Any], expected: int) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = list(record.get("captured_files", []))
    flagged = [f for f in files if f.get("quarantined") or f.get("flag_reason")]
    if len(flagged) != expected:
        run.problems.append(
            f"expected {expected} flagged file(s) in the record, found {len(flagged)}: {files}"
        )
    if "capture_flagged" not in record.get("reason_codes", []):
        run.problems.append(
            f"the record's reasons do not name the flagged captures: {record.get('reason_codes')}"
        )
    return flagged


def scenario_capture_out_of_scope(run: Run) -> None:
    """Face only is granted; the software reports a FACS file and a file with a wrong hash."""
    if not run.reach_unlock(frozenset({"face"})):
        return
    software = _CaptureSoftware(run)
    session_id = software.session_id(run)
    good = software.write("face-001.png", b"face still")
    codes = [
        software.report(str(good), capture_type="face", sha256=sha256_file(good), session_id=session_id),
        software.report(
            str(software.write("facs-001.png", b"facs still")),
            capture_type="facs_expressions",
            sha256=None,
            session_id=session_id,
        ),
        software.report(
            str(software.write("face-002.png", b"face still, altered")),
            capture_type="face",
            sha256="0" * 64,
            session_id=session_id,
        ),
    ]
    run.facts.append(f"gate API answered {codes} (clean, type not granted, wrong hash)")
    if codes != [200, 409, 409]:
        run.problems.append(f"expected the gate API to answer [200, 409, 409], got {codes}")
    run.wait("3 captures", lambda s: s.captures >= 3, 15)
    run.end_and_settle()
    record = run.expect_record("captured")
    expected_flags = {"facs-001.png": "was not granted", "face-002.png": "SHA-256 does not match"}
    for entry in _flagged_files(run, record, 2):
        name = Path(str(entry.get("name"))).name
        if not entry.get("quarantined") or expected_flags.get(name, "?") not in str(entry.get("flag_reason")):
            run.problems.append(
                f"a flagged file is not quarantined with the reason it was refused for: {entry}"
            )
    types = sorted(str(f.get("capture_type")) for f in record.get("captured_files", []))
    if types != ["face", "face", "facs_expressions"]:
        run.problems.append(f"the record does not give every file's capture type: {types}")


def scenario_capture_outside_folder(run: Run) -> None:
    """The software reports the rig's token file (through '..') and a system file."""
    if not run.reach_unlock():
        return
    software = _CaptureSoftware(run)
    session_id = software.session_id(run)
    sneaky = f"{software.folder.parent}/../registry.token"
    codes = [
        software.report(sneaky, capture_type="face", sha256=None, session_id=session_id),
        software.report("/etc/hostname", capture_type="face", sha256=None, session_id=session_id),
    ]
    run.facts.append(f"gate API answered {codes} for files outside the capture folder")
    if codes != [403, 403]:
        run.problems.append(f"expected the gate API to refuse both reports with 403, got {codes}")
    run.wait("2 capture attempts", lambda s: s.captures >= 2, 15)
    run.end_and_settle()
    record = run.expect_record("refused")
    for entry in _flagged_files(run, record, 2):
        if entry.get("sha256") is not None or "refused" not in str(entry.get("flag_reason")):
            run.problems.append(f"a file outside the capture folder was read or not named refused: {entry}")


def run_crashing_agent(env: DemoEnvironment, facts: list[str], problems: list[str]) -> None:
    """Run an agent process to its first capture, then kill it (and its children) with SIGKILL."""
    command = [sys.executable, "-m", "registry.demo.crash_child", str(env.config_path)]
    stderr_path = env.out_dir / "crashed-agent.stderr.txt"
    seen: list[str] = []
    with (
        open(stderr_path, "w", encoding="utf-8", opener=private_file_opener) as stderr,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, text=True, start_new_session=True
        ) as child,
    ):
        assert child.stdout is not None
        lines: queue.Queue[str | None] = queue.Queue()
        reader = threading.Thread(target=_read_lines, args=(child.stdout, lines), daemon=True)
        reader.start()
        deadline = time.monotonic() + CHILD_TIMEOUT_S
        try:
            while CAPTURED_LINE not in seen and (left := deadline - time.monotonic()) > 0:
                try:
                    line = lines.get(timeout=left)
                except queue.Empty:
                    break
                if line is None:  # the child closed its output: it exited
                    break
                seen.append(line.strip().split(" ", 1)[0])
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)  # the agent and its identification process
            child.wait(10)
        reader.join(5)
    if UNLOCKED_LINE not in seen or CAPTURED_LINE not in seen:
        problems.append(
            f"the agent process never got to a capture (it said {seen}, exit code {child.returncode};"
            f" its errors are in {stderr_path})"
        )
    else:
        facts.append(f"agent process {child.pid} unlocked, captured, and was killed with SIGKILL")


def _read_lines(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


def scenario_crash_after_capture(run: Run) -> None:
    """After the SIGKILL, this rig's start wrote the recovery record from the journal."""
    record = run.last_record()
    if "agent_stopped_mid_session" not in record.get("reason_codes", []):
        run.problems.append(
            f"no recovery record for the killed agent's session: {record.get('reason_codes')}"
        )
    files = record.get("captured_files", [])
    if len(files) != 1 or files[0].get("sha256") is None:
        run.problems.append(f"the recovery record does not list the capture: {files}")
    if not (record.get("consent") or {}).get("consent_id"):
        run.problems.append("the recovery record has no consent reference")
    if (record.get("identification") or {}).get("method") != "face":
        run.problems.append(f"the recovery record has no identification: {record.get('identification')}")
    run.facts.append(
        f"recovery record #{record.get('sequence')}: outcome {record.get('outcome')},"
        f" reasons {record.get('reason_codes')}, files {len(files)}"
    )


def scenario_registry_lost_while_unlocked(run: Run) -> None:
    """The registry stops while capture is unlocked: capture locks within the maximum age."""
    if not run.reach_unlock():
        return
    capture_and_wait(run, "face", 1)
    lock_watch = _GateLockWatch(run)  # from before stop(): the gate may rightly lock while it waits
    stop_began = time.monotonic()
    try:
        run.env.registry.stop(graceful=False)  # gone, as a crashed server or a cut cable
    finally:
        stopped = time.monotonic()
    if not _refuses_connections(run.env.registry.url):
        # Then a gate that stays unlocked would be right, and the check below would blame the rig.
        run.problems.append(
            "the embedded registry still accepts connections after stop(): the rehearsal, not the rig"
        )
    # Measured from the registry's last answer, as the registry saw it: a graceful stop() may
    # take seconds on a busy machine while open connections are still answered, and each of
    # those answers is a confirmation the rig may rightly count.
    last_answer = run.env.registry.last_answer_at or stop_began
    # the conditions are re-evaluated at each recheck; one second more for a busy machine
    limit = REGISTRY_LOST_MAX_AGE_S + REGISTRY_LOST_RECHECK_S + 1.0
    locked_at = lock_watch.wait(last_answer + limit + 5.0)
    locked_ms = None if locked_at is None else (locked_at - last_answer) * 1000
    run.facts.append(
        f"registry stopped in {(stopped - stop_began) * 1000:.0f} ms; gate locked "
        + (
            f"{locked_ms:.0f} ms after the registry's last answer (max age {REGISTRY_LOST_MAX_AGE_S:g} s)"
            if locked_ms is not None
            else "never"
        )
    )
    if locked_ms is None or locked_ms > limit * 1000:
        run.problems.append(
            f"capture must lock within {limit:g} s of the registry's last answer, took {locked_ms} ms"
        )
    run.wait("the record", lambda s: s.last_record is not None and s.phase is not Phase.UNLOCKED, 15)
    run.end_and_settle()
    record = run.expect_record("captured", codes=("registry_unreachable",))
    # The record itself must show the lock within the maximum age of the last confirmation.
    confirmed = (record.get("consent") or {}).get("status_confirmed_at")
    locks = [e["at"] for e in record.get("gate_events", []) if e.get("action") == "lock"]
    if not isinstance(confirmed, str) or not locks:
        run.problems.append(f"the record lacks the last confirmation or the lock: {confirmed}, {locks}")
        return
    stale_for = (_utc(locks[0]) - _utc(confirmed)).total_seconds()
    run.facts.append(f"record: locked {stale_for:.2f} s after the registry last confirmed the consent")
    if stale_for > REGISTRY_LOST_MAX_AGE_S + 0.5:
        run.problems.append(
            f"the lock came {stale_for:.2f} s after the last confirmation (max age {REGISTRY_LOST_MAX_AGE_S:g} s)"
        )


class _GateLockWatch:
    """Notes, on its own thread, the first moment (monotonic) the gate reports locked."""

    def __init__(self, run: Run) -> None:
        self._gate = run.rig.gate
        self._locked_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="gate-lock-watch", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            if self._gate.status().locked:
                self._locked_at = time.monotonic()
                return
            time.sleep(0.002)

    def wait(self, deadline: float) -> float | None:
        """The moment the gate locked, waiting until ``deadline`` (monotonic); None if it did not."""
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._stop.set()
        return self._locked_at


def _refuses_connections(url: str) -> bool:
    """Whether nothing listens any more at ``url``'s host and port."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=2):
            return False
    except OSError:
        return True


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text)


def scenario_photo_attack(run: Run) -> None:
    """The stand-in is a photo moved about in front of the camera: identified, but no real
    liveness challenge can pass, so nothing unlocks and the record says why."""
    run.rig.controller.start_session("demo-technician", TYPES)
    if not run.wait("the challenge", lambda s: s.phase is Phase.CHALLENGING, STEP_TIMEOUT_S):
        return
    run.wait("the refusal record", lambda s: s.last_record is not None, STEP_TIMEOUT_S)
    run.expect_record("refused", codes=("liveness_failed",))
    run.expect_never_unlocked()


def scenario_challenge_timeout(run: Run) -> None:
    """The performer is identified but does none of the steps asked: each attempt times out,
    the retry runs, then the session is refused and the record says which step timed out."""
    limit_s = run.rig.config.liveness.step_time_limit_s
    attempts = 1 + run.rig.config.liveness.retries
    # The first step's deadline of each attempt, on the rig's clock (one failed step ends an
    # attempt, so no other step is ever shown); judged on it, not on when the screens caught up.
    deadlines: dict[int, datetime] = {}

    def watch(snap: SessionSnapshot) -> bool:
        if snap.challenge is not None:
            deadlines.setdefault(snap.challenge.attempt, snap.challenge.deadline)
        return snap.last_record is not None

    started = time.monotonic()
    run.rig.controller.start_session("demo-technician", TYPES)
    run.wait("the refusal record", watch, STEP_TIMEOUT_S)
    shown = sorted(deadlines)
    gaps = [(deadlines[b] - deadlines[a]).total_seconds() for a, b in itertools.pairwise(shown)]
    run.facts.append(
        f"challenge attempts shown: {shown}, deadlines {', '.join(f'{g:.2f} s' for g in gaps) or 'no'}"
        f" apart (step limit {limit_s:g} s); refused {time.monotonic() - started:.1f} s after the start"
    )
    if shown != list(range(1, attempts + 1)):
        run.problems.append(f"expected challenge attempts 1..{attempts} on the screens, saw {shown}")
    if any(gap < limit_s for gap in gaps):
        run.problems.append(f"a retry began before the previous step's {limit_s:g} s ran out: {gaps}")
    record = run.expect_record("refused", codes=("liveness_failed",))
    run.expect_never_unlocked()
    liveness = (record.get("identification") or {}).get("liveness") or {}
    steps = liveness.get("steps") or []
    run.facts.append(
        f"record liveness: method {liveness.get('method')}, attempt {liveness.get('attempt')},"
        f" passed {liveness.get('passed')}, steps {[(s.get('step'), s.get('reason')) for s in steps]}"
    )
    if liveness.get("method") != "challenge" or liveness.get("passed") is not False:
        run.problems.append(f"the record does not show a failed real challenge: {liveness}")
    if liveness.get("attempt") != attempts:
        run.problems.append(f"the record's liveness is not of the last attempt ({attempts}): {liveness}")
    # One failed step ends an attempt, so the attempt recorded judged exactly one step.
    timed_out = f"was not done within {limit_s:g} s"
    if len(steps) != 1 or steps[0].get("passed") is not False or timed_out not in str(steps[0].get("reason")):
        run.problems.append(f"the record's steps do not show a step that timed out ({timed_out!r}): {steps}")
    earlier = liveness.get("earlier_attempts") or []
    run.facts.append(f"record: earlier attempts {[e.get('attempt') for e in earlier]}")
    if [e.get("attempt") for e in earlier] != list(range(1, attempts)) or any(
        e.get("passed") is not False or timed_out not in str((e.get("steps") or [{}])[0].get("reason"))
        for e in earlier
    ):
        run.problems.append(f"the record does not list every earlier attempt as timed out: {earlier}")


def scenario_clock_skew(run: Run) -> None:
    """The rig clock is 48 h slow: the registry's signed time refuses every consent."""
    run.rig.controller.start_session("demo-technician", TYPES)
    run.wait("the refusal record", lambda s: s.last_record is not None, STEP_TIMEOUT_S)
    record = run.expect_record("refused", codes=("clock_skew",))
    clock = record.get("registry_clock") or {}
    offset = clock.get("offset_s")
    run.facts.append(f"measured rig clock offset {offset} s (rig clock set {RIG_CLOCK_SLOW} slow)")
    if not isinstance(offset, float) or abs(offset - RIG_CLOCK_SLOW.total_seconds()) > 5:
        run.problems.append(f"the record does not state the measured clock offset: {clock}")
    run.expect_never_unlocked()


FAULT_REHEARSALS: dict[str, Rehearsal] = {
    "capture-out-of-scope": Rehearsal(scenario_capture_out_of_scope, gate_backend="http_api"),
    "capture-outside-folder": Rehearsal(scenario_capture_outside_folder, gate_backend="http_api"),
    "crash-after-capture": Rehearsal(scenario_crash_after_capture, before_rig=run_crashing_agent),
    "registry-lost-while-unlocked": Rehearsal(
        scenario_registry_lost_while_unlocked,
        session_settings={
            "consent_max_age_s": REGISTRY_LOST_MAX_AGE_S,
            "consent_recheck_interval_s": REGISTRY_LOST_RECHECK_S,
        },
    ),
    "clock-skew": Rehearsal(scenario_clock_skew, rig_clock_offset=-RIG_CLOCK_SLOW),
    "photo-attack": Rehearsal(scenario_photo_attack, synthetic_liveness=False),
    "challenge-timeout": Rehearsal(
        scenario_challenge_timeout,
        synthetic_liveness=False,
        liveness_settings={"step_time_limit_s": CHALLENGE_STEP_LIMIT_S},
    ),
}
"""The rehearsals of issue 9's findings, by name."""
