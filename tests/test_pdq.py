"""Tests for provenance.pdq: cross-checked bit for bit against the ``pdqhash`` package (the
reference C++ behind a Cython wrapper) on the corpus photographs and on synthetic images,
the dihedral variants, the bit order, and input handling.

Measured tolerance (docs/pdq.md): on all 63 corpus photographs, decoded as the product
decodes them, our hashes and qualities equal pdqhash's exactly (0 differing bits). Our
DCT values are float64 and the reference's float32; they differed by at most 9.1e-4 while
the two middle DCT values of a photograph were never closer than 0.0157, so no bit can
flip. A bit can only differ when the two middle values are within about 2e-3 of each
other, which the synthetic-image cross-check below skips (only nearly featureless or
strictly periodic synthetic images come that close); the quality may then differ by 1.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageOps

from provenance import pdq
from provenance.pdq import DIHEDRAL_NAMES, PdqHash, hamming, pdq_dihedral, pdq_hash

FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The transforms DIHEDRAL_NAMES names, as numpy views of an array.
TRANSFORMS: tuple[Callable[[npt.NDArray[Any]], npt.NDArray[Any]], ...] = (
    lambda x: x,
    np.rot90,
    lambda x: np.rot90(x, 2),
    lambda x: np.rot90(x, -1),
    lambda x: x[::-1, :],
    lambda x: x[:, ::-1],
    lambda x: x.T,
    lambda x: x[::-1, ::-1].T,
)
# The same transforms in Pillow.
PILLOW_TRANSPOSES = (
    None,
    Image.Transpose.ROTATE_90,
    Image.Transpose.ROTATE_180,
    Image.Transpose.ROTATE_270,
    Image.Transpose.FLIP_TOP_BOTTOM,
    Image.Transpose.FLIP_LEFT_RIGHT,
    Image.Transpose.TRANSPOSE,
    Image.Transpose.TRANSVERSE,
)
# Both sides 64 (4m + 1): the reference's filter windows and sample positions are
# symmetric, so its DCT-domain dihedral shortcut is exact.
SYMMETRIC_SIDES = (64, 320, 576)


# --- helpers -----------------------------------------------------------------------------------
def product_luma(path: Path) -> npt.NDArray[np.uint8]:
    """The luminance the product hashes: draft-decoded JPEG, EXIF orientation applied, RGB,
    ``reduce(min(w, h) // 512)`` when that is >= 2, then Pillow's ``"L"``."""
    with Image.open(path) as opened:
        if opened.format == "JPEG":
            opened.draft("RGB", (512, 512))
        image = ImageOps.exif_transpose(opened).convert("RGB")
    factor = min(image.size) // 512
    if factor >= 2:
        image = image.reduce(factor)
    return np.asarray(image.convert("L"))


def reference(luma: npt.NDArray[np.uint8]) -> tuple[bytes, int]:
    """pdqhash's hash (as our bytes) and quality of a luminance image: the image goes in as
    RGB with three equal channels, so pdqhash's own luma (0.299 R + 0.587 G + 0.114 B)
    equals ours."""
    pdqhash = pytest.importorskip("pdqhash")
    vector, quality = pdqhash.compute(_as_rgb(luma))
    return np.packbits(vector.astype(np.uint8)).tobytes(), int(quality)


def reference_dihedral(luma: npt.NDArray[np.uint8]) -> tuple[list[bytes], int]:
    pdqhash = pytest.importorskip("pdqhash")
    vectors, quality = pdqhash.compute_dihedral(_as_rgb(luma))
    return [np.packbits(v.astype(np.uint8)).tobytes() for v in vectors], int(quality)


def _as_rgb(luma: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.ascontiguousarray(np.repeat(luma[:, :, None], 3, axis=2))


def median_gap(luma: npt.NDArray[Any]) -> float:
    """How far apart our two middle DCT values are (bits are stable when this is large)."""
    values = np.sort(pdq._dct16(pdq._downsample(np.asarray(luma)))[0].ravel())
    return float(values[128] - values[127])


def smooth_image(seed: int, rows: int, cols: int) -> npt.NDArray[np.uint8]:
    """A photograph-like test image: a coarse random grid, bicubic-upscaled, plus noise."""
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (int(rng.integers(3, 12)), int(rng.integers(3, 12))))
    up = Image.fromarray(grid.astype(np.uint8)).resize((cols, rows), Image.Resampling.BICUBIC)
    noisy = np.asarray(up, dtype=np.int64) + rng.integers(-12, 13, (rows, cols))
    clipped: npt.NDArray[np.uint8] = np.clip(noisy, 0, 255).astype(np.uint8)
    return clipped


sides = st.integers(min_value=pdq.MIN_DIMENSION, max_value=400)


@cache
def _corpus_lumas(root: str) -> dict[str, npt.NDArray[np.uint8]]:
    names = [
        line.split("\t", 1)[0]
        for line in (Path(root) / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
        if line.strip()
    ]
    return {name: product_luma(Path(root) / name) for name in names}


@pytest.fixture(scope="module")
def corpus_lumas(corpus: Path) -> dict[str, npt.NDArray[np.uint8]]:
    return _corpus_lumas(str(corpus))


def photo(lumas: dict[str, npt.NDArray[np.uint8]], name: str) -> npt.NDArray[np.uint8]:
    if name not in lumas:
        pytest.skip(f"{name} is not in the corpus")
    return lumas[name]


# --- cross-check against pdqhash -----------------------------------------------------------------
def test_corpus_matches_pdqhash_exactly(corpus_lumas: dict[str, npt.NDArray[np.uint8]]) -> None:
    pytest.importorskip("pdqhash")
    assert corpus_lumas
    for name, luma in corpus_lumas.items():
        ours = pdq_hash(luma)
        bits, quality = reference(luma)
        assert hamming(ours.bits, bits) == 0, name
        assert ours.quality == quality, name
        assert median_gap(luma) > 0.01, name  # far above the float32 error (about 1e-3)


def test_corpus_reference_dihedral_matches_pdqhash(
    corpus_lumas: dict[str, npt.NDArray[np.uint8]],
) -> None:
    pytest.importorskip("pdqhash")
    for name, luma in list(corpus_lumas.items())[::4]:
        ours = pdq_dihedral(luma, reference=True)
        hashes, quality = reference_dihedral(luma)
        assert [h.bits for h in ours] == hashes, name
        assert {h.quality for h in ours} == {quality}, name


@FAST
@given(seed=st.integers(0, 2**32 - 1), rows=sides, cols=sides)
def test_synthetic_images_match_pdqhash(seed: int, rows: int, cols: int) -> None:
    pytest.importorskip("pdqhash")
    luma = smooth_image(seed, rows, cols)
    assume(median_gap(luma) > 0.01)
    ours = pdq_hash(luma)
    bits, quality = reference(luma)
    assert ours.bits == bits
    assert abs(ours.quality - quality) <= 1


@pytest.mark.parametrize("shape", [(4, 100), (100, 4), (1, 1), (0, 0)])
def test_too_small_gives_zero_hash_like_the_reference(shape: tuple[int, int]) -> None:
    luma = np.full(shape, 128, dtype=np.uint8)
    assert pdq_hash(luma) == PdqHash(bytes(32), 0)
    assert pdq_dihedral(luma) == (PdqHash(bytes(32), 0),) * 8


@pytest.mark.parametrize("shape", [(4, 100), (100, 4), (4, 4)])
def test_too_small_for_the_reference_too(shape: tuple[int, int]) -> None:
    luma = smooth_image(1, *shape)
    assert reference(luma) == (bytes(32), 0)


@pytest.mark.parametrize("shape", [(5, 5), (64, 64), (129, 130), (63, 257), (1000, 750)])
def test_edge_sizes_match_pdqhash(shape: tuple[int, int]) -> None:
    pytest.importorskip("pdqhash")
    luma = smooth_image(sum(shape), *shape)
    ours = pdq_hash(luma)
    assert (ours.bits, ours.quality) == reference(luma)


# --- dihedral variants ---------------------------------------------------------------------------
@FAST
@given(seed=st.integers(0, 2**32 - 1), rows=sides, cols=sides)
def test_dihedral_equals_hashing_the_transformed_array(seed: int, rows: int, cols: int) -> None:
    luma = smooth_image(seed, rows, cols)
    # A side of a few pixels leaves many of the 256 DCT values at rounding noise (~1e-14):
    # the bits are then decided by summation order, in either path. Compare the rest.
    assume(all(median_gap(transform(luma)) > 1e-9 for transform in TRANSFORMS))
    variants = pdq_dihedral(luma)
    assert len(variants) == len(DIHEDRAL_NAMES) == 8
    for name, transform, variant in zip(DIHEDRAL_NAMES, TRANSFORMS, variants, strict=True):
        assert variant == pdq_hash(transform(luma)), name


def test_dihedral_equals_hashing_the_transformed_corpus(
    corpus_lumas: dict[str, npt.NDArray[np.uint8]],
) -> None:
    for name, luma in list(corpus_lumas.items())[::3]:
        for transform, variant in zip(TRANSFORMS, pdq_dihedral(luma), strict=True):
            assert variant == pdq_hash(transform(luma)), name


@pytest.mark.parametrize("rows", SYMMETRIC_SIDES)
@pytest.mark.parametrize("cols", SYMMETRIC_SIDES)
def test_reference_dihedral_is_exact_on_symmetric_sizes(rows: int, cols: int) -> None:
    luma = smooth_image(rows * cols, rows, cols)
    exact = pdq_dihedral(luma)
    shortcut = pdq_dihedral(luma, reference=True)
    assert [v.bits for v in shortcut] == [v.bits for v in exact]


def test_reference_dihedral_is_inexact_elsewhere() -> None:
    """The reference's shortcut assumes a symmetric filter; at 512 px it is not (window 4
    reaches one pixel further forward, samples sit at 8i + 4), so some variants differ."""
    luma = smooth_image(7, 512, 512)
    exact = pdq_dihedral(luma)
    shortcut = pdq_dihedral(luma, reference=True)
    assert shortcut[0] == exact[0]
    assert shortcut[6].bits == exact[6].bits  # a transpose needs no mirrored taps
    assert any(hamming(a.bits, b.bits) for a, b in zip(shortcut, exact, strict=True))


def test_names_match_pillow_transposes() -> None:
    luma = smooth_image(3, 7, 11)
    image = Image.fromarray(luma)
    for name, transform, method in zip(DIHEDRAL_NAMES, TRANSFORMS, PILLOW_TRANSPOSES, strict=True):
        moved = image if method is None else image.transpose(method)
        assert np.array_equal(np.asarray(moved), transform(luma)), name
    assert len(set(DIHEDRAL_NAMES)) == 8


def test_flip_of_photo_found_through_dihedral(
    corpus_lumas: dict[str, npt.NDArray[np.uint8]],
) -> None:
    luma = photo(corpus_lumas, "skimage__brick.png")
    stored = pdq_hash(luma).bits
    query = pdq_dihedral(luma[:, ::-1])
    assert min(hamming(v.bits, stored) for v in query) == 0


# --- bit order and properties --------------------------------------------------------------------
def test_bit_order_is_the_reference_hex() -> None:
    """Build an image whose 16x16 DCT is a known matrix C (the DCT rows are orthonormal, so
    ``128 + D^T C D`` has DCT exactly C): bit k = 16 i + j is set when C[i, j] is above the
    lower median, and sits at ``bits[31 - k // 8] >> (k % 8) & 1``."""
    rng = np.random.default_rng(11)
    coefficients = rng.permutation(256).reshape(16, 16) - 127.5
    matrix = pdq._dct_matrix()
    luma = 128.0 + matrix.T @ coefficients @ matrix
    assert luma.min() >= 0 and luma.max() <= 255
    result = pdq_hash(luma)
    for k in range(256):
        expected = coefficients.flat[k] > -0.5  # the lower median of -127.5 .. 127.5
        assert (result.bits[31 - k // 8] >> (k % 8)) & 1 == expected, k
    # The reference's Hash256: w[k >> 4] holds bit k at 1 << (k & 15); hex prints w[15] first.
    words = [0] * 16
    for k in range(256):
        if coefficients.flat[k] > -0.5:
            words[k >> 4] |= 1 << (k & 15)
    assert result.hex() == "".join(f"{w:04x}" for w in reversed(words))


def test_bit_vector_is_pdqhash_vector(corpus_lumas: dict[str, npt.NDArray[np.uint8]]) -> None:
    pdqhash = pytest.importorskip("pdqhash")
    luma = photo(corpus_lumas, "skimage__camera.png")
    vector, _ = pdqhash.compute(_as_rgb(luma))
    unpacked = np.unpackbits(np.frombuffer(pdq_hash(luma).bits, dtype=np.uint8))
    assert np.array_equal(unpacked, vector)


def test_flat_image_has_quality_zero() -> None:
    for value in (0, 128, 255):
        assert pdq_hash(np.full((300, 200), value, dtype=np.uint8)).quality == 0
    assert pdq_hash(smooth_image(1, 300, 200)).quality == 100


def test_quality_threshold_separates_featureless_from_detailed() -> None:
    ramp = np.tile(np.linspace(100, 140, 256), (256, 1))  # a faint gradient
    assert pdq_hash(ramp).quality < pdq.QUALITY_THRESHOLD
    assert pdq_hash(smooth_image(2, 256, 256)).quality >= pdq.QUALITY_THRESHOLD


@given(a=st.binary(min_size=32, max_size=32), b=st.binary(min_size=32, max_size=32))
def test_hamming_is_a_metric(a: bytes, b: bytes) -> None:
    assert hamming(a, b) == hamming(b, a)
    assert hamming(a, a) == 0
    assert hamming(a, bytes(32)) == sum(bin(x).count("1") for x in a)
    assert hamming(a, bytes(x ^ 0xFF for x in a)) == 256


def test_hamming_rejects_different_lengths() -> None:
    with pytest.raises(ValueError, match="lengths differ"):
        hamming(bytes(32), bytes(8))


def test_pdq_hash_value_checks() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PdqHash(bytes(31), 50)
    with pytest.raises(ValueError, match="0-100"):
        PdqHash(bytes(32), 101)
    assert PdqHash(bytes(range(32)), 7).hex() == bytes(range(32)).hex()


# --- input handling ------------------------------------------------------------------------------
def test_dtypes_and_views_agree() -> None:
    luma = smooth_image(5, 333, 217)
    expected = pdq_hash(luma)
    assert pdq_hash(luma.astype(np.float32)) == expected
    assert pdq_hash(luma.astype(np.float64)) == expected
    assert pdq_hash(luma.astype(np.int32)) == expected
    assert pdq_hash(np.asfortranarray(luma)) == expected
    padded = np.zeros((400, 300), dtype=np.uint8)
    padded[10:343, 20:237] = luma
    assert pdq_hash(padded[10:343, 20:237]) == expected


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10), dtype=bool), np.zeros((10, 10), dtype=complex), np.zeros((10, 10), object)],
)
def test_rejects_non_numeric(bad: npt.NDArray[Any]) -> None:
    with pytest.raises(TypeError):
        pdq_hash(bad)


def test_rejects_wrong_dimensions_and_non_finite() -> None:
    with pytest.raises(ValueError, match="2-D"):
        pdq_hash(np.zeros((10, 10, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="2-D"):
        pdq_dihedral(np.zeros(100, dtype=np.uint8))
    bad = np.full((64, 64), 10.0)
    bad[5, 5] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        pdq_hash(bad)
