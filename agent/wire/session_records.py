"""Session-record upload: the envelope the registry checks, its receipt and checkpoint."""

from __future__ import annotations

from enum import StrEnum

from pydantic import ConfigDict, Field

from agent.signing import Signature
from agent.wire.base import (
    Identifier,
    Sha256Hex,
    SignedWireModel,
    StrictInt,
    UtcDateTime,
    WireEnvelope,
    WireModel,
)


class SessionRecordEnvelope(WireModel):
    """The chain members of a signed session record, as the registry reads them on upload.

    ``POST /v1/session-records`` takes the rig's whole signed record (a JSON
    object, as written to the rig's log). The registry checks its size and depth
    limits (registry/json_limits.py), the whole record schema strictly (the same
    reader as ``scangate verify``, agent/records/model.py), these members for the
    chain, and the signature against the rig's registered public key; then it
    stores the record as received. Other members are allowed in this model only
    because the full schema is checked by that reader.
    """

    model_config = ConfigDict(extra="allow")

    schema_version: str = Field(min_length=1, max_length=64, description="Record schema version.")
    rig_id: Identifier = Field(
        description="The rig that wrote the record (must match the bearer token's rig)."
    )
    sequence: StrictInt = Field(
        ge=1, le=2**53 - 1, description="Position of the record in the rig's log: 1, 2, 3, ... with no gaps."
    )
    previous_hash: Sha256Hex = Field(
        description="object_hash_hex of the previous record in the rig's log; 64 zeros for sequence 1."
    )
    signature: Signature = Field(description="The rig key's signature over every other member.")


class Checkpoint(SignedWireModel):
    """The registry's signed statement of how much of a rig's log it holds.

    ``sequence`` and ``record_hash`` name the last record of the contiguous run
    starting at the rig's first uploaded record: a rig log that ends before this
    point has been truncated.
    """

    rig_id: Identifier = Field(description="The rig whose log this is.")
    first_sequence: StrictInt = Field(
        ge=1, description="Sequence of the first record the registry holds (sequences start at 1)."
    )
    sequence: StrictInt = Field(
        ge=1, description="Highest sequence of the contiguous run from first_sequence."
    )
    record_hash: Sha256Hex = Field(description="object_hash_hex of the record at 'sequence'.")
    records_held: StrictInt = Field(ge=1, description="How many records of this rig the registry holds.")
    issued_at: UtcDateTime = Field(description="When the registry signed this checkpoint.")


class RecordIntake(StrEnum):
    """What the registry did with an uploaded record."""

    STORED = "stored"
    DUPLICATE = "duplicate"


class SessionRecordReceipt(WireEnvelope):
    """Answer of ``POST /v1/session-records``."""

    record_hash: Sha256Hex = Field(description="object_hash_hex of the whole record as received.")
    intake: RecordIntake = Field(description="'stored' now, or 'duplicate' (already held; nothing changed).")
    checkpoint: Checkpoint = Field(description="The rig's checkpoint after this upload.")


class KeyRotationReceipt(WireEnvelope):
    """Answer of ``POST /v1/rigs/{rig_id}/keys/rotate``: the rig's key rotation is registered."""

    record_hash: Sha256Hex = Field(description="object_hash_hex of the key-rotation record as received.")
    intake: RecordIntake = Field(
        description="'stored' now, or 'duplicate' (this rotation record was held already; nothing changed)."
    )
    retired_key_id: str = Field(
        description="The rig key the record retires: the registry refuses its records after retired_after_sequence."
    )
    new_key_id: str = Field(description="The rig's new key, registered now: it signs every later record.")
    retired_after_sequence: StrictInt = Field(
        ge=1, description="The rotation record's sequence: the last record the retired key may sign."
    )
    checkpoint: Checkpoint = Field(description="The rig's checkpoint after this upload.")
