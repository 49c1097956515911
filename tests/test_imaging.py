"""Tests for provenance.imaging: golden digests (digest set 2, and digest set 1's legacy
values), what the content digest keeps and what changes it (DESIGN section 3: "the digest of
what is displayed"), canonical samples, perceptual hashes, hostile inputs and the bounds."""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import (
    Image,
    ImageCms,
    ImageDraw,
    ImageFile,
    ImageFilter,
    ImageOps,
    PngImagePlugin,
    features,
)
from PIL import __version__ as pillow_version

from provenance import imaging
from provenance.errors import DecompressionBombError, ImageError
from provenance.imaging import jpeg as jpeg_walk
from provenance.imaging.containers import webp_tokens
from provenance.imaging.metadata import icc_token
from provenance.imaging.perceptual import PERCEPTUAL_MIN_SIDE, phash
from provenance.pdq import QUALITY_THRESHOLD
from provenance.records import Asset
from provenance.verify import PDQ_RECOMPUTE_TOLERANCE

TESTS = Path(__file__).resolve().parent
ASSETS = TESTS / "assets"
GOLDEN = TESTS / "golden" / "imaging_golden.json"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

sys.path.insert(0, str(TESTS / "golden"))
import make_imaging_golden  # noqa: E402
from make_imaging_golden import (  # noqa: E402
    encode,
    invert_curves,
    pattern,
    srgb_profile,
    swap_primaries,
)

needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"photo corpus not found at {CORPUS}"
)

XMP_TEMPLATE = (
    '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/"{attrs}>{body}</rdf:Description>'
    "</rdf:RDF></x:xmpmeta>"
)


def xmp(orientation: int | None = None, description: str = "") -> str:
    attrs = f' tiff:Orientation="{orientation}"' if orientation is not None else ""
    body = f"<dc:description>{description}</dc:description>" if description else ""
    return XMP_TEMPLATE.format(attrs=attrs, body=body)


# --- helpers ---------------------------------------------------------------------------


def scene(size: tuple[int, int] = (240, 160)) -> Image.Image:
    """A smooth, photo-like RGB image: pHash is stable on it (the fractal pattern is a
    worst case for pHash: its energy is all in high frequencies)."""
    width, height = size
    image = Image.merge(
        "RGB",
        (
            Image.radial_gradient("L").resize(size),
            Image.linear_gradient("L").resize(size),
            Image.linear_gradient("L").rotate(90).resize(size),
        ),
    )
    draw = ImageDraw.Draw(image)
    draw.ellipse((width * 0.1, height * 0.2, width * 0.45, height * 0.7), fill=(240, 200, 40))
    draw.rectangle((width * 0.6, height * 0.1, width * 0.9, height * 0.5), fill=(20, 60, 160))
    draw.polygon(
        [(width * 0.5, height * 0.9), (width * 0.7, height * 0.55), (width * 0.95, height * 0.95)],
        fill=(200, 30, 30),
    )
    return image.filter(ImageFilter.GaussianBlur(2))


def content(data: bytes) -> str:
    return imaging.ImageProbe(data).content()


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of every segment before the first scan."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    out, pos = [], 2
    while True:
        assert data[pos] == 0xFF, f"marker expected at {pos}"
        while data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA:
            return out
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out.append((marker, pos, pos + 2))
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        out.append((marker, pos, pos + 2 + length))
        pos += 2 + length


def is_metadata(marker: int, payload: bytes) -> bool:
    """APPn/COM segments that change nothing on screen (everything but the ICC profile and
    Adobe's colour transform)."""
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
        return False
    if marker == 0xEE and payload.startswith(b"Adobe"):
        return False
    return 0xE0 <= marker <= 0xEF or marker == 0xFE


def strip_jpeg_metadata(data: bytes, drop: Callable[[int, bytes], bool] = is_metadata) -> bytes:
    """Drop the segments before the first scan that ``drop`` names, byte for byte; tables,
    frame header and entropy-coded data are kept verbatim."""
    out = bytearray(data[:2])
    segments = jpeg_segments(data)
    for marker, start, end in segments:
        if not drop(marker, data[start + 4 : end]):
            out += data[start:end]
    out += data[segments[-1][2] if segments else 2 :]
    return bytes(out)


def jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def insert_after_soi(data: bytes, *segments: bytes) -> bytes:
    return data[:2] + b"".join(segments) + data[2:]


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_insert(data: bytes, *chunks: bytes) -> bytes:
    """Insert chunks right after IHDR (before any colour or image data chunk)."""
    assert data[12:16] == b"IHDR"
    return data[:33] + b"".join(chunks) + data[33:]


