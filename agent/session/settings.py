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
    tick_interval_s: float = Field(
        0.05, gt=0, le=1, description="How often time-based re-lock rules are checked when nothing happens."
    )

    @model_validator(mode="after")
    def _absence_shorter_than_identity_age(self) -> SessionSettings:
        if self.absence_timeout_s > self.identity_max_age_s:
            raise ValueError("absence_timeout_s must not exceed identity_max_age_s")
        return self

    def timing(self) -> Timing:
        """The time limits as the state machine takes them."""
        return Timing(
            absence_timeout=timedelta(seconds=self.absence_timeout_s),
            identity_max_age=timedelta(seconds=self.identity_max_age_s),
            unlock_timebox=timedelta(seconds=self.unlock_timebox_s),
            fallback_identity_max_age=timedelta(seconds=self.fallback_identity_max_age_s),
        )
