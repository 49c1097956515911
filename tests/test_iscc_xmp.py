"""The ISCC Content-Code Image (provenance.iscc) and the XMP writer/reader (provenance.xmp).

ISCC is cross-checked bit for bit against iscc-core (a test-time dependency only, like
merkletools and pdqhash) on the shared photo corpus.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib
from pathlib import Path

import c2pa_fixtures as fx
import numpy as np
import pytest
from PIL import Image, ImageChops, ImageOps

from provenance import iscc, xmp
from provenance.errors import ProvenanceError

RID = "sha256:" + "ab" * 32
ORIGIN = "newsroom.example/photos"


def _corpus_images(corpus: Path) -> list[Path]:
    return sorted(p for p in corpus.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def _reference_pixels(img: Image.Image) -> list[int]:
    """iscc-sdk's image_normalize, transcribed (after the EXIF transpose), with the border
    trim looking at every channel (``getbbox(alpha_only=False)``), as the algorithm intends."""
    if img.mode != "RGBA":
        img = img.convert("RGBA")
    img = Image.alpha_composite(Image.new("RGBA", img.size, (255, 255, 255)), img)
    bg = Image.new(img.mode, img.size, img.getpixel((0, 0)))
    diff = ImageChops.difference(img, bg)
    diff = ImageChops.add(diff, diff)
    bbox = diff.getbbox(alpha_only=False)
    if bbox is not None and bbox != (0, 0, *img.size):
        img = img.crop(bbox)
    grey = img.convert("L").resize((32, 32), Image.Resampling.BICUBIC)
    return np.asarray(grey, dtype=np.uint8).reshape(-1).tolist()


# --- ISCC ---------------------------------------------------------------------------------------
def test_iscc_is_bit_identical_to_iscc_core_on_the_corpus(corpus: Path) -> None:
    iscc_core = pytest.importorskip("iscc_core")
    paths = _corpus_images(corpus)
    assert len(paths) >= 50
    modes = set()
    for path in paths:
        with Image.open(path) as opened:
            img = ImageOps.exif_transpose(opened)
            modes.add(img.mode)
            ours = iscc.normalize(img)
            assert ours.reshape(-1).tolist() == _reference_pixels(img), path.name
            unit = iscc.iscc_unit(img)
        expected = iscc_core.soft_hash_image_v0(ours.reshape(-1).tolist(), bits=256)
        assert unit == iscc.IMAGE_HEADER + expected, path.name
        code = iscc_core.gen_image_code_v0(ours.reshape(-1).tolist(), bits=256)["iscc"]
        assert iscc.iscc_code_text(unit) == code, path.name
    assert {"RGB", "L", "RGBA"} <= modes  # grey and transparent photos are in the corpus


def test_iscc_normalisation_fills_transparency_and_trims_borders() -> None:
    photo = fx.photo_like(80, 60, seed=2)
    framed = Image.new("RGB", (120, 100), (0, 0, 0))
    framed.paste(photo, (20, 25))
    assert iscc.iscc_unit(framed) == iscc.iscc_unit(photo)  # a uniform border is trimmed
    assert (
        iscc.normalize(framed).tolist()
        == np.asarray(_reference_pixels(framed)).reshape(32, 32).tolist()
    )
    rgba = photo.convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(photo.size))
    flat = Image.alpha_composite(Image.new("RGBA", photo.size, (255, 255, 255, 255)), rgba)
    assert iscc.iscc_unit(rgba) == iscc.iscc_unit(flat.convert("RGB"))
    for mode in ("L", "P", "CMYK", "LA", "I;16", "1"):
        converted = photo.convert(mode) if mode != "I;16" else photo.convert("L").convert("I;16")
        assert (
            iscc.normalize(converted).tolist()
            == np.asarray(_reference_pixels(converted)).reshape(32, 32).tolist()
        ), mode


def test_iscc_survives_reencoding_and_separates_photos(corpus: Path) -> None:
    paths = _corpus_images(corpus)[:12]
    units = []
    for path in paths:
        data = path.read_bytes()
        unit = iscc.image_iscc(data)
        with Image.open(io.BytesIO(data)) as img:
            buf = io.BytesIO()
            img.convert("RGB").resize((img.width // 2, img.height // 2)).save(
                buf, "JPEG", quality=75
            )
        assert iscc.iscc_distance(unit, iscc.image_iscc(buf.getvalue())) <= iscc.MATCH_THRESHOLD
        units.append(unit)
    distances = [iscc.iscc_distance(a, b) for i, a in enumerate(units) for b in units[i + 1 :]]
    assert min(distances) > 2 * iscc.MATCH_THRESHOLD


def test_image_iscc_applies_exif_orientation_and_draft_decode(corpus: Path) -> None:
    with Image.open(corpus / "opencv-doc__fruits.jpg") as img:
        photo = img.convert("RGB").resize((1600, 1200), Image.Resampling.LANCZOS)
    upright = fx.jpeg_bytes(photo)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    rotated = fx.jpeg_bytes(photo.transpose(Image.Transpose.ROTATE_90), exif=exif.tobytes())
    assert iscc.iscc_distance(iscc.image_iscc(upright), iscc.image_iscc(rotated)) <= 8
    without = fx.jpeg_bytes(photo.transpose(Image.Transpose.ROTATE_90))
    assert iscc.iscc_distance(iscc.image_iscc(upright), iscc.image_iscc(without)) > 64
    with Image.open(io.BytesIO(upright)) as img:
        full = iscc.iscc_unit(img.convert("RGB"))
    assert iscc.iscc_distance(iscc.image_iscc(upright), full) <= 8  # draft vs full decode
    with pytest.raises(ProvenanceError):
        iscc.image_iscc(b"not an image")


def test_parse_iscc_seq() -> None:
    unit = iscc.iscc_unit(fx.photo_like())
    assert iscc.parse_iscc_seq(unit) == [(b"\x21\x07", unit[2:])]
    assert iscc.iscc_code_text(unit).startswith("ISCC:EED")
    instance = b"\x41\x07" + bytes(range(32))  # INSTANCE, 256 bits
    assert iscc.parse_iscc_seq(unit + instance) == [
        (unit[:2], unit[2:]),
        (instance[:2], instance[2:]),
    ]
    bad = [
        b"",
        unit[:-1],  # truncated body
        unit + b"\x00",  # trailing byte
        b"\x21\x01" + bytes(8),  # a 64-bit unit
        b"\x21\x17" + bytes(32),  # version 1
        b"\x51\x07" + bytes(32),  # MainType ISCC (a composite), not a unit
        b"\x61\x07" + bytes(32),  # MainType ID
        b"\xf0",  # invalid varnibble
        b"\x21\x07\x00",  # truncated body
    ]
    for value in bad:
        with pytest.raises(iscc.IsccError):
            iscc.parse_iscc_seq(value)
    with pytest.raises(TypeError):
        iscc.parse_iscc_seq("ISCC:EED")  # type: ignore[arg-type]
    with pytest.raises(iscc.IsccError):
        iscc.iscc_distance(unit, instance)
    flipped = bytearray(unit)
    flipped[5] ^= 0b101
    assert iscc.iscc_distance(unit, bytes(flipped)) == 2
    assert base64.b64encode(unit).decode().startswith("IQ")  # the SBR API's value form


def test_parse_iscc_seq_agrees_with_iscc_core() -> None:
    iscc_core = pytest.importorskip("iscc_core")
    rng = random.Random(7)
    for _ in range(200):
        units = []
        for _ in range(rng.randrange(1, 4)):
            mtype = rng.choice([0, 1, 2, 3, 4])
            header = iscc_core.encode_header(mtype, rng.randrange(0, 6), 0, 7)
            units.append(header + bytes(rng.randrange(256) for _ in range(32)))
        seq = b"".join(units)
        ours = iscc.parse_iscc_seq(seq)
        assert ["ISCC:" + base64.b32encode(h + b).decode().rstrip("=") for h, b in ours] == (
            iscc_core.decode_seq(seq)
        )
        cut = seq[: rng.randrange(1, len(seq))]
        try:
            iscc_core.decode_seq(cut)
            core_ok = True
        except ValueError:
            core_ok = False
        try:
            iscc.parse_iscc_seq(cut)
            ours_ok = True
        except iscc.IsccError:
            ours_ok = False
        assert ours_ok <= core_ok  # never accepts what iscc-core rejects


# --- XMP: JPEG --------------------------------------------------------------------------------
def _segments(jpeg: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 2
    while jpeg[pos + 1] != 0xDA:
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        out.append((jpeg[pos + 1], jpeg[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return out


def test_jpeg_xmp_never_touches_image_data() -> None:
    exif = Image.Exif()
    exif[0x010F] = "SimCam"
    original = fx.jpeg_bytes(exif=exif.tobytes(), icc_profile=b"\x00" * 128)
    packet = xmp.hint_packet(RID, "https://ledger.example", ORIGIN)
    out = xmp.write_xmp(original, "JPEG", packet)
    assert fx.scan_data(out) == fx.scan_data(original)
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(out)) as b:
        assert a.tobytes() == b.tobytes()
    markers = [(m, body[:4]) for m, body in _segments(out)]
    assert markers[:3] == [(0xE0, b"JFIF"), (0xE1, b"Exif"), (0xE1, b"http")]  # after APP0/Exif
    assert xmp.read_xmp(out) == packet
    # replacing: one standard XMP segment, extended-XMP segments of the old packet dropped
    extension = (
        b"\xff\xe1" + struct.pack(">H", 2 + 35 + 5) + xmp.JPEG_XMP_EXTENSION_HEADER + b"guid!"
    )
    with_ext = out[:2] + extension + out[2:]
    again = xmp.write_xmp(with_ext, "image/jpeg", "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    bodies = [body for m, body in _segments(again) if m == 0xE1]
    assert sum(b.startswith(b"http://ns.adobe.com/") for b in bodies) == 1
    assert xmp.read_xmp(again) == "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
    assert fx.scan_data(again) == fx.scan_data(original)


def test_jpeg_xmp_size_limit_and_malformed_files() -> None:
    jpeg = fx.jpeg_bytes()
    limit = "x" * xmp.MAX_JPEG_PACKET
    assert xmp.read_xmp(xmp.write_xmp(jpeg, "JPEG", limit)) == limit
    with pytest.raises(xmp.XmpError, match="65502"):
        xmp.write_xmp(jpeg, "JPEG", limit + "x")
    for broken in (b"\xff\xd8", jpeg[:40], b"\xff\xd8\x00\x00", b"GIF89a"):
        with pytest.raises(xmp.XmpError):
            xmp.write_xmp(broken, "JPEG", "<x/>")
    with pytest.raises(xmp.XmpError, match="JPEG and PNG"):
        xmp.write_xmp(jpeg, "GIF", "<x/>")


def test_xmp_readable_by_pillow() -> None:
    pytest.importorskip("defusedxml")  # Pillow's getxmp() needs it
    packet = xmp.hint_packet(RID, "https://ledger.example", ORIGIN, "https://ledger.example/m/1")
    for fmt, data in (("JPEG", fx.jpeg_bytes()), ("PNG", fx.png_bytes())):
        out = xmp.write_xmp(data, fmt, packet)
        with Image.open(io.BytesIO(out)) as img:
            desc = img.getxmp()["xmpmeta"]["RDF"]["Description"]
        assert desc["record"] == RID, fmt
        assert desc["ledger"] == "https://ledger.example"
        assert desc["origin"] == ORIGIN
        assert desc["provenance"] == "https://ledger.example/m/1"  # dcterms:provenance


# --- XMP: PNG and WebP ------------------------------------------------------------------------
def _chunks(png: bytes) -> list[tuple[bytes, bytes, int]]:
    out, pos = [], 8
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind, body = png[pos + 4 : pos + 8], png[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(png[pos + 8 + length : pos + 12 + length], "big")
        out.append((kind, body, crc))
        pos += 12 + length
    return out


def test_png_xmp_never_touches_image_data() -> None:
    original = fx.png_bytes()
    packet = xmp.hint_packet(RID, None, ORIGIN)
    out = xmp.write_xmp(original, "PNG", packet)
    chunks = _chunks(out)
    assert [c[0] for c in chunks[:2]] == [b"IHDR", b"iTXt"]
    for kind, body, crc in chunks:
        assert zlib.crc32(kind + body) == crc, kind
    assert chunks[1][1] == b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + packet.encode()
    assert fx.idat_bytes(out) == fx.idat_bytes(original)
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(out)) as b:
        b.verify()
    with Image.open(io.BytesIO(original)) as a, Image.open(io.BytesIO(out)) as b:
        assert a.tobytes() == b.tobytes()
    assert xmp.read_xmp(out) == packet
    again = xmp.write_xmp(out, "image/png", "<new/>")
    assert sum(k == b"iTXt" for k, _, _ in _chunks(again)) == 1
    assert xmp.read_xmp(again) == "<new/>"
    with pytest.raises(xmp.XmpError):
        xmp.write_xmp(original[:-12], "PNG", "<x/>")  # no IEND


def test_read_xmp_compressed_itxt_and_webp() -> None:
    packet = "<x:xmpmeta xmlns:x='adobe:ns:meta/'>zipped</x:xmpmeta>"
    body = b"XML:com.adobe.xmp\x00\x01\x00en\x00\x00" + zlib.compress(packet.encode())
    chunk = (
        struct.pack(">I", len(body))
        + b"iTXt"
        + body
        + struct.pack(">I", zlib.crc32(b"iTXt" + body))
    )
    png = fx.png_bytes()
    assert xmp.read_xmp(png[:33] + chunk + png[33:]) == packet
    buf = io.BytesIO()
    fx.photo_like().save(buf, "WEBP", xmp=packet.encode())
    assert xmp.read_xmp(buf.getvalue()) == packet
    buf = io.BytesIO()
    fx.photo_like().save(buf, "WEBP")
    assert xmp.read_xmp(buf.getvalue()) is None


def test_read_xmp_never_raises() -> None:
    rng = random.Random(3)
    samples = [fx.jpeg_bytes(), fx.png_bytes()]
    samples = [xmp.write_xmp(s, f, "<x/>") for s, f in zip(samples, ("JPEG", "PNG"), strict=True)]
    for _ in range(300):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randrange(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            del data[rng.randrange(len(data)) :]
        result = xmp.read_xmp(bytes(data))
        assert result is None or isinstance(result, str)
    for junk in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\xff\xff\xff\xffWEBPXMP "):
        assert xmp.read_xmp(junk) is None


# --- packets ------------------------------------------------------------------------------------
def test_hint_packet_and_properties() -> None:
    packet = xmp.hint_packet(RID, "https://ledger.example", 'odd"origin<&>.example/x')
    assert xmp.xmp_property(packet, xmp.NS, "record") == RID
    assert xmp.xmp_property(packet, xmp.NS, "origin") == 'odd"origin<&>.example/x'
    assert xmp.xmp_property(packet, xmp.DCTERMS_NS, "provenance") is None
    assert len(packet.encode()) < 1000
    remote = xmp.hint_packet(RID, None, ORIGIN, "https://ledger.example/v1/manifests/urn:c2pa:x")
    assert xmp.xmp_property(remote, xmp.DCTERMS_NS, "provenance") == (
        "https://ledger.example/v1/manifests/urn:c2pa:x"
    )
    assert xmp.xmp_property(remote, xmp.NS, "ledger") is None
    for args in (
        ("sha256:xyz", None, ORIGIN),
        (RID, "ftp://x", ORIGIN),
        (RID, None, ""),
        (RID, None, ORIGIN, "javascript:alert(1)"),
    ):
        with pytest.raises(ProvenanceError):
            xmp.hint_packet(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "packet",
    [
        '<r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><r:Description '
        'xmlns:e="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" e:DigitalSourceType="T"/></r:RDF>',
        '<r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><r:Description>'
        '<DigitalSourceType xmlns="http://iptc.org/std/Iptc4xmpExt/2008-02-29/"> T '
        "</DigitalSourceType>"
        "</r:Description></r:RDF>",
        '<r:RDF xmlns:r="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><r:Description>'
        '<e:DigitalSourceType xmlns:e="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        'r:resource="T"/>'
        "</r:Description></r:RDF>",
    ],
)
def test_xmp_property_forms(packet: str) -> None:
    assert xmp.xmp_property(packet, xmp.IPTC_EXT_NS, "DigitalSourceType") == "T"


def test_xmp_property_refuses_dtds_and_garbage() -> None:
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
        '<x xmlns:e="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" e:DigitalSourceType="&b;"/>'
    )
    assert xmp.xmp_property(bomb, xmp.IPTC_EXT_NS, "DigitalSourceType") is None
    assert xmp.xmp_property("<unclosed", xmp.IPTC_EXT_NS, "x") is None
    assert xmp.xmp_property(f"<a xmlns:e='{xmp.IPTC_EXT_NS}'", xmp.IPTC_EXT_NS, "x") is None
