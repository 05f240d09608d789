"""Several registry processes on one database: nothing lost, duplicated or skipped.

Finding (B) of issue 9: a production that outgrows one registry machine runs
several ``scangate registry serve`` processes on one PostgreSQL database.
Uploads of one rig's records arriving through two instances at once must
each be stored exactly once, with a consistent checkpoint; and a rig that
follows the revocation feed by cursor must never skip an entry because two
revocations committed in another order than their cursors.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.signing import Signer, object_hash_hex, public_key_to_b64
from agent.wire import Checkpoint, ConsentStatus, KeyList, RevocationFeed, SessionRecordReceipt
from registry import admin_ops
from registry.db import Database, SessionRecordRow
from registry.keys import load_active_signer, trusted_public_keys
from registry.setup import initialise, seed
from tests.registry.conftest import RIG, Registry, postgres_url_for_test
from tests.registry.instances import running_instances
from tests.registry.records import resigned, signed_chain


def follow_feed(registry: Registry, cursor: int) -> tuple[list[str], int]:
    """Consent ids of the feed entries after ``cursor``, as a rig following it sees them."""
    seen: list[str] = []
    while True:
        feed = RevocationFeed.model_validate(registry.get("/v1/revocations", params={"since": cursor}).json())
        seen += [item.consent_id for item in feed.items]
        cursor = feed.next_cursor
        if not feed.has_more:
            return seen, cursor


def test_a_rig_following_the_feed_sees_a_revocation_that_committed_after_a_later_one(
    registry: Registry,
) -> None:
    # Revocation A has taken its feed cursor but not committed yet (another instance, mid-request)
    # when revocation B is made and the rig polls. B must not become visible ahead of A, or the
    # rig's cursor moves past A and it never learns that A's consent was revoked.
    _, cursor = follow_feed(registry, 0)
    slow = registry.database.write()
    session = slow.__enter__()
    admin_ops.change_consent_status(
        session, "c-p-ada", ConsentStatus.REVOKED, "withdrawn (slow commit)", load_active_signer(session)
    )
    session.flush()  # the feed entry has its cursor now
    answers: list[requests.Response] = []
    other = threading.Thread(
        target=lambda: answers.append(
            registry.admin_post("/v1/admin/consents/c-p-grace/revoke", json={"reason": "withdrawn"})
        )
    )
    other.start()
    other.join(timeout=2.0)  # long enough for B to commit when nothing holds it back
    seen, cursor = follow_feed(registry, cursor)
    slow.__exit__(None, None, None)  # A commits
    other.join(timeout=30)
    assert answers and answers[0].status_code == 200, answers
    later, _ = follow_feed(registry, cursor)
    assert sorted(seen + later) == ["c-p-ada", "c-p-grace"], f"first poll {seen}, then {later}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL schema (skips without $SCANGATE_TEST_POSTGRES_URL)."""
    yield from postgres_url_for_test()


@pytest.mark.postgres
def test_one_rigs_records_uploaded_through_two_instances_at_once_are_stored_exactly_once(
    postgres_url: str, tmp_path: Path
) -> None:
    database = Database.open(postgres_url)
    initialise(database)
    signer = Signer(Ed25519PrivateKey.generate())
    token = seed(database, rig_public_key=public_key_to_b64(signer.public_key), performers=[]).rig_token
    records = signed_chain(signer, 30)
    headers = {"Authorization": f"Bearer {token}"}
    receipts: list[SessionRecordReceipt] = []
    failures: list[str] = []
    with running_instances(postgres_url, 2, tmp_path / "logs") as instances:
        # Four uploaders: each instance gets the log in order and in reverse, all at once.
        plans = [(instance.url, order) for instance in instances for order in (records, records[::-1])]
        start = threading.Barrier(len(plans))

        def upload_all(url: str, order: list[dict[str, object]]) -> None:
            with requests.Session() as http:
                start.wait()
                for record in order:
                    answer = http.post(url + "/v1/session-records", json=record, headers=headers, timeout=30)
                    if answer.status_code != 200:
                        failures.append(f"{url} sequence {record['sequence']}: {answer.text}")
                    else:
                        receipts.append(SessionRecordReceipt.model_validate(answer.json()))

        threads = [threading.Thread(target=upload_all, args=plan) for plan in plans]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not failures, failures

        fork = resigned(signer, records[4], outcome_detail="a second version of record 5")
        for instance in instances:
            refused = requests.post(
                instance.url + "/v1/session-records", json=fork, headers=headers, timeout=30
            )
            assert refused.status_code == 409, refused.text
        keys = trusted_public_keys(KeyList.model_validate(requests.get(instances[0].url + "/v1/keys").json()))
        checkpoints = [
            Checkpoint.model_validate(
                requests.get(f"{instance.url}/v1/rigs/{RIG}/checkpoint", headers=headers, timeout=30).json()
            )
            for instance in instances
        ]
    stored = [receipt.record_hash for receipt in receipts if receipt.intake.value == "stored"]
    assert sorted(stored) == sorted(object_hash_hex(record) for record in records), "each stored once"
    assert len(receipts) == 4 * len(records)
    with database.read() as session:
        rows = session.execute(
            sa.select(SessionRecordRow.sequence, SessionRecordRow.record_hash)
            .where(SessionRecordRow.rig_id == RIG)
            .order_by(SessionRecordRow.sequence)
        ).all()
    database.close()
    assert [tuple(row) for row in rows] == [(r["sequence"], object_hash_hex(r)) for r in records]
    for checkpoint in checkpoints:
        checkpoint.verify(keys)
        assert (checkpoint.first_sequence, checkpoint.sequence, checkpoint.records_held) == (1, 30, 30)
        assert checkpoint.record_hash == object_hash_hex(records[-1])
