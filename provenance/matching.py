"""Finding the records an image matches: exact bytes, then what is displayed, then perceptual.

One cascade for every source of candidates (a local ledger, an offline bundle, a remote
ledger): each implements :class:`Candidates`, and :func:`find` asks it in the order that
stops earliest, computing each digest of the image only when the previous step found
nothing (:class:`~provenance.imaging.ImageProbe`):

1. the file's SHA-256 (``sha256`` match: the signed bytes);
2. the content digest of what a viewer displays (``content`` match: metadata differs);
3. perceptual (``perceptual`` match: a hint, never proof; the verdict is at best
   ``similar``), by either rule:

   * pHash: pHash-64 within 10 bits, confirmed by pHash-256 within 40 bits (re-encodes,
     resizes, photometric edits);
   * PDQ (docs/pdq.md): the smallest distance between the record's PDQ and the query's 8
     dihedral variants (its rotations by quarter turns and its reflections) within 52
     bits, or within 80 bits when pHash-64 is within 12 (flips, quarter turns, 5 % crops,
     1-2 degree rotations). The match names the variant (:attr:`Match.variant`).
     Only when the query's PDQ quality is at least 50: a featureless image's PDQ is
     decided by rounding noise and is never matched on. A stored hash carries no quality
     (records keep the hash only); a noise-decided stored hash lies within 52 bits of a
     real query's variant with probability about 1e-21. Records without PDQ (digest set
     1) match by pHash only.

   Candidates come from the source's pHash-64 lookup (radius 12) and, where the source
   offers one (:class:`PdqCandidates`), its PDQ lookup (radius 52); every candidate is
   then judged against the hashes in its signed record, never against an index's copy.

Matches of one kind are ordered nearest first (the smaller of the pHash-256 and PDQ
distances that matched; an unturned match before a turned one), then by log index.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from provenance.imaging import (
    PHASH64_MAX_DISTANCE,
    PHASH256_MAX_DISTANCE,
    ImageProbe,
    hamming,
    phash64_to_int,
)
from provenance.records import Asset
from provenance.report import MatchKind
from provenance.verify import ImageDigests


class Candidates(Protocol):
    """Where records can be looked up by digest (a ledger, a bundle, a server)."""

    def by_sha256(self, sha256: str) -> list[int]: ...

    def by_content(self, content: str) -> list[int]: ...

    def by_phash64(self, value: int, max_distance: int) -> list[tuple[int, int]]: ...

    def assets(self, indices: Iterable[int]) -> dict[int, Asset]: ...

    def record_ids(self, indices: Iterable[int]) -> dict[int, str]: ...


@runtime_checkable
class PdqCandidates(Candidates, Protocol):
    """A source that can also look records up by PDQ (optional: without it, PDQ still
    decides among the pHash-64 candidates, through the rule's second clause)."""

    def by_pdq(self, variants: Sequence[bytes], max_distance: int) -> list[tuple[int, int, int]]:
        """``(index, distance, variant)`` of every record whose PDQ lies within
        ``max_distance`` bits of one of ``variants`` (32-byte hashes): the smallest
        distance and the first variant at it; nearest first."""
        ...


@dataclass(frozen=True, slots=True)
class Match:
    """A record matching an image, and how (distances for perceptual matches).

    ``variant`` (PDQ matches only): how the image relates to the record's image, one of
    :data:`provenance.pdq.DIHEDRAL_EDITS` ("original": not turned or flipped; "mirrored
    horizontally", "rotated 90 degrees clockwise", ...); None when PDQ did not decide.
    """

    index: int
    record_id: str
    kind: MatchKind
    distances: dict[str, int] = field(default_factory=dict)
    variant: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "record_id": self.record_id,
            "match": self.kind,
            "distances": self.distances,
            "variant": self.variant,
        }


