"""Turning untrusted image bytes into an upright RGB picture, or a clear refusal. No Streamlit here.

Uploads and camera shots arrive as bytes of unknown quality. `load_image` reads only the
formats the page accepts, refuses decompression bombs from the header alone (before a
single pixel is decoded), reports truncated or non-image files in words, and converts
every pixel format (CMYK, RGBA, palette, 16-bit, greyscale) to RGB, upright per its
EXIF orientation. The bundled photo gallery is read through the same function.

One upload must not cost the shared server more than its share of memory: a small PNG can
hold a huge picture. So the decoded picture is the only full-size buffer: a JPEG is decoded
at a reduced scale, a picture larger than MAX_DECODED_IMAGE_MB decoded is refused from its
header, and every conversion (to 8 bits, onto white, to RGB) and the shrinking run tile
by tile, so no full-size copy is ever made.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, UnidentifiedImageError

from models.limits import MAX_DECODED_IMAGE_MB, MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_UPLOAD_MB

# What st.file_uploader offers, and the only decoders PIL may use on untrusted bytes.
UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "gif")
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

GALLERY_DIR = Path(__file__).resolve().parent.parent / "assets" / "images"

_EXIF_ORIENTATION = 0x0112
_BACKGROUND = (255, 255, 255)  # transparent areas become white, as on a web page
_HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
_ONE_BYTE_MODES = ("1", "L", "P")  # PIL stores these in one byte per pixel, 16-bit modes in two, others in four
_TRANSPARENT_MODES = ("RGBA", "LA", "PA", "RGBa", "La")
# Pixels converted at a time: tiles of about 1 megapixel (4 MB in RGB) keep conversions small.
_TILE_PIXELS = 1 << 20
# EXIF orientation tag value → the transposition that turns the picture upright (as ImageOps.exif_transpose).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


class ImageRejected(ValueError):
    """An input that cannot be used; `reason` is a sentence for people (never contains user text)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class LoadedImage:
    """A picture ready for CLIP.

    `image` is RGB, upright, its longest side at most MAX_IMAGE_SIDE. `original_size` is
    (width, height) as stored in the file; `notes` says what was done to get here
    (conversions, rotation, first GIF frame), in words for people. `digest` identifies the
    bytes (a cache key).
    """

    name: str
    image: Image.Image
    original_format: str
    original_mode: str
    original_size: tuple[int, int]
    notes: tuple[str, ...]
    digest: str


def load_image(
    data: bytes,
    name: str,
    *,
    max_bytes: int = MAX_UPLOAD_MB * 1024 * 1024,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_side: int = MAX_IMAGE_SIDE,
    max_decoded_mb: float = MAX_DECODED_IMAGE_MB,
) -> LoadedImage:
    """Decode `data` safely; raises ImageRejected with a reason a student can act on."""
    if not data:
        raise ImageRejected("The file is empty (0 bytes). Choose another file.")
    if len(data) > max_bytes:
        raise ImageRejected(
            f"The file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.0f} MB. Shrink it first."
        )
    image = _open(data, max_pixels)
    notes: list[str] = []
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"Animated image: using the first of its {frames} frames.")
    original = (image.format or "unknown", image.mode, image.size)
    if image.format == "JPEG":
        # Decode at 1/2, 1/4 or 1/8 scale when that still covers `max_side`: a large photo
        # then costs a fraction of the memory and time.
        image.draft(None, (max_side, max_side))
    _check_decoded_size(image, max_decoded_mb)
    orientation = _orientation(image, notes)  # read now: the converted picture no longer carries the EXIF data
    _decode(image)
    image = _small_rgb(image, max_side, notes)
    if max(original[2]) > max_side:
        notes.append(f"Shrunk to {image.width} × {image.height} pixels (CLIP itself sees 224 × 224).")
    if orientation in _UPRIGHT:
        image = image.transpose(_UPRIGHT[orientation])
        notes.append("Turned upright using the photo's EXIF orientation tag.")
    return LoadedImage(
        name=name,
        image=image,
        original_format=original[0],
        original_mode=original[1],
        original_size=original[2],
        notes=tuple(notes),
        digest=hashlib.sha256(data).hexdigest(),
    )


def _open(data: bytes, max_pixels: int) -> Image.Image:
    """Read the header only, and refuse what is not an allowed image or is too large to decode."""
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        # PIL's own guard fires at twice its default limit, before decoding anything.
        raise ImageRejected(_too_many_pixels_reason(None, max_pixels)) from None
    except UnidentifiedImageError:
        raise ImageRejected("This file is not an image we can read. Use a JPEG, PNG, WebP or GIF file.") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise ImageRejected(
            "The file is truncated or damaged: its image header cannot be read. Save or download it again."
        ) from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageRejected(_too_many_pixels_reason((width, height), max_pixels))
    if width == 0 or height == 0:
        raise ImageRejected("The image has no pixels (a width or height of 0).")
    return image


def _too_many_pixels_reason(size: tuple[int, int] | None, max_pixels: int) -> str:
    said = f"{size[0]:,} × {size[1]:,} pixels" if size else "too many pixels"
    return (
        f"This image is {said}, more than the limit of {max_pixels / 1e6:.0f} megapixels. "
        "Decoding it could exhaust the server's memory (a 'decompression bomb'), so it was not opened. "
        "Shrink the image and upload it again."
    )


