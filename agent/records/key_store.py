"""Where the rig's private key lives: the OS keyring, or a 0600 file in a 0700 folder.

``[records] key_store`` chooses (docs/security.md, "Rig key storage"):

- ``"file"``: ``key_path``, an unencrypted PKCS#8 PEM, mode 0600 in a 0700 folder.
- ``"keyring"``: the OS keyring through the ``keyring`` library (Secret Service on
  Linux, Windows Credential Manager, macOS Keychain). The entry's service is
  ``keyring_service`` (``scangate``), its user the rig id, its secret the same
  PKCS#8 PEM text. Only a real OS keyring is accepted: keyring's ``fail`` and
  ``null`` backends and the ``keyrings.alt`` file backends are refused.
- ``"auto"`` (default): a rig that already has a key file keeps using it; a rig
  whose key was created in the keyring (marker file ``<key_path>.keyring``) stays
  there, and an unreachable keyring is then an error, never a reason to make a new
  file key; otherwise the OS keyring when a secure one is available, else the file.

Each store has two slots: ``current`` (the key that signs) and ``next`` (a key
being rotated in, see :mod:`agent.records.key_rotation`): file ``<key_path>.next``,
keyring user ``<rig id>:next`` (``:`` never occurs in a rig id). Every failure is
a :class:`~agent.records.errors.RigKeyError` that says what to do; no record can be
signed without the key, so capture stays locked until it is fixed.
"""

from __future__ import annotations

import json
import os
import stat
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, Literal, TypeVar

import filelock
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.durable import fsync_dir, replace_file_atomically, write_new_file_atomically
from agent.private_files import private_dir
from agent.records.errors import KeyFileError, KeyStoreError, RigKeyError
from agent.records.settings import RecordSettings

KEY_FILE_MODE = 0o600
NEXT_SUFFIX = ".next"
KEYRING_MARKER_SUFFIX = ".keyring"
KEYRING_NEXT_SUFFIX = ":next"

Slot = Literal["current", "next"]
StoreKind = Literal["keyring", "file"]
_T = TypeVar("_T")


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """``key`` as unencrypted PKCS#8 PEM: what both stores hold."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def parse_private_key(data: bytes, where: str, error: type[RigKeyError] = KeyFileError) -> Ed25519PrivateKey:
    """An Ed25519 private key from PKCS#8 PEM bytes, or ``error`` saying what is wrong."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise error(
            f"not an unencrypted PEM private key: {exc}",
            where=where,
            hint="restore the key from backup; a new key would make this rig a different signer",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise error(f"the key is {type(key).__name__}, not Ed25519", where=where)
    return key


class RigKeyStore(ABC):
    """One place a rig key can live, with a ``current`` and a ``next`` slot."""

    kind: ClassVar[StoreKind]
    error: ClassVar[type[RigKeyError]] = KeyStoreError
    """The error type for this store's problems."""

    @abstractmethod
    def describe(self, slot: Slot = "current") -> str:
        """Where the slot's key lives, in words (file path, or keyring backend and entry)."""

    @property
    def path(self) -> Path | None:
        """The file of the current slot (None for a keyring)."""
        return None

    @abstractmethod
    def read(self, slot: Slot = "current") -> Ed25519PrivateKey | None:
        """The key in ``slot``; None when the slot is empty.

        Raises:
            RigKeyError: the key exists but cannot be read or is not usable.
        """

    @abstractmethod
    def add(self, slot: Slot, key: Ed25519PrivateKey) -> bool:
        """Store ``key`` in ``slot`` unless the slot holds a key already (then False; nothing changes)."""

    @abstractmethod
    def promote_next(self) -> None:
        """Make the ``next`` key the ``current`` one; the old current private key is gone afterwards.

        Crash-safe: if interrupted, ``current`` holds the old or the new key and
        calling it again (or :meth:`discard` of ``next`` when both hold the new key)
        finishes the job.
        """

    @abstractmethod
    def discard(self, slot: Slot) -> None:
        """Delete the key in ``slot`` (nothing if empty)."""

    def missing_error(self) -> RigKeyError:
        """The error for 'this store holds no rig key yet'."""
        return KeyStoreError(
            "no rig key in this store yet",
            where=self.describe(),
            hint="create it with: scangate keys init",
        )


# -- files -----------------------------------------------------------------------------------------------


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


