"""Content Credentials both ways: the pre-scan, reading (the ingest matrix), exporting, the
embedded bundle, the operator PKI and signer loading (provenance.c2pa, provenance.c2pa_certs).

Every PKI and C2PA file is generated here; nothing touches the network (a loopback listener
checks that remote manifests are never fetched).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import stat
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import c2pa_fixtures as fx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from PIL import Image

import provenance.c2pa as pc
import provenance.c2pa_certs as c2pa_certs
import provenance.c2pa_claims as claims_mod
import provenance.c2pa_export as export_mod
import provenance.c2pa_ingest as ingest_mod
import provenance.c2pa_manifest as manifest_mod
import provenance.c2pa_scan as scan_mod
import provenance.iscc as iscc
import provenance.xmp as xmp
from provenance.errors import KeyFileError, PassphraseError, ProvenanceError
from provenance.keys import SigningKey, save_signing_key

needs_sdk = pytest.mark.skipif(not pc.available(), reason="c2pa-python is not installed")

ORIGIN = "newsroom.example/photos"
NS = "example.newsroom.provenance"
RID = "sha256:" + "ab" * 32
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]
# IANA urn:c2pa registration (C2PA 2.x section 8.1): UUID, then an optional claim generator
# identifier (<= 32 visible ASCII characters other than ':' and '_'), then optional
# ':v<n>_<reason>'.
URN_C2PA = re.compile(
    r"urn:c2pa:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"(:[\x21-\x39\x3b-\x5e\x60-\x7e]{1,32}(:v[0-9]+_[0-9]+)?)?"
)
LABEL_COMPONENT = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_-]*")


def pid(i: int) -> str:
    return f"sha256:{i:064x}"


# --- fixtures -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def camera_pki() -> c2pa_certs.Pki:
    """A third-party tool's PKI (ES256)."""
    return c2pa_certs.make_operator_pki("SimCam Inc", "camera.example/m1", "es256")


@pytest.fixture(scope="module")
def camera_trust(camera_pki: c2pa_certs.Pki) -> pc.TrustConfig:
    return pc.TrustConfig(trust_anchors=camera_pki.root_cert_pem)


@pytest.fixture(scope="module")
def ledger_key() -> SigningKey:
    return SigningKey.from_seed(bytes(range(32)))


@pytest.fixture(scope="module")
def ops_pki(ledger_key: SigningKey) -> c2pa_certs.Pki:
    """The operator's PKI whose leaf certifies the ledger's own Ed25519 key."""
    return c2pa_certs.make_operator_pki(
        "Newsroom Example", ORIGIN, "ed25519", for_key=ledger_key.public
    )


@pytest.fixture(scope="module")
def ops_signer(ops_pki: c2pa_certs.Pki, ledger_key: SigningKey) -> c2pa_certs.C2paSigner:
    return c2pa_certs.C2paSigner.from_key(ops_pki.chain_pem, ledger_key)


@pytest.fixture(scope="module")
def ops_trust(ops_pki: c2pa_certs.Pki, camera_pki: c2pa_certs.Pki) -> pc.TrustConfig:
    return pc.TrustConfig(
        trust_anchors=camera_pki.root_cert_pem, user_anchors=ops_pki.root_cert_pem
    )


@pytest.fixture(scope="module")
def camera_jpeg(camera_pki: c2pa_certs.Pki) -> bytes:
    if not pc.available():
        pytest.skip("c2pa-python is not installed")
    data, _ = fx.sign_c2pa(
        fx.jpeg_bytes(),
        "image/jpeg",
        chain_pem=camera_pki.chain_pem,
        key_pem=camera_pki.key_pem or "",
    )
    return data


def _sign_tool(pki: c2pa_certs.Pki, image: bytes, mime: str = "image/jpeg", **kw: Any) -> bytes:
    data, _ = fx.sign_c2pa(image, mime, chain_pem=pki.chain_pem, key_pem=pki.key_pem or "", **kw)
    return data


def _export(
    signer: c2pa_certs.C2paSigner, image: bytes, mime: str = "image/jpeg", **kw: Any
) -> export_mod.ExportResult:
    args: dict[str, Any] = {
        "bundle": fx.bundle_json(RID, ORIGIN),
        "record_id": RID,
        "origin": ORIGIN,
        "ledger_url": "https://ledger.example",
        "actions": [],
        "parents": [],
        "source_type": None,
        "signer": signer,
        "title": "web.jpg" if mime == "image/jpeg" else "web.png",
    }
    args.update(kw)
    return export_mod.export_image(image, mime, **args)


