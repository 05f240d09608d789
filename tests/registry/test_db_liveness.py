"""Pooled PostgreSQL connections: no liveness round trip on the hot path, yet a dead one is never served.

Before, every checkout from the pool sent a ping (``pool_pre_ping``): one of the two round
trips of a consent lookup (docs/performance.md, "Goal 4"). Now a hot-path read skips the ping
on a connection used a moment ago and, if the connection turns out dead, retries once on a
connection the pool has checked. The other requests keep the ping on every checkout.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from registry.db import Database
from tests.registry.conftest import PRODUCTION, Registry, postgres_url_for_test

pytestmark = pytest.mark.postgres

LOOKUPS = 40


@pytest.fixture(params=["postgres"])
def db_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """PostgreSQL only: SQLite connections are files in this process and are never pinged."""
    del request
    yield from postgres_url_for_test()


class PingCounter:
    """Counts the liveness pings the registry's engine sends."""

    def __init__(self, database: Database, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        dialect = database.engine.dialect
        real_ping = dialect.do_ping

        def counted(dbapi_connection: Any) -> bool:
            self.count += 1
            return real_ping(dbapi_connection)

        monkeypatch.setattr(dialect, "do_ping", counted)


def lookup(registry: Registry) -> int:
    answer = registry.get("/v1/consents", params={"performer_id": "p-ada", "production_id": PRODUCTION})
    return answer.status_code


def server_backend_pids(database: Database) -> set[int]:
    """The PostgreSQL backend of every connection in the server's pool (all checked out, then returned)."""
    pool_size = database.engine.pool.size()  # type: ignore[attr-defined]
    connections = [database.engine.raw_connection() for _ in range(pool_size)]
    try:
        pids = set()
        for connection in connections:
            cursor = connection.cursor()
            cursor.execute("SELECT pg_backend_pid()")
            row = cursor.fetchone()
            assert row is not None
            pids.add(int(row[0]))
            cursor.close()
        return pids
    finally:
        for connection in connections:
            connection.close()


def test_back_to_back_lookups_send_no_ping(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    assert lookup(registry) == 200  # the pool's first connection
    pings = PingCounter(registry.server.database, monkeypatch)
    statuses = [lookup(registry) for _ in range(LOOKUPS)]
    assert statuses == [200] * LOOKUPS
    assert pings.count == 0


def test_other_requests_still_ping_every_checkout(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert registry.http.get(registry.url + "/v1/keys", timeout=10).status_code == 200
    pings = PingCounter(registry.server.database, monkeypatch)
    assert registry.http.get(registry.url + "/v1/keys", timeout=10).status_code == 200
    assert pings.count == 1


@pytest.mark.parametrize("path", ["/v1/consents", "/v1/keys"])
def test_connections_killed_by_the_server_are_replaced_without_a_failed_request(
    registry: Registry, path: str
) -> None:
    database = registry.server.database
    assert lookup(registry) == 200
    pids = server_backend_pids(database)
    admin = sa.create_engine(registry.db_url)
    try:
        with admin.connect() as connection:
            for pid in pids:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        admin.dispose()
    params = {"performer_id": "p-ada", "production_id": PRODUCTION} if path == "/v1/consents" else None
    headers = registry.rig_headers()
    statuses = [
        registry.http.get(registry.url + path, params=params, headers=headers, timeout=10).status_code
        for _ in range(2 * len(pids) + 2)
    ]
    assert statuses == [200] * len(statuses)
    assert server_backend_pids(database).isdisjoint(pids)