class FileKeyStore(RigKeyStore):
    """The key as a PEM file (0600 in a 0700 folder); ``next`` is ``<key_path>.next``."""

    kind = "file"
    error = KeyFileError

    def __init__(self, key_path: Path) -> None:
        self.key_path = key_path

    def slot_path(self, slot: Slot) -> Path:
        """The file of ``slot``."""
        return (
            self.key_path if slot == "current" else self.key_path.with_name(self.key_path.name + NEXT_SUFFIX)
        )

    @property
    def path(self) -> Path:
        """The file of the current key."""
        return self.key_path

    def describe(self, slot: Slot = "current") -> str:
        """The slot's file path."""
        return f"file {self.slot_path(slot)}"

    def holds_any_key(self) -> bool:
        """Whether a current or next key file exists (a rig that has a file key keeps using it)."""
        return any(self.slot_path(slot).exists() for slot in ("current", "next"))

    def read(self, slot: Slot = "current") -> Ed25519PrivateKey | None:
        """The key file's key; None when there is no file."""
        path = self.slot_path(slot)
        if not path.is_file():
            return None
        _check_permissions(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise KeyFileError(f"cannot read the rig key file: {exc.strerror}", where=str(path)) from None
        return parse_private_key(data, str(path))

    def add(self, slot: Slot, key: Ed25519PrivateKey) -> bool:
        """Write the key file atomically (temporary file + hard link); never overwrites."""
        path = self.slot_path(slot)
        try:
            private_dir(path.parent)
            return write_new_file_atomically(path, private_key_pem(key), KEY_FILE_MODE)
        except OSError as exc:
            raise KeyFileError(
                f"cannot create the rig key file: {exc.strerror}",
                where=str(path),
                hint="check that the directory is writable, or set [records] key_path",
            ) from None

    def promote_next(self) -> None:
        """Rename ``<key_path>.next`` over ``key_path`` (one atomic rename)."""
        try:
            os.replace(self.slot_path("next"), self.key_path)
            fsync_dir(self.key_path.parent)
        except OSError as exc:
            raise KeyFileError(
                f"cannot replace the rig key with the rotated key: {exc.strerror}", where=str(self.key_path)
            ) from None

    def discard(self, slot: Slot) -> None:
        """Delete the slot's file."""
        path = self.slot_path(slot)
        try:
            path.unlink(missing_ok=True)
            fsync_dir(path.parent)
        except OSError as exc:
            raise KeyFileError(f"cannot delete the key file: {exc.strerror}", where=str(path)) from None

    def missing_error(self) -> RigKeyError:
        """'No rig key file yet', with the command that creates one."""
        return KeyFileError(
            "no rig key file yet",
            where=str(self.key_path),
            hint="create it with: scangate keys init (or check [records] key_path if the rig has one elsewhere)",
        )


# -- the OS keyring --------------------------------------------------------------------------------------


def backend_name(backend: object) -> str:
    """A keyring backend's name as shown to people, e.g. ``SecretService Keyring``."""
    name = getattr(backend, "name", None)
    return name if isinstance(name, str) else type(backend).__name__


def insecure_reason(backend: object) -> str | None:
    """Why ``backend`` must not hold the rig key, or None when it is a real OS keyring.

    Refused: keyring's ``fail`` (no keyring found) and ``null`` backends, any
    ``keyrings.alt`` backend (plaintext or password-file storage, not the OS's), a
    backend that reports itself unusable (priority ≤ 0), and a chain of backends
    with any such member (a read could come from the insecure one).
    """
    from keyring.backends import chainer, fail, null  # noqa: PLC0415 - keyring loads only when used

    if isinstance(backend, chainer.ChainerBackend):
        members = list(backend.backends)
        if not members:
            return "keyring found no OS keyring backend"
        for member in members:
            reason = insecure_reason(member)
            if reason is not None:
                return f"the chain of keyring backends includes one that is not secure: {reason}"
        return None
    if isinstance(backend, fail.Keyring | null.Keyring):
        return "keyring found no OS keyring (its fail/null backend is in use)"
    module = type(backend).__module__
    if module == "keyrings.alt" or module.startswith("keyrings.alt."):
        return f"{backend_name(backend)} (keyrings.alt) keeps secrets in a file, not in the OS keyring"
    try:
        priority = float(getattr(type(backend), "priority", 0))
    except Exception as exc:  # a backend's priority probes its service (D-Bus, ...) and may fail any way
        return f"{backend_name(backend)} is not usable here ({exc})"
    if priority <= 0:
        return f"{backend_name(backend)} reports itself as not usable here (priority {priority:g})"
    return None


class KeyringKeyStore(RigKeyStore):
    """The key as the secret of an OS keyring entry (service, user = rig id; ``next``: ``<rig id>:next``).

    Changes are serialised across processes with a lock file beside ``key_path``
    (keyrings cannot create an entry only if it is absent); creating the current
    key writes the marker ``<key_path>.keyring``, so that ``auto`` keeps looking
    here even when the keyring is unreachable.
    """

    kind = "keyring"

    def __init__(self, backend: object, service: str, rig_id: str, key_path: Path) -> None:
        self.backend = backend
        self.service = service
        self.rig_id = rig_id
        self.key_path = key_path
        self._lock_path = key_path.with_name(key_path.name + ".lock")

    def user(self, slot: Slot) -> str:
        """The entry's user name for ``slot``."""
        return self.rig_id if slot == "current" else self.rig_id + KEYRING_NEXT_SUFFIX

    def describe(self, slot: Slot = "current") -> str:
        """Backend and entry, e.g. ``OS keyring (SecretService Keyring), service 'scangate', user 'rig-1'``."""
        return (
            f"OS keyring ({backend_name(self.backend)}), service {self.service!r}, user {self.user(slot)!r}"
        )

    def _call(self, doing: str, slot: Slot, operation: Callable[[], _T]) -> _T:
        from keyring.errors import KeyringLocked  # noqa: PLC0415

        try:
            return operation()
        except KeyringLocked:
            raise KeyStoreError(
                f"the OS keyring is locked, so the rig key cannot be {doing}",
                where=self.describe(slot),
                hint="unlock the keyring (log in to the rig's desktop session, or unlock the login keyring)"
                " and try again; capture stays locked until the key can be read",
            ) from None
        except Exception as exc:  # D-Bus, Credential Manager, Keychain: any failure means no signing key
            raise KeyStoreError(
                f"the OS keyring failed while the rig key was being {doing}: {type(exc).__name__}: {exc}",
                where=self.describe(slot),
                hint="check that the keyring service is running and unlocked in this session; a rig"
                ' without one can keep its key in a file ([records] key_store = "file")',
            ) from None

    def _get(self, slot: Slot) -> str | None:
        get_password = getattr(self.backend, "get_password")  # noqa: B009 - the backend is typed as object
        value = self._call("read", slot, lambda: get_password(self.service, self.user(slot)))
        if value is not None and not isinstance(value, str):
            raise KeyStoreError("the keyring entry is not text", where=self.describe(slot))
        return value

    def _set(self, slot: Slot, key: Ed25519PrivateKey) -> None:
        set_password = getattr(self.backend, "set_password")  # noqa: B009
        pem = private_key_pem(key).decode("ascii")
        self._call("stored", slot, lambda: set_password(self.service, self.user(slot), pem))
        stored = self.read(slot)
        if stored is None or private_key_pem(stored) != private_key_pem(key):
            raise KeyStoreError(
                "the OS keyring did not keep the rig key (reading it back gave something else)",
                where=self.describe(slot),
                hint='check the keyring; or keep the key in a file ([records] key_store = "file")',
            )

    def _locked(self) -> filelock.BaseFileLock:
        try:
            private_dir(self._lock_path.parent)
        except OSError as exc:
            raise KeyStoreError(
                f"cannot create the folder of the key lock file: {exc.strerror}", where=str(self._lock_path)
            ) from None
        return filelock.FileLock(str(self._lock_path), timeout=30)

    def read(self, slot: Slot = "current") -> Ed25519PrivateKey | None:
        """The entry's key; None when there is no entry."""
        value = self._get(slot)
        if value is None:
            return None
        return parse_private_key(value.encode("utf-8", "replace"), self.describe(slot), KeyStoreError)

    def add(self, slot: Slot, key: Ed25519PrivateKey) -> bool:
        """Create the entry (read back to check the keyring kept it); False if it exists."""
        with self._locked():
            if self._get(slot) is not None:
                return False
            if slot == "current":
                write_keyring_marker(self, self.key_path)
            self._set(slot, key)
            return True

    def promote_next(self) -> None:
        """Copy the ``next`` entry over the ``current`` one, then delete ``next``."""
        with self._locked():
            new = self.read("next")
            if new is None:
                raise KeyStoreError("no rotated key to switch to", where=self.describe("next"))
            self._set("current", new)
            self._delete("next")

    def discard(self, slot: Slot) -> None:
        """Delete the entry."""
        with self._locked():
            self._delete(slot)

    def _delete(self, slot: Slot) -> None:
        if self._get(slot) is None:
            return
        delete_password = getattr(self.backend, "delete_password")  # noqa: B009
        self._call("deleted", slot, lambda: delete_password(self.service, self.user(slot)))


# -- choosing the store ----------------------------------------------------------------------------------


def keyring_marker_path(key_path: Path) -> Path:
    """The marker saying this rig's key lives in the OS keyring (``<key_path>.keyring``)."""
    return key_path.with_name(key_path.name + KEYRING_MARKER_SUFFIX)


def write_keyring_marker(store: KeyringKeyStore, key_path: Path) -> None:
    """Note beside ``key_path`` that the key lives in the keyring, so 'auto' never makes a file key instead."""
    marker = keyring_marker_path(key_path)
    text = json.dumps({"key_store": "keyring", "service": store.service, "user": store.user("current")})
    try:
        private_dir(marker.parent)
        replace_file_atomically(marker, (text + "\n").encode("utf-8"), KEY_FILE_MODE)
    except OSError as exc:
        raise KeyStoreError(
            f"cannot write the keyring marker file: {exc.strerror}", where=str(marker)
        ) from None


def default_keyring() -> object:
    """The keyring library's backend for this session (detected on first use)."""
    import keyring  # noqa: PLC0415

    try:
        return keyring.get_keyring()
    except Exception as exc:  # backend detection probes D-Bus and the like
        raise KeyStoreError(
            f"the OS keyring cannot be opened: {type(exc).__name__}: {exc}",
            hint='start the keyring service in this session, or set [records] key_store = "file"',
        ) from None


def keyring_store(
    settings: RecordSettings, rig_id: str, *, keyring_backend: object | None = None, why: str | None = None
) -> KeyringKeyStore:
    """The OS keyring store for this rig, whatever ``key_store`` says; creates nothing.

    Raises:
        KeyStoreError: no secure OS keyring is available (``why`` says what needed it).
    """
    backend = keyring_backend if keyring_backend is not None else default_keyring()
    reason = insecure_reason(backend)
    if reason is not None:
        raise KeyStoreError(
            f"{why or 'the rig key'} lives in the OS keyring, but no secure OS keyring is available: {reason}",
            where=str(keyring_marker_path(settings.key_path)) if why is None else "[records] key_store",
            hint="start and unlock the OS keyring in the rig's session (Linux: a Secret Service such as"
            " gnome-keyring; PYTHON_KEYRING_BACKEND picks one). Capture stays locked until then;"
            " a new key would make this rig a different signer",
        )
    return KeyringKeyStore(backend, settings.keyring_service, rig_id, settings.key_path)


def open_key_store(
    settings: RecordSettings, rig_id: str, *, keyring_backend: object | None = None
) -> RigKeyStore:
    """The store this rig's key lives in (or will be created in); creates nothing.

    Args:
        keyring_backend: the keyring backend to use (default: the keyring library's own choice).

    Raises:
        KeyStoreError: ``key_store = "keyring"`` (or a keyring marker) and no secure OS keyring is
            available, or ``"keyring"`` while the key is still a file.
    """
    files = FileKeyStore(settings.key_path)
    if settings.key_store == "file" or (settings.key_store == "auto" and files.holds_any_key()):
        return files
    if settings.key_store == "keyring":
        if files.holds_any_key():
            raise KeyStoreError(
                "[records] key_store is 'keyring', but this rig's key is a file",
                where=str(settings.key_path),
                hint="move it into the OS keyring with: scangate keys init --import-file;"
                ' or set [records] key_store = "file"',
            )
        return keyring_store(
            settings,
            rig_id,
            keyring_backend=keyring_backend,
            why="[records] key_store is 'keyring': the rig key",
        )
    if keyring_marker_path(settings.key_path).exists():
        return keyring_store(settings, rig_id, keyring_backend=keyring_backend)
    backend = keyring_backend if keyring_backend is not None else default_keyring()
    if insecure_reason(backend) is None:
        return KeyringKeyStore(backend, settings.keyring_service, rig_id, settings.key_path)
    return files