@dataclass(frozen=True, slots=True)
class FindResult:
    """Every match for an image, strongest kind first; the probe holds its digests.

    ``notes``: what the look-up could not use (a featureless image's PDQ), for reports.
    """

    probe: ImageProbe
    matches: tuple[Match, ...] = ()
    orphans: tuple[int, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


_Hit = tuple[int, MatchKind, dict[str, int], str | None]


def find(probe: ImageProbe, source: Candidates, *, perceptual: bool = True) -> FindResult:
    """Match ``probe`` against ``source`` (module docstring).

    Raises:
        ImageError, DecompressionBombError: from computing the image's digests.
    """
    exact = source.by_sha256(probe.sha256)
    if exact:
        return _result(probe, source, [(i, "sha256", {}, None) for i in exact])
    content = source.by_content(probe.content())
    if content or not perceptual:
        return _result(probe, source, [(i, "content", {}, None) for i in content])
    import provenance.pdq as pdq

    hashes = probe.perceptual()
    radius64 = max(PHASH64_MAX_DISTANCE, pdq.PHASH64_CONFIRM)
    indices = {i for i, _ in source.by_phash64(phash64_to_int(hashes.phash64), radius64)}
    usable = hashes.pdq is not None and (hashes.pdq_quality or 0) >= pdq.QUALITY_THRESHOLD
    variants: list[bytes] = []
    if usable:
        variants = [v.bits for v in probe.pdq_dihedral()]
        if isinstance(source, PdqCandidates):
            found = source.by_pdq(variants, pdq.MATCH_DISTANCE)
            indices.update(i for i, _, _ in found)
    assets = source.assets(sorted(indices))
    hits: list[tuple[int, _Hit]] = []
    for idx in sorted(indices):
        asset = assets.get(idx)
        if asset is None:
            continue
        judged = judge(hashes.phash64, hashes.phash256, variants, asset)
        if judged is not None:
            distances, variant, nearest = judged
            hits.append((nearest, (idx, "perceptual", distances, variant)))
    hits.sort(key=lambda h: (h[0], h[1][3] not in (None, pdq.DIHEDRAL_EDITS[0]), h[1][0]))
    notes: tuple[str, ...] = ()
    if hashes.pdq is not None and not usable:
        notes = (quality_note(hashes.pdq_quality),)
    return _result(probe, source, [h for _, h in hits], notes)


def judge(
    phash64: str, phash256: str, variants: Sequence[bytes], asset: Asset
) -> tuple[dict[str, int], str | None, int] | None:
    """Whether an image (its pHashes and, when its PDQ quality allows, its PDQ variants)
    matches a record's asset perceptually: (distances, PDQ variant or None, the distance
    to sort by), or None.

    PDQ is compared only when ``variants`` is given and the asset has a PDQ hash.
    """
    import provenance.pdq as pdq

    d64 = hamming(phash64, asset.phash64)
    d256 = hamming(phash256, asset.phash256)
    distances = {"phash64": d64, "phash256": d256}
    by_phash = d64 <= PHASH64_MAX_DISTANCE and d256 <= PHASH256_MAX_DISTANCE
    variant: str | None = None
    nearest = d256 if by_phash else 257
    if variants and asset.pdq is not None:
        try:
            stored = bytes.fromhex(asset.pdq)
            dpdq, k = pdq.nearest_variant(variants, stored)
        except ValueError:
            dpdq, k = -1, 0  # a malformed hash in a record: never matched on
        if dpdq >= 0:
            distances["pdq"] = dpdq
            if pdq.is_match(dpdq, d64):
                variant = pdq.DIHEDRAL_EDITS[k]
                nearest = min(nearest, dpdq)
    if not by_phash and variant is None:
        return None
    return distances, variant, nearest


def quality_note(quality: int | None) -> str:
    """Why PDQ was not used for an image."""
    import provenance.pdq as pdq

    return (
        f"PDQ not used: the image's PDQ quality is {quality} (below "
        f"{pdq.QUALITY_THRESHOLD}: too featureless to match on); only pHash could match it"
    )


def _result(
    probe: ImageProbe,
    source: Candidates,
    hits: list[_Hit],
    notes: tuple[str, ...] = (),
) -> FindResult:
    ids = source.record_ids(h[0] for h in hits)
    matches = tuple(Match(i, ids[i], kind, d, v) for i, kind, d, v in hits if i in ids)
    orphans = tuple(h[0] for h in hits if h[0] not in ids)
    return FindResult(probe, matches, orphans, notes)


def image_digests(probe: ImageProbe, asset: Asset | None, kind: MatchKind) -> ImageDigests:
    """The image's digests for checks (6)/(7), computed the way the record's digest set
    computes them (content only where the match relied on it; PDQ's 8 variants only for a
    perceptual match with a record that has PDQ)."""
    hashes = probe.perceptual_for(asset.digests if asset is not None else 2)
    import provenance.pdq as pdq

    variants: tuple[str, ...] = ()
    if (
        kind == "perceptual"
        and asset is not None
        and asset.pdq is not None
        and (hashes.pdq_quality or 0) >= pdq.QUALITY_THRESHOLD
    ):
        variants = tuple(v.hex() for v in probe.pdq_dihedral())
    return ImageDigests(
        sha256=probe.sha256,
        content=probe.content() if kind == "content" else None,
        phash64=hashes.phash64,
        phash256=hashes.phash256,
        pdq=hashes.pdq,
        pdq_quality=hashes.pdq_quality,
        pdq_variants=variants,
    )