# --- import discipline ------------------------------------------------------------------------
def test_importing_the_module_and_reading_a_plain_jpeg_never_imports_c2pa(tmp_path: Path) -> None:
    plain = tmp_path / "plain.jpg"
    plain.write_bytes(fx.jpeg_bytes())
    code = (
        "import sys\n"
        "import provenance, provenance.c2pa as c2pa, provenance.c2pa_ingest as ingest\n"
        "import provenance.c2pa_export, provenance.c2pa_ledger, provenance.c2pa_scan as scan\n"
        "assert 'c2pa' not in sys.modules, 'importing our modules imported c2pa'\n"
        f"data = open({str(plain)!r}, 'rb').read()\n"
        "assert scan.scan(data) is False\n"
        "assert c2pa.read(data, 'image/jpeg', c2pa.TrustConfig()) is None\n"
        "assert ingest.embedded_bundle_text(data) is None\n"
        "assert ingest.ingest_claims(data, policy='require-valid', trust=c2pa.TrustConfig())"
        " == ingest.C2paIngest()\n"
        "assert provenance.credentials_note(data, c2pa.TrustConfig()) is None\n"
        "assert 'c2pa' not in sys.modules, 'reading a plain JPEG imported c2pa'\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_only_this_module_imports_c2pa_and_only_lazily() -> None:
    import ast

    for path in (REPO / "provenance").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            if any(n == "c2pa" or n.startswith("c2pa.") for n in names):
                assert path == REPO / "provenance" / "c2pa.py", path
    top = ast.parse((REPO / "provenance" / "c2pa.py").read_text()).body
    for node in top:
        if isinstance(node, ast.Import):
            assert all(a.name != "c2pa" for a in node.names)


def test_missing_sdk_raises_a_specific_error(
    monkeypatch: pytest.MonkeyPatch, camera_jpeg: bytes
) -> None:
    monkeypatch.setitem(sys.modules, "c2pa", None)  # makes `import c2pa` fail
    with pytest.raises(pc.C2paUnavailable) as info:
        pc.read(camera_jpeg, "image/jpeg", pc.TrustConfig())
    assert isinstance(info.value, ProvenanceError)
    assert "reading Content Credentials skipped" in str(info.value)
    assert "pip install" in str(info.value)
    assert "c2pa-python==0.38.1" in (info.value.hint or "")
    # a plain file needs no SDK at all
    assert pc.read(fx.jpeg_bytes(), "image/jpeg", pc.TrustConfig()) is None


# --- pre-scan and raw store -------------------------------------------------------------------
@needs_sdk
def test_scan_and_raw_store_every_embedding(camera_pki: c2pa_certs.Pki) -> None:
    img = fx.photo_like(48, 32)
    cases = [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]
    try:
        Image.new("RGB", (8, 8)).save(io.BytesIO(), "AVIF")
        cases.append(("AVIF", "image/avif"))
    except (KeyError, OSError):
        pass
    for fmt, mime in cases:
        buf = io.BytesIO()
        img.save(buf, fmt)
        plain = buf.getvalue()
        assert not scan_mod.scan(plain), fmt
        assert scan_mod.raw_store(plain) is None, fmt
        signed, store = fx.sign_c2pa(
            plain, mime, chain_pem=camera_pki.chain_pem, key_pem=camera_pki.key_pem or ""
        )
        assert scan_mod.scan(signed), fmt
        assert scan_mod.raw_store(signed) == store, fmt  # byte for byte what Builder.sign returned


@needs_sdk
def test_jpeg_store_split_over_several_app11_segments_reassembles(
    camera_pki: c2pa_certs.Pki,
) -> None:
    big = {"label": "org.example.padding", "data": {"text": "x" * 150_000}}
    signed, store = fx.sign_c2pa(
        fx.jpeg_bytes(),
        "image/jpeg",
        chain_pem=camera_pki.chain_pem,
        key_pem=camera_pki.key_pem or "",
        assertions=[big],
    )
    start, end = fx.app11_region(signed)
    assert end - start > 2 * 65535  # really split over three segments
    assert scan_mod.raw_store(signed) == store


def test_scan_ignores_marker_lookalikes_in_image_data() -> None:
    # 'caBX', 'JP', 'jumb' and 'c2pa' inside a COM segment and after SOS are not a store
    fake = b"JP\x00\x01\x00\x00\x00\x01\x00\x00\x00\x30jumb\x00\x00\x00\x1ejumdc2pa"
    jpeg = fx.jpeg_bytes(comment=fake)
    tail = jpeg[:-2] + fake + b"\xff\xd9"
    assert not scan_mod.scan(jpeg) and not scan_mod.scan(tail)
    png = fx.png_bytes()
    late = png[:-12] + b"\x00\x00\x00\x04caBXabcd\x00\x00\x00\x00" + png[-12:]  # after IDAT
    assert not scan_mod.scan(late)
    for junk in (b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n\x00", b"RIFF\x00\x00", os.urandom(64)):
        assert scan_mod.scan(junk) is False
        assert scan_mod.raw_store(junk) is None


# --- reading: the ingest matrix ---------------------------------------------------------------
@needs_sdk
def test_trusted_with_the_root_and_valid_untrusted_without(
    camera_jpeg: bytes, camera_trust: pc.TrustConfig, camera_pki: c2pa_certs.Pki
) -> None:
    trusted = pc.read(camera_jpeg, "image/jpeg", camera_trust)
    assert trusted is not None
    c = trusted.claims
    assert c["c2pa.state"] == "Trusted"
    assert "c2pa.failures" not in c and "c2pa.ingredient_failures" not in c
    assert URN_C2PA.fullmatch(c["c2pa.manifest"])
    assert (
        c["c2pa.store"]
        == "sha256:" + hashlib.sha256(scan_mod.raw_store(camera_jpeg) or b"").hexdigest()
    )
    assert c["c2pa.trust"] == camera_trust.fingerprint
    assert c["c2pa.trust"].startswith("sha256:")
    assert c["c2pa.generator"] == "SimCam M1 2.1"
    assert c["c2pa.signer"] == "CN=camera.example/m1 C2PA export signer,O=SimCam Inc,C=XX"
    assert c["c2pa.signer_issuer"] == "CN=SimCam Inc C2PA root CA,O=SimCam Inc,C=XX"
    assert c["c2pa.source_type"] == "digitalCapture"
    assert c["c2pa.actions"] == "c2pa.created"
    assert c["c2pa.sdk"] == "c2pa-rs/0.91.3"
    assert "c2pa.ai" not in c and "c2pa.signed_at" not in c  # no TSA offline
    assert list(c) == [k for k in claims_mod.CLAIM_ORDER if k in c]
    assert trusted.summary() == "Trusted — SimCam M1 2.1, signed by SimCam Inc; digital capture"

    untrusted = pc.read(camera_jpeg, "image/jpeg", pc.TrustConfig())
    assert untrusted is not None
    assert untrusted.claims["c2pa.state"] == "Valid"
    assert untrusted.claims["c2pa.failures"] == "signingCredential.untrusted"
    assert untrusted.claims["c2pa.trust"] == "none"
    assert untrusted.summary().startswith(
        "Valid, signer not in your trust list (CN=camera.example/m1 C2PA export signer,"
    )


@needs_sdk
def test_trust_config_fingerprint_and_files(tmp_path: Path, camera_pki: c2pa_certs.Pki) -> None:
    anchors = tmp_path / "anchors.pem"
    anchors.write_text(camera_pki.root_cert_pem)
    trust = pc.TrustConfig.from_files([anchors])
    digest = hashlib.sha256(anchors.read_bytes()).hexdigest()
    assert trust.fingerprint == f"sha256:{digest}"  # equals sha256sum of the one file
    assert pc.TrustConfig().fingerprint == "none"
    assert pc.context(trust) is pc.context(pc.TrustConfig.from_files([anchors]))  # cached
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(pc.ContentCredentialsError, match="no PEM certificate"):
        pc.TrustConfig.from_files([bad])
    with pytest.raises(pc.ContentCredentialsError, match="cannot read"):
        pc.TrustConfig.from_files([tmp_path / "missing.pem"])
    settings = pc.settings(trust)
    assert settings["verify"] == {"remote_manifest_fetch": False, "ocsp_fetch": False}
    assert settings["trust"]["trust_config"] == pc.EKU_TRUST_CONFIG
    assert settings["builder"] == {"thumbnail": {"enabled": False}}


@needs_sdk
def test_flipped_scan_bit_is_invalid_with_a_data_hash_mismatch(
    camera_jpeg: bytes, camera_trust: pc.TrustConfig
) -> None:
    reading = pc.read(fx.flip_scan_bit(camera_jpeg), "image/jpeg", camera_trust)
    assert reading is not None
    assert reading.claims["c2pa.state"] == "Invalid"
    assert "assertion.dataHash.mismatch" in reading.claims["c2pa.failures"].split(",")
    assert reading.summary().startswith("Invalid (assertion.dataHash.mismatch")


@needs_sdk
def test_ai_generated_is_flagged(camera_pki: c2pa_certs.Pki) -> None:
    data = _sign_tool(
        camera_pki,
        fx.jpeg_bytes(),
        actions=[*fx.created("trainedAlgorithmicMedia"), {"action": "c2pa.converted"}],
        generator=("ImageGen", "3"),
    )
    reading = pc.read(data, "image/jpeg", pc.TrustConfig())
    assert reading is not None
    assert reading.claims["c2pa.ai"] == "true"
    assert reading.claims["c2pa.source_type"] == "trainedAlgorithmicMedia"
    assert reading.claims["c2pa.actions"] == "c2pa.created,c2pa.converted"
    assert reading.summary() == (
        "Valid, signer not in your trust list (CN=camera.example/m1 C2PA export signer,"
        "O=SimCam Inc,C=XX) — ImageGen 3; AI-generated (trainedAlgorithmicMedia)"
    )


@needs_sdk
def test_parent_chain_reads_clean_and_a_tampered_parent_shows(
    camera_jpeg: bytes, camera_pki: c2pa_certs.Pki, camera_trust: pc.TrustConfig
) -> None:
    opened = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["parent"]}}]
    child = _sign_tool(
        camera_pki,
        fx.jpeg_bytes(fx.photo_like(seed=3)),
        actions=[*opened, {"action": "c2pa.cropped"}],
        ingredients=[(camera_jpeg, "image/jpeg", "parentOf", "parent")],
        generator=("Editor", "1.0"),
    )
    reading = pc.read(child, "image/jpeg", camera_trust)
    assert reading is not None
    assert reading.claims["c2pa.state"] == "Trusted"
    # the ingredient's recorded 'untrusted' (written without anchors) is superseded
    assert "c2pa.ingredient_failures" not in reading.claims
    assert reading.claims["c2pa.actions"] == "c2pa.opened,c2pa.cropped"
    assert reading.claims["c2pa.source_type"] == "digitalCapture"  # from the parent

    tampered_child = _sign_tool(
        camera_pki,
        fx.jpeg_bytes(fx.photo_like(seed=3)),
        actions=opened,
        ingredients=[(fx.flip_scan_bit(camera_jpeg), "image/jpeg", "parentOf", "parent")],
    )
    reading = pc.read(tampered_child, "image/jpeg", camera_trust)
    assert reading is not None
    assert reading.claims["c2pa.state"] == "Trusted"  # C2PA keeps the child Trusted ...
    assert (
        reading.claims["c2pa.ingredient_failures"] == "assertion.dataHash.mismatch"
    )  # ...we don't
    assert "ingredient problems: assertion.dataHash.mismatch" in reading.summary()


