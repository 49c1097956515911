"""PDQ study: how often the PDQ match rule finds edited copies of the corpus photographs,
and how often it matches two different photographs (docs/pdq.md).

Run from the repository root::

    python -m benchmarks.pdq_study --out docs/pdq-study.json

Every image goes through the product's perceptual pipeline: open with Pillow; for a JPEG
``draft("RGB", (512, 512))`` before loading; ``ImageOps.exif_transpose``; ``convert("RGB")``;
``reduce(f)`` with ``f = min(w, h) // 512`` when ``f >= 2``; ``convert("L")``; then
:func:`provenance.pdq.pdq_hash` / :func:`~provenance.pdq.pdq_dihedral` on the array and
``imagehash.phash`` (pHash-64) on the greyscale image.

The originals are the corpus files as they are. Each edited copy (a "query") is made from
the full-resolution decode of the original (orientation applied, RGB): the JPEG rows are
encoded at that quality and decoded from the bytes (so the draft decode applies); every
other query is handed to the pipeline as an in-memory image, as a lossless PNG would be
(no draft). A query is found when, with ``d`` the smallest PDQ distance between any of the
query's 8 dihedral variants and the original's hash and ``p`` the pHash-64 distance
between query and original::

    d <= 52  or  (p <= 12 and d <= 80)

The product uses PDQ only when the query's quality is at least 50 (the "query quality >= 50"
column: found under the rule and usable); the end-to-end found rates, through the ledger
and with the pHash rule beside PDQ, are ``tests/test_lookup.py``'s.

False matches apply the same rule to every ordered pair of different photographs
(query = one original, stored = another), and to every query against every other
photograph's original.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image, ImageEnhance, ImageOps

from provenance import pdq
from provenance.pdq import QUALITY_THRESHOLD, hamming, pdq_dihedral, pdq_hash

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path(os.environ.get("PROVENANCE_CORPUS", REPO.parent / "shared" / "corpus"))

PDQ_MATCH = pdq.MATCH_DISTANCE
"""PDQ distance that matches on its own (the product's rule, :mod:`provenance.pdq`)."""
PHASH64_CONFIRM = pdq.PHASH64_CONFIRM
"""pHash-64 distance under which a PDQ distance up to :data:`PDQ_WITH_PHASH` also matches."""
PDQ_WITH_PHASH = pdq.CONFIRMED_DISTANCE

PERCEPTUAL_MIN_SIDE = 512


# --- the pipeline ------------------------------------------------------------------------------
def pipeline_rgb(source: Path | bytes | Image.Image) -> Image.Image:
    """The product's perceptual pipeline up to the reduced RGB image (module docstring)."""
    if isinstance(source, Image.Image):
        image = source
    else:
        opened = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
        if opened.format == "JPEG":
            opened.draft("RGB", (PERCEPTUAL_MIN_SIDE, PERCEPTUAL_MIN_SIDE))
        opened.load()
        image = opened
    image = ImageOps.exif_transpose(image).convert("RGB")
    factor = min(image.size) // PERCEPTUAL_MIN_SIDE
    return image.reduce(factor) if factor >= 2 else image


def pipeline_grey(source: Path | bytes | Image.Image) -> Image.Image:
    """The greyscale image the hashes are computed from."""
    return pipeline_rgb(source).convert("L")


@dataclass(frozen=True)
class Hashes:
    """What the study keeps of one image (hex strings, so results pickle cheaply)."""

    pdq: str
    quality: int
    dihedral: tuple[str, ...]  # exact variants (pdq_dihedral)
    dihedral_reference: tuple[str, ...]  # the reference's DCT-domain shortcut
    phash64: str
    size: tuple[int, int]  # of the greyscale image hashed


def hashes_of(grey: Image.Image) -> Hashes:
    luma = np.asarray(grey)
    variants = pdq_dihedral(luma)
    shortcut = pdq_dihedral(luma, reference=True)
    return Hashes(
        pdq=variants[0].hex(),
        quality=variants[0].quality,
        dihedral=tuple(v.hex() for v in variants),
        dihedral_reference=tuple(v.hex() for v in shortcut),
        phash64=str(imagehash.phash(grey)),
        size=grey.size,
    )


# --- the edits ---------------------------------------------------------------------------------
def _jpeg(quality: int) -> Callable[[Image.Image], bytes]:
    def encode(image: Image.Image) -> bytes:
        out = io.BytesIO()
        image.save(out, "JPEG", quality=quality)
        return out.getvalue()

    return encode


def _resize(scale: float) -> Callable[[Image.Image], Image.Image]:
    def resize(image: Image.Image) -> Image.Image:
        w, h = image.size
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        return image.resize(size, Image.Resampling.LANCZOS)

    return resize


def _transpose(method: Image.Transpose) -> Callable[[Image.Image], Image.Image]:
    return lambda image: image.transpose(method)


def _crop(fraction: float, *, corner: bool) -> Callable[[Image.Image], Image.Image]:
    """Remove ``fraction`` of the width and of the height: half from each side (centre), or
    all from the right and bottom (corner, the top-left part stays)."""

    def crop(image: Image.Image) -> Image.Image:
        w, h = image.size
        cut_w, cut_h = round(w * fraction), round(h * fraction)
        if corner:
            return image.crop((0, 0, w - cut_w, h - cut_h))
        left, top = cut_w // 2, cut_h // 2
        return image.crop((left, top, left + w - cut_w, top + h - cut_h))

    return crop


def inner_rectangle(w: int, h: int, degrees: float) -> tuple[int, int]:
    """The largest axis-aligned rectangle inside a w x h rectangle rotated by ``degrees``
    about its centre (width, height)."""
    angle = math.radians(abs(degrees))
    sin_a, cos_a = math.sin(angle), math.cos(angle)
    long_side, short_side = max(w, h), min(w, h)
    if short_side <= 2.0 * sin_a * cos_a * long_side or abs(sin_a - cos_a) < 1e-10:
        half = 0.5 * short_side
        wr, hr = (half / sin_a, half / cos_a) if w >= h else (half / cos_a, half / sin_a)
    else:
        cos_2a = cos_a * cos_a - sin_a * sin_a
        wr, hr = (w * cos_a - h * sin_a) / cos_2a, (h * cos_a - w * sin_a) / cos_2a
    return math.floor(wr), math.floor(hr)


def _rotate(degrees: float, *, crop: bool) -> Callable[[Image.Image], Image.Image]:
    """Pillow ``rotate(degrees, BICUBIC, expand=False)``; with ``crop``, cut to the largest
    inner rectangle (less one pixel each side for the bicubic edge), else keep the black
    corners."""

    def rotate(image: Image.Image) -> Image.Image:
        turned = image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=False)
        if not crop:
            return turned
        w, h = image.size
        wr, hr = inner_rectangle(w, h, degrees)
        wr, hr = wr - 2, hr - 2
        left, top = (w - wr) // 2, (h - hr) // 2
        return turned.crop((left, top, left + wr, top + hr))

    return rotate


