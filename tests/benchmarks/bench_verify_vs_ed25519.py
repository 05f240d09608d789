"""Benchmark of log verification against bare Ed25519 verification (issue 14, goal 3).

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_verify_vs_ed25519.py [--records 10000] [--log FILE --key PEM]

Measured in one run on the same records, so machine load hits both alike:
- **bare Ed25519**: ``Ed25519PublicKey.verify`` over each record's signature and payload
  digest, prepared beforehand (no reading, parsing or hashing), in one process and in as
  many processes as ``verify`` uses by default;
- **scangate verify** (``verify_log``): reading, parsing, canonical form, signature,
  schema, chain, in one process (``--jobs 1``) and with the default worker count.

Prints per-record wall time and, for one process, CPU time, with the ratio to bare Ed25519
(goal: at most 1.5x) and the machine load.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.records.keys import load_or_create_rig_key, trusted_keys
from agent.records.log import RecordLog
from agent.records.verify import default_jobs, verify_log
from agent.signing import canonical_json, loads_for_canonical, raw_public_bytes, signed_payload
from tests.records.factories import draft_for

Pair = tuple[bytes, bytes]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextlib.contextmanager
def without_fsync() -> Iterator[None]:
    """Only to build the log quickly."""
    with mock.patch.object(os, "fsync", return_value=None):
        yield


def build_log(folder: Path, count: int) -> tuple[Path, Path]:
    key_file = folder / "keys" / "rig.pem"
    key = load_or_create_rig_key(key_file)
    path = folder / "bench.jsonl"
    drafts = [draft_for(index) for index in range(50)]
    with without_fsync(), RecordLog.open(path, key.signer, "bench-rig") as writer:
        for index in range(count):
            writer.append(drafts[index % len(drafts)])
    return path, key_file


def prepare_pairs(path: Path) -> list[Pair]:
    pairs = []
    with open(path, "rb") as handle:
        for line in handle:
            record, fast = loads_for_canonical(line.rstrip(b"\n"))
            digest = hashlib.sha256(canonical_json(signed_payload(record), fast_domain=fast)).digest()
            pairs.append((base64.urlsafe_b64decode(record["signature"]["value"] + "=="), digest))
    return pairs


_worker_key: Ed25519PublicKey | None = None


def _init(raw: bytes) -> None:
    global _worker_key
    _worker_key = Ed25519PublicKey.from_public_bytes(raw)


def _verify_pairs(pairs: list[Pair]) -> int:
    assert _worker_key is not None
    for signature, digest in pairs:
        _worker_key.verify(signature, digest)
    return len(pairs)


def bare_ed25519(public_key: Ed25519PublicKey, pairs: list[Pair], jobs: int) -> float:
    """Wall seconds to verify every pair with ``jobs`` processes (pool start-up excluded)."""
    if jobs == 1:
        started = time.perf_counter()
        for signature, digest in pairs:
            public_key.verify(signature, digest)
        return time.perf_counter() - started
    context = multiprocessing.get_context("forkserver")
    chunks = [pairs[i : i + 256] for i in range(0, len(pairs), 256)]
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_init, initargs=(raw_public_bytes(public_key),)
    ) as pool:
        list(pool.map(_verify_pairs, [[]] * jobs))  # start the workers first
        started = time.perf_counter()
        done = sum(pool.map(_verify_pairs, chunks))
        elapsed = time.perf_counter() - started
    assert done == len(pairs)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--log", type=Path, help="an existing log (with --key) instead of building one")
    parser.add_argument("--key", type=Path, help="the rig key (PEM) that signed --log")
    args = parser.parse_args()
    print(f"bench_verify_vs_ed25519: python {sys.version.split()[0]}, {load()}")
    with tempfile.TemporaryDirectory() as temp:
        if args.log:
            path, key_file = args.log, args.key
        else:
            started = time.perf_counter()
            path, key_file = build_log(Path(temp), args.records)
            print(f"built {args.records:,} records in {time.perf_counter() - started:.1f} s")
        public_key = load_or_create_rig_key(key_file).public_key
        keys = trusted_keys([public_key])
        pairs = prepare_pairs(path)
        count = len(pairs)
        jobs = default_jobs(path)
        print(f"{count:,} records, {path.stat().st_size / count:.0f} B each; default jobs {jobs}")

        rows: list[tuple[str, float, float | None]] = []
        for round_ in range(2):  # interleaved twice: load changes between the measurements
            cpu = cpu_seconds()
            wall = bare_ed25519(public_key, pairs, 1)
            rows.append((f"bare Ed25519, 1 process (round {round_ + 1})", wall, cpu_seconds() - cpu))
            cpu = cpu_seconds()
            started = time.perf_counter()
            verdict = verify_log(path, keys, jobs=1)
            rows.append(
                (
                    f"scangate verify --jobs 1 (round {round_ + 1})",
                    time.perf_counter() - started,
                    cpu_seconds() - cpu,
                )
            )
            assert verdict.intact, verdict.problem_counts
            if jobs > 1:
                rows.append(
                    (
                        f"bare Ed25519, {jobs} processes (round {round_ + 1})",
                        bare_ed25519(public_key, pairs, jobs),
                        None,
                    )
                )
                started = time.perf_counter()
                verdict = verify_log(path, keys)
                rows.append(
                    (
                        f"scangate verify, default jobs {jobs} (round {round_ + 1})",
                        time.perf_counter() - started,
                        None,
                    )
                )
                assert verdict.intact, verdict.problem_counts
            print(f"  round {round_ + 1} done ({load()})", flush=True)
        print(f"\n{'what':<48} {'wall µs/rec':>12} {'CPU µs/rec':>11} {'records/s':>10}")
        for label, wall, cpu_used in rows:
            cpu_text = f"{cpu_used / count * 1e6:11.1f}" if cpu_used is not None else f"{'':>11}"
            print(f"{label:<48} {wall / count * 1e6:12.1f} {cpu_text} {count / wall:10,.0f}")
        for round_ in range(2):
            group = rows[round_ * len(rows) // 2 : (round_ + 1) * len(rows) // 2]
            bare1, verify1 = group[0], group[1]
            assert bare1[2] is not None and verify1[2] is not None
            text = (
                f"round {round_ + 1}: verify/bare Ed25519, 1 process: wall {verify1[1] / bare1[1]:.2f}x,"
                f" CPU {verify1[2] / bare1[2]:.2f}x"
            )
            if len(group) == 4:
                text += f"; {jobs} processes, wall {group[3][1] / group[2][1]:.2f}x;"
                text += f" default verify against 1-process bare Ed25519, wall {group[3][1] / bare1[1]:.2f}x"
            print(text + "  (goal <= 1.5x)")
        print(f"({load()}; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
