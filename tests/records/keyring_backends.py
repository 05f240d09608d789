"""Small in-process keyring backends for tests, registered through keyring's public API.

:class:`MemoryKeyring` is a real ``keyring.backend.KeyringBackend`` that keeps its
entries in a dict and can be told to be locked or to fail like a broken D-Bus
connection; :class:`PlaintextLike` stands for the ``keyrings.alt`` file backends
(same module name), which ScanGate must refuse.
"""

from __future__ import annotations

from keyring.backend import KeyringBackend
from keyring.backends import fail, null
from keyring.errors import KeyringLocked, PasswordDeleteError


def fail_backend() -> KeyringBackend:
    """keyring's own 'no keyring found' backend (every call raises NoKeyringError)."""
    return fail.Keyring()  # type: ignore[no-untyped-call]


def null_backend() -> KeyringBackend:
    """keyring's 'disabled' backend (stores nothing, finds nothing)."""
    return null.Keyring()  # type: ignore[no-untyped-call]


class MemoryKeyring(KeyringBackend):
    """An OS keyring stand-in kept in memory."""

    priority = 1  # a plain number is what keyring reads

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.entries: dict[tuple[str, str], str] = {}
        self.locked = False
        self.broken: Exception | None = None
        self.forgetful = False
        """Accept writes but keep nothing (a backend that silently loses secrets)."""

    def _check(self) -> None:
        if self.broken is not None:
            raise self.broken
        if self.locked:
            raise KeyringLocked("Failed to unlock the collection!")

    def get_password(self, service: str, username: str) -> str | None:
        self._check()
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._check()
        if not self.forgetful:
            self.entries[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self._check()
        if self.entries.pop((service, username), None) is None:
            raise PasswordDeleteError("no such entry")


class PlaintextLike(MemoryKeyring):
    """Looks like a ``keyrings.alt`` backend (plaintext file storage) to ScanGate's check."""


PlaintextLike.__module__ = "keyrings.alt.file"
