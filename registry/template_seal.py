"""Face templates sealed at rest in the registry database (AES-256-GCM under a key kept outside it).

The registry must read templates to sign rosters, so they cannot be hashed away;
they are encrypted instead. The template key is a 32-byte random key in its own
file (mode 0600), never in the database: a copy of the database (a backup, a
``pg_dump``, a stolen disk image of the database server) holds no usable face
data without it. ``scangate registry init`` creates the key file when there is
none; every registry process that enrols or serves rosters needs the same file.

Where the key file is: ``--template-key FILE`` on the commands that need it, or
``$SCANGATE_REGISTRY_TEMPLATE_KEY``, or ``registry-template.key`` in the user's
data folder. The embedded registry of the demo and the tests keeps an ephemeral
key in memory only, so what it leaves on disk can never be opened again.

Each sealed value names the key that sealed it and is bound to its template id,
performer and model (associated data): a sealed template copied onto another
row, or another performer, does not open.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import threading
from collections.abc import Sequence
from pathlib import Path

import platformdirs
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from agent.durable import write_new_file_atomically
from agent.private_files import PRIVATE_FILE_MODE, private_dir
from registry.errors import DatabaseError

TEMPLATE_KEY_ENV_VAR = "SCANGATE_REGISTRY_TEMPLATE_KEY"
KEY_FILE_HEADER = "scangate-registry-template-key/1"
SEALED_PREFIX = "aesgcm1"
_NONCE_BYTES = 12
_KEY_BYTES = 32


def default_template_key_path() -> Path:
    """``registry-template.key`` in the user's data folder (beside the default SQLite database)."""
    return Path(platformdirs.user_data_dir("scangate", appauthor=False)) / "registry-template.key"


def configured_template_key_path(path: Path | None = None) -> Path:
    """``path`` if given, else ``$SCANGATE_REGISTRY_TEMPLATE_KEY``, else the default."""
    if path is not None:
        return path
    configured = os.environ.get(TEMPLATE_KEY_ENV_VAR)
    return Path(configured).expanduser() if configured else default_template_key_path()


def _associated_data(template_id: str, performer_id: str, model: str) -> bytes:
    return json.dumps(["scangate-template/1", template_id, performer_id, model]).encode("utf-8")


class TemplateKey:
    """The registry's template-sealing key."""

    def __init__(self, secret: bytes, *, origin: str = "memory") -> None:
        if len(secret) != _KEY_BYTES:
            raise ValueError(f"a template key has {_KEY_BYTES} bytes, not {len(secret)}")
        self._aead = AESGCM(secret)
        self.key_id = "tk-" + hashlib.sha256(secret).hexdigest()[:16]
        """Public name of the key (a hash prefix): written beside every sealed template."""
        self.origin = origin
        """Where the key came from (its file, or 'memory'), for messages."""

    @classmethod
    def generate(cls) -> TemplateKey:
        """A new random key, held in memory only."""
        return cls(secrets.token_bytes(_KEY_BYTES))

    @classmethod
    def load(cls, path: Path) -> TemplateKey:
        """Read a key file.

        Raises:
            DatabaseError: the file is missing, unreadable, readable by others or not a key file.
        """
        hint = (
            f"give the registry's template key file with --template-key or ${TEMPLATE_KEY_ENV_VAR}"
            " (`scangate registry init` created it); without it no face template can be enrolled or served"
        )
        try:
            text = path.read_text(encoding="ascii")
            mode = path.stat().st_mode & 0o077
        except FileNotFoundError:
            raise DatabaseError(
                "the registry's template key file does not exist", where=str(path), hint=hint
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DatabaseError(
                f"cannot read the template key file: {exc}", where=str(path), hint=hint
            ) from None
        if os.name != "nt" and mode:
            raise DatabaseError(
                "the template key file can be read or written by other users",
                where=str(path),
                hint=f"make it owner-only: chmod 600 {path}",
            )
        lines = text.split()
        try:
            if len(lines) != 2 or lines[0] != KEY_FILE_HEADER:
                raise ValueError("not a ScanGate template key file")
            return cls(base64.urlsafe_b64decode(lines[1] + "=" * (-len(lines[1]) % 4)), origin=str(path))
        except (ValueError, TypeError) as exc:
            raise DatabaseError(
                f"the template key file is damaged: {exc}", where=str(path), hint=hint
            ) from None

    @classmethod
    def load_or_create(cls, path: Path) -> tuple[TemplateKey, bool]:
        """The key in ``path``, created (0600, in a 0700 folder) if there is none; and whether it was."""
        if not path.exists():
            secret = secrets.token_bytes(_KEY_BYTES)
            text = f"{KEY_FILE_HEADER}\n{base64.urlsafe_b64encode(secret).decode('ascii').rstrip('=')}\n"
            private_dir(path.parent)
            if write_new_file_atomically(path, text.encode("ascii"), PRIVATE_FILE_MODE):
                return cls(secret, origin=str(path)), True
        return cls.load(path), False

    def seal(self, template_id: str, performer_id: str, model: str, encoding: Sequence[float]) -> str:
        """``encoding`` encrypted for the row ``template_id`` of ``performer_id``."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        values = [float(v) for v in encoding]
        plain = struct.pack(f"<{len(values)}d", *values)  # exact, and 3x faster to open than JSON
        sealed = self._aead.encrypt(nonce, plain, _associated_data(template_id, performer_id, model))
        return f"{SEALED_PREFIX}:{self.key_id}:{base64.b64encode(nonce + sealed).decode('ascii')}"

    def open(self, template_id: str, performer_id: str, model: str, sealed: str) -> tuple[float, ...]:
        """The encoding sealed by :meth:`seal`.

        Raises:
            DatabaseError: sealed under another key, altered, or moved to another row.
        """
        parts = sealed.split(":")
        if len(parts) != 3 or parts[0] != SEALED_PREFIX:
            raise DatabaseError(f"face template {template_id} is not a sealed template")
        if parts[1] != self.key_id:
            raise DatabaseError(
                f"face template {template_id} was sealed with template key {parts[1]}, but this registry"
                f" has key {self.key_id} ({self.origin})",
                hint=f"give the registry the key file it was initialised with (--template-key or ${TEMPLATE_KEY_ENV_VAR})",
            )
        try:
            data = base64.b64decode(parts[2], validate=True)
            plain = self._aead.decrypt(
                data[:_NONCE_BYTES], data[_NONCE_BYTES:], _associated_data(template_id, performer_id, model)
            )
        except (ValueError, InvalidTag):
            raise DatabaseError(
                f"face template {template_id} does not open: it was altered or moved to another row",
                hint="enrol the performer again",
            ) from None
        return struct.unpack(f"<{len(plain) // 8}d", plain)


class TemplateKeySource:
    """The template key of one database: given, or read from its file on first use (then kept)."""

    def __init__(self, key: TemplateKey | None = None, path: Path | None = None) -> None:
        self._key = key
        self._path = path
        self._lock = threading.Lock()

    @property
    def path(self) -> Path:
        """The key file this source reads (when no key was given)."""
        return configured_template_key_path(self._path)

    def get(self) -> TemplateKey:
        """The key (raises :class:`DatabaseError` when its file cannot be used)."""
        with self._lock:
            if self._key is None:
                self._key = TemplateKey.load(self.path)
            return self._key

    def get_or_create(self) -> tuple[TemplateKey, bool]:
        """The key, creating its file when there is none (``registry init``); and whether it was."""
        with self._lock:
            if self._key is not None:
                return self._key, False
            self._key, created = TemplateKey.load_or_create(self.path)
            return self._key, created
