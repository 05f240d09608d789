"""Errors of the session-record subsystem (keys, log, outbox, verification)."""

from __future__ import annotations

from agent.errors import ScanGateError


class RecordError(ScanGateError):
    """Base of every expected failure around session records."""


class RigKeyError(RecordError):
    """The rig's signing key cannot be loaded, created or rotated: no record can be signed."""


class KeyFileError(RigKeyError):
    """The rig key file is missing, unreadable, malformed or too widely readable."""


class KeyStoreError(RigKeyError):
    """The OS keyring holding the rig key is unavailable, locked, insecure or failed."""


class KeyRotationError(RigKeyError):
    """A rig key rotation cannot start, go on or finish (the hint says how to resume)."""


class PublicKeyError(RecordError):
    """A public key given for verification cannot be read or parsed."""


class LogLockedError(RecordError):
    """Another process is already writing this session log."""


class LogCorruptError(RecordError):
    """The session log cannot be appended to safely (its last record is unreadable or forged)."""


class LogWriteError(RecordError):
    """A record could not be written durably (disk full, I/O error, closed log)."""


class RecordValidationError(RecordError):
    """A record does not match the session-record schema."""


class OutboxError(RecordError):
    """The upload outbox database cannot be opened or updated."""


class CheckpointError(RecordError):
    """A registry checkpoint is unreadable, malformed or not validly signed."""


class LogUnreadableError(RecordError):
    """A log file given for verification or reading cannot be opened."""
