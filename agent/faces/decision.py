"""What a frame says about who is in front of the camera (no OpenCV or dlib: screens import it)."""

from __future__ import annotations

import enum


class Decision(enum.StrEnum):
    """What one frame (or one input) says about who is in front of the camera."""

    MATCH = "match"
    UNKNOWN = "unknown"
    NO_FACE = "no_face"
    MULTIPLE_FACES = "multiple_faces"
    LOW_QUALITY = "low_quality"
    TRACKED = "tracked"
    """Only during a liveness challenge: the face was followed from the last frame that
    matched (see :mod:`agent.liveness.tracking`), not matched itself."""
    FACE_IN_VIEW = "face_in_view"
    """Only outside a session: a face passed the quality checks but was neither encoded nor
    matched against the roster (identification runs only while a session is open)."""
