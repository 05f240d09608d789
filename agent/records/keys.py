"""The rig's Ed25519 signing key: created by ``keys init`` or when a rig first records, kept private.

The private key lives in the OS keyring or in an owner-only file, as
``[records] key_store`` chooses (:mod:`agent.records.key_store`). ScanGate
refuses a key file that group or others may read or write: a key others could
read proves nothing. The public key and its key id (see :mod:`agent.signing`)
are what third parties and the registry need; the public keys a rotation
retired are listed beside the key file (``<key_path>.retired.json``) so the rig
can still verify its own older records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import Field

from agent.durable import replace_file_atomically
from agent.private_files import private_dir
from agent.records.errors import KeyFileError, PublicKeyError
from agent.records.key_store import KEY_FILE_MODE, FileKeyStore, RigKeyStore
from agent.settings_base import StrictModel
from agent.signing import SignatureError, Signer, key_id_for, public_key_from_b64, public_key_to_b64

log = logging.getLogger(__name__)

RETIRED_KEYS_SUFFIX = ".retired.json"


@dataclass(frozen=True)
class RigKey:
    """The loaded rig key: its signer, whether this call created it, and where it lives."""

    signer: Signer
    created: bool
    location: str
    """Where the private key lives, in words (``file /path`` or the keyring backend and entry)."""
    path: Path | None = None
    """The key file, when the key lives in a file."""

    @property
    def key_id(self) -> str:
        """The key id (``ed25519:`` + 32 hex digits)."""
        return self.signer.key_id

    @property
    def public_key(self) -> Ed25519PublicKey:
        """The public half of the key."""
        return self.signer.public_key


class KeyStoreInfo(StrictModel):
    """Where a rig's private key lives (never the key itself)."""

    kind: str = Field(description="'keyring' (the OS keyring) or 'file'.")
    location: str = Field(description="The keyring backend and entry, or the key file's path.")


class RigKeyInfo(StrictModel):
    """The public description of a rig key: what ``scangate keys show --json`` prints.

    This is also the body to register the key with the registry.
    """

    rig_id: str = Field(description="Rig the key belongs to.")
    key_id: str = Field(description="Key id: 'ed25519:' + first 32 hex digits of SHA-256(raw public key).")
    alg: str = Field("Ed25519", description="Signature algorithm.")
    public_key: str = Field(description="Raw 32-byte public key, base64url without padding.")
    public_key_pem: str = Field(description="The same key as a PEM SubjectPublicKeyInfo block.")
    store: KeyStoreInfo | None = Field(None, description="Where the private key lives (null when not known).")


def public_key_pem(public_key: Ed25519PublicKey) -> str:
    """The public key as PEM (SubjectPublicKeyInfo), readable by OpenSSL and any X.509 tool."""
    pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem.decode("ascii")


def describe_key(rig_key: RigKey, rig_id: str, store: RigKeyStore | None = None) -> RigKeyInfo:
    """The public description of ``rig_key`` for display and registration."""
    return RigKeyInfo(
        rig_id=rig_id,
        key_id=rig_key.key_id,
        public_key=public_key_to_b64(rig_key.public_key),
        public_key_pem=public_key_pem(rig_key.public_key),
        store=KeyStoreInfo(kind=store.kind, location=store.describe()) if store is not None else None,
    )


def _rig_key(store: RigKeyStore, key: Ed25519PrivateKey, created: bool) -> RigKey:
    return RigKey(signer=Signer(key), created=created, location=store.describe(), path=store.path)


def load_key_from(store: RigKeyStore) -> RigKey:
    """Load the rig key from ``store``; never creates one.

    Raises:
        RigKeyError: no key yet, or a key that cannot be read or used (file too open, keyring locked, ...).
    """
    key = store.read("current")
    if key is None:
        raise store.missing_error()
    return _rig_key(store, key, created=False)


def create_key_in(store: RigKeyStore) -> RigKey:
    """Create a new rig key in ``store``; never replaces an existing one.

    Raises:
        RigKeyError: a key already exists there (a new key would make this rig a different
            signer), or it cannot be stored.
    """
    key = Ed25519PrivateKey.generate()
    if not store.add("current", key):
        raise store.error(
            "a rig key already exists; it is kept (a new key would make this rig a different signer)",
            where=store.describe(),
            hint="show it with: scangate keys show (to change keys, use: scangate keys rotate)",
        )
    return _rig_key(store, key, created=True)


