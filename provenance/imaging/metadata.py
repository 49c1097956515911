"""Display-affecting metadata read straight from the bytes: orientation and colour tokens.

A viewer's output depends on more than the stored samples: the orientation metadata (EXIF
``Orientation``, XMP ``tiff:Orientation``) and the colour interpretation (an ICC profile,
PNG ``gAMA``/``cHRM``/``sRGB``/``cICP``). The content digest (:mod:`.content`) does not apply
any of them to the samples; it hashes the stored samples together with the *tokens* built
here, so a change to any of them changes the digest, whatever a given viewer does with it.

* **Orientation token**: the effective orientation in the precedence Pillow and ExifTool use
  (the first EXIF ``Orientation`` tag, else XMP ``tiff:Orientation``, else 1). Several EXIF
  blocks that disagree give an ``exif:a,b`` token: viewers differ in which one they take.
* **ICC token** (:func:`icc_token`): ``srgb`` for no profile *or* a profile that renders like
  sRGB, else ``sha256:<hex>`` of the profile bytes. "Renders like sRGB" is measured, not
  guessed from the description: a probe of 4,096 colours (a 16-level grid of RGB, or a
  256-level ramp for a grey profile) is converted through the profile to sRGB with
  LittleCMS (relative colorimetric, what browsers use) and must come back within
  :data:`SRGB_TOLERANCE` levels. The common HP/Microsoft ``sRGB IEC61966-2.1`` profile
  found in camera and scanner files measures 1 level here; Adobe RGB (1998) measures 136.
  Browsers treat an untagged image as sRGB, so stripping such a profile changes nothing on
  screen (docs/adr/0006-display-digest.md).

Pure parsing with bounds checks: malformed metadata never raises, it yields a token that
differs from the well-formed one (conservative: a copy that differs only there is at best
``similar``).
"""

from __future__ import annotations

import functools
import hashlib
import io
import re
import zlib
from typing import Final

SRGB_TOLERANCE: Final = 2
"""Largest per-channel difference (8-bit levels) for a profile to count as sRGB."""

MAX_ICC_BYTES: Final = 4 * 1024 * 1024
"""Profiles larger than this are never parsed (they are hashed as bytes)."""

_ORIENTATION_TAG: Final = 0x0112
_XMP_ORIENTATION: Final = re.compile(
    rb"tiff:Orientation(?:\s*=\s*[\"']\s*(\d+)\s*[\"']|\s*>\s*(\d+)\s*<)"
)


# --- orientation ----------------------------------------------------------------------------
def exif_orientation(exif: bytes) -> int | None:
    """The Orientation tag (0x0112) of IFD0 in an EXIF block, or None.

    ``exif`` may start with the ``Exif\\0\\0`` header (JPEG APP1, WebP) or with the TIFF
    header itself (PNG eXIf). Malformed blocks give None.
    """
    if exif.startswith(b"Exif\x00\x00"):
        exif = exif[6:]
    if len(exif) < 8 or exif[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    order: Final = "little" if exif[:2] == b"II" else "big"
    ifd = int.from_bytes(exif[4:8], order)
    if ifd + 2 > len(exif):
        return None
    count = int.from_bytes(exif[ifd : ifd + 2], order)
    for i in range(min(count, 512)):
        entry = ifd + 2 + 12 * i
        if entry + 12 > len(exif):
            return None
        if int.from_bytes(exif[entry : entry + 2], order) != _ORIENTATION_TAG:
            continue
        kind = int.from_bytes(exif[entry + 2 : entry + 4], order)
        if kind == 3:  # SHORT
            return int.from_bytes(exif[entry + 8 : entry + 10], order)
        if kind == 4:  # LONG (non-conforming, seen in the wild)
            return int.from_bytes(exif[entry + 8 : entry + 12], order)
        return None
    return None


def xmp_orientation(xmp: bytes) -> int | None:
    """``tiff:Orientation`` from an XMP packet (attribute or element form), or None."""
    match = _XMP_ORIENTATION.search(xmp)
    if match is None:
        return None
    value = match.group(1) or match.group(2)
    return int(value[:6])


def orientation_token(exif_values: list[int | None], xmp_values: list[int | None]) -> str:
    """The effective orientation as a token (see the module docstring)."""
    exif = [v for v in exif_values if v is not None]
    if exif:
        if len(set(exif)) > 1:
            return "exif:" + ",".join(str(v) for v in exif)
        return str(exif[0])
    xmp = [v for v in xmp_values if v is not None]
    if xmp:
        return str(xmp[0])
    return "1"


def orientation_value(token: str) -> int:
    """The orientation a token stands for (1 for ambiguous or invalid ones)."""
    return int(token) if token.isdigit() and 1 <= int(token) <= 8 else 1


# --- colour ---------------------------------------------------------------------------------
def icc_token(profile: bytes | None) -> str:
    """``srgb`` when there is no profile or it renders like sRGB, else ``sha256:<hex>``."""
    if not profile:
        return "srgb"
    return _icc_token(bytes(profile))


@functools.lru_cache(maxsize=64)
def _icc_token(profile: bytes) -> str:
    hashed = "sha256:" + hashlib.sha256(profile).hexdigest()
    if len(profile) > MAX_ICC_BYTES:
        return hashed
    return "srgb" if _renders_like_srgb(profile) else hashed


def _renders_like_srgb(profile: bytes) -> bool:
    import numpy as np
    from PIL import Image, ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
        space = source.profile.xcolor_space.strip()
        srgb = ImageCms.createProfile("sRGB")
        if space == "RGB":
            levels = np.arange(0, 256, 17, dtype=np.uint8)
            grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1)
            probe = Image.fromarray(grid.reshape(64, 64, 3), "RGB")
            expected = grid.reshape(64, 64, 3)
            transform = ImageCms.buildTransform(
                source, srgb, "RGB", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC
            )
        elif space == "GRAY":
            ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
            probe = Image.fromarray(ramp, "L")
            expected = np.repeat(ramp[:, :, None], 3, axis=2)
            transform = ImageCms.buildTransform(
                source, srgb, "L", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC
            )
        else:
            return False
        out = np.asarray(ImageCms.applyTransform(probe, transform), dtype=np.int16)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError, AttributeError):
        return False
    return bool(np.abs(out - expected.astype(np.int16)).max() <= SRGB_TOLERANCE)


def inflate(data: bytes, limit: int) -> bytes | None:
    """zlib-decompress at most ``limit`` bytes; None when corrupt or larger."""
    try:
        obj = zlib.decompressobj()
        out = obj.decompress(data, limit + 1)
    except zlib.error:
        return None
    return None if len(out) > limit or not obj.eof else out
