"""Test-time helpers for Content Credentials: PKIs, C2PA-signed files, tampering, a listener.

Everything is generated at test time (no binaries are committed). Third-party tools (a
camera, an AI generator, an editor) are simulated with c2pa-python's Builder and an ES256
key passed through ``Signer.from_info``, the path other tools use (and ours:
:func:`provenance.c2pa.sign_manifest`).
"""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier
from PIL import Image

import provenance.c2pa as pc
import provenance.c2pa_certs as c2pa_certs
from provenance.c2pa_claims import IPTC_SOURCE_TYPE_BASE

IPTC = IPTC_SOURCE_TYPE_BASE
DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
EMAIL_PROTECTION = ObjectIdentifier("1.3.6.1.5.5.7.3.4")


# --- images -----------------------------------------------------------------------------------
def photo_like(width: int = 96, height: int = 64, seed: int = 0) -> Image.Image:
    """A photo-like RGB image: smooth large-scale structure (gradients and a few soft blobs,
    which perceptual hashes see) plus fine texture and noise (which JPEG has to code)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / width, y / height
    channels = []
    for _ in range(3):
        plane = 60 + 90 * (rng.uniform(-1, 1) * u + rng.uniform(-1, 1) * v)
        for _ in range(4):
            cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.08, 0.3)
            plane += rng.uniform(-90, 90) * np.exp(-((u - cx) ** 2 + (v - cy) ** 2) / (2 * r * r))
        plane += 8 * np.sin(x / 3.0 + rng.uniform(0, 6)) * np.cos(y / 4.0)
        channels.append(plane)
    noisy = np.stack(channels, axis=-1) + rng.normal(0, 3, (height, width, 3))
    return Image.fromarray(np.clip(noisy + 40, 0, 255).astype(np.uint8), "RGB")


def jpeg_bytes(img: Image.Image | None = None, *, quality: int = 90, **save: Any) -> bytes:
    buf = io.BytesIO()
    (img or photo_like()).save(buf, "JPEG", quality=quality, **save)
    return buf.getvalue()


def png_bytes(img: Image.Image | None = None) -> bytes:
    buf = io.BytesIO()
    (img or photo_like()).save(buf, "PNG")
    return buf.getvalue()


def sos_offset(jpeg: bytes) -> int:
    """Offset of the first SOS marker (walking segments, not searching)."""
    pos = 2
    while True:
        marker = jpeg[pos + 1]
        if marker == 0xDA:
            return pos
        pos += 2 + int.from_bytes(jpeg[pos + 2 : pos + 4], "big")


def scan_data(jpeg: bytes) -> bytes:
    """The entropy-coded data and everything after it (SOS header onwards)."""
    return jpeg[sos_offset(jpeg) :]


def flip_scan_bit(jpeg: bytes) -> bytes:
    """Flip one bit in the middle of the entropy-coded data, keeping it free of markers."""
    start = sos_offset(jpeg)
    header = int.from_bytes(jpeg[start + 2 : start + 4], "big")
    pos = start + 2 + header + (len(jpeg) - start - header) // 2
    while jpeg[pos] >= 0xFE or jpeg[pos - 1] == 0xFF:
        pos += 1
    out = bytearray(jpeg)
    out[pos] ^= 0x01
    return bytes(out)


def app11_region(jpeg: bytes) -> tuple[int, int]:
    """(start, end) of the run of APP11 segments (the embedded manifest store)."""
    pos, first, last = 2, None, None
    while jpeg[pos + 1] != 0xDA:
        length = int.from_bytes(jpeg[pos + 2 : pos + 4], "big")
        if jpeg[pos + 1] == 0xEB:
            first = pos if first is None else first
            last = pos + 2 + length
        pos += 2 + length
    assert first is not None and last is not None, "no APP11 segment"
    return first, last


def idat_bytes(png: bytes) -> bytes:
    out, pos = b"", 8
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        if png[pos + 4 : pos + 8] == b"IDAT":
            out += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    return out


# --- PKI ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Leaf:
    """A leaf certificate chain (PEM) and its ES256 key (PEM and object)."""

    chain_pem: str
    key_pem: str
    key: c2pa_certs.EcP256Key


def issue_leaf(
    pki: c2pa_certs.Pki, ekus: Sequence[ObjectIdentifier], *, cn: str = "test leaf"
) -> Leaf:
    """Issue an ES256 leaf under ``pki``'s root with the given extended key usages."""
    root_key = serialization.load_pem_private_key(pki.root_key_pem.encode(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey), "issue_leaf needs an ES256 root"
    root = x509.load_pem_x509_certificate(pki.root_cert_pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Conformance Test Org"),
                    x509.NameAttribute(NameOID.COMMON_NAME, cn),
                ]
            )
        )
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, True, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage(list(ekus)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return Leaf(
        cert.public_bytes(serialization.Encoding.PEM).decode(),
        key_pem,
        c2pa_certs.EcP256Key(key),
    )


# --- C2PA files made by "other tools" ---------------------------------------------------------
def created(source_type: str = "digitalCapture") -> list[dict[str, Any]]:
    return [{"action": "c2pa.created", "digitalSourceType": IPTC + source_type}]


def sign_c2pa(
    image: bytes,
    mime: str,
    *,
    chain_pem: str,
    key_pem: str,
    actions: Sequence[dict[str, Any]] | None = None,
    generator: tuple[str, str] = ("SimCam M1", "2.1"),
    ingredients: Sequence[tuple[bytes, str, str, str]] = (),
    assertions: Sequence[dict[str, Any]] = (),
    remote_url: str | None = None,
    no_embed: bool = False,
    label: str | None = None,
) -> tuple[bytes, bytes]:
    """Sign ``image`` as a third-party tool would (ES256 via ``Signer.from_info``).

    Args:
        ingredients: ``(bytes, mime, relationship, label)``; reference them from
            ``actions`` by label.
        assertions: extra assertion definitions.

    Returns:
        ``(signed file, manifest store)``.
    """
    import c2pa  # test-time only

    definition: dict[str, Any] = {
        "title": "asset",
        "format": mime,
        "claim_generator_info": [{"name": generator[0], "version": generator[1]}],
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": list(actions or created())}},
            *assertions,
        ],
    }
    if label is not None:
        definition["label"] = label
    signer = c2pa.Signer.from_info(
        c2pa.C2paSignerInfo(b"es256", chain_pem.encode(), key_pem.encode(), None)
    )
    builder = c2pa.Builder(definition, pc.context(pc.TrustConfig()))
    for data, fmt, relationship, ingredient_label in ingredients:
        builder.add_ingredient(
            {"title": "ingredient", "relationship": relationship, "label": ingredient_label},
            fmt,
            io.BytesIO(data),
        )
    if remote_url is not None:
        builder.set_remote_url(remote_url)
    if no_embed:
        builder.set_no_embed()
    out = io.BytesIO()
    store = builder.sign(signer, mime, io.BytesIO(image), out)
    return out.getvalue(), bytes(store)


