"""The rig's Ed25519 signing key: created by ``keys init`` or when a rig first records, kept owner-only.

The private key is an unencrypted PKCS#8 PEM file (default: the platform data
directory, ``keys/rig-ed25519.pem``) with mode 0600 in a 0700 directory, like
an SSH host key. ScanGate refuses a key file that group or others may read or
write: a key others could read proves nothing. The public key and its key id
(see :mod:`agent.signing`) are what third parties and the registry need.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from agent.durable import write_new_file_atomically
from agent.private_files import private_dir
from agent.records.errors import KeyFileError, PublicKeyError
from agent.settings_base import StrictModel
from agent.signing import SignatureError, Signer, key_id_for, public_key_from_b64, public_key_to_b64

log = logging.getLogger(__name__)

KEY_FILE_MODE = 0o600


@dataclass(frozen=True)
class RigKey:
    """The loaded rig key: its file, its signer and whether this call created it."""

    path: Path
    signer: Signer
    created: bool

    @property
    def key_id(self) -> str:
        """The key id (``ed25519:`` + 32 hex digits)."""
        return self.signer.key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half of the key."""
        return self.signer.public_key


class RigKeyInfo(StrictModel):
    """The public description of a rig key: what ``scangate keys show --json`` prints.

    This is also the body to register the key with the registry.
    """

    rig_id: str = Field(description="Rig the key belongs to.")
    key_id: str = Field(description="Key id: 'ed25519:' + first 32 hex digits of SHA-256(raw public key).")
    alg: str = Field("Ed25519", description="Signature algorithm.")
    public_key: str = Field(description="Raw 32-byte public key, base64url without padding.")
    public_key_pem: str = Field(description="The same key as a PEM SubjectPublicKeyInfo block.")


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), readable by OpenSSL and any X.509 tool."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def describe_key(rig_key: RigKey, rig_id: str) -> RigKeyInfo:
    """The public description of ``rig_key`` for display and registration."""
    return RigKeyInfo(
        rig_id=rig_id,
        key_id=rig_key.key_id,
        public_key=public_key_to_b64(rig_key.public_key),
        public_key_pem=public_key_pem(rig_key.public_key),
    )


def _check_permissions(path: Path) -> None:
    if os.name == "nt":
        return  # NTFS ACLs: the per-user data directory is private by default
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise KeyFileError(
            f"the rig key file is accessible by group or others (mode {mode:04o}); a key others can"
            " read cannot prove who signed a record",
            where=str(path),
            hint=f"run: chmod 600 '{path}' (and check nobody copied the key; if so, create a new one)",
        )


def _read_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read the rig key file: {exc.strerror}", where=str(path)) from None
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(
            f"not an unencrypted PEM private key: {exc}",
            where=str(path),
            hint="restore the key from backup; a new key would make this rig a different signer",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"the key is {type(key).__name__}, not Ed25519", where=str(path))
    return key


def load_rig_key(path: Path) -> RigKey:
    """Load an existing rig key; never creates one.

    Raises:
        KeyFileError: missing, unreadable, malformed, not Ed25519, or too open.
    """
    if not path.is_file():
        raise KeyFileError(
            "no rig key file yet",
            where=str(path),
            hint="create it with: scangate keys init (or check [records] key_path if the rig has one elsewhere)",
        )
    _check_permissions(path)
    return RigKey(path=path, signer=Signer(_read_private_key(path)), created=False)


def create_rig_key(path: Path) -> RigKey:
    """Create a new rig key (0600, in a 0700 directory); never replaces an existing one.

    Raises:
        KeyFileError: a key file already exists at ``path`` (a new key would make this
            rig a different signer), or the file cannot be created.
    """
    created = _create_key_file(path)
    if created is None:
        raise KeyFileError(
            "a rig key already exists; it is kept (a new key would make this rig a different signer)",
            where=str(path),
            hint="show it with: scangate keys show",
        )
    return created


def load_or_create_rig_key(path: Path) -> RigKey:
    """Load the rig key, creating it (0600, in a 0700 directory) if it does not exist yet.

    Used when a rig starts recording (``scangate run``, the demo), never by commands
    that only show things. Creation is atomic and never overwrites: if two processes
    race, both end up with the same key.
    """
    if path.exists():
        return load_rig_key(path)
    created = _create_key_file(path)
    if created is None:
        return load_rig_key(path)
    log.info(
        "created a new rig signing key %s at %s; register its public key with the registry"
        " (scangate keys show --pem)",
        created.key_id,
        path,
    )
    return created