def png_bomb(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (8-bit RGB) with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def gif_with_size(width: int, height: int) -> bytes:
    """A small real GIF whose logical screen claims width x height."""
    data = bytearray(encode(pattern((16, 16)).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", width, height)
    return bytes(data)


def tiff_with_size(width: int, height: int) -> bytes:
    """A small real TIFF whose ImageWidth/ImageLength tags claim width x height."""
    data = bytearray(encode(pattern((16, 16)), "TIFF"))
    assert data[:4] == b"II*\x00"
    (ifd,) = struct.unpack_from("<I", data, 4)
    (count,) = struct.unpack_from("<H", data, ifd)
    for entry in range(ifd + 2, ifd + 2 + 12 * count, 12):
        tag = struct.unpack_from("<H", data, entry)[0]
        if tag in (256, 257):
            struct.pack_into("<HII", data, entry + 2, 4, 1, width if tag == 256 else height)
    return bytes(data)


def webp_with_size(width: int, height: int) -> bytes:
    """A small real lossless WebP whose VP8L header claims width x height."""
    data = bytearray(encode(pattern((16, 16)), "WEBP", lossless=True))
    assert data[12:16] == b"VP8L"
    (bits,) = struct.unpack_from("<I", data, 21)
    bits = (bits & ~((1 << 28) - 1)) | (width - 1) | ((height - 1) << 14)
    struct.pack_into("<I", data, 21, bits)
    return bytes(data)


def jpeg_with_size(width: int, height: int, **params: Any) -> bytes:
    """A small real JPEG whose SOF header is patched to claim width x height."""
    data = bytearray(encode(pattern((16, 16)), "JPEG", **params))
    sof = data.index(b"\xff\xc2" if params.get("progressive") else b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def repeat_last_scan(data: bytes, times: int) -> bytes:
    """A progressive JPEG with its last scan (SOS header and entropy-coded data) repeated."""
    info = jpeg_walk.walk(data, "seed", 10**9)
    start, stop = [(a, b) for a, b in info.data if data[a + 1] == 0xDA][-1]
    eoi = data.rindex(b"\xff\xd9")
    return data[:eoi] + data[start:stop] * times + data[eoi:]


def with_exif(**tags: Any) -> bytes:
    exif = Image.Exif()
    names = {"orientation": 0x0112, "make": 0x010F, "model": 0x0110, "software": 0x0131}
    for name, value in tags.items():
        exif[names[name]] = value
    return exif.tobytes()


def rendered_through(profile: bytes, image: Image.Image) -> Image.Image:
    """What a colour-managed viewer shows: the samples converted through ``profile`` to
    sRGB (relative colorimetric, as browsers do)."""
    source = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    transform = ImageCms.buildTransform(
        source, ImageCms.createProfile("sRGB"), "RGB", "RGB", ImageCms.Intent.RELATIVE_COLORIMETRIC
    )
    return ImageCms.applyTransform(image, transform)


def max_difference(a: Image.Image, b: Image.Image) -> int:
    return int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")


@cache
def corpus_bytes(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@cache
def corpus_phashes(name: str) -> imaging.PerceptualHashes:
    return imaging.ImageProbe(corpus_bytes(name), name=name).perceptual()


def corpus_images() -> list[str]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    lines = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line.strip()]


# --- golden digests --------------------------------------------------------------------

GOLDEN_DATA = json.loads(GOLDEN.read_text(encoding="utf-8"))
# The 18 images pinned when digest set 1 was current. Their set-1 values (pixels, pHash-64,
# pHash-256) are what records made before digest set 2 carry: regenerating the golden file
# must never move them (make_imaging_golden.py keeps them; this fingerprint is of the
# digest_set 1 golden file's values, unchanged since).
DIGEST_SET_1_KEYS = (
    "assets/imaging.avif",
    "assets/imaging_anim.gif",
    "assets/imaging_anim.webp",
    "assets/imaging_anim_apng.png",
    "assets/imaging_cmyk.jpg",
    "assets/imaging_deflate.tiff",
    "assets/imaging_gray16.png",
    "assets/imaging_gray16_trns.png",
    "assets/imaging_la.png",
    "assets/imaging_orient6.jpg",
    "assets/imaging_palette_trns.png",
    "corpus/lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg",
    "corpus/mahotas__nuclear.png",
    "corpus/mate-backgrounds__Wood.jpg",
    "corpus/opencv-doc__board.jpg",
    "corpus/opencv-doc__chicky_512.png",
    "corpus/opencv-doc__left01.jpg",
    "corpus/skimage__camera.png",
)
DIGEST_SET_1_FINGERPRINT = "64fb89138cfa49350afd66d198c577b1b7f290ce850216a7fc378374cc574eed"


def golden_path(key: str) -> Path:
    where, name = key.split("/", 1)
    path = (CORPUS if where == "corpus" else ASSETS) / name
    if where == "corpus" and not path.is_file():
        pytest.skip(f"corpus image {name} not found in {CORPUS}")
    if name.endswith(".avif") and not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    return path


def test_golden_digest_set_matches_module() -> None:
    assert GOLDEN_DATA["digest_set"] == imaging.DIGEST_SET == 2


def test_golden_digest_set_1_values_did_not_move() -> None:
    images = GOLDEN_DATA["images"]
    assert set(DIGEST_SET_1_KEYS) <= set(images)
    v1 = {key: images[key]["v1"] for key in DIGEST_SET_1_KEYS}
    fingerprint = hashlib.sha256(json.dumps(v1, sort_keys=True).encode()).hexdigest()
    assert fingerprint == DIGEST_SET_1_FINGERPRINT, (
        "the digest set 1 values in imaging_golden.json changed: records made before digest "
        "set 2 carry them"
    )


@pytest.mark.parametrize("key", sorted(GOLDEN_DATA["images"]))
def test_golden_digests(key: str) -> None:
    path = golden_path(key)
    expected = GOLDEN_DATA["images"][key]
    probe = imaging.ImageProbe.from_file(path)
    actual = probe.asset().to_json()
    context = (
        f"digest pipeline changed for {key}; golden made with {GOLDEN_DATA['generated_with']}, "
        f"running Pillow {pillow_version}, libjpeg-turbo {features.version('libjpeg_turbo')}"
    )
    # PDQ is computed in floating point: the verifier's recompute tolerance applies, and a
    # featureless image's bits (quality below 50) are rounding noise the verifier ignores
    pdq_distance = imaging.hamming(actual.pop("pdq"), expected["asset"]["pdq"])
    if expected["pdq_quality"] >= QUALITY_THRESHOLD:
        assert pdq_distance <= PDQ_RECOMPUTE_TOLERANCE, context
    assert actual == {k: v for k, v in expected["asset"].items() if k != "pdq"}, context
    assert probe.perceptual().pdq_quality == expected["pdq_quality"], context
    assert Asset.from_json(expected["asset"]).to_json() == expected["asset"]


@pytest.mark.parametrize("key", sorted(GOLDEN_DATA["images"]))
def test_golden_digest_set_1_legacy(key: str) -> None:
    """pixel_digest_v1 and set 1's perceptual pipeline reproduce set 1's values exactly."""
    data = golden_path(key).read_bytes()
    v1 = GOLDEN_DATA["images"][key]["v1"]
    assert imaging.pixel_digest_v1(data) == v1["pixels"]
    legacy = imaging.ImageProbe(data).perceptual_for(1)
    assert (legacy.phash64, legacy.phash256) == (v1["phash64"], v1["phash256"])


def test_golden_perceptual_hashes_did_not_change_with_the_digest_set() -> None:
    """The perceptual pipeline is the same in both sets: a still image (or an animation
    whose first frame is the one shown) has set 1's pHashes in its set-2 asset."""
    for key, entry in GOLDEN_DATA["images"].items():
        if key.endswith("imaging_apng_hidden_default.png"):
            assert entry["asset"]["phash64"] != entry["v1"]["phash64"]  # shows frame 1
            continue
        assert (entry["asset"]["phash64"], entry["asset"]["phash256"]) == (
            entry["v1"]["phash64"],
            entry["v1"]["phash256"],
        ), key


def test_golden_generator_refuses_to_move_digest_set_1_values() -> None:
    path = ASSETS / "imaging_la.png"
    kept = dict(GOLDEN_DATA["images"]["assets/imaging_la.png"]["v1"])
    assert make_imaging_golden.golden_entry(path, kept)["v1"] == kept
    with pytest.raises(SystemExit, match="digest set 1 values moved"):
        make_imaging_golden.golden_entry(path, {**kept, "pixels": "00" * 32})


def test_golden_assets_are_what_they_claim() -> None:
    with Image.open(ASSETS / "imaging_apng_hidden_default.png") as apng:
        assert (apng.n_frames, apng.default_image) == (3, True)
    swapped = ASSETS / "imaging_icc_swapped.jpg"
    profile = jpeg_walk.walk(swapped.read_bytes(), "x", 10**9).icc_profile()
    assert profile is not None and icc_token(profile).startswith("sha256:")
    assert webp_tokens((ASSETS / "imaging_orient3.webp").read_bytes()).orientation == "3"
    asset = imaging.digest_file(ASSETS / "imaging_orient6.jpg")
    assert (asset.width, asset.height) == (64, 96)


def test_golden_stages_agree_with_digest_file() -> None:
    data = (ASSETS / "imaging_orient6.jpg").read_bytes()
    expected = GOLDEN_DATA["images"]["assets/imaging_orient6.jpg"]
    probe = imaging.ImageProbe(data)
    assert probe.sha256 == imaging.file_sha256(data) == expected["asset"]["sha256"]
    assert probe.content() == expected["asset"]["content"]
    hashes = probe.perceptual()
    assert (hashes.phash64, hashes.phash256) == (
        expected["asset"]["phash64"],
        expected["asset"]["phash256"],
    )
    assert probe.size() == (64, 96, 1)
    assert probe.format == "JPEG"
    assert imaging.pixel_digest_v1(data) == expected["v1"]["pixels"]
    assert imaging.digest_bytes(data) == probe.asset()


def test_jpeg_content_digest_decodes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG's content digest is a segment walk: no decoder runs (DESIGN section 3)."""
    from provenance.imaging import digests

    def no_decoding(*args: object) -> None:
        raise AssertionError("decoder opened")

    data = encode(scene(), "JPEG", quality=90, exif=with_exif(orientation=6))
    expected = content(data)
    monkeypatch.setattr(digests, "open_image", no_decoding)
    probe = imaging.ImageProbe(data)
    assert probe.content() == expected
    assert probe.size() == (160, 240, 1)


def test_the_probe_computes_each_digest_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from provenance.imaging import digests

    calls: list[str] = []
    real = digests.decode_pass

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append("decode")
        return real(*args, **kwargs)

    monkeypatch.setattr(digests, "decode_pass", counting)
    probe = imaging.ImageProbe(encode(scene(), "PNG"))
    assert probe.asset() == probe.asset()
    probe.content()
    probe.perceptual()
    assert calls == ["decode"]


@needs_corpus
def test_jpeg_perceptual_path_uses_draft() -> None:
    """The pinned pipeline: draft to >= 512 px, then imagehash.phash (DESIGN 3.3)."""
    import imagehash

    with Image.open(io.BytesIO(corpus_bytes("mate-backgrounds__Wood.jpg"))) as image:
        image.draft("RGB", (512, 512))
        assert image.size == (1280, 960)
        expected = (str(imagehash.phash(image)), str(imagehash.phash(image, hash_size=16)))
    got = corpus_phashes("mate-backgrounds__Wood.jpg")
    assert (got.phash64, got.phash256) == expected


@pytest.mark.parametrize(
    ("size", "drafted"),
    [((4224, 3168), (1056, 792)), ((1023, 4000), (1023, 4000)), ((1024, 1030), (512, 515))],
)
def test_draft_keeps_short_side_at_least_512(
    size: tuple[int, int], drafted: tuple[int, int]
) -> None:
    with Image.open(io.BytesIO(jpeg_with_size(*size))) as image:
        image.draft("RGB", (PERCEPTUAL_MIN_SIDE, PERCEPTUAL_MIN_SIDE))
        assert image.size == drafted
        assert min(image.size) >= 512


# --- the content digest: its definition ----------------------------------------------------


def test_content_digest_of_decoded_formats_is_the_documented_hash() -> None:
    """provenance.imaging.content's docstring, for a plain still image."""
    image = pattern()
    raw = image.tobytes()
    header = b"provenance/content/v2\nimage\norientation 1\ncolour srgb\nframes 1\n"
    expected = hashlib.sha256(header + b"frame 0 96 64 RGB\n" + raw).hexdigest()
    assert content(encode(image, "PNG")) == expected
    reshaped = Image.frombytes("RGB", (64, 96), raw)  # same bytes, other shape
    assert content(encode(reshaped, "PNG")) != expected


def test_content_digest_of_jpeg_is_the_documented_hash() -> None:
    """provenance.imaging.jpeg's docstring: display tokens, then the image-data segments
    (everything after SOI but the application and comment segments), up to EOI."""
    data = encode(pattern(), "JPEG", quality=90, comment=b"hello")
    header = b"provenance/content/v2\njpeg\norientation 1\ncolour ycc\nicc srgb\ndata\n"
    image_data = strip_jpeg_metadata(data, lambda m, _: 0xE0 <= m <= 0xEF or m == 0xFE)[2:]
    assert content(data) == hashlib.sha256(header + image_data).hexdigest()
    # bytes after the end-of-image marker are not displayed and not hashed
    assert content(data + b"trailing bytes") == content(data)


def test_pixel_digest_v1_is_the_documented_hash() -> None:
    """Digest set 1's pixels: domain, size and mode line, raw rows of frame 0."""
    image = pattern()
    raw = image.tobytes()
    expected = hashlib.sha256(b"provenance/pixels/v1\n96 64 RGB\n" + raw).hexdigest()
    assert imaging.pixel_digest_v1(encode(image, "PNG")) == expected
    reshaped = Image.frombytes("RGB", (64, 96), raw)
    assert imaging.pixel_digest_v1(encode(reshaped, "PNG")) != expected


# --- the content digest: metadata that changes nothing on screen keeps it ------------------


def test_jpeg_metadata_strip_keeps_content() -> None:
    """EXIF camera fields, XMP descriptions, comments and the JFIF header change nothing a
    viewer shows: a stripped copy has the same content digest (and set 1's pixels)."""
    image = pattern((120, 80))
    tagged = encode(
        image,
        "JPEG",
        quality=88,
        exif=with_exif(make="provenance test camera", model="X1", software="editor 2"),
        comment=b"a comment",
        xmp=xmp(description="a description").encode(),
        dpi=(300, 300),
    )
    stripped = strip_jpeg_metadata(tagged)
    assert len(stripped) < len(tagged)
    for secret in (b"provenance test camera", b"a comment", b"a description", b"JFIF"):
        assert secret in tagged and secret not in stripped
    plain = encode(image, "JPEG", quality=88)
    assert content(tagged) == content(stripped) == content(plain)
    assert len({imaging.file_sha256(d) for d in (tagged, stripped, plain)}) == 3
    assert imaging.pixel_digest_v1(tagged) == imaging.pixel_digest_v1(stripped)
    assert decoded(tagged).tobytes() == decoded(stripped).tobytes()


def test_c2pa_like_and_iptc_segments_keep_content() -> None:
    """A C2PA manifest (APP11 JUMBF) or IPTC block (APP13) added to a JPEG, wherever it sits
    before the scan, is metadata."""
    data = encode(scene(), "JPEG", quality=90)
    jumbf = jpeg_segment(0xEB, b"JP\x00\x01\x00\x00\x00\x01" + b"\x00\x00\x01\x00jumbc2pa" * 40)
    iptc = jpeg_segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x05\x1c\x02x")
    variants = [
        insert_after_soi(data, jumbf),
        insert_after_soi(data, jumbf, jumbf, iptc),
        data[:-2] + b"" + data[-2:],
    ]
    dqt = data.index(b"\xff\xdb")
    variants.append(data[:dqt] + jumbf + data[dqt:])  # between the tables
    for variant in variants:
        assert content(variant) == content(data)
        assert imaging.digest_bytes(variant).format == "JPEG"


def test_png_text_and_c2pa_chunks_keep_content() -> None:
    image = pattern()
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hello")
    info.add_text("Description", "zipped " * 50, zip=True)
    info.add_itxt("Title", "Zürich", lang="de", tkey="Titel")
    info.add_itxt("XML:com.adobe.xmp", xmp(description="a description"))
    tagged = encode(image, "PNG", pnginfo=info, dpi=(300, 300))
    tagged = png_insert(
        tagged,
        png_chunk(b"tIME", struct.pack(">HBBBBB", 2026, 11, 26, 12, 0, 0)),
        png_chunk(b"caBX", b"\x00" * 64),  # a C2PA manifest store
        png_chunk(b"eXIf", with_exif(make="camera")[6:]),
    )
    assert content(tagged) == content(encode(image, "PNG"))


def test_an_unknown_png_chunk_changes_content() -> None:
    """A chunk we do not understand may change what some viewer shows: conservative."""
    plain = encode(pattern(), "PNG")
    assert content(png_insert(plain, png_chunk(b"prVt", b"private"))) != content(plain)


def test_webp_metadata_keeps_content() -> None:
    image = pattern()
    plain = encode(image, "WEBP", lossless=True)
    tagged = encode(
        image,
        "WEBP",
        lossless=True,
        exif=with_exif(make="camera", model="X1"),
        xmp=xmp(description="a description").encode(),
    )
    assert tagged != plain
    assert content(tagged) == content(plain)


def test_same_samples_in_png_webp_and_tiff_share_content() -> None:
    """The same samples in lossless containers (no metadata) have one content digest; a
    JPEG, even of the same decoded samples, is another file (DESIGN section 3: the price of
    a sign path without a decode; such a copy is at best similar)."""
    jpeg = encode(pattern((120, 80)), "JPEG", quality=88)
    samples = decoded(jpeg)
    copies = {
        "png": encode(samples, "PNG"),
        "webp lossless": encode(samples, "WEBP", lossless=True),
        "tiff": encode(samples, "TIFF"),
        "tiff lzw": encode(samples, "TIFF", compression="tiff_lzw"),
        "tiff deflate": encode(samples, "TIFF", compression="tiff_deflate"),
    }
    digests = {label: imaging.digest_bytes(data) for label, data in copies.items()}
    assert len({d.content for d in digests.values()}) == 1, digests
    assert len({d.sha256 for d in digests.values()}) == len(copies)
    assert {d.format for d in digests.values()} == {"PNG", "WEBP", "TIFF"}
    assert content(jpeg) != digests["png"].content
    # set 1's pixels agreed across all of them, the JPEG included
    assert len({imaging.pixel_digest_v1(d) for d in [jpeg, *copies.values()]}) == 1
    # and perceptually they are the same picture
    hashes = imaging.ImageProbe(jpeg).perceptual()
    assert hashes.phash64 == digests["png"].phash64


def test_opaque_rgba_hashes_as_rgb() -> None:
    rgb = pattern()
    assert content(encode(rgb.convert("RGBA"), "PNG")) == content(encode(rgb, "PNG"))
    translucent = rgb.convert("RGBA")
    translucent.putpixel((0, 0), (1, 2, 3, 254))
    png = encode(translucent, "PNG")
    assert imaging.display_frame(png)[0].mode == "RGBA"
    assert content(png) == content(encode(translucent, "WEBP", lossless=True))
    assert content(png) != content(encode(rgb, "PNG"))
    assert imaging.pixel_digest_v1(png) == imaging.pixel_digest_v1(
        encode(translucent, "WEBP", lossless=True)
    )


@needs_corpus
@pytest.mark.parametrize(
    "name", ["opencv-doc__board.jpg", "sklearn__flower.jpg", "sklearn__china.jpg"]
)
def test_corpus_jpeg_metadata_strip_keeps_content(name: str) -> None:
    """Every APPn and COM segment removed, the sRGB IEC61966-2.1 profile included (it
    renders like sRGB, so it counts as no profile)."""
    data = corpus_bytes(name)
    everything = strip_jpeg_metadata(data, lambda m, _: 0xE0 <= m <= 0xEF or m == 0xFE)
    assert len(everything) < len(data)
    assert b"ICC_PROFILE" in data and b"ICC_PROFILE" not in everything
    assert content(everything) == content(data)
    assert imaging.pixel_digest_v1(everything) == imaging.pixel_digest_v1(data)


@needs_corpus
def test_a_standard_srgb_profile_counts_as_no_profile() -> None:
    """Measured, not assumed: the HP/Microsoft sRGB profile of sklearn__china.jpg and
    LittleCMS's built-in sRGB render like an untagged image, in every container."""
    data = corpus_bytes("sklearn__china.jpg")
    profile = jpeg_walk.walk(data, "china", 10**9).icc_profile()
    assert profile is not None
    assert ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(profile))).startswith(
        "sRGB IEC61966-2.1"
    )
    assert icc_token(profile) == icc_token(srgb_profile()) == icc_token(None) == "srgb"
    only_icc = strip_jpeg_metadata(data, lambda m, p: m == 0xE2)
    assert content(only_icc) == content(data)
    image = pattern()
    for fmt, params in (("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {})):
        untagged = encode(image, fmt, **params)
        for srgb in (profile, srgb_profile()):
            assert content(encode(image, fmt, icc_profile=srgb, **params)) == content(untagged)
    # and it really renders like sRGB
    assert max_difference(rendered_through(profile, image), image) <= 2


@needs_corpus
def test_a_real_non_srgb_profile_is_not_none() -> None:
    """skimage__rocket.jpg carries Adobe RGB (1998): removing it changes the display."""
    data = corpus_bytes("skimage__rocket.jpg")
    profile = jpeg_walk.walk(data, "rocket", 10**9).icc_profile()
    assert profile is not None and icc_token(profile).startswith("sha256:")
    assert content(strip_jpeg_metadata(data, lambda m, p: m == 0xE2)) != content(data)
    image = pattern()
    assert max_difference(rendered_through(profile, image), image) > 20


# --- the content digest: everything a viewer shows changes it ------------------------------


def test_one_pixel_changes_content() -> None:
    image = scene()
    before = imaging.digest_bytes(encode(image, "PNG"))
    r, g, b = image.getpixel((40, 30))  # type: ignore[misc]
    image.putpixel((40, 30), (r ^ 1, g, b))
    after = imaging.digest_bytes(encode(image, "PNG"))
    assert before.content != after.content
    assert imaging.hamming(before.phash64, after.phash64) <= 2
    # a JPEG quantises a one-level change away; one pixel inverted survives it
    r, g, b = image.getpixel((40, 30))  # type: ignore[misc]
    image.putpixel((40, 30), (255 - r, 255 - g, 255 - b))
    jpeg_before = encode(scene(), "JPEG", quality=95)
    jpeg_after = encode(image, "JPEG", quality=95)
    assert jpeg_before != jpeg_after
    assert content(jpeg_before) != content(jpeg_after)


def _frames(kind: str, second: Image.Image, **params: Any) -> bytes:
    first = pattern()
    if kind == "GIF":

        def to_p(im: Image.Image) -> Image.Image:
            return im.convert("P", palette=Image.Palette.ADAPTIVE)

        return encode(to_p(first), "GIF", save_all=True, append_images=[to_p(second)], **params)
    if kind == "WEBP":
        params.setdefault("lossless", True)
    return encode(first, kind, save_all=True, append_images=[second], **params)


@pytest.mark.parametrize("kind", ["GIF", "WEBP", "PNG"])
def test_every_frame_of_an_animation_counts(kind: str) -> None:
    """Digest set 1 hashed frame 0 only: a later frame could be anything. Now every frame
    and its timing is part of the content digest."""
    second = ImageOps.mirror(pattern())
    altered = second.copy()
    altered.paste((0, 0, 0), (10, 10, 30, 30))
    base = _frames(kind, second, duration=100, loop=0)
    other_frame = _frames(kind, altered, duration=100, loop=0)
    other_timing = _frames(kind, second, duration=[100, 250], loop=0)
    still = encode(pattern(), kind, **({"lossless": True} if kind == "WEBP" else {}))
    with Image.open(io.BytesIO(base)) as opened:
        assert opened.n_frames == 2
    digests = {content(d) for d in (base, other_frame, other_timing, still)}
    assert len(digests) == 4
    assert imaging.ImageProbe(base).size() == (96, 64, 2)
    # the legacy digest was blind to it
    assert imaging.pixel_digest_v1(base) == imaging.pixel_digest_v1(other_frame)


def test_apng_hidden_default_image() -> None:
    """An APNG's default image (frame 0) is not part of the animation when the first fcTL
    follows IDAT: browsers never show it. It still counts, and the perceptual hashes are
    those of the frame a viewer shows first."""
    shown = ImageOps.mirror(pattern())
    hidden = encode(pattern(), "PNG", save_all=True, append_images=[shown], default_image=True)
    fake = encode(scene((96, 64)), "PNG", save_all=True, append_images=[shown], default_image=True)
    part = encode(pattern(), "PNG", save_all=True, append_images=[shown])
    assert len({content(hidden), content(fake), content(part)}) == 3
    probe = imaging.ImageProbe(hidden)
    assert probe.size() == (96, 64, 2)
    displayed = imaging.ImageProbe(encode(shown, "PNG")).perceptual()
    frame0 = imaging.ImageProbe(encode(pattern(), "PNG")).perceptual()
    assert probe.perceptual() == displayed
    assert probe.perceptual_for(2) == displayed
    assert probe.perceptual_for(1) == frame0  # digest set 1 hashed frame 0
    assert imaging.pixel_digest_v1(hidden) == imaging.pixel_digest_v1(encode(pattern(), "PNG"))


ICC_VARIANTS = {"swapped primaries": swap_primaries, "inverted curves": invert_curves}


@pytest.mark.parametrize("variant", sorted(ICC_VARIANTS))
def test_forged_profiles_render_differently(variant: str) -> None:
    """The forged profiles of these tests do change what a colour-managed viewer shows."""
    profile = ICC_VARIANTS[variant](srgb_profile())
    assert icc_token(profile).startswith("sha256:")
    image = scene()
    assert max_difference(rendered_through(profile, image), image) > 100


@pytest.mark.parametrize("variant", sorted(ICC_VARIANTS))
@pytest.mark.parametrize(
    ("fmt", "params"),
    [("JPEG", {"quality": 90}), ("PNG", {}), ("WEBP", {"lossless": True}), ("TIFF", {})],
)
def test_a_non_srgb_profile_changes_content(variant: str, fmt: str, params: dict[str, Any]) -> None:
    image = scene()
    profile = ICC_VARIANTS[variant](srgb_profile())
    plain = encode(image, fmt, **params)
    tagged = encode(image, fmt, icc_profile=profile, **params)
    both = invert_curves(swap_primaries(srgb_profile()))
    other = encode(image, fmt, icc_profile=both, **params)
    assert decoded(plain).tobytes() == decoded(tagged).tobytes()  # same stored samples
    assert len({content(plain), content(tagged), content(other)}) == 3
    # the perceptual hashes cannot see it: at best similar
    assert imaging.ImageProbe(tagged).perceptual() == imaging.ImageProbe(plain).perceptual()


def test_a_profile_split_over_jpeg_segments_is_reassembled() -> None:
    """A profile written in two APP2 chunks is the same profile (same content); chunks
    that do not add up are malformed, not ignored."""
    profile = swap_primaries(srgb_profile())
    data = encode(scene(), "JPEG", quality=90, icc_profile=profile)
    plain = encode(scene(), "JPEG", quality=90)
    half = len(profile) // 2
    parts = [profile[:half], profile[half:]]
    split = insert_after_soi(
        plain,
        *(
            jpeg_segment(0xE2, b"ICC_PROFILE\x00" + bytes((i + 1, 2)) + p)
            for i, p in enumerate(parts)
        ),
    )
    assert content(split) == content(data)
    broken = insert_after_soi(plain, jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x02" + parts[0]))
    assert content(broken) not in (content(data), content(plain))


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param([png_chunk(b"gAMA", struct.pack(">I", 100_000))], id="gAMA 1.0"),
        pytest.param(
            [png_chunk(b"gAMA", struct.pack(">I", 45_455)), png_chunk(b"cHRM", bytes(32))],
            id="gAMA 1/2.2 with cHRM",
        ),
        pytest.param(
            [
                png_chunk(
                    b"cHRM",
                    struct.pack(">8I", 31270, 32900, 15000, 6000, 30000, 60000, 64000, 33000),
                )
            ],
            id="cHRM swapped",
        ),
        pytest.param([png_chunk(b"cICP", bytes((9, 16, 0, 1)))], id="cICP BT.2100 PQ"),
    ],
)
def test_png_colour_chunks_change_content(chunks: list[bytes]) -> None:
    plain = encode(scene(), "PNG")
    assert content(png_insert(plain, *chunks)) != content(plain)


def test_png_srgb_chunks_are_srgb() -> None:
    """An sRGB chunk, cICP naming sRGB, or gAMA 1/2.2 alone (measured in Chromium: shown as
    sRGB) is what an untagged PNG means."""
    plain = encode(scene(), "PNG")
    srgb = png_chunk(b"sRGB", b"\x00")
    cicp = png_chunk(b"cICP", bytes((1, 13, 0, 1)))
    gamma = png_chunk(b"gAMA", struct.pack(">I", 100_000))
    assert content(png_insert(plain, srgb)) == content(plain)
    assert content(png_insert(plain, cicp)) == content(plain)
    assert content(png_insert(plain, png_chunk(b"gAMA", struct.pack(">I", 45_455)))) == (
        content(plain)
    )
    # an sRGB chunk takes precedence over gAMA (PNG specification): still sRGB
    assert content(png_insert(plain, srgb, gamma)) == content(plain)


ORIENTED_CONTAINERS = [
    ("JPEG exif", "JPEG", {"quality": 90}, "exif"),
    ("JPEG xmp", "JPEG", {"quality": 90}, "xmp"),
    ("PNG eXIf", "PNG", {}, "exif"),
    ("PNG xmp", "PNG", {}, "png-xmp"),
    ("WEBP exif", "WEBP", {"lossless": True}, "exif"),
    ("WEBP xmp", "WEBP", {"lossless": True}, "xmp"),
    ("TIFF tag", "TIFF", {}, "tiff"),
    ("TIFF deflate tag", "TIFF", {"compression": "tiff_deflate"}, "tiff"),
]


def oriented(fmt: str, params: dict[str, Any], how: str, orientation: int) -> bytes:
    image = pattern()
    if how == "exif":
        return encode(image, fmt, exif=with_exif(orientation=orientation), **params)
    if how == "xmp":
        return encode(image, fmt, xmp=xmp(orientation).encode(), **params)
    if how == "png-xmp":
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp(orientation))
        return encode(image, fmt, pnginfo=info, **params)
    return encode(image, fmt, tiffinfo={274: orientation}, **params)


@pytest.mark.parametrize(("label", "fmt", "params", "how"), ORIENTED_CONTAINERS)
def test_orientation_changes_content_in_every_container(
    label: str, fmt: str, params: dict[str, Any], how: str
) -> None:
    """The orientation as stored is hashed (not applied): each of the eight values gives
    its own content digest, 1 is the same as none, and the displayed size swaps for 5-8."""
    plain = encode(pattern(), fmt, **params)
    digests = {}
    for orientation in range(1, 9):
        data = oriented(fmt, params, how, orientation)
        probe = imaging.ImageProbe(data)
        digests[orientation] = probe.content()
        assert probe.size() == ((64, 96, 1) if orientation >= 5 else (96, 64, 1)), orientation
    assert digests[1] == content(plain)
    assert len(set(digests.values())) == 8


@pytest.mark.parametrize(("label", "fmt", "params", "how"), ORIENTED_CONTAINERS)
def test_orientation_is_applied_where_set_1_and_edits_apply_it(
    label: str, fmt: str, params: dict[str, Any], how: str
) -> None:
    """display_frame (what edits start from) and set 1's pixels apply EXIF orientation, and
    XMP tiff:Orientation as ImageOps.exif_transpose does."""
    data = oriented(fmt, params, how, 6)
    with Image.open(io.BytesIO(data)) as opened:
        expected = ImageOps.exif_transpose(opened).convert("RGB")
    assert expected.size == (64, 96)
    frame, _ = imaging.display_frame(data)
    assert frame.size == (64, 96)
    assert frame.tobytes() == expected.tobytes()
    assert imaging.pixel_digest_v1(data) == imaging.pixel_digest_v1(encode(expected, "PNG"))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_display_frame_matches_imageops_exif_transpose(orientation: int) -> None:
    data = encode(pattern((48, 32)), "PNG", exif=with_exif(orientation=orientation))
    with Image.open(io.BytesIO(data)) as opened:
        expected = ImageOps.exif_transpose(opened).convert("RGB")
    frame, profile = imaging.display_frame(data)
    assert profile is None
    assert frame.size == expected.size
    assert frame.tobytes() == expected.tobytes()


def test_orientation_is_hashed_not_applied() -> None:
    """A JPEG tagged 'rotate 90' and a JPEG of the rotated pixels look the same in a viewer
    that honours the tag, not in one that does not: two content digests, one picture to the
    perceptual hashes (which apply the tag)."""
    tagged = encode(scene(), "JPEG", quality=90, exif=with_exif(orientation=6))
    rotated = encode(scene().transpose(Image.Transpose.ROTATE_270), "JPEG", quality=90)
    a, b = imaging.digest_bytes(tagged), imaging.digest_bytes(rotated)
    assert (a.width, a.height) == (b.width, b.height) == (160, 240)
    assert a.content != b.content
    assert imaging.hamming(a.phash64, b.phash64) <= 2
    assert imaging.hamming(a.phash256, b.phash256) <= 8


def test_conflicting_exif_orientations_are_their_own_token() -> None:
    """Two EXIF blocks that disagree: viewers differ in which they take."""
    data = encode(pattern(), "JPEG", quality=90, exif=with_exif(orientation=1))
    second = jpeg_segment(0xE1, b"Exif\x00\x00" + with_exif(orientation=3)[6:])
    both = data[:2] + second + data[2:]
    three = oriented("JPEG", {"quality": 90}, "exif", 3)
    assert len({content(data), content(both), content(three)}) == 3


def _without_jfif(data: bytes) -> bytes:
    return strip_jpeg_metadata(data, lambda m, p: m == 0xE0 and p.startswith(b"JFIF\x00"))


def _adobe(transform: int) -> bytes:
    return jpeg_segment(0xEE, b"Adobe" + struct.pack(">HHHB", 100, 0, 0, transform))


def test_jpeg_adobe_transform_changes_the_colours_and_content() -> None:
    """libjpeg reads a three-component JPEG without JFIF and with Adobe transform 0 as RGB,
    not YCbCr: same bytes of image data, other colours on screen."""
    data = _without_jfif(encode(scene(), "JPEG", quality=90))
    as_rgb = insert_after_soi(data, _adobe(0))
    as_ycc = insert_after_soi(data, _adobe(1))
    assert max_difference(decoded(as_rgb), decoded(data)) > 100
    assert content(as_rgb) != content(data)
    assert decoded(as_ycc).tobytes() == decoded(data).tobytes()
    assert content(as_ycc) == content(data)


def test_jpeg_component_ids_and_jfif_decide_the_colours() -> None:
    """Component ids R, G, B mean RGB unless a JFIF header says YCbCr: stripping the JFIF
    header of such a file changes what is shown, and the content digest."""
    data = bytearray(encode(scene(), "JPEG", quality=90))
    sof = data.index(b"\xff\xc0")
    for i in range(3):
        data[sof + 10 + 3 * i] = b"RGB"[i]
    sos = data.index(b"\xff\xda")
    for i in range(data[sos + 4]):
        data[sos + 5 + 2 * i] = b"RGB"[i]
    with_jfif = bytes(data)
    without = _without_jfif(with_jfif)
    assert max_difference(decoded(with_jfif), decoded(without)) > 100
    assert content(with_jfif) != content(without)


def test_cmyk_jpeg_adobe_transform_changes_content() -> None:
    data = (ASSETS / "imaging_cmyk.jpg").read_bytes()
    start = data.index(b"\xff\xeeAdobe"[:2] + b"\x00\x0eAdobe")
    ycck = bytearray(data)
    ycck[start + 15] = 2
    assert max_difference(decoded(bytes(ycck)), decoded(data)) > 100
    assert content(bytes(ycck)) != content(data)
    # libjpeg (and Chromium) read four components as Adobe's inverted CMYK with or without
    # the Adobe segment: removing it changes nothing on screen
    no_adobe = data[:start] + data[start + 16 :]
    assert decoded(no_adobe).tobytes() == decoded(data).tobytes()
    assert content(no_adobe) == content(data)


def test_cmyk_jpeg_uses_pillow_rgb_conversion() -> None:
    """Set 1 (and the perceptual hashes, display_frame) convert CMYK like Pillow."""
    data = (ASSETS / "imaging_cmyk.jpg").read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == "CMYK"
        reference = encode(opened.convert("RGB"), "PNG")
    assert imaging.pixel_digest_v1(data) == imaging.pixel_digest_v1(reference)
    assert imaging.display_frame(data)[0].tobytes() == decoded(reference).tobytes()
    assert imaging.digest_bytes(data).format == "JPEG"


# --- canonical samples -------------------------------------------------------------------


def test_16_bit_png_samples_are_hashed_whole() -> None:
    """Set 1 kept the high byte of 16-bit samples; the content digest hashes all 16 bits."""
    data = (ASSETS / "imaging_gray16.png").read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == "I;16"
        values = np.asarray(opened).astype(np.uint16)
    high = Image.fromarray((values >> 8).astype(np.uint8), "L")
    assert imaging.pixel_digest_v1(data) == imaging.pixel_digest_v1(encode(high, "PNG"))
    assert imaging.display_frame(data)[0].getextrema() == (high.getextrema(),) * 3
    low_changed = Image.fromarray(values ^ 1)
    assert low_changed.mode == "I;16"
    other = encode(low_changed, "PNG")
    assert content(other) != content(data)
    assert imaging.pixel_digest_v1(other) == imaging.pixel_digest_v1(data)


def test_16_bit_png_with_transparency_value() -> None:
    data = (ASSETS / "imaging_gray16_trns.png").read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        key = opened.info["transparency"]
        values = np.asarray(opened)
    frame, _ = imaging.display_frame(data)
    assert frame.mode == "RGBA"
    for x, y in [(0, 0), (5, 24), (63, 47)]:
        alpha = frame.getpixel((x, y))[3]  # type: ignore[index]
        assert alpha == (0 if values[y, x] == key else 255)
    untagged = (ASSETS / "imaging_gray16.png").read_bytes()
    assert content(data) != content(untagged)


def test_16_bit_greyscale_in_png_and_tiff_of_either_byte_order() -> None:
    eight = Image.linear_gradient("L").resize((40, 30))
    little = eight.convert("I").point(lambda v: v * 257).convert("I;16")
    big = Image.frombytes("I;16B", little.size, little.tobytes("raw", "I;16B"))
    assert big.getpixel((3, 20)) == little.getpixel((3, 20))
    big_tiff = encode(big, "TIFF")
    with Image.open(io.BytesIO(big_tiff)) as opened:
        assert opened.mode == "I;16B"
    copies = [big_tiff, encode(little, "TIFF"), encode(little, "PNG")]
    assert len({content(d) for d in copies}) == 1
    assert content(encode(eight, "PNG")) != content(copies[0])
    v1 = {imaging.pixel_digest_v1(d) for d in [*copies, encode(eight, "PNG")]}
    assert len(v1) == 1


def test_palette_png_with_transparency_matches_rgba() -> None:
    data = (ASSETS / "imaging_palette_trns.png").read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == "P" and "transparency" in opened.info
        rgba = opened.convert("RGBA")
    assert rgba.getchannel("A").getextrema() == (0, 255)
    assert content(data) == content(encode(rgba, "PNG"))
    assert imaging.pixel_digest_v1(data) == imaging.pixel_digest_v1(encode(rgba, "PNG"))


def test_palette_with_unused_transparent_entry_is_rgb() -> None:
    palette = pattern().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    data = encode(palette, "PNG", transparency=255)  # entry 255 is never used
    assert imaging.display_frame(data)[0].mode == "RGB"
    assert content(data) == content(encode(palette.convert("RGB"), "PNG"))


def test_la_png_matches_rgba() -> None:
    data = (ASSETS / "imaging_la.png").read_bytes()
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.mode == "LA"
        grey, alpha = opened.split()
    rgba = encode(Image.merge("RGBA", (grey, grey, grey, alpha)), "PNG")
    assert content(data) == content(rgba)
    assert imaging.pixel_digest_v1(data) == imaging.pixel_digest_v1(rgba)


def test_rgb_colour_key_transparency() -> None:
    image = pattern()
    key = image.getpixel((10, 10))
    data = encode(image, "PNG", transparency=key)
    frame, _ = imaging.display_frame(data)
    assert frame.mode == "RGBA"
    assert frame.getpixel((10, 10))[3] == 0  # type: ignore[index]
    assert content(data) != content(encode(image, "PNG"))


def test_avif_roundtrip_if_supported() -> None:
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    data = encode(scene(), "AVIF", quality=80, exif=with_exif(orientation=6))
    asset = imaging.digest_bytes(data)
    assert asset.format == "AVIF"
    assert (asset.width, asset.height) == (160, 240)
    reference = imaging.digest_bytes(encode(scene().transpose(Image.Transpose.ROTATE_270), "PNG"))
    assert imaging.hamming(asset.phash64, reference.phash64) <= imaging.PHASH64_MAX_DISTANCE
    assert imaging.hamming(asset.phash256, reference.phash256) <= imaging.PHASH256_MAX_DISTANCE
    assert asset.content != imaging.digest_bytes(encode(scene(), "AVIF", quality=80)).content


def test_heif_if_pillow_heif_installed() -> None:
    pillow_heif = pytest.importorskip("pillow_heif", reason="optional extra 'heif' missing")
    pillow_heif.register_heif_opener()
    data = encode(scene(), "HEIF", quality=80)
    asset = imaging.digest_bytes(data)
    assert asset.format == "HEIF"
    assert (asset.width, asset.height) == (240, 160)
    reference = imaging.digest_bytes(encode(scene(), "PNG"))
    assert imaging.hamming(asset.phash64, reference.phash64) <= imaging.PHASH64_MAX_DISTANCE
    assert "HEIF" in imaging.supported_formats()


def test_supported_formats() -> None:
    formats = imaging.supported_formats()
    assert formats[:5] == ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
    assert ("AVIF" in formats) == features.check("avif")


# --- the asset -----------------------------------------------------------------------------


def test_asset_json_roundtrip() -> None:
    asset = imaging.digest_bytes(encode(pattern(), "PNG"))
    as_json = asset.to_json()
    assert set(as_json) == {
        "digests",
        "sha256",
        "content",
        "phash64",
        "phash256",
        "pdq",
        "frames",
        "width",
        "height",
        "format",
    }
    assert as_json["digests"] == imaging.DIGEST_SET
    assert asset.binding == asset.content and asset.pixels is None
    assert Asset.from_json(json.loads(json.dumps(as_json))) == asset


def test_mpo_is_read_as_its_first_jpeg() -> None:
    first, second = pattern(), ImageOps.mirror(pattern())
    data = encode(first, "MPO", save_all=True, append_images=[second])
    with Image.open(io.BytesIO(data)) as opened:
        assert opened.format == "MPO"
    asset = imaging.digest_bytes(data)
    assert (asset.format, asset.frames) == ("JPEG", 1)
    assert asset.content == content(encode(first, "JPEG"))
    assert imaging.pixel_digest_v1(data) == imaging.pixel_digest_v1(encode(first, "JPEG"))


# --- bounds --------------------------------------------------------------------------------


def test_jpeg_with_too_many_scans_is_refused_quickly() -> None:
    """Issue 8: a progressive JPEG of thousands of repeated scans stalled the decoder."""
    seed = encode(pattern((64, 48)), "JPEG", quality=80, progressive=True)
    scans = jpeg_walk.walk(seed, "seed", 10**9).scans
    assert 1 < scans < imaging.MAX_SCANS
    at_limit = repeat_last_scan(seed, imaging.MAX_SCANS - scans)
    assert jpeg_walk.walk(at_limit, "x", 10**9).scans == imaging.MAX_SCANS
    imaging.digest_bytes(at_limit)  # still fine
    bomb = repeat_last_scan(seed, 5000)
    start = time.perf_counter()
    stages: list[Callable[[bytes], object]] = [
        imaging.digest_bytes,
        lambda d: imaging.ImageProbe(d).content(),
        lambda d: imaging.ImageProbe(d).perceptual(),
        lambda d: imaging.ImageProbe(d).size(),
        imaging.display_frame,
    ]
    for stage in stages:
        with pytest.raises(DecompressionBombError, match=f"more than {imaging.MAX_SCANS} scans"):
            stage(bomb)
    assert time.perf_counter() - start < 2.0
    with pytest.raises(DecompressionBombError) as info:
        imaging.digest_bytes(repeat_last_scan(seed, imaging.MAX_SCANS), name="scans.jpg")
    assert "scans.jpg" in str(info.value) and info.value.hint


def test_progressive_jpeg_decode_work_is_bounded() -> None:
    """Pixels x scans: 13000 x 13000 (under the pixel limit) in 30 scans is refused from the
    headers, before any decoder runs."""
    seed = jpeg_with_size(13_000, 13_000, progressive=True)
    scans = jpeg_walk.walk(seed, "x", 10**9).scans
    assert 13_000**2 * scans < imaging.MAX_DECODE_WORK
    bomb = repeat_last_scan(seed, 30 - scans)
    assert imaging.MAX_DECODE_WORK < 13_000**2 * 30
    start = time.perf_counter()
    with pytest.raises(DecompressionBombError, match="pixel-scans"):
        imaging.digest_bytes(bomb)
    assert time.perf_counter() - start < 2.0


@pytest.mark.parametrize("kind", ["GIF", "WEBP", "PNG"])
def test_frames_times_pixels_over_the_limit(kind: str) -> None:
    data = _frames(kind, ImageOps.mirror(pattern()), duration=100, loop=0)
    one_frame = 96 * 64
    assert imaging.digest_bytes(data, max_pixels=2 * one_frame).frames == 2
    with pytest.raises(DecompressionBombError, match="2 frames of 96x64"):
        imaging.digest_bytes(data, max_pixels=2 * one_frame - 1)
    with pytest.raises(DecompressionBombError):
        imaging.ImageProbe(data, max_pixels=one_frame + 1).content()


def test_large_16_bit_greyscale_png_is_digested_in_bounded_memory(tmp_path: Path) -> None:
    """Issue 8: a 16-bit greyscale PNG at the pixel limit took 3.4 GB when converted whole.
    A 16 MP one (32 MB of samples) must be digested without a whole-image wide copy: the
    peak growth is measured in a fresh process (digest set 1's code grew by about 300 MB
    here; strip by strip it is about 55 MB)."""
    row = np.arange(4000, dtype=np.uint32) * 16
    values = ((row[None, :] + np.arange(4000, dtype=np.uint32)[:, None] * 3) % 65536).astype(
        np.uint16
    )
    path = tmp_path / "grey16.png"
    path.write_bytes(encode(Image.fromarray(values), "PNG", compress_level=1))
    code = (
        "import resource, sys, json\n"
        "from provenance import imaging\n"
        "import numpy, PIL.Image, PIL.PngImagePlugin\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "asset = imaging.digest_bytes(data)\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(json.dumps({'asset': asset.to_json(), 'growth_kib': after - before}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        cwd=TESTS.parent,
        timeout=120,
    )
    result = json.loads(out.stdout)
    asset = result["asset"]
    assert (asset["width"], asset["height"], asset["frames"], asset["format"]) == (
        4000,
        4000,
        1,
        "PNG",
    )
    assert result["growth_kib"] < 200 * 1024, result["growth_kib"]


def test_decompression_bomb_png_header_fails_fast() -> None:
    bomb = png_bomb(100_000, 100_000)
    assert len(bomb) < 200
    start = time.perf_counter()
    with pytest.raises(DecompressionBombError, match=r"100000x100000 \(10,000,000,000 pixels"):
        imaging.digest_bytes(bomb, name="bomb.png")
    stages: list[Callable[[bytes], object]] = [
        imaging.pixel_digest_v1,
        imaging.display_frame,
        lambda d: imaging.ImageProbe(d).content(),
        lambda d: imaging.ImageProbe(d).perceptual(),
        lambda d: imaging.ImageProbe(d).size(),
    ]
    for stage in stages:
        with pytest.raises(DecompressionBombError):
            stage(bomb)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(jpeg_with_size(65_000, 65_000), id="jpeg"),
        pytest.param(jpeg_with_size(65_000, 65_000, progressive=True), id="jpeg-progressive"),
        pytest.param(gif_with_size(65_535, 65_535), id="gif"),
        pytest.param(tiff_with_size(60_000, 60_000), id="tiff"),
        pytest.param(webp_with_size(16_384, 16_384), id="webp"),
    ],
)
def test_decompression_bomb_other_formats(bomb: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(DecompressionBombError):
        imaging.digest_bytes(bomb)
    with pytest.raises(DecompressionBombError):
        imaging.display_frame(bomb)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "make", [png_bomb, jpeg_with_size, gif_with_size, tiff_with_size, webp_with_size]
)
def test_per_call_limit_below_pillow_limit(make: Callable[[int, int], bytes]) -> None:
    """A 5000 x 4000 header passes Pillow's own limit but not max_pixels=10**7."""
    bomb = make(5000, 4000)
    with pytest.raises(DecompressionBombError, match="5000x4000"):
        imaging.digest_bytes(bomb, max_pixels=10**7)
    with pytest.raises(DecompressionBombError, match="5000x4000"):
        imaging.display_frame(bomb, max_pixels=10**7)


def test_max_pixels_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(pattern(), "PNG")  # 96 x 64 = 6144 pixels
    assert imaging.digest_bytes(data, max_pixels=6144).width == 96
    with pytest.raises(DecompressionBombError, match="limit 6,143"):
        imaging.digest_bytes(data, max_pixels=6143)
    monkeypatch.setenv("PROVENANCE_MAX_PIXELS", "6000")
    assert imaging.resolve_max_pixels() == 6000
    with pytest.raises(DecompressionBombError) as info:
        imaging.digest_bytes(data)
    assert info.value.hint == "raise PROVENANCE_MAX_PIXELS if the image is genuine"
    assert imaging.digest_bytes(data, max_pixels=10_000).height == 64
    monkeypatch.setenv("PROVENANCE_MAX_PIXELS", "lots")
    with pytest.raises(ImageError, match="invalid PROVENANCE_MAX_PIXELS"):
        imaging.digest_bytes(data)
    monkeypatch.delenv("PROVENANCE_MAX_PIXELS")
    assert imaging.resolve_max_pixels() == imaging.DEFAULT_MAX_PIXELS
    with pytest.raises(ValueError):
        imaging.resolve_max_pixels(0)


def test_pillow_global_state_is_untouched() -> None:
    before = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)
    imaging.digest_bytes(encode(pattern(), "JPEG"), max_pixels=10**10)
    with pytest.raises(DecompressionBombError):
        imaging.digest_bytes(png_bomb(20_000, 20_000), max_pixels=1000)
    with pytest.raises(ImageError):
        imaging.digest_bytes(encode(pattern(), "JPEG")[:500])
    assert before == (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES)


# --- hostile and broken inputs ---------------------------------------------------------


def test_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"^empty file: .*empty\.jpg$"):
        imaging.digest_file(path)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "TIFF"])
