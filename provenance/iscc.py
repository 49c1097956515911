"""ISCC Content-Code Image (256-bit), the soft binding written into C2PA exports.

The C2PA soft-binding algorithm list registers ``io.iscc.v0`` (ISO 24138); ISCC IEP-0020
fixes its value: an *ISCC-SEQ*, concatenated ISCC-UNITs (header + body), version 0, 256-bit
bodies. We write one unit, the Content-Code Image: 34 bytes, header ``21 07`` (MainType
CONTENT, SubType IMAGE, version 0, length 256 bits) and 32 bytes of hash.

The hash is ``iscc_core.soft_hash_image_v0(pixels, bits=256)`` computed in numpy:

1. normalise (``iscc_sdk.image_normalize``): EXIF transpose (**the caller's job**: pass an
   image already turned upright, e.g. through ``PIL.ImageOps.exif_transpose``), fill
   transparency with white, trim a uniform border (the colour of the top-left pixel),
   convert to grey (``L``), resize to 32x32 with BICUBIC;
2. an unscaled 2-D DCT-II (``C @ X @ C.T`` with a precomputed 32x32 cosine matrix, the same
   transform as iscc-core's recursive ``alg_dct``);
3. for each 8x8 quadrant of the top-left 16x16 coefficients (top-left, top-right,
   bottom-left, bottom-right): a bit per coefficient, 1 when it exceeds the quadrant's
   median.

Bit-identical to iscc-core on the shared corpus (tests cross-check at test time). One
deliberate difference from ``iscc_sdk`` as it runs on Pillow >= 9.5: its border trim calls
``getbbox()`` on an RGBA difference image, and since Pillow 9.5 that only looks at the alpha
channel, so the trim never removes anything there. We trim on all colour channels, as the
algorithm describes and as iscc-sdk did on older Pillow. Images without a uniform border
(nearly every photograph) give the same code either way.

Matching: Hamming distance over the 256 bits. Measured on the 63-photo corpus: re-encodes and
resizes <= 10 bits, brightness <= 14, distinct photos >= 102; 32 is the threshold we use.
Crops and flips are not matched (like every global perceptual hash).
"""

from __future__ import annotations

import base64
import io
from typing import Final

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageChops, ImageOps

from provenance.errors import ImageError, ProvenanceError

__all__ = [
    "IMAGE_HEADER",
    "MATCH_THRESHOLD",
    "IsccError",
    "image_iscc",
    "iscc_code_text",
    "iscc_distance",
    "iscc_unit",
    "normalize",
    "parse_iscc_seq",
]

#: The ISCC-UNIT header of a 256-bit Content-Code Image, version 0.
IMAGE_HEADER: Final = b"\x21\x07"
#: Hamming distance (of 256 bits) up to which two images are taken to match.
MATCH_THRESHOLD: Final = 32
#: JPEGs are draft-decoded (DCT scaling) to no less than this many pixels on the short
#: side before hashing; the code then differs from a full decode by a few bits at most.
DRAFT_MIN_SIDE: Final = 512

_N = 32
_k = np.arange(_N, dtype=np.float64)
#: The unscaled DCT-II matrix: C[k, n] = cos(pi * (n + 0.5) * k / N).
_C: Final[NDArray[np.float64]] = np.cos(np.pi * np.outer(_k, _k + 0.5) / _N)
_QUADRANTS: Final = ((0, 0), (0, 8), (8, 0), (8, 8))  # (row, col) of TL, TR, BL, BR


class IsccError(ProvenanceError):
    """A malformed ISCC value (wrong header, length or version)."""


def normalize(img: Image.Image) -> NDArray[np.uint8]:
    """Return the 32x32 grey pixels the Image-Code hashes (iscc-sdk's normalisation,
    without the EXIF transpose, which is the caller's job)."""
    img = _fill_transparency(img)
    img = _trim_border(img)
    grey = img.convert("L").resize((_N, _N), Image.Resampling.BICUBIC)
    return np.asarray(grey, dtype=np.uint8).reshape(_N, _N)


def iscc_unit(img: Image.Image) -> bytes:
    """Return the 34-byte ISCC-UNIT (Content-Code Image, 256 bits) of an upright image."""
    pixels = normalize(img).astype(np.float64)
    dct = _C @ pixels @ _C.T
    bits: list[NDArray[np.bool_]] = []
    for row, col in _QUADRANTS:
        block = dct[row : row + 8, col : col + 8].reshape(64)
        bits.append(block > np.median(block))
    return IMAGE_HEADER + np.packbits(np.concatenate(bits)).tobytes()


