"""Tests for provenance.imaging: golden digests, canonical pixels, perceptual thresholds,
hostile inputs and the decompression-bomb limit."""

from __future__ import annotations

import dataclasses
import io
import itertools
import json
import struct
import subprocess
import sys
import time
import zlib
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw, ImageFile, ImageFilter, ImageOps, features
from PIL import __version__ as pillow_version

from provenance import imaging
from provenance.errors import DecompressionBombError, ImageError, RecordError

TESTS = Path(__file__).resolve().parent
ASSETS = TESTS / "assets"
GOLDEN = TESTS / "golden" / "imaging_golden.json"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"

needs_corpus = pytest.mark.skipif(
    not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"photo corpus not found at {CORPUS}"
)


# --- helpers ---------------------------------------------------------------------------


def pattern(size: tuple[int, int] = (96, 64)) -> Image.Image:
    """Same deterministic RGB pattern as tests/golden/make_imaging_golden.py."""
    fractal = Image.effect_mandelbrot(size, (-2.0, -1.2, 1.0, 1.2), 64)
    ramp = Image.linear_gradient("L").resize(size)
    return Image.merge("RGB", (fractal, ramp, ImageOps.invert(fractal)))


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


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def strip_jpeg_metadata(data: bytes) -> bytes:
    """Drop every APPn (0xE0-0xEF) and COM (0xFE) segment before the first SOS, byte for
    byte; everything else (tables, frame header, entropy-coded data) is kept verbatim."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    out = bytearray(data[:2])
    pos = 2
    while True:
        assert data[pos] == 0xFF, f"marker expected at {pos}"
        while data[pos + 1] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is image data
            out += data[pos:]
            return bytes(out)
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # standalone markers
            out += data[pos : pos + 2]
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if not (0xE0 <= marker <= 0xEF or marker == 0xFE):
            out += data[pos : pos + 2 + length]
        pos += 2 + length


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


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


def jpeg_with_size(width: int, height: int) -> bytes:
    """A small real JPEG whose SOF0 header is patched to claim width x height."""
    data = bytearray(encode(pattern((16, 16)), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def digest_of(image: Image.Image, fmt: str = "PNG", **params: object) -> imaging.AssetDigests:
    return imaging.digest_bytes(encode(image, fmt, **params))


@cache
def corpus_bytes(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


@cache
def corpus_phashes(name: str) -> imaging.PerceptualHashes:
    return imaging.perceptual_hashes(corpus_bytes(name), name=name)


def corpus_images() -> list[str]:
    if not (CORPUS / "MANIFEST.tsv").is_file():
        return []
    lines = (CORPUS / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [line.split("\t")[0] for line in lines if line.strip()]


# --- golden digests --------------------------------------------------------------------

GOLDEN_DATA = json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_golden_digest_set_matches_module() -> None:
    assert GOLDEN_DATA["digest_set"] == imaging.DIGEST_SET


@pytest.mark.parametrize("key", sorted(GOLDEN_DATA["images"]))
def test_golden_digests(key: str) -> None:
    where, name = key.split("/", 1)
    path = (CORPUS if where == "corpus" else ASSETS) / name
    if where == "corpus" and not path.is_file():
        pytest.skip(f"corpus image {name} not found in {CORPUS}")
    if name.endswith(".avif") and not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    expected = GOLDEN_DATA["images"][key]
    actual = imaging.digest_file(path).to_dict()
    assert actual == expected, (
        f"digest pipeline changed for {key}; golden made with {GOLDEN_DATA['generated_with']}, "
        f"running Pillow {pillow_version}, libjpeg-turbo {features.version('libjpeg_turbo')}"
    )


def test_golden_stages_agree_with_digest_file() -> None:
    data = (ASSETS / "imaging_orient6.jpg").read_bytes()
    expected = GOLDEN_DATA["images"]["assets/imaging_orient6.jpg"]
    assert imaging.file_sha256(data) == expected["sha256"]
    assert imaging.pixel_digest(data) == (expected["pixels"], 64, 96, "JPEG")
    assert imaging.perceptual_hashes(data) == (expected["phash64"], expected["phash256"])


@needs_corpus
def test_jpeg_perceptual_path_uses_draft() -> None:
    """The pinned pipeline: draft to >= 512 px, then imagehash.phash (DESIGN 3.3)."""
    import imagehash

    image = Image.open(io.BytesIO(corpus_bytes("mate-backgrounds__Wood.jpg")))
    image.draft("RGB", (512, 512))
    assert image.size == (1280, 960)
    expected = (str(imagehash.phash(image)), str(imagehash.phash(image, hash_size=16)))
    assert corpus_phashes("mate-backgrounds__Wood.jpg") == expected


@pytest.mark.parametrize(
    ("size", "drafted"),
    [((4224, 3168), (1056, 792)), ((1023, 4000), (1023, 4000)), ((1024, 1030), (512, 515))],
)
def test_draft_keeps_short_side_at_least_512(
    size: tuple[int, int], drafted: tuple[int, int]
) -> None:
    image = Image.open(io.BytesIO(jpeg_with_size(*size)))
    image.draft("RGB", (imaging.PERCEPTUAL_MIN_SIDE, imaging.PERCEPTUAL_MIN_SIDE))
    assert image.size == drafted
    assert min(image.size) >= 512


# --- canonical pixels ------------------------------------------------------------------


def test_pixels_equal_across_png_webp_and_stripped_jpeg() -> None:
    exif = Image.Exif()
    exif[0x010F] = "provenance test camera"  # Make; no orientation
    jpeg = encode(pattern((120, 80)), "JPEG", quality=88, exif=exif.tobytes(), comment=b"a comment")
    stripped = strip_jpeg_metadata(jpeg)
    assert len(stripped) < len(jpeg)
    assert b"provenance test camera" not in stripped and b"a comment" not in stripped
    decoded = imaging.canonical_image(jpeg)
    copies = {
        "jpeg": jpeg,
        "stripped jpeg": stripped,
        "png": encode(decoded, "PNG"),
        "webp lossless": encode(decoded, "WEBP", lossless=True),
        "tiff": encode(decoded, "TIFF", compression="tiff_lzw"),
    }
    digests = {label: imaging.digest_bytes(data) for label, data in copies.items()}
    assert len({d.pixels for d in digests.values()}) == 1, digests
    assert len({d.sha256 for d in digests.values()}) == len(copies)
    assert {d.format for d in digests.values()} == {"JPEG", "PNG", "WEBP", "TIFF"}


@needs_corpus
@pytest.mark.parametrize("name", ["opencv-doc__board.jpg", "sklearn__flower.jpg"])
def test_corpus_jpeg_metadata_strip_keeps_pixels(name: str) -> None:
    data = corpus_bytes(name)
    stripped = strip_jpeg_metadata(data)
    original = imaging.pixel_digest(data)
    assert len(stripped) < len(data)
    assert imaging.pixel_digest(stripped) == original
    png = encode(imaging.canonical_image(data), "PNG")
    assert imaging.pixel_digest(png).pixels == original.pixels


def test_pixel_hash_changes_with_one_pixel() -> None:
    image = scene()
    before = digest_of(image)
    r, g, b = image.getpixel((40, 30))  # type: ignore[misc]
    image.putpixel((40, 30), (r ^ 1, g, b))
    after = digest_of(image)
    assert before.pixels != after.pixels
    assert imaging.hamming(before.phash64, after.phash64) <= 2


def test_pixel_hash_header_is_domain_separated() -> None:
    """Same bytes, different shape: 96x64 vs 64x96 must differ; the digest is defined."""
    import hashlib

    image = pattern()
    raw = image.tobytes()
    expected = hashlib.sha256(b"provenance/pixels/v1\n96 64 RGB\n" + raw).hexdigest()
    assert digest_of(image).pixels == expected
    reshaped = Image.frombytes("RGB", (64, 96), raw)
    assert digest_of(reshaped).pixels != expected


def test_opaque_rgba_hashes_as_rgb() -> None:
    rgb = pattern()
    assert digest_of(rgb.convert("RGBA")).pixels == digest_of(rgb).pixels
    translucent = rgb.convert("RGBA")
    translucent.putpixel((0, 0), (1, 2, 3, 254))
    assert imaging.canonical_image(encode(translucent, "PNG")).mode == "RGBA"
    assert digest_of(translucent).pixels == digest_of(translucent, "WEBP", lossless=True).pixels


def test_exif_orientation_6_swaps_size_and_matches_rotated_image() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    tagged = encode(pattern(), "JPEG", quality=90, exif=exif.tobytes())
    plain = Image.open(io.BytesIO(tagged))
    assert plain.size == (96, 64)
    rotated = plain.transpose(Image.Transpose.ROTATE_270)  # what a viewer shows
    digests = imaging.digest_bytes(tagged)
    reference = digest_of(rotated)
    assert (digests.width, digests.height) == (64, 96)
    assert digests.pixels == reference.pixels
    assert (digests.phash64, digests.phash256) == (reference.phash64, reference.phash256)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_imageops_exif_transpose(orientation: int) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(pattern((48, 32)), "PNG", exif=exif.tobytes())
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    actual = imaging.canonical_image(data)
    assert actual.size == expected.size
    assert actual.tobytes() == expected.tobytes()


XMP_ORIENTATION_6 = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
    b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("TIFF", {"tiffinfo": {274: 6}}),
        ("TIFF", {"tiffinfo": {274: 6}, "compression": "tiff_deflate"}),
        ("WEBP", {"lossless": True, "exif": "orientation 6"}),
        ("PNG", {"exif": "orientation 6"}),
        ("JPEG", {"xmp": XMP_ORIENTATION_6}),  # XMP tiff:Orientation, as exif_transpose
    ],
)
def test_orientation_in_every_container(fmt: str, params: dict[str, object]) -> None:
    if params.get("exif") == "orientation 6":
        exif = Image.Exif()
        exif[0x0112] = 6
        params = {**params, "exif": exif.tobytes()}
    data = encode(pattern(), fmt, **params)
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert expected.size == (64, 96)
    assert imaging.pixel_digest(data) == (digest_of(expected).pixels, 64, 96, fmt)


def test_cmyk_jpeg_uses_pillow_rgb_conversion() -> None:
    data = (ASSETS / "imaging_cmyk.jpg").read_bytes()
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == "CMYK"
    reference = encode(opened.convert("RGB"), "PNG")
    assert imaging.pixel_digest(data).pixels == imaging.pixel_digest(reference).pixels
    assert imaging.digest_bytes(data).format == "JPEG"


def test_16_bit_png_keeps_high_byte() -> None:
    data = (ASSETS / "imaging_gray16.png").read_bytes()
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == "I;16"
    high = Image.frombytes("L", opened.size, opened.tobytes("raw", "I;16")[1::2])
    assert imaging.pixel_digest(data).pixels == imaging.pixel_digest(encode(high, "PNG")).pixels
    assert imaging.canonical_image(data).getextrema() == (high.getextrema(),) * 3


def test_16_bit_png_with_transparency_value() -> None:
    data = (ASSETS / "imaging_gray16_trns.png").read_bytes()
    opened = Image.open(io.BytesIO(data))
    key = opened.info["transparency"]
    canonical = imaging.canonical_image(data)
    assert canonical.mode == "RGBA"
    for xy in [(0, 0), (5, 24), (63, 47)]:
        alpha = canonical.getpixel(xy)[3]  # type: ignore[index]
        assert alpha == (0 if opened.getpixel(xy) == key else 255)


def test_big_endian_16_bit_tiff() -> None:
    eight = Image.linear_gradient("L").resize((40, 30))
    little = eight.convert("I").point(lambda v: v * 257).convert("I;16")
    big = Image.frombytes("I;16B", little.size, little.tobytes("raw", "I;16B"))
    assert big.getpixel((3, 20)) == little.getpixel((3, 20))
    big_tiff = encode(big, "TIFF")
    assert Image.open(io.BytesIO(big_tiff)).mode == "I;16B"
    assert imaging.pixel_digest(big_tiff).pixels == digest_of(little, "TIFF").pixels
    assert digest_of(little, "TIFF").pixels == digest_of(eight, "PNG").pixels


def test_palette_png_with_transparency_matches_rgba() -> None:
    data = (ASSETS / "imaging_palette_trns.png").read_bytes()
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == "P" and "transparency" in opened.info
    rgba = opened.convert("RGBA")
    assert rgba.getchannel("A").getextrema() == (0, 255)
    assert imaging.pixel_digest(data).pixels == digest_of(rgba).pixels


def test_palette_with_unused_transparent_entry_is_rgb() -> None:
    palette = pattern().convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    data = encode(palette, "PNG", transparency=255)  # entry 255 is never used
    assert imaging.canonical_image(data).mode == "RGB"
    assert imaging.pixel_digest(data).pixels == digest_of(palette.convert("RGB")).pixels


def test_la_png_matches_rgba() -> None:
    data = (ASSETS / "imaging_la.png").read_bytes()
    opened = Image.open(io.BytesIO(data))
    assert opened.mode == "LA"
    grey, alpha = opened.split()
    rgba = Image.merge("RGBA", (grey, grey, grey, alpha))
    assert imaging.pixel_digest(data).pixels == digest_of(rgba).pixels


def test_rgb_colour_key_transparency() -> None:
    image = pattern()
    key = image.getpixel((10, 10))
    data = encode(image, "PNG", transparency=key)
    canonical = imaging.canonical_image(data)
    assert canonical.mode == "RGBA"
    assert canonical.getpixel((10, 10))[3] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("asset", "first_mode"),
    [
        ("imaging_anim.gif", "P"),
        ("imaging_anim.webp", "RGBA"),
        ("imaging_anim_apng.png", "RGB"),
    ],
)
def test_animation_uses_first_frame(asset: str, first_mode: str) -> None:
    data = (ASSETS / asset).read_bytes()
    opened = Image.open(io.BytesIO(data))
    assert getattr(opened, "n_frames", 1) == 2 and opened.mode == first_mode
    first = opened.convert("RGBA")
    opened.seek(1)
    second = opened.convert("RGBA")
    digest = imaging.pixel_digest(data)
    assert digest.pixels == digest_of(first).pixels
    assert digest.pixels != digest_of(second).pixels


def test_avif_roundtrip_if_supported() -> None:
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF support")
    exif = Image.Exif()
    exif[0x0112] = 6
    data = encode(scene(), "AVIF", quality=80, exif=exif.tobytes())
    digests = imaging.digest_bytes(data)
    assert digests.format == "AVIF"
    assert (digests.width, digests.height) == (160, 240)
    reference = digest_of(scene().transpose(Image.Transpose.ROTATE_270))
    assert imaging.is_perceptual_match(digests, reference)


def test_heif_if_pillow_heif_installed() -> None:
    pillow_heif = pytest.importorskip("pillow_heif", reason="optional extra 'heif' missing")
    pillow_heif.register_heif_opener()
    data = encode(scene(), "HEIF", quality=80)
    digests = imaging.digest_bytes(data)
    assert digests.format == "HEIF"
    assert (digests.width, digests.height) == (240, 160)
    assert imaging.is_perceptual_match(digests, digest_of(scene()))
    assert "HEIF" in imaging.supported_formats()


def test_supported_formats() -> None:
    formats = imaging.supported_formats()
    assert formats[:5] == ("JPEG", "PNG", "WEBP", "GIF", "TIFF")
    assert ("AVIF" in formats) == features.check("avif")


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
    image = imaging.canonical_image(corpus_bytes(name)).convert("RGB")
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.LANCZOS)
    for label, data in [
        ("jpeg q85", encode(image, "JPEG", quality=85)),
        ("resized 50%", encode(half, "PNG")),
        ("resized 50% jpeg q85", encode(half, "JPEG", quality=85)),
    ]:
        copy = imaging.perceptual_hashes(data)
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
    assert imaging.int_to_phash64(-1) == "ffffffffffffffff"
    with pytest.raises(ValueError):
        imaging.hamming("00", "000")
    with pytest.raises(ValueError):
        imaging.hamming("zz", "00")
    with pytest.raises(ValueError):
        imaging.phash64_to_int("abc")
    with pytest.raises(ValueError):
        imaging.int_to_phash64(1 << 63)


@given(st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))
def test_phash64_int_roundtrip(value: int) -> None:
    text = imaging.int_to_phash64(value)
    assert len(text) == 16
    assert imaging.phash64_to_int(text) == value


@given(st.binary(min_size=8, max_size=8), st.binary(min_size=8, max_size=8))
def test_hamming_matches_xor_popcount_of_signed_ints(a: bytes, b: bytes) -> None:
    """SQL stores pHash-64 as signed BIGINT; popcount of the XOR must not depend on sign."""
    ha, hb = a.hex(), b.hex()
    ia, ib = imaging.phash64_to_int(ha), imaging.phash64_to_int(hb)
    assert imaging.hamming(ha, hb) == ((ia ^ ib) & 0xFFFF_FFFF_FFFF_FFFF).bit_count()


def test_is_perceptual_match_uses_both_thresholds() -> None:
    base = digest_of(pattern())
    far64 = dataclasses.replace(base, phash64="0" * 16)
    assert imaging.is_perceptual_match(base, base)
    assert imaging.perceptual_distances(base, far64)[0] > imaging.PHASH64_MAX_DISTANCE
    assert not imaging.is_perceptual_match(base, far64)


# --- AssetDigests ----------------------------------------------------------------------


def test_asset_digests_dict_roundtrip() -> None:
    digests = digest_of(pattern())
    as_dict = digests.to_dict()
    assert list(as_dict) == [
        "sha256",
        "pixels",
        "phash64",
        "phash256",
        "width",
        "height",
        "format",
    ]
    assert imaging.AssetDigests.from_dict(json.loads(json.dumps(as_dict))) == digests


@pytest.mark.parametrize(
    "change",
    [
        {"sha256": "AB" * 32},
        {"pixels": "00" * 31},
        {"phash64": "g" * 16},
        {"phash256": None},
        {"width": 0},
        {"height": True},
        {"format": ""},
        {"extra": 1},
    ],
)
def test_asset_digests_from_dict_rejects(change: dict[str, object]) -> None:
    as_dict: dict[str, object] = {**digest_of(pattern()).to_dict(), **change}
    with pytest.raises(RecordError):
        imaging.AssetDigests.from_dict(as_dict)


def test_asset_digests_from_dict_missing_key() -> None:
    as_dict = digest_of(pattern()).to_dict()
    del as_dict["pixels"]
    with pytest.raises(RecordError, match="missing pixels"):
        imaging.AssetDigests.from_dict(as_dict)


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
    with pytest.raises(ImageError) as info:
        imaging.digest_file(path)
    assert type(info.value) is ImageError
    message = str(info.value)
    assert "\n" not in message and path.name in message
    if fmt in ("JPEG", "PNG"):
        assert message == f"truncated image: {path}"


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


def test_mpo_is_read_as_its_first_jpeg() -> None:
    first, second = pattern(), ImageOps.mirror(pattern())
    data = encode(first, "MPO", save_all=True, append_images=[second])
    assert Image.open(io.BytesIO(data)).format == "MPO"
    digests = imaging.digest_bytes(data)
    assert digests.format == "JPEG"
    assert digests.pixels == imaging.pixel_digest(encode(first, "JPEG")).pixels


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
    # a JPEG followed by a ZIP (classic "GIFAR"-style polyglot) decodes as the JPEG;
    # the file hash differs, the pixel hash does not
    tail = imaging.digest_bytes(jpeg + b"PK\x03\x04" + b"\x00" * 64)
    assert tail.pixels == imaging.pixel_digest(jpeg).pixels
    assert tail.sha256 != imaging.file_sha256(jpeg)


def test_missing_path_and_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"^cannot read .*nope\.jpg: No such file"):
        imaging.digest_file(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match=r"^cannot read "):
        imaging.digest_file(tmp_path)


def test_decompression_bomb_png_header_fails_fast() -> None:
    bomb = png_bomb(100_000, 100_000)
    assert len(bomb) < 200
    start = time.perf_counter()
    with pytest.raises(DecompressionBombError, match=r"100000x100000 \(10,000,000,000 pixels"):
        imaging.digest_bytes(bomb, name="bomb.png")
    for stage in (imaging.pixel_digest, imaging.perceptual_hashes, imaging.canonical_image):
        with pytest.raises(DecompressionBombError):
            stage(bomb)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "bomb",
    [
        pytest.param(jpeg_with_size(65_000, 65_000), id="jpeg"),
        pytest.param(gif_with_size(65_535, 65_535), id="gif"),
        pytest.param(tiff_with_size(60_000, 60_000), id="tiff"),
        pytest.param(webp_with_size(16_384, 16_384), id="webp"),
    ],
)
def test_decompression_bomb_other_formats(bomb: bytes) -> None:
    start = time.perf_counter()
    with pytest.raises(DecompressionBombError):
        imaging.digest_bytes(bomb)
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    "make", [png_bomb, jpeg_with_size, gif_with_size, tiff_with_size, webp_with_size]
)
def test_per_call_limit_below_pillow_limit(make: object) -> None:
    """A 5000 x 4000 header passes Pillow's own limit but not max_pixels=10**7."""
    assert callable(make)
    bomb = make(5000, 4000)
    with pytest.raises(DecompressionBombError, match="5000x4000"):
        imaging.digest_bytes(bomb, max_pixels=10**7)


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