def _enhance(
    kind: Callable[[Image.Image], Any], factor: float
) -> Callable[[Image.Image], Image.Image]:
    def enhance(image: Image.Image) -> Image.Image:
        enhanced: Image.Image = kind(image).enhance(factor)
        return enhanced

    return enhance


def _gamma(gamma: float) -> Callable[[Image.Image], Image.Image]:
    table = [round(255.0 * (v / 255.0) ** gamma) for v in range(256)] * 3
    return lambda image: image.point(table)


def _repost(image: Image.Image) -> bytes:
    """Mirror, halve, re-encode at q=75: a typical re-post."""
    smaller = _resize(0.5)(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    return _jpeg(75)(smaller)


EDITS: dict[str, Callable[[Image.Image], Image.Image | bytes]] = {
    "lossless copy (full decode)": lambda image: image,
    "JPEG q=75": _jpeg(75),
    "JPEG q=50": _jpeg(50),
    "resize 50%": _resize(0.5),
    "resize 25%": _resize(0.25),
    "mirror (flip left-right)": _transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "flip top-bottom": _transpose(Image.Transpose.FLIP_TOP_BOTTOM),
    "rotate 90": _transpose(Image.Transpose.ROTATE_90),
    "rotate 180": _transpose(Image.Transpose.ROTATE_180),
    "crop 5% centre": _crop(0.05, corner=False),
    "crop 10% centre": _crop(0.10, corner=False),
    "crop 5% corner": _crop(0.05, corner=True),
    "rotate 1 deg, cropped": _rotate(1, crop=True),
    "rotate 2 deg, cropped": _rotate(2, crop=True),
    "rotate 5 deg, cropped": _rotate(5, crop=True),
    "rotate 1 deg, black corners": _rotate(1, crop=False),
    "rotate 2 deg, black corners": _rotate(2, crop=False),
    "rotate 5 deg, black corners": _rotate(5, crop=False),
    "brightness +20%": _enhance(ImageEnhance.Brightness, 1.2),
    "brightness -20%": _enhance(ImageEnhance.Brightness, 0.8),
    "contrast +20%": _enhance(ImageEnhance.Contrast, 1.2),
    "contrast -20%": _enhance(ImageEnhance.Contrast, 0.8),
    "gamma 0.8": _gamma(0.8),
    "gamma 1.25": _gamma(1.25),
    "mirror + resize 50% + JPEG q=75": _repost,
}


# --- one photograph ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PhotoResult:
    name: str
    original: Hashes
    queries: dict[str, Hashes]
    cross_check: dict[str, float] | None  # against pdqhash, when it is installed
    seconds: float


def study_photo(path: Path) -> PhotoResult:
    started = time.perf_counter()
    rgb = pipeline_rgb(path)
    grey = rgb.convert("L")
    original = hashes_of(grey)
    cross_check = _cross_check(rgb, grey, original)
    with Image.open(path) as opened:
        master = ImageOps.exif_transpose(opened).convert("RGB")
    queries = {}
    for label, edit in EDITS.items():
        queries[label] = hashes_of(pipeline_grey(edit(master)))
    return PhotoResult(path.name, original, queries, cross_check, time.perf_counter() - started)


def _pdqhash() -> Any:
    try:
        import pdqhash  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        return None
    return pdqhash


def _cross_check(rgb: Image.Image, grey: Image.Image, original: Hashes) -> dict[str, float] | None:
    """Our hash against pdqhash's: on the same luminance (the L image as three equal
    channels), with the float DCT values and how far apart the two middle ones are; and on
    the RGB image, from which pdqhash takes its own unrounded float luma."""
    pdqhash = _pdqhash()
    if pdqhash is None:
        return None
    luma = np.asarray(grey)
    same = np.ascontiguousarray(np.repeat(luma[:, :, None], 3, axis=2))
    vector, quality = pdqhash.compute(same)
    floats, _ = pdqhash.compute_float(same)
    ours = pdq._dct16(pdq._downsample(luma))[0]
    middle = np.sort(ours.ravel())[127:129]
    rgb_vector, rgb_quality = pdqhash.compute(np.ascontiguousarray(np.asarray(rgb)))
    stored = bytes.fromhex(original.pdq)
    shortcut = [bytes.fromhex(h) for h in original.dihedral_reference]
    exact = [bytes.fromhex(h) for h in original.dihedral]
    return {
        "bits": hamming(_packed(vector), stored),
        "quality": int(quality) - original.quality,
        "dct_difference": float(np.abs(ours - np.asarray(floats)[::-1].reshape(16, 16)).max()),
        "median_gap": float(middle[1] - middle[0]),
        "rgb_bits": hamming(_packed(rgb_vector), stored),
        "rgb_quality": int(rgb_quality) - original.quality,
        "shortcut_vs_exact_bits": max(map(hamming, shortcut, exact)),
    }


def _packed(vector: Any) -> bytes:
    return np.packbits(np.asarray(vector, dtype=np.uint8)).tobytes()


def cross_check_report(photos: Sequence[PhotoResult]) -> dict[str, Any] | None:
    rows = [(p.name, p.cross_check) for p in photos if p.cross_check is not None]
    if not rows:
        return None

    def column(key: str) -> list[float]:
        return [row[key] for _, row in rows]

    worst_shortcut = max(rows, key=lambda r: r[1]["shortcut_vs_exact_bits"])
    return {
        "photos": len(rows),
        "same_luma_bits": spread(column("bits")),
        "same_luma_quality_difference": spread(column("quality")),
        "dct_difference_max": max(column("dct_difference")),
        "median_gap_min": min(column("median_gap")),
        "rgb_luma_bits": spread(column("rgb_bits")),
        "rgb_luma_quality_difference": spread(column("rgb_quality")),
        "reference_dihedral_vs_exact_bits": spread(column("shortcut_vs_exact_bits")),
        "reference_dihedral_worst": worst_shortcut[0],
    }


def synthetic_cross_check(count: int = 400, seed: int = 1) -> dict[str, Any] | None:
    """Our hash against pdqhash on synthetic arrays of random size (5-1499 px a side):
    uniform noise, a bicubic-upscaled random grid of 2-8 cells a side, and a sinusoid."""
    pdqhash = _pdqhash()
    if pdqhash is None:
        return None
    rng = np.random.default_rng(seed)
    exact = 0
    quality_differences: dict[int, int] = {}
    differing = []
    for index in range(count):
        rows, cols = (int(v) for v in rng.integers(5, 1500, 2))
        kind = ("noise", "upscaled grid", "sinusoid")[index % 3]
        if kind == "noise":
            luma = rng.integers(0, 256, (rows, cols), dtype=np.uint8)
        elif kind == "upscaled grid":
            grid = rng.integers(0, 256, (rng.integers(2, 9), rng.integers(2, 9)), dtype=np.uint8)
            resized = Image.fromarray(grid).resize((cols, rows), Image.Resampling.BICUBIC)
            luma = np.asarray(resized)
        else:
            y, x = np.mgrid[0:rows, 0:cols]
            wave = np.sin(x / rng.uniform(5, 200) + y / rng.uniform(5, 200))
            luma = (127 + 120 * wave).astype(np.uint8)
        vector, quality = pdqhash.compute(np.ascontiguousarray(np.repeat(luma[:, :, None], 3, 2)))
        ours = pdq.pdq_hash(luma)
        bits = hamming(_packed(vector), ours.bits)
        delta = ours.quality - int(quality)
        quality_differences[delta] = quality_differences.get(delta, 0) + 1
        if bits == 0:
            exact += 1
            continue
        middle = np.sort(pdq._dct16(pdq._downsample(luma))[0].ravel())[127:129]
        differing.append(
            {
                "kind": kind,
                "shape": (rows, cols),
                "bits": bits,
                "quality": ours.quality,
                "median_gap": float(middle[1] - middle[0]),
            }
        )
    return {
        "arrays": count,
        "seed": seed,
        "exact": exact,
        "quality_differences": {str(k): v for k, v in sorted(quality_differences.items())},
        "differing": differing,
    }


# --- distances and rules ------------------------------------------------------------------------
_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


def _unhex(hexes: Sequence[str], width: int) -> npt.NDArray[np.uint8]:
    return np.frombuffer(bytes.fromhex("".join(hexes)), dtype=np.uint8).reshape(-1, width)


def _bits_apart(a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]) -> npt.NDArray[np.int32]:
    """Hamming distances, broadcasting over all but the last (byte) axis."""
    counts: npt.NDArray[np.int32] = _POPCOUNT[np.bitwise_xor(a, b)].sum(axis=-1)
    return counts


