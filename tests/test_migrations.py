"""Schema evolution: a ledger written at revision 0001 upgrades to head when opened.

Revision 0002 adds ``assets.phash256`` (backfilled from the signed records) by rebuilding
the ``assets`` table in SQLite batch mode, which drops the table's triggers; the migration
must recreate them. The upgrade runs in one transaction: if it fails, the ledger is left at
0001 exactly as it was. Databases that are not ledgers (another program's SQLite file, an
empty file, a file that is not SQLite, a ledger from a newer program) are refused with a
clear error and exit 3, and are not modified.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import LedgerEnv
from pg_helpers import (
    check_ledger,
    fill_every_log_table,
    make_jpegs,
    run_gated,
    schema_revision,
    write_0001_ledger,
)
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from provenance import migrate
from provenance.errors import ForeignDatabaseError, LedgerNotFoundError
from provenance.ledger import Ledger, LedgerVerifier
from provenance.store import HEAD_REVISION, LOG_TABLES, Store


@pytest.fixture
def old_ledger(lenv: LedgerEnv, photos: list[Path]) -> tuple[Path, LedgerEnv, list[Path]]:
    """A SQLite ledger at revision 0001 holding the rows of ``lenv`` (see write_0001_ledger),
    with the log key beside it; returns (path, the head-revision source, logged images)."""
    images = fill_every_log_table(lenv.ledger, lenv.alice, lenv.desk, photos)
    old = lenv.tmp / "old.db"
    write_0001_ledger(lenv.ledger, str(old))
    for suffix in (".logkey", ".logkey.pub"):
        shutil.copyfile(str(lenv.db) + suffix, str(old) + suffix)
    return old, lenv, images


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def _columns(url: str, table: str) -> list[str]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [c["name"] for c in inspect(conn).get_columns(table)]
    finally:
        engine.dispose()


def _triggers(path: Path) -> dict[str, str]:
    with sqlite3.connect(path) as conn:
        return dict(
            conn.execute(
                "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall()
        )


def _schema(url: str) -> dict[str, Any]:
    """Tables with their columns, keys, indexes and foreign keys, comparable across files."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            insp = inspect(conn)
            out: dict[str, Any] = {}
            for t in sorted(insp.get_table_names()):
                out[t] = {
                    "columns": [
                        (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(t)
                    ],
                    "pk": insp.get_pk_constraint(t)["constrained_columns"],
                    "indexes": sorted(
                        (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                        for i in insp.get_indexes(t)
                    ),
                    "unique": sorted(
                        tuple(u["column_names"]) for u in insp.get_unique_constraints(t)
                    ),
                    "fks": sorted(
                        (
                            tuple(f["constrained_columns"]),
                            f["referred_table"],
                            tuple(f["referred_columns"]),
                        )
                        for f in insp.get_foreign_keys(t)
                    ),
                }
            return out
    finally:
        engine.dispose()


def test_0001_ledger_is_what_revision_0001_creates(old_ledger) -> None:  # type: ignore[no-untyped-def]
    old, _, _ = old_ledger
    assert schema_revision(_sqlite_url(old)) == "0001"
    assert "phash256" not in _columns(_sqlite_url(old), "assets")
    assert set(_triggers(old).values()) == set(LOG_TABLES)


def test_upgrade_from_0001_keeps_the_log_verifiable(
    old_ledger,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    old, src, images = old_ledger
    with Ledger.open(str(old)) as ledger:  # upgrades
        assert schema_revision(_sqlite_url(old)) == HEAD_REVISION
        counts = check_ledger(ledger)
        assert counts == src.ledger.store.table_counts()
        n = ledger.size()
        # the backfilled pHash-256 equals what the current code stored for the same records
        assert ledger.store.asset_digests(range(n)) == src.ledger.store.asset_digests(range(n))
        verifier = LedgerVerifier(ledger)
        for img in images:
            report, found = verifier.verify_image(img)
            assert report.verdict == "verified", (img.name, report.to_json())
            assert found.matches[0].kind == "sha256"
        # and the upgraded ledger takes new records
        new = make_jpegs(tmp_path / "new", 2, seed=21)
        assert [r.status for r in ledger.sign(new, src.alice)] == ["signed", "signed"]
        check_ledger(ledger)
    with Ledger.open(str(old)) as ledger:  # already at head: opens without migrating again
        assert ledger.size() == n + 2
    r = run_cli("--db", old, "log", "verify")
    assert r.exit_code == 0, r.output
    r = run_cli("--db", old, "verify", images[-1])
    assert r.exit_code == 0, r.output


def test_upgraded_schema_equals_a_fresh_one(old_ledger) -> None:  # type: ignore[no-untyped-def]
    old, src, _ = old_ledger
    Store.open(str(old)).close()
    assert _schema(_sqlite_url(old)) == _schema(_sqlite_url(src.db))
    assert _triggers(old) == _triggers(src.db)


def test_triggers_refuse_update_and_delete_after_the_upgrade(old_ledger) -> None:  # type: ignore[no-untyped-def]
    old, _, _ = old_ledger
    Store.open(str(old)).close()
    triggers = _triggers(old)
    for table in LOG_TABLES:
        assert {f"{table}_no_update", f"{table}_no_delete"} <= set(triggers), table
    conn = sqlite3.connect(old, isolation_level=None)
    try:
        for table in LOG_TABLES:
            col = _columns(_sqlite_url(old), table)[-1]
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
            for sql in (f"UPDATE {table} SET {col} = {col}", f"DELETE FROM {table}"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    conn.execute(sql)
    finally:
        conn.close()


def test_a_failed_upgrade_leaves_revision_0001_untouched(
    old_ledger,  # type: ignore[no-untyped-def]
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The whole upgrade is one transaction: a failure at the end of 0002 (after the backfill
    and the table rebuild) rolls all of it back, triggers included."""
    old, _, _ = old_ledger
    url = _sqlite_url(old)
    before = (_schema(url), _triggers(old), _dump(old))
    real = migrate.create_triggers

    def failing(connection, tables=LOG_TABLES):  # type: ignore[no-untyped-def]
        if tables == ("assets",):
            raise RuntimeError("simulated failure at the end of 0002")
        real(connection, tables)

    monkeypatch.setattr(migrate, "create_triggers", failing)
    with pytest.raises(RuntimeError, match="simulated failure"):
        Store.open(str(old))
    assert schema_revision(url) == "0001"
    assert (_schema(url), _triggers(old), _dump(old)) == before
    monkeypatch.undo()
    with Ledger.open(str(old)) as ledger:  # and a later open upgrades normally
        check_ledger(ledger)


def test_an_unreadable_record_stops_the_upgrade_with_a_clean_error(old_ledger, run_cli) -> None:  # type: ignore[no-untyped-def]
    """0002 backfills pHash-256 from the signed bodies; a damaged body is reported (exit 3,
    one line) and the ledger stays at 0001, unchanged."""
    old, _, _ = old_ledger
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TRIGGER records_no_update")  # tampering needs this
        conn.execute("UPDATE records SET body = X'7B7D' WHERE idx = (SELECT max(idx) FROM assets)")
    conn.close()
    before = (_triggers(old), _dump(old))
    r = run_cli("--db", old, "log", "show")
    assert r.exit_code == 3, r.output
    assert r.stderr.startswith("error: cannot upgrade the schema: record "), r.stderr
    assert "Traceback" not in r.output
    assert schema_revision(_sqlite_url(old)) == "0001"
    assert (_triggers(old), _dump(old)) == before


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in (*LOG_TABLES, "meta")
        }


def test_programs_opening_an_old_ledger_together_upgrade_it_once(
    old_ledger,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    old, src, _ = old_ledger
    results, _ = run_gated([["--db", old, "log", "show", "--json"]] * 3, tmp_path / "gate")
    assert [rc for rc, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert schema_revision(_sqlite_url(old)) == HEAD_REVISION
    with Ledger.open(str(old)) as ledger:
        assert check_ledger(ledger) == src.ledger.store.table_counts()


# --- databases that are not (this program's) ledgers ------------------------------------------
def _make_foreign(kind: str, path: Path, tmp: Path) -> None:
    if kind == "other-program":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
            conn.execute("INSERT INTO photos (name) VALUES ('x.jpg')")
        conn.close()
    elif kind == "other-meta":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
            conn.execute("INSERT INTO meta VALUES ('schema', 'something-else')")
        conn.close()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "not-sqlite":
        path.write_bytes(b"PK\x03\x04 this is a zip archive, not a database\n" * 100)
    elif kind == "newer":
        Ledger.init(str(path), log_key=str(tmp / "newer.logkey")).close()
        with sqlite3.connect(path) as conn:
            conn.execute("UPDATE alembic_version SET version_num = '0099'")
        conn.close()
    else:  # pragma: no cover
        raise ValueError(kind)


FOREIGN = {  # kind -> (exception from Store.open, words in the CLI's error line)
    "other-program": (ForeignDatabaseError, "is not a provenance ledger"),
    "other-meta": (ForeignDatabaseError, "is not a provenance ledger"),
    "empty": (LedgerNotFoundError, "no ledger at"),
    "not-sqlite": (ForeignDatabaseError, "not a provenance ledger"),
    "newer": (ForeignDatabaseError, "newer than this program understands"),
}


@pytest.mark.parametrize("kind", sorted(FOREIGN))
def test_foreign_databases_are_refused_and_left_alone(
    kind: str,
    tmp_path: Path,
    run_cli,  # type: ignore[no-untyped-def]
    lenv: LedgerEnv,
) -> None:
    db = tmp_path / f"{kind}.db"
    _make_foreign(kind, db, tmp_path)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    error, words = FOREIGN[kind]
    with pytest.raises(error, match=words):
        Store.open(str(db))
    img = make_jpegs(tmp_path / "img", 1, seed=5)[0]
    commands = [
        ["log", "show"],
        ["log", "verify"],
        ["verify", img],
        ["history", img],
        ["sign", img, "--key", lenv.alice_file],
    ]
    for args in commands:
        r = run_cli("--db", db, *args)
        assert r.exit_code == 3, (kind, args, r.output)
        lines = r.stderr.splitlines()
        assert lines[0].startswith("error: ") and words in lines[0], (kind, args, r.stderr)
        assert all(line.startswith(("error: ", "hint: ")) for line in lines), r.stderr
    if kind != "empty":  # an empty file is an empty database: init may use it
        r = run_cli("--db", db, "init")
        assert r.exit_code == 3, r.output
        assert not Path(f"{db}.logkey").exists()  # init removed the key it wrote
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest  # not modified
