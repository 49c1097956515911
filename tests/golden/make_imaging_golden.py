"""Regenerate tests/golden/imaging_golden.json (and, with --assets, tests/assets/imaging_*).

The golden file pins digest set 1 (provenance.imaging): every digest of a few corpus photos
(../shared/corpus) and of small synthetic assets that cover the unusual paths (CMYK JPEG,
16-bit PNG, palette + tRNS, LA, animations, EXIF orientation, TIFF, AVIF). It must only be
regenerated on purpose, together with a new DIGEST_SET, or after checking that a Pillow /
libjpeg-turbo / imagehash upgrade really changed decoded pixels. Assets are committed
bytes: regenerating them with another Pillow may give different files.

Usage (from the repository root)::

    python tests/golden/make_imaging_golden.py            # golden JSON from existing files
    python tests/golden/make_imaging_golden.py --assets   # rewrite the synthetic assets too
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

from PIL import Image, ImageOps, features
from PIL import __version__ as pillow_version

ROOT = Path(__file__).resolve().parents[2]
ASSETS = ROOT / "tests" / "assets"
CORPUS = ROOT.parent / "shared" / "corpus"
GOLDEN = Path(__file__).resolve().parent / "imaging_golden.json"

CORPUS_FILES = [
    "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg",  # 13 MP progressive JPEG
    "mate-backgrounds__Wood.jpg",  # 5 MP baseline JPEG, draft scale 1/2
    "opencv-doc__board.jpg",  # APP13/APP2 ICC/APP1 metadata
    "opencv-doc__left01.jpg",  # greyscale JPEG
    "opencv-doc__chicky_512.png",  # RGBA PNG with transparency
    "skimage__camera.png",  # greyscale PNG
    "mahotas__nuclear.png",  # 1344x1024 PNG: perceptual path reduces by 2
]


def pattern(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """A small deterministic RGB image with structure at several scales."""
    fractal = Image.effect_mandelbrot(size, (-2.0, -1.2, 1.0, 1.2), 64)
    ramp = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (fractal, ramp, ImageOps.invert(fractal)))


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def make_assets() -> dict[str, bytes]:
    base = pattern()
    mirrored = ImageOps.mirror(base)
    grey16 = Image.linear_gradient("L").resize((64, 48)).convert("I").point(lambda v: v * 257)
    grey16 = grey16.convert("I;16")
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    la = Image.merge("LA", (base.convert("L"), Image.linear_gradient("L").resize(base.size)))
    exif = Image.Exif()
    exif[0x0112] = 6
    assets = {
        "imaging_cmyk.jpg": encode(base.convert("CMYK"), "JPEG", quality=90),
        "imaging_gray16.png": encode(grey16, "PNG"),
        "imaging_gray16_trns.png": encode(grey16, "PNG", transparency=grey16.getpixel((0, 24))),
        "imaging_palette_trns.png": encode(palette, "PNG", transparency=3),
        "imaging_la.png": encode(la, "PNG"),
        "imaging_anim.gif": encode(
            base.convert("P", palette=Image.Palette.ADAPTIVE),
            "GIF",
            save_all=True,
            append_images=[mirrored.convert("P", palette=Image.Palette.ADAPTIVE)],
            duration=100,
            loop=0,
        ),
        "imaging_anim.webp": encode(
            base, "WEBP", save_all=True, append_images=[mirrored], lossless=True, duration=100
        ),
        "imaging_anim_apng.png": encode(base, "PNG", save_all=True, append_images=[mirrored]),
        "imaging_orient6.jpg": encode(base, "JPEG", quality=90, exif=exif.tobytes()),
        "imaging_deflate.tiff": encode(base, "TIFF", compression="tiff_deflate"),
    }
    if features.check("avif"):
        assets["imaging.avif"] = encode(base, "AVIF", quality=80)
    return assets


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assets", action="store_true", help="rewrite tests/assets/imaging_*")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from provenance import imaging

    if args.assets:
        ASSETS.mkdir(parents=True, exist_ok=True)
        for name, data in make_assets().items():
            (ASSETS / name).write_bytes(data)
            print(f"wrote tests/assets/{name} ({len(data)} bytes)")
    images: dict[str, dict[str, str | int]] = {}
    for name in CORPUS_FILES:
        images[f"corpus/{name}"] = imaging.digest_file(CORPUS / name).to_dict()
    for path in sorted(ASSETS.glob("imaging*")):
        images[f"assets/{path.name}"] = imaging.digest_file(path).to_dict()
    golden = {
        "digest_set": imaging.DIGEST_SET,
        "generated_with": {
            "pillow": pillow_version,
            "libjpeg_turbo": features.version("libjpeg_turbo"),
            "imagehash": _version("imagehash"),
            "scipy": _version("scipy"),
        },
        "images": images,
    }
    GOLDEN.write_text(json.dumps(golden, indent=2, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN.relative_to(ROOT)} ({len(images)} images)")
    return 0


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


if __name__ == "__main__":
    raise SystemExit(main())