@dataclass(frozen=True)
class Distances:
    """Every distance the report needs, for P photographs and E edits."""

    query_pdq: npt.NDArray[np.int32]  # (P, E, P): query's dihedral min vs each original
    query_phash: npt.NDArray[np.int32]  # (P, E, P)
    own_pdq_reference: npt.NDArray[np.int32]  # (P, E): with the reference's DCT shortcut
    own_pdq_plain: npt.NDArray[np.int32]  # (P, E): the query as it is, no dihedral
    pair_pdq: npt.NDArray[np.int32]  # (P, P): original p's dihedral min vs original q
    pair_phash: npt.NDArray[np.int32]  # (P, P)

    @property
    def own_pdq(self) -> npt.NDArray[np.int32]:
        return np.diagonal(self.query_pdq, axis1=0, axis2=2).T

    @property
    def own_phash(self) -> npt.NDArray[np.int32]:
        return np.diagonal(self.query_phash, axis1=0, axis2=2).T


def distances(photos: Sequence[PhotoResult], edits: Sequence[str]) -> Distances:
    count, n_edits = len(photos), len(edits)
    stored = _unhex([p.original.pdq for p in photos], 32)  # (P, 32)
    stored_phash = _unhex([p.original.phash64 for p in photos], 8)  # (P, 8)

    def variants(pick: Callable[[Hashes], Sequence[str]]) -> npt.NDArray[np.uint8]:
        hexes = [v for p in photos for e in edits for v in pick(p.queries[e])]
        return _unhex(hexes, 32).reshape(count, n_edits, 8, 32)

    exact = variants(lambda h: h.dihedral)
    shortcut = variants(lambda h: h.dihedral_reference)
    query_phash = _unhex([p.queries[e].phash64 for p in photos for e in edits], 8)
    query_phash = query_phash.reshape(count, n_edits, 8)
    own = np.arange(count)
    originals = _unhex([v for p in photos for v in p.original.dihedral], 32).reshape(count, 8, 32)
    return Distances(
        query_pdq=_bits_apart(exact[:, :, None, :, :], stored[None, None, :, None, :]).min(-1),
        query_phash=_bits_apart(query_phash[:, :, None, :], stored_phash[None, None, :, :]),
        own_pdq_reference=_bits_apart(shortcut, stored[own, None, None, :]).min(-1),
        own_pdq_plain=_bits_apart(exact[:, :, 0, :], stored[own, None, :]),
        pair_pdq=_bits_apart(originals[:, None, :, :], stored[None, :, None, :]).min(-1),
        pair_phash=_bits_apart(stored_phash[:, None, :], stored_phash[None, :, :]),
    )


