"""What a replayable edit changed, as a picture: replay, compare pixel by pixel, map.

:func:`diff_images` re-applies recorded actions to an original the way a replay does
(:func:`provenance.edits.apply`, encoded in the edited image's format), decodes the replay
and the edited image the way edits see images (:func:`provenance.imaging.display_frame`:
frame 0, orientation applied, 8-bit RGB or RGBA), and compares them sample by sample. The
difference map shows the edited image dimmed to grey with every differing pixel in bright
yellow, so a person sees at a glance whether a crop is only a crop. :func:`diff_edit` does
the same for two images of a ledger: it finds the edited image's record (by file or
content digest), checks that the original is its parent's image and that the edit was
recorded as replayable, and diffs them (``provenance diff`` and ``POST /v1/diff``).

Bounds: the images are opened with the caller's pixel limit and the replay is bounded by
the replay budget (:data:`provenance.edits.REPLAY_PIXEL_BUDGET`). Nothing is written to
disk: PNGs are encoded in memory (a small zlib writer: this module does not import Pillow).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from provenance.errors import ImageError, ProvenanceError

if TYPE_CHECKING:
    from provenance.imaging import ImageProbe
    from provenance.ledger import Ledger
    from provenance.records import Action

__all__ = ["DiffError", "DiffResult", "EditDiff", "diff_edit", "diff_images", "encode_png"]

HIGHLIGHT: Final = (255, 214, 0)
"""Colour of a differing pixel on the map (bright yellow: visible on grey to every eye)."""

Pixels = npt.NDArray[np.uint8]


class DiffError(ProvenanceError):
    """Two images do not make a replayable edit of a ledger, or the edited one is not logged.

    ``code`` is stable: ``diff.notLogged`` (exit 4), ``diff.notAnEdit``, ``diff.notParent``,
    ``diff.notReplayable``, ``diff.replayFailed`` (exit 3).
    """

    def __init__(
        self, code: str, message: str, *, hint: str | None = None, exit_code: int = 3
    ) -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.exit_code = exit_code


@dataclass(eq=False)
class DiffResult:
    """A replay compared with an edited image.

    Attributes:
        exact: the edited image's pixels are exactly the replay's.
        differing: pixels that differ in any channel (every pixel when the sizes differ).
        total: pixels of the edited image.
        max_delta: the largest difference of one channel (0-255).
        replayed_size, edited_size: (width, height) of each.
        scale: previews are ``1/scale`` of full size (1: full size).
    """

    exact: bool
    differing: int
    total: int
    max_delta: int
    replayed_size: tuple[int, int]
    edited_size: tuple[int, int]
    scale: int
    _replayed: Pixels = field(repr=False)
    _edited: Pixels = field(repr=False)
    _map: Pixels = field(repr=False)

    @cached_property
    def replayed_png(self) -> bytes:
        """The replay (preview-sized when a preview was asked for), as PNG."""
        return encode_png(self._replayed)

    @cached_property
    def edited_png(self) -> bytes:
        """The edited image as decoded for the comparison, as PNG."""
        return encode_png(self._edited)

    @cached_property
    def map_png(self) -> bytes:
        """The difference map: differing pixels highlighted over a dimmed edited image."""
        return encode_png(self._map)

    def to_json(self) -> dict[str, Any]:
        return {
            "exact": self.exact,
            "differing": self.differing,
            "total": self.total,
            "max_delta": self.max_delta,
            "replayed_size": list(self.replayed_size),
            "edited_size": list(self.edited_size),
            "scale": self.scale,
        }


@dataclass(frozen=True, eq=False)
class EditDiff:
    """:func:`diff_edit`'s answer: which records were compared, and the comparison."""

    edited_index: int
    edited_record_id: str
    original_index: int
    original_record_id: str
    actions: list[dict[str, Any]]
    format: str
    diff: DiffResult

    def to_json(self) -> dict[str, Any]:
        return {
            "edited": {"index": self.edited_index, "record_id": self.edited_record_id},
            "original": {"index": self.original_index, "record_id": self.original_record_id},
            "actions": self.actions,
            "format": self.format,
            **self.diff.to_json(),
        }


