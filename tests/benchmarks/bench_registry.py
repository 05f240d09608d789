"""Benchmark the reference registry: consent lookup latency and throughput over loopback.

Seeds a registry database (SQLite file in a temp dir; and PostgreSQL when
--postgres-url or $SCANGATE_TEST_POSTGRES_URL is given, in a throw-away
schema), starts ``scangate registry serve --workers N`` as a subprocess, and
measures ``GET /v1/consents`` (the rig's hot path: token check + signed-record
lookup):

- latency: one client, sequential requests on one keep-alive connection, p50/p95/p99/max;
- throughput: --clients processes x --threads threads, each on its own keep-alive
  connection, for --duration seconds; lookups per second (only 200 answers count).

Targets on a 2-core machine: p95 <= 50 ms, >= 300 lookups/s with 2 workers. The
client runs on the same cores as the server, so the numbers are a lower bound.
Note the `uptime` load printed with the numbers.

    python tests/benchmarks/bench_registry.py
    python tests/benchmarks/bench_registry.py --postgres-url postgresql+psycopg://u:p@127.0.0.1/db
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, public_key_to_b64
from registry.db import Database
from registry.setup import SeedPerformer, initialise, seed
from tests.postgres_schema import scratch_schema

PRODUCTION = "bench-production"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


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


def start_server(db_url: str, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "agent.cli.main", "registry", "serve", "--db", db_url]
    command += ["--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    with log.open("wb") as handle:
        server = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/v1/health")
            if connection.getresponse().status == 200:
                connection.close()
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("server did not start in 60 s")


def lookup_path(performers: int, rng: random.Random) -> str:
    return f"/v1/consents?performer_id=p-{rng.randrange(performers):04d}&production_id={PRODUCTION}"


def measure_latency(port: int, token: str, performers: int, count: int) -> list[float]:
    rng = random.Random(1)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    timings: list[float] = []
    for index in range(count + 50):
        started = time.perf_counter()
        connection.request("GET", lookup_path(performers, rng), headers=headers)
        response = connection.getresponse()
        response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.status != 200:
            raise SystemExit(f"lookup failed: HTTP {response.status}")
        if index >= 50:  # warm-up excluded
            timings.append(elapsed)
    connection.close()
    return timings


def _client_process(
    port: int, token: str, performers: int, threads: int, duration: float, queue: object
) -> None:
    counts = [0] * threads
    errors = [0] * threads
    timings: list[list[float]] = [[] for _ in range(threads)]
    start_at = time.monotonic() + 0.5
    stop_at = start_at + duration

    def worker(slot: int) -> None:
        rng = random.Random(slot * 7919 + os.getpid())
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        headers = {"Authorization": f"Bearer {token}"}
        while time.monotonic() < start_at:
            time.sleep(0.001)
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            connection.request("GET", lookup_path(performers, rng), headers=headers)
            response = connection.getresponse()
            response.read()
            timings[slot].append((time.perf_counter() - started) * 1000)
            if response.status == 200:
                counts[slot] += 1
            else:
                errors[slot] += 1
        connection.close()

    pool = [threading.Thread(target=worker, args=(slot,)) for slot in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    queue.put((sum(counts), sum(errors), [t for slot in timings for t in slot]))  # type: ignore[attr-defined]


def measure_throughput(
    port: int, token: str, performers: int, clients: int, threads: int, duration: float
) -> tuple[float, int, list[float]]:
    """Lookups per second, non-200 answers, and every request's latency (ms) under that load."""
    queue: multiprocessing.Queue[tuple[int, int, list[float]]] = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(
            target=_client_process, args=(port, token, performers, threads, duration, queue)
        )
        for _ in range(clients)
    ]
    for process in processes:
        process.start()
    results = [queue.get(timeout=duration + 60) for _ in processes]
    for process in processes:
        process.join()
    done = sum(ok for ok, _, _ in results)
    failed = sum(bad for _, bad, _ in results)
    return done / duration, failed, [t for _, _, latencies in results for t in latencies]


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def run_backend(name: str, db_url: str, args: argparse.Namespace, workdir: Path) -> None:
    token = seed_database(db_url, args.performers)
    port = free_port()
    server = start_server(db_url, port, args.workers, workdir / f"{name}-server.log")
    try:
        print(f"[{name}] load before: {load()}")
        timings = measure_latency(port, token, args.performers, args.requests)
        print(
            f"[{name}] latency, 1 client, {len(timings)} lookups, {args.workers} worker(s):"
            f" p50 {statistics.median(timings):.2f} ms, p95 {percentile(timings, 0.95):.2f} ms,"
            f" p99 {percentile(timings, 0.99):.2f} ms, max {max(timings):.2f} ms"
        )
        rate, failed, loaded = measure_throughput(
            port, token, args.performers, args.clients, args.threads, args.duration
        )
        print(
            f"[{name}] throughput, {args.clients}x{args.threads} clients, {args.duration:.0f} s,"
            f" {args.workers} worker(s): {rate:.0f} lookups/s ({failed} non-200);"
            f" latency under this load p50 {statistics.median(loaded):.1f} ms,"
            f" p95 {percentile(loaded, 0.95):.1f} ms"
        )
        print(f"[{name}] load after: {load()}")
    finally:
        server.terminate()
        server.wait(timeout=30)


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
    parser.add_argument("--clients", type=int, default=2, help="client processes for the throughput run")
    parser.add_argument("--threads", type=int, default=4, help="threads (connections) per client process")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of the throughput run")
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
