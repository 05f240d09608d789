"""Benchmark session records: append throughput (with fsync) and verification of a 100,000-record log.

Run:  python tests/benchmarks/bench_records.py [--records 100000] [--appends 2000] [--jobs 1 2]

Prints append latency percentiles and records/s, then verification records/s
for each --jobs value (target: >= 10,000 records/s), the per-record cost of
each verification step, and peak memory. The machine's load average is printed
with the numbers: on a shared machine they are only indicative.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.records.keys import load_or_create_rig_key, trusted_keys
from agent.records.linecheck import check_line
from agent.records.log import RecordLog
from agent.records.stored_schema import schema_problem_in_json
from agent.records.verify import verify_log
from agent.signing import canonical_json, loads_for_canonical, signed_payload
from tests.records.factories import draft_for

RIG_ID = "bench-rig"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


@contextlib.contextmanager
def _without_fsync() -> Iterator[None]:
    """Only to build the big log quickly; the append benchmark itself fsyncs every record."""
    with mock.patch.object(os, "fsync", return_value=None):
        yield


def bench_append(folder: Path, count: int) -> None:
    key = load_or_create_rig_key(folder / "keys" / "rig.pem")
    drafts = [draft_for(index) for index in range(50)]
    latencies = []
    with RecordLog.open(folder / "append.jsonl", key.signer, RIG_ID) as writer:
        started = time.perf_counter()
        for index in range(count):
            before = time.perf_counter()
            writer.append(drafts[index % len(drafts)])
            latencies.append(time.perf_counter() - before)
        elapsed = time.perf_counter() - started
    ms = sorted(x * 1000 for x in latencies)
    size = (folder / "append.jsonl").stat().st_size / count
    print(
        f"append (fsync per record, {size:.0f} B/record): {count} records in {elapsed:.2f} s ="
        f" {count / elapsed:,.0f} records/s; latency p50 {statistics.median(ms):.2f} ms,"
        f" p95 {ms[int(0.95 * len(ms))]:.2f} ms, max {ms[-1]:.2f} ms  [{_load()}]"
    )


def build_log(folder: Path, count: int) -> tuple[Path, dict[str, object]]:
    key = load_or_create_rig_key(folder / "keys" / "rig.pem")
    path = folder / f"verify-{count}.jsonl"
    drafts = [draft_for(index) for index in range(50)]
    started = time.perf_counter()
    with _without_fsync(), RecordLog.open(path, key.signer, RIG_ID) as writer:
        for index in range(count):
            writer.append(drafts[index % len(drafts)])
    print(
        f"built a {count:,}-record log ({path.stat().st_size / 1e6:.0f} MB) in"
        f" {time.perf_counter() - started:.1f} s (fsync disabled for the build only)"
    )
    return path, dict(trusted_keys([key.public_key]))


def bench_steps(path: Path, keys: dict[str, object], sample: int = 2000) -> None:
    """CPU time per record of each verification step (single process)."""
    with open(path, "rb") as handle:
        lines = [handle.readline()[:-1] for _ in range(sample)]
    public_key = next(iter(keys.values()))

    def cpu(label: str, action: object) -> None:
        started = time.process_time()
        for line in lines:
            action(line)  # type: ignore[operator]
        print(f"  {label:<44} {(time.process_time() - started) / sample * 1e6:7.1f} µs/record")

    parsed = [loads_for_canonical(line) for line in lines]
    digests = [
        hashlib.sha256(canonical_json(signed_payload(obj), fast_domain=fast)).digest() for obj, fast in parsed
    ]
    import base64

    signatures = [base64.urlsafe_b64decode(obj["signature"]["value"] + "==") for obj, _ in parsed]
    pairs = iter(zip(signatures, digests, strict=True))
    print("verification steps (CPU time, one process):")
    cpu("parse JSON (json.loads)", json.loads)
    cpu("parse JSON + fast-domain check", loads_for_canonical)
    objs = iter(parsed)
    cpu(
        "canonicalise payload (fast path)",
        lambda _l: canonical_json(signed_payload(next(objs)[0]), fast_domain=True),
    )
    import rfc8785

    objs2 = iter(parsed)
    cpu(
        "canonicalise payload (rfc8785, for comparison)",
        lambda _l: rfc8785.dumps(signed_payload(next(objs2)[0])),
    )
    cpu("Ed25519 verify", lambda _l: public_key.verify(*next(pairs)))  # type: ignore[attr-defined]
    cpu("schema validation (pydantic, JSON mode)", schema_problem_in_json)
    cpu("all per-line checks (check_line)", lambda line: check_line(0, line, True, keys))  # type: ignore[arg-type]


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def bench_verify(path: Path, keys: dict[str, object], jobs_list: list[int]) -> None:
    cores = os.cpu_count() or 1
    for jobs in jobs_list:
        started = time.perf_counter()
        cpu_before = _cpu(resource.getrusage(resource.RUSAGE_SELF))
        verdict = verify_log(path, keys, jobs=jobs)  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        own = _cpu(resource.getrusage(resource.RUSAGE_SELF)) - cpu_before
        assert verdict.intact, verdict.problem_counts
        rate = verdict.records / elapsed
        print(
            f"verify --jobs {jobs}: {verdict.records:,} records in {elapsed:.2f} s = {rate:,.0f} records/s"
            f" (target 10,000: {'met' if rate >= 10_000 else 'NOT met'})  [{_load()}]"
        )
        per_record = own / verdict.records * 1e6
        if jobs == 1:
            # CPU time is what a busy machine disturbs least; workers (grandchildren of this
            # process under forkserver) cannot be measured from here, so estimate from this run
            print(
                f"    CPU {per_record:.0f} µs/record in one process: an idle core verifies up to"
                f" {1e6 / per_record:,.0f} records/s, {cores} idle cores up to {cores * 1e6 / per_record:,.0f}/s"
            )
        else:
            print(f"    parent process CPU (read, chain checks): {per_record:.0f} µs/record")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak_mb:.0f} MB (verification streams the file)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="records in the verification log")
    parser.add_argument("--appends", type=int, default=2000, help="records appended with fsync")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, os.cpu_count() or 1], help="worker counts")
    parser.add_argument("--dir", type=Path, help="work folder (default: a temporary folder, removed after)")
    args = parser.parse_args()
    print(f"bench_records: python {sys.version.split()[0]}, {_load()}")
    with tempfile.TemporaryDirectory(dir=args.dir) as temp:
        folder = Path(temp)
        bench_append(folder, args.appends)
        path, keys = build_log(folder, args.records)
        bench_steps(path, keys)
        bench_verify(path, keys, args.jobs)


if __name__ == "__main__":
    main()
