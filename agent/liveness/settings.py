"""The ``[liveness]`` configuration section: how a face identification is shown to be live."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from agent.settings_base import StrictModel

if TYPE_CHECKING:
    from agent.liveness.challenge import Thresholds


class LivenessSettings(StrictModel):
    """The active challenge a performer identified by face must pass before the terms are shown."""

    method: Literal["challenge", "off"] = Field(
        "challenge",
        description=(
            "'challenge': the performer turns their head and blinks as asked, on camera; 'off': no"
            " liveness check (every record and the technician console then say so)."
        ),
    )
    steps: int = Field(2, ge=1, le=3, description="How many different steps are drawn at random.")
    step_time_limit_s: float = Field(
        8.0, ge=2.0, le=60.0, description="Time for each step, from its prompt on the touchscreen."
    )
    retries: int = Field(1, ge=0, le=5, description="Further attempts after a failed challenge.")
    max_age_s: float = Field(
        600.0,
        ge=30.0,
        le=4 * 3600.0,
        description="How long a passed challenge vouches for the identification before unlocking.",
    )

    def thresholds(self) -> Thresholds:
        """The challenge's decision limits (measured defaults) with this section's time limit."""
        # Imported here: the challenge needs OpenCV, and loading the config (e.g. for
        # `scangate --help`) must not.
        from agent.liveness.challenge import Thresholds  # noqa: PLC0415

        return Thresholds(step_time_limit=timedelta(seconds=self.step_time_limit_s))