def diff_images(
    original: bytes,
    edited: bytes,
    actions: Sequence[Action],
    *,
    out_format: str | None = None,
    max_pixels: int | None = None,
    preview: int | None = None,
) -> DiffResult:
    """Replay ``actions`` on ``original`` and compare the result with ``edited``.

    Args:
        original: the parent image's bytes.
        edited: the edited image's bytes.
        actions: the recorded actions (only replayable ones: crop, resize, rotate, flip).
        out_format: encode the replay as this (JPEG, PNG, WEBP, TIFF), as the edit was
            written; default: the edited image's format.
        max_pixels: pixel limit for every image opened (default: the library's).
        preview: when given, the three images are at most this many pixels on their long
            side (the counts are always over full-size images; a differing pixel stays
            visible on a reduced map).

    Raises:
        DiffError: the actions are not replayable.
        EditError, ReplayBudgetError: the replay is invalid or over the replay budget.
        ImageError, DecompressionBombError: an image cannot be read or is over the limit.
    """
    import provenance.edits as edits
    from provenance.imaging import ImageProbe, display_frame

    ops = edits.from_actions(actions)
    if ops is None:
        raise DiffError(
            "diff.notReplayable",
            "the recorded actions are not replayable (only crop, resize, rotate and flip are)",
        )
    if out_format is None:
        out_format = ImageProbe(edited, name="edited image", max_pixels=max_pixels).format
    if out_format not in set(edits.OUTPUT_FORMATS.values()):
        raise DiffError("diff.notReplayable", f"an edit cannot be replayed as {out_format[:20]!r}")
    replayed = edits.apply(original, ops, out_format=out_format, name="original image")
    got, _ = display_frame(replayed, name="replayed image", max_pixels=max_pixels)
    a = _channels(np.asarray(got))
    del got, replayed
    want, _ = display_frame(edited, name="edited image", max_pixels=max_pixels)
    b = _channels(np.asarray(want))
    del want
    return compare(a, b, preview=preview)