def test_threaded_and_sequential_digests_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    data = encode(pattern((700, 600)), "JPEG", quality=92, exif=exif.tobytes())
    monkeypatch.setattr(imaging, "_use_threads", lambda: True)
    threaded = imaging.digest_bytes(data)
    monkeypatch.setattr(imaging, "_use_threads", lambda: False)
    assert imaging.digest_bytes(data) == threaded
    truncated = data[: len(data) // 2]
    for flag in (True, False):
        monkeypatch.setattr(imaging, "_use_threads", lambda flag=flag: flag)
        with pytest.raises(ImageError, match="truncated"):
            imaging.digest_bytes(truncated)


def test_thread_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVENANCE_DIGEST_THREADS", "0")
    assert imaging._use_threads() is False
    monkeypatch.setenv("PROVENANCE_DIGEST_THREADS", "1")
    assert imaging._use_threads() is True
    monkeypatch.setenv("PROVENANCE_DIGEST_THREADS", "auto")
    monkeypatch.setattr(imaging.os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    assert imaging._use_threads() is False
    monkeypatch.setattr(imaging.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(imaging.os, "sched_getaffinity", lambda pid: {0, 1})
    assert imaging._use_threads() is True
    monkeypatch.setattr(imaging.os, "sched_getaffinity", lambda pid: {0})
    assert imaging._use_threads() is False


def test_concurrent_digests_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    inputs = [
        encode(scene((300 + 10 * i, 200)), fmt)
        for i, fmt in enumerate(["JPEG", "PNG", "WEBP", "JPEG", "GIF", "TIFF", "JPEG", "PNG"])
    ]
    expected = [imaging.digest_bytes(data) for data in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(imaging.digest_bytes, inputs * 3)) == expected * 3


def test_png_text_chunk_bomb_is_refused() -> None:
    """A zTXt chunk inflating to 16 MB: Pillow refuses it (MAX_TEXT_CHUNK, 1 MB); so do we."""
    png = encode(pattern(), "PNG")
    ztxt = png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"\x00" * (16 << 20), 9))
    assert len(ztxt) < 100_000
    bomb = png[:33] + ztxt + png[33:]  # right after IHDR
    with pytest.raises(ImageError, match="corrupt PNG image"):
        imaging.digest_bytes(bomb)


def test_import_does_not_load_pillow() -> None:
    heavy = "{'PIL', 'imagehash', 'numpy', 'scipy'}"
    code = f"import sys, provenance.imaging; print(sorted({heavy} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=TESTS.parent
    )
    assert out.stdout.strip() == "[]"


