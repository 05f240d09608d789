"""Benchmark the rig's full consent check: HTTP lookup + signature verification + policy evaluation.

Seeds a registry database (SQLite in a temp dir) with --performers performers,
starts ``scangate registry serve`` as a subprocess on loopback (so the server
does not share this process's interpreter lock), and times, per lookup,
with one RegistryClient (one keep-alive requests.Session):

- http:    ``client.consents()`` — request, capped read, JSON parse, wire validation;
- verify:  the Ed25519 signature check of the record (canonical JSON + SHA-256 + verify);
- policy:  ``evaluate()`` (which includes the signature check: every rule, no short cut);
- full:    ``ConsentLookup.check()`` — what the session controller runs on FetchConsent.

Prints count, p50, p95, p99 and max in milliseconds, and the `uptime` load.
The server runs on the same cores as the client; other work on the machine
disturbs the numbers.

    python tests/benchmarks/bench_consent_lookup.py --lookups 500
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.consent import PolicyContext, evaluate
from agent.registry_client.client import RegistryClient
from agent.registry_client.lookup import ConsentLookup
from agent.registry_client.settings import RegistrySettings
from agent.registry_client.trust import public_keys
from agent.session.model import IdentificationMethod
from agent.signing import Signer, public_key_to_b64
from agent.wire import ConsentRecord, utc_now
from registry.db import Database
from registry.setup import SeedPerformer, initialise, seed
from tests.benchmarks.bench_registry import start_server

PRODUCTION = "bench-production"


def seed_database(db_url: str, performers: int) -> tuple[str, str]:
    """Seed the database; returns the rig token and the registry key id."""
    database = Database.open(db_url)
    try:
        initialise(database)
        rig = Signer(Ed25519PrivateKey.generate())
        result = seed(
            database,
            rig_public_key=public_key_to_b64(rig.public_key),
            performers=[SeedPerformer(f"p-{i:04d}", f"Performer {i}") for i in range(performers)],
            production_id=PRODUCTION,
        )
        return result.rig_token, result.key_id
    finally:
        database.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def report(name: str, samples_ms: list[float]) -> None:
    print(
        f"{name:<8} n={len(samples_ms):<5} p50={statistics.median(samples_ms):7.2f} ms"
        f"  p95={percentile(samples_ms, 0.95):7.2f} ms  p99={percentile(samples_ms, 0.99):7.2f} ms"
        f"  max={max(samples_ms):7.2f} ms"
    )


def timed(action: Callable[[], object], count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--performers", type=int, default=200, help="performers (one consent each) to seed")
    parser.add_argument("--lookups", type=int, default=300, help="timed lookups per measurement")
    parser.add_argument("--warmup", type=int, default=30, help="untimed lookups first")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-consent-") as temp:
        workdir = Path(temp)
        db_url = f"sqlite:///{workdir / 'registry.sqlite3'}"
        token, key_id = seed_database(db_url, args.performers)
        port = free_port()
        server = start_server(db_url, port, 1, workdir / "server.log")
        try:
            settings = RegistrySettings(
                url=f"http://127.0.0.1:{port}",
                token=token,
                pinned_key_ids=(key_id,),
                cache_dir=workdir / "cache",
            )
            rng = random.Random(7)

            def performer() -> str:
                return f"p-{rng.randrange(args.performers):04d}"

            with RegistryClient(settings) as client:
                lookup = ConsentLookup(client, production_id=PRODUCTION)
                trust = client.key_trust()
                for _ in range(args.warmup):
                    lookup.check(performer(), {"face"}, IdentificationMethod.FACE)
                record: ConsentRecord = client.consents("p-0000", PRODUCTION).consents[0]
                context = PolicyContext(
                    production_id=PRODUCTION,
                    performer_id="p-0000",
                    requested_capture_types=frozenset({"face"}),
                    identification_method=IdentificationMethod.FACE,
                    trusted_keys=trust.keys,
                )
                now = utc_now()
                assert evaluate(record, context, now).allowed

                http_ms = timed(lambda: client.consents(performer(), PRODUCTION), args.lookups)
                verify_ms = timed(lambda: record.verify(public_keys(trust.keys)), args.lookups)
                policy_ms = timed(lambda: evaluate(record, context, now), args.lookups)
                results: list[bool] = []
                full_ms = timed(
                    lambda: results.append(
                        lookup.check(performer(), {"face"}, IdentificationMethod.FACE).decision.allowed
                    ),
                    args.lookups,
                )
                if not all(results):
                    raise SystemExit(
                        "a seeded consent was refused: the benchmark is not measuring the allowed path"
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"consent lookup over loopback ({args.performers} performers, 1 server worker, SQLite)")
    report("http", http_ms)
    report("verify", verify_ms)
    report("policy", policy_ms)
    report("full", full_ms)
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    print(f"load: {uptime}")


if __name__ == "__main__":
    main()
