"""Benchmark several registry machines: two ``registry serve`` processes on one PostgreSQL database.

A production that outgrows one registry machine runs several registry
processes on one PostgreSQL database. This script starts two real ``scangate
registry serve`` processes (subprocesses, two loopback ports) on one throw-away
schema, registers --rigs rigs (each with its own key and token, through the
admin API) and runs them as threads for --duration seconds. Each rig, through
a randomly chosen instance per request:

- uploads the next record of its signed, chained log (and now and then sends an
  already-sent record again through the other instance, as an outbox retry would);
- looks up consents (``GET /v1/consents``) between uploads;
- and, on a thread of its own, polls the revocation feed every --poll-interval
  seconds through one instance (half of the rigs on each).

Meanwhile an administrator revokes one consent per second, alternately through
each instance. At the end every rig sends a *different* record at an already
used sequence (must be 409), and the script checks the database and both
instances' checkpoints. It prints:

- lookups/s and uploads/s through each instance and in total (with latency p50/p95);
- records lost (acknowledged but not stored) and duplicated (stored twice) — must be 0;
- whether each rig's stored sequence is 1..n, hash-chained, and both checkpoints agree;
- revocation propagation time p50/p95 from the admin's answer on one instance
  to a rig polling the *other* instance seeing it (includes up to one poll interval),
  and whether every rig saw every revocation;
- machine load at start and at the end (the clients share the cores with the servers).

    python tests/benchmarks/bench_registry_instances.py [--postgres-url URL] [--rigs 20] [--duration 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent.signing import Signer, object_hash_hex, public_key_to_b64
from agent.wire import Checkpoint, KeyList, RevocationFeed, SessionRecordReceipt
from registry.db import Database, SessionRecordRow
from registry.keys import trusted_public_keys
from registry.setup import SeedPerformer, initialise, seed
from tests.postgres_schema import scratch_schema
from tests.registry.instances import Instance, running_instances
from tests.registry.records import resigned, signed_record

PRODUCTION = "bench-production"
LOOKUPS_PER_UPLOAD = 4
RETRY_EVERY = 10


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))] if ordered else float("nan")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


@dataclass
class Stats:
    """What the threads measured (one lock; appends are short)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    lookups: Counter[str] = field(default_factory=Counter)
    uploads: Counter[str] = field(default_factory=Counter)
    lookup_ms: list[float] = field(default_factory=list)
    upload_ms: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    stored_receipts: Counter[str] = field(default_factory=Counter)  # record hash -> "stored" answers
    revoked_at: dict[str, tuple[float, str]] = field(default_factory=dict)  # consent -> (time, instance)
    propagation_ms: list[float] = field(default_factory=list)


@dataclass
class Rig:
    """One simulated rig: its key, token, log and what it saw of the feed."""

    rig_id: str
    signer: Signer
    token: str
    poll_url: str
    records: list[dict[str, Any]] = field(default_factory=list)
    acknowledged: set[str] = field(default_factory=set)
    seen_revoked: list[str] = field(default_factory=list)
    cursor: int = 0


def seed_database(db_url: str, performers: int) -> str:
    """Initialise and seed the consents; returns an admin token."""
    database = Database.open(db_url)
    try:
        admin = initialise(database).admin_token.token
        people = [
            SeedPerformer(
                f"p-{i:04d}", f"Performer {i}", encodings=[[((i + j) % 97) / 970 for j in range(128)]]
            )
            for i in range(performers)
        ]
        bootstrap = Signer(Ed25519PrivateKey.generate())
        seed(
            database,
            rig_public_key=public_key_to_b64(bootstrap.public_key),
            performers=people,
            production_id=PRODUCTION,
            rig_id="bench-seed-rig",
        )
        return admin
    finally:
        database.close()


