"""Safe image decoding and the three asset digests that bind a record to an image.

This module owns everything that touches pixels (DESIGN sections 3 and 7) and is the only
module that imports Pillow or imagehash. Pillow, numpy and imagehash are imported lazily
inside functions, so importing this module costs nothing at CLI start-up; scipy is never
imported (see :func:`phash`).

Digest set 1 (``DIGEST_SET``), computed from the file's bytes, read once into memory:

1. ``sha256``: SHA-256 of the file bytes.
2. ``pixels``: SHA-256 over the canonical decoding (see :func:`pixel_digest`)::

       b"provenance/pixels/v1\\n" + f"{width} {height} {mode}\\n" + raw bytes, rows top to bottom

   where the image is frame 0, fully decoded, EXIF orientation applied, and ``mode`` is
   ``RGBA`` if at least one pixel is not fully opaque, else ``RGB``. Mode normalisation:

   - RGB as is; RGBA/LA/PA/RGBa/La, P with a transparent palette entry and 1/L/RGB with a
     ``transparency`` colour key become RGBA first; an all-opaque result is hashed as RGB
     (PNG and lossless WebP disagree about keeping an opaque alpha channel).
   - 1, L, P, CMYK, YCbCr, RGBX, LAB, HSV: Pillow's ``convert("RGB")`` (no colour
     management: ICC profiles are ignored; CMYK uses Pillow's naive formula).
   - 16-bit greyscale (I;16, I;16B, I;16L, I;16N) and 32-bit I: clipped to 0..65535, then
     the high byte (``v >> 8``) as L, the same truncation Pillow applies to 16-bit RGB PNGs;
     a ``transparency`` value makes exactly the pixels equal to it transparent. F: Pillow's
     ``convert("L")``. Every L result is then replicated to RGB.

   For lossy formats the decoded pixels depend on the decoder (libjpeg-turbo version and
   its IDCT/upsampling choices): a JPEG's pixel digest is reproducible with the same
   Pillow build, but another decoder may produce slightly different pixels.
3. ``phash64``/``phash256``: imagehash's pHash with ``hash_size`` 8 and 16 (hex, as
   ``str(ImageHash)``; computed by :func:`phash` with an exact integer DCT, bit-identical
   to ``imagehash.phash``), from frame 0 decoded as follows. JPEG: ``Image.draft("RGB",
   (512, 512))``, which picks the largest libjpeg DCT scale 1/s (s in 1, 2, 4, 8) with
   ``s <= min(width // 512, height // 512)``, so both sides stay >= 512 px. Then, for all
   formats: EXIF orientation, the same mode normalisation as (2), and ``Image.reduce(f)``
   with ``f = min(width, height) // 512`` when ``f >= 2`` (box filter; the short side stays
   >= 512). Alpha is ignored by pHash (imagehash converts to L). Sign and verify run this one
   function, so the hashes agree exactly; golden tests pin it.

Safe opening: only the plugins of ``supported_formats()`` are tried (JPEG, PNG, WEBP, TIFF,
GIF; AVIF when Pillow has it; HEIF when the optional ``pillow_heif`` is installed). The
image's declared width x height is checked against ``max_pixels`` (argument, else the
``PROVENANCE_MAX_PIXELS`` environment variable, else ``DEFAULT_MAX_PIXELS``) right after
the header is parsed and before any pixel buffer is allocated. Pillow's process-wide
``Image.MAX_IMAGE_PIXELS`` and ``ImageFile.LOAD_TRUNCATED_IMAGES`` are never changed;
``Image.open`` is bypassed (its own size check would warn or fail on the global limit) by
calling the registered plugin classes directly (WebP's header is checked before its plugin
runs: libwebp allocates the canvas while parsing). Some plugins (GIF, TIFF, WebP) still
apply Pillow's global limit inside: beyond ``2 * Image.MAX_IMAGE_PIXELS`` they fail (raised
here as ``DecompressionBombError`` whatever ``max_pixels`` says), and TIFF/GIF images between
``Image.MAX_IMAGE_PIXELS`` and twice that get Pillow's ``DecompressionBombWarning`` (an error
when warnings are errors). Every Pillow failure is re-raised as ``ImageError`` or
``DecompressionBombError``.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple, cast

from provenance.errors import DecompressionBombError, ImageError, RecordError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from PIL import Image, ImageFile

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DIGEST_SET",
    "MAX_PIXELS_ENV",
    "PERCEPTUAL_MIN_SIDE",
    "PHASH64_MAX_DISTANCE",
    "PHASH256_MAX_DISTANCE",
    "PIXELS_DOMAIN",
    "THREADS_ENV",
    "AssetDigests",
    "PerceptualHashes",
    "PixelDigest",
    "canonical_image",
    "digest_bytes",
    "digest_file",
    "file_sha256",
    "hamming",
    "int_to_phash64",
    "is_perceptual_match",
    "perceptual_distances",
    "perceptual_hashes",
    "phash64_to_int",
    "pixel_digest",
    "read_image_bytes",
    "resolve_max_pixels",
    "supported_formats",
]

DIGEST_SET = 1
"""Version of the digest pipeline; any change to a digest's value needs a new number."""