@needs_sdk
def test_remote_only_manifest_is_never_fetched(camera_pki: c2pa_certs.Pki) -> None:
    with fx.loopback_listener() as listener:
        url = f"http://127.0.0.1:{listener.port}/internal/secret.c2pa"
        data = _sign_tool(camera_pki, fx.jpeg_bytes(), remote_url=url, no_embed=True)
        assert not scan_mod.scan(data)
        assert pc.read(data, "image/jpeg", pc.TrustConfig()) is None  # nothing embedded
        found = ingest_mod.ingest_claims(data, policy="record", trust=pc.TrustConfig())
        assert found.claims == {
            "c2pa.state": "remote",
            "c2pa.trust": "none",
            "c2pa.remote": url,
        }
        assert found.summary == f"remote manifest, not fetched ({url})"
        with pytest.raises(pc.InvalidCredentialsError, match="remote"):
            ingest_mod.ingest_claims(data, policy="require-valid", trust=pc.TrustConfig())
        # the SDK itself, asked to read it with our settings, does not fetch either
        import c2pa

        with pytest.raises(c2pa.C2paError, match="Remote"):
            c2pa.Reader("image/jpeg", io.BytesIO(data), context=pc.context(pc.TrustConfig()))
        # the SSRF shape from the research notes: a plain JPEG whose XMP names a URL
        packet = xmp.hint_packet(RID, None, ORIGIN, remote_manifest_url=url)
        hinted = xmp.write_xmp(fx.jpeg_bytes(), "JPEG", packet)
        found = ingest_mod.ingest_claims(hinted, policy="record", trust=pc.TrustConfig())
        assert found.claims["c2pa.state"] == "remote"
        assert listener.connections == 0


@needs_sdk
def test_conformance_leaf_reads_trusted_only_because_trust_config_is_set(
    camera_pki: c2pa_certs.Pki,
) -> None:
    """EKU regression guard: c2pa-rs 0.91.3 without trust.trust_config accepts only
    emailProtection leaves; a c2pa-kp-claimSigning + documentSigning leaf (the conformance
    program's profile) must read Trusted through our context."""
    import c2pa

    leaf = fx.issue_leaf(camera_pki, [c2pa_certs.C2PA_CLAIM_SIGNING_EKU, fx.DOCUMENT_SIGNING])
    data, _ = fx.sign_c2pa(
        fx.jpeg_bytes(), "image/jpeg", chain_pem=leaf.chain_pem, key_pem=leaf.key_pem
    )
    trust = pc.TrustConfig(trust_anchors=camera_pki.root_cert_pem)
    reading = pc.read(data, "image/jpeg", trust)
    assert reading is not None and reading.claims["c2pa.state"] == "Trusted", reading.claims
    bare = c2pa.Context.from_dict(
        {
            "verify": {"remote_manifest_fetch": False},
            "trust": {"trust_anchors": camera_pki.root_cert_pem},
        }
    )
    with c2pa.Reader("image/jpeg", io.BytesIO(data), context=bare) as reader:
        assert reader.get_validation_state() == "Invalid"  # the quirk the setting fixes


@needs_sdk
def test_mutated_manifest_stores_never_crash(
    camera_jpeg: bytes, camera_pki: c2pa_certs.Pki, camera_trust: pc.TrustConfig
) -> None:
    # a two-manifest store (parent as ingredient) gives more structure to damage
    target = _sign_tool(
        camera_pki,
        fx.jpeg_bytes(fx.photo_like(seed=5)),
        actions=[{"action": "c2pa.opened", "parameters": {"ingredientIds": ["p"]}}],
        ingredients=[(camera_jpeg, "image/jpeg", "parentOf", "p")],
    )
    start, end = fx.app11_region(target)
    states: dict[str, int] = {}
    for seed in range(200):
        rng = random.Random(seed)
        data = bytearray(target)
        kind = seed % 4
        pos = rng.randrange(start + 4, end)
        if kind == 0:
            data[pos] ^= 1 << rng.randrange(8)
        elif kind == 1:
            data[pos : pos + 8] = bytes(b ^ 0xFF for b in data[pos : pos + 8])
        elif kind == 2:
            data[pos : pos + 16] = bytes(16)
        else:
            del data[pos:]
        mutated = bytes(data)
        reading = pc.read(mutated, "image/jpeg", camera_trust)
        if reading is None:
            assert not scan_mod.scan(mutated)  # the damage hid the store from the pre-scan
            states["none"] = states.get("none", 0) + 1
            continue
        state = reading.claims["c2pa.state"]
        assert state in ("Trusted", "Valid", "Invalid", "error"), reading.claims
        if state == "error":
            assert reading.claims["c2pa.error"]
        assert len(reading.claims) <= 16
        assert all(len(v) <= 4096 for v in reading.claims.values())
        reading.summary()
        states[state] = states.get(state, 0) + 1
    # most damage is detected; flips in unsigned bytes (zero padding, JUMBF toggles) are not
    assert states.get("Invalid", 0) > 20 and states.get("error", 0) > 20, states
    assert states.get("Invalid", 0) + states.get("error", 0) > 120, states


@needs_sdk
def test_xmp_digital_source_type_for_files_without_c2pa() -> None:
    packet = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'Iptc4xmpExt:DigitalSourceType="{fx.IPTC}trainedAlgorithmicMedia"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    data = xmp.write_xmp(fx.jpeg_bytes(), "JPEG", packet)
    found = ingest_mod.ingest_claims(data, policy="record", trust=pc.TrustConfig())
    assert found.claims == {"c2pa.xmp_source_type": "trainedAlgorithmicMedia"}
    assert found.summary == (
        "no Content Credentials; XMP declares digital source type trainedAlgorithmicMedia "
        "(AI-generated)"
    )
    assert pc.read(data, "image/jpeg", pc.TrustConfig()) is None  # no C2PA claims
    plain = ingest_mod.ingest_claims(fx.jpeg_bytes(), policy="record", trust=pc.TrustConfig())
    assert plain == ingest_mod.C2paIngest()