# --- fuzzing ---------------------------------------------------------------------------


@cache
def fuzz_seeds() -> dict[str, bytes]:
    image = pattern((40, 30))
    exif = Image.Exif()
    exif[0x0112] = 3
    return {
        "jpeg": encode(image, "JPEG", quality=80, exif=exif.tobytes()),
        "png": encode(image.convert("RGBA"), "PNG"),
        "gif": encode(image.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "webp": encode(image, "WEBP", quality=80),
        "tiff": encode(image, "TIFF", compression="tiff_deflate"),
        "mpo": encode(image, "MPO", save_all=True, append_images=[image]),
        "avif": (ASSETS / "imaging.avif").read_bytes(),
    }


@settings(
    max_examples=500, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    kind=st.sampled_from(["jpeg", "png", "gif", "webp", "tiff", "mpo", "avif"]),
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
        digests = imaging.digest_bytes(bytes(data), name="fuzz", max_pixels=1 << 22)
    except ImageError as exc:
        assert "\n" not in str(exc)
    else:
        assert digests.width * digests.height <= 1 << 22


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
    from PIL import Image

    from provenance.imaging import phash

    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"corpus image {name} not found")
    grey = Image.open(path).convert("L")
    for variant in (grey, grey.resize((grey.width // 3, grey.height // 3)), grey.rotate(3)):
        for size in (8, 16):
            assert phash(variant, size) == _reference_phash(variant, size)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 254, 255])
def test_phash_of_flat_images_matches_imagehash(value: int) -> None:
    from PIL import Image

    from provenance.imaging import phash

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
    import numpy as np
    from PIL import Image

    from provenance.imaging import phash

    rng = np.random.default_rng(seed)
    arr = (rng.integers(0, levels, size=(h, w)) * (255 // max(1, levels - 1))).astype(np.uint8)
    img = Image.fromarray(arr, "L")
    assert phash(img, 8) == _reference_phash(img, 8)
    assert phash(img, 16) == _reference_phash(img, 16)


def test_scipy_is_not_imported_by_digesting() -> None:
    """Start-up: the perceptual path must not pull in scipy (about 0.3 s per process)."""
    import subprocess
    import sys

    code = (
        "import sys; from provenance.imaging import digest_file; "
        f"digest_file({str(CORPUS / 'opencv-doc__baboon.jpg')!r}); "
        "print('scipy' in sys.modules)"
    )
    if not (CORPUS / "opencv-doc__baboon.jpg").exists():
        pytest.skip("corpus missing")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
