"""Builders of forged files for tests/test_forgeries.py (issue 8's attack classes).

Each builder changes what a viewer shows without touching the stored samples (a colour
profile, a gamma chunk, an orientation tag, a hidden frame), or hides a different picture
where only one decoder looks. :func:`rendered` is a Pillow rendering "as a browser would"
(Chromium 156's rules, measured in docs/adr/0006-display-digest.md): the frames of an
animation, colour management by ICC profile or PNG gamma, EXIF orientation where Chromium
honours it (JPEG, PNG ``eXIf`` before IDAT), never XMP orientation.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageCms


# --- PNG ------------------------------------------------------------------------------------
def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    out, pos = [], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        out.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return out


def png_build(chunks: Sequence[tuple[bytes, bytes]]) -> bytes:
    body = b"".join(
        struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d)) for t, d in chunks
    )
    return b"\x89PNG\r\n\x1a\n" + body


def png_insert(data: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    """``data`` with ``chunks`` inserted right after IHDR (before any image data)."""
    old = png_chunks(data)
    return png_build([old[0], *chunks, *old[1:]])


def png_text(key: str, text: str) -> tuple[bytes, bytes]:
    return b"tEXt", key.encode("latin-1") + b"\x00" + text.encode("latin-1")


def gama(value: int) -> tuple[bytes, bytes]:
    return b"gAMA", struct.pack(">I", value)


def iccp(profile: bytes) -> tuple[bytes, bytes]:
    return b"iCCP", b"icc\x00\x00" + zlib.compress(profile)


def exif_chunk(orientation: int) -> tuple[bytes, bytes]:
    return b"eXIf", exif_tiff(orientation)


def xmp_itxt(orientation: int) -> tuple[bytes, bytes]:
    return b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp_packet(orientation)


# --- EXIF / XMP -----------------------------------------------------------------------------
def exif_tiff(orientation: int | None = None, *, make: str | None = None) -> bytes:
    """A little-endian TIFF block with IFD0 holding Orientation and/or Make."""
    entries = []
    extra = b""
    if make is not None:
        value = make.encode() + b"\x00"
        offset = 8 + 2 + 12 * (2 if orientation is not None else 1) + 4
        entries.append(struct.pack("<HHII", 0x010F, 2, len(value), offset))
        extra = value
    if orientation is not None:
        entries.append(struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0))
    entries.sort()
    return (
        b"II*\x00"
        + struct.pack("<I", 8)
        + struct.pack("<H", len(entries))
        + b"".join(entries)
        + b"\x00\x00\x00\x00"
        + extra
    )


def xmp_packet(orientation: int | None = None, *, description: str | None = None) -> bytes:
    attrs = ""
    if orientation is not None:
        attrs += f' tiff:Orientation="{orientation}"'
    if description is not None:
        attrs += f' dc:description="{description}"'
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'rdf:about="" xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"{attrs}/></rdf:RDF></x:xmpmeta>'
        '<?xpacket end="w"?>'
    ).encode()


# --- JPEG -----------------------------------------------------------------------------------
def jpeg_insert(data: bytes, marker: int, payload: bytes) -> bytes:
    """``data`` with an APPn/COM segment inserted right after SOI."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def jpeg_icc(data: bytes, profile: bytes) -> bytes:
    return jpeg_insert(data, 0xE2, b"ICC_PROFILE\x00\x01\x01" + profile)


def jpeg_exif(data: bytes, orientation: int | None = None, *, make: str | None = None) -> bytes:
    return jpeg_insert(data, 0xE1, b"Exif\x00\x00" + exif_tiff(orientation, make=make))


def jpeg_xmp(data: bytes, **kw: object) -> bytes:
    return jpeg_insert(
        data,
        0xE1,
        b"http://ns.adobe.com/xap/1.0/\x00" + xmp_packet(**kw),  # type: ignore[arg-type]
    )


def jpeg_adobe(data: bytes, transform: int) -> bytes:
    return jpeg_insert(data, 0xEE, b"Adobe" + b"\x00\x64\x00\x00\x00\x00" + bytes([transform]))


# --- WebP -----------------------------------------------------------------------------------
def webp_extended(data: bytes, *extra: tuple[bytes, bytes], flags: int = 0) -> bytes:
    """A still WebP rebuilt as an extended (VP8X) file with ``extra`` chunks."""
    chunks, pos = [], 12
    while pos + 8 <= len(data):
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        chunks.append((kind, data[pos + 8 : pos + 8 + length]))
        pos += 8 + length + (length & 1)
    with Image.open(io.BytesIO(data)) as im:
        w, h = im.size
        alpha = 0x10 if im.mode == "RGBA" else 0
    vp8x = (
        bytes([flags | alpha, 0, 0, 0])
        + (w - 1).to_bytes(3, "little")
        + (h - 1).to_bytes(3, "little")
    )
    body = [(b"VP8X", vp8x)]
    body += [c for c in extra if c[0] == b"ICCP"]
    body += [c for c in chunks if c[0] != b"VP8X"]
    body += [c for c in extra if c[0] != b"ICCP"]
    payload = b"WEBP" + b"".join(
        k + struct.pack("<I", len(d)) + d + (b"\x00" if len(d) & 1 else b"") for k, d in body
    )
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


WEBP_ICC, WEBP_EXIF, WEBP_XMP = 0x20, 0x08, 0x04


