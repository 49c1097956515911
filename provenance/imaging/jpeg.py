"""JPEG without decoding: the segment walk, the content digest (digest set 2), the bounds.

A JPEG is a sequence of marker segments. What a viewer shows is fixed by the *image-data*
segments (frame headers SOFn, Huffman and arithmetic tables DHT/DAC, quantisation tables
DQT, restart interval DRI, scan headers SOS with their entropy-coded data, DNL, EXP) plus a
few application segments that change how those samples are displayed:

* the EXIF Orientation (APP1 ``Exif``) and XMP ``tiff:Orientation`` (APP1 XMP);
* the ICC profile (APP2 ``ICC_PROFILE``, possibly split over several segments);
* the colour interpretation libjpeg derives from JFIF (APP0), Adobe (APP14) and the
  component ids (YCbCr or RGB for three components; CMYK or YCCK for four).

EXIF resolution tags can change the size Chromium lays an image out at (density-corrected
size) but not what it shows: like a page's CSS width, that is presentation, not content,
and stripping it keeps the digest (docs/adr/0006-display-digest.md).

:func:`content_digest` hashes the image-data segments in file order, byte for byte, after a
header holding those display tokens (:mod:`.metadata`). Every other segment (camera EXIF
fields, XMP descriptions, IPTC, comments, C2PA manifests, thumbnails, JFIF density) is
left out, so stripping or editing metadata keeps the digest while anything a viewer would
show differently changes it. Bytes after the first EOI are not displayed and not hashed.
No pixel is decoded: a 12 MP JPEG costs about one SHA-256 pass over its bytes.

Bounds, checked here before any decoder runs: at most :data:`MAX_SCANS` scans, and for a
progressive JPEG at most :data:`MAX_DECODE_WORK` pixel-scans (the decoder touches the whole
coefficient buffer once per scan, even in draft mode).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Final

from provenance.errors import DecompressionBombError, ImageError
from provenance.imaging.metadata import (
    exif_orientation,
    icc_token,
    orientation_token,
    xmp_orientation,
)

CONTENT_DOMAIN: Final = b"provenance/content/v2\n"
MAX_SCANS: Final = 100
"""More scans than any encoder writes (libjpeg's progressive script has 10)."""
MAX_DECODE_WORK: Final = 4_000_000_000
"""Pixel-scans a progressive JPEG may cost (about 3 s of decoding here)."""

_SOF: Final = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_PROGRESSIVE: Final = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
_STANDALONE: Final = frozenset({0x01, *range(0xD0, 0xD8)})
_NEXT_MARKER: Final = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_XMP_HEADER: Final = b"http://ns.adobe.com/xap/1.0/\x00"


@dataclass(slots=True)
class JpegInfo:
    """What the segment walk learned about a JPEG."""

    width: int = 0
    height: int = 0
    components: tuple[int, ...] = ()
    progressive: bool = False
    scans: int = 0
    jfif: bool = False
    adobe_transform: int | None = None
    exif: list[int | None] = field(default_factory=list)
    xmp: list[int | None] = field(default_factory=list)
    icc_chunks: list[tuple[int, int, bytes]] = field(default_factory=list)
    data: list[tuple[int, int]] = field(default_factory=list)  # image-data byte ranges

    @property
    def orientation(self) -> str:
        return orientation_token(self.exif, self.xmp)

    @property
    def colour(self) -> str:
        """The colour interpretation, decided as libjpeg-turbo decides it."""
        n = len(self.components)
        if n == 3:
            if self.jfif:
                space = "ycc"
            elif self.adobe_transform is not None:
                space = "rgb" if self.adobe_transform == 0 else "ycc"
            elif self.components == (82, 71, 66):
                space = "rgb"
            else:
                space = "ycc"
        elif n == 4:  # libjpeg and Chromium read CMYK as Adobe's inverted CMYK either way
            space = "ycck" if self.adobe_transform == 2 else "cmyk"
        else:
            space = "grey" if n == 1 else f"n{n}"
        return space

    def icc_profile(self) -> bytes | None:
        """The reassembled ICC profile, or the raw chunks when they are inconsistent."""
        if not self.icc_chunks:
            return None
        total = self.icc_chunks[0][1]
        seqs = sorted(self.icc_chunks)
        if (
            total != len(seqs)
            or [s for s, _, _ in seqs] != list(range(1, total + 1))
            or any(n != total for _, n, _ in seqs)
        ):
            # malformed: viewers disagree; a token that differs from any valid profile
            return b"malformed-icc\x00" + b"".join(c for _, _, c in self.icc_chunks)
        return b"".join(c for _, _, c in seqs)


def walk(data: bytes, name: str, max_pixels: int) -> JpegInfo:
    """Walk the segments of the first image (SOI .. EOI) and check the bounds.

    Raises:
        ImageError: not a JPEG, or its structure is broken (truncated segment, no frame
            header, no scan).
        DecompressionBombError: too many pixels, scans or pixel-scans.
    """
    from provenance.imaging.opening import check_size, display_name

    shown = display_name(name)
    if not data.startswith(b"\xff\xd8"):
        raise ImageError(f"not a JPEG: {shown}")
    info = JpegInfo()
    pos, end = 2, len(data)
    while True:
        if pos < end and data[pos] != 0xFF:
            pos = data.find(b"\xff", pos)  # garbage between segments: libjpeg skips it too
            pos = end if pos < 0 else pos
        while pos + 1 < end and data[pos + 1] == 0xFF:
            pos += 1  # fill bytes
        if pos + 1 >= end:
            raise ImageError(f"truncated JPEG: {shown} (no end-of-image marker)")
        marker = data[pos + 1]
        if marker == 0xD9:
            info.data.append((pos, pos + 2))
            break
        if marker in _STANDALONE:
            info.data.append((pos, pos + 2))
            pos += 2
            continue
        if pos + 4 > end:
            raise ImageError(f"truncated JPEG: {shown}")
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        seg_end = pos + 2 + length
        if length < 2 or seg_end > end:
            raise ImageError(f"truncated JPEG: {shown} (segment runs past the end)")
        payload = data[pos + 4 : seg_end]
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            _application(info, marker, payload)
            pos = seg_end
            continue
        if marker in _SOF and not info.components:
            _frame(info, marker, payload, shown)
            check_size((info.width, info.height), shown, max_pixels)
        if marker == 0xDA:
            info.scans += 1
            if info.scans > MAX_SCANS:
                raise DecompressionBombError(
                    f"JPEG has more than {MAX_SCANS} scans: {shown}",
                    hint="no encoder writes that many; the file is built to stall decoders",
                )
            found = _NEXT_MARKER.search(data, seg_end)
            if found is None:
                raise ImageError(f"truncated JPEG: {shown} (scan data runs to the end)")
            info.data.append((pos, found.start()))
            pos = found.start()
            continue
        info.data.append((pos, seg_end))
        pos = seg_end
    if not info.components:
        raise ImageError(f"corrupt JPEG image: {shown} (no frame header)")
    if not info.scans:
        raise ImageError(f"corrupt JPEG image: {shown} (no scan)")
    if info.progressive and info.width * info.height * info.scans > MAX_DECODE_WORK:
        raise DecompressionBombError(
            f"progressive JPEG too costly to decode: {shown} is {info.width}x{info.height} "
            f"in {info.scans} scans (limit {MAX_DECODE_WORK:,} pixel-scans)"
        )
    return info


def _frame(info: JpegInfo, marker: int, payload: bytes, shown: str) -> None:
    if len(payload) < 6:
        raise ImageError(f"corrupt JPEG image: {shown} (short frame header)")
    info.height = int.from_bytes(payload[1:3], "big")
    info.width = int.from_bytes(payload[3:5], "big")
    count = payload[5]
    if len(payload) < 6 + 3 * count or count == 0:
        raise ImageError(f"corrupt JPEG image: {shown} (short frame header)")
    info.components = tuple(payload[6 + 3 * i] for i in range(count))
    info.progressive = marker in _PROGRESSIVE
    if info.width == 0 or info.height == 0:
        raise ImageError(f"unsupported JPEG: {shown} (zero size or a DNL-defined height)")


def _application(info: JpegInfo, marker: int, payload: bytes) -> None:
    if marker == 0xE0 and payload.startswith(b"JFIF\x00"):
        info.jfif = True
    elif marker == 0xE1 and payload.startswith(b"Exif\x00"):
        info.exif.append(exif_orientation(payload[6:]))
    elif marker == 0xE1 and payload.startswith(_XMP_HEADER):
        info.xmp.append(xmp_orientation(payload[len(_XMP_HEADER) :]))
    elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00") and len(payload) >= 14:
        info.icc_chunks.append((payload[12], payload[13], payload[14:]))
    elif (
        marker == 0xEE
        and payload.startswith(b"Adobe")
        and len(payload) >= 12
        and info.adobe_transform is None
    ):
        info.adobe_transform = payload[11]


def display_tokens(info: JpegInfo) -> bytes:
    """The display header hashed before the image data (one line per token)."""
    lines = (
        "jpeg",
        f"orientation {info.orientation}",
        f"colour {info.colour}",
        f"icc {icc_token(info.icc_profile())}",
        "data",
    )
    return "".join(line + "\n" for line in lines).encode("ascii")


def content_digest(data: bytes, info: JpegInfo) -> str:
    """Digest set 2's content digest of a walked JPEG (see the module docstring)."""
    hasher = hashlib.sha256(CONTENT_DOMAIN + display_tokens(info))
    view = memoryview(data)
    for start, stop in info.data:
        hasher.update(view[start:stop])
    return hasher.hexdigest()
