"""Session-record intake: verify, store once, keep a signed checkpoint per rig.

An upload is checked before anything is stored: the JSON text against the
size and depth limits of :data:`registry.json_limits.RECORD_LIMITS`, then
against the session-record schema of ``agent.records.model`` (the same check
``scangate verify`` makes), then its signature. What the registry stores is
therefore always a record it can serve back and a verifier accepts.

A record is identified by ``object_hash_hex`` of the whole record (signature
included), so uploading the same record twice stores it once. Records of one
rig must form one hash chain: a second, different record for a sequence number
the registry already holds, or a record whose ``previous_hash`` does not match
its stored neighbour, is refused as a conflict (it is evidence of a rewritten
log) and nothing is stored.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from agent.records.rotation_record import rotation_facts
from agent.records.stored_schema import schema_problem_in_json
from agent.signing import (
    CanonicalJsonError,
    SignatureError,
    object_hash_hex,
    public_key_from_b64,
    verify_embedded,
)
from agent.wire import (
    Checkpoint,
    KeyRotationReceipt,
    RecordIntake,
    SessionRecordEnvelope,
    SessionRecordReceipt,
    describe_validation_error,
    utc_now,
)
from registry.access import Caller
from registry.admin_ops import compact_json
from registry.db import CheckpointRow, Database, RigKeyRow, RigRow, SessionRecordRow
from registry.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    RecordSignatureError,
)
from registry.json_limits import RECORD_LIMITS, load_json_object
from registry.rig_keys import apply_rotation, check_not_retired
from registry.rig_ops import SignerCache


def _checked_record(body: bytes) -> tuple[dict[str, Any], SessionRecordEnvelope]:
    record = load_json_object(body, RECORD_LIMITS, what="the session record")
    problem = schema_problem_in_json(body)
    if problem is not None:
        raise InvalidInputError(
            f"not a valid session record: {problem}",
            hint="upload records exactly as the rig's session log holds them",
            detail=problem,
        )
    return record, _envelope(record)


def _envelope(record: dict[str, Any]) -> SessionRecordEnvelope:
    try:
        return SessionRecordEnvelope.model_validate(record)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        raise InvalidInputError(
            "not a signed session record: " + "; ".join(problems), detail=problems
        ) from None


def _verify_rig_signature(session: Session, record: dict[str, Any], rig_id: str) -> str:
    keys = session.scalars(select(RigKeyRow).where(RigKeyRow.rig_id == rig_id)).all()
    trusted = {key.key_id: public_key_from_b64(key.public_key) for key in keys}
    try:
        return verify_embedded(record, trusted).key_id
    except SignatureError as exc:
        raise RecordSignatureError(
            f"session record rejected: {exc.what}",
            hint="register the rig's current public key with `scangate registry add-rig-key`",
        ) from None


def _check_chain(session: Session, envelope: SessionRecordEnvelope, record_hash: str) -> None:
    rows = session.scalars(
        select(SessionRecordRow).where(
            SessionRecordRow.rig_id == envelope.rig_id,
            SessionRecordRow.sequence.in_([envelope.sequence - 1, envelope.sequence, envelope.sequence + 1]),
        )
    ).all()
    by_sequence = {row.sequence: row for row in rows}
    same = by_sequence.get(envelope.sequence)
    if same is not None:
        raise ConflictError(
            f"the registry already holds a different record {same.record_hash} for sequence"
            f" {envelope.sequence} of rig {envelope.rig_id!r}: the rig's log was rewritten or forked",
            detail={"held_record_hash": same.record_hash, "sequence": envelope.sequence},
        )
    before = by_sequence.get(envelope.sequence - 1)
    if before is not None and envelope.previous_hash != before.record_hash:
        raise ConflictError(
            f"record {envelope.sequence} does not chain to the held record {envelope.sequence - 1}"
            f" (previous_hash {envelope.previous_hash}, held {before.record_hash})",
            detail={"held_previous_hash": before.record_hash, "sequence": envelope.sequence},
        )
    after = by_sequence.get(envelope.sequence + 1)
    if after is not None and after.previous_hash != record_hash:
        raise ConflictError(
            f"the held record {envelope.sequence + 1} does not chain to this record {envelope.sequence}",
            detail={"held_next_previous_hash": after.previous_hash, "sequence": envelope.sequence},
        )


def _advance_checkpoint(
    session: Session, rig_id: str, new_sequence: int, signer_cache: SignerCache
) -> Checkpoint:
    row = session.get(CheckpointRow, rig_id)
    current = Checkpoint.model_validate_json(row.checkpoint_json) if row is not None else None
    if current is None or new_sequence < current.first_sequence:
        start = new_sequence if current is None else min(new_sequence, current.first_sequence)
        first, last = start, start - 1
    else:
        first, last = current.first_sequence, current.sequence
    sequences = session.scalars(
        select(SessionRecordRow.sequence)
        .where(SessionRecordRow.rig_id == rig_id, SessionRecordRow.sequence > last)
        .order_by(SessionRecordRow.sequence)
    ).all()
    for sequence in sequences:
        if sequence != last + 1:
            break
        last = sequence
    record_hash = session.scalar(
        select(SessionRecordRow.record_hash).where(
            SessionRecordRow.rig_id == rig_id, SessionRecordRow.sequence == last
        )
    )
    # One row was just added under the rig's lock: count on from the checkpoint instead of
    # counting every record of the rig on every upload (that grows with the log).
    if current is not None:
        held = current.records_held + 1
    else:
        held = session.scalar(select(func.count()).where(SessionRecordRow.rig_id == rig_id)) or 0
    checkpoint = Checkpoint.sign(
        {
            "rig_id": rig_id,
            "first_sequence": first,
            "sequence": last,
            "record_hash": record_hash,
            "records_held": held,
            "issued_at": utc_now(),
        },
        signer_cache.current(session),
    )
    if row is None:
        session.add(
            CheckpointRow(rig_id=rig_id, sequence=last, checkpoint_json=compact_json(checkpoint.wire_dict()))
        )
    else:
        row.sequence = last
        row.checkpoint_json = compact_json(checkpoint.wire_dict())
    return checkpoint


def current_checkpoint(session: Session, rig_id: str) -> Checkpoint:
    """The rig's latest checkpoint; NotFoundError before its first upload."""
    row = session.get(CheckpointRow, rig_id)
    if row is None:
        raise NotFoundError(f"the registry holds no session records of rig {rig_id!r} yet")
    return Checkpoint.model_validate_json(row.checkpoint_json)


