"""Enrolling performers from photos into a template store (all photos or none)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from agent.errors import InputError, ScanGateError
from agent.faces.analysis import FaceAnalyser
from agent.faces.imaging import load_image
from agent.faces.store import EnrolmentSample, PerformerEnrolment, TemplateRecord, TemplateStore


class EnrolmentError(ScanGateError):
    """One or more enrolment photos cannot be used; nothing was enrolled."""


@dataclass(frozen=True)
class EnrolledImage:
    """A photo that became a template."""

    path: Path
    template: TemplateRecord
    face_height: int
    sharpness: float | None


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes, as hex."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def enrol_images(
    analyser: FaceAnalyser,
    store: TemplateStore,
    performer_id: str,
    images: Sequence[Path],
    *,
    display_name: str | None = None,
) -> list[EnrolledImage]:
    """Encode each photo's single face and add them to ``store`` as templates.

    Every photo must pass the same quality gate as identification (exactly one
    candidate subject, large and sharp enough). If any photo fails, nothing is
    written and an :class:`EnrolmentError` lists every failing photo and why.
    """
    if not images:
        raise EnrolmentError("no photos given", hint="pass one or more photos of the performer")
    return enrol_performers(analyser, store, [PerformerPhotos(performer_id, tuple(images), display_name)])[0]


@dataclass(frozen=True)
class PerformerPhotos:
    """The photos to enrol for one performer."""

    performer_id: str
    images: tuple[Path, ...]
    display_name: str | None = None


def enrol_performers(
    analyser: FaceAnalyser, store: TemplateStore, performers: Sequence[PerformerPhotos]
) -> list[list[EnrolledImage]]:
    """Enrol several performers in one store write: every photo of every performer, or nothing.

    Each photo is checked as :func:`enrol_images` does; if any photo of any performer
    fails, nothing is written and the :class:`EnrolmentError` lists every failing photo.
    Returns the enrolled photos per performer, in order.
    """
    if not performers:
        raise EnrolmentError("no performers given", hint="pass one or more folders of photos")
    problems: list[str] = []
    analysed: list[tuple[list[EnrolmentSample], list[tuple[Path, int, float | None]]]] = []
    for performer in performers:
        if not performer.images:
            problems.append(f"{performer.performer_id}: no photos found")
        samples, accepted = _analyse_photos(analyser, performer.images, problems)
        analysed.append((samples, accepted))
    if problems:
        count = len(problems)
        total = sum(len(p.images) for p in performers)
        raise EnrolmentError(
            f"{count} of {total} photo(s) cannot be used, nothing was enrolled:\n  - "
            + "\n  - ".join(problems),
            where=", ".join(p.performer_id for p in performers),
            hint="use well-lit, sharp, frontal photos with only the performer's face",
        )
    records = store.enrol_many(
        [
            PerformerEnrolment(p.performer_id, samples, p.display_name)
            for p, (samples, _) in zip(performers, analysed, strict=True)
        ]
    )
    return [
        [
            EnrolledImage(path=path, template=record, face_height=height, sharpness=sharpness)
            for (path, height, sharpness), record in zip(accepted, added, strict=True)
        ]
        for (_, accepted), added in zip(analysed, records, strict=True)
    ]


def _analyse_photos(
    analyser: FaceAnalyser, images: Sequence[Path], problems: list[str]
) -> tuple[list[EnrolmentSample], list[tuple[Path, int, float | None]]]:
    """Encode each photo's face; a photo that cannot be used adds to ``problems``."""
    samples: list[EnrolmentSample] = []
    accepted: list[tuple[Path, int, float | None]] = []
    for path in images:
        try:
            frame = load_image(path)
            digest = file_sha256(path)
        except InputError as exc:
            problems.append(exc.message())
            continue
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc}")
            continue
        observation = analyser.observe(frame)
        if observation.encoding is None or observation.box is None:
            decision = observation.refusal.value if observation.refusal else "error"
            problems.append(f"{path}: {decision}: {observation.reason}")
            continue
        samples.append(EnrolmentSample(encoding=observation.encoding, source_sha256=digest))
        accepted.append((path, observation.box.height, observation.sharpness))
    return samples, accepted
