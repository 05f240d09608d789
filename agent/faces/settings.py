"""Settings of the identification pipeline (the ``[identification]`` table)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.settings_base import StrictModel


class IdentificationSettings(StrictModel):
    """How faces are detected, checked, encoded and matched against the roster.

    The defaults were chosen from measurements on ../shared/faces; see the
    README section "Identification accuracy" for the numbers behind them.
    """

    detect_width: int = Field(
        640,
        ge=160,
        le=4096,
        description=(
            "Frames are downscaled to this width (pixels) for face detection; the"
            " 128-d encoding is then computed on the full-resolution frame."
        ),
    )
    detection_model: Literal["hog", "cnn"] = Field(
        "hog",
        description="dlib detector: 'hog' (CPU, fast) or 'cnn' (needs a GPU to be usable).",
    )
    upsample: int = Field(
        1,
        ge=0,
        le=3,
        description="How many times the detector upsamples the downscaled frame (finds smaller faces, slower).",
    )
    min_face_px: int = Field(
        80,
        ge=20,
        description="Smallest accepted face, as the height of the face box in full-resolution pixels.",
    )
    min_sharpness: float = Field(
        40.0,
        ge=0.0,
        description=(
            "Smallest accepted sharpness of the face crop (variance of the Laplacian,"
            " measured on a crop normalised to 150 px height); blurrier faces are refused."
        ),
    )
    max_distance: float = Field(
        0.45,
        gt=0.0,
        lt=1.0,
        description=(
            "Largest Euclidean distance between a probe encoding and a performer's nearest"
            " template that still counts as a match. face_recognition's usual 0.6 gives"
            " false accepts on real photos; see README."
        ),
    )
    min_margin: float = Field(
        0.05,
        ge=0.0,
        lt=1.0,
        description=(
            "The best performer's distance must beat the second-best performer's by at least"
            " this much, or the result is 'unknown' (ambiguous)."
        ),
    )
    votes_required: int = Field(
        3,
        ge=1,
        le=60,
        description="An identity is confirmed only when this many consecutive frames agree on it.",
    )
    num_jitters: int = Field(
        1,
        ge=1,
        le=10,
        description="How many times each face is re-sampled when encoding (more is slower, slightly steadier).",
    )
