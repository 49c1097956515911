"""Schema evolution: ledgers written by earlier versions upgrade to head when opened.

``tests/assets/legacy/`` holds two ledgers written by the code of commit f7d0887 (digest
set 1, see ``make_legacy_ledgers.py``): ``ledger_v1.db`` at schema revision 0003 and
``ledger_v1_rev0001.db``, the same rows at revision 0001. Opening either runs the remaining
migrations in one transaction: 0002 backfills pHash-256 from the signed bodies (rebuilding
``assets`` in SQLite batch mode, which drops triggers: the migration recreates them), 0003
protects ``meta``, 0004 rebuilds every table into the compact layout. If an upgrade fails,
the ledger is left exactly as it was. Old records keep verifying under their own digest set:
the exact files are ``verified``, a set-1 edit still replays, and a copy with its metadata
stripped is ``similar`` (digest set 1 has no display digest to prove it is the same picture).
Databases that are not ledgers (another program's SQLite file, an empty file, a file that is
not SQLite, a ledger from a newer program) are refused with a clear error and exit 3, and
are not modified.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from conftest import LedgerEnv
from pg_helpers import check_ledger, make_jpegs, run_gated, schema_revision
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from provenance.errors import ForeignDatabaseError, LedgerNotFoundError
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.store import LOG_TABLES, Store, migrate
from provenance.store.schema import HEAD_REVISION

LEGACY = Path(__file__).parent / "assets" / "legacy"
IMAGES = ("v1_capture.jpg", "v1_capture2.png", "v1_edit.png", "v1_derived.jpg")


def _legacy(tmp: Path, name: str) -> Path:
    """A private copy of a legacy ledger (with its log key) and the images it logged."""
    for f in LEGACY.iterdir():
        if f.name.startswith(name) or f.name in IMAGES:
            shutil.copyfile(f, tmp / f.name)
    return tmp / name


@pytest.fixture(params=["ledger_v1.db", "ledger_v1_rev0001.db"])
def old_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    return _legacy(tmp_path, request.param)


@pytest.fixture
def old_0001(tmp_path: Path) -> Path:
    return _legacy(tmp_path, "ledger_v1_rev0001.db")


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


def test_the_legacy_ledgers_are_what_the_old_code_wrote(tmp_path: Path) -> None:
    v3, v1 = _legacy(tmp_path, "ledger_v1.db"), _legacy(tmp_path, "ledger_v1_rev0001.db")
    assert schema_revision(_sqlite_url(v3)) == "0003"
    assert schema_revision(_sqlite_url(v1)) == "0001"
    assert "phash256" not in _columns(_sqlite_url(v1), "assets")
    assert "pixels" in _columns(_sqlite_url(v3), "assets")
    assert set(_triggers(v1).values()) == set(LOG_TABLES)


def test_upgrade_keeps_the_log_verifiable_and_old_records_verifying(
    old_ledger: Path,
    run_cli,  # type: ignore[no-untyped-def]
    tmp_path: Path,
) -> None:
    folder = old_ledger.parent
    with Ledger.open(str(old_ledger)) as ledger:  # upgrades
        assert schema_revision(_sqlite_url(old_ledger)) == HEAD_REVISION
        counts = check_ledger(ledger)
        assert counts["records"] == 8 and counts["assets"] == 4
        assert {k.name for k in ledger.list_keys()} == {"alice", "desk", "gone"}
        for name in IMAGES:
            report, found = ledger.evidence().verify_image(folder / name)
            assert report.verdict == "verified", (name, report.to_json())
            assert found.matches[0].kind == "sha256"
        # and the upgraded ledger takes new records (digest set 2)
        alice = SigningKey.from_seed(bytes(range(32)))
        new = make_jpegs(tmp_path / "new", 2, seed=21)
        assert [r.status for r in ledger.sign(new, alice)] == ["signed", "signed"]
        check_ledger(ledger)
        n = ledger.size()
    with Ledger.open(str(old_ledger)) as ledger:  # already at head: opens without migrating
        assert ledger.size() == n
    r = run_cli("--db", old_ledger, "log", "verify")
    assert r.exit_code == 0, r.output
    # a digest-set-1 edit still replays from its parent
    r = run_cli(
        "--db",
        old_ledger,
        "verify",
        folder / "v1_edit.png",
        "--parent-image",
        folder / "v1_capture.jpg",
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert '"check": "replayed"' in r.stdout
    # metadata stripped from a set-1 JPEG: no display digest to match, so at best similar
    from tamper_helpers import strip_jpeg_metadata

    stripped = tmp_path / "stripped.jpg"
    stripped.write_bytes(strip_jpeg_metadata((folder / "v1_capture.jpg").read_bytes())[0])
    r = run_cli("--db", old_ledger, "verify", stripped)
    assert r.exit_code == 5, r.output


def test_upgraded_schema_equals_a_fresh_one(old_ledger: Path, tmp_path: Path) -> None:
    Store.open(str(old_ledger)).close()
    fresh = tmp_path / "fresh" / "fresh.db"
    Ledger.init(str(fresh)).close()
    assert _schema(_sqlite_url(old_ledger)) == _schema(_sqlite_url(fresh))
    assert _triggers(old_ledger) == _triggers(fresh)


def test_triggers_refuse_update_and_delete_after_the_upgrade(old_ledger: Path) -> None:
    Store.open(str(old_ledger)).close()
    triggers = _triggers(old_ledger)
    for table in (*LOG_TABLES, "meta"):
        assert {f"{table}_no_update", f"{table}_no_delete"} <= set(triggers), table
    conn = sqlite3.connect(old_ledger, isolation_level=None)
    try:
        for table in LOG_TABLES:
            col = _columns(_sqlite_url(old_ledger), table)[-1]
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 0
            for sql in (f"UPDATE {table} SET {col} = {col}", f"DELETE FROM {table}"):
                with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                    conn.execute(sql)
    finally:
        conn.close()


def test_a_failed_upgrade_leaves_the_ledger_untouched(
    old_0001: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole upgrade is one transaction: a failure at the very end (after 0002's
    backfill and rebuild, 0003, and 0004's rebuild of every table) rolls all of it back,
    triggers included."""
    url = _sqlite_url(old_0001)
    before = (_schema(url), _triggers(old_0001), _dump(old_0001))
    real = migrate.create_triggers

    def failing(connection, tables=LOG_TABLES):  # type: ignore[no-untyped-def]
        if (
            len(tables) == len(LOG_TABLES)
            and "records" in tables
            and schema_rev_in(connection) == "0003"
        ):
            raise RuntimeError("simulated failure at the end of 0004")
        real(connection, tables)

    monkeypatch.setattr(migrate, "create_triggers", failing)
    with pytest.raises(RuntimeError, match="simulated failure"):
        Store.open(str(old_0001))
    assert schema_revision(url) == "0001"
    assert (_schema(url), _triggers(old_0001), _dump(old_0001)) == before
    monkeypatch.undo()
    with Ledger.open(str(old_0001)) as ledger:  # and a later open upgrades normally
        check_ledger(ledger)


