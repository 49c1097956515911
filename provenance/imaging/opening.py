"""Safe opening of untrusted image bytes: format identification, size limits, error mapping.

Only the plugins of :func:`supported_formats` are tried (JPEG, PNG, WEBP, TIFF, GIF; AVIF
when Pillow has it; HEIF when the optional ``pillow_heif`` is installed). The image's
declared width x height is checked against ``max_pixels`` (argument, else the
``PROVENANCE_MAX_PIXELS`` environment variable, else ``DEFAULT_MAX_PIXELS``) right after the
header is parsed and before any pixel buffer is allocated. Pillow's process-wide
``Image.MAX_IMAGE_PIXELS`` and ``ImageFile.LOAD_TRUNCATED_IMAGES`` are never changed;
``Image.open`` is bypassed (its own size check would warn or fail on the global limit) by
calling the registered plugin classes directly (WebP's header is checked before its plugin
runs: libwebp allocates the canvas while parsing). Some plugins (GIF, TIFF, WebP) still apply
Pillow's global limit inside: beyond ``2 * Image.MAX_IMAGE_PIXELS`` they fail (raised here as
``DecompressionBombError`` whatever ``max_pixels`` says). Every Pillow failure is re-raised as
:class:`~provenance.errors.ImageError` or
:class:`~provenance.errors.DecompressionBombError` with the file's name.

Pillow is imported lazily, so importing this module costs nothing at start-up.
"""

from __future__ import annotations

import io
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from provenance.errors import DecompressionBombError, ImageError

if TYPE_CHECKING:
    from PIL import ImageFile

DEFAULT_MAX_PIXELS = 178_956_970
"""Pillow's hard limit (2 x its default MAX_IMAGE_PIXELS): room for 150 MP medium format."""

MAX_PIXELS_ENV = "PROVENANCE_MAX_PIXELS"

_HEIF_BRANDS = frozenset(
    {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1"}
)


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


def display_name(name: str) -> str:
    return name if name.isprintable() else ascii(name)


def reason(exc: BaseException) -> str:
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


def translate(exc: BaseException, name: str, fmt: str | None) -> ImageError:
    shown = display_name(name)
    if isinstance(exc, _bomb_classes()):
        return DecompressionBombError(f"image too large: {shown} ({reason(exc)})")
    if isinstance(exc, MemoryError):
        return ImageError(f"out of memory decoding image: {shown}")
    if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
        return ImageError(f"truncated image: {shown}")
    kind = f"{fmt} image" if fmt else "image"
    return ImageError(f"corrupt {kind}: {shown} ({reason(exc)})")


@contextmanager
def pillow_errors(name: str, fmt: str | None) -> Iterator[None]:
    """Re-raise any failure of the Pillow calls inside as ImageError/DecompressionBombError."""
    try:
        yield
    except _DECODE_ERRORS as exc:
        raise translate(exc, name, fmt) from exc
    except _bomb_classes() as exc:
        raise translate(exc, name, fmt) from exc


def check_size(size: tuple[int, int] | None, shown: str, max_pixels: int) -> None:
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


def open_image(data: bytes, name: str, max_pixels: int) -> tuple[ImageFile.ImageFile, str]:
    """Identify ``data`` among the supported formats and check its size; nothing decoded."""
    shown = display_name(name)
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
            check_size(_webp_canvas_size(data[:30]), shown, max_pixels)
        fp.seek(0)
        try:
            # filename "" keeps Pillow from re-opening (or mmap-ing) anything by name
            image = factory(fp, "")
        except _DECODE_ERRORS as exc:
            failures.append((fmt, exc))
            continue
        except _bomb_classes() as exc:
            raise translate(exc, name, fmt) from exc
        check_size(image.size, shown, max_pixels)
        return image, fmt
    if _is_heif(prefix) and not _heif_registered:
        raise ImageError(
            f"HEIF image needs the optional pillow-heif package: {shown}",
            hint="install the heif extra: pip install 'provenance[heif]'",
        )
    if failures:
        failed_fmt, failure = failures[0]
        raise translate(failure, name, failed_fmt) from failure
    raise ImageError(f"not an image (or unsupported format): {shown}")


def read_image_bytes(path: str | os.PathLike[str]) -> bytes:
    """Read a whole image file, mapping OS errors to ImageError naming the file.

    Raises:
        ImageError: missing file, a folder, unreadable.
    """
    shown = display_name(os.fspath(path))
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"no such file: {shown}", hint="check the path") from exc
    except IsADirectoryError as exc:
        raise ImageError(
            f"is a folder, not an image: {shown}",
            hint="name an image file, or pass a folder to sign",
        ) from exc
    except OSError as exc:
        raise ImageError(f"cannot read {shown}: {exc.strerror or reason(exc)}") from exc