@dataclass(frozen=True)
class Rule:
    """Match when PDQ <= ``pdq``, or when pHash-64 <= ``phash`` and PDQ <= ``pdq_gated``."""

    pdq: int
    phash: int | None = None
    pdq_gated: int | None = None

    def __str__(self) -> str:
        text = f"PDQ <= {self.pdq}"
        if self.phash is not None:
            text += f" or (pHash-64 <= {self.phash} and PDQ <= {self.pdq_gated})"
        return text

    def matches(self, pdq: npt.NDArray[np.int32], phash: npt.NDArray[np.int32]) -> Any:
        found = pdq <= self.pdq
        if self.phash is not None and self.pdq_gated is not None:
            found = found | ((phash <= self.phash) & (pdq <= self.pdq_gated))
        return found


DESIGN_RULE = Rule(PDQ_MATCH, PHASH64_CONFIRM, PDQ_WITH_PHASH)
SWEEP = (
    Rule(31),
    Rule(52),
    Rule(64),
    Rule(80),
    DESIGN_RULE,
    Rule(52, 16, 90),
    Rule(64, 12, 80),
)


def spread(values: Any) -> dict[str, float | int]:
    array = np.asarray(values).ravel()
    return {
        "min": int(array.min()),
        "median": float(np.median(array)),
        "p95": float(np.percentile(array, 95)),
        "max": int(array.max()),
    }


