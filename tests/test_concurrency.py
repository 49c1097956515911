"""Concurrent writers and readers on one SQLite ledger (DESIGN sections 5 and 6).

Six ``provenance sign`` processes are released at the same instant against one ledger:
four sign disjoint folders, two sign the same folder. Appends run in ``BEGIN IMMEDIATE``
transactions, so the writers must serialise: afterwards the log has every image exactly
once, every checkpoint is consistent with the next, and ``log verify`` passes. A reader
process runs ``verify`` and ``history`` in a loop the whole time and must never fail.
Without ``BEGIN IMMEDIATE`` two writers read the same tree size and one of them fails
(SQLite refuses to upgrade a stale read snapshot to a write) or the log forks.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from conftest import LedgerEnv
from pg_helpers import check_ledger, make_jpegs, run_concurrent_signing, run_proc

from provenance.errors import KeyStateError
from provenance.keys import SigningKey
from provenance.ledger import Ledger


def test_concurrent_writers_never_fork_duplicate_or_lose(
    lenv: LedgerEnv, photos: list[Path], tmp_path: Path
) -> None:
    lenv.ledger.close()
    run_concurrent_signing(
        ["--db", str(lenv.db)],
        lambda: Ledger.open(str(lenv.db)),
        lenv.alice_file,
        tmp_path / "c",
        photos,
        expected_before=2,
    )


def test_readers_are_not_blocked_by_a_held_write_lock(lenv: LedgerEnv, tmp_path: Path) -> None:
    """WAL: verify/history/log verify succeed while another program holds the write lock."""
    img = make_jpegs(tmp_path / "img", 1, seed=3)[0]
    lenv.ledger.sign([img], lenv.alice)
    lenv.ledger.close()
    conn = sqlite3.connect(lenv.db, isolation_level=None)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.execute("BEGIN EXCLUSIVE")
        conn.execute("INSERT INTO meta (key, value) VALUES ('held', 'by the test')")
        for args in (["verify", img], ["history", img], ["log", "verify"]):
            t0 = time.monotonic()
            r = run_proc("--db", lenv.db, "--busy-timeout", "0.5", *args)
            assert r.returncode == 0, (args, r.stderr)
            assert time.monotonic() - t0 < 20
    finally:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.close()


# --- races simulated deterministically: another writer commits between two reads ----------
def test_a_key_registered_or_revoked_by_two_writers_at_once_is_logged_once(
    lenv: LedgerEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger checks key state before appending; the store checks it again under the
    write lock, so the writer that lost the race gets a key-state error (not a log-damage
    error), and the key is registered / revoked once."""
    carol = SigningKey.from_seed(bytes(range(5, 37)))
    late = Ledger.open(str(lenv.db))
    try:
        real = late.store.key_events
        lenv.ledger.register_key(carol.public, "carol")  # the other writer wins
        monkeypatch.setattr(late.store, "key_events", lambda k: (None, None))  # stale check
        with pytest.raises(KeyStateError, match="already registered"):
            late.register_key(carol.public, "carol at another desk")  # not the same record
        lenv.ledger.revoke_key(carol.public.key_id)
        monkeypatch.setattr(late.store, "key_events", lambda k: (real(k)[0], None))
        with pytest.raises(KeyStateError, match="already revoked"):
            late.revoke_key(carol.public.key_id, reason="also lost")
    finally:
        late.close()
    counts = check_ledger(lenv.ledger)
    assert (counts["keys"], counts["revocations"]) == (3, 1)


def test_log_verify_while_a_writer_appends_reports_no_damage(
    lenv: LedgerEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_jpegs(tmp_path / "img", 2, seed=41)
    lenv.ledger.sign([first], lenv.alice)
    auditor = Ledger.open(str(lenv.db))
    try:
        real = auditor.store.table_counts

        def writer_commits_meanwhile(**kwargs: int | None) -> dict[str, int]:
            lenv.ledger.sign([second], lenv.alice)
            return real(**kwargs)

        monkeypatch.setattr(auditor.store, "table_counts", writer_commits_meanwhile)
        result = auditor.audit()
    finally:
        auditor.close()
    assert result.ok, [p.to_json() for p in result.problems]


def test_perceptual_index_racing_an_append_indexes_each_record_once(
    lenv: LedgerEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = make_jpegs(tmp_path / "img", 2, seed=42)
    lenv.ledger.sign([first], lenv.alice)
    reader = Ledger.open(str(lenv.db))
    try:
        stale = reader.store.size()
        lenv.ledger.sign([second], lenv.alice)  # commits after the reader read the size
        with monkeypatch.context() as m:
            m.setattr(reader.store, "size", lambda: stale)
            reader.perceptual_index()
        index = reader.perceptual_index()  # catches up with the real size
        found = [c.idx for c in index.search(0, 64)]
        assert sorted(found) == sorted(set(found)) and len(index) == 2, found
    finally:
        reader.close()