def load_or_create_key_in(store: RigKeyStore) -> RigKey:
    """Load the rig key from ``store``, creating it if the store holds none yet.

    Used when a rig starts recording (``scangate run``, the demo), never by commands
    that only show things. Creation never overwrites: if two processes race, both
    end up with the same key.
    """
    existing = store.read("current")
    if existing is not None:
        return _rig_key(store, existing, created=False)
    key = Ed25519PrivateKey.generate()
    if not store.add("current", key):
        return load_key_from(store)
    log.info(
        "created a new rig signing key %s in %s; register its public key with the registry"
        " (scangate keys show --pem)",
        key_id_for(key.public_key()),
        store.describe(),
    )
    return _rig_key(store, key, created=True)


def load_rig_key(path: Path) -> RigKey:
    """Load an existing rig key file; never creates one (see :func:`load_key_from`)."""
    return load_key_from(FileKeyStore(path))


def create_rig_key(path: Path) -> RigKey:
    """Create a new rig key file (0600, in a 0700 directory); never replaces an existing one."""
    return create_key_in(FileKeyStore(path))


def load_or_create_rig_key(path: Path) -> RigKey:
    """Load the rig key file, creating it (0600, in a 0700 directory) if it does not exist yet."""
    return load_or_create_key_in(FileKeyStore(path))


def retired_keys_path(key_path: Path) -> Path:
    """The list of public keys this rig rotated away (``<key_path>.retired.json``)."""
    return key_path.with_name(key_path.name + RETIRED_KEYS_SUFFIX)


def load_retired_public_keys(key_path: Path) -> list[Ed25519PublicKey]:
    """The public keys this rig retired by rotation (none if it never rotated)."""
    path = retired_keys_path(key_path)
    return load_public_keys_file(path) if path.is_file() else []


def remember_retired_key(key_path: Path, public_key: Ed25519PublicKey, retired_after_sequence: int) -> None:
    """Add a retired public key to ``<key_path>.retired.json`` (a key list ``verify --key`` reads).

    Idempotent: a key already listed is not added again.
    """
    path = retired_keys_path(key_path)
    entries: list[dict[str, object]] = []
    if path.is_file():
        try:
            listing = json.loads(path.read_text(encoding="utf-8"))
            entries = list(listing["keys"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise KeyFileError(f"cannot read the list of retired keys: {exc}", where=str(path)) from None
    key_id = key_id_for(public_key)
    if any(entry.get("key_id") == key_id for entry in entries if isinstance(entry, dict)):
        return
    entries.append(
        {
            "key_id": key_id,
            "public_key": public_key_to_b64(public_key),
            "retired_after_sequence": retired_after_sequence,
        }
    )
    text = json.dumps({"keys": entries}, indent=2) + "\n"
    try:
        private_dir(path.parent)
        replace_file_atomically(path, text.encode("utf-8"), KEY_FILE_MODE)
    except OSError as exc:
        raise KeyFileError(
            f"cannot write the list of retired keys: {exc.strerror}", where=str(path)
        ) from None


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
    key_files: Sequence[Path], own: Path | RigKeyStore | None, own_key_path: Path | None = None
) -> tuple[dict[str, Ed25519PublicKey], str]:
    """The rig keys a log is verified against, and where they came from in plain words.

    The given key files (see :func:`load_public_keys_file`) when there are any;
    otherwise this rig's own public key (``own``: its key store, or a key file) and
    the keys it rotated away (``<key_path>.retired.json``), when it has a key;
    otherwise no key at all (``{}``), which callers must refuse or explain.

    Raises:
        PublicKeyError / RigKeyError: a key that cannot be read.
    """
    if key_files:
        loaded = [key for path in key_files for key in load_public_keys_file(path)]
        return trusted_keys(loaded), f"{len(key_files)} key file(s) given with --key"
    if own is None:
        return {}, "none"
    store = FileKeyStore(own) if isinstance(own, Path) else own
    key_path = own_key_path or store.path
    private = store.read("current")
    if private is None:
        return {}, "none"
    retired = load_retired_public_keys(key_path) if key_path is not None else []
    source = f"this rig's own key ({store.describe()})"
    if retired:
        source += f" and the {len(retired)} key(s) it rotated away"
    return trusted_keys([private.public_key(), *retired]), source
