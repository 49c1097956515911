"""PDQ, Meta's 256-bit perceptual image hash, computed in numpy.

This module owns the PDQ algorithm and nothing else: it hashes a 2-D luminance array and
compares hashes. Decoding, orientation and downscaling of image files belong to
:mod:`provenance.imaging`; this module never imports Pillow.

The steps follow the reference implementation (facebook/ThreatExchange ``pdq/cpp``,
``hashing/pdqhashing.cpp`` and ``downscaling/downscaling.cpp``; see docs/pdq.md):

1. Jarosz tent filter: two passes of a box filter along each axis, window
   ``ceil(n / 128)`` for a side of ``n`` pixels, the window clipped (and the mean taken
   over what remains) at the borders; for an even window the box reaches one pixel further
   forward than back, exactly as the reference's running sum does.
2. Decimation to 64x64 by sampling pixel ``floor((i + 0.5) * n / 64)`` of the filtered
   image along each axis.
3. Quality: the sum over horizontal and vertical neighbour pairs of the 64x64 image of
   ``|trunc((u - v) * 100 / 255)|``, divided by 90 (integer division), capped at 100.
4. 2-D DCT: ``B = D A D^T`` with the 16x64 matrix
   ``D[i, j] = sqrt(2 / 64) * cos(pi / 128 * (i + 1) * (2j + 1))`` (frequencies 1 to 16;
   the DC term is skipped).
5. Bit ``k = 16 i + j`` is set when ``B[i, j]`` is greater than the median of the 256
   values, the median being the lower middle value (element 127 of the sorted values, as
   the reference's Torben median returns).

Because step 1 is linear and separable and only 64 samples per axis survive step 2, the
two passes along an axis are folded into one small weight matrix per sample (``2w - 1``
taps, computed exactly in float64 and cached per side length) and only the pixels that
reach a sample are read. Everything is float64; the reference is float32, so the two agree
bit for bit unless the two middle DCT values sit within about 2e-3 of each other (seen only
on synthetic images, nearly featureless or strictly periodic; docs/pdq.md has the figures).

The match rule the product uses (docs/pdq.md, "Thresholds chosen") lives here too:
:func:`is_match` (the smallest distance over the query's 8 dihedral variants <= 52, or <= 80
when pHash-64 is within 12), :func:`nearest_variant`, :data:`QUALITY_THRESHOLD` (a query of
lower quality is never matched by PDQ) and :data:`DIHEDRAL_EDITS` (what a matching variant
says was done to the stored image).

Bit order and hex form are the reference's: ``Hash256.w[k >> 4]`` holds bit ``k`` at
``1 << (k & 15)`` and the hex string prints ``w[15]`` first. :attr:`PdqHash.bits` is that
hex string as bytes, so bit ``k`` is ``bits[31 - k // 8] >> (k % 8) & 1``, and
``np.unpackbits(bits)`` equals the bit vector ``pdqhash.compute`` returns.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

HASH_BYTES: Final = 32
"""A PDQ hash is 256 bits."""

MIN_DIMENSION: Final = 5
"""Images with a side shorter than this get the all-zero hash and quality 0 (reference)."""

QUALITY_THRESHOLD: Final = 50
"""PDQ's recommended cut-off: hashes of lower quality should not be matched on."""

DIHEDRAL_NAMES: Final = (
    "original",
    "rotated 90 degrees counter-clockwise",
    "rotated 180 degrees",
    "rotated 90 degrees clockwise",
    "flipped vertically",
    "mirrored horizontally",
    "transposed",
    "transversed",
)
"""Names of the :func:`pdq_dihedral` variants, in the order the reference (and
``pdqhash.compute_dihedral``) returns them. For an array ``x``: ``np.rot90(x)``,
``np.rot90(x, 2)``, ``np.rot90(x, -1)``, ``x[::-1, :]`` (top and bottom swapped, the
reference's FlipX), ``x[:, ::-1]`` (left and right swapped, FlipY), ``x.T`` (FlipPlus1) and
``x[::-1, ::-1].T`` (FlipMinus1). Pillow's equivalents are ``Transpose.ROTATE_90``,
``ROTATE_180``, ``ROTATE_270``, ``FLIP_TOP_BOTTOM``, ``FLIP_LEFT_RIGHT``, ``TRANSPOSE`` and
``TRANSVERSE``."""

MATCH_DISTANCE: Final = 52
"""The match rule's first clause: the smallest distance over the query's 8 dihedral variants
that matches on its own (docs/pdq.md: 38 bits below the closest pair of different corpus
photographs)."""