PHASH64_MAX_DISTANCE = 10
"""pHash-64 lookup threshold in bits (DESIGN 7: re-encode/resize max 4, closest pair 14)."""

PHASH256_MAX_DISTANCE = 40
"""pHash-256 confirmation threshold in bits (DESIGN 7: re-encode/resize max 8, pair 82)."""

DEFAULT_MAX_PIXELS = 178_956_970
"""Pillow's hard limit (2 x its default MAX_IMAGE_PIXELS): room for 150 MP medium format."""

MAX_PIXELS_ENV = "PROVENANCE_MAX_PIXELS"
THREADS_ENV = "PROVENANCE_DIGEST_THREADS"

PERCEPTUAL_MIN_SIDE = 512
"""The perceptual path never downscales the short side below this (DESIGN 7)."""

PIXELS_DOMAIN = b"provenance/pixels/v1\n"

_STRIP_BYTES = 1 << 20  # ~1 MiB per hashed strip: measured fastest (see _hash_pixels)
_ORIENTATION_TAG = 0x0112
_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)
_HEX = frozenset("0123456789abcdef")

# --- result types ---------------------------------------------------------------------


class PixelDigest(NamedTuple):
    """Result of :func:`pixel_digest`: canonical pixel hash and the oriented size."""

    pixels: str
    width: int
    height: int
    format: str


class PerceptualHashes(NamedTuple):
    """Result of :func:`perceptual_hashes`: imagehash's hex strings."""

    phash64: str
    phash256: str


def _check_hex(value: object, length: int, field: str) -> str:
    if not isinstance(value, str) or len(value) != length or not _HEX.issuperset(value):
        raise ValueError(f"{field} must be {length} lowercase hex characters")
    return value


