"""The value types of session-record members: timestamps, dates, hashes, codes, rounded numbers.

Drafts round numbers to what a record stores (:data:`Distance`, :data:`Seconds`);
stored records are checked to hold them already rounded (:data:`StoredDistance`,
:data:`StoredSeconds`). Dates must be real ones. :data:`EXACT_PATTERNS` and
:data:`CHECKS_ONLY` describe some of these validators to the strict reader
derived from the models (:mod:`agent.records.stored_schema`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final

from pydantic import AfterValidator, Field

_TIMESTAMP_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"
_HEX64_PATTERN = r"^[0-9a-f]{64}$"
_CODE_PATTERN = r"^[a-z][a-z0-9_.-]*$"
_UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"


def _real_instant(text: str) -> str:
    """``text`` (already of the timestamp's shape) if it names a real instant: no 2025-02-30, no 24:00."""
    try:
        datetime.fromisoformat(text)  # C-fast; the pattern has already fixed the shape
    except ValueError:
        raise ValueError(f"{text!r} is not a real date and time (RFC 3339, UTC)") from None
    return text


UtcTimestamp = Annotated[
    str,
    Field(pattern=_TIMESTAMP_PATTERN, description="UTC time, RFC 3339 with milliseconds and 'Z'."),
    AfterValidator(_real_instant),
]
Sha256Hex = Annotated[str, Field(pattern=_HEX64_PATTERN, description="Lowercase hex SHA-256.")]
ReasonCode = Annotated[
    str, Field(pattern=_CODE_PATTERN, max_length=80, description="Stable machine-readable code.")
]
CaptureType = Annotated[str, Field(min_length=1, max_length=64, description="A capture type, e.g. 'facs'.")]
RecordId = Annotated[str, Field(pattern=_UUID_PATTERN, description="Lowercase UUID in canonical text form.")]


def _real_date(text: str) -> str:
    """``text`` (already of the date's shape) if it names a real calendar day: no 2025-02-30."""
    try:
        datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise ValueError(f"{text!r} is not a real calendar date (YYYY-MM-DD)") from None
    return text


IsoDate = Annotated[
    str,
    Field(pattern=r"^\d{4}-\d{2}-\d{2}$", description="A calendar date, YYYY-MM-DD."),
    AfterValidator(_real_date),
]

_YEAR = r"(?:000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})"
_LEAP_YEAR = r"(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_MONTH_DAY = (
    r"(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)|(?:0[13578]|1[02])-31)"
)
_REAL_DATE = rf"(?:{_YEAR}-{_MONTH_DAY}|{_LEAP_YEAR}-02-29)"
EXACT_PATTERNS: Final[dict[Callable[[str], str], str]] = {
    _real_instant: rf"^{_REAL_DATE}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{{3}}Z$",
    _real_date: rf"^{_REAL_DATE}$",
}
"""For a date validator above, a regular expression accepting exactly the strings it accepts (ASCII digits).

Years 0001-9999, Gregorian leap years, hours 00-23, no leap second: what
``datetime`` accepts. The one-pass reader checks dates with these, in
pydantic-core, instead of calling the validator for every timestamp;
tests/records/test_stored_schema.py compares each with its validator.
"""


DISTANCE_DECIMALS = 4
SECONDS_DECIMALS = 3


def _rounded(decimals: int) -> AfterValidator:
    return AfterValidator(lambda value: round(value, decimals))


CHECKS_ONLY: Final[set[Callable[[Any], Any]]] = set()
"""After-validators of stored values that return the value unchanged (they only refuse)."""


def _at_most(decimals: int, what: str) -> AfterValidator:
    def check(value: float) -> float:
        if round(value, decimals) != value:
            raise ValueError(f"{value!r} has more than {decimals} decimals ({what} are rounded when written)")
        return value

    CHECKS_ONLY.add(check)
    return AfterValidator(check)


Distance = Annotated[float, _rounded(DISTANCE_DECIMALS)]
"""A face distance in a draft: rounded to 4 decimals, as the record stores it."""
StoredDistance = Annotated[float, _at_most(DISTANCE_DECIMALS, "distances")]
"""A face distance read from a record: must already have at most 4 decimals."""
Seconds = Annotated[float, _rounded(SECONDS_DECIMALS)]
"""A registry-clock duration in a draft: rounded to 3 decimals (milliseconds)."""
StoredSeconds = Annotated[float, _at_most(SECONDS_DECIMALS, "registry_clock seconds")]
"""A registry-clock duration read from a record: must already have at most 3 decimals."""


__all__ = [
    "CHECKS_ONLY",
    "DISTANCE_DECIMALS",
    "EXACT_PATTERNS",
    "SECONDS_DECIMALS",
    "CaptureType",
    "Distance",
    "IsoDate",
    "ReasonCode",
    "RecordId",
    "Seconds",
    "Sha256Hex",
    "StoredDistance",
    "StoredSeconds",
    "UtcTimestamp",
]