def image_iscc(data: bytes) -> bytes:
    """Decode an image file and return its ISCC-UNIT (what an export embeds).

    The image is EXIF-transposed first. JPEGs are draft-decoded (DCT-domain downscale) to
    no less than :data:`DRAFT_MIN_SIDE` pixels on the short side: about 4x faster at 12 MP,
    within a few bits of a full decode. Only the first frame is hashed.

    Raises:
        ImageError: the bytes are not an image Pillow can decode.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format == "JPEG":
                w, h = img.size
                scale = max(1, min(w, h) // DRAFT_MIN_SIDE)
                img.draft(None, (w // scale, h // scale))
            img.load()
            upright = ImageOps.exif_transpose(img)
            return iscc_unit(upright)
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ImageError(f"cannot decode the image for its ISCC: {exc}") from exc


def iscc_code_text(unit: bytes) -> str:
    """Render one ISCC-UNIT as ``ISCC:<base32>`` (RFC 4648 base32, no padding), as ISCC
    tools print it."""
    parse_iscc_seq(unit)
    return "ISCC:" + base64.b32encode(unit).decode("ascii").rstrip("=")


def iscc_distance(a: bytes, b: bytes) -> int:
    """Hamming distance between the bodies of two Content-Code Image units (0..256).

    Raises:
        IsccError: either value is not a single 256-bit Content-Code Image unit.
    """
    bodies = []
    for value in (a, b):
        units = parse_iscc_seq(value)
        if len(units) != 1 or units[0][0] != IMAGE_HEADER:
            raise IsccError("expected one 256-bit ISCC Content-Code Image unit")
        bodies.append(int.from_bytes(units[0][1], "big"))
    return (bodies[0] ^ bodies[1]).bit_count()


def parse_iscc_seq(raw: bytes) -> list[tuple[bytes, bytes]]:
    """Split an ISCC-SEQ (IEP-0020) into ``(header, body)`` units.

    Each unit is a varnibble header (MainType, SubType, version, length) followed by its
    body. IEP-0020 admits version 0 units of the standard main types (META, SEMANTIC,
    CONTENT, DATA, INSTANCE) with 256-bit bodies only.

    Raises:
        IsccError: empty input, a malformed or truncated unit, another version or length, an
            ISCC composite or ID, or trailing bytes.
    """
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("an ISCC-SEQ is bytes")
    data = bytes(raw)
    if not data:
        raise IsccError("empty ISCC-SEQ")
    units: list[tuple[bytes, bytes]] = []
    pos = 0
    while pos < len(data):
        header_len, (mtype, _stype, version, length) = _decode_header(data[pos:])
        if mtype > 4:
            raise IsccError(f"ISCC-SEQ: main type {mtype} is not a standard unit")
        if version != 0:
            raise IsccError(f"ISCC-SEQ: unit version {version}, only version 0 is defined")
        bits = (length + 1) * 32
        if bits != 256:
            raise IsccError(f"ISCC-SEQ: a {bits}-bit unit; IEP-0020 allows 256-bit units only")
        end = pos + header_len + bits // 8
        if end > len(data):
            raise IsccError("ISCC-SEQ: truncated unit")
        units.append((data[pos : pos + header_len], data[pos + header_len : end]))
        pos = end
    return units


# --- private helpers ------------------------------------------------------------------------


def _fill_transparency(img: Image.Image) -> Image.Image:
    """Composite over white when the image can be transparent; otherwise an RGB/L copy.

    Equivalent to iscc-sdk's unconditional RGBA conversion plus white composite: for an
    opaque image that yields the same RGB values and an all-opaque alpha channel.
    """
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha or (img.mode in ("L", "RGB") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("L", "RGB"):
        return img
    return img.convert("RGBA").convert("RGB")


def _trim_border(img: Image.Image) -> Image.Image:
    """Crop away a border of exactly the top-left pixel's colour (all channels)."""
    background = Image.new(img.mode, img.size, img.getpixel((0, 0)))
    diff = ImageChops.difference(img, background)
    bbox = diff.getbbox()  # L / RGB: any non-zero channel counts
    if bbox is None or bbox == (0, 0, *img.size):
        return img
    return img.crop(bbox)


def _decode_header(data: bytes) -> tuple[int, tuple[int, int, int, int]]:
    """Decode four varnibbles; return (header length in bytes, values)."""
    nibbles = [n for byte in data[:8] for n in (byte >> 4, byte & 0x0F)]
    values: list[int] = []
    i = 0
    for _ in range(4):
        if i >= len(nibbles):
            raise IsccError("ISCC-SEQ: truncated header")
        first = nibbles[i]
        if first < 8:  # 0xxx
            values.append(first)
            i += 1
            continue
        if first < 12:  # 10xx xxxx
            width, prefix_bits, offset = 2, 2, 8
        elif first < 14:  # 110x xxxx xxxx
            width, prefix_bits, offset = 3, 3, 72
        elif first == 14:  # 1110 xxxx xxxx xxxx
            width, prefix_bits, offset = 4, 4, 584
        else:
            raise IsccError("ISCC-SEQ: invalid header varnibble")
        if i + width > len(nibbles):
            raise IsccError("ISCC-SEQ: truncated header")
        value = 0
        for n in nibbles[i : i + width]:
            value = (value << 4) | n
        value &= (1 << (4 * width - prefix_bits)) - 1
        values.append(value + offset)
        i += width
    if i % 2:
        if nibbles[i] != 0:
            raise IsccError("ISCC-SEQ: non-zero header padding")
        i += 1
    mtype, stype, version, length = values
    return i // 2, (mtype, stype, version, length)
