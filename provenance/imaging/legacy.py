"""Digest set 1's ``pixels`` digest, kept so records made before digest set 2 still replay.

``pixels`` = SHA-256 over ``b"provenance/pixels/v1\\n" + f"{width} {height} {mode}\\n"`` and
the raw rows of frame 0, fully decoded, EXIF orientation applied, in the 8-bit canonical
mode (:mod:`.samples`). It ignores every other frame, colour metadata, and where viewers do
not apply orientation, so a match on it proves nothing about what a viewer shows: the
verifier no longer matches images by it. Only check (8) still computes it, to compare a
replayed edit with a digest-set-1 ``edit`` record.
"""

from __future__ import annotations

import hashlib
from typing import Final

from provenance.imaging.jpeg import walk
from provenance.imaging.opening import open_image, pillow_errors, resolve_max_pixels
from provenance.imaging.perceptual import orient
from provenance.imaging.samples import eight_bit_source, strips

PIXELS_DOMAIN: Final = b"provenance/pixels/v1\n"


def pixel_digest_v1(data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None) -> str:
    """Digest set 1's canonical pixel hash (module docstring).

    Raises:
        ImageError: unreadable, unsupported, corrupt or truncated image.
        DecompressionBombError: more pixels than the limit.
    """
    limit = resolve_max_pixels(max_pixels)
    if data[:3] == b"\xff\xd8\xff":
        walk(data, name, limit)  # the scan and decode-work bounds come first
    image, fmt = open_image(data, name, limit)
    with pillow_errors(name, fmt):
        image.load()
        source, mode = eight_bit_source(orient(image), name)
        width, height = source.size
        hasher = hashlib.sha256(PIXELS_DOMAIN + f"{width} {height} {mode}\n".encode("ascii"))
        for _, strip in strips(source, 4):
            hasher.update((strip if strip.mode == mode else strip.convert(mode)).tobytes())
    return hasher.hexdigest()
