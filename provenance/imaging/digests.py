"""The asset digests that bind a record to an image, computed lazily and at most once.

Digest set 2 (:data:`DIGEST_SET`, DESIGN section 3):

1. ``sha256``: SHA-256 of the file bytes.
2. ``content``: the metadata-independent digest of what a viewer displays. JPEG: the image
   data segments plus the display tokens, no decode (:mod:`.jpeg`). Other formats: every
   decoded frame plus the display tokens (:mod:`.content`).
3. ``phash64``, ``phash256``, ``pdq``: perceptual hashes of the first displayed frame
   (:mod:`.perceptual`); JPEGs from one ``draft()`` decode, other formats from the decode
   that (2) needed.

Digest set 1 (records made before) had ``pixels`` instead of ``content``: SHA-256 of frame 0
after EXIF orientation, ignoring every other frame, colour metadata and where viewers do
not apply orientation. A v1 record still matches by ``sha256`` (exact bytes) and by its
perceptual hashes (``similar``); its ``pixels`` value is kept for replays only
(:mod:`.legacy`).

:class:`ImageProbe` computes each digest when first asked, so ``verify`` stops at the
cheapest one that decides (file hash, then content, then perceptual).
"""

from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from provenance.imaging.content import Decoded, decode_pass
from provenance.imaging.jpeg import JpegInfo, content_digest, walk
from provenance.imaging.metadata import orientation_value
from provenance.imaging.opening import (
    open_image,
    pillow_errors,
    read_image_bytes,
    resolve_max_pixels,
)
from provenance.imaging.perceptual import (
    PERCEPTUAL_MIN_SIDE,
    PerceptualHashes,
    hashes_of,
    orient,
    reduced_grey,
)
from provenance.records import DIGEST_SET

if TYPE_CHECKING:
    from PIL import Image

    from provenance.pdq import PdqHash
    from provenance.records import Asset


def file_sha256(data: bytes) -> str:
    """Digest (1): hex SHA-256 of the file bytes."""
    return hashlib.sha256(data).hexdigest()


class ImageProbe:
    """One image's digests, each computed when first needed.

    Raises (from any method): ImageError for unreadable, unsupported, corrupt or truncated
    images; DecompressionBombError for images over the pixel or decode-work limits.
    """

    def __init__(
        self,
        data: bytes,
        *,
        name: str = "<bytes>",
        max_pixels: int | None = None,
        threads: bool = False,
    ):
        self.data = data
        self.name = name
        self.limit = resolve_max_pixels(max_pixels)
        self.threads = threads
        self.sha256 = file_sha256(data)
        self._jpeg: JpegInfo | None = None
        self._decoded: Decoded | None = None
        self._content: str | None = None
        self._perceptual: PerceptualHashes | None = None
        self._dihedral: tuple[PdqHash, ...] | None = None
        self._format: str | None = None

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, max_pixels: int | None = None
    ) -> ImageProbe:
        return cls(read_image_bytes(path), name=os.fspath(path), max_pixels=max_pixels)

    @property
    def is_jpeg(self) -> bool:
        return self.data[:3] == b"\xff\xd8\xff"

    def _walk(self) -> JpegInfo:
        if self._jpeg is None:
            self._jpeg = walk(self.data, self.name, self.limit)
        return self._jpeg

    def _decode(self) -> Decoded:
        if self._decoded is None:
            image, fmt = open_image(self.data, self.name, self.limit)
            self._format = fmt
            self._decoded = decode_pass(image, fmt, self.data, self.name, self.limit, pdq=True)
        return self._decoded

    @property
    def format(self) -> str:
        if self._format is None:
            if self.is_jpeg:
                self._walk()
                _, self._format = open_image(self.data, self.name, self.limit)
            else:
                self._decode()
        assert self._format is not None
        return self._format

    def content(self) -> str:
        """Digest (2), the content digest (JPEG: no decode)."""
        if self._content is None:
            if self.is_jpeg:
                self._content = content_digest(self.data, self._walk())
            else:
                self._content = self._decode().content
        return self._content

    def perceptual(self) -> PerceptualHashes:
        """Digest (3): the perceptual hashes of the first displayed frame."""
        if self._perceptual is None:
            if self.is_jpeg:
                self._perceptual = self._jpeg_perceptual()
            else:
                self._perceptual = self._decode().perceptual
        return self._perceptual

    def pdq_dihedral(self) -> tuple[PdqHash, ...]:
        """PDQ of the 8 rotations and reflections of the image :meth:`perceptual` hashed
        (:func:`provenance.pdq.pdq_dihedral`, in ``DIHEDRAL_NAMES`` order, each with its
        quality), from the same decode: the query side of a dihedral lookup. Computed
        once, about 1 ms for a 12 MP JPEG."""
        if self._dihedral is None:
            from provenance.pdq import pdq_dihedral

            luma = self.perceptual().luma
            assert luma is not None  # the probe always computes PDQ
            self._dihedral = pdq_dihedral(luma)
        return self._dihedral

    def perceptual_for(self, digest_set: int) -> PerceptualHashes:
        """The perceptual hashes as digest set ``digest_set`` computes them (set 1 took
        frame 0 even where a viewer shows another frame first)."""
        if digest_set == 1 and not self.is_jpeg:
            return self._decode().perceptual_frame0
        return self.perceptual()

    def _jpeg_perceptual(self) -> PerceptualHashes:
        self._walk()  # the bounds come first: nothing is decoded before them
        image, fmt = open_image(self.data, self.name, self.limit)
        self._format = fmt
        pool = _helper() if self.threads else None
        with pillow_errors(self.name, fmt):
            image.draft("RGB", (PERCEPTUAL_MIN_SIDE, PERCEPTUAL_MIN_SIDE))
            image.load()
            return hashes_of(reduced_grey(orient(image), self.name), with_pdq=True, pool=pool)

    def size(self) -> tuple[int, int, int]:
        """(width, height, frames) as displayed (orientation applied)."""
        if self.is_jpeg:
            info = self._walk()
            width, height = info.width, info.height
            if orientation_value(info.orientation) >= 5:
                width, height = height, width
            return width, height, 1
        decoded = self._decode()
        return decoded.width, decoded.height, decoded.frames

    def asset(self) -> Asset:
        """Every digest of digest set 2, as a record's asset.

        With ``threads`` (one image at a time in this process, a core to spare), a JPEG's
        content digest is computed in a helper thread while this one decodes: hashing and
        Pillow's decoder both release the GIL. The digests are the same either way.
        """
        from provenance.records import Asset

        if self.threads and self.is_jpeg and self._content is None:
            self._walk()  # the bounds first, in this thread: errors surface here
            later = _helper().submit(self.content)
            self.perceptual()
            later.result()
        hashes = self.perceptual()
        width, height, frames = self.size()
        return Asset(
            digests=DIGEST_SET,
            format=self.format,
            width=width,
            height=height,
            frames=frames,
            sha256=self.sha256,
            content=self.content(),
            phash64=hashes.phash64,
            phash256=hashes.phash256,
            pdq=hashes.pdq,
        )


