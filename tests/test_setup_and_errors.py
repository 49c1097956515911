"""Setting a ledger up, and the CLI's error contract (formerly test_review_regressions.py).

A ledger's identity (its origin, the meta table) is checked at ``init`` and cannot be
rewritten afterwards; ``demo`` never touches the user's log key; a key file is unlocked
with the passphrase source when registered; and an unexpected exception is exit 3 (could
not check), never 1 (tampered). Each test names the review finding it pins.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import LedgerEnv

from provenance.ledger import Ledger


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


def test_meta_is_append_only(lenv: LedgerEnv) -> None:
    lenv.ledger.close()
    con = sqlite3.connect(lenv.db)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("UPDATE meta SET value = 'x' WHERE key = 'origin'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        con.execute("DELETE FROM meta")
    con.close()


def test_demo_ignores_the_users_log_key_settings(
    tmp_path: Path, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANCE_LOG_KEY", str(tmp_path / "users.logkey"))
    r = run_cli("demo", "--keep", tmp_path / "demo")
    assert r.exit_code == 0, r.output[-2000:]
    assert not (tmp_path / "users.logkey").exists()


def test_demo_service_act_signs_and_verifies_without_a_database(
    tmp_path: Path, run_cli: Any
) -> None:
    """The demo's service act: a signer holding only a key and a reader holding only the
    vkeys work through the server; the witness cosigns; an altered checkpoint is caught."""
    r = run_cli("demo", "--keep", tmp_path / "demo")
    assert r.exit_code == 0, r.output[-3000:]
    out = r.output
    for title in ("== 10.", "== 11.", "== 12.", "== 13."):
        assert title in out
    act = out[out.index("== 12.") : out.index("== 13.")]
    assert "VERIFIED: camera.png" in act and "cosigned by witness.demo.provenance.local/w1" in act
    caught = out[out.index("== 13.") :]
    assert "does not verify under the trusted key" in caught and "(exit code 3)" in caught
    for folder in ("signer", "reader"):
        names = {p.name for p in (tmp_path / "demo" / folder).iterdir()}
        assert not {n for n in names if n.endswith((".db", ".logkey"))}, names
    assert (tmp_path / "demo" / "signer" / "alice.key").exists()


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
