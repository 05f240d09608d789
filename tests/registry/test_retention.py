"""Retention: consents past destroy_by are withheld, destroyed once, and leave a signed receipt."""

from __future__ import annotations

import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from agent.signing import BadSignatureError, object_hash_hex
from agent.wire import (
    ConsentList,
    ConsentStatus,
    DestructionReceipt,
    RevocationFeed,
    Roster,
    TemplateOutcome,
    destroy_by_passed,
    utc_now,
)
from registry import admin_ops
from registry.db import ConsentRow, Database, FaceTemplateRow, PerformerRow
from registry.errors import ConflictError
from registry.keys import load_active_signer
from registry.retention import ConsentTombstone, PurgeReport, purge
from registry.schemas import DestructionReceiptPage, PerformerCreate, ProductionCreate
from registry.setup import SeedPerformer, demo_grant
from tests.registry.conftest import PRODUCTION, Registry, encoding

GONE_NAME = "Gwendolyn Gone"
GONE_UNION = "Equity 99-GONE"


def yesterday() -> date:
    return utc_now().date() - timedelta(days=1)


def grant(
    database: Database,
    performer_id: str,
    consent_id: str,
    destroy_by: date,
    production_id: str = PRODUCTION,
    **terms_update: Any,
) -> dict[str, Any]:
    """Grant a consent (as the admin CLI would) and return the signed record as stored."""
    terms = demo_grant(SeedPerformer(performer_id, "unused"), production_id, utc_now(), consent_id=consent_id)
    with database.write() as session:
        record = admin_ops.grant_consent(
            session,
            terms.model_copy(update={"destroy_by": destroy_by, **terms_update}),
            load_active_signer(session),
        )
    return record.wire_dict()


def add_gone_performer(registry: Registry) -> dict[str, Any]:
    """A performer whose only consent is past destroy_by, with templates and a confirmation-free record."""
    with registry.database.write() as session:
        admin_ops.add_performer(
            session,
            PerformerCreate(
                performer_id="p-gone",
                display_name=GONE_NAME,
                union_membership=GONE_UNION,
                representative=None,
            ),
        )
        admin_ops.enrol_templates(session, "p-gone", [encoding(7), encoding(8)], source="test")
    return grant(
        registry.database,
        "p-gone",
        "c-gone",
        yesterday(),
        intended_use_text="Face scans of Gwendolyn for the lighthouse sequence only.",
    )


def consents(registry: Registry, performer_id: str) -> ConsentList:
    response = registry.get(
        "/v1/consents", params={"performer_id": performer_id, "production_id": PRODUCTION}
    )
    assert response.status_code == 200, response.text
    return ConsentList.model_validate(response.json())