def _create_key_file(path: Path) -> RigKey | None:
    """A new key written to ``path``; None if a key file appeared there first."""
    try:
        private_dir(path.parent)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        created = write_new_file_atomically(path, pem, KEY_FILE_MODE)
    except OSError as exc:
        raise KeyFileError(
            f"cannot create the rig key file: {exc.strerror}",
            where=str(path),
            hint="check that the directory is writable, or set [records] key_path",
        ) from None
    return RigKey(path=path, signer=Signer(key), created=True) if created else None


def load_public_key_file(path: Path) -> Ed25519PublicKey:
    """Read a public key given to ``scangate verify --key``.

    Accepts a PEM public key (``keys show --pem``), the JSON of ``keys show
    --json`` (its ``public_key`` member), or a file holding just the raw
    base64url key. A private key PEM is refused: verifiers need only the public key.

    Raises:
        PublicKeyError: unreadable file or no Ed25519 public key in it.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PublicKeyError(f"cannot read public key file: {exc.strerror}", where=str(path)) from None
    text = data.decode("utf-8", errors="replace").strip()
    if "PRIVATE KEY" in text:
        raise PublicKeyError(
            "this is a private key; give the public key",
            where=str(path),
            hint="export it with: scangate keys show --pem > rig-public.pem",
        )
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(data)
            if not isinstance(key, Ed25519PublicKey):
                raise PublicKeyError(f"the key is {type(key).__name__}, not Ed25519", where=str(path))
            return key
        if text.startswith("{"):
            info = json.loads(text)
            return public_key_from_b64(str(info["public_key"]))
        return public_key_from_b64(text)
    except PublicKeyError:
        raise
    except (ValueError, KeyError, TypeError, RecursionError, UnsupportedAlgorithm, SignatureError) as exc:
        raise PublicKeyError(
            f"no Ed25519 public key found: {exc}",
            where=str(path),
            hint="expected a PEM public key, 'scangate keys show --json' output, or a raw base64url key",
        ) from None


def load_public_keys_file(path: Path) -> list[Ed25519PublicKey]:
    """Like :func:`load_public_key_file`, but also reads a key list: the registry's
    ``GET /v1/keys`` answer (``{"keys": [{"public_key": ...}, ...]}``), all keys
    included (retired keys still verify what they signed).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError as exc:
        raise PublicKeyError(f"cannot read public key file: {exc.strerror}", where=str(path)) from None
    if text.startswith("{"):
        try:
            listing = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise PublicKeyError(f"not JSON: {exc}", where=str(path)) from None
        if isinstance(listing, dict) and isinstance(listing.get("keys"), list):
            if not listing["keys"]:
                raise PublicKeyError("the key list holds no keys", where=str(path))
            try:
                return [public_key_from_b64(str(entry["public_key"])) for entry in listing["keys"]]
            except (KeyError, TypeError, SignatureError) as exc:
                raise PublicKeyError(f"malformed key list: {exc}", where=str(path)) from None
    return [load_public_key_file(path)]


def trusted_keys(keys: list[Ed25519PublicKey]) -> dict[str, Ed25519PublicKey]:
    """Index public keys by key id."""
    return {key_id_for(key): key for key in keys}


def load_trusted_keys(
    key_files: Sequence[Path], own_key_path: Path | None
) -> tuple[dict[str, Ed25519PublicKey], str]:
    """The rig keys a log is verified against, and where they came from in plain words.

    The given key files (see :func:`load_public_keys_file`) when there are any;
    otherwise this rig's own public key when ``own_key_path`` exists; otherwise
    no key at all (``{}``), which callers must refuse or explain.

    Raises:
        PublicKeyError / KeyFileError: a key file that cannot be read.
    """
    if key_files:
        loaded = [key for path in key_files for key in load_public_keys_file(path)]
        return trusted_keys(loaded), f"{len(key_files)} key file(s) given with --key"
    if own_key_path is not None and own_key_path.is_file():
        return trusted_keys([load_rig_key(own_key_path).public_key]), f"this rig's own key ({own_key_path})"
    return {}, "none"
