"""Domain errors that explain themselves.

Every error ScanGate expects to happen in normal operation (a bad config file,
an unreadable image, a registry that is down) is a :class:`ScanGateError`
carrying *what* happened, *where* (file, key, line, URL) and *what to do*.
The CLI prints these as one clear message and never as a traceback.
"""

from __future__ import annotations


class ScanGateError(Exception):
    """Base class of every expected ScanGate failure.

    Attributes:
        what: one sentence saying what went wrong.
        where: the file, key, line or address concerned, if any.
        hint: what the user should do about it, if there is something to do.
    """

    exit_code: int = 2

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.message())

    def brief(self, subject: str | None = None) -> str:
        """What went wrong, with where unless it is ``subject`` (already named beside it); no hint."""
        return self.what if not self.where or self.where == subject else f"{self.where}: {self.what}"

    def message(self) -> str:
        """The full human-readable message: where, what, and the hint."""
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text


class ConfigError(ScanGateError):
    """The configuration file is missing, unreadable or invalid."""


class InputError(ScanGateError):
    """An input file (image, video, folder) is missing or unreadable."""


class CameraError(ScanGateError):
    """A camera source could not be opened or stopped delivering frames."""


class TemplateStoreError(ScanGateError):
    """The local face template store is missing, unreadable or inconsistent."""


class FaceEngineError(ScanGateError):
    """The face engine (dlib / face_recognition models) is not usable."""
