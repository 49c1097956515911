"""Byte walks over Content Credentials (C2PA): find a manifest store, cut it up, read a box.

Pure bytes: no ``c2pa`` import, no Pillow, no decoding. This is what keeps a plain file off
the SDK's 56 ms import (:func:`scan` takes microseconds), and what lets ``verify`` take the
offline bundle out of an exported file without the SDK (:func:`assertion_box`).

* **Where the store is** (:func:`scan`, :func:`raw_store`): JPEG APP11 segments carrying a
  JUMBF ``jumb`` box described as the C2PA manifest store (label ``c2pa``), reassembled from
  their ``En``/``Z`` sequence; the PNG ``caBX`` chunk before the first ``IDAT``; the ISO BMFF
  (HEIF, AVIF) top-level ``uuid`` box D8FEC3D6-1B0E-483C-9297-5828877EC481; the WebP
  ``C2PA`` RIFF chunk. The walk stops at the image data (JPEG SOS, PNG IDAT).
* **Inside the store** (JUMBF, ISO/IEC 19566-5): a ``jumb`` superbox labelled ``c2pa``
  holding one superbox per manifest, the *active* manifest last (C2PA 2.2 section 11.1);
  each manifest holds ``c2pa.assertions`` (one superbox per assertion: a ``jumd``
  description with its label, then a ``json`` or ``cbor`` content box), the claim and the
  signature. :func:`manifest_labels`, :func:`active_manifest_store` (the store cut down to
  its active manifest, for ``GET /v1/manifests/{id}?returnActiveManifest=true``) and
  :func:`assertion_box` read it.
* :func:`sniff_mime`: the MIME type c2pa wants, from the file's first bytes.

Nothing here raises on malformed input: a walk that fails finds nothing.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

__all__ = [
    "MAX_STORE_BYTES",
    "JumbfBox",
    "active_manifest_store",
    "assertion_box",
    "manifest_labels",
    "raw_store",
    "scan",
    "sniff_mime",
]

MAX_STORE_BYTES: Final = 64 * 1024 * 1024
#: The JUMBF description type of the C2PA manifest store ("c2pa" + ISO suffix).
STORE_UUID: Final = bytes.fromhex("6332706100110010800000AA00389B71")
BMFF_C2PA_UUID: Final = bytes.fromhex("D8FEC3D61B0E483C92975828877EC481")
_MAX_BOXES: Final = 100_000

_ERRORS = (IndexError, ValueError, struct.error)


# --- where the store is ---------------------------------------------------------------------
def scan(data: bytes) -> bool:
    """Whether the file embeds a C2PA manifest store (a byte walk; never raises).

    JPEG: an APP11 segment with a JUMBF box described as the C2PA store. PNG: a ``caBX``
    chunk before the first ``IDAT``. ISO BMFF: a top-level C2PA ``uuid`` box. WebP: a
    ``C2PA`` chunk. Other formats: False.
    """
    try:
        return _locate(data) is not None
    except _ERRORS:
        return False


def raw_store(data: bytes) -> bytes | None:
    """The embedded manifest store (the JUMBF bytes), or None.

    JPEG: the APP11 segments of the C2PA box reassembled (each continuation segment repeats
    the box header, which is dropped): byte for byte what ``Builder.sign`` returned. PNG:
    the ``caBX`` chunk body. BMFF: the JUMBF after the ``uuid`` box's purpose string and
    Merkle offset. WebP: the ``C2PA`` chunk body. None when there is no store or the
    segments do not reassemble into one complete box.
    """
    try:
        found = _locate(data)
    except _ERRORS:
        return None
    if found is None:
        return None
    kind, spans = found
    if kind != "jpeg":
        start, end = spans[0]
        return bytes(data[start:end])
    return _reassemble_jpeg(data, spans)


def sniff_mime(data: bytes) -> str | None:
    """The image MIME type from the first bytes (what c2pa's Reader wants), or None."""
    head = bytes(data[:32])
    if head[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "image/avif"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"):
            return "image/heic"
        if brand in (b"mif1", b"msf1"):
            return "image/heif"
    return None


def _locate(data: bytes) -> tuple[str, list[tuple[int, int]]] | None:
    if data[:3] == b"\xff\xd8\xff":
        spans = _jpeg_c2pa_segments(data)
        return ("jpeg", spans) if spans else None
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        span = _png_cabx(data)
        return ("png", [span]) if span else None
    if data[4:8] == b"ftyp":
        span = _bmff_c2pa(data)
        return ("bmff", [span]) if span else None
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        span = _webp_c2pa(data)
        return ("webp", [span]) if span else None
    return None


def _jpeg_c2pa_segments(data: bytes) -> list[tuple[int, int]]:
    """APP11 payload spans (after the length field) of the first C2PA JUMBF box, Z order."""
    pos, size = 2, len(data)
    first: dict[bytes, int] = {}  # En -> index in found, for boxes that are the C2PA store
    found: list[tuple[bytes, int, int, int]] = []  # (En, Z, start, end)
    while pos + 4 <= size:
        if data[pos] != 0xFF:
            return []
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xDA, 0xD9):  # start of scan / end of image
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 2 + length
        if length < 2:
            break
        if marker == 0xEB and length >= 10 and data[pos + 4 : pos + 6] == b"JP":
            # a truncated last segment still counts: the file claims a (damaged) store
            en = data[pos + 6 : pos + 8]
            z = int.from_bytes(data[pos + 8 : pos + 12], "big")
            start = pos + 4
            if z == 1 and _is_c2pa_superbox(data, start + 8, end):
                first.setdefault(en, len(found))
            found.append((en, z, start, min(end, size)))
        if end > size:
            break
        pos = end
    if not first:
        return []
    en = min(first, key=first.__getitem__)
    parts = sorted((z, s, e) for e_n, z, s, e in found if e_n == en)
    return [(s, e) for _, s, e in parts]


def _is_c2pa_superbox(data: bytes, box: int, end: int) -> bool:
    """Whether a JUMBF superbox starting at ``box`` is described as the C2PA store."""
    if data[box + 4 : box + 8] != b"jumb":
        return False
    header = 16 if int.from_bytes(data[box : box + 4], "big") == 1 else 8
    jumd = box + header
    if data[jumd + 4 : jumd + 8] != b"jumd" or data[jumd + 8 : jumd + 24] != STORE_UUID:
        return False
    toggles = data[jumd + 24] if jumd + 24 < end else 0
    return not (toggles & 0x02) or data[jumd + 25 : jumd + 30] == b"c2pa\x00"


def _reassemble_jpeg(data: bytes, spans: list[tuple[int, int]]) -> bytes | None:
    parts: list[bytes] = []
    expected_z = 1
    total: int | None = None
    header = 8
    for start, end in spans:
        z = int.from_bytes(data[start + 4 : start + 8], "big")
        if z != expected_z:
            return None
        expected_z += 1
        body = data[start + 8 : end]
        if z == 1:
            lbox = int.from_bytes(body[0:4], "big")
            if lbox == 1:
                header, total = 16, int.from_bytes(body[8:16], "big")
            else:
                total = lbox
            parts.append(body)
        else:
            parts.append(body[header:])
    store = b"".join(parts)
    if total is None or total != len(store) or total > MAX_STORE_BYTES:
        return None
    return store


def _png_cabx(data: bytes) -> tuple[int, int] | None:
    pos, size = 8, len(data)
    while pos + 12 <= size:
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind in (b"IDAT", b"IEND") or pos + 12 + length > size:
            return None
        if kind == b"caBX":
            return pos + 8, pos + 8 + length
        pos += 12 + length
    return None


def _bmff_c2pa(data: bytes) -> tuple[int, int] | None:
    pos, size = 0, len(data)
    for _ in range(10_000):
        if pos + 8 > size:
            return None
        box_size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if box_size == 1:
            box_size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif box_size == 0:
            box_size = size - pos
        if box_size < header or pos + box_size > size:
            return None
        if kind == b"uuid" and data[pos + header : pos + header + 16] == BMFF_C2PA_UUID:
            body = pos + header + 16 + 4  # usertype, then FullBox version and flags
            nul = data.index(b"\x00", body, pos + box_size)
            if data[body:nul] in (b"manifest", b"original", b"update"):
                return nul + 1 + 8, pos + box_size  # skip the 64-bit merkle offset
        pos += box_size
    return None


def _webp_c2pa(data: bytes) -> tuple[int, int] | None:
    size = min(len(data), 8 + int.from_bytes(data[4:8], "little"))
    pos = 12
    while pos + 8 <= size:
        kind = data[pos : pos + 4]
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        if pos + 8 + length > size:
            return None
        if kind == b"C2PA":
            return pos + 8, pos + 8 + length
        pos += 8 + length + (length & 1)
    return None


# --- inside the store (JUMBF) ---------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class JumbfBox:
    """One box: its type, where it starts and ends, where its payload starts, and for a
    ``jumb`` superbox the label of its description box ('' without one)."""

    kind: bytes
    start: int
    end: int
    payload: int
    label: str = ""


def _boxes(data: bytes, pos: int, end: int) -> Iterator[JumbfBox]:
    count = 0
    while pos + 8 <= end and count < _MAX_BOXES:
        count += 1
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        header = 8
        if size == 1:
            size, header = int.from_bytes(data[pos + 8 : pos + 16], "big"), 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        label = _jumb_label(data, pos + header, pos + size) if kind == b"jumb" else ""
        yield JumbfBox(kind, pos, pos + size, pos + header, label)
        pos += size


def _jumb_label(data: bytes, pos: int, end: int) -> str:
    """The label of the ``jumd`` box opening a superbox ('' when absent or malformed)."""
    for box in _boxes(data, pos, end):
        if box.kind != b"jumd" or box.payload + 17 > box.end:
            return ""
        toggles = data[box.payload + 16]
        if not toggles & 0x02:
            return ""
        start = box.payload + 17
        nul = data.find(b"\x00", start, box.end)
        if nul < 0:
            return ""
        return data[start:nul].decode("utf-8", "replace")
    return ""


def _children(data: bytes, box: JumbfBox) -> list[JumbfBox]:
    return [b for b in _boxes(data, box.payload, box.end) if b.kind != b"jumd"]


def _store_box(store: bytes) -> JumbfBox | None:
    try:
        top = next(_boxes(store, 0, len(store)), None)
    except _ERRORS:
        return None
    if top is None or top.kind != b"jumb" or top.label != "c2pa":
        return None
    return top


def manifest_labels(store: bytes) -> list[str]:
    """The labels of the manifests in a store, in store order (the active one last)."""
    top = _store_box(store)
    if top is None:
        return []
    try:
        return [b.label for b in _children(store, top) if b.kind == b"jumb"]
    except _ERRORS:
        return []


def active_manifest_store(store: bytes) -> bytes | None:
    """The store cut down to its active (last) manifest, re-wrapped as a store, or None
    when ``store`` is not a C2PA manifest store. Ingredient manifests are dropped, so a
    validator reading it alone reports their references as missing."""
    top = _store_box(store)
    if top is None:
        return None
    try:
        manifests = [b for b in _children(store, top) if b.kind == b"jumb"]
        description = next(_boxes(store, top.payload, top.end), None)
    except _ERRORS:
        return None
    if not manifests or description is None or description.kind != b"jumd":
        return None
    active = manifests[-1]
    body = store[description.start : description.end] + store[active.start : active.end]
    return struct.pack(">I", 8 + len(body)) + b"jumb" + body


def assertion_box(
    store: bytes, label: re.Pattern[str], *, active_only: bool = True
) -> tuple[str, bytes, bytes] | None:
    """The first assertion whose label matches ``label``, in the active manifest (or, with
    ``active_only=False``, then in the others, newest first): ``(label, content box type,
    content bytes)`` (``json`` or ``cbor``), or None."""
    top = _store_box(store)
    if top is None:
        return None
    try:
        manifests = [b for b in _children(store, top) if b.kind == b"jumb"]
        for manifest in reversed(manifests[-1:] if active_only else manifests):
            found = _assertion_in(store, manifest, label)
            if found is not None:
                return found
    except _ERRORS:
        return None
    return None


def _assertion_in(
    store: bytes, manifest: JumbfBox, label: re.Pattern[str]
) -> tuple[str, bytes, bytes] | None:
    for part in _children(store, manifest):
        if part.kind != b"jumb" or part.label != "c2pa.assertions":
            continue
        for assertion in _children(store, part):
            if assertion.kind != b"jumb" or label.fullmatch(assertion.label) is None:
                continue
            for content in _children(store, assertion):
                if content.kind in (b"json", b"cbor"):
                    return (
                        assertion.label,
                        content.kind,
                        store[content.payload : content.end],
                    )
    return None
