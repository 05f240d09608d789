"""Rig key rotation on the registry: a rig retires its key with a record signed by that key.

A key-rotation record (``outcome: "key_rotated"``, docs/records.md) at sequence S
of a rig's log, signed by the rig's registered key K, names the rig's new key.
When the registry stores such a record (through ``POST /v1/session-records`` or
``POST /v1/rigs/{rig_id}/keys/rotate``, whichever comes first) it registers the
new public key for the rig, marks K retired, and from then on refuses every
record signed by K with a sequence above S (:func:`check_not_retired`). Records
carry only rig time, so the cut is by position in the rig's hash chain, not by
clock: records K signed before the rotation (still in the rig's outbox) have
sequences up to S and stay acceptable. Proof of the rotation is the rig token
plus possession of K (its signature on the record), checked by the intake.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from agent.records.rotation_record import RotationFacts, rotation_facts
from agent.wire import utc_now
from registry.db import RigKeyRotationRow, RigKeyRow
from registry.errors import ConflictError, RetiredKeyError
from registry.rig_ca import sync_rig_certificates


def check_not_retired(session: Session, key_id: str, sequence: int) -> None:
    """Refuse a record at ``sequence`` signed by ``key_id`` if a rotation retired that key before it.

    Raises:
        RetiredKeyError: the key was retired by the rig's rotation record at a lower sequence.
    """
    rotation = session.get(RigKeyRotationRow, key_id)
    if rotation is None or sequence <= rotation.retired_after_sequence:
        return
    raise RetiredKeyError(
        f"session record {sequence} is signed by key {key_id}, which the rig retired with its key-rotation"
        f" record {rotation.retired_after_sequence} in favour of {rotation.new_key_id}: a retired key signs"
        " nothing after its rotation record",
        hint="records after a rotation must be signed by the rig's new key; a record like this one was made"
        " by someone still holding the old key",
        detail={
            "key_id": key_id,
            "retired_after_sequence": rotation.retired_after_sequence,
            "sequence": sequence,
        },
    )


def apply_rotation(
    session: Session, record: dict[str, Any], rig_id: str, record_hash: str
) -> RotationFacts | None:
    """Register the rotation a just-verified record states, if it is a key-rotation record.

    The record's schema (retired key = signing key, new key id matching its public key)
    and its signature by the rig's registered key were checked before. Idempotent for the
    same record; a second, different rotation of one key is a conflict.

    Raises:
        ConflictError: the key was retired by another rotation record, or the new key is
            another rig's or a retired one.
    """
    facts = rotation_facts(record)
    if facts is None:
        return None
    earlier = session.get(RigKeyRotationRow, facts.retired_key_id)
    if earlier is not None:
        if earlier.record_hash == record_hash:
            return facts
        raise ConflictError(
            f"key {facts.retired_key_id} was already retired by the rig's rotation record"
            f" {earlier.retired_after_sequence}; it cannot be retired again",
            detail={"retired_after_sequence": earlier.retired_after_sequence},
        )
    new = session.get(RigKeyRow, facts.new_key_id)
    if new is not None and new.rig_id != rig_id:
        raise ConflictError(f"the new key {facts.new_key_id} is registered for another rig")
    if session.get(RigKeyRotationRow, facts.new_key_id) is not None:
        raise ConflictError(f"the new key {facts.new_key_id} was retired already; rotate to a fresh key")
    now = utc_now()
    if new is None:
        session.add(
            RigKeyRow(
                key_id=facts.new_key_id,
                rig_id=rig_id,
                public_key=facts.new_public_key,
                added_at=now,
                retired_at=None,
            )
        )
    old = session.get(RigKeyRow, facts.retired_key_id)
    if old is not None and old.retired_at is None:
        old.retired_at = now
    session.add(
        RigKeyRotationRow(
            retired_key_id=facts.retired_key_id,
            rig_id=rig_id,
            new_key_id=facts.new_key_id,
            retired_after_sequence=facts.sequence,
            record_hash=record_hash,
            rotated_at=now,
        )
    )
    session.flush()
    # The certificates follow the keys in the same transaction: the new key is certified and the
    # retired key's certificate is in the production CA's CRL as soon as the rotation is stored.
    sync_rig_certificates(session, rig_id)
    return facts