def test_summaries_from_stored_claims() -> None:
    assert claims_mod.summarize(
        {"c2pa.state": "error", "c2pa.error": "Other: prerelease content detected"}
    ) == ("unreadable Content Credentials (Other: prerelease content detected)")
    leica = {
        "c2pa.state": "Trusted",
        "c2pa.generator": "Leica M11-P 2.0.2",
        "c2pa.signer": "CN=Leica Camera AG Signer,O=Leica Camera AG,C=DE",
        "c2pa.source_type": "digitalCapture",
    }
    assert claims_mod.summarize(leica) == (
        "Trusted — Leica M11-P 2.0.2, signed by Leica Camera AG; digital capture"
    )
    openai = {
        "c2pa.state": "Valid",
        "c2pa.failures": "signingCredential.untrusted",
        "c2pa.signer": "CN=Truepic Lens CLI in Sora,O=OpenAI",
        "c2pa.source_type": "trainedAlgorithmicMedia",
        "c2pa.ai": "true",
    }
    assert claims_mod.summarize(openai) == (
        "Valid, signer not in your trust list (CN=Truepic Lens CLI in Sora,O=OpenAI) "
        "— AI-generated (trainedAlgorithmicMedia)"
    )
    escaped = {
        "c2pa.state": "Trusted",
        "c2pa.signer": claims_mod.rfc4514([("CN", "a"), ("O", "Acme, Inc.")]) or "",
    }
    assert escaped["c2pa.signer"] == "CN=a,O=Acme\\, Inc."
    assert claims_mod.summarize(escaped) == "Trusted — signed by Acme, Inc."


# --- export -----------------------------------------------------------------------------------
@needs_sdk
def test_export_is_valid_untrusted_without_anchors_and_trusted_with_the_root(
    ops_signer: c2pa_certs.C2paSigner, ops_pki: c2pa_certs.Pki, corpus: Path
) -> None:
    image = (corpus / "skimage__rocket.jpg").read_bytes()
    res = _export(
        ops_signer,
        image,
        parents=[manifest_mod.ParentRef(pid(1), "DSC_0001.JPG", "image/jpeg")],
        actions=[
            {"action": "c2pa.cropped", "params": {"left": 1, "top": 2, "right": 90, "bottom": 80}}
        ],
    )
    plain = pc.read(res.data, "image/jpeg", pc.TrustConfig())
    assert plain is not None
    assert plain.claims["c2pa.state"] == "Valid"
    assert plain.claims["c2pa.failures"] == "signingCredential.untrusted"
    trusted = pc.read(res.data, "image/jpeg", pc.TrustConfig(user_anchors=ops_pki.root_cert_pem))
    assert trusted is not None
    assert trusted.claims["c2pa.state"] == "Trusted", trusted.claims
    assert trusted.claims["c2pa.manifest"] == res.manifest_id
    assert trusted.claims["c2pa.actions"] == "c2pa.opened,c2pa.cropped"
    assert trusted.claims["c2pa.generator"].startswith("provenance ")
    assert trusted.claims["c2pa.signer"] == (
        "CN=newsroom.example/photos C2PA export signer,O=Newsroom Example,C=XX"
    )
    assert scan_mod.raw_store(res.data) == res.store
    # pixels and scan data untouched; growth small without a carried parent chain
    assert fx.scan_data(res.data) == fx.scan_data(image)
    # Ed25519 through from_info: no 10 KB signature reserve (from_callback would add one)
    assert len(res.data) - len(image) < 10_000
    assert res.growth == len(res.data) - len(image)
    # the soft binding is the ISCC of the pixels, registered algorithm io.iscc.v0
    assert res.iscc[:2] == iscc.IMAGE_HEADER and len(res.iscc) == 34
    assert iscc.iscc_distance(res.iscc, iscc.image_iscc(image)) == 0


@needs_sdk
def test_export_with_an_es256_operator_key(tmp_path: Path) -> None:
    pki = c2pa_certs.make_operator_pki("Agency", "photos.agency.example/log", "es256")
    c2pa_certs.write_pki(pki, tmp_path / "pki")
    signer = c2pa_certs.load_signer(tmp_path / "pki" / "chain.pem", tmp_path / "pki" / "signer.key")
    assert signer.alg == "es256"
    res = export_mod.export_image(
        fx.png_bytes(),
        "image/png",
        bundle=fx.bundle_json(RID, "photos.agency.example/log"),
        record_id=RID,
        origin="photos.agency.example/log",
        ledger_url=None,
        actions=[],
        parents=[],
        source_type="digitalCapture",
        signer=signer,
        title="a.png",
    )
    trust = pc.TrustConfig.from_files([tmp_path / "pki" / "root.pem"])
    reading = pc.read(res.data, "image/png", trust)
    assert reading is not None and reading.claims["c2pa.state"] == "Trusted", reading.claims
    assert reading.claims["c2pa.source_type"] == "digitalCapture"
    assert fx.idat_bytes(res.data) == fx.idat_bytes(fx.png_bytes())
    assert len(res.data) - len(fx.png_bytes()) < 10_000  # from_info: no 10 KB reserve
    bundle = ingest_mod.embedded_bundle(res.data)
    assert bundle is not None and bundle.label == "example.agency.photos.provenance.bundle"


@needs_sdk
def test_export_xmp_hint_is_readable(ops_signer: c2pa_certs.C2paSigner) -> None:
    pytest.importorskip("defusedxml")  # Pillow's getxmp() needs it
    res = _export(ops_signer, fx.jpeg_bytes())
    packet = xmp.read_xmp(res.data)
    assert packet is not None
    assert xmp.xmp_property(packet, xmp.NS, "record") == RID
    assert xmp.xmp_property(packet, xmp.NS, "origin") == ORIGIN
    assert xmp.xmp_property(packet, xmp.NS, "ledger") == "https://ledger.example"
    with Image.open(io.BytesIO(res.data)) as img:
        described = img.getxmp()["xmpmeta"]["RDF"]["Description"]
    assert described["record"] == RID and described["origin"] == ORIGIN


@needs_sdk
def test_xmp_written_after_signing_breaks_the_hard_binding(
    ops_signer: c2pa_certs.C2paSigner, ops_pki: c2pa_certs.Pki
) -> None:
    """The order guard: export writes XMP first; afterwards it is a data hash mismatch."""
    trust = pc.TrustConfig(user_anchors=ops_pki.root_cert_pem)
    for mime, image in (("image/jpeg", fx.jpeg_bytes()), ("image/png", fx.png_bytes())):
        res = _export(ops_signer, image, mime)
        reading = pc.read(res.data, mime, trust)
        assert reading is not None and reading.claims["c2pa.state"] == "Trusted"
        late = xmp.write_xmp(res.data, mime, xmp.hint_packet(pid(9), None, ORIGIN))
        reading = pc.read(late, mime, trust)
        assert reading is not None
        assert reading.claims["c2pa.state"] == "Invalid"
        assert "assertion.dataHash.mismatch" in reading.claims["c2pa.failures"]


@needs_sdk
def test_manifest_label_follows_the_spec(ops_signer: c2pa_certs.C2paSigner) -> None:
    res = _export(ops_signer, fx.jpeg_bytes())
    assert URN_C2PA.fullmatch(res.manifest_id)
    assert manifest_mod.MANIFEST_LABEL.fullmatch(res.manifest_id)
    urn_uuid = uuid.UUID(res.manifest_id.split(":")[2])
    assert urn_uuid.version == 4
    assert res.manifest_id.endswith(":provenance")
    for bad in (
        "urn:uuid:" + str(urn_uuid),
        f"urn:c2pa:{urn_uuid}:a:b",
        f"urn:c2pa:{urn_uuid}:x_y",
    ):
        assert not manifest_mod.MANIFEST_LABEL.fullmatch(bad)
    assert manifest_mod.MANIFEST_LABEL.fullmatch(f"urn:c2pa:{urn_uuid}:acme:v2_1")


