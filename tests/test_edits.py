"""Replayable edits: operations, their action records, bounds, and replay verification
(check 8)."""

from __future__ import annotations

import io
import json
import struct
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXED_NOW, LedgerEnv
from PIL import Image, ImageEnhance, ImageOps

from provenance import edits
from provenance.errors import ImageError, NotFoundError, RecordError
from provenance.imaging import ImageProbe, digest_bytes, display_frame, pixel_digest_v1
from provenance.imaging.containers import png_tokens
from provenance.imaging.jpeg import walk
from provenance.records import Action

sys.path.insert(0, str(Path(__file__).resolve().parent / "golden"))
from make_imaging_golden import encode, pattern, srgb_profile, swap_primaries


def strip_jpeg_comments_and_jfif(data: bytes) -> bytes:
    """Drop APP0 (JFIF) and COM segments before the first scan; keep everything else (the
    ICC profile too: it changes what a viewer shows)."""
    out, pos = bytearray(data[:2]), 2
    while data[pos + 1] != 0xDA:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker not in (0xE0, 0xFE):
            out += data[pos : pos + 2 + length]
        pos += 2 + length
    return bytes(out + data[pos:])


def strip_icc(data: bytes) -> bytes:
    """A JPEG without its APP2 ICC_PROFILE segments."""
    out, pos = bytearray(data[:2]), 2
    while data[pos + 1] != 0xDA:
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if not (data[pos + 1] == 0xE2 and data[pos + 4 : pos + 16] == b"ICC_PROFILE\x00"):
            out += data[pos : pos + 2 + length]
        pos += 2 + length
    return bytes(out + data[pos:])


# --- operations and their actions ---------------------------------------------------------


def test_operations_round_trip_through_actions() -> None:
    ops: list[edits.Operation] = [
        edits.Crop(1, 2, 30, 40),
        edits.Resize(10, 12),
        edits.Rotate(270),
        edits.Flip("vertical"),
    ]
    assert edits.from_actions([op.action() for op in ops]) == ops
    assert edits.from_actions([Action("c2pa.adjustedColor", {"brightness": 1.1})]) is None
    assert edits.from_actions([Action("c2pa.cropped", {"left": 0})]) is None
    assert edits.from_actions([]) is None
    too_many = [edits.Flip("horizontal").action()] * (edits.MAX_OPERATIONS + 1)
    assert edits.from_actions(too_many) is None
    assert edits.from_actions(too_many[: edits.MAX_OPERATIONS]) is not None


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "10,10,5,20", "-1,0,4,4"])
def test_bad_crop_is_rejected(text: str) -> None:
    with pytest.raises(edits.EditError) as info:
        edits.parse_crop(text)
    assert info.value.hint


@pytest.mark.parametrize("text", ["100", "0x10", "10x", "axb", "100000x100000"])
def test_bad_resize_is_rejected(text: str) -> None:
    with pytest.raises(edits.EditError):
        edits.parse_resize(text)


def test_rotate_only_by_right_angles() -> None:
    assert edits.parse_rotate(-90) == edits.Rotate(270)
    with pytest.raises(edits.EditError, match="multiples of 90") as info:
        edits.parse_rotate(45)
    assert info.value.hint is not None and "derive" in info.value.hint


def test_expected_size() -> None:
    assert edits.expected_size([], (300, 200)) == (300, 200)
    ops: list[edits.Operation] = [edits.Crop(5, 5, 205, 105), edits.Rotate(90)]
    assert edits.expected_size(ops, (300, 200)) == (100, 200)
    assert edits.expected_size([edits.Rotate(180), edits.Flip("horizontal")], (30, 20)) == (30, 20)
    assert edits.expected_size([edits.Resize(7, 9), edits.Rotate(270)], (30, 20)) == (9, 7)
    assert edits.expected_size([edits.Crop(0, 0, 301, 10)], (300, 200)) is None
    assert edits.expected_size([edits.Resize(50, 50), edits.Crop(0, 0, 60, 10)], (300, 200)) is None