def schema_rev_in(connection: Any) -> str:
    from sqlalchemy import text

    return str(connection.execute(text("SELECT version_num FROM alembic_version")).scalar())


def test_an_unreadable_record_stops_the_upgrade_with_a_clean_error(
    old_0001: Path,
    run_cli,  # type: ignore[no-untyped-def]
) -> None:
    """0002 backfills pHash-256 from the signed bodies; a damaged body is reported (exit 3,
    one line) and the ledger stays at 0001, unchanged."""
    with sqlite3.connect(old_0001) as conn:
        conn.execute("DROP TRIGGER records_no_update")  # tampering needs this
        conn.execute("UPDATE records SET body = X'7B7D' WHERE idx = (SELECT max(idx) FROM assets)")
    conn.close()
    before = (_triggers(old_0001), _dump(old_0001))
    r = run_cli("--db", old_0001, "log", "show")
    assert r.exit_code == 3, r.output
    assert r.stderr.startswith("error: cannot upgrade the schema: record "), r.stderr
    assert "Traceback" not in r.output
    assert schema_revision(_sqlite_url(old_0001)) == "0001"
    assert (_triggers(old_0001), _dump(old_0001)) == before


def _dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    with sqlite3.connect(path) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall()
            for t in (*LOG_TABLES, "meta")
        }


def test_programs_opening_an_old_ledger_together_upgrade_it_once(
    old_0001: Path, tmp_path: Path
) -> None:
    results, _ = run_gated([["--db", old_0001, "log", "show", "--json"]] * 3, tmp_path / "gate")
    assert [rc for rc, _, _ in results] == [0, 0, 0], [err for _, _, err in results]
    assert schema_revision(_sqlite_url(old_0001)) == HEAD_REVISION
    with Ledger.open(str(old_0001)) as ledger:
        assert check_ledger(ledger)["records"] == 8


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