def register_rigs(instances: list[Instance], admin_token: str, count: int) -> list[Rig]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    rigs = []
    for index in range(count):
        rig_id = f"bench-rig-{index + 1:02d}"
        signer = Signer(Ed25519PrivateKey.generate())
        url = instances[index % len(instances)].url
        body = {
            "rig_id": rig_id,
            "production_id": PRODUCTION,
            "public_key": public_key_to_b64(signer.public_key),
        }
        created = requests.post(url + "/v1/admin/rigs", json=body, headers=headers, timeout=30)
        created.raise_for_status()
        issued = requests.post(
            f"{url}/v1/admin/rigs/{rig_id}/tokens", json={"label": "bench"}, headers=headers, timeout=30
        )
        issued.raise_for_status()
        poll_url = instances[(index + 1) % len(instances)].url
        rigs.append(Rig(rig_id=rig_id, signer=signer, token=issued.json()["token"], poll_url=poll_url))
    return rigs


def _post_record(
    http: requests.Session, url: str, rig: Rig, record: dict[str, Any], stats: Stats, *, count: bool
) -> None:
    started = time.perf_counter()
    try:
        answer = http.post(
            url + "/v1/session-records",
            json=record,
            headers={"Authorization": f"Bearer {rig.token}"},
            timeout=30,
        )
    except requests.RequestException as exc:
        with stats.lock:
            stats.failures[f"upload {type(exc).__name__}"] += 1
        return
    elapsed = (time.perf_counter() - started) * 1000
    with stats.lock:
        if answer.status_code != 200:
            stats.failures[f"upload {answer.status_code}"] += 1
            return
        receipt = SessionRecordReceipt.model_validate(answer.json())
        rig.acknowledged.add(receipt.record_hash)
        if receipt.intake.value == "stored":
            stats.stored_receipts[receipt.record_hash] += 1
        if count:
            stats.uploads[url] += 1
            stats.upload_ms.append(elapsed)


def _poll_feed(http: requests.Session, rig: Rig, stats: Stats) -> None:
    while True:
        answer = http.get(
            rig.poll_url + "/v1/revocations",
            params={"since": rig.cursor},
            headers={"Authorization": f"Bearer {rig.token}"},
            timeout=30,
        )
        if answer.status_code != 200:
            with stats.lock:
                stats.failures[f"feed {answer.status_code}"] += 1
            return
        feed = RevocationFeed.model_validate(answer.json())
        now = time.perf_counter()
        with stats.lock:
            for item in feed.items:
                rig.seen_revoked.append(item.consent_id)
                made = stats.revoked_at.get(item.consent_id)
                if made is not None and made[1] != rig.poll_url:
                    stats.propagation_ms.append(max(0.0, now - made[0]) * 1000)
        rig.cursor = feed.next_cursor
        if not feed.has_more:
            return


def run_rig(
    rig: Rig, instances: list[Instance], args: argparse.Namespace, stats: Stats, stop: threading.Event
) -> None:
    rng = random.Random(rig.rig_id)
    urls = [instance.url for instance in instances]
    with requests.Session() as http:
        while not stop.is_set():
            sequence = len(rig.records) + 1
            previous = object_hash_hex(rig.records[-1]) if rig.records else None
            record = signed_record(rig.signer, sequence, previous, rig_id=rig.rig_id)
            rig.records.append(record)
            url = rng.choice(urls)
            _post_record(http, url, rig, record, stats, count=True)
            if sequence % RETRY_EVERY == 0:  # the outbox resends through the other machine
                other = urls[(urls.index(url) + 1) % len(urls)]
                _post_record(
                    http, other, rig, rig.records[rng.randrange(len(rig.records))], stats, count=False
                )
            for _ in range(LOOKUPS_PER_UPLOAD):
                url = rng.choice(urls)
                performer = f"p-{rng.randrange(args.performers):04d}"
                started = time.perf_counter()
                answer = http.get(
                    url + "/v1/consents",
                    params={"performer_id": performer, "production_id": PRODUCTION},
                    headers={"Authorization": f"Bearer {rig.token}"},
                    timeout=30,
                )
                elapsed = (time.perf_counter() - started) * 1000
                with stats.lock:
                    if answer.status_code == 200:
                        stats.lookups[url] += 1
                        stats.lookup_ms.append(elapsed)
                    else:
                        stats.failures[f"lookup {answer.status_code}"] += 1