@dataclass(frozen=True, slots=True)
class AssetDigests:
    """The digests that bind a record to an image (digest set ``DIGEST_SET``).

    Attributes:
        sha256: hex SHA-256 of the file bytes.
        pixels: hex SHA-256 of the canonical pixels.
        phash64: imagehash pHash, 64 bits as 16 hex characters.
        phash256: imagehash pHash with ``hash_size=16``, 64 hex characters.
        width: width after EXIF orientation.
        height: height after EXIF orientation.
        format: Pillow format name (JPEG, PNG, WEBP, TIFF, GIF, AVIF, HEIF).
    """

    sha256: str
    pixels: str
    phash64: str
    phash256: str
    width: int
    height: int
    format: str

    def __post_init__(self) -> None:
        _check_hex(self.sha256, 64, "sha256")
        _check_hex(self.pixels, 64, "pixels")
        _check_hex(self.phash64, 16, "phash64")
        _check_hex(self.phash256, 64, "phash256")
        for field, value in (("width", self.width), ("height", self.height)):
            if type(value) is not int or value <= 0:
                raise ValueError(f"{field} must be a positive int")
        if not isinstance(self.format, str) or not self.format.isalnum():
            raise ValueError("format must be a non-empty alphanumeric string")

    def to_dict(self) -> dict[str, str | int]:
        """Return the JSON form stored in a statement's ``asset``."""
        return {
            "sha256": self.sha256,
            "pixels": self.pixels,
            "phash64": self.phash64,
            "phash256": self.phash256,
            "width": self.width,
            "height": self.height,
            "format": self.format,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AssetDigests:
        """Parse the form written by :meth:`to_dict`, exactly those seven keys.

        Raises:
            RecordError: a key is missing or unexpected, or a value is malformed.
        """
        expected = {"sha256", "pixels", "phash64", "phash256", "width", "height", "format"}
        if not isinstance(data, Mapping):
            raise RecordError("malformed asset digests: expected an object")
        keys = set(data)
        if keys != expected:
            missing = ", ".join(sorted(expected - keys, key=str)) or "-"
            extra = ", ".join(sorted(str(k) for k in keys - expected)) or "-"
            raise RecordError(f"malformed asset digests: missing {missing}; unexpected {extra}")
        try:
            return cls(**{key: data[key] for key in expected})
        except ValueError as exc:
            raise RecordError(f"malformed asset digests: {exc}") from exc


# --- limits ----------------------------------------------------------------------------


def resolve_max_pixels(max_pixels: int | None = None) -> int:
    """Return the pixel limit to apply: the argument, else ``PROVENANCE_MAX_PIXELS``, else
    ``DEFAULT_MAX_PIXELS``.

    Raises:
        ValueError: ``max_pixels`` is given and not a positive int.
        ImageError: the environment variable is set but not a positive integer.
    """
    if max_pixels is not None:
        if type(max_pixels) is not int or max_pixels <= 0:
            raise ValueError("max_pixels must be a positive int")
        return max_pixels
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ImageError(
            f"invalid {MAX_PIXELS_ENV}: {raw[:40]!r}",
            hint=f"set {MAX_PIXELS_ENV} to a positive integer (default {DEFAULT_MAX_PIXELS})",
        )
    return value


# --- opening ---------------------------------------------------------------------------

_Factory = Callable[[IO[bytes], str], "ImageFile.ImageFile"]
_Accept = Callable[[bytes], bool | str] | None
_plugin_lock = threading.Lock()
_plugin_table: dict[str, tuple[_Factory, _Accept]] = {}
_heif_registered: bool | None = None  # None: not tried yet (pillow_heif is imported lazily)


def _plugins(prefix: bytes) -> dict[str, tuple[_Factory, _Accept]]:
    """Return {format: (factory, accept)} for the formats we read, in the order tried."""
    with _plugin_lock:
        if not _plugin_table:
            from PIL import (
                GifImagePlugin,
                Image,
                JpegImagePlugin,
                PngImagePlugin,
                TiffImagePlugin,
                WebPImagePlugin,
            )

            # JpegImageFile, not Pillow's jpeg_factory: it would turn camera JPEGs with a
            # Multi-Picture index into "MPO" (and warn on a malformed one). Frame 0 is the
            # same JPEG either way.
            _plugin_table["JPEG"] = (
                JpegImagePlugin.JpegImageFile,
                Image.OPEN[JpegImagePlugin.JpegImageFile.format][1],
            )
            for plugin in (
                PngImagePlugin.PngImageFile,
                WebPImagePlugin.WebPImageFile,
                GifImagePlugin.GifImageFile,
                TiffImagePlugin.TiffImageFile,
            ):
                _plugin_table[str(plugin.format)] = Image.OPEN[str(plugin.format)]
            try:
                from PIL import AvifImagePlugin
            except ImportError:  # pragma: no cover - Pillow < 11.2
                pass
            else:
                if AvifImagePlugin.SUPPORTED:
                    _plugin_table["AVIF"] = Image.OPEN["AVIF"]
        if _heif_registered is None and _is_heif(prefix):
            _register_heif()
        return dict(_plugin_table)


def _is_heif(prefix: bytes) -> bool:
    return prefix[4:8] == b"ftyp" and prefix[8:12] in _HEIF_BRANDS


def _register_heif() -> None:
    """Register the optional pillow_heif plugin (called with _plugin_lock held)."""
    global _heif_registered
    try:
        import pillow_heif
    except ImportError:
        _heif_registered = False
        return
    from PIL import Image

    pillow_heif.register_heif_opener()
    _plugin_table["HEIF"] = Image.OPEN["HEIF"]
    _heif_registered = True


def supported_formats() -> tuple[str, ...]:
    """Return the format names this installation can read (HEIF only if ``pillow_heif``)."""
    from importlib.util import find_spec

    formats = list(_plugins(b""))
    if "HEIF" not in formats and find_spec("pillow_heif") is not None:
        formats.append("HEIF")
    return tuple(formats)


def _display(name: str) -> str:
    return name if name.isprintable() else ascii(name)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:100] if text else type(exc).__name__


