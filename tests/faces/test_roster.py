"""Roster matching with synthetic vectors: threshold, margin, unknown, ties."""

from __future__ import annotations

import numpy as np
import pytest

from agent.faces.engine import ENCODING_SIZE
from agent.faces.roster import Performer, Roster, Template, judge_match, roster_from_vectors


def at(distance: float, axis: int = 0) -> np.ndarray:
    """A vector at exactly ``distance`` from the origin along ``axis``."""
    vector = np.zeros(ENCODING_SIZE)
    vector[axis] = distance
    return vector


ORIGIN = np.zeros(ENCODING_SIZE)


def test_nearest_uses_each_performers_closest_template() -> None:
    roster = roster_from_vectors(
        [
            ("a", "Ann", [at(0.9, 0), at(0.30, 1)]),
            ("b", "Bob", [at(0.45, 2)]),
            ("c", "Cy", [at(0.7, 3), at(0.8, 4), at(0.6, 5)]),
        ]
    )
    found = roster.nearest(ORIGIN)
    assert found is not None
    assert found.performer.performer_id == "a"
    assert found.template.template_id == "a/2"
    assert found.template.version == 2
    assert found.distance == pytest.approx(0.30)
    assert found.second_performer_id == "b"
    assert found.margin == pytest.approx(0.15)
    assert roster.distances(ORIGIN) == pytest.approx([0.9, 0.3, 0.45, 0.7, 0.8, 0.6])


def test_threshold_is_inclusive_and_strict_above() -> None:
    roster = roster_from_vectors([("a", "Ann", [at(0.5)]), ("b", "Bob", [at(0.9, 1)])])
    found = roster.nearest(ORIGIN)
    assert judge_match(found, max_distance=0.5, min_margin=0.08).accepted
    verdict = judge_match(found, max_distance=0.49, min_margin=0.08)
    assert not verdict.accepted
    assert "does not match anyone closely enough" in verdict.reason


def test_margin_below_minimum_is_ambiguous() -> None:
    roster = roster_from_vectors([("a", "Ann", [at(0.30)]), ("b", "Bob", [at(0.35, 1)])])
    found = roster.nearest(ORIGIN)
    assert found is not None and found.margin == pytest.approx(0.05)
    verdict = judge_match(found, max_distance=0.5, min_margin=0.08)
    assert not verdict.accepted
    assert "ambiguous" in verdict.reason
    assert judge_match(found, max_distance=0.5, min_margin=0.04).accepted


def test_exact_tie_is_never_a_match_even_without_margin() -> None:
    roster = roster_from_vectors([("a", "Ann", [at(0.3, 0)]), ("b", "Bob", [at(0.3, 1)])])
    found = roster.nearest(ORIGIN)
    assert found is not None and found.margin == 0.0
    assert not judge_match(found, max_distance=0.5, min_margin=0.0).accepted


def test_single_performer_has_no_margin_and_only_the_threshold_applies() -> None:
    roster = roster_from_vectors([("a", "Ann", [at(0.2), at(0.4, 1)])])
    found = roster.nearest(ORIGIN)
    assert found is not None
    assert found.margin is None and found.second_distance is None
    assert judge_match(found, max_distance=0.5, min_margin=0.3).accepted


def test_empty_roster_gives_no_match() -> None:
    roster = Roster([])
    assert len(roster) == 0 and roster.template_count == 0
    assert roster.nearest(ORIGIN) is None
    verdict = judge_match(None, max_distance=0.5, min_margin=0.1)
    assert not verdict.accepted and "nobody is enrolled" in verdict.reason


def test_performers_without_templates_are_left_out() -> None:
    roster = Roster([Performer("a", "Ann", ()), Performer("b", "Bob", (Template("t", 1, at(0.1)),))])
    assert [p.performer_id for p in roster.performers] == ["b"]
    assert roster.get("a") is None


def test_bad_vectors_and_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="128 finite numbers"):
        Template("t", 1, np.zeros(5))
    bad = np.zeros(ENCODING_SIZE)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        Template("t", 1, bad)
    with pytest.raises(ValueError, match="more than once"):
        roster_from_vectors([("a", "A", [at(0.1)]), ("a", "A again", [at(0.2)])])


def test_template_vectors_are_read_only() -> None:
    template = Template("t", 1, at(0.1))
    with pytest.raises(ValueError, match="read-only"):
        template.vector[0] = 5.0


def test_matches_brute_force_on_random_roster() -> None:
    rng = np.random.default_rng(7)
    entries = [
        (f"p{i}", f"P {i}", list(rng.normal(0, 0.1, (int(rng.integers(1, 5)), ENCODING_SIZE))))
        for i in range(200)
    ]
    roster = roster_from_vectors(entries)
    for _ in range(20):
        probe = rng.normal(0, 0.1, ENCODING_SIZE)
        per_performer = sorted(
            (min(float(np.linalg.norm(v - probe)) for v in vectors), pid) for pid, _, vectors in entries
        )
        found = roster.nearest(probe)
        assert found is not None
        assert found.performer.performer_id == per_performer[0][1]
        assert found.distance == pytest.approx(per_performer[0][0])
        assert found.second_distance == pytest.approx(per_performer[1][0])