def compare(replayed: Pixels, edited: Pixels, *, preview: int | None = None) -> DiffResult:
    """Compare two 8-bit images (H x W x 3 or 4; a missing alpha is opaque) and draw the map.

    Works in strips of rows: besides the two images, memory is one byte per pixel (the
    mask) plus the outputs.
    """
    total = int(edited.shape[0] * edited.shape[1])
    if replayed.shape[:2] != edited.shape[:2]:
        differing, max_delta = total, 255
        mask = np.ones(edited.shape[:2], dtype=bool)
    else:
        mask, max_delta = _difference(replayed, edited)
        differing = int(np.count_nonzero(mask))
    scale = 1
    if preview is not None and preview > 0:
        scale = max(1, -(-max(edited.shape[:2]) // preview))
    if scale > 1:
        edited_rgb = _reduce_mean(edited, scale)
        replayed_rgb = _reduce_mean(replayed, scale)
        # an isolated pixel must stay visible at preview size: grow the marks by one pixel
        shown = _grow(_reduce_any(mask, scale))
        dim = _dimmed(edited_rgb)
    else:
        edited_rgb, replayed_rgb = _flatten(edited), _flatten(replayed)
        shown = mask
        dim = _dimmed(edited_rgb)
    dim[shown] = HIGHLIGHT
    return DiffResult(
        exact=differing == 0,
        differing=differing,
        total=total,
        max_delta=max_delta,
        replayed_size=(int(replayed.shape[1]), int(replayed.shape[0])),
        edited_size=(int(edited.shape[1]), int(edited.shape[0])),
        scale=scale,
        _replayed=replayed_rgb,
        _edited=edited_rgb,
        _map=dim,
    )


def diff_edit(
    ledger: Ledger,
    original: bytes | ImageProbe,
    edited: bytes | ImageProbe,
    *,
    max_pixels: int | None = None,
    preview: int | None = None,
) -> EditDiff:
    """Find ``edited``'s record in ``ledger``, check ``original`` is its parent's image and
    the edit replayable, and diff the replay with ``edited`` (:func:`diff_images`).

    Raises:
        DiffError: ``diff.notLogged`` (no record has the edited image's file or content
            digest: exit 4), ``diff.notAnEdit``, ``diff.notParent``, ``diff.notReplayable``,
            ``diff.replayFailed``.
        ImageError, DecompressionBombError: an image cannot be read or is over the limit.
    """
    import provenance.edits as edits

    e_probe = _probe(edited, "edited image", max_pixels)
    o_probe = _probe(original, "original image", max_pixels)
    found = ledger.find(e_probe, perceptual=False)
    if not found.matches:
        raise DiffError(
            "diff.notLogged",
            "the edited image is not in the ledger (no record has its file or content digest)",
            hint="provenance diff compares an image recorded with `provenance edit` with its "
            "original",
            exit_code=4,
        )
    edits_found = []
    for m in found.matches:
        idx, rec = ledger.record(m.index)
        st = rec.statement
        if st.type == "edit" and st.asset is not None and len(st.parents) == 1:
            edits_found.append((idx, rec))
    if not edits_found:
        first = found.matches[0]
        raise DiffError(
            "diff.notAnEdit",
            f"the edited image's record (#{first.index}) is not an edit of one parent image",
            hint="it was signed as a capture: there is no recorded edit to replay",
        )
    for idx, rec in edits_found:
        p_idx, parent = ledger.record(rec.statement.parents[0])
        pa = parent.statement.asset
        if pa is None:
            continue
        if pa.sha256 != o_probe.sha256 and (pa.binding is None or pa.binding != o_probe.content()):
            continue
        st = rec.statement
        assert st.asset is not None
        if st.claims.get(edits.REPLAY_CLAIM) != edits.REPLAY_VERSION:
            raise DiffError(
                "diff.notReplayable",
                f"record #{idx}'s edit was declared by its signer (derive), not recorded as a "
                "replayable edit: there is nothing to replay",
            )
        try:
            result = diff_images(
                o_probe.data,
                e_probe.data,
                st.actions,
                out_format=st.asset.format,
                max_pixels=max_pixels,
                preview=preview,
            )
        except (edits.EditError, edits.ReplayBudgetError) as exc:
            raise DiffError(
                "diff.replayFailed", f"record #{idx}'s edit cannot be replayed: {exc}"
            ) from exc
        return EditDiff(
            edited_index=idx,
            edited_record_id=rec.record_id,
            original_index=p_idx,
            original_record_id=parent.record_id,
            actions=[a.to_json() for a in st.actions],
            format=st.asset.format,
            diff=result,
        )
    idx, rec = edits_found[0]
    raise DiffError(
        "diff.notParent",
        f"the original is not the parent image of the edited image's record (#{idx}: its "
        f"parent is {rec.statement.parents[0]})",
        hint="give the image the edit was made from (provenance history shows the chain)",
    )


def encode_png(pixels: Pixels, *, level: int = 6) -> bytes:
    """An 8-bit RGB (H x W x 3) or RGBA (H x W x 4) PNG, every row with the Up filter."""
    if pixels.ndim != 3 or pixels.shape[2] not in (3, 4) or pixels.dtype != np.uint8:
        raise ImageError("encode_png expects an H x W x 3 or 4 array of uint8")
    height, width, channels = pixels.shape
    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    up = rows.copy()
    up[1:] -= rows[:-1]  # uint8 arithmetic wraps: the PNG Up filter
    raw = np.empty((height, width * channels + 1), dtype=np.uint8)
    raw[:, 0] = 2
    raw[:, 1:] = up
    colour_type = 2 if channels == 3 else 6
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw.tobytes(), level)),
            _chunk(b"IEND", b""),
        ]
    )


# --- helpers -------------------------------------------------------------------------------
def _probe(image: bytes | ImageProbe, name: str, max_pixels: int | None) -> ImageProbe:
    from provenance.imaging import ImageProbe

    if isinstance(image, ImageProbe):
        return image
    return ImageProbe(image, name=name, max_pixels=max_pixels)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


STRIP_ROWS: Final = 256
"""Rows handled at once by the strip-wise steps (bounds their temporaries)."""


def _channels(arr: npt.NDArray[Any]) -> Pixels:
    """display_frame's pixels as H x W x 3 or 4 uint8."""
    arr = np.asarray(arr, dtype=np.uint8)
    return arr[..., None].repeat(3, axis=2) if arr.ndim == 2 else arr


