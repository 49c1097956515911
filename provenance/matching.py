"""Finding the records an image matches: exact bytes, then what is displayed, then perceptual.

One cascade for every source of candidates (a local ledger, an offline bundle, a remote
ledger): each implements :class:`Candidates`, and :func:`find` asks it in the order that
stops earliest, computing each digest of the image only when the previous step found
nothing (:class:`~provenance.imaging.ImageProbe`):

1. the file's SHA-256 (``sha256`` match: the signed bytes);
2. the content digest of what a viewer displays (``content`` match: metadata differs);
3. perceptual: pHash-64 within 10 bits as the lookup key, confirmed by pHash-256 within
   40 bits (``perceptual`` match: a hint, never proof; the verdict is at best ``similar``).

Matches of one kind are ordered nearest first, then by log index.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

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


@dataclass(frozen=True, slots=True)
class Match:
    """A record matching an image, and how (distances for perceptual matches)."""

    index: int
    record_id: str
    kind: MatchKind
    distances: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "record_id": self.record_id,
            "match": self.kind,
            "distances": self.distances,
        }


@dataclass(frozen=True, slots=True)
class FindResult:
    """Every match for an image, strongest kind first; the probe holds its digests."""

    probe: ImageProbe
    matches: tuple[Match, ...] = ()
    orphans: tuple[int, ...] = ()

    @property
    def best(self) -> Match | None:
        return self.matches[0] if self.matches else None


def find(probe: ImageProbe, source: Candidates, *, perceptual: bool = True) -> FindResult:
    """Match ``probe`` against ``source`` (module docstring).

    Raises:
        ImageError, DecompressionBombError: from computing the image's digests.
    """
    exact = source.by_sha256(probe.sha256)
    if exact:
        return _result(probe, source, [(i, "sha256", {}) for i in exact])
    content = source.by_content(probe.content())
    if content or not perceptual:
        return _result(probe, source, [(i, "content", {}) for i in content])
    hashes = probe.perceptual()
    candidates = source.by_phash64(phash64_to_int(hashes.phash64), PHASH64_MAX_DISTANCE)
    assets = source.assets(i for i, _ in candidates)
    hits: list[tuple[int, MatchKind, dict[str, int]]] = []
    for idx, d64 in candidates:
        asset = assets.get(idx)
        if asset is None:
            continue
        d256 = hamming(hashes.phash256, asset.phash256)
        if d256 <= PHASH256_MAX_DISTANCE:
            hits.append((idx, "perceptual", {"phash64": d64, "phash256": d256}))
    hits.sort(key=lambda h: (h[2]["phash256"], h[0]))
    return _result(probe, source, hits)


def _result(
    probe: ImageProbe,
    source: Candidates,
    hits: list[tuple[int, MatchKind, dict[str, int]]],
) -> FindResult:
    ids = source.record_ids(h[0] for h in hits)
    matches = tuple(Match(i, ids[i], kind, d) for i, kind, d in hits if i in ids)
    orphans = tuple(h[0] for h in hits if h[0] not in ids)
    return FindResult(probe, matches, orphans)


def image_digests(probe: ImageProbe, asset: Asset | None, kind: MatchKind) -> ImageDigests:
    """The image's digests for checks (6)/(7), computed the way the record's digest set
    computes them (content only where the match relied on it)."""
    hashes = probe.perceptual_for(asset.digests if asset is not None else 2)
    return ImageDigests(
        sha256=probe.sha256,
        content=probe.content() if kind == "content" else None,
        phash64=hashes.phash64,
        phash256=hashes.phash256,
        pdq=hashes.pdq,
    )