def test_out_of_range_crop_names_the_image_size() -> None:
    data = encode(pattern((120, 80)), "PNG")
    with pytest.raises(edits.EditError) as info:
        edits.apply(data, [edits.Crop(0, 0, 10_000, 10)], out_format="PNG")
    message = str(info.value)
    assert message == "crop box 0,0,10000,10 lies outside the 120x80 image"
    assert "Crop(" not in message and "\n" not in message
    assert info.value.hint == "RIGHT must be at most 120 and BOTTOM at most 80"


# --- applying and replaying ---------------------------------------------------------------


def test_apply_is_deterministic_and_exact(photos: list[Path]) -> None:
    data = photos[0].read_bytes()
    ops: list[edits.Operation] = [edits.Crop(5, 5, 205, 105), edits.Rotate(90)]
    actions = [op.action() for op in ops]
    a = edits.apply(data, ops, out_format="PNG")
    assert a == edits.apply(data, ops, out_format="PNG")
    d = digest_bytes(a)
    assert (d.width, d.height, d.frames) == (100, 200, 1)
    assert edits.replay_digest(data, actions, out_format="PNG", digest_set=2) == d.content
    # lossless WebP replays exactly too, JPEG with this encoder build
    for fmt in ("WEBP", "JPEG", "TIFF"):
        out = edits.apply(data, ops, out_format=fmt)
        assert edits.replay_digest(data, actions, out_format=fmt, digest_set=2) == (
            ImageProbe(out).content()
        )
    # not replayable: declared actions, or a format edit never writes
    photometric = [Action("c2pa.adjustedColor", {"brightness": 1.1})]
    assert edits.replay_digest(data, photometric, out_format="PNG", digest_set=2) is None
    assert edits.replay_digest(data, actions, out_format="GIF", digest_set=2) is None


