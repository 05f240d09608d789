"""Read a log line in one pass when it is a schema-valid record in canonical form (the normal case).

``scangate verify`` needs, for each line, the record, whether the line is the
record's RFC 8785 canonical JSON, the signed payload (the canonical JSON of the
record without ``signature``) and the schema check. The general way parses the
line, serialises the payload and the record again and validates the schema
separately (:mod:`agent.records.linecheck`). For a line that ScanGate wrote,
one validation and one re-serialisation in pydantic-core give all of it:

1. :data:`agent.records.stored_schema.FAST_STORED_RECORD` parses and validates
   the line. Its output is the record as plain JSON data, every object's
   members in sorted order (the model objects by construction; a free-form
   object only if its keys already are sorted ASCII), integers as integers,
   every number inside the range where step 2's serialiser and RFC 8785 write
   the same text.
2. ``pydantic_core.to_json`` of that output is compared with the line. It
   escapes strings as RFC 8785 does (only ``"``, ``\\`` and control characters,
   with the same short forms and lowercase ``\\u00xx``; tests/records/
   test_canonical_line.py compares it with rfc8785 for every character and for
   numbers), so equal bytes mean the line *is* the record's canonical JSON,
   and the record is what any JSON parser reads from the line.
3. The signed payload is the line without its top-level ``,"signature":{...}``
   member (never the first member, so always after a comma). Those bytes are
   certainly in the line; when they occur exactly once, that occurrence is the
   member, and removing a member from canonical JSON leaves canonical JSON.

Whatever fails any step goes the general way, which decides as before; this
path never refuses or accepts a line on its own.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from pydantic import ValidationError
from pydantic_core import to_json

from agent.records.native_line import payload_digest, read_native
from agent.records.stored_schema import FAST_STORED_RECORD
from agent.signing import SIGNATURE_FIELD

_SIGNATURE_MEMBER = b',"' + SIGNATURE_FIELD.encode("ascii") + b'":'


class CanonicalLine(NamedTuple):
    """A line that is the canonical JSON of a schema-valid record."""

    record: dict[str, Any]
    """The record as plain JSON data (validated strictly)."""
    payload_digest: bytes
    """SHA-256 of the canonical JSON of the record without its signature: what the signature covers."""


def read_canonical_line(data: bytes) -> CanonicalLine | None:
    """The record and signed payload's digest of ``data``, or None when the line needs the general checks.

    msgspec's reading (:mod:`agent.records.native_line`) is tried first; it only
    ever accepts lines this reading accepts, with the same record and payload,
    and leaves every other line to it.
    """
    native = read_native(data)
    if native is not None:
        return CanonicalLine(*native)
    return read_strictly(data)


def read_strictly(data: bytes) -> CanonicalLine | None:
    """:func:`read_canonical_line` by pydantic-core alone (the reference the native reading is held to)."""
    try:
        record = FAST_STORED_RECORD.validate_json(data, strict=True)
    except ValidationError:
        return None
    if to_json(record) != data:
        return None
    member = _SIGNATURE_MEMBER + to_json(record[SIGNATURE_FIELD])
    pieces = data.split(member)
    if len(pieces) != 2:
        return None
    return CanonicalLine(record, payload_digest(*pieces))


__all__ = ["CanonicalLine", "read_canonical_line", "read_strictly"]