PHASH64_CONFIRM: Final = 12
"""The match rule's second clause: a pHash-64 distance (query as it is, against the record)
at or under which ..."""

CONFIRMED_DISTANCE: Final = 80
"""... a PDQ distance up to this matches too (5 % crops and 1-2 degree rotations)."""

DIHEDRAL_EDITS: Final = (
    DIHEDRAL_NAMES[0],
    DIHEDRAL_NAMES[3],
    DIHEDRAL_NAMES[2],
    DIHEDRAL_NAMES[1],
    *DIHEDRAL_NAMES[4:],
)
"""What was done to a stored image when variant ``k`` of the query matched it: variant
``k`` is the query transformed by ``DIHEDRAL_NAMES[k]``, so the query is the stored image
transformed by the inverse. Every move is its own inverse except the two quarter turns: a
query whose counter-clockwise variant matches was turned clockwise."""

_SIDE: Final = 64
_GATHER_BUDGET: Final = 1 << 20
"""Float64 values gathered at once when filtering along the rows (8 MiB)."""

_Float = npt.NDArray[np.float64]
_Index = npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class PdqHash:
    """A PDQ hash and its quality.

    Attributes:
        bits: The 256 bits as 32 bytes, in the reference's hex order (module docstring).
        quality: The reference's quality score, 0 (featureless) to 100.
    """

    bits: bytes
    quality: int

    def __post_init__(self) -> None:
        if len(self.bits) != HASH_BYTES:
            raise ValueError(f"a PDQ hash is {HASH_BYTES} bytes, not {len(self.bits)}")
        if not 0 <= self.quality <= 100:
            raise ValueError(f"PDQ quality must be 0-100, not {self.quality}")

    def hex(self) -> str:
        """The 64-character lowercase hex form the reference prints."""
        return self.bits.hex()


def pdq_hash(luma: npt.NDArray[Any]) -> PdqHash:
    """The PDQ hash of a luminance image.

    Args:
        luma: A 2-D array (rows x columns) of luminance on the 0-255 scale: uint8, or any
            other integer or float dtype. The product passes a Pillow ``"L"`` image as an
            array, whose values are ``round(0.299 R + 0.587 G + 0.114 B)``: the
            reference's luminance (same weights) rounded to an integer.

    Returns:
        The hash and its quality. A side shorter than :data:`MIN_DIMENSION` gives the
        all-zero hash with quality 0, as in the reference.

    Raises:
        TypeError: ``luma`` is not of an integer or float dtype.
        ValueError: ``luma`` is not 2-D, or non-finite values reach the hash.
    """
    pixels = _checked(luma)
    if pixels is None:
        return PdqHash(bytes(HASH_BYTES), 0)
    return _hash_of_small(_downsample(pixels))


def pdq_dihedral(luma: npt.NDArray[Any], *, reference: bool = False) -> tuple[PdqHash, ...]:
    """The PDQ hashes of the image's 8 rotations and reflections.

    Variant ``k`` is the hash of the array transformed as :data:`DIHEDRAL_NAMES` ``[k]``
    says, equal (bits and quality) to :func:`pdq_hash` of that array. It costs about two
    :func:`pdq_hash` calls, not eight: every variant's 64x64 image comes from the one image
    by reading the filter taps mirrored along the rows and/or columns (two passes along the
    rows, four cheap ones along the columns), and a transpose of the 64x64 image is the
    64x64 image of the transposed array.

    Args:
        luma: As for :func:`pdq_hash`.
        reference: Compute the variants as the reference does instead (its
            ``pdqDihedralHash256esFromFloatLuma``, and ``pdqhash.compute_dihedral``): by
            transposing and changing the signs of the original's 16x16 DCT values, all
            with the original's quality. That is cheaper (one :func:`pdq_hash` plus about
            0.05 ms) but exact only when both sides are 64 (4m + 1) pixels (64, 320, 576,
            ...): elsewhere the reference's box windows and sample positions are not
            symmetric and the variants differ from the transformed arrays' hashes (on
            the corpus: median 12 bits, 104 on a fine brick texture; docs/pdq.md).

    Returns:
        Eight hashes, in :data:`DIHEDRAL_NAMES` order.

    Raises:
        TypeError: ``luma`` is not of an integer or float dtype.
        ValueError: ``luma`` is not 2-D, or non-finite values reach the hash.
    """
    pixels = _checked(luma)
    if pixels is None:
        return tuple(PdqHash(bytes(HASH_BYTES), 0) for _ in DIHEDRAL_NAMES)
    if reference:
        coefficients, quality = _dct16(_downsample(pixels))
        return tuple(PdqHash(_to_bits(move(coefficients)), quality) for move in _DCT_MOVES)
    rows, cols = pixels.shape
    row_taps, mirrored_row_taps = _axis_taps(rows), _mirrored(_axis_taps(rows), rows)
    col_taps, mirrored_col_taps = _axis_taps(cols), _mirrored(_axis_taps(cols), cols)
    tall = _along_rows(pixels, *row_taps)
    tall_mirrored = _along_rows(pixels, *mirrored_row_taps)
    plain = _along_cols(tall, *col_taps)  # x
    upside_down = _along_cols(tall_mirrored, *col_taps)  # x[::-1, :]
    mirrored = _along_cols(tall, *mirrored_col_taps)  # x[:, ::-1]
    turned = _along_cols(tall_mirrored, *mirrored_col_taps)  # x[::-1, ::-1]
    smalls = (
        plain,
        mirrored.T,  # np.rot90(x) == x[:, ::-1].T
        turned,
        upside_down.T,  # np.rot90(x, -1) == x[::-1, :].T
        upside_down,
        mirrored,
        plain.T,
        turned.T,
    )
    return tuple(_hash_of_small(small) for small in smalls)