def test_replay_of_a_digest_set_1_edit_uses_the_v1_pixel_digest(photos: list[Path]) -> None:
    """Digest set 1's edits were written without the colour profile and recorded the v1
    pixel digest: their replay must give that digest."""
    data = photos[0].read_bytes()
    assert display_frame(data)[1] is not None  # the rocket carries Adobe RGB (1998)
    ops: list[edits.Operation] = [edits.Crop(0, 0, 300, 200), edits.Resize(150, 100)]
    frame, _ = display_frame(data)
    v1_child = io.BytesIO()
    frame.crop((0, 0, 300, 200)).resize((150, 100), Image.Resampling.LANCZOS).save(v1_child, "PNG")
    expected = pixel_digest_v1(v1_child.getvalue())
    actions = [op.action() for op in ops]
    assert edits.replay_digest(data, actions, out_format="PNG", digest_set=1) == expected
    assert edits.replay_digest(data, actions, out_format="PNG", digest_set=2) != expected


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_apply_starts_from_the_displayed_frame(orientation: int) -> None:
    """An edit starts from what a viewer shows: EXIF orientation applied (then the output
    carries no orientation tag, so it displays the same)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    source = pattern((96, 64))
    data = encode(source, "PNG", exif=exif.tobytes())
    out = edits.apply(data, [edits.Flip("horizontal")], out_format="PNG")
    shown = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    expected = ImageOps.mirror(shown)
    result = Image.open(io.BytesIO(out))
    assert result.getexif().get(0x0112) is None
    assert result.size == expected.size
    assert result.convert("RGB").tobytes() == expected.tobytes()
    assert ImageProbe(out).size() == (*expected.size, 1)


def test_an_animated_source_is_refused() -> None:
    frames = [pattern(), ImageOps.mirror(pattern())]
    for data in (
        encode(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0),
        encode(frames[0], "PNG", save_all=True, append_images=frames[1:]),
        encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True),
    ):
        with pytest.raises(ImageError, match="cannot edit an animation") as info:
            edits.apply(data, [edits.Flip("horizontal")], out_format="PNG")
        assert info.value.hint is not None and "derive" in info.value.hint
        with pytest.raises(ImageError, match="animation"):
            edits.replay_digest(
                data, [edits.Flip("horizontal").action()], out_format="PNG", digest_set=2
            )


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG", "TIFF"])
def test_icc_profile_is_carried_into_the_output(fmt: str) -> None:
    """The edit changes geometry, never colours: a profile that does not render like sRGB
    is written into the output, so the content digest's colour token survives."""
    profile = swap_primaries(srgb_profile())
    source = encode(pattern((120, 80)), "JPEG", quality=90, icc_profile=profile)
    assert display_frame(source)[1] == profile
    out = edits.apply(source, [edits.Crop(0, 0, 60, 40)], out_format=fmt)
    assert Image.open(io.BytesIO(out)).info.get("icc_profile") == profile
    if fmt == "PNG":
        assert png_tokens(out).colour.startswith("icc sha256:")
    if fmt == "JPEG":
        assert walk(out, "out", 10**9).icc_profile() == profile
    # the same edit without the profile is another picture on screen
    frame, _ = display_frame(source)
    bare = io.BytesIO()
    cropped = frame.crop((0, 0, 60, 40))
    cropped.info.pop("icc_profile", None)  # Pillow would write it from there
    if fmt == "JPEG":
        cropped.save(bare, fmt, quality=95)
    elif fmt == "WEBP":
        cropped.save(bare, fmt, lossless=True)
    else:
        cropped.save(bare, fmt)
    assert ImageProbe(out).content() != ImageProbe(bare.getvalue()).content()
    action = [edits.Crop(0, 0, 60, 40).action()]
    assert edits.replay_digest(source, action, out_format=fmt, digest_set=2) == (
        ImageProbe(out).content()
    )


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "JPEG"])
def test_an_srgb_profile_is_no_profile(fmt: str) -> None:
    """A profile that renders like sRGB is no profile to a viewer: display_frame does not
    hand it on, and the output's content digest is the one of an untagged image."""
    source = encode(pattern((120, 80)), "JPEG", quality=90, icc_profile=srgb_profile())
    assert display_frame(source)[1] is None
    out = edits.apply(source, [edits.Rotate(90)], out_format=fmt)
    untagged = edits.apply(strip_icc(source), [edits.Rotate(90)], out_format=fmt)
    assert ImageProbe(out).content() == ImageProbe(untagged).content()
    if fmt == "PNG":
        assert png_tokens(out).colour == "srgb"


def test_the_replay_budget_refuses_quickly() -> None:
    data = encode(pattern((60, 40)), "PNG")
    flips = [edits.Flip("horizontal")] * (edits.MAX_OPERATIONS + 1)
    huge = [edits.Resize(14_000, 14_000)] * 3  # 588 MP produced in all
    assert edits.REPLAY_PIXEL_BUDGET < 3 * 14_000 * 14_000
    start = time.perf_counter()
    with pytest.raises(edits.ReplayBudgetError, match=f"at most {edits.MAX_OPERATIONS}"):
        edits.apply(data, flips, out_format="PNG")
    with pytest.raises(edits.ReplayBudgetError, match="588,000,000 pixels") as info:
        edits.apply(data, huge, out_format="PNG")
    assert info.value.hint
    with pytest.raises(edits.ReplayBudgetError):
        edits.check_budget(huge, (60, 40))
    # as a signed record would ask for it: sixteen resizes, each within the 200 MP bound
    recorded = [edits.Resize(14_000, 14_000).action()] * edits.MAX_OPERATIONS
    with pytest.raises(edits.ReplayBudgetError):
        edits.replay_digest(data, recorded, out_format="PNG", digest_set=2)
    assert time.perf_counter() - start < 5.0
    edits.check_budget([edits.Resize(10_000, 10_000)] * 4, (60, 40))  # 400 MP: allowed


# --- replay verification (check 8) --------------------------------------------------------