def summarise_edits(
    photos: Sequence[PhotoResult], edits: Sequence[str], dist: Distances
) -> list[dict[str, Any]]:
    own_pdq, own_phash = dist.own_pdq, dist.own_phash
    rows = []
    for e, label in enumerate(edits):
        d, p = own_pdq[:, e], own_phash[:, e]
        found = DESIGN_RULE.matches(d, p)
        usable = np.array([ph.queries[label].quality >= QUALITY_THRESHOLD for ph in photos])
        rows.append(
            {
                "edit": label,
                "n": len(photos),
                "found": int(found.sum()),
                "found_fraction": float(found.mean()),
                "found_pdq_alone": int((d <= PDQ_MATCH).sum()),
                "found_quality_gated": int((found & usable).sum()),
                "found_with_reference_dihedral": int(
                    DESIGN_RULE.matches(dist.own_pdq_reference[:, e], p).sum()
                ),
                "found_without_dihedral": int(
                    DESIGN_RULE.matches(dist.own_pdq_plain[:, e], p).sum()
                ),
                "pdq_min": spread(d),
                "pdq_min_reference_dihedral": spread(dist.own_pdq_reference[:, e]),
                "phash64": spread(p),
                "missed": [
                    {"photo": photos[i].name, "pdq_min": int(d[i]), "phash64": int(p[i])}
                    for i in map(int, np.flatnonzero(~found))
                ],
                "low_quality_queries": [
                    photo.name
                    for photo in photos
                    if photo.queries[label].quality < QUALITY_THRESHOLD
                ],
            }
        )
    return rows


