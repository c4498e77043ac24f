"""Turning untrusted image bytes into an upright RGB picture, or a clear refusal. No Streamlit here.

Uploads and camera shots arrive as bytes of unknown quality. `load_image` reads only the
formats the page accepts, refuses decompression bombs from the header alone (before a
single pixel is decoded), reports truncated or non-image files in words, and converts
every pixel format (CMYK, RGBA, palette, 16-bit, greyscale) to RGB, upright per its
EXIF orientation. The bundled photo gallery is read through the same function.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from models.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE, MAX_UPLOAD_MB

# What st.file_uploader offers, and the only decoders PIL may use on untrusted bytes.
UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp", "gif")
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF")

GALLERY_DIR = Path(__file__).resolve().parent.parent / "assets" / "images"

_EXIF_ORIENTATION = 0x0112
_BACKGROUND = (255, 255, 255)  # transparent areas become white, as on a web page
_HIGH_BIT_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


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
    _decode(image)
    image = _upright(image, notes)
    image = _to_rgb(image, notes)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        notes.append(f"Shrunk to {image.width} × {image.height} pixels (CLIP itself sees 224 × 224).")
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
        raise ImageRejected(
            "This file is not an image we can read. Use a JPEG, PNG, WebP or GIF file."
        ) from None
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


def _upright(image: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation tag, as phone cameras expect viewers to."""
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
        if orientation in (2, 3, 4, 5, 6, 7, 8):
            image = ImageOps.exif_transpose(image)
            notes.append("Turned upright using the photo's EXIF orientation tag.")
    except (OSError, SyntaxError, ValueError, TypeError, KeyError):
        notes.append("The photo's EXIF data is malformed, so its orientation tag was ignored.")
    return image


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _HIGH_BIT_MODES:
        notes.append(f"Converted from {mode} (high bit depth greyscale) to 8-bit RGB.")
        return _high_bit_to_rgb(image)
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        notes.append(f"Converted from {mode}: transparent areas are filled with white.")
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, _BACKGROUND + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    words = {"L": "greyscale", "1": "black and white", "P": "a palette", "CMYK": "CMYK"}
    notes.append(f"Converted from {words.get(mode, mode)} to RGB.")
    return image.convert("RGB")


def _high_bit_to_rgb(image: Image.Image) -> Image.Image:
    """Scale 16-bit (or 32-bit) greyscale to 0–255; PIL's own convert would clip it to white."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        low, high = float(values.min()), float(values.max())
    else:
        # 16-bit data spans 0–65535; an integer image whose values all stay below 256 is 8-bit
        # data in a wider container, and is kept as it is.
        low, high = 0.0, 65535.0 if values.max() > 255 else 255.0
    scaled = (values - low) / max(high - low, 1e-12) * 255.0
    grey = Image.fromarray(np.clip(np.round(scaled), 0, 255).astype(np.uint8), mode="L")
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