# --- ICC profiles ---------------------------------------------------------------------------
def srgb_profile() -> bytes:
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _icc_tags(profile: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    (n,) = struct.unpack(">I", profile[128:132])
    tags = []
    for k in range(n):
        sig, off, size = struct.unpack(">4sII", profile[132 + 12 * k : 144 + 12 * k])
        tags.append((sig, profile[off : off + size]))
    return profile[:128], tags


def _icc_build(header: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    off = 128 + 4 + 12 * len(tags)
    table, blob = b"", b""
    for sig, data in tags:
        table += struct.pack(">4sII", sig, off + len(blob), len(data))
        blob += data + b"\x00" * ((-len(data)) % 4)
    h = bytearray(header)
    h[0:4] = struct.pack(">I", off + len(blob))
    h[84:100] = bytes(16)
    return bytes(h) + struct.pack(">I", len(tags)) + table + blob


def swapped_primaries_profile() -> bytes:
    """sRGB with red and blue primaries exchanged: a viewer swaps red and blue."""
    header, tags = _icc_tags(srgb_profile())
    found = dict(tags)
    swap = {b"rXYZ": found[b"bXYZ"], b"bXYZ": found[b"rXYZ"]}
    return _icc_build(header, [(s, swap.get(s, d)) for s, d in tags])


def inverted_curve_profile() -> bytes:
    """sRGB whose tone curves run backwards: a viewer shows a negative."""
    header, tags = _icc_tags(srgb_profile())
    curve = (
        b"curv\x00\x00\x00\x00"
        + struct.pack(">I", 256)
        + b"".join(struct.pack(">H", 65535 - round(i * 65535 / 255)) for i in range(256))
    )
    trc = {b"rTRC", b"gTRC", b"bTRC"}
    return _icc_build(header, [(s, curve if s in trc else d) for s, d in tags])


# --- images ---------------------------------------------------------------------------------
def photo_like(seed: int, size: tuple[int, int] = (160, 120)) -> Image.Image:
    """A smooth, asymmetric picture (distinct under every flip and rotation)."""
    rng = np.random.default_rng(seed)
    w, h = size
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack(
        [(x * 255 // w), (y * 255 // h), ((x + 2 * y) * 127 // (w + h)) + 64], axis=-1
    ).astype(np.int16)
    img += rng.integers(-8, 9, img.shape, dtype=np.int16)
    img[h // 8 : h // 3, w // 10 : w // 3] = (250, 30, 30)  # a red block, top left
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **params)
    return buf.getvalue()


def apng(frames: Sequence[Image.Image], *, default_image: bool, duration: int = 100) -> bytes:
    """An APNG; with ``default_image`` the first image is the IDAT picture that APNG
    viewers never show (only viewers without APNG support do)."""
    return encode(
        frames[0],
        "PNG",
        save_all=True,
        append_images=list(frames[1:]),
        default_image=default_image,
        duration=duration,
        loop=0,
    )


def rendered(data: bytes) -> list[np.ndarray]:
    """What a browser displays (Chromium's rules; module docstring), frame by frame, in
    sRGB: comparable across files."""
    im = Image.open(io.BytesIO(data))
    frames = []
    n = getattr(im, "n_frames", 1)
    skip_default = bool(getattr(im, "default_image", False)) and n > 1
    for i in range(n):
        im.seek(i)
        if i == 0 and skip_default:
            continue
        frame = (
            im.convert("RGBA") if "A" in im.mode or "transparency" in im.info else im.convert("RGB")
        )
        profile = im.info.get("icc_profile")
        if profile:
            src = ImageCms.ImageCmsProfile(io.BytesIO(profile))
            mode = frame.mode
            frame = ImageCms.profileToProfile(
                frame.convert("RGB"), src, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if mode == "RGBA":
                frame = frame.convert("RGBA")
        elif im.format == "PNG" and "gamma" in im.info and "srgb" not in im.info:
            g = float(im.info["gamma"])
            if abs(g - 0.45455) > 1e-4:
                lut = [round(255 * (v / 255) ** (1 / (g * 2.2))) for v in range(256)]
                frame = frame.point(lut * len(frame.getbands()))
        if im.format in ("JPEG", "PNG") and _exif_orientation_honoured(data, im):
            frame = _transpose(frame, im.getexif().get(0x0112, 1))
        frames.append(np.asarray(frame))
    return frames


def _exif_orientation_honoured(data: bytes, im: Image.Image) -> bool:
    if im.format == "JPEG":
        return b"Exif\x00\x00" in data
    chunks = [t for t, _ in png_chunks(data)]
    return b"eXIf" in chunks and chunks.index(b"eXIf") < chunks.index(b"IDAT")


def _transpose(frame: Image.Image, orientation: object) -> Image.Image:
    method = {
        2: Image.Transpose.FLIP_LEFT_RIGHT,
        3: Image.Transpose.ROTATE_180,
        4: Image.Transpose.FLIP_TOP_BOTTOM,
        5: Image.Transpose.TRANSPOSE,
        6: Image.Transpose.ROTATE_270,
        7: Image.Transpose.TRANSVERSE,
        8: Image.Transpose.ROTATE_90,
    }.get(orientation if isinstance(orientation, int) else 1)
    return frame if method is None else frame.transpose(method)


def same_display(a: bytes, b: bytes, tolerance: int = 2) -> bool:
    fa, fb = rendered(a), rendered(b)
    return len(fa) == len(fb) and all(
        x.shape == y.shape and int(np.abs(x.astype(int) - y.astype(int)).max()) <= tolerance
        for x, y in zip(fa, fb, strict=True)
    )