def run_feed_poller(rig: Rig, args: argparse.Namespace, stats: Stats, stop: threading.Event) -> None:
    """The rig's revocation poller (its own thread, as on a real rig)."""
    with requests.Session() as http:
        while not stop.wait(args.poll_interval):
            _poll_feed(http, rig, stats)


def run_revoker(
    instances: list[Instance], admin_token: str, args: argparse.Namespace, stats: Stats, stop: threading.Event
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    index = 0
    with requests.Session() as http:
        while not stop.wait(1.0) and index < args.performers:
            instance = instances[index % len(instances)]
            consent = f"c-p-{index:04d}"
            answer = http.post(
                f"{instance.url}/v1/admin/consents/{consent}/revoke",
                json={"reason": "bench: performer withdrew"},
                headers=headers,
                timeout=30,
            )
            with stats.lock:
                if answer.status_code == 200:
                    stats.revoked_at[consent] = (time.perf_counter(), instance.url)
                else:
                    stats.failures[f"revoke {answer.status_code}"] += 1
            index += 1


def check_store(db_url: str, rigs: list[Rig], instances: list[Instance], stats: Stats) -> None:
    database = Database.open(db_url)
    with database.read() as session:
        rows = session.execute(
            sa.select(SessionRecordRow.rig_id, SessionRecordRow.sequence, SessionRecordRow.record_hash)
        ).all()
    database.close()
    stored: dict[str, dict[int, list[str]]] = defaultdict(lambda: defaultdict(list))
    for rig_id, sequence, record_hash in rows:
        stored[rig_id][sequence].append(record_hash)
    keys = trusted_public_keys(
        KeyList.model_validate(requests.get(instances[0].url + "/v1/keys", timeout=30).json())
    )
    lost = duplicated = 0
    inconsistent: list[str] = []
    for rig in rigs:
        held = stored[rig.rig_id]
        hashes = {h for values in held.values() for h in values}
        lost += len(rig.acknowledged - hashes)
        duplicated += sum(len(values) - 1 for values in held.values())
        expected = [object_hash_hex(record) for record in rig.records if object_hash_hex(record) in hashes]
        sequences = sorted(held)
        if sequences != list(range(1, len(sequences) + 1)):
            inconsistent.append(f"{rig.rig_id}: stored sequences are not 1..n")
        elif [held[s][0] for s in sequences] != expected[: len(sequences)]:
            inconsistent.append(f"{rig.rig_id}: stored records differ from the rig's log")
        for instance in instances:
            answer = requests.get(
                f"{instance.url}/v1/rigs/{rig.rig_id}/checkpoint",
                headers={"Authorization": f"Bearer {rig.token}"},
                timeout=30,
            )
            checkpoint = Checkpoint.model_validate(answer.json())
            checkpoint.verify(keys)
            if (checkpoint.first_sequence, checkpoint.sequence, checkpoint.records_held) != (
                1,
                len(sequences),
                len(sequences),
            ) or checkpoint.record_hash != held[len(sequences)][0]:
                inconsistent.append(f"{rig.rig_id}: checkpoint of {instance.url} does not match the store")
    extra = sum(count - 1 for count in stats.stored_receipts.values() if count > 1)
    print(f"records acknowledged: {sum(len(r.acknowledged) for r in rigs)}, rows stored: {len(rows)}")
    print(f"records lost: {lost}; duplicated rows: {duplicated}; records answered 'stored' twice: {extra}")
    print(
        "per-rig sequences and checkpoints: "
        + (
            "consistent (both instances agree)"
            if not inconsistent
            else "INCONSISTENT: " + "; ".join(inconsistent)
        )
    )


def refuse_forks(rigs: list[Rig], instances: list[Instance]) -> None:
    answers: Counter[int] = Counter()
    for index, rig in enumerate(rigs):
        if not rig.records:
            continue
        fork = resigned(rig.signer, rig.records[0], outcome_detail="a rewritten first record")
        url = instances[index % len(instances)].url
        answer = requests.post(
            url + "/v1/session-records",
            json=fork,
            headers={"Authorization": f"Bearer {rig.token}"},
            timeout=30,
        )
        answers[answer.status_code] += 1
    print(f"a different record at a used sequence, one per rig: answers {dict(answers)} (must all be 409)")


def report_rates(stats: Stats, instances: list[Instance], seconds: float) -> None:
    for number, instance in enumerate(instances, 1):
        print(
            f"instance {number} ({instance.url}): {stats.lookups[instance.url] / seconds:.0f} lookups/s,"
            f" {stats.uploads[instance.url] / seconds:.1f} uploads/s"
        )
    print(
        f"both instances: {sum(stats.lookups.values()) / seconds:.0f} lookups/s"
        f" (p50 {statistics.median(stats.lookup_ms):.1f} / p95 {percentile(stats.lookup_ms, 0.95):.1f} ms),"
        f" {sum(stats.uploads.values()) / seconds:.1f} uploads/s"
        f" (p50 {statistics.median(stats.upload_ms):.1f} / p95 {percentile(stats.upload_ms, 0.95):.1f} ms)"
    )
    print(f"failed requests: {dict(stats.failures) or 'none'}")


def report_revocations(stats: Stats, rigs: list[Rig], poll_interval: float) -> None:
    revoked = set(stats.revoked_at)
    missed = [rig.rig_id for rig in rigs if not revoked <= set(rig.seen_revoked)]
    doubled = [rig.rig_id for rig in rigs if len(rig.seen_revoked) != len(set(rig.seen_revoked))]
    print(
        f"revocations: {len(revoked)} made; propagation to rigs polling the other instance"
        f" (every {poll_interval * 1000:.0f} ms): p50 {percentile(stats.propagation_ms, 0.5):.0f} ms,"
        f" p95 {percentile(stats.propagation_ms, 0.95):.0f} ms over {len(stats.propagation_ms)} rig sightings"
    )
    print(
        "every rig saw every revocation exactly once: "
        + ("yes" if not missed and not doubled else f"NO (missed: {missed}, twice: {doubled})")
    )


def run(db_url: str, args: argparse.Namespace, workdir: Path) -> None:
    admin_token = seed_database(db_url, args.performers)
    with running_instances(db_url, 2, workdir / "logs", workers=args.workers) as instances:
        rigs = register_rigs(instances, admin_token, args.rigs)
        print(f"machine at start: {load()}")
        print(
            f"{args.rigs} rigs x (1 upload + {LOOKUPS_PER_UPLOAD} lookups, feed every {args.poll_interval} s),"
            f" 2 instances x {args.workers} worker(s), {args.duration:.0f} s, 1 revocation/s"
        )
        stats = Stats()
        stop = threading.Event()
        threads = [threading.Thread(target=run_rig, args=(rig, instances, args, stats, stop)) for rig in rigs]
        threads += [threading.Thread(target=run_feed_poller, args=(rig, args, stats, stop)) for rig in rigs]
        threads.append(threading.Thread(target=run_revoker, args=(instances, admin_token, args, stats, stop)))
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(args.duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=120)
        seconds = time.perf_counter() - started
        print(f"machine at the end: {load()}")
        with requests.Session() as http:  # a last poll, so every rig has caught up with the feed
            for rig in rigs:
                _poll_feed(http, rig, stats)
        report_rates(stats, instances, seconds)
        refuse_forks(rigs, instances)
        check_store(db_url, rigs, instances, stats)
        report_revocations(stats, rigs, args.poll_interval)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCANGATE_TEST_POSTGRES_URL"),
        help="PostgreSQL to use, in a throw-away schema (default: $SCANGATE_TEST_POSTGRES_URL)",
    )
    parser.add_argument("--rigs", type=int, default=20, help="simulated rigs (threads), default 20")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load, default 30")
    parser.add_argument("--performers", type=int, default=200, help="performers with one consent each")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers per instance, default 1")
    parser.add_argument(
        "--poll-interval", type=float, default=0.25, help="feed poll interval of each rig (s)"
    )
    args = parser.parse_args()
    if not args.postgres_url:
        print("needs PostgreSQL: give --postgres-url or set SCANGATE_TEST_POSTGRES_URL", file=sys.stderr)
        return 2
    with (
        scratch_schema(args.postgres_url, "bench_") as url,
        tempfile.TemporaryDirectory(prefix="bench-registry-instances-") as tmp,
    ):
        run(url, args, Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
