"""Benchmark of log verification against bare Ed25519 verification (issue 14, goal 3).

Not a test (pytest does not collect it). Run:

    python tests/benchmarks/bench_verify_vs_ed25519.py [--records 10000] [--log FILE --key PEM]
        [--steps] [--ab] [--parts] [--memory 10000 100000]

Measured in one run on the same records, so machine load hits both alike:
- **bare Ed25519**: ``Ed25519PublicKey.verify`` over each record's signature and payload
  digest, prepared beforehand (no reading, parsing or hashing), in one process and in as
  many processes as ``verify`` uses by default;
- **scangate verify** (``verify_log``, workers started as the command line starts them):
  reading, parsing, canonical form, signature, schema, chain, in one process (``--jobs 1``)
  and with the default worker count.

Prints per-record wall time and, for one process, CPU time, with the ratio to bare Ed25519
(goal: at most 1.5x) and the machine load. ``--steps`` adds the CPU time of each step of
the per-line check, all measured line by line in one loop (so each sees the caches the
others leave), and of ``check_batch`` as ``verify`` runs it (a batch of lines read, then
their signatures checked). ``--parts`` times each part of the per-line check on its own
(the minimum of interleaved rounds, which stays put on a busy machine). ``--memory`` verifies logs of the given sizes in fresh
processes and prints their peak resident memory and traced Python allocations.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent import __version__
from agent.records.canonical_line import read_canonical_line
from agent.records.keys import load_or_create_rig_key, trusted_keys
from agent.records.linecheck import check_batch, check_line
from agent.records.model import GENESIS_HASH, SCHEMA_VERSION, utc_timestamp
from agent.records.verify import default_jobs, verify_log
from agent.signing import canonical_json, loads_for_canonical, raw_public_bytes, signed_payload
from tests.records.factories import BASE_TIME, draft_for

Pair = tuple[bytes, bytes]
RIG_ID = "bench-rig"


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def build_log(folder: Path, count: int) -> tuple[Path, Path]:
    """A log of ``count`` records as RecordLog writes them (same members, signing and chaining), quickly."""
    key_file = folder / "keys" / "rig.pem"
    signer = load_or_create_rig_key(key_file).signer
    path = folder / f"bench-{count}.jsonl"
    bodies = [draft_for(index).model_dump(mode="json") for index in range(50)]
    last_hash = GENESIS_HASH
    with open(path, "wb") as handle:
        for index in range(count):
            body = {
                **bodies[index % len(bodies)],
                "schema_version": SCHEMA_VERSION,
                "rig_id": RIG_ID,
                "sequence": index + 1,
                "previous_hash": last_hash,
                "written_at": utc_timestamp(BASE_TIME),
                "agent_version": __version__,
            }
            line = canonical_json(signer.sign_into(body))
            handle.write(line + b"\n")
            last_hash = hashlib.sha256(line).hexdigest()
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
    context = multiprocessing.get_context("fork")
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


def compare(path: Path, public_key: Ed25519PublicKey, pairs: list[Pair]) -> None:
    keys = trusted_keys([public_key])
    count = len(pairs)
    jobs = default_jobs(path, "fork")
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
            wall = bare_ed25519(public_key, pairs, jobs)
            rows.append((f"bare Ed25519, {jobs} processes (round {round_ + 1})", wall, None))
            started = time.perf_counter()
            verdict = verify_log(path, keys, start_method="fork")
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
    per_round = len(rows) // 2
    for round_ in range(2):
        group = rows[round_ * per_round : (round_ + 1) * per_round]
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


def steps(path: Path, public_key: Ed25519PublicKey, sample: int = 3000) -> None:
    """CPU time of each step of the per-line check, measured line by line in one loop."""
    keys = trusted_keys([public_key])
    with open(path, "rb") as handle:
        lines = [line.rstrip(b"\n") for _, line in zip(range(sample), handle, strict=False)]
    totals: dict[str, int] = {}
    clock = time.thread_time_ns

    def timed(label: str, started: int) -> int:
        now = clock()
        totals[label] = totals.get(label, 0) + now - started
        return now

    for _ in range(2):
        for data in lines:
            at = clock()
            read = read_canonical_line(data)
            at = timed("one pass: read_canonical_line (payload hashed; msgspec, then pydantic-core)", at)
            assert read is not None
            record_hash = hashlib.sha256(data).hexdigest()
            digest = read.payload_digest
            at = timed("SHA-256 of the line", at)
            signature = base64.urlsafe_b64decode(read.record["signature"]["value"] + "==")
            at = timed("decode the signature", at)
            public_key.verify(signature, digest)
            at = timed("Ed25519 verify", at)
            check_line(1, data, True, keys)
            timed("check_line (all of the above and the rest)", at)
            del record_hash
    batches = [
        [(number, data, True) for number, data in enumerate(lines[i : i + 64])]
        for i in range(0, len(lines), 64)
    ]
    for _ in range(2):
        at = clock()
        for batch in batches:
            check_batch(batch, keys, True)
        timed("check_batch of 64 lines (as verify runs it), per line", at)
    bare = totals["Ed25519 verify"]
    started = time.thread_time()
    verify_log(path, keys, jobs=1)
    whole = time.thread_time() - started
    count = 2 * len(lines)
    print(f"\nper-line steps (CPU, {len(lines):,} lines twice, interleaved line by line; {load()}):")
    for label, total in totals.items():
        print(f"  {label:<62} {total / count / 1000:7.1f} µs  {total / bare:5.2f}x Ed25519")
    with open(path, "rb") as handle:
        lines_in_log = sum(1 for _ in handle)
    print(
        f"  {'verify_log --jobs 1 (read, check, chain, verdict), per record':<62} {whole / lines_in_log * 1e6:7.1f} µs"
    )


def ab(path: Path, public_key: Ed25519PublicKey, sample: int = 4000, rounds: int = 6) -> None:
    """CPU per line of ``check_batch`` with and without the native (msgspec) pre-filter, and of bare
    Ed25519, interleaved in chunks of 256 lines in one process (the load hits all three alike)."""
    from unittest import mock

    from agent.records import linecheck
    from agent.records.canonical_line import read_strictly

    keys = trusted_keys([public_key])
    with open(path, "rb") as handle:
        lines = [line.rstrip(b"\n") for _, line in zip(range(sample), handle, strict=False)]
    pairs = prepare_pairs(path)[: len(lines)]
    chunks = [range(i, min(i + 256, len(lines))) for i in range(0, len(lines), 256)]
    totals = {"bare Ed25519": 0, "check_batch, native pre-filter": 0, "check_batch, pydantic-core only": 0}
    clock = time.thread_time_ns
    for round_ in range(rounds):
        for chunk in chunks:
            batches = [[(n, lines[n], True) for n in chunk[i : i + 64]] for i in range(0, len(chunk), 64)]
            order = list(totals) if round_ % 2 == 0 else list(reversed(totals))
            for label in order:
                started = clock()
                if label == "bare Ed25519":
                    for n in chunk:
                        public_key.verify(*pairs[n])
                elif label == "check_batch, native pre-filter":
                    for batch in batches:
                        check_batch(batch, keys, True)
                else:
                    with mock.patch.object(linecheck, "read_canonical_line", read_strictly):  # main's reading
                        for batch in batches:
                            check_batch(batch, keys, True)
                totals[label] += clock() - started
    count = rounds * len(lines)
    bare = totals["bare Ed25519"]
    print(f"\nA/B (CPU per line, {len(lines):,} lines x {rounds}, chunks of 256 interleaved; {load()}):")
    for label, total in totals.items():
        print(f"  {label:<40} {total / count / 1000:7.1f} µs  {total / bare:5.2f}x Ed25519")


def parts(path: Path, public_key: Ed25519PublicKey, sample: int = 1000, rounds: int = 16) -> None:
    """CPU per line of each part of the per-line check, each timed alone over the same lines, the parts
    interleaved round by round in one process; the minimum of the rounds is printed (on a busy machine
    only the minimum is stable), beside bare Ed25519 and ``check_batch`` / ``verify_log`` timed the same way."""
    import msgspec

    from agent.records import linecheck, native_line
    from agent.records.liveness_evidence import liveness_flag
    from agent.records.record_view import flagged_capture_count
    from agent.records.retention import retained_captures
    from agent.records.rotation_record import rotation_facts

    keys = trusted_keys([public_key])
    with open(path, "rb") as handle:
        lines = [line.rstrip(b"\n") for _, line in zip(range(sample), handle, strict=False)]
    pairs = prepare_pairs(path)[: len(lines)]
    decoder, patterns = next(
        (d, p)
        for m, d, p in zip(native_line._MARKERS, native_line._DECODERS, native_line._PATTERNS, strict=True)
        if m in lines[0]
    )
    structs = [decoder.decode(data) for data in lines]
    records = [msgspec.to_builtins(struct) for struct in structs]

    def each(function: Any, items: list[Any]) -> Any:
        def run() -> None:
            for item in items:
                function(item)

        return run

    def batches() -> None:
        for i in range(0, len(lines), 64):
            check_batch([(n, lines[n], True) for n in range(i, min(i + 64, len(lines)))], keys, True)

    sample_log = path.with_name(f"parts-{len(lines)}.jsonl")
    sample_log.write_bytes(b"".join(data + b"\n" for data in lines))

    def whole() -> None:
        assert verify_log(sample_log, keys, jobs=1).intact

    measured: dict[str, Any] = {
        "bare Ed25519": each(lambda pair: public_key.verify(*pair), pairs),
        "msgspec typed decode (Python checks included)": each(decoder.decode, lines),
        "patterns (pydantic-core, one call per line)": each(
            lambda r: patterns.validate_python(r, strict=True), records
        ),
        "re-encoding the record": each(native_line._ENCODER.encode, structs),
        "msgspec.to_builtins": each(msgspec.to_builtins, structs),
        "SHA-256 twice (the line's size, as for line and payload)": each(
            lambda data: (hashlib.sha256(data).hexdigest(), hashlib.sha256(data).digest()), lines
        ),
        "signature decoding": each(lambda r: linecheck._decode_signature(r["signature"]["value"]), records),
        "fact: liveness flag": each(liveness_flag, records),
        "fact: retained captures": each(retained_captures, records),
        "fact: flagged captures": each(lambda r: flagged_capture_count(r.get("captured_files")), records),
        "fact: key rotation": each(rotation_facts, records),
        "read_native (the whole native reading)": each(native_line.read_native, lines),
        "everything before the signature": each(
            lambda data: linecheck._before_signature(1, data, True, keys), lines
        ),
        "check_batch (with Ed25519)": batches,
        "verify_log --jobs 1 (the whole command: reading the file, chain)": whole,
    }
    totals: dict[str, list[float]] = {label: [] for label in measured}
    clock = time.thread_time_ns
    for round_ in range(rounds):
        order = list(measured) if round_ % 2 == 0 else list(reversed(measured))
        for label in order:
            started = clock()
            measured[label]()
            totals[label].append((clock() - started) / len(lines) / 1000)
    bare = min(totals["bare Ed25519"])
    print(f"\nparts (CPU per line, {len(lines):,} lines, minimum of {rounds} interleaved rounds; {load()}):")
    for label, values in totals.items():
        print(f"  {label:<62} {min(values):7.1f} µs  {min(values) / bare:5.2f}x Ed25519")


_MEMORY_CHILD = """
import resource, sys, tracemalloc
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from agent.records.keys import load_or_create_rig_key, trusted_keys
from agent.records.verify import verify_log
keys = trusted_keys([load_or_create_rig_key(Path(sys.argv[2])).public_key])
tracemalloc.start()
verdict = verify_log(Path(sys.argv[1]), keys, jobs=1)
traced = tracemalloc.get_traced_memory()[1]
tracemalloc.stop()
assert verdict.intact
print(verdict.records, traced, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def memory(folder: Path, sizes: list[int]) -> None:
    """Peak memory of ``verify --jobs 1`` on logs of each size, each in a fresh process."""
    root = str(Path(__file__).resolve().parents[2])
    print(f"\nmemory of verify --jobs 1 by log size (fresh process each; {load()}):")
    for count in sizes:
        started = time.perf_counter()
        path, key_file = build_log(folder / f"m{count}", count)
        built = time.perf_counter() - started
        out = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, str(path), str(key_file), root],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        records, traced, rss_kb = (int(value) for value in out)
        print(
            f"  {records:>8,} records ({path.stat().st_size / 1e6:5.0f} MB, built in {built:.0f} s):"
            f" peak RSS {rss_kb / 1024:6.1f} MB, peak traced Python allocations {traced / 1e6:6.2f} MB"
        )
        path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=10_000)
    parser.add_argument("--log", type=Path, help="an existing log (with --key) instead of building one")
    parser.add_argument("--key", type=Path, help="the rig key (PEM) that signed --log")
    parser.add_argument("--steps", action="store_true", help="also time each step of the per-line check")
    parser.add_argument(
        "--ab", action="store_true", help="also compare check_batch with and without the native pre-filter"
    )
    parser.add_argument(
        "--parts",
        action="store_true",
        help="also time each part of the per-line check alone (minimum of rounds)",
    )
    parser.add_argument("--memory", type=int, nargs="*", help="also measure memory for logs of these sizes")
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
        pairs = prepare_pairs(path)
        compare(path, public_key, pairs)
        if args.steps:
            steps(path, public_key)
        if args.ab:
            ab(path, public_key)
        if args.parts:
            parts(path, public_key)
        if args.memory:
            memory(Path(temp), args.memory)
        print(
            f"({load()}; peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