def test_assertion_namespace() -> None:
    assert manifest_mod.assertion_namespace("newsroom.example/photos") == NS
    assert (
        manifest_mod.assertion_namespace("provenance.local/ledger-1a2b")
        == "local.provenance.provenance"
    )
    assert (
        manifest_mod.assertion_namespace("test.provenance.local/log")
        == "local.provenance.test.provenance"
    )
    assert (
        manifest_mod.assertion_namespace("Photos.Agency.Example./x")
        == "example.agency.photos.provenance"
    )
    assert (
        manifest_mod.assertion_namespace("bücher.example/log") == "example.xn--bcher-kva.provenance"
    )
    for origin in (
        "localhost/log",
        "ledger.example:8443/log",
        "10.0.0.1/log",
        "[::1]/log",
        "/log",
        "a_b__c.example/log",
        "-bad.example/log",
        "user@host.example/log",
    ):
        with pytest.raises(pc.ContentCredentialsError):
            manifest_mod.assertion_namespace(origin)
    for component in manifest_mod.assertion_namespace("a-1.b2.example/log").split("."):
        assert LABEL_COMPONENT.fullmatch(component)


# --- actions mapping (golden) ---------------------------------------------------------------
AGENT = manifest_mod.generator_info()


def _build(**kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "manifest_id": "urn:c2pa:00000000-0000-4000-8000-000000000000:provenance",
        "title": "out.jpg",
        "mime": "image/jpeg",
        "record_id": RID,
        "namespace": NS,
        "actions": [],
        "parents": [],
        "source_type": None,
        "iscc_unit": iscc.IMAGE_HEADER + bytes(32),
        "bundle": {"format": "provenance-bundle/v1"},
        "ledger_url": "https://ledger.example",
    }
    args.update(kw)
    definition, archives = manifest_mod.build_manifest(**args)
    assert archives == []
    return definition


def _actions_of(definition: dict[str, Any]) -> dict[str, Any]:
    (assertion,) = [a for a in definition["assertions"] if a["label"] == "c2pa.actions.v2"]
    assert assertion["created"] is True
    data: dict[str, Any] = assertion["data"]
    return data


PARENT = manifest_mod.ParentRef(pid(1), "DSC_0001.JPG", "image/jpeg")
OPENED = {"action": "c2pa.opened", "parameters": {"ingredientIds": [pid(1)]}}
PARENT_INGREDIENT = {
    "title": "DSC_0001.JPG",
    "format": "image/jpeg",
    "relationship": "parentOf",
    "label": pid(1),
    "instance_id": pid(1),
    "description": "parent record in the provenance ledger",
    "informational_URI": f"https://ledger.example/v1/records/{pid(1)}",
}


@pytest.mark.parametrize(
    ("record_actions", "expected"),
    [
        pytest.param(
            [
                {
                    "action": "c2pa.cropped",
                    "params": {"left": 50, "top": 50, "right": 450, "bottom": 550},
                }
            ],
            [
                {
                    "action": "c2pa.cropped",
                    "softwareAgent": AGENT,
                    "parameters": {
                        f"{NS}.params": {"left": 50, "top": 50, "right": 450, "bottom": 550}
                    },
                }
            ],
            id="crop",
        ),
        pytest.param(
            [
                {
                    "action": "c2pa.resized",
                    "params": {"width": 200, "height": 250, "filter": "lanczos"},
                }
            ],
            [
                {
                    "action": "c2pa.resized",
                    "softwareAgent": AGENT,
                    "parameters": {
                        f"{NS}.params": {"width": 200, "height": 250, "filter": "lanczos"}
                    },
                }
            ],
            id="resize",
        ),
        pytest.param(
            [
                {"action": "c2pa.orientation", "params": {"rotate": 90}},
                {"action": "c2pa.orientation", "params": {"flip": "horizontal"}},
            ],
            [
                {
                    "action": "c2pa.orientation",
                    "softwareAgent": AGENT,
                    "parameters": {f"{NS}.params": {"rotate": 90}},
                },
                {
                    "action": "c2pa.orientation",
                    "softwareAgent": AGENT,
                    "parameters": {f"{NS}.params": {"flip": "horizontal"}},
                },
            ],
            id="rotate-flip",
        ),
        pytest.param(
            [{"action": "c2pa.color_adjustments", "params": {"brightness": "1.1"}}],
            [
                {
                    "action": "c2pa.adjustedColor",
                    "softwareAgent": AGENT,
                    "parameters": {
                        f"{NS}.params": {"brightness": "1.1"},
                        f"{NS}.action": "c2pa.color_adjustments",
                    },
                }
            ],
            id="declared-photometric",
        ),
    ],
)
def test_edit_actions_golden(
    record_actions: list[dict[str, Any]], expected: list[dict[str, Any]]
) -> None:
    definition = _build(actions=record_actions, parents=[PARENT])
    assert _actions_of(definition) == {"actions": [OPENED, *expected]}
    assert definition["ingredients"] == [PARENT_INGREDIENT]


def test_multi_parent_golden() -> None:
    parents = [
        PARENT,
        manifest_mod.ParentRef(
            pid(2), "logo.png", "image/png", ledger_url="https://other.example/"
        ),
    ]
    definition = _build(parents=parents, actions=[{"action": "c2pa.placed", "params": {}}])
    assert _actions_of(definition) == {
        "actions": [
            OPENED,
            {"action": "c2pa.placed", "parameters": {"ingredientIds": [pid(2)]}},
            {"action": "c2pa.placed", "softwareAgent": AGENT},
        ]
    }
    assert definition["ingredients"] == [
        PARENT_INGREDIENT,
        {
            "title": "logo.png",
            "format": "image/png",
            "relationship": "componentOf",
            "label": pid(2),
            "instance_id": pid(2),
            "description": "component record in the provenance ledger",
            "informational_URI": f"https://other.example/v1/records/{pid(2)}",
        },
    ]
    assert sum(i["relationship"] == "parentOf" for i in definition["ingredients"]) == 1


def test_capture_golden() -> None:
    known = _build(source_type="digitalCapture")
    assert _actions_of(known) == {
        "actions": [{"action": "c2pa.created", "digitalSourceType": fx.IPTC + "digitalCapture"}]
    }
    assert "ingredients" not in known
    uri = _build(source_type=fx.IPTC + "trainedAlgorithmicMedia")
    assert (
        _actions_of(uri)["actions"][0]["digitalSourceType"] == fx.IPTC + "trainedAlgorithmicMedia"
    )
    unknown = _build(ledger_url=None)
    assert _actions_of(unknown) == {
        "allActionsIncluded": True,
        "actions": [{"action": "c2pa.opened", "parameters": {"ingredientIds": [RID]}}],
    }
    assert unknown["ingredients"] == [
        {
            "title": "out.jpg",
            "format": "image/jpeg",
            "relationship": "parentOf",
            "label": RID,
            "instance_id": RID,
            "description": f"the asset as logged in record {RID}",
        }
    ]
    assert "digitalCapture" not in json.dumps(unknown)  # never invented
    with pytest.raises(pc.ContentCredentialsError):
        _build(source_type="not a term!")