def test_truncated_image(tmp_path: Path, fmt: str) -> None:
    data = encode(pattern((160, 120)), fmt)
    path = tmp_path / f"photo.{fmt.lower()}"
    path.write_bytes(data[: len(data) * 2 // 3])
    for stage in (
        imaging.digest_file,
        lambda p: imaging.display_frame(p.read_bytes(), name=str(p)),
    ):
        with pytest.raises(ImageError) as info:
            stage(path)
        assert type(info.value) is ImageError
        message = str(info.value)
        assert "\n" not in message and path.name in message
    with pytest.raises(ImageError) as info:
        imaging.digest_file(path)
    if fmt == "JPEG":  # found by the segment walk, before any decoder runs
        assert str(info.value).startswith(f"truncated JPEG: {path} (")
    if fmt == "PNG":
        assert str(info.value) == f"truncated image: {path}"


def test_garbage_with_jpg_extension(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.write_bytes(b"this is not an image at all\n" * 10)
    with pytest.raises(ImageError, match=r"^not an image \(or unsupported format\): .*x\.jpg$"):
        imaging.digest_file(path)


@pytest.mark.parametrize("fmt", ["BMP", "ICO", "PPM", "PDF", "TGA"])
def test_unsupported_formats(fmt: str) -> None:
    data = encode(pattern(), fmt)
    with pytest.raises(ImageError, match="not an image"):
        imaging.digest_bytes(data, name=f"x.{fmt.lower()}")


def test_polyglots() -> None:
    jpeg = encode(pattern(), "JPEG")
    png = encode(pattern(), "PNG")
    # PNG signature in front of JPEG data: claims PNG, is not one (Pillow reads the JPEG
    # bytes as a chunk length beyond the end of the file: "truncated")
    with pytest.raises(ImageError, match=r"^(corrupt PNG|truncated) image: "):
        imaging.digest_bytes(png[:8] + jpeg[2:])
    # an HTML/ZIP-like prefix hiding a JPEG further in is not read as the JPEG
    with pytest.raises(ImageError, match="not an image"):
        imaging.digest_bytes(b"PK\x03\x04" + jpeg)
    with pytest.raises(ImageError, match="not an image"):
        imaging.digest_bytes(b"<html><body>" + jpeg)
    # a JPEG followed by a ZIP (classic "GIFAR"-style polyglot) is the JPEG to a viewer;
    # the file hash differs, the content digest does not
    tail = imaging.digest_bytes(jpeg + b"PK\x03\x04" + b"\x00" * 64)
    assert tail.content == content(jpeg)
    assert tail.sha256 != imaging.file_sha256(jpeg)
    # a second JPEG after the first is not displayed either
    assert content(jpeg + encode(scene(), "JPEG")) == content(jpeg)


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^no such file: .*nope\.jpg$") as info:
        imaging.digest_file(tmp_path / "nope.jpg")
    assert info.value.hint == "check the path"
    with pytest.raises(ImageError, match=r"^is a folder, not an image: "):
        imaging.digest_file(tmp_path)
    with pytest.raises(ImageError, match=r"^no such file: "):
        imaging.ImageProbe.from_file(tmp_path / "nope.jpg")


def test_png_text_chunk_bomb_is_refused() -> None:
    """A zTXt chunk inflating to 16 MB: Pillow refuses it (MAX_TEXT_CHUNK, 1 MB); so do we."""
    png = encode(pattern(), "PNG")
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * (16 << 20), 9))
    assert len(ztxt) < 100_000
    bomb = png_insert(png, ztxt)
    with pytest.raises(ImageError, match="corrupt PNG image"):
        imaging.digest_bytes(bomb)


def test_xmp_and_icc_bombs_in_png_are_bounded() -> None:
    """An iCCP profile or an iTXt XMP packet inflating to many megabytes is refused (Pillow's
    MAX_TEXT_CHUNK), quickly; a large but legal XMP packet is still read for orientation."""
    png = encode(pattern(), "PNG")
    iccp = png_chunk(b"iCCP", b"bomb\x00\x00" + zlib.compress(b" " * (80 << 20), 9))
    xmp_head = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00"
    packet = b'tiff:Orientation="2"'
    itxt = png_chunk(b"iTXt", xmp_head + zlib.compress(b" " * (5 << 20) + packet, 9))
    start = time.perf_counter()
    for bomb in (png_insert(png, iccp), png_insert(png, itxt)):
        with pytest.raises(ImageError, match="corrupt PNG image"):
            imaging.digest_bytes(bomb)
    assert time.perf_counter() - start < 5.0
    legal = png_chunk(b"iTXt", xmp_head + zlib.compress(b" " * (900 << 10) + packet, 9))
    assert content(png_insert(png, legal)) != content(png)


def test_import_does_not_load_pillow() -> None:
    heavy = "{'PIL', 'imagehash', 'numpy', 'scipy'}"
    code = f"import sys, provenance.imaging; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=TESTS.parent
    )
    assert out.stdout.strip() == "[]"


