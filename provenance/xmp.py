"""A small XMP writer and reader that never re-encodes an image.

Writing (JPEG and PNG): the packet goes in its standard place, and every other byte of the
file is copied unchanged, so the entropy-coded JPEG data, the PNG ``IDAT`` chunks and the
decoded pixels stay identical:

* **JPEG**: one APP1 segment ``FFE1 <len> "http://ns.adobe.com/xap/1.0/\\0" <packet>``,
  placed after SOI and the leading APP0 (JFIF) and Exif APP1 segments. Any existing
  standard XMP segment is replaced, and extended-XMP segments
  (``http://ns.adobe.com/xmp/extension/``) are dropped with it, because they continue the
  packet being replaced. Standard XMP must fit one segment: packets over
  :data:`MAX_JPEG_PACKET` bytes (65502, XMP part 3, 1.1.3.1) are refused.
* **PNG**: one ``iTXt`` chunk with keyword ``XML:com.adobe.xmp``, compression flag 0, empty
  language tag and translated keyword, right after ``IHDR``; an existing XMP ``iTXt`` chunk
  is removed.

C2PA note: a hard binding (``c2pa.hash.data``) covers every byte outside the manifest store,
so XMP must be written *before* a file is C2PA-signed; written after, validators report
``assertion.dataHash.mismatch``.

Reading (:func:`read_xmp`) walks the JPEG segments (up to the first SOS), the PNG chunks or
the WebP RIFF chunks without decoding anything and without Pillow. :func:`xmp_property`
reads one simple property from a packet; packets with a DOCTYPE or entity declaration are
refused (XMP never has one), so parsing cannot be turned into an entity-expansion attack.

The hint packet (:func:`hint_packet`) links an exported file to its ledger record. Its
properties live in :data:`NS` (prefix ``provenance``): ``provenance:record`` (the record id),
``provenance:origin`` (the log origin) and ``provenance:ledger`` (the ledger's base URL, when
there is one). A namespace URI is only a name that must never collide; ``.invalid`` is
reserved by RFC 2606/6761 and so can never be registered by anyone else. Readers match the
exact string, so it changes only with a new version (``/1.0/``). A packet for a remote
manifest also carries ``dcterms:provenance`` = the manifest store's URL (C2PA 2.2 section
11.5). The hint is a hint, never evidence: a verifier must still match digests.
"""

from __future__ import annotations

import re
import struct
import zlib
from typing import Final
from xml.etree import ElementTree
from xml.sax.saxutils import quoteattr

from provenance.errors import ImageError, ProvenanceError

__all__ = [
    "DCTERMS_NS",
    "IPTC_EXT_NS",
    "MAX_JPEG_PACKET",
    "NS",
    "XmpError",
    "hint_packet",
    "read_xmp",
    "write_xmp",
    "xmp_property",
]

#: Our XMP namespace (see the module docstring for why ``.invalid``).
NS: Final = "https://provenance.invalid/ns/xmp/1.0/"
DCTERMS_NS: Final = "http://purl.org/dc/terms/"
IPTC_EXT_NS: Final = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
RDF_NS: Final = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
#: The largest standard XMP packet a JPEG APP1 segment can hold (XMP part 3).
MAX_JPEG_PACKET: Final = 65502
#: The largest packet read back (a larger one is ignored rather than parsed).
MAX_READ_PACKET: Final = 4 * 1024 * 1024

JPEG_XMP_HEADER: Final = b"http://ns.adobe.com/xap/1.0/\x00"
JPEG_XMP_EXTENSION_HEADER: Final = b"http://ns.adobe.com/xmp/extension/\x00"
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEYWORD: Final = b"XML:com.adobe.xmp"

_RECORD_ID = re.compile(r"sha256:[0-9a-f]{64}")
_URL = re.compile(r"https?://[^\s\"<>\\^`{|}]{1,2000}")
_FORMATS: Final = {
    "JPEG": "JPEG",
    "JPG": "JPEG",
    "IMAGE/JPEG": "JPEG",
    "PNG": "PNG",
    "IMAGE/PNG": "PNG",
}


class XmpError(ImageError):
    """XMP cannot be written to this file: unsupported format, malformed container, or a
    packet too large."""

    default_hint = "XMP hints can be written to complete JPEG and PNG files"


def write_xmp(data: bytes, fmt: str, packet: str) -> bytes:
    """Return a copy of a JPEG or PNG file with ``packet`` as its XMP.

    Args:
        data: the file's bytes.
        fmt: ``"JPEG"`` or ``"PNG"`` (or the MIME type ``image/jpeg`` / ``image/png``).
        packet: the XMP packet text (UTF-8 encoded into the file).

    Raises:
        XmpError: another format, a malformed file, or (JPEG) a packet over 65502 bytes.
    """
    kind = _FORMATS.get(fmt.upper())
    body = packet.encode("utf-8")
    if kind == "JPEG":
        return _write_jpeg(bytes(data), body)
    if kind == "PNG":
        return _write_png(bytes(data), body)
    raise XmpError(f"cannot write XMP to {fmt[:20]!r} files (JPEG and PNG only)")


