"""Reading the registry's signed checkpoint of a rig's log, for ``scangate verify``.

After storing a rig's record, the registry signs a checkpoint (rig id, the
sequence and hash of the last record of the contiguous run it holds) with its
own key: :class:`agent.wire.session_records.Checkpoint`, returned by
``GET /v1/rigs/{rig_id}/checkpoint`` and inside every upload receipt. A log
that ends before the checkpoint's sequence, or whose record at that sequence
has another hash, was truncated or rewritten after upload: that is how removing
the *tail* of a log, which a hash chain alone cannot reveal, becomes detectable.
"""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from agent.records.errors import CheckpointError
from agent.signing import SignatureError, verify_embedded
from agent.wire.session_records import Checkpoint


def load_checkpoint(path: Path, registry_keys: dict[str, Ed25519PublicKey]) -> Checkpoint:
    """Read a checkpoint file and verify the registry's signature on it.

    The file may hold the checkpoint itself or an upload receipt (an object
    with a ``checkpoint`` member), as saved from the registry's answers.

    Raises:
        CheckpointError: unreadable, not a checkpoint, or not signed by one of ``registry_keys``.
    """
    try:
        raw = json.loads(path.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint: {exc.strerror}", where=str(path)) from None
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"checkpoint is not JSON: {exc}", where=str(path)) from None
    if isinstance(raw, dict) and isinstance(raw.get("checkpoint"), dict):
        raw = raw["checkpoint"]
    if not isinstance(raw, dict):
        raise CheckpointError("checkpoint is not a JSON object", where=str(path))
    try:
        checkpoint = Checkpoint.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise CheckpointError(
            f"not a registry checkpoint: {field}: {first['msg']}", where=str(path)
        ) from None
    try:
        verify_embedded(raw, registry_keys)
    except SignatureError as exc:
        raise CheckpointError(
            f"the checkpoint's registry signature is not valid: {exc.what}",
            where=str(path),
            hint="pass the registry's public key with --registry-key; an unverified checkpoint proves nothing",
        ) from None
    return checkpoint