# Exceptions that Pillow (and its plugins, zlib and struct underneath) raise on bad input.
# Warnings appear here only when the warnings filter escalates them to errors.
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    EOFError,
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    struct.error,
    zlib.error,
    RuntimeError,  # AVIF: "Failed to decode image: ..."
    MemoryError,
    UserWarning,
    RuntimeWarning,
)


def _bomb_classes() -> tuple[type[BaseException], ...]:
    from PIL import Image

    return (Image.DecompressionBombError, Image.DecompressionBombWarning)


def _translate(exc: BaseException, name: str, fmt: str | None) -> ImageError:
    shown = _display(name)
    if isinstance(exc, _bomb_classes()):
        return DecompressionBombError(f"image too large: {shown} ({_reason(exc)})")
    if isinstance(exc, MemoryError):
        return ImageError(f"out of memory decoding image: {shown}")
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return ImageError(f"truncated image: {shown}")
    kind = f"{fmt} image" if fmt else "image"
    return ImageError(f"corrupt {kind}: {shown} ({_reason(exc)})")


@contextmanager
def _pillow_errors(name: str, fmt: str | None) -> Iterator[None]:
    """Re-raise any failure of the Pillow calls inside as ImageError/DecompressionBombError."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise _translate(exc, name, fmt) from exc
    except _bomb_classes() as exc:
        raise _translate(exc, name, fmt) from exc


def _check_size(size: tuple[int, int] | None, shown: str, max_pixels: int) -> None:
    if size is not None and size[0] * size[1] > max_pixels:
        width, height = size
        raise DecompressionBombError(
            f"image too large: {shown} is {width}x{height} "
            f"({width * height:,} pixels; limit {max_pixels:,})"
        )


def _webp_canvas_size(header: bytes) -> tuple[int, int] | None:
    """Width and height declared in the first 30 bytes of a WebP file (RIFF container,
    then a VP8X, VP8 or VP8L chunk), or None if they are not there."""
    chunk = header[12:16]
    if chunk == b"VP8X" and len(header) >= 30:
        width = int.from_bytes(header[24:27], "little") + 1
        return width, int.from_bytes(header[27:30], "little") + 1
    if chunk == b"VP8 " and len(header) >= 30 and header[23:26] == b"\x9d\x01\x2a":
        width = int.from_bytes(header[26:28], "little") & 0x3FFF
        return width, int.from_bytes(header[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(header) >= 25 and header[20] == 0x2F:
        bits = int.from_bytes(header[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None


def _open(data: bytes, name: str, max_pixels: int) -> tuple[ImageFile.ImageFile, str]:
    """Identify ``data`` among the supported formats and check its size; nothing decoded."""
    shown = _display(name)
    if not data:
        raise ImageError(f"empty file: {shown}")
    prefix = data[:16]
    fp = io.BytesIO(data)
    failures: list[tuple[str, BaseException]] = []
    for fmt, (factory, accept) in _plugins(prefix).items():
        accepted = accept(prefix) if accept is not None else True
        if not accepted or isinstance(accepted, str):
            continue
        if fmt == "WEBP":  # libwebp allocates the canvas while the header is parsed
            _check_size(_webp_canvas_size(data[:30]), shown, max_pixels)
        fp.seek(0)
        try:
            # filename "" keeps Pillow from re-opening (or mmap-ing) anything by name
            image = factory(fp, "")
        except _DECODE_ERRORS as exc:
            failures.append((fmt, exc))
            continue
        except _bomb_classes() as exc:
            raise _translate(exc, name, fmt) from exc
        _check_size(image.size, shown, max_pixels)
        return image, fmt
    if _is_heif(prefix) and not _heif_registered:
        raise ImageError(
            f"HEIF image needs the optional pillow-heif package: {shown}",
            hint="install the heif extra: pip install 'provenance[heif]'",
        )
    if failures:
        failed_fmt, failure = failures[0]
        raise _translate(failure, name, failed_fmt) from failure
    raise ImageError(f"not an image (or unsupported format): {shown}")


# --- decoding to canonical pixels ------------------------------------------------------


def _orient(image: Image.Image) -> Image.Image:
    """Apply the EXIF Orientation tag like ``ImageOps.exif_transpose`` (same tag lookup,
    XMP fallback and method table) without copying an unrotated image or re-serialising
    the EXIF block."""
    from PIL import Image

    orientation = image.getexif().get(_ORIENTATION_TAG, 1)
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation if type(orientation) is int else 1)
    return image if method is None else image.transpose(method)


def _wide_grey_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit greyscale to L (clip to 0..65535, high byte), or RGBA when a
    ``transparency`` value is set."""
    import numpy as np
    from PIL import Image

    values = np.asarray(image).astype(np.int64)
    grey = Image.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8))
    key = image.info.get("transparency")
    if type(key) is not int:
        return grey
    alpha = Image.fromarray(np.where(values == key, 0, 255).astype(np.uint8))
    return Image.merge("RGBA", (grey, grey, grey, alpha))