def read_xmp(data: bytes) -> str | None:
    """Return the standard XMP packet of a JPEG, PNG or WebP file, or None.

    Never raises for malformed input: a file that cannot be walked has no XMP here.
    """
    try:
        if data[:3] == b"\xff\xd8\xff":
            raw = _read_jpeg(data)
        elif data[:8] == PNG_SIGNATURE:
            raw = _read_png(data)
        elif data[:4] == b"RIFF" and data[8:12] == b"WEBP":
            raw = _read_webp(data)
        else:
            return None
    except (XmpError, ValueError, IndexError, struct.error, zlib.error):
        return None
    if raw is None or len(raw) > MAX_READ_PACKET:
        return None
    return raw.decode("utf-8", "replace").lstrip("\ufeff")


def hint_packet(
    record_id: str,
    ledger_url: str | None,
    origin: str,
    remote_manifest_url: str | None = None,
) -> str:
    """Return the XMP packet that points an exported file at its ledger record.

    Args:
        record_id: ``sha256:<hex>`` of the exported record.
        ledger_url: the ledger's base URL (``https://ledger.example``), or None.
        origin: the log origin (``newsroom.example/photos``).
        remote_manifest_url: where the C2PA manifest store is served, for a remote
            (not embedded) manifest: written as ``dcterms:provenance``.

    Raises:
        ProvenanceError: a malformed record id, URL or origin.
    """
    if _RECORD_ID.fullmatch(record_id) is None:
        raise ProvenanceError(f"malformed record id {record_id[:80]!r}")
    for url in (ledger_url, remote_manifest_url):
        if url is not None and _URL.fullmatch(url) is None:
            raise ProvenanceError(f"not an http(s) URL: {url[:80]!r}")
    if not origin or len(origin) > 200 or not origin.isprintable():
        raise ProvenanceError(f"malformed log origin {origin[:80]!r}")
    attrs = [f"provenance:record={quoteattr(record_id)}"]
    if ledger_url is not None:
        attrs.append(f"provenance:ledger={quoteattr(ledger_url)}")
    attrs.append(f"provenance:origin={quoteattr(origin)}")
    if remote_manifest_url is not None:
        attrs.append(f"dcterms:provenance={quoteattr(remote_manifest_url)}")
    props = "\n    ".join(attrs)
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
        f' <rdf:RDF xmlns:rdf="{RDF_NS}">\n'
        '  <rdf:Description rdf:about=""\n'
        + (f'    xmlns:dcterms="{DCTERMS_NS}"\n' if remote_manifest_url is not None else "")
        + f'    xmlns:provenance="{NS}"\n'
        f"    {props}/>\n"
        " </rdf:RDF>\n"
        "</x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    )


def xmp_property(packet: str, namespace: str, name: str) -> str | None:
    """Return the value of a simple XMP property, or None.

    Finds the property as an attribute of an ``rdf:Description`` (``ns:name="value"``), as
    an element with text (``<ns:name>value</ns:name>``) or with an ``rdf:resource``
    attribute. The first occurrence in document order wins. Malformed XML, and any packet
    with a DOCTYPE or ENTITY declaration, give None.
    """
    if "<!DOCTYPE" in packet or "<!ENTITY" in packet or len(packet) > MAX_READ_PACKET:
        return None
    if namespace not in packet:
        return None
    key = f"{{{namespace}}}{name}"
    resource = f"{{{RDF_NS}}}resource"
    try:
        root = ElementTree.fromstring(packet.strip().encode("utf-8"))
    except ElementTree.ParseError:
        return None
    for element in root.iter():
        if key in element.attrib:
            return element.attrib[key].strip()
        if element.tag == key:
            if resource in element.attrib:
                return element.attrib[resource].strip()
            text = "".join(element.itertext()).strip()
            if text:
                return text
    return None


# --- JPEG -----------------------------------------------------------------------------------


