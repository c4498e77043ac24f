"""Safe image loading: every bad or unusual image the CLIP page can receive, built here with PIL."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from PIL import Image

from models import images
from models.images import GALLERY_DIR, ImageRejected, gallery, load_gallery_photo, load_image
from models.limits import MAX_IMAGE_PIXELS, MAX_IMAGE_SIDE
from tests.conftest import REPO_ROOT


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A valid small PNG whose header is rewritten to claim `width` × `height` pixels.

    Costs a few hundred bytes: exactly what a decompression bomb looks like before decoding.
    """
    data = bytearray(encoded(Image.new("L", (8, 8)), "PNG"))
    ihdr_start = 8 + 8  # signature, then the IHDR chunk's length and type
    struct.pack_into(">II", data, ihdr_start, width, height)
    crc = zlib.crc32(bytes(data[12 : ihdr_start + 13]))
    struct.pack_into(">I", data, ihdr_start + 13, crc)
    return bytes(data)


def photo(size=(60, 40)) -> Image.Image:
    """An RGB picture with a red left half, so orientation and colour can be checked."""
    array = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    array[:, : size[0] // 2] = (220, 20, 20)
    array[:, size[0] // 2 :] = (20, 20, 220)
    return Image.fromarray(array)


# -- refused, with a reason ----------------------------------------------------------


def test_empty_file_is_refused():
    with pytest.raises(ImageRejected, match="empty"):
        load_image(b"", "empty.jpg")


def test_non_image_bytes_are_refused():
    with pytest.raises(ImageRejected, match="not an image"):
        load_image(b"%PDF-1.7 this is a document, not a picture" * 10, "notes.jpg")


def test_disallowed_format_is_refused_even_if_pil_could_read_it():
    with pytest.raises(ImageRejected, match="JPEG, PNG, WebP or GIF"):
        load_image(encoded(photo(), "BMP"), "old.bmp")


def test_truncated_jpeg_is_refused():
    whole = encoded(photo((400, 300)), "JPEG", quality=90)
    with pytest.raises(ImageRejected, match="truncated"):
        load_image(whole[: len(whole) // 2], "half.jpg")


def test_20000_square_decompression_bomb_is_refused_before_decoding():
    bomb = png_declaring(20_000, 20_000)
    assert len(bomb) < 1_000
    with pytest.raises(ImageRejected, match="decompression bomb") as refused:
        load_image(bomb, "bomb.png")
    assert "megapixels" in refused.value.reason


def test_image_over_our_pixel_limit_is_refused_from_its_header():
    # Below PIL's own guard (2 × 89 megapixels) but above ours: our check must catch it.
    side = int((MAX_IMAGE_PIXELS * 1.5) ** 0.5)
    with pytest.raises(ImageRejected, match="decompression bomb") as refused:
        load_image(png_declaring(side, side), "big.png")
    assert f"{side:,} × {side:,}" in refused.value.reason


def test_file_over_the_byte_limit_is_refused():
    with pytest.raises(ImageRejected, match="limit is 1 MB"):
        load_image(b"\xff" * (2 * 1024 * 1024), "huge.jpg", max_bytes=1024 * 1024)


def test_reasons_never_contain_the_file_name():
    hostile = "<script>alert(1)</script>.png"
    for data in (b"", b"not an image", png_declaring(20_000, 20_000)):
        with pytest.raises(ImageRejected) as refused:
            load_image(data, hostile)
        assert "script" not in refused.value.reason


# -- converted to upright RGB ----------------------------------------------------------


@pytest.mark.parametrize(
    "mode, fmt, note",
    [
        ("CMYK", "JPEG", "CMYK"),
        ("RGBA", "PNG", "transparent"),
        ("P", "PNG", "palette"),
        ("L", "JPEG", "greyscale"),
        ("RGBA", "WEBP", "transparent"),
        ("1", "PNG", "black and white"),
        ("LA", "PNG", "transparent"),
    ],
)
def test_pixel_formats_become_rgb(mode, fmt, note):
    source = photo().convert(mode)
    if "A" in mode:
        source.putalpha(128)  # half transparent, so no encoder drops the alpha channel
    loaded = load_image(encoded(source, fmt), f"picture.{fmt.lower()}")
    assert loaded.image.mode == "RGB"
    assert loaded.image.size == source.size
    assert loaded.original_mode == mode
    assert any(note in line for line in loaded.notes)


def test_transparent_pixels_become_white():
    rgba = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    loaded = load_image(encoded(rgba, "PNG"), "clear.png")
    assert loaded.image.getpixel((5, 5)) == (255, 255, 255)


def test_palette_with_transparency_becomes_white():
    palette = Image.new("P", (10, 10), 0)
    palette.putpalette([0, 0, 0] * 256)
    loaded = load_image(encoded(palette, "PNG", transparency=0), "clear.png")
    assert loaded.image.getpixel((5, 5)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped():
    ramp = np.tile(np.linspace(0, 65535, 64).astype(np.uint16), (8, 1))
    source = Image.fromarray(ramp)  # uint16: mode "I;16"
    loaded = load_image(encoded(source, "PNG"), "depth.png")
    grey = np.asarray(loaded.image)[:, :, 0]
    assert grey[0, 0] == 0 and grey[0, -1] == 255
    # Mid-grey stays mid-grey: PIL's plain convert would have turned everything above 255 white.
    assert 100 < grey[0, 32] < 160
    assert any("bit depth" in line for line in loaded.notes)


def test_exif_rotated_photo_is_shown_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    source = photo((60, 40))
    loaded = load_image(encoded(source, "JPEG", exif=exif.tobytes(), quality=95), "phone.jpg")
    assert loaded.image.size == (40, 60)
    # Orientation 6: the stored left (red) edge ends up at the top.
    top = np.asarray(loaded.image)[:5].reshape(-1, 3).mean(axis=0)
    assert top[0] > 150 and top[2] < 80
    assert any("EXIF" in line for line in loaded.notes)


def test_animated_gif_uses_its_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = load_image(buffer.getvalue(), "anim.gif")
    red, green, blue = loaded.image.getpixel((10, 10))
    assert red > 200 and blue < 50
    assert any("first of its 3 frames" in line for line in loaded.notes)


def test_large_photo_is_shrunk_to_the_side_limit():
    source = photo((MAX_IMAGE_SIDE * 3, MAX_IMAGE_SIDE))
    loaded = load_image(encoded(source, "JPEG"), "wide.jpg")
    assert max(loaded.image.size) == MAX_IMAGE_SIDE
    assert loaded.original_size == source.size


def test_same_bytes_same_digest():
    data = encoded(photo(), "PNG")
    assert load_image(data, "a.png").digest == load_image(data, "b.png").digest


# -- the bundled gallery ---------------------------------------------------------------


def test_every_gallery_photo_loads_and_has_source_and_licence():
    photos = gallery()
    assert len(photos) >= 5
    sources = (GALLERY_DIR / "SOURCES.md").read_text(encoding="utf-8")
    for entry in photos:
        loaded = load_gallery_photo(entry)
        assert loaded.image.mode == "RGB"
        assert entry.file in sources and entry.licence in sources
        assert entry.licence and entry.source


def test_gallery_is_small():
    total = sum(path.stat().st_size for path in GALLERY_DIR.iterdir())
    assert total < 2 * 1024 * 1024


def imported_by(statement: str, names: tuple[str, ...]) -> list[str]:
    """Which of `names` a fresh interpreter has imported after running `statement`."""
    code = f"import sys; {statement}; print(','.join(n for n in {names!r} if n in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return [name for name in result.stdout.strip().split(",") if name]


def test_runtime_code_does_not_import_dev_only_packages():
    # scikit-image and matplotlib only made the gallery files (scripts/make_sample_images.py).
    assert imported_by("import models.images, models.zero_shot, ui.clip_charts", ("skimage", "matplotlib")) == []


def test_models_do_not_import_streamlit():
    assert imported_by("import models.images, models.zero_shot", ("streamlit",)) == []


@pytest.mark.parametrize("mode", ["RGBA", "I;16", "P", "CMYK"])
def test_tile_by_tile_conversion_equals_converting_the_whole_picture(mode):
    """The tiles (about 1 megapixel each, edges on whole reduction factors) give exactly what converting the
    whole picture, box-reducing it and resizing it would."""
    rng = np.random.default_rng(0)
    width, height = 3001, 2203  # not a multiple of anything: partial tiles at both edges
    noise = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    picture = Image.fromarray(noise, "RGBA")
    if mode == "I;16":
        picture = Image.fromarray((noise[..., 0].astype(np.uint16) * 257))
    elif mode != "RGBA":
        picture = picture.convert(mode)
    whole = {
        "RGBA": lambda: Image.alpha_composite(Image.new("RGBA", picture.size, (255, 255, 255, 255)), picture).convert(
            "RGB"
        ),
        "I;16": lambda: Image.fromarray(
            np.round(np.asarray(picture, dtype=np.float32) / 65535 * 255).astype(np.uint8)
        ).convert("RGB"),
        "P": lambda: picture.convert("RGB"),
        "CMYK": lambda: picture.convert("RGB"),
    }[mode]()
    expected = whole.reduce(max(width, height) // 500)
    expected.thumbnail((500, 500), Image.Resampling.LANCZOS)
    got = images._small_rgb(picture, 500, notes=[])
    assert got.size == expected.size
    assert np.array_equal(np.asarray(got), np.asarray(expected))