_HELPER: ThreadPoolExecutor | None = None
_HELPER_LOCK = threading.Lock()


def _helper() -> ThreadPoolExecutor:
    """One helper thread, shared by every probe of this process (created on first use)."""
    global _HELPER
    with _HELPER_LOCK:
        if _HELPER is None:
            _HELPER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="provenance-digest")
        return _HELPER


def digest_bytes(data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None) -> Asset:
    """Every digest of an image held in memory (digest set 2).

    Raises:
        ImageError: unreadable, unsupported, corrupt or truncated image.
        DecompressionBombError: over the pixel or decode-work limits.
    """
    return ImageProbe(data, name=name, max_pixels=max_pixels).asset()


def digest_file(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> Asset:
    """Every digest of the image file at ``path`` (read once into memory)."""
    return ImageProbe.from_file(path, max_pixels=max_pixels).asset()


def display_frame(
    data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None
) -> tuple[Image.Image, bytes | None]:
    """The still image a viewer shows, ready to edit: frame 0, fully decoded, orientation
    applied, in 8-bit RGB or RGBA; and its ICC profile (None when it renders like sRGB).

    Raises:
        ImageError: unreadable, corrupt or truncated, or an animation (edits keep still
            images only).
        DecompressionBombError: over the pixel or decode-work limits.
    """
    from provenance.errors import ImageError
    from provenance.imaging.metadata import icc_token
    from provenance.imaging.opening import display_name
    from provenance.imaging.samples import eight_bit_source, materialise

    limit = resolve_max_pixels(max_pixels)
    if data[:3] == b"\xff\xd8\xff":
        walk(data, name, limit)
    image, fmt = open_image(data, name, limit)
    with pillow_errors(name, fmt):
        if int(getattr(image, "n_frames", 1)) > 1:
            raise ImageError(
                f"cannot edit an animation: {display_name(name)}",
                hint="provenance edit works on still images; record other edits with derive",
            )
        image.load()
        profile = image.info.get("icc_profile")
        source, mode = eight_bit_source(orient(image), name)
        frame = materialise(source, mode)
        if frame is image or frame.info is image.info:
            frame = frame.copy()
        frame.info.pop("icc_profile", None)  # the caller decides what profile to write
    return frame, (profile if profile and icc_token(profile) != "srgb" else None)