def receipts(registry: Registry, **params: Any) -> DestructionReceiptPage:
    response = registry.http.get(
        registry.url + "/v1/admin/destruction-receipts",
        headers=registry.admin_headers(),
        params=params,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return DestructionReceiptPage.model_validate(response.json())


def every_stored_text(registry: Registry) -> str:
    return json.dumps(registry.snapshot())


def test_the_day_of_destroy_by_is_still_allowed() -> None:
    day = date(2030, 12, 31)
    assert not destroy_by_passed(day, datetime(2030, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert destroy_by_passed(day, datetime(2031, 1, 1, 0, 0, tzinfo=UTC))
    # judged on the UTC calendar, whatever the offset of the instant given
    assert destroy_by_passed(day, datetime.fromisoformat("2030-12-31T20:00:00-05:00"))
    assert not destroy_by_passed(None, datetime(2999, 1, 1, tzinfo=UTC))


def test_a_consent_past_destroy_by_is_withheld_before_the_purge_runs(registry: Registry) -> None:
    add_gone_performer(registry)
    assert consents(registry, "p-gone").consents == ()
    roster = Roster.model_validate(registry.get(f"/v1/productions/{PRODUCTION}/roster").json())
    assert "p-gone" not in {entry.performer_id for entry in roster.entries}


def test_purge_destroys_personal_data_and_templates_keeps_hashes_and_signs_a_receipt(
    registry: Registry,
) -> None:
    active = add_gone_performer(registry)
    with registry.database.write() as session:  # a revocation re-signs the record: both hashes are kept
        admin_ops.change_consent_status(
            session, "c-gone", ConsentStatus.REVOKED, "Gwendolyn asked by phone", load_active_signer(session)
        )
        revoked_json = session.get(ConsentRow, "c-gone").record_json  # type: ignore[union-attr]
    assert GONE_NAME in every_stored_text(registry)

    report = purge(registry.database)

    assert [item.consent_id for item in report.destructions] == ["c-gone"]
    done = report.destructions[0]
    assert done.face_templates is TemplateOutcome.DESTROYED and done.face_templates_destroyed == 2
    assert done.performer_details_destroyed
    stored = every_stored_text(registry)
    for personal in (GONE_NAME, GONE_UNION, active["intended_use_text"], "asked by phone"):
        assert personal not in stored
    with registry.database.read() as session:
        assert (
            session.scalar(
                sa.select(sa.func.count())
                .select_from(FaceTemplateRow)
                .where(FaceTemplateRow.performer_id == "p-gone")
            )
            == 0
        )
        performer = session.get(PerformerRow, "p-gone")
        assert performer is not None and performer.union_membership is None
        row = session.get(ConsentRow, "c-gone")
        assert row is not None and row.status == "destroyed"
        tombstone = ConsentTombstone.model_validate_json(row.record_json)
    hashes = (object_hash_hex(active), object_hash_hex(json.loads(revoked_json)))
    assert tombstone.consent_hashes == hashes
    assert (tombstone.performer_id, tombstone.production_id, tombstone.version) == ("p-gone", PRODUCTION, 1)
    assert tombstone.document_sha256 == active["document_sha256"]

    page = receipts(registry)
    assert [receipt.consent_id for receipt in page.receipts] == ["c-gone"]
    receipt = page.receipts[0]
    assert receipt.verify(registry.trusted_keys()).key_id == registry.seeded.key_id
    assert receipt.consent_hashes == hashes and receipt.destroy_by == yesterday()
    assert (
        "performer" in receipt.consent_fields_destroyed
        and "intended_use_text" in receipt.consent_fields_destroyed
    )
    tampered = {**receipt.wire_dict(), "face_templates_destroyed": 0, "face_templates": "none_held"}
    with pytest.raises(BadSignatureError):
        DestructionReceipt.model_validate(tampered).verify(registry.trusted_keys())

    feed = RevocationFeed.model_validate(registry.get("/v1/revocations", params={"since": 0}).json())
    destroyed = [item for item in feed.items if item.consent_id == "c-gone"]
    assert [item.status for item in destroyed] == [ConsentStatus.REVOKED, ConsentStatus.DESTROYED]
    assert destroyed[0].reason == ""  # free text may be personal: cleared
    assert receipt.receipt_id in destroyed[1].reason

    before = registry.snapshot()
    again = purge(registry.database)
    assert again.destructions == [] and again.skipped == 0
    assert registry.snapshot() == before
    assert len(receipts(registry).receipts) == 1


def test_dry_run_lists_what_would_go_and_changes_nothing(registry: Registry) -> None:
    add_gone_performer(registry)
    before = registry.snapshot()
    report = purge(registry.database, dry_run=True)
    assert report.dry_run and [item.consent_id for item in report.destructions] == ["c-gone"]
    assert report.destructions[0].receipt is None
    assert report.destructions[0].face_templates_destroyed == 2
    assert registry.snapshot() == before


def test_a_performer_with_another_live_consent_keeps_templates_and_name(registry: Registry) -> None:
    with registry.database.write() as session:
        admin_ops.add_production(
            session, ProductionCreate(production_id="old-film", name="Old", producer="S")
        )
    grant(registry.database, "p-ada", "c-ada-old", yesterday(), production_id="old-film")

    report = purge(registry.database)

    assert [item.consent_id for item in report.destructions] == ["c-ada-old"]
    done = report.destructions[0]
    assert (
        done.face_templates is TemplateOutcome.KEPT_FOR_ANOTHER_CONSENT
        and not done.performer_details_destroyed
    )
    assert [c.consent_id for c in consents(registry, "p-ada").consents] == ["c-p-ada"]
    roster = Roster.model_validate(registry.get(f"/v1/productions/{PRODUCTION}/roster").json())
    ada = next(entry for entry in roster.entries if entry.performer_id == "p-ada")
    assert ada.display_name == "Ada Lovelace" and len(ada.templates) == 2
    # the other production's rigs learn of it; this production's feed is not theirs to read
    receipt = receipts(registry, consent_id="c-ada-old").receipts[0]
    assert receipt.face_templates is TemplateOutcome.KEPT_FOR_ANOTHER_CONSENT
    assert receipt.badges_revoked == 0  # p-ada's badge is for a production she still has a consent on


def test_a_destroyed_consent_refuses_status_changes_and_confirmations(registry: Registry) -> None:
    add_gone_performer(registry)
    purge(registry.database)
    with pytest.raises(ConflictError, match="destroyed"), registry.database.write() as session:
        admin_ops.change_consent_status(
            session, "c-gone", ConsentStatus.REVOKED, "", load_active_signer(session)
        )
    with pytest.raises(ConflictError, match="destroyed"), registry.database.write() as session:
        admin_ops.enrol_templates(session, "p-gone", [encoding(9)], source="test")
    body = {
        "consent_id": "c-gone",
        "consent_version": 1,
        "rig_id": "rig-1",
        "session_id": "s-1",
        "decision": "declined",
        "capture_types": [],
        "guardian_co_confirmed": False,
        "confirmed_at": "2030-01-01T00:00:00Z",
    }
    response = registry.post("/v1/consents/c-gone/confirmations", json=body)
    assert response.status_code == 409 and "destroyed" in response.json()["error"]["message"]


def test_concurrent_purges_destroy_each_consent_once(registry: Registry) -> None:
    add_gone_performer(registry)
    grant(registry.database, "p-grace", "c-grace-old", yesterday())
    reports: list[PurgeReport] = []
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def run() -> None:
        database = Database.open(registry.db_url)
        try:
            start.wait()
            reports.append(purge(database))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            database.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    destroyed = sorted(item.consent_id for report in reports for item in report.destructions)
    assert destroyed == ["c-gone", "c-grace-old"]
    assert sorted(r.consent_id for r in receipts(registry).receipts) == ["c-gone", "c-grace-old"]
    feed = RevocationFeed.model_validate(registry.get("/v1/revocations", params={"since": 0}).json())
    assert sorted(i.consent_id for i in feed.items if i.status is ConsentStatus.DESTROYED) == [
        "c-gone",
        "c-grace-old",
    ]


def test_destroyed_templates_leave_no_bytes_in_the_sqlite_files(registry: Registry) -> None:
    if not registry.db_url.startswith("sqlite"):
        pytest.skip("SQLite files only (PostgreSQL reclaims dead rows by VACUUM; docs/security.md)")
    add_gone_performer(registry)
    with registry.database.read() as session:
        stored = list(
            session.scalars(
                sa.select(FaceTemplateRow.encoding_sealed).where(FaceTemplateRow.performer_id == "p-gone")
            )
        )
    assert len(stored) == 2
    path = Path(registry.db_url.removeprefix("sqlite:///"))

    def files() -> bytes:
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())

    assert any(text.encode() in files() for text in stored)  # the check can see them while they exist
    purge(registry.database)
    leftovers = files()
    assert not [text for text in stored if text.encode() in leftovers]
    assert GONE_NAME.encode() not in leftovers


def test_a_destroyed_consent_answers_the_public_status_check_as_destroyed(registry: Registry) -> None:
    """A receiver checking a scan's consent after the purge learns it was destroyed (it was a 500)."""
    record = add_gone_performer(registry)
    params = {"document_sha256": record["document_sha256"]}
    purge(registry.database)
    answer = registry.http.get(f"{registry.url}/v1/consents/c-gone/status", params=params, timeout=10)
    assert answer.status_code == 200, answer.text
    statement = answer.json()
    assert (statement["status"], statement["consent_id"], statement["destroy_by"]) == (
        "destroyed",
        "c-gone",
        record["destroy_by"],
    )
    wrong = registry.http.get(
        f"{registry.url}/v1/consents/c-gone/status", params={"document_sha256": "0" * 64}, timeout=10
    )
    assert wrong.status_code == 404