def test_concurrent_digests_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    inputs = [
        encode(scene((300 + 10 * i, 200)), fmt)
        for i, fmt in enumerate(["JPEG", "PNG", "WEBP", "JPEG", "GIF", "TIFF", "JPEG", "PNG"])
    ]
    expected = [imaging.digest_bytes(data) for data in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(imaging.digest_bytes, inputs * 3)) == expected * 3
        assert list(pool.map(imaging.pixel_digest_v1, inputs)) == [
            imaging.pixel_digest_v1(d) for d in inputs
        ]


# --- property tests ------------------------------------------------------------------------


@cache
def fuzz_seeds() -> dict[str, bytes]:
    image = pattern((40, 30))
    icc = swap_primaries(srgb_profile())
    return {
        "jpeg": encode(image, "JPEG", quality=80, exif=with_exif(orientation=3), icc_profile=icc),
        "jpeg-progressive": encode(image, "JPEG", quality=80, progressive=True),
        "png": encode(image.convert("RGBA"), "PNG", icc_profile=icc),
        "apng": encode(image, "PNG", save_all=True, append_images=[image.rotate(180)]),
        "gif": encode(image.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "webp": encode(image, "WEBP", quality=80, exif=with_exif(orientation=6)),
        "tiff": encode(image, "TIFF", compression="tiff_deflate"),
        "mpo": encode(image, "MPO", save_all=True, append_images=[image]),
        "avif": (ASSETS / "imaging.avif").read_bytes(),
    }


@settings(
    max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    kind=st.sampled_from(sorted(fuzz_seeds())),
    flips=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 1 << 16)),
    junk=st.binary(max_size=16),
)
def test_mutated_images_digest_or_raise_image_error(
    kind: str, flips: list[tuple[int, int]], cut: int | None, junk: bytes
) -> None:
    data = bytearray(fuzz_seeds()[kind])
    for position, value in flips:
        data[position % len(data)] = value
    if cut is not None:
        del data[cut % (len(data) + 1) :]
    data += junk
    try:
        asset = imaging.digest_bytes(bytes(data), name="fuzz", max_pixels=1 << 22)
    except ImageError as exc:
        assert "\n" not in str(exc)
    else:
        assert asset.width * asset.height * asset.frames <= 1 << 22
        assert Asset.from_json(asset.to_json()) == asset
    try:
        frame, _ = imaging.display_frame(bytes(data), name="fuzz", max_pixels=1 << 22)
    except ImageError as exc:
        assert "\n" not in str(exc)
    else:
        assert frame.mode in ("RGB", "RGBA")


