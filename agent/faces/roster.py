"""The roster: performers and their face templates, matched with vectorised numpy.

A :class:`Roster` is immutable and held in memory for a session. Where it comes
from is a :class:`RosterSource`: the local :class:`~agent.faces.store.TemplateStore`
today, the consent registry's roster endpoint later, both through the same protocol.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from agent.faces.engine import ENCODING_SIZE, MODEL_NAME, Encoding


@dataclass(frozen=True, eq=False)
class Template:
    """One face encoding of a performer, with the id and version recorded in session logs."""

    template_id: str
    version: int
    vector: Encoding

    def __post_init__(self) -> None:
        vector = np.array(self.vector, dtype=np.float64)
        if vector.shape != (ENCODING_SIZE,) or not np.all(np.isfinite(vector)):
            raise ValueError(f"template {self.template_id!r}: expected {ENCODING_SIZE} finite numbers")
        vector.setflags(write=False)
        object.__setattr__(self, "vector", vector)


@dataclass(frozen=True)
class Performer:
    """A performer on the roster: stable id, the name shown on screens, their templates."""

    performer_id: str
    display_name: str
    templates: tuple[Template, ...]


@dataclass(frozen=True)
class RosterMatch:
    """The nearest performer to a probe encoding and how clearly it won.

    ``margin`` is the second-nearest performer's distance minus the nearest one's;
    None when the roster has a single performer (nothing to be confused with).
    """

    performer: Performer
    template: Template
    distance: float
    second_performer_id: str | None
    second_distance: float | None

    @property
    def margin(self) -> float | None:
        """How much closer the best performer is than the runner-up (None: no runner-up)."""
        if self.second_distance is None:
            return None
        return self.second_distance - self.distance


class Roster:
    """An immutable set of performers whose templates are stacked once into one matrix.

    Matching a probe costs one matrix-vector product and a per-performer minimum,
    about a millisecond for 10,000 templates.
    """

    def __init__(self, performers: Iterable[Performer], *, model: str = MODEL_NAME) -> None:
        kept = tuple(p for p in performers if p.templates)
        ids = [p.performer_id for p in kept]
        if len(set(ids)) != len(ids):
            raise ValueError("a performer id appears more than once in the roster")
        self.model = model
        self._performers = kept
        self._by_id = {p.performer_id: p for p in kept}
        self._templates: tuple[Template, ...] = tuple(t for p in kept for t in p.templates)
        rows = [t.vector for t in self._templates]
        matrix = np.vstack(rows) if rows else np.zeros((0, ENCODING_SIZE))
        self._matrix = np.ascontiguousarray(matrix, dtype=np.float64)
        self._squared_norms = np.einsum("ij,ij->i", self._matrix, self._matrix)
        counts = [len(p.templates) for p in kept]
        # Templates of one performer are contiguous rows; these are the first row of each.
        self._starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.intp) if counts else None
        self._matrix.setflags(write=False)

    @property
    def performers(self) -> tuple[Performer, ...]:
        """Every performer with at least one template."""
        return self._performers

    @property
    def template_count(self) -> int:
        """Total number of templates."""
        return len(self._templates)

    def __len__(self) -> int:
        return len(self._performers)

    def get(self, performer_id: str) -> Performer | None:
        """The performer with this id, or None."""
        return self._by_id.get(performer_id)

    def distances(self, probe: Encoding) -> npt.NDArray[np.float64]:
        """Euclidean distance from ``probe`` to every template, in template order."""
        probe = np.asarray(probe, dtype=np.float64)
        squared = self._squared_norms - 2.0 * (self._matrix @ probe) + float(probe @ probe)
        result: npt.NDArray[np.float64] = np.sqrt(np.maximum(squared, 0.0))
        return result

    def nearest(self, probe: Encoding) -> RosterMatch | None:
        """The nearest performer (by their nearest template), or None for an empty roster."""
        if self._starts is None:
            return None
        distances = self.distances(probe)
        per_performer = np.minimum.reduceat(distances, self._starts)
        if len(per_performer) > 2:
            top_two = np.argpartition(per_performer, 1)[:2]
            order = top_two[np.argsort(per_performer[top_two], kind="stable")]
        else:
            order = np.argsort(per_performer, kind="stable")
        best = int(order[0])
        performer = self._performers[best]
        start = int(self._starts[best])
        local = int(np.argmin(distances[start : start + len(performer.templates)]))
        second_id: str | None = None
        second_distance: float | None = None
        if len(order) > 1:
            runner_up = int(order[1])
            second_id = self._performers[runner_up].performer_id
            second_distance = float(per_performer[runner_up])
        return RosterMatch(
            performer=performer,
            template=performer.templates[local],
            distance=float(per_performer[best]),
            second_performer_id=second_id,
            second_distance=second_distance,
        )


class RosterSource(Protocol):
    """Anything that can supply the roster for a session (local store, registry)."""

    def load_roster(self) -> Roster:
        """Load and return the current roster."""
        ...


@dataclass(frozen=True)
class MatchVerdict:
    """Whether a roster match is accepted under the thresholds, and why (plain language)."""

    accepted: bool
    reason: str


def judge_match(match: RosterMatch | None, *, max_distance: float, min_margin: float) -> MatchVerdict:
    """Apply the strict distance threshold and the margin over the runner-up.

    An exact tie with the runner-up is never accepted, even with ``min_margin`` 0.
    """
    if match is None:
        return MatchVerdict(False, "nobody is enrolled on the roster")
    name = match.performer.display_name
    if not math.isfinite(match.distance) or match.distance > max_distance:
        return MatchVerdict(
            False,
            f"face does not match anyone closely enough (nearest: {name} at distance"
            f" {match.distance:.3f}, limit {max_distance:.3f})",
        )
    margin = match.margin
    if margin is not None and (margin < min_margin or margin <= 0.0):
        return MatchVerdict(
            False,
            f"ambiguous: {name} at {match.distance:.3f} is not clearly closer than"
            f" {match.second_performer_id} at {match.second_distance:.3f}"
            f" (margin {margin:.3f}, need {min_margin:.3f})",
        )
    return MatchVerdict(True, f"matched {name} at distance {match.distance:.3f}")


def roster_from_vectors(entries: Sequence[tuple[str, str, Sequence[Encoding]]]) -> Roster:
    """Build a roster from (performer id, display name, encodings); for tests and benchmarks."""
    performers = [
        Performer(
            performer_id=pid,
            display_name=name,
            templates=tuple(
                Template(template_id=f"{pid}/{i + 1}", version=i + 1, vector=v) for i, v in enumerate(vectors)
            ),
        )
        for pid, name, vectors in entries
    ]
    return Roster(performers)
