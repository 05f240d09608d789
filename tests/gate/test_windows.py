"""Unlock windows (pure) and the quarantine helper (real files)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.gate.errors import QuarantineError
from agent.gate.windows import UnlockWindows, WindowVerdict, quarantine_file, sha256_file


def test_classify_half_open_windows_per_session() -> None:
    windows = UnlockWindows()
    windows.open("a", 10.0)
    windows.close(20.0)
    windows.open("b", 30.0)
    assert windows.classify(9.99) is WindowVerdict.OUTSIDE
    assert windows.classify(10.0) is WindowVerdict.INSIDE
    assert windows.classify(19.99) is WindowVerdict.INSIDE
    assert windows.classify(20.0) is WindowVerdict.OUTSIDE  # [start, end)
    assert windows.classify(25.0) is WindowVerdict.OUTSIDE
    assert windows.classify(1e9) is WindowVerdict.INSIDE  # "b" is still open
    assert windows.classify(15.0, session_id="b") is WindowVerdict.OUTSIDE
    assert windows.classify(15.0, session_id="a") is WindowVerdict.INSIDE


def test_grace_extends_only_closed_windows_end() -> None:
    windows = UnlockWindows()
    windows.open("a", 10.0)
    windows.close(20.0)
    assert windows.classify(21.0, grace=2.0) is WindowVerdict.INSIDE
    assert windows.classify(22.0, grace=2.0) is WindowVerdict.OUTSIDE
    assert windows.classify(9.0, grace=2.0) is WindowVerdict.OUTSIDE


def test_covers_needs_one_window_for_the_whole_interval() -> None:
    windows = UnlockWindows()
    windows.open("a", 0.0)
    windows.open("a", 5.0)  # re-unlock: closes the first window at 5
    windows.close(10.0)
    assert windows.covers(1.0, 4.0)
    assert not windows.covers(4.0, 6.0)  # spans two windows: a lock/unlock happened meanwhile
    assert not windows.covers(9.0, 11.0)
    assert not windows.covers(3.0, 2.0)


def test_windows_must_open_in_time_order() -> None:
    windows = UnlockWindows()
    windows.open("a", 5.0)
    with pytest.raises(ValueError, match="time order"):
        windows.open("a", 4.0)


events = st.lists(
    st.tuples(st.sampled_from(["open", "close"]), st.floats(min_value=0.0, max_value=50.0)),
    max_size=20,
)


@given(events, st.floats(min_value=-5.0, max_value=60.0))
def test_classify_matches_a_brute_force_model(steps: list[tuple[str, float]], probe: float) -> None:
    windows = UnlockWindows()
    intervals: list[list[float]] = []  # the model: [start, end] with end = inf while open
    clock = 0.0
    for action, delta in steps:
        clock += delta
        if action == "open":
            if intervals and intervals[-1][1] == float("inf"):
                intervals[-1][1] = clock
            intervals.append([clock, float("inf")])
            windows.open("s", clock)
        else:
            if intervals and intervals[-1][1] == float("inf"):
                intervals[-1][1] = clock
            windows.close(clock)
    expected = any(start <= probe < end for start, end in intervals)
    assert (windows.classify(probe) is WindowVerdict.INSIDE) == expected


def test_quarantine_moves_file_and_writes_sidecar(tmp_path: Path) -> None:
    source = tmp_path / "shot.jpg"
    source.write_bytes(b"captured while locked")
    digest = sha256_file(source)
    target = quarantine_file(
        source, tmp_path / "q", reason="captured outside an unlock window", details={"photo_id": "p1"}
    )
    assert not source.exists()
    assert target == tmp_path / "q" / "shot.jpg"
    assert target.read_bytes() == b"captured while locked"
    sidecar = json.loads((tmp_path / "q" / "shot.jpg.quarantine.json").read_text())
    assert sidecar["reason"] == "captured outside an unlock window"
    assert sidecar["sha256"] == digest
    assert sidecar["original_path"] == str(source)
    assert sidecar["photo_id"] == "p1"


def test_quarantine_never_overwrites_an_earlier_file(tmp_path: Path) -> None:
    for content in (b"first", b"second"):
        source = tmp_path / "shot.jpg"
        source.write_bytes(content)
        quarantine_file(source, tmp_path / "q", reason="outside")
    assert (tmp_path / "q" / "shot.jpg").read_bytes() == b"first"
    assert (tmp_path / "q" / "shot.1.jpg").read_bytes() == b"second"
    assert (tmp_path / "q" / "shot.1.jpg.quarantine.json").is_file()


def test_quarantine_of_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(QuarantineError, match="no such file"):
        quarantine_file(tmp_path / "gone.jpg", tmp_path / "q", reason="outside")
