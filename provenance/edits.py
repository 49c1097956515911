"""Replayable edits: a small, exact set of pixel operations and their C2PA action records.

``provenance edit`` applies these operations to the image a viewer shows of a logged
image (its first frame, orientation applied; its colour profile carried over) and records
them with their parameters, so a verifier holding the parent image can re-apply them and
compare the result's content digest with the child's record (:func:`replay_digest`). Only
deterministic, lossless-to-describe operations are offered: crop, resize (Lanczos), rotate
by a multiple of 90 degrees, and flip. Replay re-encodes the result the way the child was
written (PNG, lossless WebP, TIFF, or JPEG at quality 95) and compares exactly; a JPEG
replay is exact only with the same JPEG encoder build. Records made by ``edit`` carry the
claim ``provenance.edit = 1`` (a reserved claim: ``sign`` and ``derive`` refuse user claims
under ``provenance.``); only those are replayed, and a report calls a step *replayed* only
when check (8) re-applied it and got the child.

Bounds: at most :data:`MAX_OPERATIONS` operations per record and
:data:`REPLAY_PIXEL_BUDGET` pixels produced in all (a record of 800 alternating resizes is
refused at once, not replayed for minutes).

Besides :mod:`provenance.imaging`, this is the only module using Pillow.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from provenance.errors import ImageError, ProvenanceError
from provenance.records import Action

if TYPE_CHECKING:
    from PIL import Image

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


MAX_OPERATIONS: Final = 16
REPLAY_PIXEL_BUDGET: Final = 400_000_000
"""Pixels all the operations of one edit may produce together (about 2 s of work)."""


class EditError(ProvenanceError):
    """An edit operation is invalid for the image (crop outside it, zero size...)."""


class ReplayBudgetError(ProvenanceError):
    """A recorded edit would cost more than the replay bounds allow."""

    default_hint = "the record asks for more work than any honest edit needs"


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
    if len(parts) != 4 or not all(p.strip().isdigit() and len(p) < 10 for p in parts):
        raise EditError(
            f"--crop expects LEFT,TOP,RIGHT,BOTTOM in pixels, got {text[:40]!r}",
            hint="for example --crop 0,0,3000,2000",
        )
    left, top, right, bottom = (int(p) for p in parts)
    if right <= left or bottom <= top:
        raise EditError(
            f"empty crop box {text!r}: RIGHT must exceed LEFT and BOTTOM must exceed TOP",
            hint="the box is LEFT,TOP,RIGHT,BOTTOM, not LEFT,TOP,WIDTH,HEIGHT",
        )
    return Crop(left, top, right, bottom)


def parse_resize(text: str) -> Resize:
    """``WIDTHxHEIGHT`` in pixels."""
    w, sep, h = text.lower().partition("x")
    if (
        not sep
        or not (w.isdigit() and h.isdigit())
        or len(w) > 9
        or len(h) > 9
        or int(w) < 1
        or int(h) < 1
    ):
        raise EditError(
            f"--resize expects WIDTHxHEIGHT, got {text[:40]!r}",
            hint="for example --resize 1500x1000",
        )
    if int(w) * int(h) > 200_000_000:
        raise EditError(f"--resize {text} is larger than 200 megapixels")
    return Resize(int(w), int(h))


def parse_rotate(degrees: int) -> Rotate:
    if degrees % 90 != 0:
        raise EditError(
            f"--rotate {degrees}: only multiples of 90 degrees are replayable exactly",
            hint="use 90, 180 or 270; record other rotations with derive",
        )
    return Rotate(degrees % 360)


def from_actions(actions: Sequence[Action]) -> list[Operation] | None:
    """The operations a list of recorded actions describes, or None if not replayable.

    Parameters come from a signed record, so they get the same bounds as the command line
    (a non-empty crop box, at most 200 megapixels after a resize).
    """
    if len(actions) > MAX_OPERATIONS:
        return None
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
                if (
                    p["filter"] != "lanczos"
                    or type(p["width"]) is not int
                    or type(p["height"]) is not int
                ):
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


def expected_size(ops: Sequence[Operation], size: tuple[int, int]) -> tuple[int, int] | None:
    """The size ``ops`` turn an image of ``size`` into; None when a crop does not fit."""
    width, height = size
    for op in ops:
        if isinstance(op, Crop):
            if op.right > width or op.bottom > height:
                return None
            width, height = op.right - op.left, op.bottom - op.top
        elif isinstance(op, Resize):
            width, height = op.width, op.height
        elif isinstance(op, Rotate) and op.degrees in (90, 270):
            width, height = height, width
    return width, height


def check_budget(ops: Sequence[Operation], size: tuple[int, int]) -> None:
    """Refuse a replay that would produce more than :data:`REPLAY_PIXEL_BUDGET` pixels.

    Raises:
        ReplayBudgetError: too many operations or pixels.
    """
    if len(ops) > MAX_OPERATIONS:
        raise ReplayBudgetError(f"an edit of {len(ops)} operations (at most {MAX_OPERATIONS})")
    width, height = size
    produced = 0
    for op in ops:
        shape = expected_size([op], (width, height))
        if shape is None:
            return  # the crop error is reported when it is applied
        width, height = shape
        produced += width * height
    if produced > REPLAY_PIXEL_BUDGET:
        raise ReplayBudgetError(
            f"replaying this edit would produce {produced:,} pixels "
            f"(at most {REPLAY_PIXEL_BUDGET:,})"
        )


def apply(
    data: bytes,
    ops: Sequence[Operation],
    *,
    out_format: str,
    name: str = "<bytes>",
    quality: int = 95,
) -> bytes:
    """Apply ``ops`` to the image a viewer shows of ``data`` and encode as ``out_format``.

    The source's colour profile (when it does not render like sRGB) is written into the
    output, so the edit changes geometry, never colours.

    Raises:
        EditError: a crop box outside the image.
        ReplayBudgetError: more operations or pixels than the bounds allow.
        ImageError: the source cannot be read, is an animation, or the output cannot be
            encoded.
    """
    from provenance.imaging import display_frame

    img, profile = display_frame(data, name=name)
    return _encode(_transform(img, ops, name), out_format, quality, profile)


def _transform(img: Image.Image, ops: Sequence[Operation], name: str) -> Image.Image:
    from PIL import Image as PILImage

    check_budget(ops, img.size)
    # the image is named unless only a placeholder ("<bytes>") is known
    source = "" if name.startswith("<") else f" {name}"
    for step, op in enumerate(ops):
        if isinstance(op, Crop):
            if op.right > img.width or op.bottom > img.height:
                made = " made by the operations before it from" if step and source else ""
                raise EditError(
                    f"crop box {op.left},{op.top},{op.right},{op.bottom} lies outside the "
                    f"{img.width}x{img.height} image{made}{source}",
                    hint=f"RIGHT must be at most {img.width} and BOTTOM at most {img.height}",
                )
            img = img.crop((op.left, op.top, op.right, op.bottom))
        elif isinstance(op, Resize):
            img = img.resize((op.width, op.height), PILImage.Resampling.LANCZOS)
        elif isinstance(op, Rotate):
            if op.degrees:
                img = img.rotate(-op.degrees, expand=True)
        else:
            img = img.transpose(
                PILImage.Transpose.FLIP_LEFT_RIGHT
                if op.axis == "horizontal"
                else PILImage.Transpose.FLIP_TOP_BOTTOM
            )
    return img


def _encode(img: Image.Image, out_format: str, quality: int, profile: bytes | None) -> bytes:
    buf = io.BytesIO()
    extra: dict[str, Any] = {} if profile is None else {"icc_profile": profile}
    try:
        if out_format == "JPEG":
            img.convert("RGB").save(buf, "JPEG", quality=quality, **extra)
        elif out_format == "WEBP":
            img.save(buf, "WEBP", lossless=True, **extra)
        else:
            img.save(buf, out_format, **extra)
    except (OSError, ValueError) as exc:
        raise ImageError(f"cannot encode the edited image as {out_format}: {exc}") from exc
    return buf.getvalue()


def replay_digest(
    parent: bytes,
    actions: Sequence[Action],
    *,
    out_format: str,
    digest_set: int,
    name: str = "<parent>",
) -> str | None:
    """The digest a replay of ``actions`` on ``parent`` gives, encoded as the child was:
    the content digest (digest set 2) or the v1 pixel digest (digest set 1's edits did not
    carry the colour profile); None when the actions are not replayable.

    Raises:
        EditError, ReplayBudgetError, ImageError: as :func:`apply`.
    """
    from provenance.imaging import ImageProbe, display_frame, pixel_digest_v1

    ops = from_actions(actions)
    if ops is None or out_format not in set(OUTPUT_FORMATS.values()):
        return None
    img, profile = display_frame(parent, name=name)
    if digest_set == 1:
        return pixel_digest_v1(_encode(_transform(img, ops, name), out_format, 95, None), name=name)
    encoded = _encode(_transform(img, ops, name), out_format, 95, profile)
    return ImageProbe(encoded, name=name).content()
