"""Errors of the liveness check."""

from __future__ import annotations

from agent.errors import ScanGateError


class LivenessError(ScanGateError):
    """The liveness check could not be run; capture stays locked."""


class LandmarkModelError(LivenessError):
    """The face landmark model is missing, not the expected file, or cannot be run."""