def _alpha_is_opaque(rgba: Image.Image) -> bool:
    extrema = cast("tuple[tuple[int, int], ...]", rgba.getextrema())
    return extrema[3][0] == 255


def _canonical_source(image: Image.Image, name: str) -> tuple[Image.Image, str]:
    """Return ``(source, mode)``: converting ``source`` to ``mode`` (whole, or strip by
    strip: every conversion used here is per pixel) gives the canonical pixels."""
    mode = image.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = _wide_grey_to_8bit(image)
    elif mode == "F":
        image = image.convert("L")
    elif mode == "La":  # premultiplied; Pillow has no La -> RGBA conversion
        image = image.convert("LA")
    mode = image.mode
    keyed = image.info.get("transparency") is not None and mode in ("1", "L", "RGB", "P")
    palette_alpha = mode == "P" and image.palette is not None and "A" in image.palette.mode
    if mode in ("RGBA", "LA", "PA", "RGBa") or keyed or palette_alpha:
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        return rgba, ("RGB" if _alpha_is_opaque(rgba) else "RGBA")
    if mode in ("RGB", "L", "1", "P", "CMYK", "YCbCr", "RGBX", "LAB", "HSV"):
        return image, "RGB"
    raise ImageError(f"unsupported pixel mode {mode}: {_display(name)}")


def _materialise(source: Image.Image, mode: str) -> Image.Image:
    return source if source.mode == mode else source.convert(mode)


