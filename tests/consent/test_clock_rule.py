"""The clock rule: a rig clock further from registry time than the limit refuses (``clock_skew``)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from agent.consent import ClockReading, NoticeCode, evaluate
from tests.consent.factories import NOW, REGISTRY_SIGNER, context, signed_consent

LIMIT = timedelta(seconds=60)


def reading(offset_s: float, rtt_s: float = 0.01, **kwargs: object) -> ClockReading:
    values: dict[str, object] = {
        "offset_s": offset_s,
        "rtt_s": rtt_s,
        "measured_at": NOW,
        "source": "registry",
        "registry_key_id": REGISTRY_SIGNER.key_id,
    }
    values.update(kwargs)
    return ClockReading(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize("offset_s", [0.0, 59.9, -59.9])
def test_an_offset_within_the_limit_is_allowed(offset_s: float) -> None:
    decision = evaluate(signed_consent(), context(clock=reading(offset_s), max_clock_skew=LIMIT), NOW)
    assert decision.allowed, decision.explain()
    assert decision.notices == ()


def test_a_slow_rig_clock_beyond_the_limit_refuses_and_says_what_to_do() -> None:
    decision = evaluate(signed_consent(), context(clock=reading(48 * 3600.0), max_clock_skew=LIMIT), NOW)
    assert decision.codes == ("clock_skew",)
    message = decision.reasons[0].message
    assert "2 days behind" in message
    assert "+172800.0 s" in message and "60 seconds" in message
    assert "NTP" in message


def test_a_fast_rig_clock_beyond_the_limit_refuses() -> None:
    decision = evaluate(signed_consent(), context(clock=reading(-61.0), max_clock_skew=LIMIT), NOW)
    assert decision.codes == ("clock_skew",)
    assert "ahead" in decision.reasons[0].message


def test_a_measurement_less_certain_than_the_limit_refuses() -> None:
    decision = evaluate(signed_consent(), context(clock=reading(0.0, rtt_s=130.0), max_clock_skew=LIMIT), NOW)
    assert decision.codes == ("clock_skew",)
    assert "round trip" in decision.reasons[0].message


def test_an_offset_within_the_limit_but_not_surely_is_refused() -> None:
    """59 s ± 7 s may be 66 s: the rig clock is within the limit only if offset + uncertainty is."""
    decision = evaluate(signed_consent(), context(clock=reading(59.0, rtt_s=14.0), max_clock_skew=LIMIT), NOW)
    assert decision.codes == ("clock_skew",)
    assert "± 7.0 s" in decision.reasons[0].message


def test_no_consent_and_a_skewed_clock_lists_both() -> None:
    decision = evaluate(None, context(clock=reading(3600.0), max_clock_skew=LIMIT), NOW)
    assert decision.codes == ("no_consent", "clock_skew")


def test_a_carried_forward_reading_is_noted() -> None:
    carried = reading(1.0, source="offline_last_known", age_s=120.0)
    ctx = context(clock=carried, cached_at=NOW - timedelta(minutes=5), max_staleness=timedelta(minutes=15))
    decision = evaluate(signed_consent(), ctx, NOW)
    assert decision.allowed
    codes = [notice.code for notice in decision.notices]
    assert codes == [NoticeCode.OFFLINE_COPY, NoticeCode.OFFLINE_CLOCK]
    assert "2 minutes ago" in decision.notices[1].message


def test_an_offline_copy_without_any_reading_is_judged_on_the_rig_clock_and_says_so() -> None:
    ctx = context(cached_at=NOW - timedelta(minutes=5), max_staleness=timedelta(minutes=15))
    decision = evaluate(signed_consent(), ctx, NOW)
    assert decision.allowed
    assert [notice.code for notice in decision.notices] == [
        NoticeCode.OFFLINE_COPY,
        NoticeCode.CLOCK_NOT_VERIFIED,
    ]


def test_reading_arithmetic() -> None:
    measured = reading(30.0, rtt_s=0.5)
    assert measured.uncertainty_s == 0.25
    assert measured.registry_time(NOW) == NOW + timedelta(seconds=30)
    assert measured.as_record() == {
        "offset_s": 30.0,
        "rtt_s": 0.5,
        "uncertainty_s": 0.25,
        "measured_at": "2030-06-01T12:00:00Z",
        "source": "registry",
        "registry_key_id": REGISTRY_SIGNER.key_id,
        "age_s": 0.0,
    }
