"""Signed session records that fit the real schema (agent.records.model), for registry tests.

The registry refuses anything the session-record schema does not accept, so
the records here are built the way the rig's log builds them: a realistic
draft plus the chain fields, signed with the rig key.
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent import __version__
from agent.records.key_rotation import rotation_draft
from agent.records.model import GENESIS_HASH, SCHEMA_VERSION, utc_timestamp
from agent.signing import Signer, object_hash_hex
from tests.records.factories import BASE_TIME, draft_for
from tests.registry.conftest import RIG


def signed_record(
    signer: Signer, sequence: int, previous_hash: str | None, *, rig_id: str = RIG, **overrides: Any
) -> dict[str, Any]:
    """Record ``sequence`` of ``rig_id``'s log, chained to ``previous_hash`` (None: the genesis hash)."""
    body: dict[str, Any] = draft_for(sequence).model_dump(mode="json")
    body.update(
        schema_version=SCHEMA_VERSION,
        rig_id=rig_id,
        sequence=sequence,
        previous_hash=GENESIS_HASH if previous_hash is None else previous_hash,
        written_at=utc_timestamp(BASE_TIME),
        agent_version=__version__,
    )
    body.update(overrides)
    return signer.sign_into(body)


def rotation_record(
    signer: Signer, sequence: int, previous_hash: str, new_key: Ed25519PrivateKey
) -> dict[str, Any]:
    """A key-rotation record at ``sequence``, signed by ``signer`` (the key it retires)."""
    body: dict[str, Any] = rotation_draft(signer.key_id, new_key).model_dump(mode="json")
    body.update(
        schema_version=SCHEMA_VERSION,
        rig_id=RIG,
        sequence=sequence,
        previous_hash=previous_hash,
        written_at=utc_timestamp(BASE_TIME),
        agent_version=__version__,
    )
    return signer.sign_into(body)


def resigned(signer: Signer, record: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """``record`` with ``changes`` applied and signed again (a validly signed variant)."""
    body = {key: value for key, value in record.items() if key != "signature"}
    body.update(changes)
    return signer.sign_into(body)


def signed_chain(signer: Signer, count: int, *, rig_id: str = RIG) -> list[dict[str, Any]]:
    """Records 1..count of one rig's log, correctly chained."""
    records: list[dict[str, Any]] = []
    previous: str | None = None
    for sequence in range(1, count + 1):
        records.append(signed_record(signer, sequence, previous, rig_id=rig_id))
        previous = object_hash_hex(records[-1])
    return records
