"""Everything that touches pixels: safe opening, the asset digests, the perceptual hashes.

The only package that imports Pillow (lazily: importing it costs nothing at start-up).
Its modules, each with one job:

* :mod:`.opening`: identify untrusted bytes among the supported formats, enforce the pixel
  limit before any buffer is allocated, map every Pillow failure to ``ImageError``;
* :mod:`.jpeg`: the JPEG segment walk, its content digest (no decode) and its bounds;
* :mod:`.containers` and :mod:`.metadata`: display tokens (orientation, colour, extra
  chunks) read straight from the bytes;
* :mod:`.samples`: decoded samples in canonical form, strip by strip;
* :mod:`.content`: the content digest of decoded formats (every frame);
* :mod:`.perceptual`: pHash-64, pHash-256 and PDQ;
* :mod:`.digests`: :class:`ImageProbe`, computing each digest lazily, and the record asset;
* :mod:`.legacy`: digest set 1's ``pixels``, for replays of old records.

What the digests promise is written in DESIGN section 3 and README "What verified promises".
"""

from provenance.imaging.digests import (
    ImageProbe,
    digest_bytes,
    digest_file,
    display_frame,
    file_sha256,
)
from provenance.imaging.jpeg import MAX_DECODE_WORK, MAX_SCANS
from provenance.imaging.legacy import pixel_digest_v1
from provenance.imaging.opening import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    read_image_bytes,
    resolve_max_pixels,
    supported_formats,
)
from provenance.imaging.perceptual import (
    PHASH64_MAX_DISTANCE,
    PHASH256_MAX_DISTANCE,
    PerceptualHashes,
    hamming,
    phash64_to_int,
    signed64,
)
from provenance.records import DIGEST_SET

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "DIGEST_SET",
    "MAX_DECODE_WORK",
    "MAX_PIXELS_ENV",
    "MAX_SCANS",
    "PHASH64_MAX_DISTANCE",
    "PHASH256_MAX_DISTANCE",
    "ImageProbe",
    "PerceptualHashes",
    "digest_bytes",
    "digest_file",
    "display_frame",
    "file_sha256",
    "hamming",
    "phash64_to_int",
    "pixel_digest_v1",
    "read_image_bytes",
    "resolve_max_pixels",
    "signed64",
    "supported_formats",
]
