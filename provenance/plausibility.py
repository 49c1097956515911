"""Declared edits, checked from the records alone: could this edit have made this child?

An edit recorded with ``derive`` cannot be replayed, but both records carry the image's
size and perceptual hashes, so some claims can be held to account without either image:

* **appearance-preserving and photometric actions** (format conversion, colour, tone,
  exposure, sharpening, noise: :data:`PHOTOMETRIC`, :data:`PRESERVING`) change no pixel's
  position: the child keeps its parent's width, height and frame count, and its perceptual
  hashes stay within :data:`MAX_PHASH64` / :data:`MAX_PHASH256` / :data:`MAX_PDQ` bits of
  the parent's. Measured on the corpus (docs/adr/0006-display-digest.md): brightness and
  gamma edits move pHash-256 by at most 28 bits, while masking 5 % of a photograph black
  moves it by 42 bits at the median. A small retouch can pass: this is a plausibility
  check, not forensics, and the report says so ("declared, plausible").
* **geometric actions** with exact parameters (crop, resize, rotate, flip, as ``edit``
  records them) fix the child's size: a crop box must lie inside the parent and the child
  must have its size; a resize gives the requested size, a quarter turn swaps the sides.
  An edit that only resizes (and recolours) also keeps the perceptual hashes within the
  lookup thresholds.
* anything else (``c2pa.edited``, composites of several parents ...) is *declared* only:
  nothing in the records can confirm or refute it.

Pure: no I/O. Only :func:`judge` is public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from provenance.records import Action, Asset

PHOTOMETRIC: Final = frozenset({"c2pa.color_adjustments", "c2pa.adjustedColor", "c2pa.enhanced"})
"""Actions that change colours and tones, never where anything is."""

PRESERVING: Final = frozenset(
    {"c2pa.transcoded", "c2pa.repackaged", "c2pa.converted", "c2pa.edited.metadata"}
)
"""Actions that change the file, not the picture."""

GEOMETRIC: Final = frozenset({"c2pa.cropped", "c2pa.resized", "c2pa.orientation"})

MAX_PHASH64: Final = 16
MAX_PHASH256: Final = 32
MAX_PDQ: Final = 64
"""Perceptual distance a photometric edit may cause (measured maxima: 14 / 28 / see ADR)."""

LOOKUP_PHASH64: Final = 10
LOOKUP_PHASH256: Final = 40

Outcome = Literal["plausible", "implausible", "unchecked"]


@dataclass(frozen=True, slots=True)
class Judgement:
    outcome: Outcome
    detail: str


def judge(child: Asset, parents: Sequence[Asset], actions: Sequence[Action]) -> Judgement:
    """Whether ``actions`` applied to the single parent could have produced ``child``."""
    if len(parents) != 1:
        return Judgement("unchecked", "a composite of several parents: declared only")
    parent = parents[0]
    names = {a.action for a in actions}
    if names <= PHOTOMETRIC | PRESERVING:
        return _photometric(child, parent)
    if names <= PHOTOMETRIC | PRESERVING | GEOMETRIC:
        return _geometric(child, parent, [a for a in actions if a.action in GEOMETRIC])
    other = ", ".join(sorted(names - PHOTOMETRIC - PRESERVING - GEOMETRIC))
    return Judgement("unchecked", f"{other}: declared only, nothing in the records can check it")


def _distances(child: Asset, parent: Asset) -> tuple[int, int, int | None]:
    d64 = (int(child.phash64, 16) ^ int(parent.phash64, 16)).bit_count()
    d256 = (int(child.phash256, 16) ^ int(parent.phash256, 16)).bit_count()
    dpdq = None
    if child.pdq is not None and parent.pdq is not None:
        dpdq = (int(child.pdq, 16) ^ int(parent.pdq, 16)).bit_count()
    return d64, d256, dpdq


def _photometric(child: Asset, parent: Asset) -> Judgement:
    if (child.width, child.height) != (parent.width, parent.height):
        return Judgement(
            "implausible",
            f"a colour or format change cannot resize {parent.width}x{parent.height} "
            f"to {child.width}x{child.height}",
        )
    if child.digests >= 2 and parent.digests >= 2 and child.frames != parent.frames:
        return Judgement(
            "implausible", f"{parent.frames} frame(s) became {child.frames} without an edit"
        )
    d64, d256, dpdq = _distances(child, parent)
    shown = f"pHash-64 {d64}, pHash-256 {d256}" + (f", PDQ {dpdq}" if dpdq is not None else "")
    if d64 > MAX_PHASH64 or d256 > MAX_PHASH256 or (dpdq is not None and dpdq > MAX_PDQ):
        return Judgement(
            "implausible",
            f"the child is further from its parent ({shown} bits) than any colour or tone "
            "change moves a picture: something in it was moved, added or removed",
        )
    return Judgement("plausible", f"same size, perceptual distance {shown} bits")


def _geometric(child: Asset, parent: Asset, actions: Sequence[Action]) -> Judgement:
    from provenance.edits import expected_size, from_actions

    ops = from_actions(actions)
    if ops is None:
        return Judgement("unchecked", "geometric actions without exact parameters: declared only")
    size = expected_size(ops, (parent.width, parent.height))
    if size is None:
        return Judgement(
            "implausible",
            f"the recorded crop does not fit the {parent.width}x{parent.height} parent",
        )
    if size != (child.width, child.height):
        return Judgement(
            "implausible",
            f"these actions turn {parent.width}x{parent.height} into {size[0]}x{size[1]}, "
            f"but the child is {child.width}x{child.height}",
        )
    if all(a.action == "c2pa.resized" for a in actions):
        d64, d256, _ = _distances(child, parent)
        if d64 > LOOKUP_PHASH64 or d256 > LOOKUP_PHASH256:
            return Judgement(
                "implausible",
                f"a resize keeps the picture, but the child is pHash-64 {d64} / pHash-256 "
                f"{d256} bits from its parent",
            )
    return Judgement("plausible", f"the size follows from the actions ({size[0]}x{size[1]})")