def _alpha(strip: Pixels) -> Pixels:
    if strip.shape[2] == 4:
        return strip[..., 3]
    return np.full(strip.shape[:2], 255, dtype=np.uint8)


def _difference(a: Pixels, b: Pixels) -> tuple[npt.NDArray[np.bool_], int]:
    """Per pixel: does any channel differ (alpha included)? And the largest difference."""
    height = a.shape[0]
    mask = np.zeros(a.shape[:2], dtype=bool)
    largest = 0
    for y in range(0, height, STRIP_ROWS):
        sa, sb = a[y : y + STRIP_ROWS], b[y : y + STRIP_ROWS]
        delta = (np.maximum(sa[..., :3], sb[..., :3]) - np.minimum(sa[..., :3], sb[..., :3])).max(
            axis=2
        )
        if a.shape[2] == 4 or b.shape[2] == 4:
            aa, ab = _alpha(sa), _alpha(sb)
            delta = np.maximum(delta, np.maximum(aa, ab) - np.minimum(aa, ab))
        mask[y : y + STRIP_ROWS] = delta > 0
        if delta.size:
            largest = max(largest, int(delta.max()))
    return mask, largest


def _flatten(pixels: Pixels) -> Pixels:
    """RGB, or RGBA over white as RGB (previews are for eyes; the comparison used alpha)."""
    if pixels.shape[2] == 3:
        return np.ascontiguousarray(pixels)
    out = np.empty((*pixels.shape[:2], 3), dtype=np.uint8)
    for y in range(0, pixels.shape[0], STRIP_ROWS):
        strip = pixels[y : y + STRIP_ROWS]
        alpha = strip[..., 3:4].astype(np.uint16)
        rgb = strip[..., :3].astype(np.uint16)
        out[y : y + STRIP_ROWS] = (rgb * alpha + 255 * (255 - alpha) + 127) // 255
    return out


def _dimmed(rgb: Pixels) -> Pixels:
    """The picture in dark grey: recognisable, yet every highlight stands out on it."""
    out = np.empty_like(rgb)
    for y in range(0, rgb.shape[0], STRIP_ROWS):
        wide = rgb[y : y + STRIP_ROWS].astype(np.uint32)
        lum = (wide[..., 0] * 77 + wide[..., 1] * 150 + wide[..., 2] * 29) >> 8
        out[y : y + STRIP_ROWS] = (lum * 45 // 100 + 24)[..., None]
    return out


def _pad(arr: npt.NDArray[Any], k: int) -> npt.NDArray[Any]:
    """``arr`` (a strip) padded with its edge to a multiple of ``k`` in both directions."""
    h, w = arr.shape[:2]
    ph, pw = -h % k, -w % k
    if not (ph or pw):
        return arr
    widths = [(0, ph), (0, pw)] + [(0, 0)] * (arr.ndim - 2)
    return np.pad(arr, widths, mode="edge")


def _reduce_mean(pixels: Pixels, k: int) -> Pixels:
    """Block means over k x k blocks, as RGB (alpha over white)."""
    height, width = pixels.shape[:2]
    out = np.empty((-(-height // k), -(-width // k), 3), dtype=np.uint8)
    rows = max(k, STRIP_ROWS // k * k)
    for y in range(0, height, rows):
        a = _pad(_flatten(pixels[y : y + rows]), k)
        h, w, c = a.shape
        sums = a.reshape(h // k, k, w // k, k, c).sum(axis=(1, 3), dtype=np.uint32)
        out[y // k : y // k + h // k] = (sums + (k * k) // 2) // (k * k)
    return out


def _reduce_any(mask: npt.NDArray[np.bool_], k: int) -> npt.NDArray[np.bool_]:
    height, width = mask.shape
    out = np.empty((-(-height // k), -(-width // k)), dtype=bool)
    rows = max(k, STRIP_ROWS // k * k)
    for y in range(0, height, rows):
        a = _pad(mask[y : y + rows], k)
        h, w = a.shape
        out[y // k : y // k + h // k] = a.reshape(h // k, k, w // k, k).any(axis=(1, 3))
    return out


def _grow(mask: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    grown = out.copy()
    grown[:, 1:] |= out[:, :-1]
    grown[:, :-1] |= out[:, 1:]
    return grown
