"""The key-rotation member of a session record (version 3) and how a rotation record is made.

A rig retires its signing key by writing a **key-rotation record**: an ordinary
record of the rig's hash chain with ``outcome: "key_rotated"`` and a
``key_rotation`` member naming the new key, signed by the *old* key (which
thereby vouches for the new one). Records carry only rig time, which the rig
controls, so retirement is decided by position in the chain: the old key signs
records up to and including the rotation record's sequence S and none after
it; records after S are signed by the new key. ``scangate verify`` and the
registry's intake both enforce this (docs/security.md, "Rig key rotation").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import Field, model_validator

from agent.settings_base import StrictModel
from agent.signing import SignatureError, key_id_for, public_key_from_b64

KEY_ROTATED = "key_rotated"
"""The outcome of a key-rotation record."""
KEY_ID_PATTERN = r"^ed25519:[0-9a-f]{32}$"


class KeyRotation(StrictModel):
    """(v3) A rig key rotation: the key signing this record retires itself and names its successor."""

    retired_key_id: str = Field(
        pattern=KEY_ID_PATTERN,
        description="Key id of the key that signs this record and is retired by it: it signs no record"
        " with a higher sequence.",
    )
    new_key_id: str = Field(
        pattern=KEY_ID_PATTERN, description="Key id of the new key, which signs every later record."
    )
    new_public_key: str = Field(
        pattern=r"^[A-Za-z0-9_-]{43}$",
        description="The new key's raw 32-byte Ed25519 public key, base64url without padding.",
    )
    reason: str | None = Field(
        None, max_length=500, description="Why the key was rotated, in plain words (null if not given)."
    )

    @model_validator(mode="after")
    def _new_key_is_named_by_its_id(self) -> KeyRotation:
        try:
            actual = key_id_for(public_key_from_b64(self.new_public_key))
        except SignatureError as exc:
            raise ValueError(f"new_public_key is not an Ed25519 public key: {exc.what}") from None
        if actual != self.new_key_id:
            raise ValueError(f"new_key_id {self.new_key_id} is not the key id of new_public_key ({actual})")
        if self.new_key_id == self.retired_key_id:
            raise ValueError("a rotation must name a new key, not the retired one")
        return self


@dataclass(frozen=True)
class RotationFacts:
    """What a rotation record says, read from a record as stored (unvalidated)."""

    sequence: int
    retired_key_id: str
    new_key_id: str
    new_public_key: str


def rotation_facts(record: Mapping[str, Any]) -> RotationFacts | None:
    """The rotation a record states, if it is a key-rotation record whose members have the right types.

    Only a validly signed record's statement counts; callers check the signature
    (and that ``retired_key_id`` is the signing key) themselves.
    """
    rotation = record.get("key_rotation")
    sequence = record.get("sequence")
    if record.get("outcome") != KEY_ROTATED or not isinstance(rotation, Mapping) or type(sequence) is not int:
        return None
    retired, new, public = (rotation.get(name) for name in ("retired_key_id", "new_key_id", "new_public_key"))
    if not (isinstance(retired, str) and isinstance(new, str) and isinstance(public, str)):
        return None
    return RotationFacts(sequence, retired, new, public)
