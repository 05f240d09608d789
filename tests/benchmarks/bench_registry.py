"""Benchmark the registry's consent lookup over loopback, next to a minimal FastAPI app on the same data.

Seeds a registry database (SQLite file in a temp dir; and PostgreSQL when
--postgres-url or $SCANGATE_TEST_POSTGRES_URL is given, in a throw-away schema)
and starts, side by side on the same data and with the same uvicorn settings:

- the registry: ``scangate registry serve --workers N --no-access-log``;
- the reference: tests/benchmarks/bench_registry_reference.py, a minimal FastAPI app
  answering the same ``GET /v1/consents`` with the same two queries through the raw
  driver (sqlite3 / psycopg), and a constant ``/v1/health``.

Then, per backend, in one run (targets interleaved over --rounds rounds so that the
other jobs on the machine weigh on each alike):

- throughput: --clients client processes x --threads keep-alive connections each, for
  --duration seconds per target and round; requests per second (only 200 answers count)
  and the latency of every request under that load (p50/p95/p99);
- where the CPU went meanwhile, per request (µs) and in cores busy, from /proc: the server's
  process tree ("server"), the PostgreSQL backends serving it ("db", found by the
  application_name the benchmark gives its URL; SQLite runs inside the server), the client
  processes themselves ("client"), and everything else on the machine ("others": other
  people's jobs, other PostgreSQL sessions);
- latency: one client, sequential requests on one keep-alive connection.

The clients are as cheap as they can be: a raw socket sending prebuilt request bytes and
reading the status line and Content-Length, no HTTP library. They still share the cores
with the servers, so the numbers are a lower bound; the CPU per request shows the cost
independent of how busy the machine was.

Goal (issue 14): >= 1,000 lookups/s with 2 workers for 8 concurrent clients, p95 <= 50 ms.

    python tests/benchmarks/bench_registry.py
    python tests/benchmarks/bench_registry.py --postgres-url postgresql+psycopg://u:p@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, public_key_to_b64
from registry.db import Database
from registry.setup import SeedPerformer, initialise, seed
from tests.cpu_load import load_average
from tests.postgres_schema import scratch_schema

PRODUCTION = "bench-production"
REFERENCE_SCRIPT = Path(__file__).with_name("bench_registry_reference.py")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *([0-9]+)", re.IGNORECASE)
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def seed_database(db_url: str, performers: int) -> str:
    """Initialise and seed; returns the rig token."""
    database = Database.open(db_url)
    try:
        initialise(database)
        people = [
            SeedPerformer(
                f"p-{i:04d}", f"Performer {i}", encodings=[[((i + j) % 97) / 970 for j in range(128)]]
            )
            for i in range(performers)
        ]
        rig = Signer(Ed25519PrivateKey.generate())
        result = seed(
            database,
            rig_public_key=public_key_to_b64(rig.public_key),
            performers=people,
            production_id=PRODUCTION,
        )
        return result.rig_token
    finally:
        database.close()


def _wait_healthy(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/health")
            if connection.getresponse().status == 200:
                connection.close()
                return
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("server did not start in 60 s")


def _launch(command: list[str], port: int, log: Path) -> subprocess.Popen[bytes]:
    paths = [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    with log.open("wb") as handle:
        server = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    _wait_healthy(server, port, log)
    return server


def start_server(db_url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """``scangate registry serve`` on loopback, once it answers /v1/health."""
    command = [sys.executable, "-m", "agent.cli.main", "registry", "serve", "--db", db_url]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    return _launch(command, port, log)


def start_reference(db_url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """The minimal FastAPI reference app on the same database, once it answers."""
    command = [sys.executable, str(REFERENCE_SCRIPT), "--db", db_url, "--port", str(port)]
    return _launch([*command, "--workers", str(workers)], port, log)


def lookup_path(performers: int, rng: random.Random) -> str:
    return f"/v1/consents?performer_id=p-{rng.randrange(performers):04d}&production_id={PRODUCTION}"


# --- the client --------------------------------------------------------------------------------


class RawClient:
    """One keep-alive HTTP/1.1 connection that sends prebuilt requests and reads just enough."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.pending = b""

    def get(self, request: bytes) -> tuple[int, bytes]:
        """Send ``request``; the answer's status and body."""
        self.sock.sendall(request)
        data = self.pending
        while (end := data.find(b"\r\n\r\n")) < 0:
            data += self._recv()
        head, body = data[: end + 2], data[end + 4 :]
        found = _CONTENT_LENGTH.search(head)
        length = int(found.group(1)) if found else 0
        while len(body) < length:
            body += self._recv()
        self.pending = body[length:]
        return int(head[9:12]), body[:length]

    def _recv(self) -> bytes:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class Target:
    """What to ask one server: a name for the table, its port, and the requests to cycle through."""

    name: str
    port: int
    requests: tuple[bytes, ...]