def _off_diagonal(count: int) -> npt.NDArray[np.bool_]:
    return ~np.eye(count, dtype=bool)


def distinct_pairs(photos: Sequence[PhotoResult], dist: Distances) -> dict[str, Any]:
    """Every ordered pair (query original, stored original) of different photographs."""
    names = [p.name for p in photos]
    others = _off_diagonal(len(photos))
    d, p = dist.pair_pdq, dist.pair_phash
    found = DESIGN_RULE.matches(d, p) & others
    masked_d = np.where(others, d, 10_000)
    masked_p = np.where(others, p, 10_000)
    i, j = np.unravel_index(np.argmin(masked_d), d.shape)
    k, m = np.unravel_index(np.argmin(masked_p), p.shape)
    return {
        "ordered_pairs": int(others.sum()),
        "false_matches": int(found.sum()),
        "false_match_pairs": [
            (names[a], names[b]) for a, b in zip(*np.nonzero(found), strict=True)
        ],
        "closest_pdq_min": {
            "distance": int(d[i, j]),
            "pair": (names[i], names[j]),
            "phash64": int(p[i, j]),
        },
        "closest_phash64": {
            "distance": int(p[k, m]),
            "pair": (names[k], names[m]),
            "pdq_min": int(d[k, m]),
        },
        "pdq_min": spread(d[others]),
        "pdq_min_p1": float(np.percentile(d[others], 1)),
        "pdq_min_mean": round(float(d[others].mean()), 1),
        "pdq_min_sd": round(float(d[others].std()), 1),
        "phash64": spread(p[others]),
        "pairs_pdq_min_at_most_80": int(((d <= PDQ_WITH_PHASH) & others).sum()),
        "pairs_phash64_at_most_12": int(((p <= PHASH64_CONFIRM) & others).sum()),
    }


def queries_against_others(
    photos: Sequence[PhotoResult], edits: Sequence[str], dist: Distances
) -> dict[str, Any]:
    """Every query against every other photograph's original."""
    count = len(photos)
    others = _off_diagonal(count)[:, None, :].repeat(len(edits), axis=1)  # (P, E, P)
    d, p = dist.query_pdq, dist.query_phash
    found = DESIGN_RULE.matches(d, p) & others
    masked = np.where(others, d, 10_000)
    a, e, b = (int(x) for x in np.unravel_index(np.argmin(masked), d.shape))
    return {
        "comparisons": int(others.sum()),
        "false_matches": int(found.sum()),
        "false_match_list": [
            (photos[x].name, edits[y], photos[z].name, int(d[x, y, z]), int(p[x, y, z]))
            for x, y, z in zip(*(map(int, axis) for axis in np.nonzero(found)), strict=True)
        ],
        "closest": {
            "distance": int(d[a, e, b]),
            "query": (photos[a].name, edits[e]),
            "stored": photos[b].name,
            "phash64": int(p[a, e, b]),
        },
        "closest_phash64": int(np.where(others, p, 10_000).min()),
    }


