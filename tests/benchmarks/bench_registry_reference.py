"""The comparison for bench_registry.py: a minimal FastAPI app on the raw database driver.

It answers ``GET /v1/consents`` from the same database file (or PostgreSQL schema) with
the same two queries the registry runs — the bearer token's row joined to its rig, then the
performer's servable consent records, newest first — through ``sqlite3`` or ``psycopg``
directly (one connection per thread), and builds the body the same way (stored signed JSON
copied into a list). It checks the token's expiry, revocation and production and nothing
else: no error bodies, no rate limit, no schema. ``GET /v1/health`` answers a constant.
That is roughly what anyone would write in an afternoon, and so what the registry's
framework and database layers cost on top of the work itself.

Served like the registry: ``python tests/benchmarks/bench_registry_reference.py --db URL
--port P --workers N`` binds the socket the way ``scangate registry serve`` does and runs the
same uvicorn with the same settings (access log off, the loop and HTTP parser uvicorn picks).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fastapi import FastAPI, Header, Response

REFERENCE_DB_ENV_VAR = "SCANGATE_BENCH_REFERENCE_DB"

TOKEN_SQL = (
    "SELECT t.expires_at, t.revoked_at, r.production_id FROM tokens t JOIN rigs r ON r.rig_id = t.rig_id"
    " WHERE t.token_sha256 = {p} AND t.kind = 'rig'"
)
CONSENTS_SQL = (
    "SELECT record_json FROM consents WHERE performer_id = {p} AND production_id = {p}"
    " AND status != 'destroyed' AND (destroy_by IS NULL OR destroy_by >= {p}) ORDER BY version DESC"
)


class _Connections(threading.local):
    connection: Any = None


def _connector(url: str) -> tuple[Any, str]:
    """A function opening one DBAPI connection to ``url``, and the driver's parameter marker."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]

        def open_sqlite() -> Any:
            connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            connection.execute("PRAGMA busy_timeout=10000")
            return connection

        return open_sqlite, "?"
    import psycopg

    conninfo = "postgresql://" + url.split("://", 1)[1]
    return (lambda: psycopg.connect(conninfo, autocommit=True)), "%s"


def create_reference_app(url: str) -> FastAPI:
    """The minimal app over the registry database at ``url`` (SQLite or PostgreSQL)."""
    connect, marker = _connector(url)
    token_sql = TOKEN_SQL.format(p=marker)
    consents_sql = CONSENTS_SQL.format(p=marker)
    local = _Connections()
    app = FastAPI()

    def connection() -> Any:
        if local.connection is None:
            local.connection = connect()
        return local.connection

    @app.get("/v1/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/consents")
    def consents(performer_id: str, production_id: str, authorization: str = Header("")) -> Response:
        digest = hashlib.sha256(authorization.removeprefix("Bearer ").encode()).hexdigest()
        now = datetime.now(UTC)
        db = connection()
        row = db.execute(token_sql, (digest,)).fetchone()
        if row is None or row[1] is not None or _aware(row[0]) <= now or row[2] != production_id:
            return Response(b'{"error":"refused"}', status_code=401, media_type="application/json")
        records = [
            r[0] for r in db.execute(consents_sql, (performer_id, production_id, now.date())).fetchall()
        ]
        head = json.dumps(
            {"performer_id": performer_id, "production_id": production_id, "generated_at": now.isoformat()},
            separators=(",", ":"),
        )
        return Response(
            (head[:-1] + ',"consents":[' + ",".join(records) + "]}").encode(), media_type="application/json"
        )

    return app


def _aware(value: datetime | str) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def app_from_env() -> FastAPI:
    """Factory for uvicorn's worker processes: the database URL from $SCANGATE_BENCH_REFERENCE_DB."""
    return create_reference_app(os.environ[REFERENCE_DB_ENV_VAR])


def main() -> None:
    """Serve the reference app as ``scangate registry serve`` serves the registry."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    from registry.listen import bind_listening_socket

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    os.environ[REFERENCE_DB_ENV_VAR] = args.db
    sock = bind_listening_socket("127.0.0.1", args.port)
    target = "tests.benchmarks.bench_registry_reference:app_from_env"
    config = uvicorn.Config(
        target,
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        access_log=False,
        proxy_headers=False,
    )
    if args.workers == 1:
        uvicorn.Server(config).run(sockets=[sock])
    else:
        Multiprocess(config, sockets=[sock]).run()


if __name__ == "__main__":
    main()
