"""The record schema: what a draft must say, and the rules that keep canonical JSON stable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from agent.records.errors import RecordValidationError
from agent.records.model import RecordDraft, parse_timestamp, utc_timestamp, validate_draft
from tests.records.factories import captured_draft

T0 = "2025-03-01T09:00:00.000Z"
T1 = "2025-03-01T09:00:05.000Z"


def test_timestamps_are_utc_with_milliseconds() -> None:
    moment = datetime(2025, 3, 1, 10, 5, 9, 120999, tzinfo=timezone(timedelta(hours=1)))
    assert utc_timestamp(moment) == "2025-03-01T09:05:09.120Z"
    assert parse_timestamp("2025-03-01T09:05:09.120Z") == datetime(2025, 3, 1, 9, 5, 9, 120000, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        utc_timestamp(datetime(2025, 3, 1))


def test_distances_are_rounded_to_four_decimals() -> None:
    draft = captured_draft(0).model_dump()
    draft["identification"]["distance"] = 0.318749999
    assert RecordDraft.model_validate(draft).identification.distance == 0.3187  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"outcome": "refused"}, "at least one reason code"),
        ({"outcome": "fault"}, "at least one reason code"),
        ({"outcome": "declined"}, "confirmation answer"),
        ({"outcome": "captured", "ended_at": "2025-03-01T08:59:59.000Z"}, "before started_at"),
        ({"outcome": "captured", "started_at": "2025-03-01T09:00:00Z"}, "pattern"),
        ({"outcome": "exploded"}, "outcome"),
        ({"outcome": "refused", "reason_codes": ["Has Spaces"]}, "pattern"),
        ({"outcome": "captured", "face_image": "..."}, "Extra inputs"),
    ],
)
def test_drafts_that_would_make_misleading_records_are_refused(
    changes: dict[str, object], message: str
) -> None:
    with pytest.raises(RecordValidationError, match=message):
        validate_draft({"started_at": T0, "ended_at": T1, **changes})


def test_a_declined_confirmation_cannot_carry_a_scope() -> None:
    with pytest.raises(RecordValidationError, match="cannot confirm capture types"):
        validate_draft(
            {
                "outcome": "declined",
                "confirmation": {"at": T1, "decision": "declined", "capture_types": ["face"]},
                "started_at": T0,
                "ended_at": T1,
            }
        )


def test_minimal_refusal_before_identification_is_valid() -> None:
    draft = validate_draft(
        {"outcome": "refused", "reason_codes": ["camera_lost"], "started_at": T0, "ended_at": T1}
    )
    dumped = draft.model_dump(mode="json")
    assert dumped["performer"] is None and dumped["identification"] is None and dumped["consent"] is None
