"""Replayable edits: operations, their action records, and replay verification (check 8)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXED_NOW, LedgerEnv

from provenance import edits
from provenance.errors import NotFoundError
from provenance.imaging import digest_bytes, pixel_digest
from provenance.ledger import LedgerVerifier
from provenance.records import Action


def test_operations_round_trip_through_actions() -> None:
    ops: list[edits.Operation] = [
        edits.Crop(1, 2, 30, 40),
        edits.Resize(10, 12),
        edits.Rotate(270),
        edits.Flip("vertical"),
    ]
    assert edits.from_actions([op.action() for op in ops]) == ops
    assert edits.from_actions([Action("c2pa.color_adjustments", {"brightness": 1.1})]) is None
    assert edits.from_actions([Action("c2pa.cropped", {"left": 0})]) is None
    assert edits.from_actions([]) is None


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "10,10,5,20", "-1,0,4,4"])
def test_bad_crop_is_rejected(text: str) -> None:
    with pytest.raises(edits.EditError):
        edits.parse_crop(text)


@pytest.mark.parametrize("text", ["100", "0x10", "10x", "axb", "100000x100000"])
def test_bad_resize_is_rejected(text: str) -> None:
    with pytest.raises(edits.EditError):
        edits.parse_resize(text)


def test_rotate_only_by_right_angles() -> None:
    assert edits.parse_rotate(-90) == edits.Rotate(270)
    with pytest.raises(edits.EditError):
        edits.parse_rotate(45)


def test_apply_is_deterministic_and_exact(photos: list[Path]) -> None:
    data = photos[0].read_bytes()
    ops: list[edits.Operation] = [edits.Crop(5, 5, 205, 105), edits.Rotate(90)]
    a = edits.apply(data, ops, out_format="PNG")
    assert a == edits.apply(data, ops, out_format="PNG")
    d = digest_bytes(a)
    assert (d.width, d.height) == (100, 200)
    assert edits.replay_pixels(data, [op.action() for op in ops], out_format="PNG") == d.pixels
    with pytest.raises(edits.EditError, match="outside"):
        edits.apply(data, [edits.Crop(0, 0, 10_000, 10)], out_format="PNG")


def _edited(lenv: LedgerEnv, photos: list[Path]) -> Path:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    out = lenv.tmp / "edit.png"
    lenv.ledger.edit(
        photos[0],
        out,
        [edits.Crop(0, 0, 300, 200), edits.Resize(150, 100)],
        lenv.desk,
        now=FIXED_NOW,
    )
    return out


def test_replay_of_a_genuine_edit_passes(lenv: LedgerEnv, photos: list[Path]) -> None:
    out = _edited(lenv, photos)
    report, _ = LedgerVerifier(lenv.ledger).verify_image(out, parent_images=[photos[0]])
    assert report.verdict == "verified"
    assert (report.checks[7].status, report.checks[7].code) == ("pass", "replay.match")


def test_attack_edit_whose_pixels_do_not_follow_its_actions(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    """desk signs an honest-looking crop record for an image that was also retouched: the
    signature, inclusion and hashes all check out; only the replay shows the lie."""
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
        claims={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},  # "made with provenance edit"
        now=FIXED_NOW,
    )
    plain, _ = LedgerVerifier(lenv.ledger).verify_image(lie)
    assert plain.verdict == "verified"  # without the parent image nothing can tell
    report, _ = LedgerVerifier(lenv.ledger).verify_image(lie, parent_images=[photos[0]])
    assert report.verdict == "tampered"
    assert report.checks[7].code == "replay.mismatch"


def test_declared_edits_are_not_replayable(lenv: LedgerEnv, photos: list[Path]) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.derive(
        [str(photos[0])],
        photos[1],
        lenv.desk,
        [Action("c2pa.color_adjustments", {"brightness": 1.1})],
        now=FIXED_NOW,
    )
    report, _ = LedgerVerifier(lenv.ledger).verify_image(photos[1], parent_images=[photos[0]])
    assert report.verdict == "verified"
    assert (report.checks[7].status, report.checks[7].code) == ("skip", "replay.notReplayable")


def test_parent_image_must_belong_to_the_chain(lenv: LedgerEnv, photos: list[Path]) -> None:
    out = _edited(lenv, photos)
    with pytest.raises(NotFoundError, match="not the image of any record"):
        LedgerVerifier(lenv.ledger).verify_image(out, parent_images=[photos[2]])


def test_parent_image_with_metadata_stripped_still_replays(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    out = _edited(lenv, photos)
    png = lenv.tmp / "parent.png"
    from PIL import Image

    Image.open(photos[0]).save(png)  # same pixels, other container
    assert pixel_digest(png.read_bytes()).pixels == pixel_digest(photos[0].read_bytes()).pixels
    report, _ = LedgerVerifier(lenv.ledger).verify_image(out, parent_images=[png])
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
    assert r.exit_code == 0 and json.loads(r.stdout)["checks"][7]["code"] == "replay.match"


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
    report, _ = LedgerVerifier(lenv.ledger).verify_image(elsewhere, parent_images=[photos[0]])
    assert report.verdict == "verified"
    assert report.checks[7].code == "replay.notReplayable"


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
        claims={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
        now=FIXED_NOW,
    )
    report, _ = LedgerVerifier(lenv.ledger).verify_image(out, parent_images=[photos[0]])
    assert report.checks[7].code == "replay.mismatch"
    assert "cannot be replayed" in report.checks[7].detail
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