def sweep(edits: Sequence[str], dist: Distances) -> list[dict[str, Any]]:
    """Each candidate rule: queries found per edit, and false matches among distinct pairs
    and among queries against other photographs."""
    count = dist.pair_pdq.shape[0]
    others = _off_diagonal(count)
    cross = others[:, None, :].repeat(len(edits), axis=1)
    rows = []
    for rule in SWEEP:
        found = rule.matches(dist.own_pdq, dist.own_phash)
        rows.append(
            {
                "rule": str(rule),
                "found": int(found.sum()),
                "queries": int(found.size),
                "found_per_edit": {label: int(found[:, e].sum()) for e, label in enumerate(edits)},
                "distinct_pair_false_matches": int(
                    (rule.matches(dist.pair_pdq, dist.pair_phash) & others).sum()
                ),
                "query_false_matches": int(
                    (rule.matches(dist.query_pdq, dist.query_phash) & cross).sum()
                ),
            }
        )
    return rows


def quality_report(photos: Sequence[PhotoResult], dist: Distances) -> dict[str, Any]:
    qualities = sorted((p.original.quality, p.name) for p in photos)
    values = [q for q, _ in qualities]
    others = _off_diagonal(len(photos))
    low = []
    for i, photo in enumerate(photos):
        if photo.original.quality >= QUALITY_THRESHOLD:
            continue
        found = DESIGN_RULE.matches(dist.own_pdq[i], dist.own_phash[i])
        low.append(
            {
                "photo": photo.name,
                "quality": photo.original.quality,
                "edits_found": int(found.sum()),
                "edits": len(found),
                "query_qualities": spread([q.quality for q in photo.queries.values()]),
                "closest_other_pdq_min": int(
                    min(dist.pair_pdq[i][others[i]].min(), dist.pair_pdq[:, i][others[i]].min())
                ),
            }
        )
    return {
        "low_quality_photos": low,
        "distribution": spread(values),
        "at_100": sum(q == 100 for q in values),
        "below_threshold": [
            {"photo": n, "quality": q} for q, n in qualities if q < QUALITY_THRESHOLD
        ],
        "lowest": [{"photo": n, "quality": q} for q, n in qualities[:5]],
    }


def timing(corpus: Path, names: Sequence[str]) -> dict[str, Any]:
    """Median cost of pdq_hash and pdq_dihedral on a 1000x750 uint8 array (a corpus
    photograph resized to what the sign path hands over for a 12 MP JPEG)."""
    name = "scipy__face.png" if "scipy__face.png" in names else names[0]
    with Image.open(corpus / name) as opened:
        luma = np.asarray(opened.convert("L").resize((1000, 750), Image.Resampling.LANCZOS))
    out: dict[str, Any] = {"array": f"{name} as L, resized to 1000x750 (rows=750, cols=1000)"}
    for label, fn in (
        ("pdq_hash_ms", lambda: pdq_hash(luma)),
        ("pdq_dihedral_ms", lambda: pdq_dihedral(luma)),
        ("pdq_dihedral_reference_ms", lambda: pdq_dihedral(luma, reference=True)),
    ):
        for _ in range(20):
            fn()
        runs = []
        for _ in range(500):
            t0 = time.perf_counter()
            fn()
            runs.append(time.perf_counter() - t0)
        out[label] = {
            "median": round(statistics.median(runs) * 1e3, 3),
            "p95": round(float(np.percentile(runs, 95)) * 1e3, 3),
        }
    return out


