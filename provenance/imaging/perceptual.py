"""Perceptual hashes (DESIGN section 7): pHash-64, pHash-256 and PDQ, from one decoded frame.

The pipeline is the same at sign and verify time and pinned by golden hashes: the frame a
viewer shows first, decoded (JPEG: ``Image.draft("RGB", (512, 512))``, which picks the
largest libjpeg DCT scale 1/s with both sides staying >= 512 px), EXIF orientation applied
as ``ImageOps.exif_transpose`` does (same tag lookup, XMP fallback and method table), the
8-bit canonical samples (:mod:`.samples`), ``Image.reduce(f)`` with
``f = min(width, height) // 512`` when ``f >= 2`` (box filter; the short side stays >= 512
px; done strip by strip, which gives the same result), then Pillow's ``convert("L")``.
pHash is imagehash's, computed with an exact integer DCT (:func:`phash`); PDQ is Meta's,
computed in numpy (:mod:`provenance.pdq`).

A perceptual match is a hint, never proof: adversarial images can be made to collide. It
can only ever make a verdict ``similar``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from concurrent.futures import Executor

    import numpy as np
    import numpy.typing as npt
    from PIL import Image

PERCEPTUAL_MIN_SIDE: Final = 512
"""The perceptual path never downscales the short side below this."""

PHASH64_MAX_DISTANCE: Final = 10
"""pHash-64 lookup threshold in bits (re-encode/resize max 4, closest distinct pair 14)."""

PHASH256_MAX_DISTANCE: Final = 40
"""pHash-256 confirmation threshold in bits (re-encode/resize max 8, closest pair 82)."""

_ORIENTATION_TAG: Final = 0x0112


@dataclass(frozen=True, slots=True)
class PerceptualHashes:
    """The perceptual hashes of one image (hex strings; PDQ with its quality, 0-100).

    ``luma`` is the greyscale image they were computed from (uint8, rows x columns) when
    PDQ was computed, kept so the query side can hash its 8 rotations and reflections
    without decoding again (:meth:`ImageProbe.pdq_dihedral`); it takes no part in
    comparisons.
    """

    phash64: str
    phash256: str
    pdq: str | None = None
    pdq_quality: int | None = None
    luma: npt.NDArray[np.uint8] | None = field(default=None, compare=False, repr=False)


def orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation like ``ImageOps.exif_transpose`` (no copy when upright)."""
    from PIL import Image as PILImage

    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    method = {
        2: PILImage.Transpose.FLIP_LEFT_RIGHT,
        3: PILImage.Transpose.ROTATE_180,
        4: PILImage.Transpose.FLIP_TOP_BOTTOM,
        5: PILImage.Transpose.TRANSPOSE,
        6: PILImage.Transpose.ROTATE_270,
        7: PILImage.Transpose.TRANSVERSE,
        8: PILImage.Transpose.ROTATE_90,
    }.get(orientation if type(orientation) is int else 1)
    return image if method is None else image.transpose(method)


def reduced_grey(frame: Image.Image, name: str) -> Image.Image:
    """The greyscale image the hashes are computed from (module docstring)."""
    from PIL import Image as PILImage

    from provenance.imaging.samples import eight_bit_source, strips

    source, mode = eight_bit_source(frame, name)
    factor = min(source.size) // PERCEPTUAL_MIN_SIDE
    if factor < 2:
        image = source if source.mode == mode else source.convert(mode)
        return image.convert("L")
    width, height = source.size
    out = PILImage.new(mode, (-(-width // factor), -(-height // factor)))
    for top, strip in strips(source, 4, multiple=factor):
        part = strip if strip.mode == mode else strip.convert(mode)
        out.paste(part.reduce(factor), (0, top // factor))
    return out.convert("L")


@functools.lru_cache(maxsize=4)
def _dct_rows(size: int, rows: int) -> npt.NDArray[np.int64]:
    """The first ``rows`` rows of the DCT-II matrix of order ``size``, scaled by 2**20 and
    rounded: ``C[k, n] = round(cos(pi * k * (2n + 1) / (2 * size)) * 2**20)``."""
    import numpy as np

    scale = 1 << 20
    return np.array(
        [
            [round(math.cos(math.pi * k * (2 * n + 1) / (2 * size)) * scale) for n in range(size)]
            for k in range(rows)
        ],
        dtype=np.int64,
    )


def phash(grey: Image.Image, hash_size: int) -> str:
    """imagehash's pHash of an L-mode image, computed with an exact integer DCT.

    Same steps as ``imagehash.phash`` (Lanczos resize to 4 * hash_size square, 2-D DCT-II,
    keep the hash_size x hash_size low frequencies, compare each with their median), but the
    DCT is an integer matrix product instead of ``scipy.fftpack.dct``: no scipy import
    (about 0.3 s of start-up), and no floating-point summation order, so the bits are the
    same on every machine. Cross-checked bit for bit against imagehash on the corpus.
    Products stay below 2**62 for hash_size <= 16.
    """
    import numpy as np
    from PIL import Image as PILImage

    size = hash_size * 4
    pixels = np.asarray(grey.resize((size, size), PILImage.Resampling.LANCZOS), dtype=np.int64)
    rows = _dct_rows(size, hash_size)
    low = rows @ pixels @ rows.T  # exact in int64: |entries| < 255 * 2**40 * size**2
    bits = (low > np.median(low)).flatten()
    return _bits_to_hex(bits)


def _bits_to_hex(bits: npt.NDArray[np.bool_]) -> str:
    """imagehash's ``str(ImageHash)``: bits row-major, most significant first."""
    import numpy as np

    packed = np.packbits(bits.astype(np.uint8))
    return packed.tobytes().hex()


def hashes_of(
    grey: Image.Image, *, with_pdq: bool, pool: Executor | None = None
) -> PerceptualHashes:
    """pHash-64, pHash-256 and (``with_pdq``) PDQ of the reduced greyscale image.

    With ``pool``, pHash-64 is computed in one of its threads while this one computes the
    rest (Pillow's resampling releases the GIL): the same hashes, sooner when a core is
    free.
    """
    if pool is not None:
        later = pool.submit(phash, grey, 8)
        p256 = phash(grey, 16)
        p64 = later.result()
    else:
        p64, p256 = phash(grey, 8), phash(grey, 16)
    if not with_pdq:
        return PerceptualHashes(p64, p256)
    import numpy as np

    import provenance.pdq as pdq

    luma = np.asarray(grey)
    result = pdq.pdq_hash(luma)
    return PerceptualHashes(p64, p256, result.hex(), result.quality, luma)


def hamming(a_hex: str, b_hex: str) -> int:
    """The number of differing bits between two equal-length hex hashes.

    Raises:
        ValueError: the lengths differ or a string is not hex.
    """
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hash lengths differ: {len(a_hex)} and {len(b_hex)} hex characters")
    try:
        return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
    except ValueError:
        raise ValueError("hashes must be hex strings") from None


def signed64(value: int) -> int:
    """An unsigned 64-bit value as a signed one (SQL BIGINT)."""
    return value - (1 << 64) if value >= 1 << 63 else value


def phash64_to_int(phash64: str) -> int:
    """A 16-hex-character pHash-64 as a signed 64-bit int (for SQL BIGINT and the index)."""
    if len(phash64) != 16:
        raise ValueError("phash64 must be 16 hex characters")
    return signed64(int(phash64, 16))
