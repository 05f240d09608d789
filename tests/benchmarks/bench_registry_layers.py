"""Where a consent lookup's CPU goes inside the registry process, layer by layer (no sockets).

Seeds a registry database (SQLite in a temp dir; PostgreSQL too with --postgres-url or
$SCANGATE_TEST_POSTGRES_URL, in a throw-away schema) and, in this one process, measures
CPU microseconds per call (``time.process_time``: all threads, so the thread pool's work
counts; CPU time is far less disturbed than wall time by other jobs on the machine):

- the whole app, called as ASGI without a server: ``GET /v1/consents`` and ``/v1/health``;
- one thread-pool hop (what FastAPI pays to run a plain ``def`` endpoint or dependency);
- the lookup's reads (token + rig + the records), four ways, in the same run: the hot path
  (registry.hot_reads: one prepared statement on a pooled connection, what the server runs);
  the same statement through an ORM Session (SessionReads); the ORM queries the lookup ran
  before (ORM Session, ``select(TokenRow)`` + ``session.get(RigRow)`` + a freshly built
  records query); and the raw driver with two hand-written statements (the floor);
- building the body from the stored records.

What the server adds on top (uvicorn's HTTP parser, the event loop, the socket) is the
difference between ``bench_registry.py``'s server CPU per request and the first rows here.

    python tests/benchmarks/bench_registry_layers.py [--postgres-url URL] [--calls 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import anyio.to_thread
from sqlalchemy import select

from agent.wire import utc_now
from registry.app import create_app
from registry.credentials import token_digest
from registry.db import ConsentRow, Database, RigRow, TokenRow
from registry.hot_reads import SessionReads
from registry.rig_ops import consent_list_body, consent_records, rig_consent_lookup, servable_consent
from tests.benchmarks.bench_registry import PRODUCTION, seed_database
from tests.benchmarks.bench_registry_reference import CONSENTS_SQL, TOKEN_SQL
from tests.cpu_load import load_average
from tests.postgres_schema import scratch_schema

PERFORMER = "p-0001"


def cpu_per_call(function: Callable[[], Any], calls: int) -> float:
    """CPU microseconds per call (after calls // 10 warm-up calls)."""
    for _ in range(calls // 10):
        function()
    started = time.process_time()
    for _ in range(calls):
        function()
    return (time.process_time() - started) / calls * 1e6


def asgi_cpu(app: Any, path: str, query: str, token: str | None, calls: int) -> float:
    """CPU microseconds per request of the whole app called as ASGI (no server, no socket)."""
    headers = [(b"host", b"127.0.0.1")]
    if token:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8765),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def run() -> float:
        statuses: list[int] = []

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        for _ in range(calls // 10):
            await app(dict(scope, state={}), receive, send)
        started = time.process_time()
        for _ in range(calls):
            await app(dict(scope, state={}), receive, send)
        spent = time.process_time() - started
        if set(statuses) != {200}:
            raise SystemExit(f"{path}: answers {sorted(set(statuses))}")
        return spent / calls * 1e6

    return asyncio.run(run())


def thread_hop_cpu(calls: int) -> float:
    async def run() -> float:
        for _ in range(calls // 10):
            await anyio.to_thread.run_sync(int)
        started = time.process_time()
        for _ in range(calls):
            await anyio.to_thread.run_sync(int)
        return (time.process_time() - started) / calls * 1e6

    return asyncio.run(run())


def orm_as_before(database: Database, token: str) -> None:
    """The lookup's reads as the registry ran them before the hot path (an ORM Session per request)."""
    with database.read() as session:
        row = session.scalars(select(TokenRow).where(TokenRow.token_sha256 == token_digest(token))).first()
        assert row is not None and row.rig_id is not None
        session.get(RigRow, row.rig_id)
        query = select(ConsentRow.record_json).where(
            ConsentRow.performer_id == PERFORMER,
            ConsentRow.production_id == PRODUCTION,
            *servable_consent(utc_now()),
        )
        session.scalars(query.order_by(ConsentRow.version.desc())).all()


def raw_driver(db_url: str, token: str) -> Callable[[], None]:
    """The same two reads with hand-written SQL on one driver connection (the floor)."""
    if db_url.startswith("sqlite"):
        connection: Any = sqlite3.connect(db_url.split(":///", 1)[1], isolation_level=None)
        marker = "?"
    else:
        import psycopg

        connection = psycopg.connect("postgresql://" + db_url.split("://", 1)[1], autocommit=True)
        marker = "%s"
    token_sql, consents_sql = TOKEN_SQL.format(p=marker), CONSENTS_SQL.format(p=marker)

    def run() -> None:
        connection.execute(token_sql, (token_digest(token),)).fetchone()
        today = utc_now().date().isoformat()
        connection.execute(consents_sql, (PERFORMER, PRODUCTION, today)).fetchall()

    return run


def run_backend(name: str, db_url: str, calls: int) -> None:
    token = seed_database(db_url, 200)
    database = Database.open(db_url)
    app = create_app(database)
    query = f"performer_id={PERFORMER}&production_id={PRODUCTION}"

    def hot() -> None:
        with database.hot.transaction() as reads:
            rig_consent_lookup(reads, token, PERFORMER, PRODUCTION, None, utc_now())

    def session_reads() -> None:
        with database.read() as session:
            rig_consent_lookup(SessionReads(session), token, PERFORMER, PRODUCTION, None, utc_now())

    with database.hot.transaction() as reads:
        records = consent_records(reads, PERFORMER, PRODUCTION, None, utc_now())
    rows = [
        ("whole app, GET /v1/consents (ASGI, no server)", asgi_cpu(app, "/v1/consents", query, token, calls)),
        ("whole app, GET /v1/health (ASGI, no server)", asgi_cpu(app, "/v1/health", "", None, calls)),
        ("one thread-pool hop (anyio.to_thread)", thread_hop_cpu(calls)),
        ("reads: hot path (one statement, raw pooled connection)", cpu_per_call(hot, calls)),
        ("reads: the same statement in an ORM Session", cpu_per_call(session_reads, calls)),
        (
            "reads: ORM queries as before (comparison)",
            cpu_per_call(lambda: orm_as_before(database, token), calls),
        ),
        ("reads: raw driver, hand-written SQL (floor)", cpu_per_call(raw_driver(db_url, token), calls)),
        (
            "body from the stored records",
            cpu_per_call(lambda: consent_list_body(records, PERFORMER, PRODUCTION), calls),
        ),
    ]
    print(f"[{name}] {load_average()}; CPU µs per call, {calls} calls each")
    for label, micros in rows:
        print(f"  {label:<56} {micros:>8.0f}")
    database.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--calls", type=int, default=3000, help="calls per measurement")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SCANGATE_TEST_POSTGRES_URL"),
        help="also measure on PostgreSQL, in a throw-away schema (default: $SCANGATE_TEST_POSTGRES_URL)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-layers-") as tmp:
        run_backend("sqlite", f"sqlite:///{Path(tmp) / 'registry.sqlite3'}", args.calls)
    if args.postgres_url:
        with scratch_schema(args.postgres_url, "bench_") as url:
            run_backend("postgres", url, args.calls)
    else:
        print("[postgres] skipped: give --postgres-url or set SCANGATE_TEST_POSTGRES_URL")
    return 0


if __name__ == "__main__":
    sys.exit(main())