def make_target(name: str, port: int, paths: list[str], token: str | None) -> Target:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    requests = tuple(f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}\r\n".encode("ascii") for p in paths)
    return Target(name, port, requests)


def _client_process(target: Target, connections: int, start_at: float, stop_at: float, queue: Any) -> None:
    import threading

    ok, failed = [0] * connections, [0] * connections
    timings: list[list[float]] = [[] for _ in range(connections)]

    def run(slot: int) -> None:
        client = RawClient(target.port)
        requests, count = target.requests, len(target.requests)
        index = (os.getpid() * 31 + slot * 7919) % count
        record = timings[slot].append
        while time.monotonic() < start_at:
            time.sleep(0.0005)
        while (started := time.monotonic()) < stop_at:
            status, _ = client.get(requests[index])
            record(time.monotonic() - started)
            index = (index + 1) % count
            if status == 200:
                ok[slot] += 1
            else:
                failed[slot] += 1
        client.close()

    while time.monotonic() < start_at - 0.2:
        time.sleep(0.01)
    before = resource.getrusage(resource.RUSAGE_SELF)
    threads = [threading.Thread(target=run, args=(slot,)) for slot in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    queue.put((sum(ok), sum(failed), cpu, [t * 1000 for slot in timings for t in slot]))


def _cpu_by_pid() -> tuple[dict[int, float], dict[int, int]]:
    """CPU seconds (user + system) each living process has used so far, and its parent."""
    times: dict[int, float] = {}
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            values = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[int(entry)] = (int(values[11]) + int(values[12])) * _TICK_S
        parents[int(entry)] = int(values[1])
    return times, parents


def _tree_cpu(root: int, times: dict[int, float], parents: dict[int, int]) -> float:
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(child for child, parent in parents.items() if parent == pid)
    return total


def _machine_busy() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) * _TICK_S


@dataclass
class Sample:
    """What one target measured, summed over rounds."""

    seconds: float = 0.0
    ok: int = 0
    failed: int = 0
    client_cpu: float = 0.0
    server_cpu: float = 0.0
    database_cpu: float = 0.0
    machine_cpu: float = 0.0
    latencies: list[float] | None = None


