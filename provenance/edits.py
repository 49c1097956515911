"""Replayable edits: a small, exact set of pixel operations and their C2PA action records.

``provenance edit`` applies these operations to a logged image and records them with their
parameters, so a verifier holding the parent image can re-apply them and compare the
result's canonical pixels with the child's record (:func:`replay`). Only deterministic,
lossless-to-describe operations are offered: crop, resize (Lanczos), rotate by a multiple
of 90 degrees, and flip. Replay re-encodes the result the way the child was written (PNG,
lossless WebP, TIFF, or JPEG at quality 95) and compares canonical pixels exactly; a JPEG
replay is exact only with the same JPEG encoder build. Records made by ``edit`` carry the
claim ``provenance.edit = 1``; only those are replayed (a crop declared with ``derive``
describes an edit made elsewhere, which cannot be expected to match to the pixel).

Besides :mod:`provenance.imaging`, this is the only module using Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from provenance.errors import ImageError, ProvenanceError
from provenance.records import Action

REPLAYABLE: Final = frozenset({"c2pa.cropped", "c2pa.resized", "c2pa.orientation"})
#: The claim ``edit`` adds to its records; only records carrying it are replayed.
REPLAY_CLAIM: Final = "provenance.edit"
REPLAY_VERSION: Final = "1"
OUTPUT_FORMATS: Final = {
    ".png": "PNG",
    ".webp": "WEBP",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}


class EditError(ProvenanceError):
    """An edit operation is invalid for the image (crop outside it, zero size...)."""


@dataclass(frozen=True, slots=True)
class Crop:
    left: int
    top: int
    right: int
    bottom: int

    def action(self) -> Action:
        return Action(
            "c2pa.cropped",
            {"left": self.left, "top": self.top, "right": self.right, "bottom": self.bottom},
        )


@dataclass(frozen=True, slots=True)
class Resize:
    width: int
    height: int

    def action(self) -> Action:
        return Action(
            "c2pa.resized", {"width": self.width, "height": self.height, "filter": "lanczos"}
        )


@dataclass(frozen=True, slots=True)
class Rotate:
    degrees: int  # clockwise, multiple of 90

    def action(self) -> Action:
        return Action("c2pa.orientation", {"rotate": self.degrees})


@dataclass(frozen=True, slots=True)
class Flip:
    axis: str  # "horizontal" or "vertical"

    def action(self) -> Action:
        return Action("c2pa.orientation", {"flip": self.axis})


Operation = Crop | Resize | Rotate | Flip


def parse_crop(text: str) -> Crop:
    """``LEFT,TOP,RIGHT,BOTTOM`` in pixels."""
    parts = text.split(",")
    if len(parts) != 4 or not all(p.strip().isdigit() for p in parts):
        raise EditError(f"--crop expects LEFT,TOP,RIGHT,BOTTOM in pixels, got {text!r}")
    left, top, right, bottom = (int(p) for p in parts)
    if right <= left or bottom <= top:
        raise EditError(f"empty crop box {text!r}")
    return Crop(left, top, right, bottom)


def parse_resize(text: str) -> Resize:
    """``WIDTHxHEIGHT`` in pixels."""
    w, sep, h = text.lower().partition("x")
    if not sep or not w.isdigit() or not h.isdigit() or int(w) < 1 or int(h) < 1:
        raise EditError(f"--resize expects WIDTHxHEIGHT, got {text!r}")
    if int(w) * int(h) > 200_000_000:
        raise EditError(f"--resize {text} is larger than 200 megapixels")
    return Resize(int(w), int(h))


def parse_rotate(degrees: int) -> Rotate:
    if degrees % 90 != 0:
        raise EditError("--rotate accepts multiples of 90 degrees only (replayable exactly)")
    return Rotate(degrees % 360)


def from_actions(actions: Sequence[Action]) -> list[Operation] | None:
    """The operations a list of recorded actions describes, or None if not replayable.

    Parameters come from a signed record, so they get the same bounds as the command line
    (a non-empty crop box, at most 200 megapixels after a resize).
    """
    ops: list[Operation] = []
    for a in actions:
        p: dict[str, Any] = dict(a.params)
        try:
            if a.action == "c2pa.cropped" and set(p) == {"left", "top", "right", "bottom"}:
                box = [p["left"], p["top"], p["right"], p["bottom"]]
                if not all(type(v) is int and v >= 0 for v in box):
                    return None
                ops.append(parse_crop(",".join(str(v) for v in box)))
            elif a.action == "c2pa.resized" and set(p) == {"width", "height", "filter"}:
                if p["filter"] != "lanczos" or type(p["width"]) is not int \
                        or type(p["height"]) is not int:
                    return None
                ops.append(parse_resize(f"{p['width']}x{p['height']}"))
            elif a.action == "c2pa.orientation" and set(p) == {"rotate"}:
                ops.append(parse_rotate(int(p["rotate"])))
            elif a.action == "c2pa.orientation" and set(p) == {"flip"}:
                if p["flip"] not in ("horizontal", "vertical"):
                    return None
                ops.append(Flip(str(p["flip"])))
            else:
                return None
        except (TypeError, ValueError, EditError):
            return None
    return ops or None


def apply(
    data: bytes,
    ops: Sequence[Operation],
    *,
    out_format: str,
    name: str = "<bytes>",
    quality: int = 95,
) -> bytes:
    """Apply ``ops`` to the canonical decoding of ``data`` and encode as ``out_format``."""
    from PIL import Image

    from provenance.imaging import canonical_image

    img = canonical_image(data, name=name)
    for op in ops:
        if isinstance(op, Crop):
            if op.right > img.width or op.bottom > img.height:
                raise EditError(f"crop box {op} lies outside the {img.width}x{img.height} image")
            img = img.crop((op.left, op.top, op.right, op.bottom))
        elif isinstance(op, Resize):
            img = img.resize((op.width, op.height), Image.Resampling.LANCZOS)
        elif isinstance(op, Rotate):
            if op.degrees:
                img = img.rotate(-op.degrees, expand=True)
        else:
            img = img.transpose(
                Image.Transpose.FLIP_LEFT_RIGHT
                if op.axis == "horizontal"
                else Image.Transpose.FLIP_TOP_BOTTOM
            )
    buf = io.BytesIO()
    try:
        if out_format == "JPEG":
            img.convert("RGB").save(buf, "JPEG", quality=quality)
        elif out_format == "WEBP":
            img.save(buf, "WEBP", lossless=True)
        else:
            img.save(buf, out_format)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot encode the edited image as {out_format}: {exc}") from exc
    return buf.getvalue()


def replay_pixels(
    parent: bytes, actions: Sequence[Action], *, out_format: str, name: str = "<parent>"
) -> str | None:
    """Canonical pixel digest of re-applying ``actions`` to ``parent``, encoded as the child
    was; None when the actions are not replayable."""
    from provenance.imaging import pixel_digest

    ops = from_actions(actions)
    if ops is None or out_format not in set(OUTPUT_FORMATS.values()):
        return None
    return pixel_digest(apply(parent, ops, out_format=out_format, name=name), name=name).pixels