def _edited(lenv: LedgerEnv, photos: list[Path], index: int = 0, suffix: str = ".png") -> Path:
    lenv.ledger.sign(photos[index : index + 1], lenv.alice, now=FIXED_NOW)
    out = lenv.tmp / f"edit{suffix}"
    result = lenv.ledger.edit(
        photos[index],
        out,
        [edits.Crop(0, 0, 300, 200), edits.Resize(150, 100)],
        lenv.desk,
        now=FIXED_NOW,
    )
    assert result.status == "signed"
    return out


def test_replay_of_a_genuine_edit_passes(lenv: LedgerEnv, photos: list[Path]) -> None:
    out = _edited(lenv, photos)
    report, _ = lenv.ledger.evidence().verify_image(out, parent_images=[photos[0]])
    assert report.verdict == "verified"
    assert (report.checks[7].status, report.checks[7].code) == ("pass", "replay.match")
    assert [s.check for s in report.chain] == ["replayed", "capture"]
    assert report.assurance == "complete"
    # without the parent image the edit rests on the signer's word
    plain, _ = lenv.ledger.evidence().verify_image(out)
    assert (plain.verdict, plain.assurance) == ("verified", "declared")
    assert plain.checks[7].code == "replay.notRequested"


def test_edit_output_keeps_the_parents_colour_profile(lenv: LedgerEnv, photos: list[Path]) -> None:
    out = _edited(lenv, photos)
    _, profile = display_frame(photos[0].read_bytes())
    assert profile is not None
    with Image.open(out) as written:
        assert written.info.get("icc_profile") == profile
    assert png_tokens(out.read_bytes()).colour.startswith("icc sha256:")


