"""Registry signing keys: generation, storage, rotation, and the public key list.

Private keys are stored in the database as PKCS#8 PEM. When the environment
variable ``SCANGATE_REGISTRY_KEY_PASSPHRASE`` is set they are encrypted with it
(cryptography's best available scheme) and the server needs the same variable
to start; otherwise they are stored unencrypted and protected only by the
database's access control (a SQLite file is made owner-only, mode 0600). See
docs/registry.md for the trade-off.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.signing import Signer, public_key_from_b64, public_key_to_b64
from agent.wire import KeyList, KeyStatus, RegistryKey, utc_now
from registry.db import SigningKeyRow
from registry.errors import DatabaseError

PASSPHRASE_ENV_VAR = "SCANGATE_REGISTRY_KEY_PASSPHRASE"


def _passphrase() -> bytes | None:
    value = os.environ.get(PASSPHRASE_ENV_VAR)
    return value.encode("utf-8") if value else None


def stored_private_key(key: Ed25519PrivateKey) -> tuple[str, bool]:
    """``key`` as stored in the database: PKCS#8 PEM, encrypted when the passphrase is set; and whether it is."""
    passphrase = _passphrase()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    return pem.decode("ascii"), passphrase is not None


def load_stored_private_key(pem: str, encrypted: bool, name: str) -> Ed25519PrivateKey:
    """A key stored by :func:`stored_private_key`; ``name`` says which key, for errors.

    Raises:
        DatabaseError: encrypted without the passphrase set, a wrong passphrase, or not Ed25519.
    """
    passphrase = _passphrase() if encrypted else None
    if encrypted and passphrase is None:
        raise DatabaseError(
            f"{name} is encrypted but {PASSPHRASE_ENV_VAR} is not set",
            hint=f"set {PASSPHRASE_ENV_VAR} to the passphrase used when the key was created",
        )
    try:
        key = serialization.load_pem_private_key(pem.encode("ascii"), passphrase)
    except (ValueError, TypeError) as exc:
        raise DatabaseError(
            f"cannot load {name}: {exc}",
            hint=f"check {PASSPHRASE_ENV_VAR}; it must be the passphrase used when the key was created",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise DatabaseError(f"{name} is not an Ed25519 key")
    return key


def new_signing_key(session: Session) -> SigningKeyRow:
    """Generate a key, store it as the active key, retire the previous active key."""
    now = utc_now()
    for row in session.scalars(select(SigningKeyRow).where(SigningKeyRow.status == KeyStatus.ACTIVE.value)):
        row.status = KeyStatus.RETIRED.value
        row.retired_at = now
    private_key = Ed25519PrivateKey.generate()
    pem, encrypted = stored_private_key(private_key)
    signer = Signer(private_key)
    generation = (session.scalar(select(func.max(SigningKeyRow.generation))) or 0) + 1
    row = SigningKeyRow(
        key_id=signer.key_id,
        generation=generation,
        public_key=public_key_to_b64(signer.public_key),
        private_key_pem=pem,
        encrypted=encrypted,
        status=KeyStatus.ACTIVE.value,
        created_at=now,
        retired_at=None,
    )
    session.add(row)
    session.flush()
    return row


def load_active_signer(session: Session) -> Signer:
    """The signer of the active registry key.

    Raises:
        DatabaseError: no active key, or the key cannot be decrypted.
    """
    row = session.scalars(select(SigningKeyRow).where(SigningKeyRow.status == KeyStatus.ACTIVE.value)).first()
    if row is None:
        raise DatabaseError(
            "the registry has no active signing key", hint="run `scangate registry init` or `rotate-key`"
        )
    private_key = load_stored_private_key(row.private_key_pem, row.encrypted, f"signing key {row.key_id}")
    return Signer(private_key)


def key_list(session: Session) -> KeyList:
    """Every registry key, newest first (the newest is the active one)."""
    rows = session.scalars(select(SigningKeyRow).order_by(SigningKeyRow.generation.desc())).all()
    keys = [
        RegistryKey(
            key_id=row.key_id,
            public_key=row.public_key,
            created_at=row.created_at,
            retired_at=row.retired_at,
            status=KeyStatus(row.status),
        )
        for row in rows
    ]
    return KeyList(keys=tuple(keys))


def trusted_public_keys(key_list_: KeyList) -> dict[str, Ed25519PublicKey]:
    """The keys of a KeyList by key id, for agent.signing.verify_signature."""
    return {key.key_id: public_key_from_b64(key.public_key) for key in key_list_.keys}