# A display-affecting change and a metadata-only change to one signed PNG, WebP or JPEG.
_DISPLAY_CHANGES = st.one_of(
    st.tuples(st.just("orientation"), st.integers(2, 8)),
    st.tuples(st.just("xmp-orientation"), st.integers(2, 8)),
    st.tuples(st.just("icc"), st.sampled_from(sorted(ICC_VARIANTS))),
    st.tuples(st.just("frame"), st.integers(1, 2000)),
    st.tuples(st.just("pixel"), st.tuples(st.integers(0, 95), st.integers(0, 63))),
)
_CAMERA_NAMES = st.text(
    st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1, max_size=30
)
_METADATA_CHANGES = st.one_of(
    st.tuples(st.just("camera"), _CAMERA_NAMES),
    st.tuples(st.just("description"), st.text("abcdefgh ijklmnop", min_size=1, max_size=30)),
    st.tuples(st.just("none"), st.none()),
)


def _variant(fmt: str, change: tuple[str, Any]) -> bytes:
    params: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {}
    if fmt == "JPEG":
        params["quality"] = 95
    image = pattern()
    kind, value = change
    if kind == "orientation":
        params["exif"] = with_exif(orientation=value)
    elif kind == "xmp-orientation" or kind == "description":
        text = xmp(value) if kind == "xmp-orientation" else xmp(description=value)
        if fmt == "PNG":
            info = PngImagePlugin.PngInfo()
            info.add_itxt("XML:com.adobe.xmp", text)
            params["pnginfo"] = info
        else:
            params["xmp"] = text.encode()
    elif kind == "icc":
        params["icc_profile"] = ICC_VARIANTS[value](srgb_profile())
    elif kind == "camera":
        params["exif"] = with_exif(make=value)
    elif kind == "pixel":
        image = image.copy()
        r, g, b = image.getpixel(value)  # type: ignore[misc]
        image.putpixel(value, (255 - r, g, b))
    elif kind == "frame":
        if fmt == "JPEG":
            return _variant(fmt, ("pixel", (value % 96, value % 64)))
        second = image.copy()
        second.putpixel((value % 96, value % 64), (0, 0, 0))
        return encode(image, fmt, save_all=True, append_images=[second], **params)
    return encode(image, fmt, **params)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(
    fmt=st.sampled_from(["PNG", "WEBP", "JPEG"]),
    display=_DISPLAY_CHANGES,
    metadata=_METADATA_CHANGES,
)
def test_display_changes_never_keep_content_metadata_changes_always_do(
    fmt: str, display: tuple[str, Any], metadata: tuple[str, Any]
) -> None:
    """The property behind 'verified' (issue 8): a variant whose rendering differs never
    has the signed image's content digest; a variant differing only in metadata always
    has it."""
    signed = content(_variant(fmt, ("none", None)))
    assert content(_variant(fmt, metadata)) == signed
    assert content(_variant(fmt, display)) != signed