def _hash_pixels(source: Image.Image, mode: str) -> str:
    """SHA-256 of the canonical header and pixel rows, fed in ~1 MiB strips.

    Strips (crop, convert if needed, tobytes) avoid a full-size bytes object; on a 12 MP
    RGB image they measured 32 ms against 81 ms for ``tobytes()`` of the whole image (and
    27 ms for Pillow's private raw-encoder loop, not worth depending on).
    """
    width, height = source.size
    hasher = hashlib.sha256(PIXELS_DOMAIN + f"{width} {height} {mode}\n".encode("ascii"))
    rows = max(1, _STRIP_BYTES // (4 * width))
    convert = source.mode != mode
    for top in range(0, height, rows):
        strip = source.crop((0, top, width, min(height, top + rows)))
        if convert:
            strip = strip.convert(mode)
        hasher.update(strip.tobytes())
    return hasher.hexdigest()


def _decode(data: bytes, name: str, max_pixels: int, *, draft: bool) -> tuple[Image.Image, str]:
    """Open, decode frame 0 (JPEG: DCT-scaled when ``draft``) and orient.

    Returns the decoded image and the format name.
    """
    image, fmt = _open(data, name, max_pixels)
    with _pillow_errors(name, fmt):
        if draft and fmt == "JPEG":
            image.draft("RGB", (PERCEPTUAL_MIN_SIDE, PERCEPTUAL_MIN_SIDE))
        image.load()
        return _orient(image), fmt


def _canonical(image: Image.Image, name: str, fmt: str) -> tuple[Image.Image, str]:
    with _pillow_errors(name, fmt):
        return _canonical_source(image, name)


def _pixel_stage(source: Image.Image, mode: str, name: str, fmt: str) -> PixelDigest:
    with _pillow_errors(name, fmt):
        digest = _hash_pixels(source, mode)
    return PixelDigest(digest, source.width, source.height, fmt)


@functools.lru_cache(maxsize=4)
def _dct_rows(size: int, rows: int) -> npt.NDArray[np.int64]:
    """The first ``rows`` rows of the DCT-II matrix of order ``size``, scaled by 2**20 and
    rounded to integers: ``C[k, n] = round(cos(pi * k * (2n + 1) / (2 * size)) * 2**20)``."""
    import numpy as np

    scale = 1 << 20
    return np.array(
        [
            [round(math.cos(math.pi * k * (2 * n + 1) / (2 * size)) * scale) for n in range(size)]
            for k in range(rows)
        ],
        dtype=np.int64,
    )


def phash(grey: Image.Image, hash_size: int) -> str:
    """imagehash's pHash of an L-mode image, computed with an exact integer DCT.

    Same steps as ``imagehash.phash`` (Lanczos resize to 4 * hash_size square, 2-D DCT-II,
    keep the hash_size x hash_size low frequencies, compare each with their median), but the
    DCT is an integer matrix product instead of ``scipy.fftpack.dct``: no scipy import
    (about 0.3 s of start-up per process), and no floating-point summation order, so the
    bits are the same on every machine. Cross-checked bit for bit against imagehash on the
    corpus (tests/test_imaging.py). Products stay below 2**62 for hash_size <= 16.
    """
    import imagehash
    import numpy as np
    from PIL import Image as PILImage

    size = hash_size * 4
    pixels = np.asarray(grey.resize((size, size), PILImage.Resampling.LANCZOS), dtype=np.int64)
    rows = _dct_rows(size, hash_size)
    low = rows @ pixels @ rows.T  # exact in int64: |entries| < 255 * 2**40 * size**2
    return str(imagehash.ImageHash(low > np.median(low)))


def _perceptual_stage(source: Image.Image, mode: str, name: str, fmt: str) -> PerceptualHashes:
    with _pillow_errors(name, fmt):
        image = _materialise(source, mode)
        factor = min(image.size) // PERCEPTUAL_MIN_SIDE
        if factor >= 2:
            image = image.reduce(factor)
        grey = image.convert("L")  # what imagehash.phash does first; done once for both
        return PerceptualHashes(phash(grey, 8), phash(grey, 16))


# --- public stages ---------------------------------------------------------------------


def file_sha256(data: bytes) -> str:
    """Return digest (1): hex SHA-256 of the file bytes."""
    return hashlib.sha256(data).hexdigest()


def pixel_digest(
    data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None
) -> PixelDigest:
    """Return digest (2), the canonical pixel hash, with width, height and format.

    Decodes the whole image (frame 0), applies EXIF orientation and normalises the mode
    (module docstring). Equal for the same pixels in PNG, lossless WebP, TIFF and a JPEG
    whose metadata was stripped.

    Raises:
        ImageError: unreadable, unsupported, corrupt or truncated image.
        DecompressionBombError: more pixels than ``max_pixels``.
    """
    limit = resolve_max_pixels(max_pixels)
    image, fmt = _decode(data, name, limit, draft=False)
    source, mode = _canonical(image, name, fmt)
    return _pixel_stage(source, mode, name, fmt)


def perceptual_hashes(
    data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None
) -> PerceptualHashes:
    """Return digest (3): pHash-64 and pHash-256 hex strings.

    JPEGs are decoded with ``draft()`` (a 12 MP baseline JPEG: ~30 ms instead of ~150 ms).

    Raises:
        ImageError: unreadable, unsupported, corrupt or truncated image.
        DecompressionBombError: more pixels than ``max_pixels``.
    """
    limit = resolve_max_pixels(max_pixels)
    image, fmt = _decode(data, name, limit, draft=True)
    source, mode = _canonical(image, name, fmt)
    return _perceptual_stage(source, mode, name, fmt)


def canonical_image(
    data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None
) -> Image.Image:
    """Return frame 0 decoded, oriented and in its canonical mode (RGB or RGBA): the
    exact pixels that :func:`pixel_digest` hashes. For edits that must start from them.

    Raises:
        ImageError: unreadable, unsupported, corrupt or truncated image.
        DecompressionBombError: more pixels than ``max_pixels``.
    """
    limit = resolve_max_pixels(max_pixels)
    image, fmt = _decode(data, name, limit, draft=False)
    source, mode = _canonical(image, name, fmt)
    with _pillow_errors(name, fmt):
        return _materialise(source, mode)


def _use_threads() -> bool:
    """Whether to run a JPEG's two decodes in two threads (Pillow and hashlib release the
    GIL while decoding and hashing).

    ``PROVENANCE_DIGEST_THREADS=1`` or ``0`` forces it on or off; otherwise (``auto``) only
    with more than one usable CPU and a 1-minute load average below ``cpus - 0.5`` (our own
    process counts about 1). Measured on 2 cores, 12 MP JPEG: with the second core free,
    threads cut a baseline JPEG from 123 to 96 ms; with one core's worth of other work
    running, they broke even on the baseline JPEG and were ~15 % slower on a progressive
    one (both decodes need the whole coefficient buffer), and with 1.3 cores busy they were
    slower on both. Bulk ingest with one worker per core therefore runs single-threaded.
    """
    setting = os.environ.get(THREADS_ENV, "auto").strip().lower()
    if setting in ("0", "1"):
        return setting == "1"
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except OSError:  # pragma: no cover - load average unavailable
        load = 0.0
    return cpus > 1 and load < cpus - 0.5


def digest_bytes(
    data: bytes, *, name: str = "<bytes>", max_pixels: int | None = None
) -> AssetDigests:
    """Return all digests of an image held in memory.

    Non-JPEG images are decoded once for both stages. A JPEG needs two decodes (full for
    the pixels, ``draft()`` for the perceptual hashes); when a CPU is free they run in two
    threads (see ``_use_threads``; ``PROVENANCE_DIGEST_THREADS`` overrides). The result is
    the same either way.

    Args:
        data: the file's bytes.
        name: shown in error messages.
        max_pixels: pixel limit; default ``resolve_max_pixels()``.

    Raises:
        ImageError: unreadable, unsupported, corrupt or truncated image.
        DecompressionBombError: more pixels than ``max_pixels``.
    """
    limit = resolve_max_pixels(max_pixels)
    sha256 = file_sha256(data)
    _, fmt = _open(data, name, limit)  # fail fast, before starting a thread
    if fmt == "JPEG":
        if _use_threads():
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="provenance-phash") as pool:
                future = pool.submit(perceptual_hashes, data, name=name, max_pixels=limit)
                pixels = pixel_digest(data, name=name, max_pixels=limit)
                phashes = future.result()
        else:
            pixels = pixel_digest(data, name=name, max_pixels=limit)
            phashes = perceptual_hashes(data, name=name, max_pixels=limit)
    else:
        image, fmt = _decode(data, name, limit, draft=False)
        source, mode = _canonical(image, name, fmt)
        pixels = _pixel_stage(source, mode, name, fmt)
        phashes = _perceptual_stage(source, mode, name, fmt)
    return AssetDigests(
        sha256=sha256,
        pixels=pixels.pixels,
        phash64=phashes.phash64,
        phash256=phashes.phash256,
        width=pixels.width,
        height=pixels.height,
        format=pixels.format,
    )


