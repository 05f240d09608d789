"""The consent policy: which consent records allow which capture, and why not.

``evaluate(consent, context, now) -> Decision`` is pure; every rule of the
design is evaluated and every failing one is listed with a stable code and a
plain-language message (docs/consent-policy.md).
"""

from agent.clock import ClockReading, ClockSource
from agent.consent.adapter import to_consent_check
from agent.consent.model import (
    DEFAULT_MAX_CLOCK_SKEW,
    Decision,
    Notice,
    NoticeCode,
    PolicyContext,
    Reason,
    ReasonCode,
    Requirement,
    RequirementCode,
    TrustedKey,
)
from agent.consent.policy import RULES, evaluate

__all__ = [
    "DEFAULT_MAX_CLOCK_SKEW",
    "RULES",
    "ClockReading",
    "ClockSource",
    "Decision",
    "Notice",
    "NoticeCode",
    "PolicyContext",
    "Reason",
    "ReasonCode",
    "Requirement",
    "RequirementCode",
    "TrustedKey",
    "evaluate",
    "to_consent_check",
]
