"""``verify`` uses every usable CPU by default and finds the same problems however its workers start."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.keys import RigKey
from agent.records.log import RecordLog
from agent.records.verify import PARALLEL_MIN_BYTES, default_jobs, usable_cpus, verify_log
from tests.records.factories import draft_for

Trusted = dict[str, Ed25519PublicKey]


def test_usable_cpus_are_those_of_the_process_affinity_mask() -> None:
    assert usable_cpus() == len(os.sched_getaffinity(0))


def test_a_log_big_enough_gets_one_process_per_usable_cpu_and_a_small_one_none(tmp_path: Path) -> None:
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    small.write_bytes(b"{}\n" * 10)
    with open(big, "wb") as handle:
        handle.truncate(PARALLEL_MIN_BYTES["fork"])
    assert default_jobs(small, "fork") == 1
    assert default_jobs(big, "fork") == usable_cpus()
    assert default_jobs(big, "forkserver") == 1  # a fork server is worth starting for bigger logs only


@pytest.mark.parametrize("start_method", ["fork", "forkserver"])
def test_forked_and_served_workers_give_the_verdict_of_one_process(
    written_log: Path, trusted: Trusted, start_method: str
) -> None:
    lines = written_log.read_bytes().splitlines()
    lines[3], lines[4] = lines[4], lines[3]
    lines[7] = lines[7].replace(b'"captured"', b'"declined"', 1)
    written_log.write_bytes(b"\n".join([*lines, lines[1], lines[0][:40]]))
    serial = verify_log(written_log, trusted, jobs=1)
    parallel = verify_log(written_log, trusted, jobs=2, start_method=start_method)  # type: ignore[arg-type]
    assert len(serial.problems) == 4
    assert serial.to_dict() == parallel.to_dict()


def _peak_bytes(log: Path, trusted: Trusted) -> int:
    tracemalloc.start()
    try:
        assert verify_log(log, trusted, jobs=1).intact
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_no_record_is_kept_in_memory_while_a_log_is_verified(
    written_log: Path, rig_key: RigKey, trusted: Trusted
) -> None:
    """300 more records of 3.6 kB raise the peak by what the chain window keeps per record, under 1 kB.

    (A batch of 64 lines is in memory at a time; the chain checker keeps a small
    entry for each of the last 4,096 records and 32 bytes for every sequence.)
    """
    with RecordLog.open(written_log, rig_key.signer, "stage4-facs-booth") as writer:
        for index in range(12, 300):
            writer.append(draft_for(index))
    peak_300 = _peak_bytes(written_log, trusted)
    with RecordLog.open(written_log, rig_key.signer, "stage4-facs-booth") as writer:
        for index in range(300, 600):
            writer.append(draft_for(index))
    peak_600 = _peak_bytes(written_log, trusted)
    assert (peak_600 - peak_300) / 300 < 1024, (peak_300, peak_600)
