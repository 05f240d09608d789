"""Realistic session-record drafts for tests and benchmarks."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

from agent.records.model import RecordDraft, utc_timestamp

BASE_TIME = datetime(2025, 3, 1, 9, 0, 0, tzinfo=UTC)


def _hex(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def captured_draft(index: int = 0, *, files: int = 6) -> RecordDraft:
    """A complete 'captured' session: face match, consent, confirmation, unlock window, files."""
    start = BASE_TIME + timedelta(minutes=10 * index)

    def at(seconds: float) -> str:
        return utc_timestamp(start + timedelta(seconds=seconds))

    data: dict[str, Any] = {
        "production": {"production_id": "prod-aurora", "name": "Aurora (feature)"},
        "capture_types_requested": ["face", "facs"],
        "performer": {"performer_id": f"perf-{index % 40:04d}", "display_name": "Ana Lima", "minor": False},
        "identification": {
            "method": "face",
            "identified_at": at(4),
            "distance": 0.3187 + (index % 7) / 1000,
            "margin": 0.1421,
            "frames_voted": 3,
            "template_version": "dlib-resnet-128/enrol-2",
            "liveness": {
                "method": "challenge",
                "passed": True,
                "completed_at": at(3),
                "attempt": 1,
                "steps": [
                    {
                        "step": "turn-left",
                        "passed": True,
                        "reason": "the head turned in depth",
                        "evidence": {"turn": 0.3361, "planarity_residual": 0.0912},
                    },
                    {
                        "step": "blink",
                        "passed": True,
                        "reason": "the eyes closed and opened again",
                        "evidence": {"eye_ratio_baseline": 0.3012, "closed_frames": 2.0},
                    },
                ],
                "model": "mediapipe-face_landmark@1055cb9d4a9c",
                "earlier_attempts": [],
            },
        },
        "consent": {
            "consent_id": f"consent-{index % 40:04d}",
            "version": 2,
            "registry_key_id": "ed25519:" + _hex("registry")[:32],
            "registry_signature": "A" * 85 + "w",
            "consent_hash": _hex(f"consent-{index}"),
            "capture_types_permitted": ["face", "facs", "body"],
            "valid_until": "2025-06-30T23:59:59.000Z",
            "source": "registry",
            "status_confirmed_at": at(19),
        },
        "confirmation": {"at": at(20), "decision": "confirmed", "capture_types": ["face", "facs"]},
        "technician": {"technician_id": "tech-07", "name": "Sam Okafor"},
        "gate_events": [
            {
                "at": at(21),
                "action": "unlock",
                "reason": "consent_confirmed",
                "capture_types": ["face", "facs"],
            },
            {"at": at(300), "action": "lock", "reason": "technician_ended"},
        ],
        "captured_files": [
            {
                "name": f"S{index:05d}_CAM{cam:02d}.CR3",
                "sha256": _hex(f"file-{index}-{cam}"),
                "size_bytes": 24_000_000 + cam,
                "captured_at": at(30 + cam),
                "within_unlock_window": True,
                "capture_type": "facs" if cam % 2 else "face",
                "quarantined": False,
                "flag_reason": None,
            }
            for cam in range(files)
        ],
        "outcome": "captured",
        "started_at": at(0),
        "ended_at": at(301),
    }
    return RecordDraft.model_validate(data)


def refused_draft(index: int = 0, reason: str = "consent_missing") -> RecordDraft:
    """A refusal before confirmation: no consent found for the identified performer."""
    start = BASE_TIME + timedelta(minutes=10 * index)
    return RecordDraft.model_validate(
        {
            "production": {"production_id": "prod-aurora"},
            "capture_types_requested": ["body"],
            "performer": {"performer_id": "perf-0099"},
            "identification": {
                "method": "face",
                "distance": 0.29,
                "margin": 0.2,
                "frames_voted": 3,
                "liveness": {
                    "method": "challenge",
                    "passed": True,
                    "completed_at": utc_timestamp(start + timedelta(seconds=8)),
                    "attempt": 1,
                    "steps": [
                        {
                            "step": "blink",
                            "passed": True,
                            "reason": "the eyes closed and opened again",
                            "evidence": {"eye_ratio_baseline": 0.2874, "closed_frames": 3.0},
                        }
                    ],
                    "model": "mediapipe-face_landmark@1055cb9d4a9c",
                    "earlier_attempts": [],
                },
            },
            "outcome": "refused",
            "reason_codes": [reason],
            "outcome_detail": "No active consent for this production.",
            "started_at": utc_timestamp(start),
            "ended_at": utc_timestamp(start + timedelta(seconds=12)),
        }
    )


def draft_for(index: int) -> RecordDraft:
    """A mix of outcomes, as a real rig would write them."""
    return refused_draft(index) if index % 5 == 4 else captured_draft(index)