def test_manifest_assertions_golden() -> None:
    definition = _build(
        source_type="digitalCapture", bundle={"format": "provenance-bundle/v1", "x": [1, 2]}
    )
    assert definition["label"] == "urn:c2pa:00000000-0000-4000-8000-000000000000:provenance"
    assert definition["claim_generator_info"] == [AGENT]
    assert definition["assertions"][1:] == [
        {
            "label": "c2pa.soft-binding",
            "created": True,
            "data": {
                "alg": "io.iscc.v0",
                "blocks": [{"scope": {}, "value": [0x21, 0x07] + [0] * 32}],
            },
        },
        {
            "label": f"{NS}.bundle",
            "kind": "Json",
            "created": True,
            "data": {"format": "provenance-bundle/v1", "x": [1, 2]},
        },
    ]
    with pytest.raises(pc.ContentCredentialsError, match="twice"):
        _build(parents=[PARENT, PARENT])


@needs_sdk
@pytest.mark.parametrize(
    ("parents", "actions", "source_type", "expected_actions"),
    [
        (
            [1],
            [{"action": "c2pa.cropped", "params": {"left": 1}}],
            None,
            "c2pa.opened,c2pa.cropped",
        ),
        (
            [1],
            [{"action": "c2pa.orientation", "params": {"rotate": 90}}],
            None,
            "c2pa.opened,c2pa.orientation",
        ),
        (
            [1],
            [{"action": "c2pa.color_adjustments", "params": {"b": 1}}],
            None,
            "c2pa.opened,c2pa.adjustedColor",
        ),
        ([1, 2, 3], [], None, "c2pa.opened,c2pa.placed,c2pa.placed"),
        ([], [], "digitalCapture", "c2pa.created"),
        ([], [], None, "c2pa.opened"),
    ],
    ids=["crop", "rotate", "photometric", "multi-parent", "capture-known", "capture-unknown"],
)
def test_every_mapping_signs_and_reads_trusted(
    ops_signer: c2pa_certs.C2paSigner,
    ops_trust: pc.TrustConfig,
    parents: list[int],
    actions: list[dict[str, Any]],
    source_type: str | None,
    expected_actions: str,
) -> None:
    refs = [manifest_mod.ParentRef(pid(i), f"p{i}.jpg", "image/jpeg") for i in parents]
    res = _export(
        ops_signer, fx.jpeg_bytes(), parents=refs, actions=actions, source_type=source_type
    )
    reading = pc.read(res.data, "image/jpeg", ops_trust)
    assert reading is not None
    assert reading.claims["c2pa.state"] == "Trusted", reading.claims
    assert reading.claims["c2pa.actions"] == expected_actions
    assert "c2pa.ingredient_failures" not in reading.claims


@needs_sdk
def test_export_carries_a_c2pa_parent_chain(
    ops_signer: c2pa_certs.C2paSigner, ops_trust: pc.TrustConfig, camera_jpeg: bytes
) -> None:
    archive = pc.ingredient_archive(
        camera_jpeg,
        "image/jpeg",
        label=pid(1),
        title="DSC_0001.JPG",
        generator=manifest_mod.generator_info(),
    )
    parent = manifest_mod.ParentRef(pid(1), "DSC_0001.JPG", "image/jpeg", archive=archive)
    res = _export(
        ops_signer,
        fx.jpeg_bytes(),
        parents=[parent],
        actions=[{"action": "c2pa.resized", "params": {"width": 48}}],
    )
    reading = pc.read(res.data, "image/jpeg", ops_trust)
    assert reading is not None and reading.claims["c2pa.state"] == "Trusted", reading.claims
    assert reading.claims["c2pa.source_type"] == "digitalCapture"  # from the camera manifest
    assert "c2pa.ingredient_failures" not in reading.claims
    import c2pa

    with c2pa.Reader("image/jpeg", io.BytesIO(res.data), context=pc.context(ops_trust)) as reader:
        assert len(json.loads(reader.json())["manifests"]) == 2


@needs_sdk
def test_export_of_a_capture_that_embeds_its_own_credentials(
    ops_signer: c2pa_certs.C2paSigner, ops_trust: pc.TrustConfig, camera_jpeg: bytes
) -> None:
    res = _export(ops_signer, camera_jpeg)
    reading = pc.read(res.data, "image/jpeg", ops_trust)
    assert reading is not None and reading.claims["c2pa.state"] == "Trusted", reading.claims
    assert reading.claims["c2pa.actions"] == "c2pa.opened"
    assert reading.claims["c2pa.source_type"] == "digitalCapture"
    with pytest.raises(pc.ContentCredentialsError, match="already embeds"):
        _export(ops_signer, camera_jpeg, parents=[PARENT])


@needs_sdk
def test_remote_export_embeds_only_the_reference(
    ops_signer: c2pa_certs.C2paSigner, ops_trust: pc.TrustConfig
) -> None:
    import c2pa

    image = fx.jpeg_bytes()
    res = _export(ops_signer, image, remote_url="https://ledger.example/v1/manifests/{manifest_id}")
    url = f"https://ledger.example/v1/manifests/{res.manifest_id}"
    assert not scan_mod.scan(res.data)
    assert len(res.data) - len(image) < 2_000
    assert res.remote_url == url
    packet = xmp.read_xmp(res.data) or ""
    assert claims_mod.xmp_claims(packet)[1] == url
    assert xmp.xmp_property(packet, xmp.NS, "record") == RID  # c2pa-rs merged, ours kept
    found = ingest_mod.ingest_claims(res.data, policy="record", trust=ops_trust)
    assert found.claims == {
        "c2pa.state": "remote",
        "c2pa.trust": ops_trust.fingerprint,
        "c2pa.remote": url,
    }
    # a base URL gives the SBR manifests path
    base = _export(ops_signer, image, remote_url="https://ledger.example/")
    assert base.remote_url == f"https://ledger.example/v1/manifests/{base.manifest_id}"
    # the sidecar store validates the file (what a Soft Binding Resolution client does)
    with c2pa.Reader(
        "image/jpeg", io.BytesIO(res.data), res.store, context=pc.context(ops_trust)
    ) as r:
        assert r.get_validation_state() == "Trusted"


@needs_sdk
def test_export_refuses_bad_input(ops_signer: c2pa_certs.C2paSigner) -> None:
    image = fx.jpeg_bytes()
    with pytest.raises(pc.ContentCredentialsError, match="JPEG and PNG only"):
        _export(ops_signer, image, "image/gif")
    with pytest.raises(pc.ContentCredentialsError, match="log origin"):
        _export(ops_signer, image, bundle=fx.bundle_json(RID, "other.example/log"))
    with pytest.raises(pc.ContentCredentialsError, match="subject"):
        _export(ops_signer, image, bundle=fx.bundle_json(pid(7), ORIGIN))
    with pytest.raises(pc.ContentCredentialsError, match="not valid JSON"):
        _export(ops_signer, image, bundle="{")
    with pytest.raises(pc.ContentCredentialsError, match="URL"):
        _export(ops_signer, image, ledger_url="file:///etc/passwd")
    with pytest.raises(pc.ContentCredentialsError):
        export_mod.export_image(
            image,
            "image/jpeg",
            bundle=fx.bundle_json(RID, "localhost/x"),
            record_id=RID,
            origin="localhost/x",
            ledger_url=None,
            actions=[],
            parents=[],
            source_type=None,
            signer=ops_signer,
            title="t",
        )


@needs_sdk
def test_reencoded_export_loses_the_manifest_but_keeps_its_soft_binding(
    ops_signer: c2pa_certs.C2paSigner, corpus: Path
) -> None:
    image = (corpus / "opencv-doc__fruits.jpg").read_bytes()
    res = _export(ops_signer, image)
    with Image.open(io.BytesIO(res.data)) as img:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
    resaved = buf.getvalue()
    assert not scan_mod.scan(resaved)
    assert pc.read(resaved, "image/jpeg", pc.TrustConfig()) is None
    assert iscc.iscc_distance(iscc.image_iscc(resaved), res.iscc) <= iscc.MATCH_THRESHOLD


