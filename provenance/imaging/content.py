"""Digest set 2 for formats that are decoded (PNG, WebP, GIF, TIFF, AVIF, HEIF).

The content digest is SHA-256 over a header and the stored samples of **every frame**, in
order (:mod:`.samples`; no orientation applied, no colour conversion)::

    provenance/content/v2\\n
    image\\n
    orientation <token>\\n          effective EXIF/XMP orientation, absent = 1 (.metadata)
    colour <token>\\n               srgb | icc sha256:<hex> | gAMA=.. cHRM=.. | cicp ..
    extras <hex>\\n                 only when the container has display-relevant extra chunks
    frames <n>[ default_image <0|1> loop <n>]\\n
    frame <i> <w> <h> <mode>[ <duration ms>]\\n  <samples>      (per frame)

so a hidden APNG default image, a later frame of an animation, its timing, a colour profile
or gamma, or an orientation tag each change the digest, while text chunks, EXIF camera
fields, XMP descriptions and C2PA manifests do not. The same samples with the same tokens in
PNG and in lossless WebP give the same digest (metadata stripped or moved to another
lossless container stays ``verified``).

One decode serves the content digest and the perceptual hashes (computed from frame 0 and,
for an APNG whose default image is not part of the animation, from the first animation
frame, which is what a viewer shows). The frames' total pixel count is bounded by the pixel
limit before anything is decoded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from provenance.errors import DecompressionBombError
from provenance.imaging.containers import (
    Tokens,
    bmff_tokens,
    icc_colour,
    png_tokens,
    webp_tokens,
)
from provenance.imaging.jpeg import CONTENT_DOMAIN
from provenance.imaging.metadata import orientation_value
from provenance.imaging.opening import display_name, pillow_errors
from provenance.imaging.perceptual import PerceptualHashes, hashes_of, orient, reduced_grey
from provenance.imaging.samples import stored_chunks

if TYPE_CHECKING:
    from PIL import ImageFile


@dataclass(frozen=True, slots=True)
class Decoded:
    """What one decode pass of a non-JPEG image produced."""

    content: str
    width: int  # displayed (orientation applied)
    height: int
    frames: int
    perceptual: PerceptualHashes  # the first displayed frame
    perceptual_frame0: PerceptualHashes  # frame 0 (digest set 1's pipeline)


def tokens_for(image: ImageFile.ImageFile, fmt: str, data: bytes) -> Tokens:
    """The display tokens of an opened, non-JPEG image."""
    if fmt == "PNG":
        return png_tokens(data)
    if fmt == "WEBP":
        return webp_tokens(data)
    tokens = bmff_tokens(data) if fmt in ("AVIF", "HEIF") else Tokens()
    orientation = image.getexif().get(0x0112)  # TIFF tag, or EXIF/XMP in GIF/AVIF/HEIF
    tokens.exif.append(orientation if type(orientation) is int else None)
    tokens.colour = icc_colour(image.info.get("icc_profile"))
    return tokens


def decode_pass(
    image: ImageFile.ImageFile, fmt: str, data: bytes, name: str, max_pixels: int, *, pdq: bool
) -> Decoded:
    """Decode every frame once: the content digest and the perceptual hashes."""
    shown = display_name(name)
    with pillow_errors(name, fmt):
        tokens = tokens_for(image, fmt, data)
        count = int(getattr(image, "n_frames", 1))
        width, height = image.size
        if count * width * height > max_pixels:
            raise DecompressionBombError(
                f"image too large: {shown} has {count} frames of {width}x{height} "
                f"({count * width * height:,} pixels; limit {max_pixels:,})"
            )
        default_image = bool(getattr(image, "default_image", False)) and count > 1
        shown_frame = 1 if default_image else 0
        hasher = hashlib.sha256(CONTENT_DOMAIN)
        lines = ["image", f"orientation {tokens.orientation}", f"colour {tokens.colour}"]
        extras = tokens.extras_digest()
        if extras is not None:
            lines.append(f"extras {extras}")
        if count > 1:
            lines.append(
                f"frames {count} default_image {int(default_image)} "
                f"loop {image.info.get('loop', '-')}"
            )
        else:
            lines.append("frames 1")
        hasher.update("".join(line + "\n" for line in lines).encode("ascii"))
        first: PerceptualHashes | None = None
        displayed: PerceptualHashes | None = None
        total = 0
        for index in range(count):
            if index:
                image.seek(index)
            image.load()
            w, h = image.size
            total += w * h
            if total > max_pixels:
                raise DecompressionBombError(f"image too large: {shown} (its frames' pixels)")
            mode, chunks = stored_chunks(image, name)
            header = f"frame {index} {w} {h} {mode}"
            if count > 1:
                header += f" {round(float(image.info.get('duration', 0) or 0))}"
            hasher.update(header.encode("ascii") + b"\n")
            for chunk in chunks:
                hasher.update(chunk)
            if index in (0, shown_frame):
                hashes = hashes_of(reduced_grey(orient(image), name), with_pdq=pdq)
                first = hashes if index == 0 else first
                displayed = hashes if index == shown_frame else displayed
    assert first is not None and displayed is not None
    # Pillow's TIFF plugin reports (and loads) a TIFF already oriented: no second swap
    if orientation_value(tokens.orientation) >= 5 and fmt != "TIFF":
        width, height = height, width
    return Decoded(hasher.hexdigest(), width, height, count, displayed, first)
