"""The database pool of one registry process: fixed size, no overflow connections.

Found by tests/benchmarks/bench_registry_instances.py: with 20 rigs on two
instances, the old pool (5 + 10 overflow) opened and closed about 40
PostgreSQL connections a second; a fixed pool queues requests instead.
"""

from __future__ import annotations

import pytest
from sqlalchemy.pool import QueuePool

from registry.db import DEFAULT_POOL_SIZE, POOL_SIZE_ENV_VAR, make_engine
from registry.errors import DatabaseError

URL = "postgresql+psycopg://user:secret@127.0.0.1:5432/registry"  # never connected to here


def test_a_server_database_gets_a_fixed_pool_without_overflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POOL_SIZE_ENV_VAR, raising=False)
    pool = make_engine(URL).pool
    assert isinstance(pool, QueuePool) and pool.size() == DEFAULT_POOL_SIZE
    assert pool._max_overflow == 0  # no public accessor; overflow connections are what churned
    monkeypatch.setenv(POOL_SIZE_ENV_VAR, "3")
    assert make_engine(URL).pool.size() == 3  # type: ignore[attr-defined]


@pytest.mark.parametrize("value", ["0", "lots", "-4", "5000"])
def test_a_bad_pool_size_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(POOL_SIZE_ENV_VAR, value)
    with pytest.raises(DatabaseError, match=POOL_SIZE_ENV_VAR):
        make_engine(URL)