# --- the embedded bundle ------------------------------------------------------------------------
@needs_sdk
def test_embedded_bundle_round_trips_exactly(
    ops_signer: c2pa_certs.C2paSigner, ops_trust: pc.TrustConfig
) -> None:
    text = fx.bundle_json(RID, ORIGIN)
    res = _export(ops_signer, fx.jpeg_bytes(), bundle=text)
    found = ingest_mod.embedded_bundle(res.data)
    assert found is not None
    assert found.bundle_json == text  # byte for byte (key order, unicode, [0, 1], [])
    assert ingest_mod.embedded_bundle_text(res.data) == text
    assert found.label == f"{NS}.bundle"
    assert found.namespace == NS and found.host == "newsroom.example"
    compact = json.dumps(json.loads(text), separators=(",", ":"))
    res = _export(ops_signer, fx.jpeg_bytes(), bundle=compact)
    found = ingest_mod.embedded_bundle(res.data)
    assert found is not None and json.loads(found.bundle_json) == json.loads(compact)
    assert ingest_mod.embedded_bundle(fx.jpeg_bytes()) is None
    # PNG (caBX) too, and the same text comes out of the SDK's own reading
    png = _export(ops_signer, fx.png_bytes(), "image/png", bundle=text)
    assert ingest_mod.embedded_bundle_text(png.data) == text
    import c2pa

    with c2pa.Reader("image/jpeg", io.BytesIO(res.data), context=pc.context(ops_trust)) as r:
        cr = json.loads(r.crjson())
    (manifest,) = cr["manifests"]
    assert manifest["assertions"][f"{NS}.bundle"] == json.loads(compact)


@needs_sdk
def test_embedded_bundle_rejects_a_label_for_another_host(
    ops_signer: c2pa_certs.C2paSigner, camera_jpeg: bytes
) -> None:
    definition, _ = manifest_mod.build_manifest(
        manifest_id=f"urn:c2pa:{uuid.uuid4()}:provenance",
        title="x.jpg",
        mime="image/jpeg",
        record_id=RID,
        namespace="example.attacker.provenance",  # borrowed label, bundle from newsroom
        actions=[],
        parents=[],
        source_type="digitalCapture",
        iscc_unit=iscc.IMAGE_HEADER + bytes(32),
        bundle=json.loads(fx.bundle_json(RID, ORIGIN)),
        ledger_url=None,
    )
    data = fx.sign_with_definition(fx.jpeg_bytes(), "image/jpeg", definition, ops_signer)
    with pytest.raises(pc.BundleOriginMismatch, match=r"attacker\.example") as info:
        ingest_mod.embedded_bundle_text(data)
    assert "newsroom.example/photos" in str(info.value)
    assert ingest_mod.embedded_bundle(camera_jpeg) is None  # no bundle


# --- operator PKI and signer loading ------------------------------------------------------------
def _ext(cert: x509.Certificate, cls: type[Any]) -> Any:
    return cert.extensions.get_extension_for_class(cls)


@pytest.mark.parametrize("alg", ["ed25519", "es256"])
def test_operator_pki_profile(alg: str) -> None:
    pki = c2pa_certs.make_operator_pki("Newsroom Example", ORIGIN, alg, now=NOW, country="DE")  # type: ignore[arg-type]
    root = x509.load_pem_x509_certificate(pki.root_cert_pem.encode())
    leaf = x509.load_pem_x509_certificate(pki.cert_pem.encode())
    assert pki.chain_pem == pki.cert_pem  # leaf only
    basic = _ext(root, x509.BasicConstraints)
    assert basic.critical and basic.value.ca and basic.value.path_length == 0
    usage = _ext(root, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    assert root.not_valid_after_utc - root.not_valid_before_utc >= timedelta(days=3650)
    _ext(root, x509.SubjectKeyIdentifier)
    assert leaf.issuer == root.subject
    basic = _ext(leaf, x509.BasicConstraints)
    assert basic.critical and not basic.value.ca
    usage = _ext(leaf, x509.KeyUsage)
    assert usage.critical and usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    ekus = list(_ext(leaf, x509.ExtendedKeyUsage).value)
    assert ekus == [c2pa_certs.C2PA_CLAIM_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION]
    policies = _ext(leaf, x509.CertificatePolicies).value
    assert [p.policy_identifier for p in policies] == [c2pa_certs.C2PA_POLICY_OID]
    assert _ext(leaf, x509.AuthorityKeyIdentifier).value.key_identifier == (
        _ext(root, x509.SubjectKeyIdentifier).value.digest
    )
    _ext(leaf, x509.SubjectKeyIdentifier)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(days=366)
    assert leaf.not_valid_before_utc <= NOW <= leaf.not_valid_after_utc
    subject = {a.oid: a.value for a in leaf.subject}
    assert subject == {
        NameOID.COUNTRY_NAME: "DE",
        NameOID.ORGANIZATION_NAME: "Newsroom Example",
        NameOID.COMMON_NAME: "newsroom.example/photos C2PA export signer",
    }
    leaf.verify_directly_issued_by(root)
    key = serialization.load_pem_private_key((pki.key_pem or "").encode(), None)
    expected = ed25519.Ed25519PrivateKey if alg == "ed25519" else ec.EllipticCurvePrivateKey
    assert isinstance(key, expected)


def test_pki_for_an_existing_ledger_key(ledger_key: SigningKey) -> None:
    pki = c2pa_certs.make_operator_pki("N", ORIGIN, "ed25519", for_key=ledger_key.public)
    assert pki.key_pem is None
    leaf = x509.load_pem_x509_certificate(pki.cert_pem.encode())
    public = leaf.public_key()
    assert isinstance(public, ed25519.Ed25519PublicKey)
    assert public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == (
        ledger_key.public.raw
    )
    with pytest.raises(c2pa_certs.CertificateError):
        c2pa_certs.make_operator_pki("N", ORIGIN, "es256", for_key=ledger_key.public)
    long = c2pa_certs.make_operator_pki("N", "ledger." + "x" * 90 + ".example/log", "ed25519")
    cn = x509.load_pem_x509_certificate(long.cert_pem.encode()).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME
    )
    assert len(str(cn[0].value)) <= 64
    for org in ("", "x" * 65, "bad\norg"):
        with pytest.raises(c2pa_certs.CertificateError):
            c2pa_certs.make_operator_pki(org, ORIGIN, "ed25519")
    with pytest.raises(c2pa_certs.CertificateError):
        c2pa_certs.make_operator_pki("N", ORIGIN, "ed25519", country="Germany")


def test_write_pki_files_modes_and_readme(tmp_path: Path) -> None:
    pki = c2pa_certs.make_operator_pki("Newsroom Example", ORIGIN, "es256")
    written = c2pa_certs.write_pki(pki, tmp_path / "c2pa")
    names = [p.name for p in written]
    assert names == ["root.pem", "root.key", "signer.pem", "signer.key", "chain.pem", "README.txt"]
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o600 if path.suffix == ".key" else 0o644), path
    assert (tmp_path / "c2pa" / "chain.pem").read_text() == pki.cert_pem
    readme = (tmp_path / "c2pa" / "README.txt").read_text()
    assert "untrusted" in readme and "root.pem" in readme and "OFFLINE" in readme
    assert not list((tmp_path / "c2pa").glob(".*.tmp"))
    with pytest.raises(c2pa_certs.CertificateError, match="overwrite"):
        c2pa_certs.write_pki(pki, tmp_path / "c2pa")
    shared = c2pa_certs.make_operator_pki(
        "N", ORIGIN, "ed25519", for_key=SigningKey.generate().public
    )
    names = [p.name for p in c2pa_certs.write_pki(shared, tmp_path / "shared")]
    assert "signer.key" not in names
    assert "no signer.key" in (tmp_path / "shared" / "README.txt").read_text()


