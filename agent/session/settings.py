"""Settings of the session engine (the ``[session]`` table)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator

from agent.session.model import Timing
from agent.settings_base import StrictModel


class SessionSettings(StrictModel):
    """Time limits that decide when capture re-locks by itself."""

    absence_timeout_s: float = Field(
        3.0,
        gt=0,
        le=60,
        description="Capture re-locks when the identified performer has not been seen for this long.",
    )
    identity_max_age_s: float = Field(
        10.0,
        gt=0,
        le=600,
        description="A face identification older than this no longer counts for unlocking.",
    )
    fallback_identity_max_age_s: float = Field(
        300.0,
        gt=0,
        le=3600,
        description=(
            "A badge + PIN identification (no face check) counts for unlocking for this long;"
            " the performer must still stay in view."
        ),
    )
    unlock_timebox_s: float = Field(
        600.0,
        gt=0,
        le=4 * 3600,
        description="An unlock ends by itself after this long; the performer confirms again to continue.",
    )
    consent_max_age_s: float = Field(
        30.0,
        gt=0,
        le=600,
        description=(
            "While the terms are shown and while capture is unlocked, the consent's status must have"
            " been confirmed (by the registry, or by the offline copy where offline operation is"
            " configured) within this long; otherwise capture locks with reason registry_unreachable."
        ),
    )
    consent_recheck_interval_s: float = Field(
        5.0,
        gt=0,
        le=300,
        description="How often the consent is re-checked with the registry while the terms are shown or capture is unlocked.",
    )
    tick_interval_s: float = Field(
        0.05, gt=0, le=1, description="How often time-based re-lock rules are checked when nothing happens."
    )

    @model_validator(mode="after")
    def _absence_shorter_than_identity_age(self) -> SessionSettings:
        if self.absence_timeout_s > self.identity_max_age_s:
            raise ValueError("absence_timeout_s must not exceed identity_max_age_s")
        if self.consent_recheck_interval_s >= self.consent_max_age_s:
            raise ValueError(
                "consent_recheck_interval_s must be shorter than consent_max_age_s, or every re-check"
                " would come too late"
            )
        return self

    def timing(self) -> Timing:
        """The time limits as the state machine takes them."""
        return Timing(
            absence_timeout=timedelta(seconds=self.absence_timeout_s),
            identity_max_age=timedelta(seconds=self.identity_max_age_s),
            unlock_timebox=timedelta(seconds=self.unlock_timebox_s),
            fallback_identity_max_age=timedelta(seconds=self.fallback_identity_max_age_s),
            consent_max_age=timedelta(seconds=self.consent_max_age_s),
            consent_recheck_interval=timedelta(seconds=self.consent_recheck_interval_s),
        )
