"""Reading members of a record as it lies in a log, before (or without) validating it.

For display and for the facts ``verify`` reports (flagged captures, liveness,
destroy-by): a member that is missing or of the wrong kind reads as None or
as "not clean", never as an error. Records validated by the strict reader are
plain dicts, so the checks try ``dict`` first and fall back to any mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeGuard


def _is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return type(value) is dict or isinstance(value, Mapping)


def is_clean_capture(entry: object) -> bool:
    """Whether a ``captured_files`` entry (as read, unvalidated) is a clean, consented capture.

    Clean means inside an unlock window and not refused or flagged by the gate. The
    one definition for the writer's outcome, recovery, ``verify`` and the review window;
    it also reads version 1 entries, which have no ``flag_reason``.
    """
    return (
        _is_mapping(entry) and entry.get("within_unlock_window") is True and entry.get("flag_reason") is None
    )


def flagged_capture_count(files: object) -> int:
    """How many entries of a ``captured_files`` value (as read) are not clean captures."""
    if not isinstance(files, list):
        return 0
    count = 0
    for entry in files:
        if _is_mapping(entry) and (
            entry.get("within_unlock_window") is not True or entry.get("flag_reason") is not None
        ):
            count += 1  # the negation of is_clean_capture, inlined: verify counts this for every record
    return count


def nested(record: Mapping[str, Any], *path: str) -> Any:
    """The member at ``path`` of a record as read from a log (unvalidated), or None.

    For display (receipts, the review window): a member that is missing, or a
    step that is not an object, gives None instead of an error.
    """
    value: Any = record
    for key in path:
        if not _is_mapping(value):
            return None
        value = value.get(key)
    return value


__all__ = ["flagged_capture_count", "is_clean_capture", "nested"]
