"""Regression tests for review findings: each names the bug it pins."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_NOW, LedgerEnv

from provenance.ledger import Ledger, LedgerVerifier
from provenance.records import Action


def test_wiped_log_is_tampered_against_a_pin(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    pin = lenv.tmp / "pin.cp"
    assert run_cli("--db", lenv.db, "log", "checkpoint", "--out", pin).exit_code == 0
    lenv.ledger.close()
    con = sqlite3.connect(lenv.db)
    for t in ("records", "assets", "parents", "nodes", "checkpoints", "keys", "revocations"):
        con.execute(f"DROP TRIGGER IF EXISTS {t}_no_delete")
        con.execute(f"DELETE FROM {t}")
    con.commit()
    con.close()
    r = run_cli("--db", lenv.db, "verify", photos[0], "--checkpoint", pin, "--json")
    assert r.exit_code == 1
    assert json.loads(r.stdout)["checks"][3]["code"] == "checkpoint.inconsistent"
    assert run_cli("--db", lenv.db, "verify", photos[0]).exit_code == 4  # no pin: a stranger


def test_deep_chain_verifies_without_recursion_errors(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    """1,200 chained edits: verify, history and export walk them iteratively."""
    from tamper_helpers import append_raw

    from provenance.imaging import digest_file
    from provenance.ledger import asset_from_digests
    from provenance.records import Asset, Statement, sign_statement

    [first] = lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    base = asset_from_digests(digest_file(photos[0]))
    parent = first.record_id
    assert parent is not None
    records = []
    for n in range(1200):
        asset = Asset(**{**base.to_json(), "sha256": f"{n:064x}", "pixels": f"{n + 1:064x}"})
        st = Statement(
            type="edit",
            time="2026-11-26T12:00:00Z",
            asset=asset,
            parents=(parent,),
            actions=(Action("c2pa.edited", {"n": n}),),
        )
        rec = sign_statement(st, lenv.alice)
        records.append(rec)
        parent = rec.record_id
    append_raw(lenv.ledger, records)
    report = LedgerVerifier(lenv.ledger).verify_record(parent)
    assert report.verdict == "verified" and len(report.chain) == 1201
    r = run_cli("--db", lenv.db, "history", parent, "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["records"]) == 1201
    assert len(lenv.ledger.history(parent).parents) == 1


def test_invalid_origin_is_refused_and_leaves_nothing(tmp_path: Path, run_cli: Any) -> None:
    for origin in ("news room", "a+b", ""):
        r = run_cli("--db", tmp_path / "x.db", "init", "--origin", origin)
        assert r.exit_code == 3 and "invalid log origin" in r.stderr
        assert not (tmp_path / "x.db").exists() and not (tmp_path / "x.db.logkey").exists()


def test_default_origins_differ(tmp_path: Path) -> None:
    a = Ledger.init(str(tmp_path / "a" / "provenance.db"))
    b = Ledger.init(str(tmp_path / "b" / "provenance.db"))
    assert a.origin != b.origin and a.origin.startswith("provenance.local/provenance-")
    a.close()
    b.close()


def test_bundle_from_another_log_with_the_same_name_is_an_error(
    tmp_path: Path, photos: list[Path], run_cli: Any
) -> None:
    from provenance.keys import SigningKey

    for name in ("mine", "theirs"):
        led = Ledger.init(str(tmp_path / f"{name}.db"), origin="same.name/log")
        k = SigningKey.from_seed((name.encode() * 8)[:32])
        led.register_key(k.public, name)
        led.sign(photos[:1], k)
        led.close()
    bundle = tmp_path / "theirs.json"
    assert run_cli("--db", tmp_path / "theirs.db", "export", photos[0], "-o", bundle).exit_code == 0
    r = run_cli("--db", tmp_path / "mine.db", "verify", photos[0], "--bundle", bundle)
    assert r.exit_code == 3 and "not the local ledger's" in r.stderr


def test_checkpoint_that_does_not_verify_is_never_printed_or_pinned(
    lenv: LedgerEnv, run_cli: Any
) -> None:
    lenv.ledger.close()
    con = sqlite3.connect(lenv.db)
    con.execute("DROP TRIGGER checkpoints_no_update")
    con.execute("UPDATE checkpoints SET note = 'garbage\n' WHERE size = 2")
    con.commit()
    con.close()
    out = lenv.tmp / "pin.cp"
    r = run_cli("--db", lenv.db, "log", "checkpoint", "--out", out)
    assert r.exit_code == 3 and "does not verify" in r.stderr and not out.exists()


def test_malformed_pin_is_an_error_for_log_verify(lenv: LedgerEnv, run_cli: Any) -> None:
    bad = lenv.tmp / "bad.cp"
    bad.write_text("garbage\n")
    r = run_cli("--db", lenv.db, "log", "verify", "--checkpoint", bad)
    assert r.exit_code == 3 and r.stderr.startswith("error: ")


def test_parent_image_with_bundle_is_a_usage_error(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice)
    b = lenv.tmp / "b.json"
    assert run_cli("--db", lenv.db, "export", photos[0], "-o", b).exit_code == 0
    assert oct(b.stat().st_mode & 0o777) in ("0o644", "0o640", "0o600", "0o664")
    r = run_cli("--db", lenv.db, "verify", photos[0], "--bundle", b, "--parent-image", photos[0])
    assert r.exit_code == 2


def test_unexpected_exceptions_exit_3_not_1(
    lenv: LedgerEnv, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug must never read as `tampered` (exit 1)."""

    def boom(self: Any, *a: Any, **k: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(Ledger, "list_keys", boom)
    r = run_cli("--db", lenv.db, "keys", "list")
    assert r.exit_code == 3 and "internal error: RuntimeError: kaboom" in r.stderr
    r = run_cli("--db", lenv.db, "log", "prove", "²")
    assert r.exit_code == 3
    r = run_cli("--db", lenv.db, "log", "prove", "9223372036854775808")
    assert r.exit_code == 3


def test_demo_ignores_the_users_log_key_settings(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANCE_LOG_KEY", str(tmp_path / "users.logkey"))
    r = run_cli("demo", "--keep", tmp_path / "demo")
    assert r.exit_code == 0, r.output[-2000:]
    assert not (tmp_path / "users.logkey").exists()


def test_another_keys_self_revocation_does_not_disturb_verification(
    lenv: LedgerEnv, photos: list[Path], run_cli: Any
) -> None:
    """Every key event goes into the evidence (the checkpoint commits to all of them), not
    only those of the chain's signers: desk revoking itself leaves alice's photo verified."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.revoke_key(lenv.desk.key_id, by=lenv.desk, now=FIXED_NOW)
    lenv.ledger.close()
    r = run_cli("--db", lenv.db, "verify", photos[0])
    assert r.exit_code == 0, r.stdout
    b = lenv.tmp / "b.json"
    assert run_cli("--db", lenv.db, "export", photos[0], "-o", b).exit_code == 0
    assert run_cli("--db", lenv.db, "verify", photos[0], "--bundle", b).exit_code == 0


def test_register_encrypted_pkcs8_key_uses_the_passphrase(lenv: LedgerEnv, run_cli: Any) -> None:
    golden = Path(__file__).resolve().parent / "golden" / "keys_pkcs8_ed25519_encrypted.pem"
    r = run_cli(
        "--db",
        lenv.db,
        "keys",
        "register",
        golden,
        "--name",
        "p8",
        env={"PROVENANCE_PASSPHRASE": "secret"},
    )
    assert r.exit_code == 0, r.stderr
    r = run_cli("--db", lenv.db, "keys", "register", golden, "--name", "p8b")
    assert r.exit_code == 3 and "passphrase" in r.stderr.lower()


def test_meta_is_append_only(lenv: LedgerEnv) -> None:
    lenv.ledger.close()
    con = sqlite3.connect(lenv.db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE meta SET value = 'x' WHERE key = 'origin'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM meta")
    con.close()
