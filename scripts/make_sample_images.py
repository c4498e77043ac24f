"""Write the CLIP page's photo gallery: assets/images/*.jpg, gallery.json and SOURCES.md.

A developer runs this once; the app only reads the files it writes. scikit-image and
matplotlib (dev-only requirements) ship these photos; the app must not import either.

    python scripts/make_sample_images.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

ASSETS = Path(__file__).resolve().parent.parent / "assets" / "images"
MAX_SIDE = 512  # CLIP sees 224 × 224; 512 keeps the gallery sharp on a projector and small on disk
JPEG_QUALITY = 85

SKIMAGE_SOURCE = "scikit-image sample data, skimage.data.{name}()"

# One row per photo: file, title, caption (for the similarity matrix), loader, source, licence.
PHOTOS = (
    {
        "file": "chelsea.jpg",
        "title": "Chelsea the cat",
        "label": "cat",
        "caption": "a photo of a cat",
        "loader": ("skimage", "chelsea"),
        "source": SKIMAGE_SOURCE.format(name="chelsea"),
        "licence": "CC0 by the photographer (Stefan van der Walt): no copyright restrictions",
    },
    {
        "file": "astronaut.jpg",
        "title": "Astronaut Eileen Collins",
        "label": "astronaut",
        "caption": "a photo of an astronaut",
        "loader": ("skimage", "astronaut"),
        "source": SKIMAGE_SOURCE.format(name="astronaut")
        + "; originally NASA Great Images database, https://flic.kr/p/r9qvLn",
        "licence": "Public domain (NASA): no known copyright restrictions",
    },
    {
        "file": "coffee.jpg",
        "title": "Coffee cup",
        "label": "cup of coffee",
        "caption": "a photo of a cup of coffee",
        "loader": ("skimage", "coffee"),
        "source": SKIMAGE_SOURCE.format(name="coffee") + "; courtesy of Pikolo Espresso Bar",
        "licence": "CC0 by the photographer (Rachel Michetti): no copyright restrictions",
    },
    {
        "file": "rocket.jpg",
        "title": "Falcon 9 launching DSCOVR",
        "label": "rocket",
        "caption": "a photo of a rocket launch",
        "loader": ("skimage", "rocket"),
        "source": SKIMAGE_SOURCE.format(name="rocket")
        + "; originally SpaceX Photos, https://www.flickr.com/photos/spacexphotos/16511594820/",
        "licence": "Public domain: released into the public domain by SpaceX (2015)",
    },
    {
        "file": "grace_hopper.jpg",
        "title": "Grace Hopper",
        "label": "naval officer",
        "caption": "a portrait of a naval officer",
        "loader": ("matplotlib", "grace_hopper.jpg"),
        "source": "matplotlib sample data, mpl-data/sample_data/grace_hopper.jpg "
        "(added in https://github.com/matplotlib/matplotlib/pull/1599 as a public-domain photo)",
        "licence": "Public domain: an official US Navy photograph, a work of the US federal government",
    },
    {
        "file": "camera.jpg",
        "title": "Photographer with a camera (greyscale)",
        "label": "photographer",
        "caption": "a black and white photo of a photographer",
        "loader": ("skimage", "camera"),
        "source": SKIMAGE_SOURCE.format(name="camera"),
        "licence": "CC0 by the photographer (Lav Varshney): no copyright restrictions",
    },
    {
        "file": "coins.jpg",
        "title": "Greek coins from Pompeii (greyscale)",
        "label": "coins",
        "caption": "a photo of old coins",
        "loader": ("skimage", "coins"),
        "source": SKIMAGE_SOURCE.format(name="coins")
        + "; originally Brooklyn Museum Collection, https://www.brooklynmuseum.org/opencollection/archives/image/51611",
        "licence": "No known copyright restrictions",
    },
    {
        "file": "hubble_deep_field.jpg",
        "title": "Hubble eXtreme Deep Field",
        "label": "galaxy",
        "caption": "a photo of galaxies in deep space",
        "loader": ("skimage", "hubble_deep_field"),
        "source": SKIMAGE_SOURCE.format(name="hubble_deep_field")
        + "; originally HubbleSite, http://hubblesite.org/newscenter/archive/releases/2012/37/image/a/",
        "licence": "Public domain (NASA)",
    },
)


def _read(loader: tuple[str, str]) -> Image.Image:
    library, name = loader
    if library == "skimage":
        import skimage.data

        return Image.fromarray(np.asarray(getattr(skimage.data, name)()))
    from matplotlib import cbook

    return Image.open(cbook.get_sample_data(name, asfileobj=False))


def main() -> None:
    ASSETS.mkdir(parents=True, exist_ok=True)
    gallery = []
    for photo in PHOTOS:
        image = _read(photo["loader"])
        # Greyscale photos stay one-channel JPEGs: smaller, and the app's loader converts them.
        image = image if image.mode in ("L", "RGB") else image.convert("RGB")
        image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
        image.save(ASSETS / photo["file"], "JPEG", quality=JPEG_QUALITY, optimize=True)
        gallery.append({key: photo[key] for key in ("file", "title", "label", "caption", "source", "licence")})
    (ASSETS / "gallery.json").write_text(json.dumps(gallery, indent=2, ensure_ascii=False) + "\n")
    lines = [
        "# Sample photos: sources and licences",
        "",
        "Written by `scripts/make_sample_images.py` from the photos that scikit-image 0.26 and matplotlib 3.11 "
        "ship (each licence as stated in the scikit-image function's docstring, or for matplotlib's photo in "
        "the pull request that added it), "
        f"converted to JPEG (quality {JPEG_QUALITY}) with the longest side at most {MAX_SIDE} pixels. "
        "`gallery.json` holds the same list for the app.",
        "",
        "| file | what it shows | source | licence |",
        "| --- | --- | --- | --- |",
    ]
    lines += [f"| {p['file']} | {p['title']} | {p['source']} | {p['licence']} |" for p in PHOTOS]
    (ASSETS / "SOURCES.md").write_text("\n".join(lines) + "\n")
    total = sum(path.stat().st_size for path in ASSETS.iterdir())
    print(f"Wrote {len(PHOTOS)} photos to {ASSETS} ({total / 1024:.0f} KiB in all)")


if __name__ == "__main__":
    main()