def test_load_c2pa_key_variants(tmp_path: Path, ledger_key: SigningKey) -> None:
    openssh = tmp_path / "alice.key"
    save_signing_key(ledger_key, openssh, None)
    loaded = c2pa_certs.load_c2pa_key(openssh)
    assert isinstance(loaded, SigningKey) and loaded.public == ledger_key.public
    ed = ed25519.Ed25519PrivateKey.generate()
    pkcs8 = tmp_path / "ed.pem"
    pkcs8.write_bytes(
        ed.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    assert isinstance(c2pa_certs.load_c2pa_key(pkcs8), SigningKey)
    ecdsa = ec.generate_private_key(ec.SECP256R1())
    enc = tmp_path / "ec.pem"
    enc.write_bytes(
        ecdsa.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    assert isinstance(c2pa_certs.load_c2pa_key(enc, b"secret"), c2pa_certs.EcP256Key)
    with pytest.raises(PassphraseError):
        c2pa_certs.load_c2pa_key(enc)
    with pytest.raises(PassphraseError):
        c2pa_certs.load_c2pa_key(enc, b"wrong")
    sec1 = tmp_path / "sec1.pem"
    sec1.write_bytes(
        ecdsa.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        )
    )
    key = c2pa_certs.load_c2pa_key(sec1)
    assert isinstance(key, c2pa_certs.EcP256Key)
    signature = key.sign(b"msg")
    assert len(signature) == 64  # COSE r || s, not DER
    rsa_file = tmp_path / "rsa.pem"
    rsa_file.write_bytes(
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="Ed25519 or ECDSA P-256"):
        c2pa_certs.load_c2pa_key(rsa_file)
    (tmp_path / "junk").write_text("hello")
    with pytest.raises(KeyFileError):
        c2pa_certs.load_c2pa_key(tmp_path / "junk")
    with pytest.raises(KeyFileError):
        c2pa_certs.load_c2pa_key(tmp_path / "missing")


def test_signer_checks_chain_against_key(
    ops_pki: c2pa_certs.Pki, ledger_key: SigningKey, tmp_path: Path
) -> None:
    with pytest.raises(c2pa_certs.CertificateError, match="does not match"):
        c2pa_certs.C2paSigner.from_key(ops_pki.chain_pem, SigningKey.generate())
    with pytest.raises(c2pa_certs.CertificateError, match="CA certificate"):
        c2pa_certs.C2paSigner.from_key(ops_pki.root_cert_pem, _root_key_as_signing_key(ops_pki))
    with pytest.raises(c2pa_certs.CertificateError, match="not valid now"):
        c2pa_certs.C2paSigner.from_key(
            ops_pki.chain_pem, ledger_key, now=datetime.now(UTC) + timedelta(days=400)
        )
    with pytest.raises(c2pa_certs.CertificateError):
        c2pa_certs.C2paSigner.from_key("garbage", ledger_key)
    chain = tmp_path / "chain.pem"
    chain.write_text("junk\n" + ops_pki.chain_pem + "trailing\n")
    key = tmp_path / "alice.key"
    save_signing_key(ledger_key, key, None)
    signer = c2pa_certs.load_signer(chain, key)
    assert signer.alg == "ed25519" and signer.chain_pem == ops_pki.chain_pem
    (tmp_path / "empty.pem").write_text("")
    with pytest.raises(c2pa_certs.CertificateError, match="no PEM certificate"):
        c2pa_certs.load_signer(tmp_path / "empty.pem", key)


def _root_key_as_signing_key(pki: c2pa_certs.Pki) -> SigningKey:
    key = serialization.load_pem_private_key(pki.root_key_pem.encode(), None)
    assert isinstance(key, ed25519.Ed25519PrivateKey)
    return SigningKey(key)


# --- JUMBF walks ----------------------------------------------------------------------------
@needs_sdk
def test_manifest_labels_and_the_active_manifest_cut(
    camera_jpeg: bytes, camera_pki: c2pa_certs.Pki
) -> None:
    opened = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["p"]}}]
    _, store = fx.sign_c2pa(
        fx.jpeg_bytes(fx.photo_like(seed=7)),
        "image/jpeg",
        chain_pem=camera_pki.chain_pem,
        key_pem=camera_pki.key_pem or "",
        actions=opened,
        ingredients=[(camera_jpeg, "image/jpeg", "parentOf", "p")],
    )
    labels = scan_mod.manifest_labels(store)
    assert len(labels) == 2
    store_json, _ = pc.read_store(store, pc.TrustConfig())
    assert store_json["active_manifest"] == labels[-1]  # the active manifest is the last
    cut = scan_mod.active_manifest_store(store)
    assert cut is not None and scan_mod.manifest_labels(cut) == [labels[-1]]
    assert len(cut) < len(store)
    cut_json, _ = pc.read_store(cut, pc.TrustConfig())
    assert cut_json["active_manifest"] == labels[-1] and len(cut_json["manifests"]) == 1
    assert scan_mod.active_manifest_store(b"junk" * 10) is None
    assert scan_mod.manifest_labels(b"") == []
    for cut_at in (0, 7, 100, len(store) // 2):
        assert scan_mod.assertion_box(store[:cut_at], re.compile(".*")) is None
    label, kind, body = scan_mod.assertion_box(store, re.compile(r"c2pa\.actions.*")) or (
        "",
        b"",
        b"",
    )
    assert label.startswith("c2pa.actions") and kind == b"cbor" and body


def test_sniff_mime() -> None:
    assert scan_mod.sniff_mime(fx.jpeg_bytes()) == "image/jpeg"
    assert scan_mod.sniff_mime(fx.png_bytes()) == "image/png"
    buf = io.BytesIO()
    fx.photo_like().save(buf, "WEBP")
    assert scan_mod.sniff_mime(buf.getvalue()) == "image/webp"
    assert scan_mod.sniff_mime(b"\x00\x00\x00\x1cftypavif" + bytes(20)) == "image/avif"
    assert scan_mod.sniff_mime(b"\x00\x00\x00\x1cftypheic" + bytes(20)) == "image/heic"
    assert scan_mod.sniff_mime(b"nothing") is None


@needs_sdk
def test_embedded_bundle_survives_another_tools_manifest_on_top(
    ops_signer: c2pa_certs.C2paSigner, camera_pki: c2pa_certs.Pki
) -> None:
    """A CMS that signs our export again keeps our manifest as its ingredient: the bundle is
    still found (it verifies by itself), though not in the active manifest."""
    text = fx.bundle_json(RID, ORIGIN)
    res = _export(ops_signer, fx.jpeg_bytes(), bundle=text)
    opened = [{"action": "c2pa.opened", "parameters": {"ingredientIds": ["ours"]}}]
    resigned = _sign_tool(
        camera_pki,
        res.data,
        actions=opened,
        ingredients=[(res.data, "image/jpeg", "parentOf", "ours")],
        generator=("NewsCMS", "7"),
    )
    store = scan_mod.raw_store(resigned) or b""
    assert len(scan_mod.manifest_labels(store)) == 2
    assert ingest_mod.store_bundle(store, active_only=True) is None
    assert ingest_mod.embedded_bundle_text(resigned) == text