def read_image_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file, mapping OS errors to ImageError ("cannot read x.jpg: ...")."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        reason = exc.strerror or _reason(exc)
        raise ImageError(f"cannot read {_display(os.fspath(path))}: {reason}") from exc


def digest_file(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> AssetDigests:
    """Return all digests of the image file at ``path`` (read once into memory).

    Raises:
        ImageError: missing or unreadable file; unsupported, corrupt or truncated image.
        DecompressionBombError: more pixels than ``max_pixels``.
    """
    data = read_image_bytes(path)
    return digest_bytes(data, name=os.fspath(path), max_pixels=max_pixels)


# --- comparing perceptual hashes -------------------------------------------------------


def hamming(a_hex: str, b_hex: str) -> int:
    """Return the number of differing bits between two equal-length hex hashes.

    Raises:
        ValueError: lengths differ or a string is not hex.
    """
    if len(a_hex) != len(b_hex):
        raise ValueError(f"hash lengths differ: {len(a_hex)} and {len(b_hex)} hex characters")
    try:
        return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()
    except ValueError:
        raise ValueError("hashes must be hex strings") from None


def phash64_to_int(phash64: str) -> int:
    """Return a 16-hex-character pHash-64 as a signed 64-bit int (for SQL BIGINT).

    Raises:
        ValueError: not 16 hex characters.
    """
    value = int(_check_hex(phash64, 16, "phash64"), 16)
    return value - (1 << 64) if value >= 1 << 63 else value


def int_to_phash64(value: int) -> str:
    """Inverse of :func:`phash64_to_int`.

    Raises:
        ValueError: not a signed 64-bit int.
    """
    if type(value) is not int or not -(1 << 63) <= value < 1 << 63:
        raise ValueError("value must be a signed 64-bit int")
    return format(value & 0xFFFF_FFFF_FFFF_FFFF, "016x")


def perceptual_distances(a: AssetDigests, b: AssetDigests) -> tuple[int, int]:
    """Return (pHash-64 distance, pHash-256 distance) in bits."""
    return hamming(a.phash64, b.phash64), hamming(a.phash256, b.phash256)


def is_perceptual_match(a: AssetDigests, b: AssetDigests) -> bool:
    """True when both hashes are within the DESIGN 7 thresholds. A hint, never proof."""
    d64, d256 = perceptual_distances(a, b)
    return d64 <= PHASH64_MAX_DISTANCE and d256 <= PHASH256_MAX_DISTANCE