def run_load(
    target: Target,
    server_pid: int,
    database_pids: Callable[[], set[int]],
    args: argparse.Namespace,
    into: Sample,
) -> None:
    """One round of --clients processes x --threads connections against ``target``.

    ``database_pids``: the PostgreSQL backends serving this server now (their CPU is "db";
    a backend that exits during the round takes its time along).
    """
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    start_at = time.monotonic() + 0.7
    stop_at = start_at + args.duration
    processes = [
        context.Process(target=_client_process, args=(target, args.threads, start_at, stop_at, queue))
        for _ in range(args.clients)
    ]
    for process in processes:
        process.start()
    time.sleep(max(0.0, start_at - time.monotonic()))
    (times_before, parents), machine_before = _cpu_by_pid(), _machine_busy()
    server_before = _tree_cpu(server_pid, times_before, parents)
    time.sleep(max(0.0, stop_at - time.monotonic()))
    (times_after, parents), machine_after = _cpu_by_pid(), _machine_busy()
    server_after = _tree_cpu(server_pid, times_after, parents)
    backends = database_pids()
    results = [queue.get(timeout=args.duration + 60) for _ in processes]
    for process in processes:
        process.join()
    into.seconds += args.duration
    into.ok += sum(r[0] for r in results)
    into.failed += sum(r[1] for r in results)
    into.client_cpu += sum(r[2] for r in results)
    into.server_cpu += server_after - server_before
    into.database_cpu += sum(times_after.get(pid, 0.0) - times_before.get(pid, 0.0) for pid in backends)
    into.machine_cpu += machine_after - machine_before
    into.latencies = (into.latencies or []) + [t for r in results for t in r[3]]


def measure_latency(target: Target, count: int) -> list[float]:
    """Sequential requests on one connection (50 warm-up requests not counted), in ms."""
    client = RawClient(target.port)
    timings: list[float] = []
    for index in range(count + 50):
        started = time.perf_counter()
        status, _ = client.get(target.requests[index % len(target.requests)])
        elapsed = (time.perf_counter() - started) * 1000
        if status != 200:
            raise SystemExit(f"{target.name}: HTTP {status}")
        if index >= 50:
            timings.append(elapsed)
    client.close()
    return timings


def check_same_answer(registry: Target, reference: Target) -> None:
    """Both servers answer the first lookup with the same signed records (so the comparison is fair)."""
    answers = []
    for target in (registry, reference):
        client = RawClient(target.port)
        status, body = client.get(target.requests[0])
        client.close()
        if status != 200:
            raise SystemExit(f"{target.name}: HTTP {status}: {body[:300]!r}")
        answers.append(json.loads(body)["consents"])
    if answers[0] != answers[1] or not answers[0]:
        raise SystemExit("the reference app does not answer the registry's records; the comparison is void")


def _row(name: str, sample: Sample, cores: int) -> str:
    done = sample.ok + sample.failed
    rate = sample.ok / sample.seconds
    lat = sample.latencies or []
    per_request = 1e6 / max(done, 1)
    others = max(0.0, sample.machine_cpu - sample.server_cpu - sample.database_cpu - sample.client_cpu)
    return (
        f"  {name:<34} {rate:>8.0f} {sample.failed:>5} {percentile(lat, 0.5):>6.1f}"
        f" {percentile(lat, 0.95):>6.1f} {percentile(lat, 0.99):>6.1f}"
        f" {sample.server_cpu * per_request:>7.0f} {sample.database_cpu * per_request:>7.0f}"
        f" {sample.client_cpu * per_request:>7.0f}"
        f" {sample.server_cpu / sample.seconds:>6.2f} {sample.database_cpu / sample.seconds:>6.2f}"
        f" {sample.client_cpu / sample.seconds:>6.2f} {others / sample.seconds:>6.2f} / {cores}"
    )


def _tagged(db_url: str, tag: str) -> str:
    """The URL with a PostgreSQL application_name, by which the benchmark finds its backends."""
    if not db_url.startswith("postgresql"):
        return db_url
    return f"{db_url}{'&' if '?' in db_url else '?'}application_name={tag}"


def _backends(engine: sa.Engine | None, tag: str) -> Callable[[], set[int]]:
    def pids() -> set[int]:
        if engine is None:
            return set()
        with engine.connect() as connection:
            query = sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :tag")
            return {int(pid) for pid in connection.execute(query, {"tag": tag}).scalars()}

    return pids