# --- perceptual hashes -----------------------------------------------------------------

ROBUSTNESS_SET = [
    "skimage__astronaut.png",
    "skimage__camera.png",
    "skimage__coffee.png",
    "matplotlib__grace_hopper.jpg",
    "sklearn__china.jpg",
    "imgaug__quokka.jpg",
    "opencv-doc__baboon.jpg",
    "opencv-doc__chicky_512.png",
    "mate-backgrounds__Aqua.jpg",
    "mahotas__nuclear.png",
]


@needs_corpus
@pytest.mark.parametrize("name", ROBUSTNESS_SET)
def test_reencode_and_resize_stay_within_thresholds(name: str) -> None:
    original = corpus_phashes(name)
    image = imaging.display_frame(corpus_bytes(name))[0].convert("RGB")
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    for label, data in [
        ("jpeg q85", encode(image, "JPEG", quality=85)),
        ("resized 50%", encode(half, "PNG")),
        ("resized 50% jpeg q85", encode(half, "JPEG", quality=85)),
    ]:
        copy = imaging.ImageProbe(data).perceptual()
        d64 = imaging.hamming(original.phash64, copy.phash64)
        d256 = imaging.hamming(original.phash256, copy.phash256)
        assert d64 <= imaging.PHASH64_MAX_DISTANCE, (label, d64)
        assert d256 <= imaging.PHASH256_MAX_DISTANCE, (label, d256)