def sign_with_definition(
    image: bytes, mime: str, definition: dict[str, Any], signer: c2pa_certs.C2paSigner
) -> bytes:
    """Sign a manifest definition (e.g. from :func:`provenance.c2pa_manifest.build_manifest`)
    as is."""
    data, _ = pc.sign_manifest(definition, mime, image, signer)
    return data


# --- ledger-side inputs -----------------------------------------------------------------------
def bundle_json(record_id: str, origin: str, *, records: int = 3) -> str:
    """A provenance-bundle/v1 document shaped like ``Bundle.dumps()`` output (key order,
    indent, trailing newline), with non-ASCII text, empty lists and small-integer lists: the
    values a CBOR round trip could mangle."""
    recs = []
    for i in range(records):
        statement = {
            "actions": [
                {"action": "c2pa.cropped", "params": {"bottom": 40, "left": 1, "right": 30}},
                {"action": "c2pa.color_adjustments", "params": {"brightness": 1.1, "roi": [0, 1]}},
            ]
            if i
            else [],
            "asset": {"digests": 2, "format": "JPEG", "height": 48, "width": 64},
            "claims": {"caption": "Zürich — façade"} if i == 0 else {},
            "parents": [f"sha256:{i - 1:064x}"] if i else [],
            "time": "2026-11-26T12:00:00Z",
            "type": "edit" if i else "capture",
            "v": 1,
        }
        recs.append(
            {
                "index": i,
                "record": {
                    "sig": "A" * 86 + "==",
                    "signer": "SHA256:" + "k" * 43,
                    "statement": statement,
                },
                "tlog_proof": f"c2sp.org/tlog-proof@v1\nindex {i}\n\n{origin}\n{i + 1}\nroot\n",
            }
        )
    doc = {
        "format": "provenance-bundle/v1",
        "log": {"origin": origin, "vkey": f"{origin}+0a1b2c3d+AQID"},
        "checkpoint": f"{origin}\n{records}\nroot=\n\n— {origin} sig\n",
        "subject": record_id,
        "records": recs,
        "consistency": [],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# --- network ----------------------------------------------------------------------------------
@dataclass
class Listener:
    """A loopback TCP listener that counts the connections it accepts."""

    port: int
    connections: int = 0


@contextmanager
def loopback_listener() -> Iterator[Listener]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.05)
    listener = Listener(port=server.getsockname()[1])
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            listener.connections += 1
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