def _decode(image: Image.Image) -> None:
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError):
        # PIL says "image file is truncated" or names the broken chunk: either way it is incomplete.
        raise ImageRejected(
            "The image is truncated or damaged (the file ends early or its data is corrupt). "
            "Save or download it again, then upload it."
        ) from None


def _check_decoded_size(image: Image.Image, max_decoded_mb: float) -> None:
    """Refuse, from the header, a picture whose decoded pixels alone would take more than `max_decoded_mb`."""
    mode = image.mode
    per_pixel = 1 if mode in _ONE_BYTE_MODES else 2 if mode.startswith("I;16") else 4
    width, height = image.size
    decoded_mb = width * height * per_pixel / 2**20
    if decoded_mb > max_decoded_mb:
        raise ImageRejected(
            f"This {image.format or 'image'} is {width:,} × {height:,} pixels: decoding it would take "
            f"{decoded_mb:.0f} MB of the server's memory, which the whole class shares (the most one picture may "
            f"take is {max_decoded_mb:.0f} MB). Shrink it to about {_side_within(max_decoded_mb, per_pixel):,} "
            "pixels on its longest side, or save it as a JPEG, then upload it again."
        )


def _side_within(max_decoded_mb: float, per_pixel: int) -> int:
    return int((max_decoded_mb * 2**20 / per_pixel) ** 0.5) // 100 * 100


def _orientation(image: Image.Image, notes: list[str]) -> int:
    """The EXIF orientation tag (1, upright, when there is none), as phone cameras expect viewers to apply it."""
    try:
        return int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        notes.append("The photo's EXIF data is malformed, so its orientation tag was ignored.")
        return 1


def _small_rgb(image: Image.Image, max_side: int, notes: list[str]) -> Image.Image:
    """The picture in RGB, its longest side at most `max_side`, made tile by tile: no full-size copy.

    Each tile is converted to RGB, then box-averaged by a whole factor (the first, cheap step of a
    shrink, as PIL's thumbnail does); the small result then gets the final, sharp LANCZOS resize.
    """
    to_rgb = _rgb_converter(image, notes)
    width, height = image.size
    factor = max(1, max(width, height) // max_side) if max(width, height) > max_side else 1
    if factor == 1 and max(width, height) <= max_side:
        return to_rgb(image)
    side = max(factor, math.isqrt(_TILE_PIXELS) // factor * factor)  # a whole number of factors
    small = Image.new("RGB", (-(-width // factor), -(-height // factor)))
    for top in range(0, height, side):
        for left in range(0, width, side):
            tile = to_rgb(image.crop((left, top, min(width, left + side), min(height, top + side))))
            small.paste(tile.reduce(factor) if factor > 1 else tile, (left // factor, top // factor))
    if max(small.size) > max_side:
        small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return small


def _rgb_converter(image: Image.Image, notes: list[str]) -> Callable[[Image.Image], Image.Image]:
    """A function that turns a piece of `image` into RGB, and a note saying what it does."""
    mode = image.mode
    if mode == "RGB":
        return lambda piece: piece
    if mode in _HIGH_BIT_MODES:
        notes.append(f"Converted from {mode} (high bit depth greyscale) to 8-bit RGB.")
        low, high = _high_bit_range(image)
        return lambda piece: _high_bit_to_rgb(piece, low, high)
    if mode in _TRANSPARENT_MODES or (mode == "P" and "transparency" in image.info):
        notes.append(f"Converted from {mode}: transparent areas are filled with white.")
        return _onto_white
    words = {"L": "greyscale", "1": "black and white", "P": "a palette", "CMYK": "CMYK"}
    notes.append(f"Converted from {words.get(mode, mode)} to RGB.")
    return lambda piece: piece.convert("RGB")


def _onto_white(piece: Image.Image) -> Image.Image:
    rgba = piece.convert("RGBA")
    background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")


def _high_bit_range(image: Image.Image) -> tuple[float, float]:
    """The values that map to black and white: 16-bit data spans 0–65535, floats their own range; an integer
    image whose values all stay below 256 is 8-bit data in a wider container, and is kept as it is."""
    lowest, highest = image.getextrema()  # read in place: no copy of the picture
    if image.mode == "F":
        return float(lowest), float(highest)
    return 0.0, 65535.0 if highest > 255 else 255.0


def _high_bit_to_rgb(piece: Image.Image, low: float, high: float) -> Image.Image:
    """Scale to 0–255 (PIL's own convert would clip 16-bit data to white)."""
    values = np.asarray(piece, dtype=np.float32)
    scaled = (values - low) / max(high - low, 1e-12) * 255.0
    grey = Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8))
    return grey.convert("RGB")


# ---------------------------------------------------------------------------------------
# The bundled gallery (written by scripts/make_sample_images.py)


@dataclass(frozen=True)
class GalleryPhoto:
    """One bundled photo, with the label and caption the page suggests for it."""

    file: str
    title: str
    label: str
    caption: str
    source: str
    licence: str


def gallery(folder: Path = GALLERY_DIR) -> tuple[GalleryPhoto, ...]:
    """The photos listed in `folder`/gallery.json, in its order."""
    rows = json.loads((folder / "gallery.json").read_text(encoding="utf-8"))
    return tuple(GalleryPhoto(**row) for row in rows)


def load_gallery_photo(photo: GalleryPhoto, folder: Path = GALLERY_DIR) -> LoadedImage:
    return load_image((folder / photo.file).read_bytes(), photo.title)
