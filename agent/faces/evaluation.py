"""Measuring identification accuracy on a labelled face folder.

Layout: ``<root>/<person>/<photo>`` (like ../shared/faces/identities). The
protocol: a seeded random half of the people is enrolled with
``enrol_per_person`` photos each; every other photo is a probe. Probes of
enrolled people are genuine; probes of people left out of the roster (and any
extra impostor photos) are impostors. A false accept is any match to the wrong
performer: an impostor matched to anyone, or an enrolled person matched to
somebody else. Used by the accuracy tests and the benchmark script.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.errors import InputError
from agent.faces.analysis import FaceAnalyser, FaceObservation
from agent.faces.decision import Decision
from agent.faces.identifier import match_observation
from agent.faces.imaging import load_image
from agent.faces.roster import Roster, roster_from_vectors
from agent.faces.settings import IdentificationSettings

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".pgm", ".tif", ".tiff"})


def list_identities(root: Path) -> dict[str, list[Path]]:
    """``{person: sorted photo paths}`` for every sub-folder of ``root`` holding images."""
    people: dict[str, list[Path]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            people[folder.name] = photos
    return people


def observe_all(analyser: FaceAnalyser, paths: Iterable[Path]) -> dict[Path, FaceObservation]:
    """Detect, gate and encode every photo once (unreadable photos count as no face)."""
    observed: dict[Path, FaceObservation] = {}
    for path in paths:
        try:
            frame = load_image(path)
        except InputError as exc:
            observed[path] = FaceObservation(refusal=Decision.NO_FACE, reason=f"unreadable: {exc.what}")
            continue
        observed[path] = analyser.observe(frame)
    return observed


@dataclass(frozen=True)
class Split:
    """Who is enrolled with which photos, and which photos probe the roster."""

    enrolment: dict[str, list[Path]]
    genuine_probes: list[tuple[Path, str]]
    impostor_probes: list[Path]


def make_split(
    identities: Mapping[str, Sequence[Path]],
    observations: Mapping[Path, FaceObservation],
    *,
    enrol_per_person: int = 2,
    enrolled_fraction: float = 0.5,
    seed: int = 0,
    extra_impostors: Sequence[Path] = (),
) -> Split:
    """A deterministic enrolment/probe split for ``seed``.

    Enrolment photos are drawn only from photos that passed the quality gate (an
    operator would retake a refused photo); a person with too few usable photos
    cannot be enrolled and probes as an impostor instead.
    """
    rng = random.Random(seed)
    people = sorted(identities)
    rng.shuffle(people)
    chosen = set(people[: int(len(people) * enrolled_fraction)])
    enrolment: dict[str, list[Path]] = {}
    genuine: list[tuple[Path, str]] = []
    impostors: list[Path] = list(extra_impostors)
    for person in sorted(identities):
        photos = list(identities[person])
        usable = [p for p in photos if observations[p].encoding is not None]
        if person in chosen and len(usable) >= enrol_per_person:
            picked = rng.sample(usable, enrol_per_person)
            enrolment[person] = picked
            genuine.extend((p, person) for p in photos if p not in picked)
        else:
            impostors.extend(photos)
    return Split(enrolment=enrolment, genuine_probes=genuine, impostor_probes=impostors)


def split_roster(split: Split, observations: Mapping[Path, FaceObservation]) -> Roster:
    """The roster enrolled from a split's enrolment photos."""
    entries = []
    for person, photos in sorted(split.enrolment.items()):
        vectors = [observations[p].encoding for p in photos]
        entries.append((person, person, [v for v in vectors if v is not None]))
    return roster_from_vectors(entries)


@dataclass
class Evaluation:
    """Counts and distances of one evaluation run."""

    genuine_probes: int = 0
    genuine_detected: int = 0
    genuine_accepted: int = 0
    impostor_probes: int = 0
    false_accepts: list[tuple[Path, str, float]] = field(default_factory=list)
    refusals: dict[str, int] = field(default_factory=dict)
    genuine_distances: list[float] = field(default_factory=list)
    impostor_distances: list[float] = field(default_factory=list)

    @property
    def genuine_accept_rate(self) -> float:
        """Genuine accepts over genuine probes in which a face was detected."""
        return self.genuine_accepted / self.genuine_detected if self.genuine_detected else 0.0

    @property
    def false_accept_rate(self) -> float:
        """False accepts over all probes that were matched against the roster or refused."""
        total = self.genuine_probes + self.impostor_probes
        return len(self.false_accepts) / total if total else 0.0


def evaluate(
    split: Split,
    observations: Mapping[Path, FaceObservation],
    settings: IdentificationSettings,
) -> Evaluation:
    """Match every probe of ``split`` under ``settings`` and count the outcomes."""
    roster = split_roster(split, observations)
    result = Evaluation()
    probes: list[tuple[Path, str | None]] = [
        *split.genuine_probes,
        *((p, None) for p in split.impostor_probes),
    ]
    for path, truth in probes:
        observation = observations[path]
        if truth is None:
            result.impostor_probes += 1
        else:
            result.genuine_probes += 1
            if observation.refusal is not Decision.NO_FACE:
                result.genuine_detected += 1
        if observation.refusal is not None:
            key = f"{'genuine' if truth else 'impostor'}_{observation.refusal.value}"
            result.refusals[key] = result.refusals.get(key, 0) + 1
        if observation.encoding is not None:
            _record_distances(result, roster, observation.encoding, truth)
        analysis = match_observation(observation, roster, settings)
        if analysis.decision is not Decision.MATCH or analysis.performer_id is None:
            continue
        if analysis.performer_id == truth:
            result.genuine_accepted += 1
        else:
            result.false_accepts.append((path, analysis.performer_id, float(analysis.distance or 0.0)))
    return result


def _record_distances(result: Evaluation, roster: Roster, encoding: np.ndarray, truth: str | None) -> None:
    distances = roster.distances(encoding)
    owners = [p.performer_id for p in roster.performers for _ in p.templates]
    own = [d for d, o in zip(distances, owners, strict=True) if o == truth]
    others = [d for d, o in zip(distances, owners, strict=True) if o != truth]
    if own:
        result.genuine_distances.append(float(min(own)))
    if others:
        result.impostor_distances.append(float(min(others)))
