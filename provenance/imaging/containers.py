"""PNG and WebP chunk walks: the display tokens a decoder's output does not carry.

Decoding gives the samples of every frame; what else changes the display sits in chunks:

* PNG: colour (``cICP`` > ``iCCP`` > ``sRGB`` > ``gAMA``/``cHRM``, in the order the PNG
  specification gives them precedence; ``mDCv``/``cLLi`` for HDR), orientation (``eXIf``,
  XMP in ``iTXt XML:com.adobe.xmp``), and animation control (``acTL``, ``fcTL``, ``fdAT``).
* WebP (RIFF): ``VP8X`` flags, ``ICCP``, ``ANIM``, ``EXIF``, ``XMP``.
* HEIF/AVIF (ISO BMFF): the item properties (``ipco``: colour ``colr``, rotation ``irot``,
  mirror ``imir``, clean aperture ``clap`` ...), which the decoder may or may not apply.

What Chromium 156 does with each was measured (docs/adr/0006-display-digest.md): it
honours PNG ``cICP > iCCP > sRGB > gAMA(+cHRM)`` (``gAMA`` 1/2.2 alone displays as sRGB),
WebP ``ICCP`` only when the VP8X flag announces it, AVIF ``irot``/``imir``/``clap``/``colr``;
it ignores XMP orientation everywhere and EXIF orientation in WebP and AVIF. Where viewers
differ, the token keeps the difference (conservative: at worst a faithful copy is
``similar``).

Each walk returns :class:`Tokens`: an orientation token, a colour token, and *extras*, the
raw bytes of every chunk that is neither image data the decoder turns into samples nor
metadata known to change nothing on screen (text, time, physical size, C2PA, thumbnails
...). Unknown chunks count as extras: a chunk we do not understand may change what some
viewer shows. A plain still image has no extras, so the same samples in PNG and in
lossless WebP give the same content digest.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Final

from provenance.imaging.metadata import (
    exif_orientation,
    icc_token,
    inflate,
    orientation_token,
    xmp_orientation,
)

_MAX_TEXT: Final = 4 * 1024 * 1024
_PNG_IMAGE: Final = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS"})
_PNG_IGNORED: Final = frozenset(
    {
        b"tEXt", b"zTXt", b"iTXt", b"tIME", b"pHYs", b"sPLT", b"hIST", b"bKGD", b"sBIT",
        b"oFFs", b"pCAL", b"sCAL", b"sTER", b"dSIG", b"caBX", b"iDOT", b"vpAg", b"eXIf",
    }
)  # fmt: skip
_PNG_COLOUR: Final = frozenset({b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"mDCv", b"cLLi"})
_WEBP_IMAGE: Final = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANMF"})
_WEBP_ICC_FLAG: Final = 0x20
_GAMMA_SRGB: Final = (45455).to_bytes(4, "big")


@dataclass(slots=True)
class Tokens:
    """Display tokens of a container (module docstring)."""

    exif: list[int | None] = field(default_factory=list)
    xmp: list[int | None] = field(default_factory=list)
    colour: str = "srgb"
    extras: list[bytes] = field(default_factory=list)

    @property
    def orientation(self) -> str:
        return orientation_token(self.exif, self.xmp)

    def extras_digest(self) -> str | None:
        if not self.extras:
            return None
        hasher = hashlib.sha256()
        for chunk in self.extras:
            hasher.update(len(chunk).to_bytes(8, "big") + chunk)
        return hasher.hexdigest()


def png_tokens(data: bytes) -> Tokens:
    """Walk a PNG's chunks (up to IEND) and build its tokens."""
    tokens = Tokens()
    colour: dict[bytes, bytes] = {}
    pos, end = 8, len(data)
    idat = hashlib.sha256()
    sixteen_bit_colour = False
    while pos + 8 <= end:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR" and len(body) >= 10:
            sixteen_bit_colour = body[8] == 16 and body[9] in (2, 6)
        if kind == b"IDAT":
            idat.update(body)
        if kind == b"IEND":
            break
        if kind in _PNG_IMAGE:
            continue
        if kind in _PNG_COLOUR:
            colour.setdefault(kind, body)
        elif kind == b"eXIf":
            tokens.exif.append(exif_orientation(body))
        elif kind == b"iTXt" and body.startswith(b"XML:com.adobe.xmp\x00"):
            tokens.xmp.append(_itxt_orientation(body))
        elif kind not in _PNG_IGNORED:
            tokens.extras.append(kind + body)  # animation control and unknown chunks
    if sixteen_bit_colour:
        # Pillow decodes 16-bit colour PNGs to 8 bits per sample: keep the low bytes too.
        tokens.extras.append(b"png16 " + idat.digest())
    tokens.colour = _png_colour(colour)
    return tokens