def test_the_replay_claim_cannot_be_given_by_hand(lenv: LedgerEnv, photos: list[Path]) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    with pytest.raises(RecordError, match="reserved"):
        lenv.ledger.derive(
            [str(photos[0])],
            photos[1],
            lenv.desk,
            [edits.Crop(0, 0, 300, 200).action()],
            claims={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
            now=FIXED_NOW,
        )


def test_attack_edit_whose_pixels_do_not_follow_its_actions(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    """A modified client signs an honest-looking crop record, carrying the replay marker,
    for an image that was also shifted: signature, inclusion and sizes all check out; only
    the replay shows the lie."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    data = photos[0].read_bytes()
    claimed = edits.Crop(0, 0, 300, 200)
    forged = edits.apply(data, [edits.Crop(1, 0, 301, 200)], out_format="PNG")
    lie = lenv.tmp / "lie.png"
    lie.write_bytes(forged)
    lenv.ledger.derive(
        [str(photos[0])],
        lie,
        lenv.desk,
        [claimed.action()],
        _marker={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},  # "made with provenance edit"
        now=FIXED_NOW,
    )
    plain, _ = lenv.ledger.evidence().verify_image(lie)
    # without the parent image nothing can tell; the step is only declared
    assert (plain.verdict, plain.assurance) == ("verified", "declared")
    report, _ = lenv.ledger.evidence().verify_image(lie, parent_images=[photos[0]])
    assert report.verdict == "tampered"
    assert report.checks[7].code == "replay.mismatch"


def test_declared_edits_are_not_replayable(lenv: LedgerEnv, photos: list[Path]) -> None:
    """A real colour adjustment, declared with derive: verified, checked for plausibility
    from the records, never replayed."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    brighter = lenv.tmp / "brighter.png"
    with Image.open(photos[0]) as parent:
        ImageEnhance.Brightness(parent.convert("RGB")).enhance(1.1).save(brighter)
    lenv.ledger.derive(
        [str(photos[0])],
        brighter,
        lenv.desk,
        [Action("c2pa.adjustedColor", {"brightness": 1.1})],
        now=FIXED_NOW,
    )
    report, _ = lenv.ledger.evidence().verify_image(brighter, parent_images=[photos[0]])
    assert report.verdict == "verified"
    assert (report.checks[7].status, report.checks[7].code) == ("skip", "replay.notReplayable")
    assert [s.check for s in report.chain] == ["declared, plausible", "capture"]
    assert report.assurance == "declared"


def test_a_declared_colour_edit_of_another_photo_is_implausible(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    """(Was: any photo could be declared a colour edit of any capture and verify.)"""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.derive(
        [str(photos[0])],
        photos[1],
        lenv.desk,
        [Action("c2pa.adjustedColor", {"brightness": 1.1})],
        now=FIXED_NOW,
    )
    report, _ = lenv.ledger.evidence().verify_image(photos[1], parent_images=[photos[0]])
    assert report.verdict == "tampered"
    assert report.checks[4].code == "edit.implausible"


def test_parent_image_must_belong_to_the_chain(lenv: LedgerEnv, photos: list[Path]) -> None:
    out = _edited(lenv, photos)
    with pytest.raises(NotFoundError, match="not the image of any record") as info:
        lenv.ledger.evidence().verify_image(out, parent_images=[photos[2]])
    assert info.value.hint is not None and "--parent-image" in info.value.hint


def test_parent_image_with_metadata_stripped_still_replays(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    """The parent is found by its content digest: a copy without the JFIF header and the
    comment (what a viewer shows is unchanged) replays; a PNG conversion of the JPEG is
    another file, not the parent (DESIGN section 3: at best similar)."""
    out = _edited(lenv, photos)
    data = photos[0].read_bytes()
    stripped = strip_jpeg_comments_and_jfif(data)
    assert len(stripped) < len(data)
    assert ImageProbe(stripped).content() == ImageProbe(data).content()
    copy = lenv.tmp / "parent-stripped.jpg"
    copy.write_bytes(stripped)
    report, _ = lenv.ledger.evidence().verify_image(out, parent_images=[copy])
    assert report.checks[7].code == "replay.match"
    png = lenv.tmp / "parent.png"
    with Image.open(photos[0]) as parent:
        parent.save(png)  # same samples, other container: another file
    with pytest.raises(NotFoundError, match="not the image of any record"):
        lenv.ledger.evidence().verify_image(out, parent_images=[png])


def test_png_parent_in_another_lossless_container_still_replays(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    out = _edited(lenv, photos, index=4)  # skimage__chelsea.png (sRGB profile, XMP)
    webp = lenv.tmp / "parent.webp"
    frame, profile = display_frame(photos[4].read_bytes())
    assert profile is None  # its profile renders like sRGB
    frame.save(webp, "WEBP", lossless=True)
    assert ImageProbe.from_file(webp).content() == ImageProbe.from_file(photos[4]).content()
    report, _ = lenv.ledger.evidence().verify_image(out, parent_images=[webp])
    assert report.checks[7].code == "replay.match"


def test_cli_edit_refuses_to_overwrite_and_reports_json(
    lenv: LedgerEnv, photos: list[Path], run_cli
) -> None:  # type: ignore[no-untyped-def]
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.close()
    out = lenv.tmp / "o.png"
    args = [
        "--db",
        lenv.db,
        "edit",
        photos[0],
        "-o",
        out,
        "--flip",
        "horizontal",
        "--key",
        lenv.desk_file,
    ]
    r = run_cli(*args, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "signed"
    r = run_cli(*args)
    assert r.exit_code == 3 and "exists" in r.stderr
    r = run_cli(
        "--db",
        lenv.db,
        "edit",
        photos[0],
        "-o",
        lenv.tmp / "x.bmp",
        "--flip",
        "vertical",
        "--key",
        lenv.desk_file,
    )
    assert r.exit_code == 3 and "unsupported output" in r.stderr
    assert not (lenv.tmp / "x.bmp").exists()
    r = run_cli(
        "--db", lenv.db, "edit", photos[0], "-o", lenv.tmp / "y.png", "--key", lenv.desk_file
    )
    assert r.exit_code == 2
    r = run_cli("--db", lenv.db, "verify", out, "--parent-image", photos[0], "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["checks"][7]["code"] == "replay.match"
    assert (got["assurance"], got["declared_steps"]) == ("complete", 0)


def test_cli_edit_crop_outside_the_image_is_one_line_with_a_hint(
    lenv: LedgerEnv, photos: list[Path], run_cli
) -> None:  # type: ignore[no-untyped-def]
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.close()
    r = run_cli(
        "--db",
        lenv.db,
        "edit",
        photos[0],
        "-o",
        lenv.tmp / "c.png",
        "--crop",
        "0,0,9999,10",
        "--key",
        lenv.desk_file,
    )
    assert r.exit_code == 3
    assert "lies outside the 640x427 image" in r.stderr
    assert "RIGHT must be at most 640" in r.stderr
    assert "Crop(" not in r.stderr and "Traceback" not in r.stderr
    assert not (lenv.tmp / "c.png").exists()


def test_a_crop_declared_with_derive_is_not_replayed(lenv: LedgerEnv, photos: list[Path]) -> None:
    """A crop made in another program and declared with derive describes the edit; it was
    never promised to match our pixels, so it is not replayed (and not called tampered)."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    data = photos[0].read_bytes()
    elsewhere = lenv.tmp / "elsewhere.jpg"
    elsewhere.write_bytes(
        edits.apply(data, [edits.Crop(0, 0, 300, 200)], out_format="JPEG", quality=80)
    )
    lenv.ledger.derive(
        [str(photos[0])], elsewhere, lenv.desk, [edits.Crop(0, 0, 300, 200).action()], now=FIXED_NOW
    )
    report, _ = lenv.ledger.evidence().verify_image(elsewhere, parent_images=[photos[0]])
    assert report.verdict == "verified"
    assert report.checks[7].code == "replay.notReplayable"
    assert report.chain[0].check in ("declared", "declared, plausible")


def test_replay_with_impossible_recorded_parameters_is_a_mismatch(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    """Signed parameters get the command line's bounds: a crop box outside the parent, or a
    reversed one, is reported (replay.mismatch), never a traceback or a huge allocation."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    out = lenv.tmp / "odd.png"
    out.write_bytes(edits.apply(photos[0].read_bytes(), [edits.Rotate(180)], out_format="PNG"))
    lenv.ledger.derive(
        [str(photos[0])],
        out,
        lenv.desk,
        [Action("c2pa.cropped", {"left": 0, "top": 0, "right": 99999, "bottom": 10})],
        _marker={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
        now=FIXED_NOW,
    )
    report, _ = lenv.ledger.evidence().verify_image(out, parent_images=[photos[0]])
    assert report.verdict == "tampered"
    assert report.checks[7].code == "replay.mismatch"
    assert "cannot be replayed" in report.checks[7].detail
    assert "640x427" in report.checks[7].detail
    assert (
        edits.from_actions([Action("c2pa.cropped", {"left": 5, "top": 0, "right": 1, "bottom": 9})])
        is None
    )
    assert (
        edits.from_actions(
            [Action("c2pa.resized", {"width": 100000, "height": 100000, "filter": "lanczos"})]
        )
        is None
    )


def test_a_recorded_replay_bomb_is_refused_quickly(lenv: LedgerEnv, photos: list[Path]) -> None:
    """Sixteen 196 MP resizes in a signed record (each within the per-operation bound): the
    replay is refused at once with ReplayBudgetError, not run for minutes."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    out = lenv.tmp / "bomb.png"
    out.write_bytes(edits.apply(photos[0].read_bytes(), [edits.Rotate(90)], out_format="PNG"))
    lenv.ledger.derive(
        [str(photos[0])],
        out,
        lenv.desk,
        [edits.Resize(14_000, 14_000).action()] * edits.MAX_OPERATIONS,
        _marker={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
        now=FIXED_NOW,
    )
    start = time.perf_counter()
    with pytest.raises(edits.ReplayBudgetError, match="pixels"):
        lenv.ledger.evidence().verify_image(out, parent_images=[photos[0]])
    assert time.perf_counter() - start < 5.0