def _store(
    session: Session,
    record: dict[str, Any],
    envelope: SessionRecordEnvelope,
    record_hash: str,
    signer_cache: SignerCache,
) -> SessionRecordReceipt:
    # Serialise uploads of one rig (PostgreSQL row lock; SQLite writers are serialised anyway).
    session.scalars(select(RigRow).where(RigRow.rig_id == envelope.rig_id).with_for_update()).first()
    if session.get(SessionRecordRow, record_hash) is not None:
        return SessionRecordReceipt(
            record_hash=record_hash,
            intake=RecordIntake.DUPLICATE,
            checkpoint=current_checkpoint(session, envelope.rig_id),
        )
    key_id = _verify_rig_signature(session, record, envelope.rig_id)
    check_not_retired(session, key_id, envelope.sequence)
    _check_chain(session, envelope, record_hash)
    session.add(
        SessionRecordRow(
            record_hash=record_hash,
            rig_id=envelope.rig_id,
            sequence=envelope.sequence,
            previous_hash=envelope.previous_hash,
            key_id=key_id,
            record_json=compact_json(record),
            received_at=utc_now(),
        )
    )
    session.flush()
    apply_rotation(session, record, envelope.rig_id, record_hash)
    checkpoint = _advance_checkpoint(session, envelope.rig_id, envelope.sequence, signer_cache)
    return SessionRecordReceipt(record_hash=record_hash, intake=RecordIntake.STORED, checkpoint=checkpoint)


def intake_record(
    database: Database, caller: Caller, body: bytes, signer_cache: SignerCache
) -> SessionRecordReceipt:
    """Check, verify and store one uploaded session record (the request body; idempotent by hash)."""
    record, envelope = _checked_record(body)
    if envelope.rig_id != caller.rig_id:
        raise ForbiddenError(
            f"this token belongs to rig {caller.rig_id!r}; the record is from {envelope.rig_id!r}"
        )
    try:
        record_hash = object_hash_hex(record)
    except CanonicalJsonError as exc:
        raise InvalidInputError(f"the record cannot be canonicalised: {exc.what}") from None
    for attempt in range(2):
        try:
            with database.write() as session:
                return _store(session, record, envelope, record_hash, signer_cache)
        except IntegrityError:
            # The same record arrived through another worker at the same moment: answer as a duplicate.
            if attempt:
                raise
    raise AssertionError("unreachable")


def intake_rotation(
    database: Database, caller: Caller, rig_id: str, body: bytes, signer_cache: SignerCache
) -> KeyRotationReceipt:
    """Store a rig's key-rotation record (as :func:`intake_record` does) and say what it registered.

    Only a key-rotation record of the calling rig is taken here; storing it registers the new
    key and retires the old one after the record's sequence (:mod:`registry.rig_keys`).
    """
    if rig_id != caller.rig_id:
        raise ForbiddenError(f"this token belongs to rig {caller.rig_id!r}, not {rig_id!r}")
    record, _ = _checked_record(body)
    facts = rotation_facts(record)
    if facts is None:
        raise InvalidInputError(
            "not a key-rotation record (outcome 'key_rotated' with a key_rotation member)",
            hint="upload other session records to /v1/session-records",
        )
    receipt = intake_record(database, caller, body, signer_cache)
    return KeyRotationReceipt(
        record_hash=receipt.record_hash,
        intake=receipt.intake,
        retired_key_id=facts.retired_key_id,
        new_key_id=facts.new_key_id,
        retired_after_sequence=facts.sequence,
        checkpoint=receipt.checkpoint,
    )