@needs_corpus
def test_distinct_corpus_photos_do_not_match() -> None:
    names = corpus_images()
    assert len(names) >= 40
    hashes = {name: corpus_phashes(name) for name in names}
    closest = min(
        (
            imaging.hamming(hashes[a].phash64, hashes[b].phash64),
            imaging.hamming(hashes[a].phash256, hashes[b].phash256),
            a,
            b,
        )
        for a, b in itertools.combinations(names, 2)
    )
    for a, b in itertools.combinations(names, 2):
        d64 = imaging.hamming(hashes[a].phash64, hashes[b].phash64)
        d256 = imaging.hamming(hashes[a].phash256, hashes[b].phash256)
        both = d64 <= imaging.PHASH64_MAX_DISTANCE and d256 <= imaging.PHASH256_MAX_DISTANCE
        assert not both, (a, b, d64, d256, closest)


def test_hamming_and_signed_phash64() -> None:
    assert imaging.hamming("00ff", "0f0f") == 8
    assert imaging.phash64_to_int("ffffffffffffffff") == -1
    assert imaging.phash64_to_int("8000000000000000") == -(1 << 63)
    assert imaging.phash64_to_int("7fffffffffffffff") == (1 << 63) - 1
    assert imaging.signed64((1 << 64) - 1) == -1
    assert imaging.signed64(5) == 5
    with pytest.raises(ValueError, match="lengths differ"):
        imaging.hamming("00", "000")
    with pytest.raises(ValueError, match="hex"):
        imaging.hamming("zz", "00")
    with pytest.raises(ValueError):
        imaging.phash64_to_int("abc")


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_phash64_int_roundtrip(value: int) -> None:
    text = format(value & 0xFFFF_FFFF_FFFF_FFFF, "016x")
    assert imaging.phash64_to_int(text) == value
    assert imaging.signed64(int(text, 16)) == value


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8))
def test_hamming_matches_xor_popcount_of_signed_ints(a: bytes, b: bytes) -> None:
    """SQL stores pHash-64 as signed BIGINT; popcount of the XOR must not depend on sign."""
    ha, hb = a.hex(), b.hex()
    ia, ib = imaging.phash64_to_int(ha), imaging.phash64_to_int(hb)
    assert imaging.hamming(ha, hb) == ((ia ^ ib) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


# --- our integer-DCT pHash against the reference implementation (imagehash + scipy) ----------
def _reference_phash(grey: Any, hash_size: int) -> str:
    import imagehash

    return str(imagehash.phash(grey, hash_size=hash_size))


@pytest.mark.parametrize(
    "name",
    [
        "opencv-doc__baboon.jpg",
        "skimage__camera.png",
        "opencv-doc__chicky_512.png",
        "mate-backgrounds__Aqua.jpg",
        "skimage__moon.png",
        "opencv-doc__sudoku.png",
    ],
)
def test_phash_is_bit_identical_to_imagehash(name: str) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus image {name} not found")
    with Image.open(path) as opened:
        grey = opened.convert("L")
    for variant in (grey, grey.resize((grey.width // 3, grey.height // 3)), grey.rotate(3)):
        for size in (8, 16):
            assert phash(variant, size) == _reference_phash(variant, size)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 254, 255])
def test_phash_of_flat_images_matches_imagehash(value: int) -> None:
    flat = Image.new("L", (300, 200), value)
    assert phash(flat, 8) == _reference_phash(flat, 8)
    assert phash(flat, 16) == _reference_phash(flat, 16)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    w=st.integers(8, 300),
    h=st.integers(8, 300),
    levels=st.integers(2, 256),
)
def test_phash_of_random_images_matches_imagehash(seed: int, w: int, h: int, levels: int) -> None:
    """Noise with few grey levels provokes ties at the median: still bit-identical."""
    rng = np.random.default_rng(seed)
    arr = (rng.integers(0, levels, size=(h, w)) * (255 // max(1, levels - 1))).astype(np.uint8)
    img = Image.fromarray(arr, "L")
    assert phash(img, 8) == _reference_phash(img, 8)
    assert phash(img, 16) == _reference_phash(img, 16)


def test_scipy_is_not_imported_by_digesting() -> None:
    """Start-up: the perceptual path must not pull in scipy (about 0.3 s per process)."""
    if not (CORPUS / "opencv-doc__baboon.jpg").exists():
        pytest.skip("corpus missing")
    code = (
        "import sys; from provenance.imaging import digest_file; "
        f"digest_file({str(CORPUS / 'opencv-doc__baboon.jpg')!r}); "
        "print('scipy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