def _jpeg_segments(data: bytes) -> tuple[list[tuple[int, int, int]], int]:
    """Walk the marker segments after SOI up to (not including) the first SOS.

    Returns ``[(marker, start, end)]`` (``start`` at the 0xFF of the marker, ``end`` after
    the segment) and the offset of the SOS marker (or of EOI when there is no scan).
    """
    if data[:2] != b"\xff\xd8":
        raise XmpError("not a JPEG file (no SOI marker)")
    segments: list[tuple[int, int, int]] = []
    pos = 2
    size = len(data)
    while True:
        if pos >= size or data[pos] != 0xFF:
            raise XmpError(f"malformed JPEG: no marker at offset {pos}")
        start = pos
        while pos < size and data[pos] == 0xFF:  # fill bytes
            pos += 1
        if pos >= size:
            raise XmpError("truncated JPEG")
        marker = data[pos]
        pos += 1
        if marker in (0xDA, 0xD9):
            return segments, start
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:  # TEM, RSTn: no length
            segments.append((marker, start, pos))
            continue
        if pos + 2 > size:
            raise XmpError("truncated JPEG")
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2 or pos + length > size:
            raise XmpError(f"malformed JPEG: bad segment length at offset {start}")
        pos += length
        segments.append((marker, start, pos))


def _is_xmp_app1(data: bytes, start: int, end: int) -> bool:
    body = data[start + 4 : end]
    return body.startswith((JPEG_XMP_HEADER, JPEG_XMP_EXTENSION_HEADER))


def _write_jpeg(data: bytes, packet: bytes) -> bytes:
    if len(packet) > MAX_JPEG_PACKET:
        raise XmpError(
            f"XMP packet of {len(packet)} bytes does not fit one JPEG segment "
            f"(at most {MAX_JPEG_PACKET})"
        )
    segments, _ = _jpeg_segments(data)
    # Insert after the leading APP0 segments and an Exif APP1 that follows them.
    insert_at = 2
    for marker, start, end in segments:
        if marker == 0xE0 or (marker == 0xE1 and data[start + 4 : start + 10] == b"Exif\x00\x00"):
            insert_at = end
            continue
        break
    payload = JPEG_XMP_HEADER + packet
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    out = bytearray(data[:insert_at])
    out += segment
    copied = insert_at
    for marker, start, end in segments:
        if end <= insert_at:
            continue
        if marker == 0xE1 and _is_xmp_app1(data, start, end):
            out += data[copied:start]
            copied = end
    out += data[copied:]
    return bytes(out)


def _read_jpeg(data: bytes) -> bytes | None:
    segments, _ = _jpeg_segments(data)
    for marker, start, end in segments:
        if marker == 0xE1 and data[start + 4 : end].startswith(JPEG_XMP_HEADER):
            return data[start + 4 + len(JPEG_XMP_HEADER) : end]
    return None


# --- PNG ------------------------------------------------------------------------------------


def _png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """``[(type, start, end)]`` of every chunk up to and including IEND."""
    if data[:8] != PNG_SIGNATURE:
        raise XmpError("not a PNG file")
    chunks: list[tuple[bytes, int, int]] = []
    pos = 8
    size = len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise XmpError(f"malformed PNG: chunk at offset {pos} runs past the end")
        chunks.append((kind, pos, end))
        pos = end
        if kind == b"IEND":
            return chunks
    raise XmpError("truncated PNG: no IEND chunk")


def _is_xmp_itxt(data: bytes, start: int, end: int) -> bool:
    return data[start + 8 : end - 4].startswith(PNG_XMP_KEYWORD + b"\x00")


def _write_png(data: bytes, packet: bytes) -> bytes:
    chunks = _png_chunks(data)
    if not chunks or chunks[0][0] != b"IHDR":
        raise XmpError("malformed PNG: the first chunk is not IHDR")
    body = PNG_XMP_KEYWORD + b"\x00\x00\x00\x00\x00" + packet
    chunk = (
        struct.pack(">I", len(body))
        + b"iTXt"
        + body
        + struct.pack(">I", zlib.crc32(b"iTXt" + body) & 0xFFFFFFFF)
    )
    ihdr_end = chunks[0][2]
    out = bytearray(data[:ihdr_end])
    out += chunk
    copied = ihdr_end
    for kind, start, end in chunks[1:]:
        if kind == b"iTXt" and _is_xmp_itxt(data, start, end):
            out += data[copied:start]
            copied = end
    out += data[copied:]
    return bytes(out)


def _read_png(data: bytes) -> bytes | None:
    for kind, start, end in _png_chunks(data):
        if kind != b"iTXt" or not _is_xmp_itxt(data, start, end):
            continue
        body = data[start + 8 + len(PNG_XMP_KEYWORD) + 1 : end - 4]
        if len(body) < 2:
            return None
        compressed, rest = body[0], body[2:]
        # skip the language tag and the translated keyword (two NUL-terminated strings)
        first = rest.index(b"\x00")
        second = rest.index(b"\x00", first + 1)
        text = rest[second + 1 :]
        if compressed:
            decompressor = zlib.decompressobj()
            text = decompressor.decompress(text, MAX_READ_PACKET + 1)
        return text
    return None


# --- WebP -----------------------------------------------------------------------------------


def _read_webp(data: bytes) -> bytes | None:
    size = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= size:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if pos + 8 + length > size:
            return None
        if kind == b"XMP ":
            return data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)
    return None
