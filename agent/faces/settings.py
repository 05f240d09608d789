"""Settings of the identification pipeline (the ``[identification]`` table)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from agent.settings_base import StrictModel

DEFAULT_DETECT_PIXELS = 640 * 360
"""Default pixel budget of face detection: the area a 1280x720 frame is detected at."""


class TrackingSettings(StrictModel):
    """How the live loop follows the subject between whole-frame analyses (``[identification.tracking]``).

    See docs/identification.md ("Following the subject between analyses") for the rules and
    the measurements behind the defaults.
    """

    enabled: bool = Field(
        True,
        description=(
            "Follow the subject's face between whole-frame analyses: detect it only near where it"
            " was, and encode it only while the identity is being voted on, when it looks different,"
            " and at every re-verification. Off: every frame is detected, checked and encoded afresh."
        ),
    )
    reverify_interval_s: float = Field(
        1.0,
        ge=0.2,
        le=3.0,
        description=(
            "A followed face is analysed afresh on the whole frame (detection, quality gate, encoding,"
            " match: exactly as without tracking) at least this often, in camera time. This bounds"
            " how long a second face elsewhere in the frame, or a swap the other checks miss, can go"
            " unnoticed."
        ),
    )
    window: float = Field(
        2.5,
        ge=1.5,
        le=6.0,
        description=(
            "Side of the square searched around the last face box, in face-box sizes. The face may"
            " move at most max_shift of its size between analysed frames, so this must exceed"
            " 2 x (0.5 + max_shift) with room for the detector's margin."
        ),
    )
    max_shift: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description=(
            "Largest movement of the face box between two analysed frames, as a fraction of its size;"
            " a larger jump ends the track and the frame is analysed afresh."
        ),
    )
    max_growth: float = Field(
        1.3,
        gt=1.0,
        le=2.0,
        description=(
            "Largest change of the face box's height between two analysed frames (ratio, either way);"
            " a larger change ends the track and the frame is analysed afresh."
        ),
    )
    min_similarity: float = Field(
        0.3,
        ge=-1.0,
        le=1.0,
        description=(
            "Least resemblance (normalised correlation) of the upper face between two analysed"
            " frames; below it the track ends and the frame is analysed afresh. Measured on the"
            " moving, talking face of video/short_hamilton_clip.mp4: 0.77 or more one frame apart,"
            " 0.33 or more ten frames (1/3 s) apart."
        ),
    )
    doubt_similarity: float = Field(
        0.7,
        ge=-1.0,
        le=1.0,
        description=(
            "Least resemblance of the upper face to the last frame that matched; below it the face is"
            " encoded and matched again at once. Measured: another person's face pasted where the"
            " performer's was scores 0.08-0.69, the swaying stand-in 0.92-1.00. A swap this misses"
            " is caught at the next re-verification (reverify_interval_s)."
        ),
    )


class IdentificationSettings(StrictModel):
    """How faces are detected, checked, encoded and matched against the roster.

    The defaults were chosen from measurements on ../shared/faces; see
    docs/identification.md ("Why these defaults") for the numbers behind them.
    """

    detect_width: int = Field(
        640,
        ge=160,
        le=4096,
        description=(
            "Frames wider than this are downscaled to this width (pixels) for face detection;"
            " the 128-d encoding is then computed on the full-resolution frame. With upsample 1,"
            " 640 finds faces from about 80 px high in a 1280x720 frame in ~60 ms."
            " The pixel budget (detect_pixels) applies as well; the smaller scale wins."
        ),
    )
    detect_pixels: int = Field(
        DEFAULT_DETECT_PIXELS,
        ge=160 * 90,
        le=4096 * 4096,
        description=(
            "Pixel budget of face detection: frames and photos with more pixels than this are"
            " downscaled (aspect kept) to at most this many before detection, so a portrait photo"
            " or a 4:3 frame costs no more than a 1280x720 frame. The default, 640x360 = 230,400,"
            " is what a 720p frame gets from detect_width 640."
        ),
    )
    detection_model: Literal["hog", "cnn"] = Field(
        "hog",
        description="dlib detector: 'hog' (CPU, fast) or 'cnn' (needs a GPU to be usable; seconds per frame on CPU).",
    )
    encoder: Literal["auto", "dlib"] = Field(
        "auto",
        description=(
            "Which implementation evaluates dlib's face ResNet: 'auto' uses the numpy one when the"
            " installer converted the model's weights (4-9x faster; descriptors within ~1e-6 of"
            " dlib's, docs/performance.md), else dlib's; 'dlib' always uses dlib's own, e.g. to"
            " re-check a decision with the reference implementation."
        ),
    )
    upsample: int = Field(
        1,
        ge=0,
        le=3,
        description=(
            "How many times the detector upsamples the (downscaled) frame: HOG's smallest face is"
            " about 80 px, 40 px with upsample 1. Each step costs about 4x detection time."
        ),
    )
    min_face_px: int = Field(
        70,
        ge=20,
        description=(
            "Smallest accepted face, as the height of the face box in full-resolution pixels."
            " 70 accepts the 76 px faces of LFW photos and refuses the 63 px face of a 240p frame."
        ),
    )
    competing_face_ratio: float = Field(
        0.5,
        gt=0.0,
        le=1.0,
        description=(
            "A second face whose box height is at least this fraction of the largest face's"
            " counts as another candidate subject (decision 'multiple_faces'); smaller"
            " background faces are ignored and the largest face is the subject. 0.5 flags every"
            " scene in the multiface set (closest pair: 0.69) and ignores faces under half size."
        ),
    )
    min_rival_score: float = Field(
        0.5,
        ge=0.0,
        description=(
            "A second face counts as a competing subject only when dlib's HOG detector scores it"
            " at least this high, and a weaker detection never takes the subject's place from a"
            " confident face of comparable size. Weaker detections are mostly false positives"
            " (measured: 0.01-0.23 on the space-suit patch of the demo clip); every real second"
            " face in the multiface set scored 0.78 or more."
        ),
    )
    min_sharpness: float = Field(
        60.0,
        ge=0.0,
        description=(
            "Smallest accepted sharpness of the face crop (variance of the Laplacian on the grey"
            " crop resized to 64 px height). Measured: a motion-blurred face scores 52, the"
            " softest identity photo 67; 60 sits between them."
        ),
    )
    max_distance: float = Field(
        0.50,
        gt=0.0,
        lt=1.0,
        description=(
            "Largest Euclidean distance between a probe encoding and a performer's nearest"
            " template that still counts as a match. face_recognition's usual 0.6 gave 86 false"
            " accepts over 20 splits of the test set; the closest impostor pair is at 0.543."
        ),
    )
    min_margin: float = Field(
        0.08,
        ge=0.0,
        lt=1.0,
        description=(
            "The best performer's distance must beat the second-best performer's by at least"
            " this much, or the result is 'unknown' (ambiguous). An exact tie is never a match."
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
        description=(
            "How many times each face is re-sampled when encoding, for a slightly steadier vector."
            " Above 1, dlib's own encoder runs (its random jitter), each jitter a full dlib"
            " encoding (100-190 ms on a 2-core rig PC, against ~20 ms for the default numpy one)."
        ),
    )
    tracking: TrackingSettings = Field(
        default_factory=TrackingSettings,
        description="How the live loop follows the subject between whole-frame analyses.",
    )