def run_backend(name: str, db_url: str, args: argparse.Namespace, workdir: Path) -> None:
    token = seed_database(db_url, args.performers)
    rng = random.Random(1)
    paths = [lookup_path(args.performers, rng) for _ in range(1000)]
    registry_port, reference_port = free_port(), free_port()
    tags = (f"bench-registry-{os.getpid()}", f"bench-reference-{os.getpid()}")
    watcher = sa.create_engine(db_url, poolclass=sa.NullPool) if name == "postgres" else None
    log = workdir / f"{name}-server.log"
    registry = start_server(_tagged(db_url, tags[0]), registry_port, args.workers, log)
    try:
        log = workdir / f"{name}-reference.log"
        reference = start_reference(_tagged(db_url, tags[1]), reference_port, args.workers, log)
        try:
            driver = "sqlite3" if name == "sqlite" else "psycopg"
            of_registry = (registry.pid, _backends(watcher, tags[0]))
            of_reference = (reference.pid, _backends(watcher, tags[1]))
            targets = [
                (make_target("registry /v1/consents", registry_port, paths, token), *of_registry),
                (
                    make_target(f"reference /v1/consents ({driver})", reference_port, paths, token),
                    *of_reference,
                ),
                (make_target("registry /v1/health", registry_port, ["/v1/health"], None), *of_registry),
                (
                    make_target("reference /v1/health (constant)", reference_port, ["/v1/health"], None),
                    *of_reference,
                ),
            ]
            check_same_answer(targets[0][0], targets[1][0])
            cores = os.cpu_count() or 1
            print(
                f"[{name}] {args.workers} workers each; {args.clients} client processes x {args.threads}"
                f" connection(s); {args.rounds} round(s) of {args.duration:g} s per target;"
                f" {load_average()} before"
            )
            samples = {target.name: Sample() for target, _, _ in targets}
            for _ in range(args.rounds):
                for target, pid, backends in targets:
                    run_load(target, pid, backends, args, samples[target.name])
            print(
                f"  {'under load':<34} {'req/s':>8} {'!=200':>5} {'p50':>6} {'p95':>6} {'p99':>6}"
                f" {'server':>7} {'db':>7} {'client':>7} {'server':>6} {'db':>6} {'client':>6} {'others':>6}"
            )
            print(
                f"  {'':<34} {'':>8} {'':>5} {'ms':>6} {'ms':>6} {'ms':>6} {'µs CPU per request':>23}"
                f" {'cores busy':>24}"
            )
            for target, _, _ in targets:
                print(_row(target.name, samples[target.name], cores))
            print(f"  {'one client, sequential':<34} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
            for target, _, _ in targets[:3]:
                timings = measure_latency(target, args.requests)
                print(
                    f"  {target.name:<34} {statistics.median(timings):>8.2f} {percentile(timings, 0.95):>8.2f}"
                    f" {percentile(timings, 0.99):>8.2f} {max(timings):>8.2f}"
                )
            print(f"[{name}] {load_average()} after")
        finally:
            reference.terminate()
            reference.wait(timeout=30)
    finally:
        registry.terminate()
        registry.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument(
        "--performers", type=int, default=200, help="performers (with one consent each) to seed"
    )
    parser.add_argument(
        "--requests", type=int, default=1000, help="sequential lookups for the latency numbers"
    )
    parser.add_argument("--clients", type=int, default=8, help="client processes (default 8)")
    parser.add_argument("--threads", type=int, default=1, help="keep-alive connections per client process")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per target and round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds over all targets (interleaved)")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCANGATE_TEST_POSTGRES_URL"),
        help="also run on PostgreSQL, in a throw-away schema (default: $SCANGATE_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--skip-sqlite", action="store_true", help="only run on PostgreSQL")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        workdir = Path(tmp)
        if not args.skip_sqlite:
            run_backend("sqlite", f"sqlite:///{workdir / 'registry.sqlite3'}", args, workdir)
        if args.postgres_url:
            with scratch_schema(args.postgres_url, "bench_") as url:
                run_backend("postgres", url, args, workdir)
        else:
            print("[postgres] skipped: give --postgres-url or set SCANGATE_TEST_POSTGRES_URL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
