"""Loading still images into RGB arrays, with clear errors for bad files.

Every image that reaches the face pipeline goes through :func:`load_image`:
it applies the EXIF orientation (phone and webcam samples are often stored
rotated), converts grey, palette, RGBA, CMYK and 16-bit images to 8-bit RGB,
and refuses missing, non-image and truncated files with an
:class:`~agent.errors.InputError` that names the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from agent.errors import InputError

RGBImage = npt.NDArray[np.uint8]
"""An image as a (height, width, 3) uint8 array in RGB order."""

_JPEG_END_OF_IMAGE = b"\xff\xd9"
# How far from the end of a JPEG its end-of-image marker may sit (some cameras append
# a little metadata after it). Only consulted when PIL is told to accept truncated files.
_JPEG_TAIL_BYTES = 64 * 1024
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}
_CONVERTIBLE_MODES = {"1", "L", "P", "RGB", "RGBA", "LA", "PA", "RGBX", "CMYK", "YCbCr", "La", "RGBa"}


def load_image(path: Path | str) -> RGBImage:
    """Read an image file as an upright 8-bit RGB array.

    Raises:
        InputError: the path is missing or a folder, the file is not an image PIL can
            read, the image data is truncated, or its pixel mode cannot be converted.
    """
    path = Path(path)
    where = str(path)
    if not path.exists():
        raise InputError("file not found", where=where, hint="check the path")
    if not path.is_file():
        raise InputError("not a file", where=where, hint="give an image file, not a folder")
    try:
        with Image.open(path) as opened:
            _refuse_huge(opened, where)
            opened.load()
            image = ImageOps.exif_transpose(opened)
            image.load()
            image_format = opened.format
    except UnidentifiedImageError:
        raise InputError(
            "not an image file (or a format PIL cannot read)",
            where=where,
            hint="give a JPEG, PNG, BMP or WebP photo",
        ) from None
    except Image.DecompressionBombError as exc:
        raise InputError(f"image is implausibly large: {exc}", where=where) from None
    except OSError as exc:
        # PIL reports truncated and corrupt image data as OSError.
        raise InputError(
            f"image data is damaged or truncated ({exc})",
            where=where,
            hint="re-copy or re-export the photo",
        ) from None
    except (ValueError, SyntaxError, EOFError) as exc:
        raise InputError(f"image data is damaged ({exc})", where=where) from None
    if image_format == "JPEG" and ImageFile.LOAD_TRUNCATED_IMAGES:
        _refuse_truncated_jpeg(path)
    return to_rgb(image, where=where)


def _refuse_huge(image: Image.Image, where: str) -> None:
    """Refuse images beyond PIL's decompression-bomb limit before decoding them.

    Checked here rather than by turning PIL's warning into an error, because changing
    warning filters is process-wide and not thread-safe.
    """
    width, height = image.size
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        raise InputError(
            f"image is implausibly large ({width}x{height} pixels, limit {limit})",
            where=where,
            hint="scale the photo down before using it",
        )


def _refuse_truncated_jpeg(path: Path) -> None:
    """Check a JPEG's end marker ourselves when PIL was told to pad truncated files.

    ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES`` is process-wide; another library may
    have switched it on. A truncated face photo must never be silently padded.
    """
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - _JPEG_TAIL_BYTES))
        tail = handle.read()
    if _JPEG_END_OF_IMAGE not in tail:
        raise InputError(
            "image data is truncated (JPEG end-of-image marker missing)",
            where=str(path),
            hint="re-copy or re-export the photo",
        )


def to_rgb(image: Image.Image, *, where: str = "image") -> RGBImage:
    """Convert a loaded PIL image of any common mode to an 8-bit RGB array."""
    mode = image.mode
    if mode in _SIXTEEN_BIT_MODES:
        grey = np.asarray(image).astype(np.float64)
        # 16-bit grey PNGs open as "I;16" or "I"; scale the 16-bit range to 8 bits
        # instead of clipping (PIL's convert() would saturate everything above 255).
        scale = 255.0 / 65535.0 if grey.max(initial=0) > 255 else 1.0
        grey8 = np.clip(grey * scale + 0.5, 0, 255).astype(np.uint8)
        return np.ascontiguousarray(np.stack([grey8] * 3, axis=-1))
    if mode not in _CONVERTIBLE_MODES:
        raise InputError(
            f"unsupported pixel mode {mode!r}",
            where=where,
            hint="convert the image to 8-bit RGB or greyscale",
        )
    if mode in {"RGBA", "LA", "PA", "La", "RGBa"} or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = image.convert("RGB")
    array = np.asarray(rgb, dtype=np.uint8)
    if array.ndim != 3 or array.shape[2] != 3 or array.shape[0] == 0 or array.shape[1] == 0:
        raise InputError(f"image has unusable shape {array.shape}", where=where)
    return np.ascontiguousarray(array)
