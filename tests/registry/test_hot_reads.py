"""The hot read path (registry.hot_reads) reads exactly what an ORM Session reads, and leaves no trace.

On a real SQLite file and a real PostgreSQL schema: every prepared SELECT of the rig's
hot path returns the same rows, with the same types (aware UTC datetimes), through a raw
pooled connection as through a Session; and the pooled connection goes back as it came
(no open transaction, no autocommit), so the next Session's transaction is a transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, public_key_to_b64
from agent.wire import ConsentStatus, utc_now
from registry import admin_ops
from registry.access import TOKEN_FACTS
from registry.credentials import token_digest
from registry.db import POOL_SIZE_ENV_VAR, ConsentRow, Database, TokenRow
from registry.hot_reads import PreparedSelect, SessionReads
from registry.rig_ops import (
    ACTIVE_KEY_ID,
    CONSENT_RECORDS,
    CONSENT_RECORDS_WITH_STATUS,
    RIG_LOOKUP,
    RIG_LOOKUP_WITH_STATUS,
)
from registry.schemas import ProductionCreate
from registry.setup import SeedResult, initialise, seed
from tests.registry.conftest import PRODUCTION, SEED_PERFORMERS
from tests.registry.test_retention import grant


@pytest.fixture
def seeded(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Database, SeedResult, str]]:
    """A seeded database whose pool (on PostgreSQL) holds one connection, and its admin token."""
    monkeypatch.setenv(POOL_SIZE_ENV_VAR, "1")
    database = Database.open(db_url)
    try:
        admin_token = initialise(database).admin_token.token
        rig = public_key_to_b64(Signer(Ed25519PrivateKey.generate()).public_key)
        yield database, seed(database, rig_public_key=rig, performers=SEED_PERFORMERS), admin_token
    finally:
        database.close()


def both_ways(database: Database, query: PreparedSelect, **params: Any) -> list[tuple[Any, ...]]:
    """The rows through the hot path, after checking that a Session reads the same."""
    with database.hot.transaction() as reads:
        raw = reads.rows(query, **params)
    with database.read() as session:
        assert raw == SessionReads(session).rows(query, **params)
    return raw


def test_token_facts_read_the_same_through_the_hot_path(seeded: tuple[Database, SeedResult, str]) -> None:
    database, seeded_rows, admin_token = seeded
    with database.write() as session:  # one revoked token, so a non-null datetime is compared too
        session.execute(sa.update(TokenRow).where(TokenRow.kind == "admin").values(revoked_at=utc_now()))
    rig = both_ways(database, TOKEN_FACTS, digest=token_digest(seeded_rows.rig_token))
    admin = both_ways(database, TOKEN_FACTS, digest=token_digest(admin_token))
    assert both_ways(database, TOKEN_FACTS, digest=token_digest("sgr_unknown")) == []
    (_, kind, _, _, rig_id, revoked_at, expires_at, registered_rig, rig_production) = rig[0]
    assert (kind, rig_id, registered_rig, rig_production, revoked_at) == (
        "rig",
        "rig-1",
        "rig-1",
        PRODUCTION,
        None,
    )
    assert expires_at.tzinfo == UTC and expires_at > utc_now() + timedelta(days=80)
    assert admin[0][1] == "admin" and admin[0][5].tzinfo == UTC and admin[0][7] is None


def test_consent_records_and_the_active_key_read_the_same_through_the_hot_path(
    seeded: tuple[Database, SeedResult, str],
) -> None:
    database, seeded_rows, _ = seeded
    today = utc_now().date()
    with database.write() as session:  # one consent past destroy_by, one destroyed: both withheld
        session.execute(
            sa.update(ConsentRow)
            .where(ConsentRow.performer_id == "p-grace")
            .values(destroy_by=today - timedelta(days=1))
        )
        session.execute(
            sa.update(ConsentRow).where(ConsentRow.performer_id == "p-minor").values(status="destroyed")
        )
    served = {}
    rig = token_digest(seeded_rows.rig_token)
    for performer in ("p-ada", "p-grace", "p-noface", "p-minor", "p-nobody"):
        params = {"performer_id": performer, "production_id": PRODUCTION, "today": today}
        served[performer] = both_ways(database, CONSENT_RECORDS, **params)
        # the rig's lookup: its token's facts on every row, then the same records
        looked_up = both_ways(database, RIG_LOOKUP, digest=rig, **params)
        assert [row[-1] for row in looked_up if row[-1] is not None] == [row[0] for row in served[performer]]
        assert {row[:-1] for row in looked_up} == {both_ways(database, TOKEN_FACTS, digest=rig)[0]}
        for status in ConsentStatus:
            with_status = both_ways(database, CONSENT_RECORDS_WITH_STATUS, **params, status=status.value)
            looked_up = both_ways(database, RIG_LOOKUP_WITH_STATUS, digest=rig, **params, status=status.value)
            assert [row[-1] for row in looked_up if row[-1] is not None] == [row[0] for row in with_status]
    # a consent of another production is never joined to this rig, even when its id is asked for
    with database.write() as session:
        admin_ops.add_production(
            session, ProductionCreate(production_id="other-film", name="O", producer="P")
        )
    grant(database, "p-ada", "c-other", today + timedelta(days=30), production_id="other-film")
    other = {"performer_id": "p-ada", "production_id": "other-film", "today": today}
    assert len(both_ways(database, CONSENT_RECORDS, **other)) == 1
    assert [row[-1] for row in both_ways(database, RIG_LOOKUP, digest=rig, **other)] == [None]
    assert [len(served[p]) for p in ("p-ada", "p-grace", "p-noface", "p-minor", "p-nobody")] == [
        1,
        0,
        1,
        0,
        0,
    ]
    with database.read() as session:
        ada = (ConsentRow.performer_id == "p-ada", ConsentRow.production_id == PRODUCTION)
        stored = session.scalars(sa.select(ConsentRow.record_json).where(*ada))
        assert served["p-ada"] == [(text,) for text in stored]
    assert both_ways(database, ACTIVE_KEY_ID) == [(seeded_rows.key_id,)]


def test_a_hot_read_gives_its_pooled_connection_back_as_it_found_it(
    seeded: tuple[Database, SeedResult, str],
) -> None:
    database, seeded_rows, _ = seeded
    with database.hot.transaction() as reads:
        assert reads.rows(TOKEN_FACTS, digest=token_digest(seeded_rows.rig_token))
    proxied = database.engine.raw_connection()  # the pool's only (PostgreSQL) / a pooled (SQLite) one
    try:
        dbapi = proxied.dbapi_connection
        if database.engine.dialect.name == "sqlite":
            assert dbapi is not None and not dbapi.in_transaction
        else:
            assert dbapi is not None and dbapi.autocommit is False
    finally:
        proxied.close()
    with pytest.raises(RuntimeError), database.write() as session:  # still one transaction, rolled back
        session.execute(sa.update(ConsentRow).values(status="suspended"))
        raise RuntimeError("abandon the write")
    with database.read() as session:
        assert "suspended" not in session.scalars(sa.select(ConsentRow.status)).all()
