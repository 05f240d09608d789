"""The demo's stand-in clip is rendered once into an owner-only cache and linked into each demo folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pytest

from agent.errors import FaceEngineError
from agent.faces.roster import Roster
from agent.faces.settings import IdentificationSettings
from agent.faces.subprocess_identifier import SubprocessIdentifier
from registry.demo import environment
from registry.demo.environment import STAND_IN_CACHE_ENV, cached_stand_in_video, link_stand_in_video
from registry.stand_in import compute_stand_in_encoding, stand_in_frame, stand_in_portrait
from tests.biometric_scan import biometric_findings

SHORT = 0.2  # seconds of clip: 5 frames are enough to test the caching


def _no_rendering(path: Path, seconds: float = SHORT) -> Path:
    raise AssertionError(f"rendered again: {path}")


def test_the_clip_is_rendered_once_owner_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache" / "stand-in"
    first = cached_stand_in_video(SHORT, cache_dir=cache)
    assert first.parent == cache and first.stat().st_size > 0
    if os.name != "nt":
        assert stat.S_IMODE(first.stat().st_mode) == 0o600
        assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert [p.name for p in cache.iterdir()] == [first.name], "no partial file left behind"
    other = cached_stand_in_video(SHORT * 2, cache_dir=cache)
    assert other != first  # another content key
    monkeypatch.setattr(environment, "write_stand_in_video", _no_rendering)
    assert cached_stand_in_video(SHORT, cache_dir=cache) == first
    assert cached_stand_in_video(SHORT * 2, cache_dir=cache) == other


def test_a_failed_rendering_leaves_nothing_under_the_final_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(path: Path, seconds: float = SHORT) -> Path:
        path.write_bytes(b"half a clip")
        raise OSError("disk full")

    monkeypatch.setattr(environment, "write_stand_in_video", broken)
    with pytest.raises(OSError, match="disk full"):
        cached_stand_in_video(SHORT, cache_dir=tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_the_demo_folder_links_the_cached_clip_and_relinks_after_a_clean_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(STAND_IN_CACHE_ENV, str(tmp_path / "cache"))
    clip = tmp_path / "demo" / "stand-in" / "performer.avi"
    link_stand_in_video(clip)
    assert clip.is_symlink() and clip.resolve().parent == tmp_path / "cache"
    target = clip.resolve()
    target.unlink()  # the user cleaned their cache folder
    link_stand_in_video(clip)
    assert clip.is_symlink() and clip.resolve().is_file()


def test_without_a_usable_cache_the_clip_is_rendered_in_the_demo_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(STAND_IN_CACHE_ENV, str(blocker / "cache"))
    clip = tmp_path / "demo" / "stand-in" / "performer.avi"
    link_stand_in_video(clip)
    assert clip.is_file() and not clip.is_symlink() and clip.stat().st_size > 0


@pytest.mark.skipif(os.name == "nt", reason="symbolic links")
def test_the_cached_clip_is_allowed_only_as_the_named_stand_in_media(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the user cache folder (the default), the biometric-data check accepts the clip by its demo name only."""
    monkeypatch.delenv(STAND_IN_CACHE_ENV)
    clip = tmp_path / "demo" / "stand-in" / "performer.avi"
    link_stand_in_video(clip)
    cache_home = Path(os.environ["XDG_CACHE_HOME"])
    assert clip.resolve().is_relative_to(cache_home)
    assert biometric_findings(cache_home, stand_in_media=[clip]) == []
    (found,) = biometric_findings(cache_home)
    assert found.path == clip.resolve()


def test_the_stand_in_portrait_is_scikit_images_astronaut_pixel_for_pixel() -> None:
    import skimage.data  # only here: the demo reads the file without it

    assert np.array_equal(stand_in_portrait(), skimage.data.astronaut())  # type: ignore[no-untyped-call]


def test_the_identification_child_computes_the_stand_in_template_the_demo_always_used() -> None:
    """The demo loads the face models once, in the rig's identification child, which makes the template."""
    identifier = SubprocessIdentifier(IdentificationSettings(), Roster(()))
    try:
        template = identifier.encode(stand_in_frame())
        with pytest.raises(FaceEngineError, match="no face"):
            identifier.encode(np.full((720, 1280, 3), 40, np.uint8))
    finally:
        identifier.close()
    assert len(template) == 128
    assert np.allclose(template, compute_stand_in_encoding(), atol=1e-6)
