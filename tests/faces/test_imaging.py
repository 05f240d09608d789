"""load_image: clear InputErrors for bad files, EXIF rotation, mode conversion."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from agent.errors import InputError
from agent.faces.imaging import load_image


def gradient(width: int = 64, height: int = 48) -> np.ndarray:
    x = np.linspace(0, 255, width, dtype=np.uint8)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = x
    image[..., 1] = 128
    image[: height // 2, :, 2] = 255
    return image


def write_jpeg(path: Path, image: np.ndarray) -> Path:
    Image.fromarray(image).save(path, quality=95)
    return path


def truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found") as caught:
        load_image(tmp_path / "nope.jpg")
    assert caught.value.where == str(tmp_path / "nope.jpg")


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a file"):
        load_image(tmp_path)


def test_text_file_renamed_jpg(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo\n")
    with pytest.raises(InputError, match="not an image file"):
        load_image(path)


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError, match="not an image file"):
        load_image(path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    big = np.random.default_rng(1).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    whole = write_jpeg(tmp_path / "whole.jpg", big)
    with pytest.raises(InputError, match="truncated"):
        load_image(truncated_copy(whole, tmp_path / "cut.jpg"))


def test_truncated_jpeg_refused_even_when_pil_pads_truncated_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = np.random.default_rng(2).integers(0, 255, (400, 400, 3), dtype=np.uint8)
    cut = truncated_copy(write_jpeg(tmp_path / "whole.jpg", big), tmp_path / "cut.jpg")
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(InputError, match="truncated"):
        load_image(cut)
    assert load_image(tmp_path / "whole.jpg").shape == (400, 400, 3)


def test_truncated_png(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, (300, 300, 3), dtype=np.uint8)).save(whole)
    with pytest.raises(InputError, match="damaged or truncated"):
        load_image(truncated_copy(whole, tmp_path / "cut.png"))


def test_rgb_jpeg_loads_as_uint8_rgb(tmp_path: Path) -> None:
    loaded = load_image(write_jpeg(tmp_path / "g.jpg", gradient()))
    assert loaded.dtype == np.uint8 and loaded.shape == (48, 64, 3)
    assert loaded[0, -1, 0] > 240 and loaded[0, 0, 2] > 240  # red ramp, blue top half: RGB order kept


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.fromarray(gradient(64, 48))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    assert load_image(path).shape == (64, 48, 3)


@pytest.mark.parametrize("mode", ["L", "P", "1", "CMYK", "LA"])
def test_common_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"m.{'jpg' if mode == 'CMYK' else 'png'}"
    Image.fromarray(gradient()).convert(mode).save(path)
    loaded = load_image(path)
    assert loaded.shape == (48, 64, 3) and loaded.dtype == np.uint8


def test_rgba_transparency_becomes_white(tmp_path: Path) -> None:
    rgba = np.zeros((10, 10, 4), dtype=np.uint8)
    rgba[..., 3] = 0
    rgba[:5, :, :] = [10, 20, 30, 255]
    path = tmp_path / "a.png"
    Image.fromarray(rgba, "RGBA").save(path)
    loaded = load_image(path)
    assert loaded[0, 0].tolist() == [10, 20, 30]
    assert loaded[9, 9].tolist() == [255, 255, 255]


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path: Path) -> None:
    grey = np.tile(np.linspace(0, 65535, 32, dtype=np.uint16), (8, 1))
    path = tmp_path / "g16.png"
    Image.fromarray(grey).save(path)
    loaded = load_image(path)
    assert loaded.shape == (8, 32, 3)
    assert loaded[0, 0, 0] == 0 and loaded[0, -1, 0] == 255
    assert 100 < loaded[0, 16, 0] < 155  # mid-grey stays mid-grey


def test_float_mode_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "f.tiff"
    Image.fromarray(np.ones((4, 4), dtype=np.float32)).save(path)
    with pytest.raises(InputError, match="unsupported pixel mode 'F'"):
        load_image(path)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_huge_image_is_refused_before_decoding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_jpeg(tmp_path / "big.jpg", gradient(64, 48))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)  # 3072 px: PIL only warns, we refuse
    with pytest.raises(InputError, match="implausibly large"):
        load_image(path)