# --- main --------------------------------------------------------------------------------------
def corpus_names(corpus: Path) -> list[str]:
    lines = (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    return [line.split("\t", 1)[0] for line in lines[1:] if line.strip()]


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("numpy", "pillow", "imagehash", "pdqhash"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "absent"
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pdq_study", description=__doc__)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, help="only the first N >= 2 photographs (smoke run)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--timing-only", action="store_true", help="only time pdq_hash and pdq_dihedral"
    )
    args = parser.parse_args(argv)

    names = corpus_names(args.corpus)[: args.limit]
    if args.timing_only:
        print(json.dumps(timing(args.corpus, names), indent=1))
        return 0
    if len(names) < 2:
        parser.error("the study needs at least 2 photographs")
    started = time.perf_counter()
    paths = [args.corpus / name for name in names]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        photos = list(pool.map(study_photo, paths))
    hashing_seconds = time.perf_counter() - started

    arguments = sys.argv[1:] if argv is None else list(argv)
    edits = list(EDITS)
    dist = distances(photos, edits)
    report: dict[str, Any] = {
        "command": " ".join(["python -m benchmarks.pdq_study", *arguments]),
        "rule": f"{DESIGN_RULE}; PDQ = min over the query's 8 dihedral variants",
        "corpus": {
            "path": str(args.corpus),
            "photos": len(photos),
            "distinct": len(photos),
            "families": "none: no two files are the same picture (MANIFEST sources and sizes, "
            "a contact sheet, and the closest pair below); every pair counts as distinct",
        },
        "edits": summarise_edits(photos, edits, dist),
        "distinct_pairs": distinct_pairs(photos, dist),
        "queries_against_others": queries_against_others(photos, edits, dist),
        "sweep": sweep(edits, dist),
        "quality": quality_report(photos, dist),
        "cross_check_pdqhash": cross_check_report(photos),
        "synthetic_cross_check_pdqhash": synthetic_cross_check(),
        "timing": timing(args.corpus, names),
        "hashing_seconds": round(hashing_seconds, 1),
        "workers": args.workers,
        "versions": _versions(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
    }
    print(render(report))
    if args.out is not None:
        args.out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


def render(report: dict[str, Any]) -> str:
    lines = [
        f"{report['corpus']['photos']} photographs; rule: {report['rule']}",
        "",
        "| edit | found | query quality >= 50 | PDQ alone | ref. dihedral | no dihedral "
        "| PDQ min p95 / max | pHash-64 p95 / max |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report["edits"]:
        n = row["n"]
        lines.append(
            f"| {row['edit']} | {row['found']}/{n} ({100 * row['found_fraction']:.0f} %) "
            f"| {row['found_quality_gated']}/{n} "
            f"| {row['found_pdq_alone']}/{n} | {row['found_with_reference_dihedral']}/{n} "
            f"| {row['found_without_dihedral']}/{n} "
            f"| {row['pdq_min']['p95']:.0f} / {row['pdq_min']['max']} "
            f"| {row['phash64']['p95']:.0f} / {row['phash64']['max']} |"
        )
    pairs, others = report["distinct_pairs"], report["queries_against_others"]
    lines += [
        "",
        f"distinct ordered pairs: {pairs['ordered_pairs']}, false matches "
        f"{pairs['false_matches']}; closest PDQ (dihedral min) {pairs['closest_pdq_min']}; "
        f"closest pHash-64 {pairs['closest_phash64']}",
        f"queries vs other photographs: {others['comparisons']} comparisons, false matches "
        f"{others['false_matches']}; closest {others['closest']}",
        f"quality: {report['quality']['distribution']}, below 50: "
        f"{report['quality']['below_threshold']}",
        f"cross-check with pdqhash: {report['cross_check_pdqhash']}",
        f"synthetic cross-check: {report['synthetic_cross_check_pdqhash']}",
        f"timing: {report['timing']}",
        "",
        "| rule | found (all edits) | distinct-pair false matches | query false matches |",
        "| --- | --- | --- | --- |",
    ]
    for row in report["sweep"]:
        lines.append(
            f"| {row['rule']} | {row['found']}/{row['queries']} "
            f"| {row['distinct_pair_false_matches']} | {row['query_false_matches']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