def _itxt_orientation(body: bytes) -> int | None:
    # keyword \0 compression-flag compression-method language \0 translated \0 text
    rest = body[len(b"XML:com.adobe.xmp\x00") :]
    if len(rest) < 2:
        return None
    flag, rest = rest[0], rest[2:]
    parts = rest.split(b"\x00", 2)
    if len(parts) < 3:
        return None
    text: bytes | None = parts[2]
    if flag == 1 and text is not None:
        text = inflate(text, _MAX_TEXT)
    return xmp_orientation(text) if text is not None else None


def _png_colour(chunks: dict[bytes, bytes]) -> str:
    hdr = " ".join(f"{k.decode()}={chunks[k].hex()}" for k in (b"mDCv", b"cLLi") if k in chunks)
    hdr = f" {hdr}" if hdr else ""
    cicp = chunks.get(b"cICP")
    if cicp is not None:
        # (1, 13, 0, 1): BT.709 primaries, sRGB transfer, RGB, full range = sRGB
        return ("srgb" if cicp == bytes((1, 13, 0, 1)) else f"cicp {cicp.hex()}") + hdr
    iccp = chunks.get(b"iCCP")
    if iccp is not None:
        name_end = iccp.find(b"\x00")
        profile = inflate(iccp[name_end + 2 :], 64 * 1024 * 1024) if 0 < name_end < 80 else None
        if profile is None:
            return f"icc-malformed {hashlib.sha256(iccp).hexdigest()}{hdr}"
        return icc_colour(profile) + hdr
    if b"sRGB" in chunks:
        return "srgb" + hdr
    if chunks.get(b"gAMA") == _GAMMA_SRGB and b"cHRM" not in chunks:
        return "srgb" + hdr  # gamma 1/2.2 alone: displayed as sRGB (measured: 0 levels)
    parts = [f"{k.decode()}={chunks[k].hex()}" for k in (b"gAMA", b"cHRM") if k in chunks]
    return (" ".join(parts) if parts else "srgb") + hdr


def icc_colour(profile: bytes | None) -> str:
    """The colour token of an ICC profile: ``srgb`` (none, or sRGB-like) or ``icc sha256:..``."""
    token = icc_token(profile)
    return token if token == "srgb" else f"icc {token}"


def bmff_tokens(data: bytes) -> Tokens:
    """HEIF/AVIF: the raw item-property container (``meta/iprp/ipco``) as an extra."""
    tokens = Tokens()
    ipco = _bmff_find(data, (b"meta", b"iprp", b"ipco"))
    if ipco is not None:
        tokens.extras.append(b"ipco" + ipco)
    return tokens


def _bmff_find(data: bytes, path: tuple[bytes, ...]) -> bytes | None:
    """The payload of the box at ``path`` (``meta`` is a full box: 4 more header bytes)."""
    pos, end = 0, len(data)
    for depth, want in enumerate(path):
        found = None
        while pos + 8 <= end:
            size = int.from_bytes(data[pos : pos + 4], "big")
            kind = data[pos + 4 : pos + 8]
            header = 8
            if size == 1 and pos + 16 <= end:
                size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
            elif size == 0:
                size = end - pos
            if size < header or pos + size > end:
                return None
            if kind == want:
                found = (pos + header + (4 if kind == b"meta" else 0), pos + size)
                break
            pos += size
        if found is None:
            return None
        pos, end = found
        if depth == len(path) - 1:
            return data[pos:end]
    return None


def webp_tokens(data: bytes) -> Tokens:
    """Walk a WebP's RIFF chunks and build its tokens."""
    tokens = Tokens()
    pos, end = 12, min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    flags: int | None = None
    icc: bytes | None = None
    while pos + 8 <= end:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
        if kind == b"VP8X" and len(body) >= 1:
            flags = body[0]
        elif kind == b"ICCP":
            icc = body if icc is None else icc
        elif kind == b"EXIF":
            tokens.exif.append(exif_orientation(body))
        elif kind == b"XMP ":
            tokens.xmp.append(xmp_orientation(body))
        elif kind not in _WEBP_IMAGE:
            tokens.extras.append(kind + body)  # ANIM and unknown chunks
    declared = flags is not None and bool(flags & _WEBP_ICC_FLAG)
    if declared != (icc is not None):
        # Viewers disagree on a profile the flags do not announce (or announced, missing).
        tokens.extras.append(b"webp-icc-flag " + bytes([int(declared), int(icc is not None)]))
    tokens.colour = icc_colour(icc)
    return tokens
