"""End-to-end CLI tests on real photographs: exit codes, output, errors, JSON."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from provenance.keys import load_public_key_file

PW = {"PROVENANCE_PASSPHRASE": "test passphrase"}


@pytest.fixture
def setup(tmp_path: Path, run_cli, photos: list[Path]):  # type: ignore[no-untyped-def]
    """A ledger with key alice (encrypted, 1 KDF round) in tmp_path; returns (db, run)."""
    db = tmp_path / "t.db"

    def run(*args: object, env: dict[str, str] | None = None, input: str | None = None):  # type: ignore[no-untyped-def]
        return run_cli("--db", db, *args, env={**PW, **(env or {})}, input=input)

    r = run("init", "--origin", "cli.test/log")
    assert r.exit_code == 0, r.output
    r = run("keys", "generate", "alice", "-o", tmp_path / "alice.key", "--kdf-rounds", "1")
    assert r.exit_code == 0, r.output
    return db, run


def test_init_creates_ledger_and_log_key(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db, run = setup
    assert db.exists()
    key = tmp_path / "t.db.logkey"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    r = run("log", "show", "--json")
    info = json.loads(r.stdout)
    assert info["size"] == 1  # alice's registration
    assert info["origin"] == "cli.test/log"
    assert info["checkpoint"]["size"] == 1
    assert info["checkpoint"]["note"].startswith("cli.test/log\n1\n")
    r = run("init")
    assert r.exit_code == 3
    assert "already exists" in r.stderr


def test_keys_generate_list_show_and_ssh_fingerprint(setup, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _db, run = setup
    key = tmp_path / "alice.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"aes256-ctr" in __import__("base64").b64decode(
        b"".join(key.read_bytes().splitlines()[1:-1])
    )  # encrypted with a passphrase
    r = run("keys", "list", "--json")
    [k] = json.loads(r.stdout)
    assert k["name"] == "alice" and k["revoked_at"] is None
    if shutil.which("ssh-keygen"):
        out = subprocess.run(
            ["ssh-keygen", "-lf", str(key) + ".pub"], capture_output=True, text=True, check=True
        ).stdout
        assert k["key_id"] in out
    r = run("keys", "show", str(key) + ".pub", "--json")
    assert json.loads(r.stdout)["key_id"] == k["key_id"]


def test_register_ssh_keygen_key_and_sign_with_it(
    setup,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    photos: list[Path],
) -> None:
    if not shutil.which("ssh-keygen"):
        pytest.skip("ssh-keygen not installed")
    _db, run = setup
    sk = tmp_path / "id_ed25519"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "sshpass", "-a", "2", "-f", str(sk)], check=True
    )
    r = run("keys", "register", str(sk) + ".pub", "--name", "bob")
    assert r.exit_code == 0, r.output
    pf = tmp_path / "pw.txt"
    pf.write_text("sshpass\n")
    r = run("sign", photos[0], "--key", sk, "--passphrase-file", pf, "--json")
    assert r.exit_code == 0, r.output
    line = json.loads(r.stdout.splitlines()[0])
    assert line["status"] == "signed"
    r = run("history", photos[0], "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["records"][0]["signer_name"] == "bob"


def test_sign_folder_history_prove_and_dedupe(
    setup,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    photos: list[Path],
) -> None:
    _db, run = setup
    folder = photos[0].parent
    (folder / "notes.txt").write_text("not an image, skipped by suffix")
    r = run("sign", folder, "--key", tmp_path / "alice.key", "--claim", "author=Alice", "--json")
    assert r.exit_code == 0, r.output
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert len(lines) == len(photos)
    assert {x["status"] for x in lines} == {"signed"}
    # again: every image reported as already logged, nothing appended
    size = json.loads(run("log", "show", "--json").stdout)["size"]
    r = run("sign", folder, "--key", tmp_path / "alice.key", "--json")
    assert r.exit_code == 0
    assert {json.loads(x)["status"] for x in r.stdout.splitlines()} == {"exists"}
    assert json.loads(run("log", "show", "--json").stdout)["size"] == size
    rid = lines[0]["record_id"]
    r = run("log", "prove", rid, "--json")
    assert r.exit_code == 0
    proof = json.loads(r.stdout)
    assert proof["record_id"] == rid and proof["size"] == size and proof["verified"]
    r = run("log", "prove", rid, "--size", str(lines[0]["index"] + 1), "--json")
    assert json.loads(r.stdout)["size"] == lines[0]["index"] + 1
    r = run("log", "consistency", "2", str(size), "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["verified"]
    r = run("log", "consistency", "0", str(size))
    assert r.exit_code == 0
    r = run("log", "consistency", str(size), "2")
    assert r.exit_code == 3


def test_derive_edit_history_verify(setup, tmp_path: Path, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    _db, run = setup
    key = tmp_path / "alice.key"
    src = photos[0]
    assert run("sign", src, "--key", key).exit_code == 0
    out = tmp_path / "crop.png"
    r = run(
        "edit",
        src,
        "-o",
        out,
        "--crop",
        "10,10,300,200",
        "--resize",
        "145x95",
        "--key",
        key,
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert out.exists()
    graded = tmp_path / "graded.jpg"
    from PIL import Image, ImageEnhance

    ImageEnhance.Brightness(Image.open(out).convert("RGB")).enhance(1.2).save(graded, quality=90)
    r = run(
        "derive",
        out,
        graded,
        "--key",
        key,
        "--action",
        "c2pa.adjustedColor",
        "--param",
        "brightness=1.2",
        "--param",
        'note="warmer"',
        "--json",
    )
    assert r.exit_code == 0, r.output
    r = run("history", graded, "--json")
    assert r.exit_code == 0, r.output
    hist = json.loads(r.stdout)
    steps = {s["record_id"]: s for s in hist["records"]}
    top = hist["records"][0]
    assert top["index"] == hist["root"] and top["type"] == "edit" and top["ok"]
    assert top["actions"] == [
        {"action": "c2pa.adjustedColor", "params": {"brightness": 1.2, "note": "warmer"}}
    ]
    mid = steps[top["parents"][0]]
    assert [a["action"] for a in mid["actions"]] == ["c2pa.cropped", "c2pa.resized"]
    cap = steps[mid["parents"][0]]
    assert cap["type"] == "capture" and cap["parents"] == [] and cap["asset"]["format"] == "JPEG"
    r = run("history", graded)
    assert "chain verifies" in r.stdout and "└── " in r.stdout
    r = run("verify", graded, "--json")
    assert r.exit_code == 0, r.output
    rep = json.loads(r.stdout)
    assert rep["verdict"] == "verified" and rep["match"] == "sha256"
    assert [c["status"] for c in rep["checks"]] == ["pass"] * 7 + ["skip"]
    assert [s["type"] for s in rep["chain"]] == ["edit", "edit", "capture"]


def test_verify_verdicts_and_exit_codes(setup, tmp_path: Path, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    _db, run = setup
    assert run("sign", photos[0], "--key", tmp_path / "alice.key").exit_code == 0
    r = run("verify", photos[0])
    assert r.exit_code == 0 and r.stdout.startswith("VERIFIED")
    from PIL import Image

    re = tmp_path / "re.jpg"
    Image.open(photos[0]).save(re, quality=70)
    r = run("verify", re)
    assert r.exit_code == 5 and r.stdout.startswith("SIMILAR")
    r = run("verify", photos[1])
    assert r.exit_code == 4 and r.stdout.startswith("UNKNOWN")
    r = run("verify", tmp_path / "missing.jpg")
    assert r.exit_code == 3 and r.stderr.startswith("error: ")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    r = run("verify", bad)
    assert r.exit_code == 3 and "error:" in r.stderr and "Traceback" not in r.stderr


def test_export_and_offline_bundle(setup, tmp_path: Path, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    _db, run = setup
    assert run("sign", photos[0], "--key", tmp_path / "alice.key").exit_code == 0
    bundle = tmp_path / "b.json"
    r = run("export", photos[0], "-o", bundle)
    assert r.exit_code == 0, r.output
    vkey = json.loads(run("log", "show", "--json").stdout)["vkey"]
    # no database at all: the log's published verifier key is the trust anchor
    r = run("--db", tmp_path / "nowhere.db", "verify", photos[0], "--bundle", bundle)
    assert r.exit_code == 3 and "no trust anchor" in r.stderr
    r = run(
        "--db",
        tmp_path / "nowhere.db",
        "verify",
        photos[0],
        "--bundle",
        bundle,
        "--trust-log-key",
        vkey,
    )
    assert r.exit_code == 0, r.output
    # the local ledger of the same log is an anchor too
    r = run("verify", photos[0], "--bundle", bundle)
    assert r.exit_code == 0, r.output
    bundle.write_text(bundle.read_text()[:200])
    r = run("verify", photos[0], "--bundle", bundle)
    assert r.exit_code == 3 and "truncated" in r.stderr


def test_pinned_checkpoint(setup, tmp_path: Path, photos: list[Path]) -> None:  # type: ignore[no-untyped-def]
    _db, run = setup
    assert run("sign", photos[0], "--key", tmp_path / "alice.key").exit_code == 0
    pin = tmp_path / "pin.checkpoint"
    assert run("log", "checkpoint", "--out", pin).exit_code == 0
    assert pin.read_text().startswith("cli.test/log\n2\n")
    assert run("sign", photos[1], "--key", tmp_path / "alice.key").exit_code == 0
    r = run("verify", photos[0], "--checkpoint", pin)
    assert r.exit_code == 0, r.output
    r = run("log", "verify", "--checkpoint", pin, "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["ok"]
    pin.write_text("garbage\n")
    r = run("verify", photos[0], "--checkpoint", pin)
    assert r.exit_code == 3 and "error:" in r.stderr


def test_revoked_key_cannot_sign_and_is_reported(
    setup,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    photos: list[Path],
) -> None:
    _db, run = setup
    key = tmp_path / "alice.key"
    assert run("sign", photos[0], "--key", key).exit_code == 0
    kid = load_public_key_file(str(key) + ".pub").key_id
    r = run("keys", "revoke", kid, "--reason", "laptop stolen", "--json")
    assert r.exit_code == 0, r.output
    r = run("sign", photos[1], "--key", key)
    assert r.exit_code == 3 and "revoked" in r.stderr
    # signed before the revocation: still verified (judged by log position)
    assert run("verify", photos[0]).exit_code == 0
    r = run("keys", "revoke", kid)
    assert r.exit_code == 3 and "already revoked" in r.stderr


def test_errors_are_one_line_with_exit_3(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    r = run_cli("--db", tmp_path / "none.db", "log", "show")
    assert r.exit_code == 3
    assert r.stderr.splitlines()[0].startswith("error: no ledger")
    assert r.stderr.splitlines()[1].startswith("hint: ")
    foreign = tmp_path / "foreign.db"
    import sqlite3

    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE photos (x)")
    con.commit()
    con.close()
    r = run_cli("--db", foreign, "log", "show")
    assert r.exit_code == 3 and "not a provenance ledger" in r.stderr
    notdb = tmp_path / "notdb.db"
    notdb.write_bytes(b"hello, this is not sqlite" * 100)
    r = run_cli("--db", notdb, "log", "show")
    assert r.exit_code == 3 and "Traceback" not in r.stderr


def test_wrong_passphrase_and_no_prompt_without_tty(
    setup,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    photos: list[Path],
) -> None:
    _db, run = setup
    r = run(
        "sign", photos[0], "--key", tmp_path / "alice.key", env={"PROVENANCE_PASSPHRASE": "wrong"}
    )
    assert r.exit_code == 3 and "passphrase" in r.stderr.lower()
    r = run("sign", photos[0], "--key", tmp_path / "alice.key", env={"PROVENANCE_PASSPHRASE": ""})
    assert r.exit_code == 3


def test_usage_errors_exit_2(setup) -> None:  # type: ignore[no-untyped-def]
    _db, run = setup
    assert run("sign").exit_code == 2
    assert run("verify").exit_code == 2
    assert run("log", "consistency", "x", "y").exit_code == 2
    assert run("nonsense").exit_code == 2


def test_sign_partial_failure_lists_failures(
    setup,
    tmp_path: Path,  # type: ignore[no-untyped-def]
    photos: list[Path],
) -> None:
    _db, run = setup
    folder = photos[0].parent
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff" + b"\x00" * 50)
    (folder / "empty.png").write_bytes(b"")
    r = run("sign", folder, "--key", tmp_path / "alice.key", "--json")
    assert r.exit_code == 3
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    errs = [x for x in lines if x["status"] == "error"]
    assert {Path(x["path"]).name for x in errs} == {"broken.jpg", "empty.png"}
    assert sum(x["status"] == "signed" for x in lines) == len(photos)


def test_console_script_and_shim_run_as_processes(tmp_path: Path) -> None:
    """The installed console script and `python cli.py` both start and exit cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    repo = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, str(repo / "cli.py"), "--version"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert out.returncode == 0 and "provenance" in out.stdout
    exe = shutil.which("provenance")
    if exe:
        out = subprocess.run(
            [exe, "--db", str(tmp_path / "x.db"), "log", "show"],
            capture_output=True,
            text=True,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 3 and out.stderr.startswith("error: ")