def hamming(a: bytes, b: bytes) -> int:
    """The number of bits in which two equal-length hashes differ.

    Raises:
        ValueError: the lengths differ.
    """
    if len(a) != len(b):
        raise ValueError(f"hash lengths differ: {len(a)} and {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


def nearest_variant(variants: Sequence[bytes], stored: bytes) -> tuple[int, int]:
    """The smallest Hamming distance between any of ``variants`` and ``stored``, and the
    position of the first variant at that distance (ties go to the earlier variant, so the
    original wins over a flip of a symmetric image).

    Raises:
        ValueError: no variants, or lengths differ.
    """
    if not variants:
        raise ValueError("no variants to compare")
    best, where = HASH_BYTES * 8 + 1, 0
    for k, variant in enumerate(variants):
        d = hamming(variant, stored)
        if d < best:
            best, where = d, k
    return best, where


def is_match(pdq_distance: int, phash64_distance: int | None) -> bool:
    """The match rule: ``pdq_distance`` (the smallest over the query's dihedral variants)
    <= :data:`MATCH_DISTANCE`, or pHash-64 <= :data:`PHASH64_CONFIRM` and PDQ <=
    :data:`CONFIRMED_DISTANCE`. Only for hashes of quality >= :data:`QUALITY_THRESHOLD`
    (the caller checks the query's)."""
    if pdq_distance <= MATCH_DISTANCE:
        return True
    return (
        phash64_distance is not None
        and phash64_distance <= PHASH64_CONFIRM
        and pdq_distance <= CONFIRMED_DISTANCE
    )


# --- the algorithm ---------------------------------------------------------------------------
def _checked(luma: npt.NDArray[Any]) -> npt.NDArray[Any] | None:
    """The luma as an array, or None when a side is below :data:`MIN_DIMENSION`."""
    pixels = np.asarray(luma)
    if pixels.dtype.kind not in "uif":
        raise TypeError(f"luma must be an integer or float array, not {pixels.dtype}")
    if pixels.ndim != 2:
        raise ValueError(f"luma must be 2-D (rows x columns), not {pixels.ndim}-D")
    if min(pixels.shape) < MIN_DIMENSION:
        return None
    return pixels


def _hash_of_small(small: _Float) -> PdqHash:
    coefficients, quality = _dct16(small)
    return PdqHash(_to_bits(coefficients), quality)


def _dct16(small: _Float) -> tuple[_Float, int]:
    """The 16x16 DCT values and the quality of a 64x64 image."""
    if not np.isfinite(small).all():
        raise ValueError("luma has non-finite values")
    matrix = _dct_matrix()
    coefficients: _Float = matrix @ small @ matrix.T
    return coefficients, _quality(small)


def _downsample(pixels: npt.NDArray[Any]) -> _Float:
    """Tent-filter (two box passes per axis) and decimate to 64x64, reading only the
    pixels that reach a sample."""
    rows, cols = pixels.shape
    return _along_cols(_along_rows(pixels, *_axis_taps(rows)), *_axis_taps(cols))


def _along_rows(pixels: npt.NDArray[Any], index: _Index, weight: _Float) -> _Float:
    """Filter and decimate along the rows: 64 x columns."""
    cols = pixels.shape[1]
    step = max(1, min(_SIDE, _GATHER_BUDGET // (index.shape[1] * cols)))
    tall = np.empty((_SIDE, cols))
    for start in range(0, _SIDE, step):
        stop = start + step
        block = pixels[index[start:stop]].astype(np.float64, copy=False)
        tall[start:stop] = np.matmul(weight[start:stop, None, :], block)[:, 0, :]
    return tall


def _along_cols(tall: _Float, index: _Index, weight: _Float) -> _Float:
    """Filter and decimate along the columns: 64 x 64."""
    small: _Float = np.einsum("rct,ct->rc", tall[:, index], weight)
    return small


def _mirrored(taps: tuple[_Index, _Float], n: int) -> tuple[_Index, _Float]:
    """The taps that give the samples of the axis reversed (pixel m read as n - 1 - m)."""
    index, weight = taps
    mirrored: _Index = n - 1 - index
    return mirrored, weight


@functools.lru_cache(maxsize=64)
def _axis_taps(n: int) -> tuple[_Index, _Float]:
    """For a side of ``n`` pixels: which pixels reach each of the 64 samples, with what
    weight, after two passes of the reference's box filter (both arrays 64 x (2w - 1))."""
    window = (n + 2 * _SIDE - 1) // (2 * _SIDE)
    back = window - (window + 2) // 2  # the reference's box covers [i - back, i + ahead]
    ahead = window - 1 - back
    samples = np.array([int((i + 0.5) * n / _SIDE) for i in range(_SIDE)], dtype=np.intp)

    def box_size(centre: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
        size: npt.NDArray[np.intp] = np.minimum(n - 1, centre + ahead) - np.maximum(
            0, centre - back
        )
        return size + 1

    offsets = np.arange(-back, ahead + 1, dtype=np.intp)
    weight = np.zeros((_SIDE, 2 * window - 1))
    outer = box_size(samples)
    for slot, offset in enumerate(offsets):
        middle = samples + offset  # a pixel of the first pass read by the second
        inside = (middle >= 0) & (middle < n)
        share = np.where(inside, 1.0 / (outer * box_size(middle)), 0.0)
        reached = middle[:, None] + offsets[None, :]
        valid = (reached >= 0) & (reached < n)
        weight[:, slot : slot + window] += np.where(valid, share[:, None], 0.0)
    index = samples[:, None] - 2 * back + np.arange(2 * window - 1, dtype=np.intp)
    weight[(index < 0) | (index >= n)] = 0.0
    index = np.clip(index, 0, n - 1)
    index.setflags(write=False)
    weight.setflags(write=False)
    return index, weight


def _quality(small: _Float) -> int:
    """The reference's gradient-sum quality of the 64x64 image, 0-100."""
    down = np.trunc((small[:-1, :] - small[1:, :]) * 100.0 / 255.0)
    across = np.trunc((small[:, :-1] - small[:, 1:]) * 100.0 / 255.0)
    gradient_sum = int(np.abs(down).sum() + np.abs(across).sum())
    return min(100, gradient_sum // 90)


@functools.cache
def _dct_matrix() -> _Float:
    """The reference's 16x64 DCT matrix (frequencies 1-16), in float64."""
    i = np.arange(1, 17, dtype=np.float64)[:, None]
    j = np.arange(_SIDE, dtype=np.float64)[None, :]
    matrix: _Float = np.sqrt(2.0 / _SIDE) * np.cos(np.pi / 2.0 / _SIDE * i * (2.0 * j + 1.0))
    matrix.setflags(write=False)
    return matrix


def _to_bits(coefficients: _Float) -> bytes:
    """Bit ``16 i + j`` set when value ``(i, j)`` exceeds the lower median; reference order."""
    values = coefficients.ravel()
    median = np.partition(values, 127)[127]
    return np.packbits(values[::-1] > median).tobytes()


# --- the dihedral group in the DCT domain -----------------------------------------------------
# Frequency k = i + 1 of a DCT-II basis changes sign (-1)**k when the axis is reversed, so a
# flip negates the values whose index i is even along that axis; swapping the axes
# transposes the matrix. These are the reference's dct16OriginalTo* functions.
_ODD: Final = np.where(np.arange(16) % 2 == 1, 1.0, -1.0)
_ROW_SIGN: Final = _ODD[:, None]
_COL_SIGN: Final = _ODD[None, :]

_DCT_MOVES: Final[tuple[Callable[[_Float], _Float], ...]] = (
    lambda b: b,
    lambda b: (b * _COL_SIGN).T,
    lambda b: b * _ROW_SIGN * _COL_SIGN,
    lambda b: (b * _ROW_SIGN).T,
    lambda b: b * _ROW_SIGN,
    lambda b: b * _COL_SIGN,
    lambda b: b.T,
    lambda b: (b * _ROW_SIGN * _COL_SIGN).T,
)
