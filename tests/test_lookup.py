"""Soft binding v2 (issue 13): flipped, turned, slightly cropped and slightly rotated copies
are found through PDQ over the query's 8 dihedral variants, with zero false matches.

The found-rate tests sign corpus photographs into a real ledger and verify edited copies
through :meth:`provenance.evidence.LocalEvidence.verify_image` (the cascade ``verify``
runs): a copy is *found* when the verdict is ``similar`` and the matched record is its
original's. The default run uses :data:`FAST_PHOTOS` (small photographs, a few seconds);
the ``slow`` run takes every photograph of the corpus (docs/pdq.md has the measured rates).

Edits are made as in the study (``benchmarks/pdq_study.py``): from the full-resolution
decode (orientation applied, RGB); JPEG re-encodes go in as JPEG bytes, every other edit
as a lossless PNG.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXED_NOW
from PIL import Image, ImageOps
from tamper_helpers import append_raw, raw_db

from provenance import pdq
from provenance.bundle import loads, verify_offline
from provenance.evidence import LocalCandidates, export_bundle
from provenance.imaging import ImageProbe, pixel_digest_v1
from provenance.index import PdqIndex, words_of
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.matching import PdqCandidates, find
from provenance.publishing import SubmissionError
from provenance.records import Asset, Statement, sign_statement
from provenance.report import Report

FAST_PHOTOS = (
    "skimage__rocket.jpg",
    "opencv-doc__baboon.jpg",
    "matplotlib__grace_hopper.jpg",
    "skimage__chelsea.png",
    "opencv-doc__fruits.jpg",
    "skimage__coffee.png",
    "opencv-doc__building.jpg",
    "sklearn__china.jpg",
)
"""The default run's photographs: small (under 1 MP), varied (portrait, animals, food,
buildings, landscape)."""

ALICE = SigningKey.from_seed(bytes(range(32)))


# --- edits ---------------------------------------------------------------------------------
def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def centre_crop(image: Image.Image, fraction: float) -> Image.Image:
    """Remove ``fraction`` of the width and of the height, half from each side."""
    w, h = image.size
    dx, dy = round(w * fraction / 2), round(h * fraction / 2)
    return image.crop((dx, dy, w - dx, h - dy))


def inner_rectangle(w: int, h: int, degrees: float) -> tuple[int, int]:
    """The largest axis-aligned rectangle inside a w x h image rotated by ``degrees``."""
    a = math.radians(abs(degrees))
    sin, cos = math.sin(a), math.cos(a)
    long_side, short_side = max(w, h), min(w, h)
    if short_side <= 2 * sin * cos * long_side:
        x = short_side / 2
        wr, hr = (x / sin, x / cos) if w >= h else (x / cos, x / sin)
    else:
        cos2 = cos * cos - sin * sin
        wr, hr = (w * cos - h * sin) / cos2, (h * cos - w * sin) / cos2
    return int(wr), int(hr)


def rotated(image: Image.Image, degrees: float) -> Image.Image:
    """Rotate (bicubic, same canvas) and cut to the inner rectangle, less 1 px a side."""
    w, h = image.size
    turned = image.rotate(degrees, Image.Resampling.BICUBIC, expand=False)
    wr, hr = inner_rectangle(w, h, degrees)
    wr, hr = wr - 2, hr - 2
    left, top = (w - wr) // 2, (h - hr) // 2
    return turned.crop((left, top, left + wr, top + hr))


def half_size(image: Image.Image) -> Image.Image:
    w, h = image.size
    return image.resize((max(1, round(w / 2)), max(1, round(h / 2))), Image.Resampling.LANCZOS)


EDITS: dict[str, Callable[[Image.Image], bytes]] = {
    "jpeg q=75": lambda im: jpeg(im, 75),
    "resize 50%": lambda im: png(half_size(im)),
    "mirror": lambda im: png(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "crop 5% centre": lambda im: png(centre_crop(im, 0.05)),
    "rotate 2 deg": lambda im: png(rotated(im, 2)),
}
MUST_FIND = ("jpeg q=75", "resize 50%")  # 100 %
SHOULD_FIND = ("mirror", "crop 5% centre", "rotate 2 deg")  # at least 95 %

# Pillow's transposes, each with the name a match must report (the variant names are the
# moves applied to the record's image, in provenance.pdq.DIHEDRAL_NAMES order).
TRANSPOSES = {
    Image.Transpose.ROTATE_90: "rotated 90 degrees counter-clockwise",
    Image.Transpose.ROTATE_180: "rotated 180 degrees",
    Image.Transpose.ROTATE_270: "rotated 90 degrees clockwise",
    Image.Transpose.FLIP_TOP_BOTTOM: "flipped vertically",
    Image.Transpose.FLIP_LEFT_RIGHT: "mirrored horizontally",
    Image.Transpose.TRANSPOSE: "transposed",
    Image.Transpose.TRANSVERSE: "transversed",
}


def decoded(path: Path) -> Image.Image:
    with Image.open(path) as opened:
        return ImageOps.exif_transpose(opened).convert("RGB")


def corpus_names(corpus: Path) -> list[str]:
    lines = (corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t", 1)[0] for line in lines if line.strip()]


# --- a ledger of photographs and what verify says of their copies ---------------------------
@dataclass
class Outcome:
    verdict: str
    record_id: str | None
    variant: str | None
    matched: tuple[int, ...]
    distances: dict[str, int]


@dataclass
class Study:
    ledger: Ledger
    photos: list[str]
    index: dict[str, int]  # photo -> log index of its record
    record_id: dict[str, str]
    outcomes: dict[tuple[str, str], Outcome]  # (photo, edit) -> what verify said
    strangers: dict[str, tuple[int, ...]]  # photo -> records its original matched, own excluded

    def found(self, photo: str, edit: str) -> bool:
        o = self.outcomes[photo, edit]
        return o.verdict == "similar" and o.record_id == self.record_id[photo]


class Excluding:
    """A ledger's candidates without some records: an original looked up against every
    other photograph (the distinct pairs)."""

    def __init__(self, inner: LocalCandidates, excluded: set[int]) -> None:
        self.inner, self.excluded = inner, excluded

    def by_sha256(self, sha256: str) -> list[int]:
        return [i for i in self.inner.by_sha256(sha256) if i not in self.excluded]

    def by_content(self, content: str) -> list[int]:
        return [i for i in self.inner.by_content(content) if i not in self.excluded]

    def by_phash64(self, value: int, max_distance: int) -> list[tuple[int, int]]:
        return [h for h in self.inner.by_phash64(value, max_distance) if h[0] not in self.excluded]

    def by_pdq(self, variants: Sequence[bytes], max_distance: int) -> list[tuple[int, int, int]]:
        return [h for h in self.inner.by_pdq(variants, max_distance) if h[0] not in self.excluded]

    def assets(self, indices: Iterable[int]) -> dict[int, Asset]:
        return self.inner.assets(i for i in indices if i not in self.excluded)

    def record_ids(self, indices: Iterable[int]) -> dict[int, str]:
        return self.inner.record_ids(indices)


def outcome(report: Report, matched: Iterable[int]) -> Outcome:
    return Outcome(
        report.verdict, report.record_id, report.variant, tuple(matched), dict(report.distances)
    )


def build_study(root: Path, corpus: Path, photos: Sequence[str]) -> Study:
    ledger = Ledger.init(str(root / "lookup.db"), origin="test.provenance.local/log")
    ledger.register_key(ALICE.public, "alice", now=FIXED_NOW)
    results = ledger.sign([corpus / p for p in photos], ALICE, now=FIXED_NOW)
    assert [r.status for r in results] == ["signed"] * len(photos), results
    index = {p: r.index for p, r in zip(photos, results, strict=True) if r.index is not None}
    assert len(index) == len(photos)
    ids = ledger.iter_record_ids(index.values())
    record_id = {p: ids[i] for p, i in index.items()}
    evidence = ledger.evidence()
    outcomes: dict[tuple[str, str], Outcome] = {}
    strangers: dict[str, tuple[int, ...]] = {}
    for photo in photos:
        image = decoded(corpus / photo)
        for edit, make in EDITS.items():
            report, found = evidence.verify_image(make(image))
            outcomes[photo, edit] = outcome(report, (m.index for m in found.matches))
        probe = ImageProbe((corpus / photo).read_bytes(), name=photo)
        others = find(probe, Excluding(LocalCandidates(ledger), {index[photo]}))
        strangers[photo] = tuple(m.index for m in others.matches)
    return Study(ledger, list(photos), index, record_id, outcomes, strangers)


@pytest.fixture(
    scope="module",
    params=[pytest.param("fast"), pytest.param("full", marks=pytest.mark.slow)],
)
def study(
    request: pytest.FixtureRequest, corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    names = corpus_names(corpus)
    photos = [p for p in FAST_PHOTOS if p in names] if request.param == "fast" else names
    if len(photos) < 2:
        pytest.skip("too few corpus photographs")
    built = build_study(tmp_path_factory.mktemp(f"lookup-{request.param}"), corpus, photos)
    yield built
    built.ledger.close()


# --- found rates ---------------------------------------------------------------------------
@pytest.mark.parametrize("edit", MUST_FIND)
def test_reencodes_and_resizes_are_all_found(study: Study, edit: str) -> None:
    missed = [p for p in study.photos if not study.found(p, edit)]
    assert not missed, {p: study.outcomes[p, edit] for p in missed}


@pytest.mark.parametrize("edit", SHOULD_FIND)
def test_flips_crops_and_small_rotations_are_found(study: Study, edit: str) -> None:
    found = [p for p in study.photos if study.found(p, edit)]
    missed = {p: study.outcomes[p, edit] for p in study.photos if p not in found}
    assert len(found) >= 0.95 * len(study.photos), missed


def test_found_copies_are_only_ever_similar(study: Study) -> None:
    verdicts = {o.verdict for o in study.outcomes.values()}
    assert verdicts <= {"similar", "unknown"}, verdicts


def test_mirrored_copies_say_so(study: Study) -> None:
    for photo in study.photos:
        o = study.outcomes[photo, "mirror"]
        if o.verdict == "similar":
            assert o.variant == "mirrored horizontally", (photo, o)
            assert o.distances["pdq"] <= pdq.MATCH_DISTANCE


def test_unturned_pdq_matches_say_original(study: Study) -> None:
    for (photo, edit), o in study.outcomes.items():
        if edit != "mirror" and o.variant is not None:
            assert o.variant == "original", (photo, edit, o)


# --- no false matches ------------------------------------------------------------------------
def test_no_photograph_matches_another(study: Study) -> None:
    """Every ordered pair of different photographs: the original (with its 8 variants)
    looked up against every other record."""
    matched = {p: m for p, m in study.strangers.items() if m}
    assert not matched, matched


def test_no_edited_copy_matches_another_photograph(study: Study) -> None:
    wrong = {
        key: o
        for key, o in study.outcomes.items()
        if set(o.matched) - {study.index[key[0]]}
        or (o.record_id is not None and o.record_id != study.record_id[key[0]])
    }
    assert not wrong, wrong


# --- the variant names -----------------------------------------------------------------------
def test_every_dihedral_move_is_found_and_named(lenv: Any, corpus: Path) -> None:
    photos = ("skimage__rocket.jpg", "matplotlib__grace_hopper.jpg", "opencv-doc__fruits.jpg")
    if not all((corpus / p).exists() for p in photos):
        pytest.skip("corpus photographs missing")
    results = lenv.ledger.sign([corpus / p for p in photos], lenv.alice, now=FIXED_NOW)
    evidence = lenv.ledger.evidence()
    for photo, signed in zip(photos, results, strict=True):
        image = decoded(corpus / photo)
        for move, name in TRANSPOSES.items():
            report, _ = evidence.verify_image(png(image.transpose(move)))
            assert (report.verdict, report.index, report.variant) == (
                "similar",
                signed.index,
                name,
            ), (photo, name, report.distances)
            assert report.distances["pdq"] <= 16  # exact variants: a few bits at most
            assert report.checks[5].code == "softBinding.match"
            assert name in report.checks[5].detail


def test_variant_names_are_the_inverse_moves() -> None:
    assert pdq.DIHEDRAL_EDITS[1] == pdq.DIHEDRAL_NAMES[3]
    assert pdq.DIHEDRAL_EDITS[3] == pdq.DIHEDRAL_NAMES[1]
    for k in (0, 2, 4, 5, 6, 7):
        assert pdq.DIHEDRAL_EDITS[k] == pdq.DIHEDRAL_NAMES[k]
    # a query turned clockwise matches through its counter-clockwise variant
    rng = np.random.default_rng(3)
    grid = rng.integers(0, 256, (6, 9)).astype(np.uint8)
    luma = np.asarray(Image.fromarray(grid).resize((90, 60), Image.Resampling.BICUBIC))
    stored = pdq.pdq_hash(luma).bits
    query = np.rot90(luma, -1)  # turned clockwise
    d, k = pdq.nearest_variant([v.bits for v in pdq.pdq_dihedral(query)], stored)
    assert d == 0 and pdq.DIHEDRAL_EDITS[k] == "rotated 90 degrees clockwise"


def test_cli_says_how_the_copy_is_turned(lenv: Any, corpus: Path, run_cli: Any) -> None:
    import json

    photo = corpus / "skimage__rocket.jpg"
    lenv.ledger.sign([photo], lenv.alice, now=FIXED_NOW)
    copy = lenv.tmp / "mirrored.png"
    copy.write_bytes(png(decoded(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    text = run_cli("--db", lenv.db, "verify", copy)
    assert text.exit_code == 5, text.output
    assert "(the record's image mirrored horizontally)" in text.output
    js = run_cli("--db", lenv.db, "verify", copy, "--json")
    report = json.loads(js.stdout)
    assert (report["verdict"], report["variant"]) == ("similar", "mirrored horizontally")
    assert report["distances"]["pdq"] <= pdq.MATCH_DISTANCE
    found = lenv.ledger.find(copy)
    assert found.best is not None and found.best.to_json()["variant"] == "mirrored horizontally"


# --- quality, digest set 1, tampering ---------------------------------------------------------
def faint_clouds() -> Image.Image:
    """A nearly featureless picture (PDQ quality 8): a smooth random field of 32 grey levels
    with one-level noise. Its pHashes still survive a re-encode."""
    rng = np.random.default_rng(1)
    grid = rng.normal(0, 1, (6, 8)).astype(np.float32)
    field = np.asarray(Image.fromarray(grid, mode="F").resize((600, 400), Image.Resampling.BICUBIC))
    grey = 128 + 32 * field / np.abs(field).max() + rng.integers(-1, 2, (400, 600))
    return Image.fromarray(np.clip(grey, 0, 255).astype(np.uint8)).convert("RGB")


def test_featureless_images_never_match_by_pdq(lenv: Any) -> None:
    original = png(faint_clouds())
    (lenv.tmp / "flat.png").write_bytes(original)
    [signed] = lenv.ledger.sign([lenv.tmp / "flat.png"], lenv.alice, now=FIXED_NOW)
    mirrored = png(faint_clouds().transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    probe = ImageProbe(mirrored)
    stored = ImageProbe(original).perceptual()
    assert stored.pdq is not None and stored.pdq_quality is not None
    # PDQ alone would match (the mirror variant is the original's image) ...
    assert (probe.perceptual().pdq_quality or 0) < pdq.QUALITY_THRESHOLD
    assert stored.pdq_quality < pdq.QUALITY_THRESHOLD
    variants = [v.bits for v in probe.pdq_dihedral()]
    assert pdq.nearest_variant(variants, bytes.fromhex(stored.pdq))[0] <= pdq.MATCH_DISTANCE
    # ... but it is never used
    found = lenv.ledger.find(mirrored)
    assert all(m.variant is None for m in found.matches), found.matches
    assert any("PDQ not used" in n for n in found.notes)
    report, _ = lenv.ledger.evidence().verify_image(mirrored)
    assert report.verdict != "verified" and report.variant is None
    # a re-encode still matches by pHash, and the report says PDQ was not used
    report, _ = lenv.ledger.evidence().verify_image(jpeg(faint_clouds(), 90))
    assert (report.verdict, report.index, report.variant) == ("similar", signed.index, None)
    assert any("PDQ not used" in n for n in report.notes), report.notes


def test_digest_set_1_records_still_match_by_phash(lenv: Any, corpus: Path) -> None:
    photo = corpus / "opencv-doc__baboon.jpg"
    data = photo.read_bytes()
    probe = ImageProbe(data)
    hashes = probe.perceptual_for(1)
    width, height, _ = probe.size()
    asset = Asset(
        digests=1,
        sha256=probe.sha256,
        pixels=pixel_digest_v1(data),
        phash64=hashes.phash64,
        phash256=hashes.phash256,
        width=width,
        height=height,
        format="JPEG",
    )
    record = sign_statement(
        Statement(type="capture", time="2026-11-26T12:00:00Z", asset=asset), lenv.alice
    )
    [idx] = append_raw(lenv.ledger, [record])
    image = decoded(photo)
    report, found = lenv.ledger.evidence().verify_image(jpeg(image, 75))
    assert (report.verdict, report.index, report.variant) == ("similar", idx, None)
    assert "pdq" not in report.distances and found.best is not None
    assert found.best.variant is None
    # no PDQ in the record: a mirrored copy cannot be found
    report, _ = lenv.ledger.evidence().verify_image(
        png(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    )
    assert report.verdict == "unknown"


def test_a_tampered_pdq_column_never_verifies(lenv: Any, corpus: Path) -> None:
    """The index column is a hint: a match is judged on the signed record's PDQ, and
    verify recomputes the image's."""
    mine, theirs = corpus / "skimage__rocket.jpg", corpus / "opencv-doc__fruits.jpg"
    [signed] = lenv.ledger.sign([mine], lenv.alice, now=FIXED_NOW)
    their_pdq = ImageProbe(theirs.read_bytes()).perceptual().pdq
    assert their_pdq is not None
    lenv.ledger.close()
    with raw_db(lenv.db, "assets") as con:
        con.execute(
            "UPDATE assets SET pdq = ? WHERE idx = ?", (bytes.fromhex(their_pdq), signed.index)
        )
    ledger = lenv.reopen()
    evidence = ledger.evidence()
    # their photograph, mirrored: the index points at my record, the signed record says no
    their_mirror = png(decoded(theirs).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    pdq_hits = LocalCandidates(ledger).by_pdq(
        [v.bits for v in ImageProbe(their_mirror).pdq_dihedral()], pdq.MATCH_DISTANCE
    )
    assert [h[0] for h in pdq_hits] == [signed.index]
    report, found = evidence.verify_image(their_mirror)
    assert report.verdict == "unknown" and not found.matches
    # my photograph, mirrored: at most similar (here the index misses it: unknown)
    report, _ = evidence.verify_image(png(decoded(mine).transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    assert report.verdict in ("unknown", "similar")
    # a re-encode of mine matches by pHash; the PDQ distance is computed from the image
    # and the signed record, not read from the column
    report, _ = evidence.verify_image(jpeg(decoded(mine), 75))
    assert report.verdict == "similar" and report.distances["pdq"] <= 16
    # and the audit reports the column
    assert "index.mismatch" in {p.code for p in ledger.audit().problems}


# --- bundles and the service lookup -----------------------------------------------------------
def test_bundles_find_flips_too(lenv: Any, corpus: Path) -> None:
    photo = corpus / "matplotlib__grace_hopper.jpg"
    lenv.ledger.sign([photo], lenv.alice, now=FIXED_NOW)
    bundle = loads(export_bundle(lenv.ledger, str(photo)).dumps())
    turned = png(decoded(photo).transpose(Image.Transpose.ROTATE_270))
    report = verify_offline(turned, bundle, trust_log_key=lenv.ledger.log_verifier.vkey())
    assert (report.verdict, report.variant) == ("similar", "rotated 90 degrees clockwise")


def test_service_lookup_by_pdq(lenv: Any, corpus: Path) -> None:
    photo = corpus / "opencv-doc__baboon.jpg"
    [signed] = lenv.ledger.sign([photo], lenv.alice, now=FIXED_NOW)
    stored = ImageProbe(photo.read_bytes()).perceptual().pdq
    assert stored is not None
    [hit] = lenv.ledger.lookup("pdq", bytes.fromhex(stored))
    assert (hit.index, hit.kind, hit.distances) == (signed.index, "perceptual", {"pdq": 0})
    # one hash, compared as it is: a mirrored copy's own hash is far, its mirror variant near
    mirrored = ImageProbe(png(decoded(photo).transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    variants = mirrored.pdq_dihedral()
    assert lenv.ledger.lookup("pdq", variants[0].bits) == []
    [hit] = lenv.ledger.lookup("pdq", variants[5].bits)
    assert hit.index == signed.index and hit.distances["pdq"] <= pdq.MATCH_DISTANCE
    with pytest.raises(SubmissionError, match="32 bytes"):
        lenv.ledger.lookup("pdq", b"\x00" * 8)


# --- the index ---------------------------------------------------------------------------------
def random_hashes(rng: np.random.Generator, n: int) -> list[bytes]:
    return [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(n)]


def near(rng: np.random.Generator, h: bytes, bits: int) -> bytes:
    vector = np.unpackbits(np.frombuffer(h, dtype=np.uint8))
    vector[rng.choice(256, bits, replace=False)] ^= 1
    return np.packbits(vector).tobytes()


@pytest.mark.parametrize("workers", [1, 2])
def test_pdq_index_is_exact(workers: int) -> None:
    """Stage 1 (192 bits) never loses a match: records planted at 40-64 bits from a
    variant, with every distance from one word concentrated, are found exactly."""
    rng = np.random.default_rng(11)
    variants = random_hashes(rng, 8)
    hashes = random_hashes(rng, 40_000)
    for j in range(0, len(hashes), 97):
        hashes[j] = near(rng, variants[j % 8], int(rng.integers(40, 65)))
    # 48 bits apart, all in the first word (stage 1 sees all of it) or all in the last
    # (stage 1 sees none of it)
    v = variants[2]
    hashes[5] = bytes(b ^ 0xFF for b in v[:6]) + v[6:]
    hashes[6] = v[:24] + bytes(b ^ 0xFF for b in v[24:30]) + v[30:]
    index = PdqIndex(None)
    index.load_arrays(np.arange(len(hashes), dtype=np.int64) * 2, words_of(hashes), 80_000)
    for radius in (0, 48, 52, 64):
        got = [
            (c.idx, c.distance, c.variant) for c in index.search(variants, radius, workers=workers)
        ]
        expected = []
        for j, h in enumerate(hashes):
            d, k = pdq.nearest_variant(variants, h)
            if d <= radius:
                expected.append((2 * j, d, k))
        expected.sort(key=lambda t: (t[1], t[0]))
        assert got == expected, radius
    assert PdqIndex(None).search(variants, 52) == []
    with pytest.raises(ValueError):
        index.search([b"\x00" * 31], 52)


def test_pdq_index_cache_is_incremental_and_self_checking(lenv: Any, corpus: Path) -> None:
    photos = [corpus / p for p in FAST_PHOTOS[:4]]
    lenv.ledger.sign(photos[:2], lenv.alice, now=FIXED_NOW)
    mirrored = png(decoded(photos[0]).transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert lenv.ledger.find(mirrored).best is not None
    cache = lenv.db.with_name(lenv.db.name + ".pdq.npz")
    assert cache.exists()
    lenv.ledger.sign(photos[2:], lenv.alice, now=FIXED_NOW)
    ledger = lenv.reopen()
    assert ledger.find(mirrored).best is not None
    index = ledger.perceptual_index().pdq_index()
    assert len(index) == 4 and index.covered == ledger.size()
    # a cache of another ledger (another root) is rebuilt, not trusted
    other = Ledger.init(str(lenv.tmp / "other.db"))
    other.register_key(lenv.alice.public, "alice")
    other.sign(photos[3:], lenv.alice)
    other.find(mirrored)
    other.close()
    cache.write_bytes((lenv.tmp / "other.db.pdq.npz").read_bytes())
    ledger = lenv.reopen()
    assert ledger.find(mirrored).best is not None
    assert len(ledger.perceptual_index().pdq_index()) == 4


def test_sources_offer_pdq_lookups(lenv: Any) -> None:
    assert isinstance(LocalCandidates(lenv.ledger), PdqCandidates)
