"""Decoded samples in canonical form, converted strip by strip so memory stays bounded.

Two canonical forms are used:

* **8-bit RGB/RGBA** (:func:`eight_bit_source`), digest set 1's pixel form and the input of
  the perceptual hashes: RGB as is; RGBA/LA/PA/RGBa/La, P with a transparent palette entry
  and 1/L/RGB with a ``transparency`` colour key become RGBA, and an all-opaque result is
  RGB (PNG and lossless WebP disagree about keeping an opaque alpha channel); 1, L, P, CMYK,
  YCbCr, RGBX, LAB, HSV go through Pillow's ``convert("RGB")``; 16-bit greyscale (I;16,
  I;16B, I;16L, I;16N) and 32-bit I are clipped to 0..65535 and keep the high byte, a
  ``transparency`` value making exactly the pixels equal to it transparent; F goes through
  ``convert("L")``.
* **Stored samples** (:func:`stored_source`), digest set 2's content form: as above for
  8-bit modes without a colour management meaning (1, L, P, RGB, RGBA, LA, PA, RGBX), but
  colour spaces whose display depends on a profile (CMYK, YCbCr, LAB, HSV) and wide samples
  (16-bit, 32-bit integer, float) are hashed raw, big-endian, with their mode named, so no
  two different stored images share a digest.

Wide images are converted in strips of about 1 MiB (a 16-bit greyscale PNG at the pixel
limit used 3.4 GB when converted whole; strip by strip it needs its decoded size plus one
8-bit copy).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast

from provenance.errors import ImageError

if TYPE_CHECKING:
    from PIL import Image

STRIP_BYTES = 1 << 20
_WIDE = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_RAW_BE = {"I;16": ">u2", "I;16L": ">u2", "I;16B": ">u2", "I;16N": ">u2", "I": ">i4", "F": ">f4"}


def strips(
    image: Image.Image, bytes_per_pixel: int = 4, multiple: int = 1
) -> Iterator[tuple[int, Image.Image]]:
    """``(top, strip)`` pairs covering the image, each about :data:`STRIP_BYTES` large and a
    multiple of ``multiple`` rows high (except the last)."""
    width, height = image.size
    rows = max(1, STRIP_BYTES // (bytes_per_pixel * max(width, 1)))
    rows = max(multiple, rows - rows % multiple)
    for top in range(0, height, rows):
        yield top, image.crop((0, top, width, min(height, top + rows)))


def _wide_grey_to_8bit(image: Image.Image) -> Image.Image:
    """16/32-bit greyscale to L (clip, high byte) or, with a ``transparency`` value, RGBA;
    strip by strip."""
    import numpy as np
    from PIL import Image as PILImage

    key = image.info.get("transparency")
    keyed = type(key) is int
    grey = PILImage.new("L", image.size)
    alpha = PILImage.new("L", image.size) if keyed else None
    for top, strip in strips(image, 8):
        values = np.asarray(strip).astype(np.int64)
        grey.paste(PILImage.fromarray((np.clip(values, 0, 65535) >> 8).astype(np.uint8)), (0, top))
        if alpha is not None:
            mask = np.where(values == key, 0, 255).astype(np.uint8)
            alpha.paste(PILImage.fromarray(mask), (0, top))
    if alpha is None:
        return grey
    return PILImage.merge("RGBA", (grey, grey, grey, alpha))


def _alpha_is_opaque(rgba: Image.Image) -> bool:
    extrema = cast("tuple[tuple[int, int], ...]", rgba.getextrema())
    return extrema[3][0] == 255


def _has_alpha(image: Image.Image) -> bool:
    mode = image.mode
    keyed = image.info.get("transparency") is not None and mode in ("1", "L", "RGB", "P")
    palette_alpha = mode == "P" and image.palette is not None and "A" in image.palette.mode
    return mode in ("RGBA", "LA", "PA", "RGBa") or keyed or palette_alpha


def eight_bit_source(image: Image.Image, name: str) -> tuple[Image.Image, str]:
    """``(source, mode)``: converting ``source`` to ``mode`` (RGB or RGBA) gives the 8-bit
    canonical samples; every conversion here is per pixel, so it may be done by strips."""
    from provenance.imaging.opening import display_name

    mode = image.mode
    if mode in _WIDE:
        image = _wide_grey_to_8bit(image)
    elif mode == "F":
        image = image.convert("L")
    elif mode == "La":  # premultiplied; Pillow has no La -> RGBA conversion
        image = image.convert("LA")
    mode = image.mode
    if _has_alpha(image):
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        return rgba, ("RGB" if _alpha_is_opaque(rgba) else "RGBA")
    if mode in ("RGB", "L", "1", "P", "CMYK", "YCbCr", "RGBX", "LAB", "HSV"):
        return image, "RGB"
    raise ImageError(f"unsupported pixel mode {mode}: {display_name(name)}")


def materialise(source: Image.Image, mode: str) -> Image.Image:
    """The whole canonical image (a copy only when a conversion is needed)."""
    return source if source.mode == mode else source.convert(mode)


def stored_chunks(image: Image.Image, name: str) -> tuple[str, Iterator[bytes]]:
    """Digest set 2's stored samples: ``(mode label, byte chunks)`` (module docstring)."""
    import numpy as np

    mode = image.mode
    if mode in _RAW_BE:
        dtype = _RAW_BE[mode]
        key = image.info.get("transparency")
        label = f"{dtype[1:]}be" + (f" trns {key}" if type(key) is int else "")

        def wide() -> Iterator[bytes]:
            for _, strip in strips(image, 4):
                yield np.asarray(strip).astype(dtype).tobytes()

        return label, wide()
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        return mode, (strip.tobytes() for _, strip in strips(image, 4))
    source, target = eight_bit_source(image, name)

    def eight() -> Iterator[bytes]:
        for _, strip in strips(source, 4):
            yield (strip if strip.mode == target else strip.convert(target)).tobytes()

    return target, eight()
