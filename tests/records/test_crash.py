"""A writer killed with SIGKILL mid-append: the intact prefix verifies, the torn tail is reported.

The writer runs in a real child process that is killed with SIGKILL (no
cleanup, no atexit, no flush), then the log is verified as found and opened
again by a new writer, as the agent does after a crash.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.keys import RigKey
from agent.records.log import RecordLog
from agent.records.verify import verify_log
from tests.conftest import REPO_ROOT
from tests.records.conftest import RIG_ID

pytestmark = pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")

WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    import agent.records.log as log_module
    from agent.records.keys import load_rig_key
    from tests.records.factories import draft_for

    log_path, key_path, rig_id, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    complete_before_tear = int(sys.argv[5])
    writer = log_module.RecordLog.open(log_path, load_rig_key(key_path).signer, rig_id)
    real_write_all = log_module.write_all

    def write_half_then_hang(fd, data):
        real_write_all(fd, data[: len(data) // 2])
        print("HALF", flush=True)
        time.sleep(600)

    index = 0
    while True:
        if mode == "tear" and index == complete_before_tear:
            log_module.write_all = write_half_then_hang
        record = writer.append(draft_for(index))
        print(record["sequence"], flush=True)  # acknowledged: fsynced before append returned
        index += 1
    """
)


def _start_writer(log_path: Path, rig_key: RigKey, mode: str, complete: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(log_path), str(rig_key.path), RIG_ID, mode, str(complete)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert proc.stdout is not None
    proc.stdout.close()


def test_sigkill_in_the_middle_of_an_append(
    log_path: Path, rig_key: RigKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    proc = _start_writer(log_path, rig_key, "tear", complete=5)
    assert proc.stdout is not None
    acknowledged = [proc.stdout.readline().strip() for _ in range(6)]
    assert acknowledged == ["1", "2", "3", "4", "5", "HALF"]
    _kill(proc)  # while half of record 6 is on disk

    found = verify_log(log_path, trusted)
    assert found.authentic_records == 5 and found.last_sequence == 5, "the intact prefix verifies"
    assert [(p.code, p.line) for p in found.problems] == [("torn_line", 6)], "the torn tail is reported"

    with RecordLog.open(log_path, rig_key.signer, RIG_ID) as reopened:  # the agent restarting
        assert reopened.recovered is not None
        torn_size = reopened.recovered.torn_bytes
        assert reopened.recovered.quarantine_path.stat().st_size == torn_size > 0
        reopened.append(
            {
                "outcome": "fault",
                "reason_codes": ["agent_restarted"],
                "started_at": "2025-03-02T09:00:00.000Z",
                "ended_at": "2025-03-02T09:00:00.000Z",
            }
        )
    after = verify_log(log_path, trusted)
    assert after.intact and after.last_sequence == 7
    assert [n.code for n in after.notices] == ["torn_tail_recovered"]


def test_sigkill_at_random_moments_never_loses_an_acknowledged_record(
    log_path: Path, rig_key: RigKey, trusted: dict[str, Ed25519PublicKey]
) -> None:
    chooser = random.Random(20250301)
    acknowledged = 0
    for _round in range(3):
        proc = _start_writer(log_path, rig_key, "run")
        assert proc.stdout is not None
        for _ in range(chooser.randint(3, 40)):
            acknowledged = int(proc.stdout.readline())
        _kill(proc)
        verdict = verify_log(log_path, trusted)
        assert verdict.last_sequence is not None and verdict.last_sequence >= acknowledged
        assert set(verdict.problem_counts) <= {"torn_line"}, verdict.problems
        assert verdict.authentic_records == verdict.records
