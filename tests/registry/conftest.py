"""Fixtures for the registry suite: a real uvicorn server on loopback over a real database.

Every server test runs twice: on a SQLite file in tmp_path, and (marked
``postgres``) on the PostgreSQL server named by $SCANGATE_TEST_POSTGRES_URL,
each test in its own schema. Without that variable the PostgreSQL variants
skip with a reason (.ci/run installs and starts PostgreSQL and sets it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, public_key_to_b64
from agent.wire import CaptureType, KeyList
from registry.db import Base, Database
from registry.embedded import EmbeddedRegistry, start_embedded_registry
from registry.keys import trusted_public_keys
from registry.setup import SeedPerformer, SeedResult, initialise, seed
from tests.postgres_schema import scratch_schema

POSTGRES_ENV_VAR = "SCANGATE_TEST_POSTGRES_URL"
PRODUCTION = "demo-production"
RIG = "rig-1"
TEST_FAILED_AUTH_LIMIT = 100_000


def encoding(seed_value: int) -> list[float]:
    """A deterministic, plausible 128-d encoding."""
    return [round(((seed_value * 131 + i * 17) % 200 - 100) / 1000, 6) for i in range(128)]


SEED_PERFORMERS = (
    SeedPerformer(
        "p-ada", "Ada Lovelace", encodings=[encoding(1), encoding(2)], badge_code="ADA-0001", pin="246810"
    ),
    SeedPerformer("p-grace", "Grace Hopper", encodings=[encoding(3)]),
    SeedPerformer(
        "p-noface",
        "Nadia Nobio",
        encodings=[encoding(4)],
        biometric_check_consent=False,
        badge_code="NOB-0002",
        pin="1357",
    ),
    SeedPerformer(
        "p-minor", "Max Minor", encodings=[encoding(5)], minor=True, capture_types=[CaptureType.FACE]
    ),
)


def postgres_url_for_test() -> Iterator[str]:
    """A URL of a fresh schema on $SCANGATE_TEST_POSTGRES_URL (dropped afterwards); skips without it."""
    base = os.environ.get(POSTGRES_ENV_VAR)
    if not base:
        pytest.skip(
            f"PostgreSQL tests need ${POSTGRES_ENV_VAR} (e.g. postgresql+psycopg://USER:PASS@127.0.0.1/DB);"
            " .ci/run installs PostgreSQL and sets it"
        )
    with scratch_schema(base) as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in tmp_path, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
    else:
        yield from postgres_url_for_test()


@dataclass
class Registry:
    """A running registry with a seeded production, rig and performers."""

    server: EmbeddedRegistry
    database: Database
    db_url: str
    admin_token: str
    rig_signer: Signer
    seeded: SeedResult
    http: requests.Session

    @property
    def url(self) -> str:
        return self.server.url

    def rig_headers(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.seeded.rig_token}"}

    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    def get(self, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.http.get(self.url + path, headers=self.rig_headers(token), timeout=10, **kwargs)

    def post(self, path: str, *, token: str | None = None, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url + path, headers=self.rig_headers(token), timeout=10, **kwargs)

    def admin_post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.http.post(self.url + path, headers=self.admin_headers(), timeout=10, **kwargs)

    def trusted_keys(self) -> dict[str, Any]:
        keys = KeyList.model_validate(self.http.get(self.url + "/v1/keys", timeout=10).json())
        return trusted_public_keys(keys)

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (to prove a rejected command changed nothing)."""
        with self.database.read() as session:
            return {
                table.name: sorted(
                    tuple(str(v) for v in row) for row in session.execute(sa.select(table)).all()
                )
                for table in Base.metadata.sorted_tables
            }


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    """A real registry server (uvicorn in a thread, loopback, free port) over a seeded database."""
    database = Database.open(db_url)
    initialised = initialise(database)
    rig_signer = Signer(Ed25519PrivateKey.generate())
    seeded = seed(
        database, rig_public_key=public_key_to_b64(rig_signer.public_key), performers=SEED_PERFORMERS
    )
    # refusing tokens is what many tests do on purpose: the failed-auth limit has its own tests
    server = start_embedded_registry(
        db_url, initialise_if_needed=False, failed_auth_limit=TEST_FAILED_AUTH_LIMIT
    )
    http = requests.Session()
    try:
        yield Registry(
            server=server,
            database=database,
            db_url=db_url,
            admin_token=initialised.admin_token.token,
            rig_signer=rig_signer,
            seeded=seeded,
            http=http,
        )
    finally:
        http.close()
        server.stop()
        server.database.close()
        database.close()
