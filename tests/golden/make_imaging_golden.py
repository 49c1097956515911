"""Regenerate tests/golden/imaging_golden.json (and, with --assets, missing tests/assets/imaging_*).

The golden file pins the digests of provenance.imaging for a few corpus photos
(../shared/corpus) and small synthetic assets that cover the unusual paths (CMYK JPEG,
16-bit PNG, palette + tRNS, LA, animations, an APNG with a hidden default image, EXIF
orientation in JPEG and WebP, a non-sRGB ICC profile, TIFF, AVIF). For each image it holds:

* ``asset``: the record asset of the current digest set (``digest_bytes(...).to_json()``:
  sha256, content, phash64, phash256, pdq, frames, width, height, format);
* ``pdq_quality``: PDQ's quality figure (not recorded, but part of the pinned pipeline);
* ``v1``: digest set 1's ``pixels`` (``pixel_digest_v1``) and perceptual hashes
  (``ImageProbe.perceptual_for(1)``). Records made before digest set 2 carry these values,
  so they must never move: when the previous golden file already has them (in this layout,
  or digest set 1's flat layout), they are *kept*, and the script stops with an error if
  the library no longer reproduces them.

Regenerate only on purpose, together with a new DIGEST_SET, or after checking that a Pillow /
libjpeg-turbo / LittleCMS upgrade really changed decoded pixels. Assets are committed bytes:
regenerating them with another Pillow may give different files, so ``--assets`` only writes
the assets that are missing (``--rewrite-assets`` rewrites every one).

Usage (from the repository root)::

    python tests/golden/make_imaging_golden.py            # golden JSON from existing files
    python tests/golden/make_imaging_golden.py --assets   # write missing synthetic assets too
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
from pathlib import Path
from typing import Any

from PIL import Image, ImageCms, ImageOps, features
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


# --- ICC profiles that do not render like sRGB (built by editing an sRGB profile) ---------


def srgb_profile() -> bytes:
    """LittleCMS's built-in sRGB profile (renders like sRGB: no profile, to a viewer)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _icc_tags(profile: bytes) -> dict[bytes, int]:
    """{tag signature: offset of its entry in the tag table}."""
    (count,) = struct.unpack_from(">I", profile, 128)
    return {profile[132 + 12 * i : 136 + 12 * i]: 132 + 12 * i for i in range(count)}


def swap_primaries(profile: bytes) -> bytes:
    """The same profile with its red and blue primaries exchanged (a viewer shows red as
    blue and blue as red)."""
    out = bytearray(profile)
    tags = _icc_tags(profile)
    red, blue = tags[b"rXYZ"], tags[b"bXYZ"]
    out[red + 4 : red + 12], out[blue + 4 : blue + 12] = (
        profile[blue + 4 : blue + 12],
        profile[red + 4 : red + 12],
    )
    return bytes(out)


def invert_curves(profile: bytes) -> bytes:
    """The same profile with every tone curve replaced by a falling line (a negative)."""
    out = bytearray(profile)
    out += bytes(-len(out) % 4)
    offset = len(out)
    curve = b"curv" + bytes(4) + struct.pack(">IHH", 2, 0xFFFF, 0)
    out += curve
    for tag, entry in _icc_tags(profile).items():
        if tag in (b"rTRC", b"gTRC", b"bTRC", b"kTRC"):
            struct.pack_into(">II", out, entry + 4, offset, len(curve))
    struct.pack_into(">I", out, 0, len(out))
    return bytes(out)


def make_assets() -> dict[str, bytes]:
    base = pattern()
    mirrored = ImageOps.mirror(base)
    grey16 = Image.linear_gradient("L").resize((64, 48)).convert("I").point(lambda v: v * 257)
    grey16 = grey16.convert("I;16")
    palette = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    la = Image.merge("LA", (base.convert("L"), Image.linear_gradient("L").resize(base.size)))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif3 = Image.Exif()
    exif3[0x0112] = 3
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
        # digest set 2: an APNG whose default image (frame 0) is not part of the animation
        # (viewers never show it), a non-sRGB profile, EXIF orientation in WebP
        "imaging_apng_hidden_default.png": encode(
            base,
            "PNG",
            save_all=True,
            append_images=[mirrored, base.rotate(180)],
            default_image=True,
            duration=[100, 200],
            loop=0,
        ),
        "imaging_icc_swapped.jpg": encode(
            base, "JPEG", quality=90, icc_profile=swap_primaries(srgb_profile())
        ),
        "imaging_orient3.webp": encode(base, "WEBP", lossless=True, exif=exif3.tobytes()),
    }
    if features.check("avif"):
        assets["imaging.avif"] = encode(base, "AVIF", quality=80)
    return assets


# --- the golden file ----------------------------------------------------------------------


def previous_v1() -> dict[str, dict[str, str]]:
    """Digest set 1 values from the golden file on disk (either layout), by image key."""
    if not GOLDEN.is_file():
        return {}
    old = json.loads(GOLDEN.read_text(encoding="utf-8"))
    out: dict[str, dict[str, str]] = {}
    for key, entry in old["images"].items():
        if "v1" in entry:
            out[key] = dict(entry["v1"])
        elif old.get("digest_set") == 1:
            out[key] = {k: entry[k] for k in ("pixels", "phash64", "phash256")}
    return out


def golden_entry(path: Path, kept_v1: dict[str, str] | None) -> dict[str, Any]:
    from provenance import imaging

    data = path.read_bytes()
    probe = imaging.ImageProbe(data, name=path.name)
    legacy = probe.perceptual_for(1)
    v1 = {
        "pixels": imaging.pixel_digest_v1(data, name=path.name),
        "phash64": legacy.phash64,
        "phash256": legacy.phash256,
    }
    if kept_v1 is not None and kept_v1 != v1:
        moved = sorted(k for k in v1 if v1[k] != kept_v1[k])
        raise SystemExit(
            f"{path.name}: digest set 1 values moved ({', '.join(moved)}): records made "
            "before digest set 2 would no longer replay or match; fix the library, not the "
            "golden file"
        )
    return {
        "asset": probe.asset().to_json(),
        "pdq_quality": probe.perceptual().pdq_quality,
        "v1": kept_v1 if kept_v1 is not None else v1,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--assets", action="store_true", help="write missing tests/assets/imaging_*"
    )
    parser.add_argument(
        "--rewrite-assets", action="store_true", help="rewrite every tests/assets/imaging_*"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from provenance import imaging

    if args.assets or args.rewrite_assets:
        ASSETS.mkdir(parents=True, exist_ok=True)
        for name, data in make_assets().items():
            if (ASSETS / name).exists() and not args.rewrite_assets:
                continue
            (ASSETS / name).write_bytes(data)
            print(f"wrote tests/assets/{name} ({len(data)} bytes)")
    kept = previous_v1()
    images: dict[str, dict[str, Any]] = {}
    paths = [(f"corpus/{name}", CORPUS / name) for name in CORPUS_FILES]
    paths += [(f"assets/{path.name}", path) for path in sorted(ASSETS.glob("imaging*"))]
    for key, path in paths:
        images[key] = golden_entry(path, kept.get(key))
    golden = {
        "digest_set": imaging.DIGEST_SET,
        "generated_with": {
            "pillow": pillow_version,
            "libjpeg_turbo": features.version("libjpeg_turbo"),
            "littlecms2": features.version("littlecms2"),
            "numpy": _version("numpy"),
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
