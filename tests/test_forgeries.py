"""Issue 8: forged files must never come out ``verified`` (exit 0); faithful copies must.

One named test per attack class, each building its own forged file (tests/forgery.py):
hidden and extra frames, colour interpretation, orientation metadata viewers do not honour,
declared edits borrowing a capture's history, key roles and names, unbounded work, planted
temporary files, a second signer, a foreign trust anchor, a closed pipe. A hypothesis
property ties it together: a random frame, colour or orientation variant of a signed image
whose rendering (as a browser shows it) differs is never ``verified``, and a variant that
changes only metadata is.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_NOW, LedgerEnv
from forgery import (
    WEBP_EXIF,
    WEBP_ICC,
    WEBP_XMP,
    apng,
    encode,
    exif_chunk,
    gama,
    iccp,
    inverted_curve_profile,
    jpeg_adobe,
    jpeg_exif,
    jpeg_icc,
    jpeg_xmp,
    photo_like,
    png_insert,
    png_text,
    same_display,
    srgb_profile,
    swapped_primaries_profile,
    webp_extended,
    xmp_itxt,
    xmp_packet,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from provenance.edits import Resize
from provenance.errors import DecompressionBombError
from provenance.imaging import MAX_SCANS, ImageProbe
from provenance.keys import SigningKey
from provenance.records import Action, KeyRef, Statement, sign_statement


def _verdict(lenv: LedgerEnv, data: bytes, name: str = "forged") -> str:
    path = lenv.tmp / name
    path.write_bytes(data)
    report, _ = lenv.ledger.evidence().verify_image(path)
    return report.verdict


def _signed(lenv: LedgerEnv, data: bytes, name: str) -> Path:
    path = lenv.tmp / name
    path.write_bytes(data)
    [res] = lenv.ledger.sign([path], lenv.alice, now=FIXED_NOW)
    assert res.status in ("signed", "exists"), res  # "exists": same picture, other container
    return path


@pytest.fixture
def base_png() -> bytes:
    return encode(photo_like(1), "PNG")


@pytest.fixture
def base_jpeg() -> bytes:
    return encode(photo_like(2), "JPEG", quality=92)


# --- 1. hidden or extra frames ----------------------------------------------------------
def test_apng_whose_hidden_default_image_is_the_signed_photo(lenv: LedgerEnv) -> None:
    real, fake = photo_like(3), photo_like(4)
    signed = encode(real, "PNG")
    _signed(lenv, signed, "real.png")
    forged = apng([real, fake], default_image=True)  # viewers show only `fake`
    assert not same_display(signed, forged)
    assert ImageProbe(forged).content() != ImageProbe(signed).content()
    assert _verdict(lenv, forged) != "verified"


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "GIF"])
def test_animation_whose_later_frames_differ(lenv: LedgerEnv, fmt: str) -> None:
    a, b, c = photo_like(5), photo_like(6), photo_like(7)
    extra: dict[str, Any] = {"lossless": True} if fmt == "WEBP" else {}
    signed = encode(a, fmt, save_all=True, append_images=[b], duration=100, loop=0, **extra)
    _signed(lenv, signed, f"anim.{fmt.lower()}")
    forged = encode(a, fmt, save_all=True, append_images=[c], duration=100, loop=0, **extra)
    assert _verdict(lenv, forged, f"forged.{fmt.lower()}") != "verified"
    slower = encode(a, fmt, save_all=True, append_images=[b], duration=900, loop=0, **extra)
    assert _verdict(lenv, slower, f"slow.{fmt.lower()}") != "verified"
    still = encode(a, fmt, **extra)  # frame 0 alone is another picture too
    assert _verdict(lenv, still, f"still.{fmt.lower()}") != "verified"


# --- 2. colour interpretation ----------------------------------------------------------------
@pytest.mark.parametrize("profile", ["swapped", "inverted"])
def test_jpeg_and_png_given_a_colour_profile_that_changes_the_picture(
    lenv: LedgerEnv, base_jpeg: bytes, base_png: bytes, profile: str
) -> None:
    icc = swapped_primaries_profile() if profile == "swapped" else inverted_curve_profile()
    _signed(lenv, base_jpeg, "base.jpg")
    _signed(lenv, base_png, "base.png")
    forged_jpeg = jpeg_icc(base_jpeg, icc)
    forged_png = png_insert(base_png, iccp(icc))
    assert not same_display(base_jpeg, forged_jpeg)
    assert _verdict(lenv, forged_jpeg, "forged.jpg") != "verified"
    assert _verdict(lenv, forged_png, "forged.png") != "verified"
    webp = encode(photo_like(1), "WEBP", lossless=True)
    _signed(lenv, webp, "base.webp")
    forged_webp = webp_extended(webp, (b"ICCP", icc), flags=WEBP_ICC)
    assert _verdict(lenv, forged_webp, "forged.webp") != "verified"


@pytest.mark.parametrize("gamma", [100000, 25000])
def test_png_given_a_gamma_chunk(lenv: LedgerEnv, base_png: bytes, gamma: int) -> None:
    _signed(lenv, base_png, "base.png")
    forged = png_insert(base_png, gama(gamma))
    assert not same_display(base_png, forged)
    assert _verdict(lenv, forged, "forged.png") != "verified"


def test_a_standard_srgb_profile_is_no_change(lenv: LedgerEnv, base_jpeg: bytes) -> None:
    """Browsers show an untagged image as sRGB: adding or stripping an sRGB profile (or
    PNG's gAMA 1/2.2 alone) keeps the picture, and ``verified``."""
    _signed(lenv, base_jpeg, "base.jpg")
    tagged = jpeg_icc(base_jpeg, srgb_profile())
    assert same_display(base_jpeg, tagged)
    assert _verdict(lenv, tagged, "tagged.jpg") == "verified"
    png = encode(photo_like(8), "PNG")
    _signed(lenv, png, "p.png")
    assert _verdict(lenv, png_insert(png, gama(45455)), "g.png") == "verified"


# --- 3. orientation metadata viewers do not honour ---------------------------------------
def test_mirrored_png_and_lossless_webp_with_xmp_orientation_2(lenv: LedgerEnv) -> None:
    real = photo_like(9)
    png = encode(real, "PNG")
    _signed(lenv, png, "real.png")
    mirrored = real.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    forged_png = png_insert(encode(mirrored, "PNG"), xmp_itxt(2))
    assert not same_display(png, forged_png)  # browsers ignore XMP orientation
    assert _verdict(lenv, forged_png, "forged.png") != "verified"
    webp = encode(real, "WEBP", lossless=True)
    _signed(lenv, webp, "real.webp")
    forged_webp = webp_extended(
        encode(mirrored, "WEBP", lossless=True), (b"XMP ", xmp_packet(2)), flags=WEBP_XMP
    )
    assert _verdict(lenv, forged_webp, "forged.webp") != "verified"


def test_upside_down_webp_with_exif_orientation_3(lenv: LedgerEnv) -> None:
    from forgery import exif_tiff

    real = photo_like(10)
    webp = encode(real, "WEBP", lossless=True)
    _signed(lenv, webp, "real.webp")
    upside_down = encode(real.transpose(Image.Transpose.ROTATE_180), "WEBP", lossless=True)
    forged = webp_extended(upside_down, (b"EXIF", b"Exif\x00\x00" + exif_tiff(3)), flags=WEBP_EXIF)
    assert _verdict(lenv, forged, "forged.webp") != "verified"


def test_orientation_added_to_a_signed_jpeg_or_png(
    lenv: LedgerEnv, base_jpeg: bytes, base_png: bytes
) -> None:
    _signed(lenv, base_jpeg, "base.jpg")
    _signed(lenv, base_png, "base.png")
    for n in (2, 3, 6):
        assert _verdict(lenv, jpeg_exif(base_jpeg, n), f"o{n}.jpg") != "verified"
        assert _verdict(lenv, png_insert(base_png, exif_chunk(n)), f"o{n}.png") != "verified"
        assert _verdict(lenv, jpeg_xmp(base_jpeg, orientation=n), f"x{n}.jpg") != "verified"


def test_jpeg_colour_interpretation_flags(lenv: LedgerEnv, base_jpeg: bytes) -> None:
    """JFIF/Adobe markers decide whether three components are YCbCr or RGB."""
    from tamper_helpers import strip_jpeg_metadata

    bare = strip_jpeg_metadata(base_jpeg)[0]
    _signed(lenv, bare, "bare.jpg")
    assert _verdict(lenv, jpeg_adobe(bare, 0), "rgb.jpg") != "verified"  # read as RGB
    assert _verdict(lenv, jpeg_adobe(bare, 1), "ycc.jpg") == "verified"  # YCbCr, as before


def test_stripped_or_annotated_copies_still_verify(
    lenv: LedgerEnv, base_jpeg: bytes, base_png: bytes
) -> None:
    """Metadata that changes nothing on screen never costs ``verified``."""
    from tamper_helpers import strip_jpeg_metadata

    camera = jpeg_exif(jpeg_xmp(base_jpeg, description="launch"), make="SimCam")
    _signed(lenv, camera, "camera.jpg")
    stripped = strip_jpeg_metadata(camera)[0]
    assert _verdict(lenv, stripped, "stripped.jpg") == "verified"
    assert _verdict(lenv, jpeg_insert_comment(stripped), "commented.jpg") == "verified"
    _signed(lenv, base_png, "base.png")
    assert _verdict(lenv, png_insert(base_png, png_text("Comment", "hi")), "t.png") == "verified"
    lossless = encode(Image.open(io.BytesIO(base_png)), "WEBP", lossless=True)
    assert _verdict(lenv, lossless, "same.webp") == "verified"  # another lossless container


def jpeg_insert_comment(data: bytes) -> bytes:
    from forgery import jpeg_insert

    return jpeg_insert(data, 0xFE, b"posted by someone")


# --- 4. declared edits borrowing a capture's history ---------------------------------------
def test_declared_colour_edit_with_a_masked_region_is_implausible(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    [cap] = lenv.ledger.sign(photos[1:2], lenv.alice, now=FIXED_NOW)
    masked = Image.open(photos[1]).convert("RGB")
    w, h = masked.size
    masked.paste((0, 0, 0), (w // 4, h // 4, w // 4 + w // 3, h // 4 + h // 3))
    child = lenv.tmp / "masked.jpg"
    masked.save(child, quality=92)
    res = lenv.ledger.derive(
        [str(photos[1])], child, lenv.desk, [Action("c2pa.adjustedColor", {"brightness": 1.1})]
    )
    assert res.status == "signed"  # the log takes it; the verifier judges it
    r = run_cli("--db", lenv.db, "verify", child, "--json")
    report = json.loads(r.stdout)
    assert r.exit_code == 1 and report["verdict"] == "tampered"
    codes = {p["code"] for c in report["checks"] for p in c["problems"]}
    assert "edit.implausible" in codes
    assert cap.record_id is not None


def test_an_unrelated_image_declared_as_a_colour_edit_is_implausible(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.derive([str(photos[0])], photos[2], lenv.desk, [Action("c2pa.adjustedColor", {})])
    assert _verdict(lenv, photos[2].read_bytes()) == "tampered"


def test_a_genuine_colour_edit_is_declared_plausible_not_replayed(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    from PIL import ImageEnhance

    lenv.ledger.sign(photos[1:2], lenv.alice, now=FIXED_NOW)
    child = lenv.tmp / "brighter.jpg"
    ImageEnhance.Brightness(Image.open(photos[1]).convert("RGB")).enhance(1.1).save(child)
    lenv.ledger.derive([str(photos[1])], child, lenv.desk, [Action("c2pa.adjustedColor", {})])
    r = run_cli("--db", lenv.db, "verify", child, "--json")
    report = json.loads(r.stdout)
    assert (r.exit_code, report["verdict"], report["assurance"]) == (0, "verified", "declared")
    assert report["chain"][0]["check"] == "declared, plausible"
    assert report["chain"][0]["signer"] == lenv.desk.key_id  # the key id, not just a name
    r = run_cli("--db", lenv.db, "verify", child, "--require-replayed")
    assert r.exit_code == 7
    assert "declared by their signers, not replayed" in r.stdout


def test_a_claim_cannot_make_a_declared_edit_pose_as_replayable(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    r = run_cli(
        "--db", lenv.db, "derive", photos[0], photos[2], "--key", lenv.desk_file,
        "--action", "c2pa.cropped", "--claim", "provenance.edit=1",
    )  # fmt: skip
    assert r.exit_code == 3 and "reserved" in r.stderr
    # a record forged with the marker anyway is "replayed" only when replay succeeds
    st = Statement(
        type="edit",
        time="2026-11-26T12:00:00Z",
        asset=ImageProbe(photos[2].read_bytes()).asset(),
        parents=(lenv.ledger.find(photos[0]).matches[0].record_id,),
        actions=(Action("c2pa.cropped", {"left": 0, "top": 0, "right": 10, "bottom": 10}),),
        claims={"provenance.edit": "1"},
    )
    lenv.ledger.append_records([sign_statement(st, lenv.desk)])
    r = run_cli("--db", lenv.db, "verify", photos[2], "--parent-image", photos[0], "--json")
    report = json.loads(r.stdout)
    assert report["verdict"] == "tampered"
    assert all(step["check"] != "replayed" for step in report["chain"])


# --- 5. key roles and names ----------------------------------------------------------------
def test_the_log_key_cannot_be_registered_as_a_signer(lenv: LedgerEnv, run_cli: Any) -> None:
    r = run_cli("--db", lenv.db, "keys", "register", f"{lenv.db}.logkey.pub", "--name", "op")
    assert r.exit_code == 3 and "log key cannot be registered" in r.stderr
    r = run_cli("--db", lenv.db, "log", "verify")
    assert r.exit_code == 0, r.output


def test_a_key_record_cannot_be_a_parent(lenv: LedgerEnv, photos: list[Path]) -> None:
    from provenance.errors import LogIntegrityError, NotFoundError

    key_record = lenv.ledger.record(0)[1].record_id
    with pytest.raises(NotFoundError, match="not an image"):
        lenv.ledger.derive([key_record], photos[0], lenv.alice, [Action("c2pa.edited", {})])
    st = Statement(
        type="edit",
        time="2026-11-26T12:00:00Z",
        asset=ImageProbe(photos[0].read_bytes()).asset(),
        parents=(key_record,),
        actions=(Action("c2pa.edited", {}),),
    )
    with pytest.raises(LogIntegrityError, match="not an image"):
        lenv.ledger.append_records([sign_statement(st, lenv.alice)])


@pytest.mark.parametrize(
    "name", ["mallory\n[ok ] #3 capture by alice", "\x1b[32mVERIFIED\x1b[0m", "x\u202egnp.exe"]
)
def test_names_that_would_forge_output_lines_are_refused_and_never_printed_raw(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any, name: str
) -> None:
    key = SigningKey.from_seed(b"q" * 32)
    from provenance.errors import RecordError

    with pytest.raises(RecordError, match="invalid key name"):
        lenv.ledger.register_key(key.public, name)
    # a key record written around the check (an older or hostile writer) is escaped on output
    st = Statement(
        type="key",
        time="2026-11-26T12:00:00Z",
        key=KeyRef(id=key.key_id, public=key.public.openssh(), name=name),
    )
    lenv.ledger.append_records([sign_statement(st, lenv.ledger.log_signer())], dedupe=False)
    lenv.ledger.sign(photos[:1], key, now=FIXED_NOW)
    for args in (("verify", photos[0]), ("history", photos[0]), ("keys", "list")):
        r = run_cli("--db", lenv.db, *args)
        assert "\x1b" not in r.output and "\u202e" not in r.output
        assert "\n[ok ] #3 capture by alice" not in r.output
    r = run_cli("--db", lenv.db, "verify", photos[0], "--json")
    assert "\x1b" not in r.output and "\u202e" not in r.output


# --- 6. unbounded work -----------------------------------------------------------------------
def test_a_jpeg_of_thousands_of_scans_is_refused_within_seconds(
    lenv: LedgerEnv, run_cli: Any
) -> None:
    data = encode(photo_like(11, (64, 48)), "JPEG", progressive=True, quality=80)
    sos = data.index(b"\xff\xda")
    scan_end = data.index(b"\xff\xd9")
    bomb = data[:scan_end] + data[sos:scan_end] * (MAX_SCANS * 20) + b"\xff\xd9"
    path = lenv.tmp / "scans.jpg"
    path.write_bytes(bomb)
    t0 = time.monotonic()
    with pytest.raises(DecompressionBombError, match="scans"):
        ImageProbe(bomb).asset()
    for args in (("verify", path), ("sign", path, "--key", lenv.alice_file)):
        r = run_cli("--db", lenv.db, *args)
        assert r.exit_code == 3 and "scans" in r.stderr, r.output
    assert time.monotonic() - t0 < 10


def test_a_replay_of_hundreds_of_resizes_is_refused_at_once(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    child = lenv.tmp / "child.png"
    lenv.ledger.edit(photos[0], child, [Resize(64, 48)], lenv.desk, now=FIXED_NOW)
    sizes = [Resize(4000, 3000), Resize(64, 48)] * 400
    st = Statement(
        type="edit",
        time="2026-11-26T12:00:00Z",
        asset=ImageProbe(encode(photo_like(12, (64, 48)), "PNG")).asset(),
        parents=(lenv.ledger.find(photos[0]).matches[0].record_id,),
        actions=tuple(op.action() for op in sizes),
        claims={"provenance.edit": "1"},
    )
    bomb = lenv.tmp / "bomb.png"
    bomb.write_bytes(encode(photo_like(12, (64, 48)), "PNG"))
    lenv.ledger.append_records([sign_statement(st, lenv.desk)])
    t0 = time.monotonic()
    r = run_cli("--db", lenv.db, "verify", bomb, "--parent-image", photos[0])
    assert r.exit_code != 0
    assert time.monotonic() - t0 < 10


# --- 7. files ----------------------------------------------------------------------------------
def test_edit_output_never_follows_a_planted_symlink(
    lenv: LedgerEnv, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    victim = lenv.tmp / "victim.txt"
    victim.write_text("precious")
    out = lenv.tmp / "out.png"
    monkeypatch.setattr(secrets, "token_hex", lambda n=None: "c0ffee")
    (lenv.tmp / ".out.png.c0ffee.tmp").symlink_to(victim)
    from provenance.errors import ProvenanceError

    with pytest.raises(ProvenanceError):
        lenv.ledger.edit(photos[0], out, [Resize(32, 24)], lenv.desk, now=FIXED_NOW)
    assert victim.read_text() == "precious" and not out.exists()
    (lenv.tmp / "link.png").symlink_to(victim)  # the output name itself
    with pytest.raises(ProvenanceError, match="exists"):
        lenv.ledger.edit(photos[0], lenv.tmp / "link.png", [Resize(32, 24)], lenv.desk)
    assert victim.read_text() == "precious"


# --- 8. whose photo is it ------------------------------------------------------------------
def test_a_second_photographer_hears_of_the_conflict(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    assert run_cli("--db", lenv.db, "sign", photos[0], "--key", lenv.alice_file).exit_code == 0
    r = run_cli("--db", lenv.db, "sign", photos[0], "--key", lenv.desk_file)
    assert r.exit_code == 6
    assert "CONFLICT" in r.stdout and "alice" in r.stdout and lenv.alice.key_id in r.stdout
    r = run_cli("--db", lenv.db, "sign", photos[0], "--key", lenv.alice_file)
    assert r.exit_code == 0 and "exists" in r.stdout


# --- 9. wrong trust anchor ---------------------------------------------------------------
def test_a_trust_anchor_of_another_log_is_a_usage_error(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any, tmp_path: Path
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    bundle = tmp_path / "b.json"
    assert run_cli("--db", lenv.db, "export", photos[0], "-o", bundle).exit_code == 0
    other = tmp_path / "other" / "other.db"
    assert run_cli("--db", other, "init", "--origin", "other.example/log").exit_code == 0
    other_vkey = json.loads(run_cli("--db", other, "log", "show", "--json").stdout)["vkey"]
    r = run_cli("verify", photos[0], "--bundle", bundle, "--trust-log-key", other_vkey)
    assert r.exit_code == 3, r.output
    assert "other.example/log" in r.stderr and "test.provenance.local/log" in r.stderr
    pin = tmp_path / "other.checkpoint"
    run_cli("--db", other, "keys", "generate", "x", "--no-passphrase", "-o", tmp_path / "x.key")
    assert run_cli("--db", other, "log", "checkpoint", "--out", pin).exit_code == 0
    for args in (("verify", photos[0]), ("log", "verify")):
        r = run_cli("--db", lenv.db, *args, "--checkpoint", pin)
        assert r.exit_code == 3, (args, r.output)
        assert "other.example/log" in r.stderr


# --- 10. closed pipes --------------------------------------------------------------------------
def test_a_closed_stdout_keeps_the_verdicts_exit_code(lenv: LedgerEnv, photos: list[Path]) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    for image, code in ((photos[0], 0), (photos[3], 4)):
        proc = subprocess.Popen(
            [sys.executable, "-m", "provenance.cli", "--db", str(lenv.db), "verify", str(image)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert proc.stdout is not None
        proc.stdout.close()  # `| head -0`: the reader is gone before anything is written
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == code, err.decode()
        assert b"BrokenPipe" not in err and b"internal error" not in err


# --- the property ----------------------------------------------------------------------------
VARIANTS = st.sampled_from(
    [
        "icc-swapped",
        "icc-inverted",
        "gamma-1.0",
        "exif-orientation",
        "xmp-orientation-mirrored",
        "extra-frame",
        "hidden-default",
        "pixel",
        "text-chunk",
        "exif-camera-field",
        "srgb-profile",
    ]
)


def _variant(base: Image.Image, kind: str, n: int) -> bytes:
    png = encode(base, "PNG")
    if kind == "icc-swapped":
        return png_insert(png, iccp(swapped_primaries_profile()))
    if kind == "icc-inverted":
        return png_insert(png, iccp(inverted_curve_profile()))
    if kind == "gamma-1.0":
        return png_insert(png, gama(100000))
    if kind == "exif-orientation":
        return png_insert(png, exif_chunk(2 + n % 7))
    if kind == "xmp-orientation-mirrored":
        return png_insert(
            encode(base.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "PNG"), xmp_itxt(2)
        )
    if kind == "extra-frame":
        return apng([base, photo_like(100 + n, base.size)], default_image=False)
    if kind == "hidden-default":
        return apng([base, photo_like(100 + n, base.size)], default_image=True)
    if kind == "pixel":
        changed = base.copy()
        changed.putpixel((n % base.width, n % base.height), (n % 256, 0, 255 - n % 256))
        return encode(changed, "PNG")
    if kind == "text-chunk":
        return png_insert(png, png_text("Description", f"caption {n}"))
    if kind == "exif-camera-field":
        from forgery import exif_tiff

        return png_insert(png, (b"eXIf", exif_tiff(make=f"Cam{n}")))
    return png_insert(png, iccp(srgb_profile()))


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 10_000), kind=VARIANTS, n=st.integers(0, 1000))
def test_a_variant_that_renders_differently_is_never_verified(
    lenv: LedgerEnv, seed: int, kind: str, n: int
) -> None:
    base = photo_like(seed, (48, 40))
    original = encode(base, "PNG")
    path = lenv.tmp / f"orig-{seed}.png"
    if not path.exists():
        path.write_bytes(original)
        lenv.ledger.sign([path], lenv.alice, now=FIXED_NOW)
    forged = _variant(base, kind, n)
    verdict = _verdict(lenv, forged, f"v-{seed}-{kind}-{n}.png")
    if same_display(original, forged):
        assert verdict == "verified", kind  # metadata only: a faithful copy
    else:
        assert verdict != "verified", kind
