"""The ledger on a real PostgreSQL server (DESIGN section 6): the shared, multi-writer engine.

Skipped unless ``PROVENANCE_TEST_PG_URL`` names a database on a server where its role may
create databases (``eval "$(.ci/start-postgres.sh)"`` sets it up); each test creates its own
uniquely named database and drops it afterwards. Covered: the migrations create the schema
(and upgrade a 0001 ledger), the CLI works end to end with ``--db postgresql+psycopg://...``
and ``--log-key FILE``, the triggers refuse UPDATE, DELETE and TRUNCATE on every log table,
concurrent writers serialise on the advisory lock (the same scenario as the SQLite test),
and a writer waiting for that lock gives up after ``--busy-timeout``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from conftest import FIXED_NOW
from pg_helpers import (
    check_ledger,
    copy_0001_ledger,
    fill_every_log_table,
    make_jpegs,
    pg_admin_url,
    pg_database,
    run_concurrent_signing,
    run_proc,
    schema_revision,
)
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from provenance.keys import SigningKey, save_signing_key
from provenance.ledger import Ledger
from provenance.store import LOG_TABLES, PG_LOCK_ID
from provenance.store.schema import HEAD_REVISION

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        pg_admin_url() is None,
        reason="PROVENANCE_TEST_PG_URL is not set (see .ci/start-postgres.sh)",
    ),
]


@pytest.fixture
def pg_url() -> Iterator[str]:
    pytest.importorskip("psycopg")
    admin = pg_admin_url()
    assert admin is not None
    with pg_database(admin) as url:
        yield url


class PgLedger:
    """A PostgreSQL ledger with keys alice and desk registered, their files in ``tmp``."""

    def __init__(self, url: str, tmp: Path) -> None:
        self.url = url
        self.log_key = tmp / "log.key"
        self.alice = SigningKey.from_seed(bytes(range(32)))
        self.desk = SigningKey.from_seed(bytes(range(1, 33)))
        self.alice_file, self.desk_file = tmp / "alice.key", tmp / "desk.key"
        save_signing_key(self.alice, self.alice_file, None)
        save_signing_key(self.desk, self.desk_file, None)
        with Ledger.init(url, origin="pg.test/log", log_key=str(self.log_key)) as ledger:
            ledger.register_key(self.alice.public, "alice", now=FIXED_NOW)
            ledger.register_key(self.desk.public, "desk", now=FIXED_NOW)

    def open(self) -> Ledger:
        return Ledger.open(self.url, log_key=str(self.log_key))

    @property
    def cli(self) -> list[str]:
        return ["--db", self.url, "--log-key", str(self.log_key)]


def _sql(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            result = conn.execute(text(sql))
            return [tuple(r) for r in result] if result.returns_rows else []
    finally:
        engine.dispose()


def _triggers(url: str) -> set[tuple[str, str]]:
    return {
        (str(name), str(table))
        for name, table in _sql(
            url,
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE NOT t.tgisinternal",
        )
    }


def _assert_triggers_refuse(url: str) -> None:
    """Every log table has its triggers, and UPDATE, DELETE and TRUNCATE all fail."""
    triggers = _triggers(url)
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            for table in LOG_TABLES:
                assert {
                    (f"{table}_append_only", table),
                    (f"{table}_no_truncate", table),
                } <= triggers, table
                n = conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                assert n > 0, table
                col = [c["name"] for c in inspect(conn).get_columns(table)][-1]
                cascade = " CASCADE" if table == "records" else ""  # others reference it
                for sql in (
                    f"UPDATE {table} SET {col} = {col}",
                    f"DELETE FROM {table}",
                    f"TRUNCATE {table}{cascade}",
                ):
                    with pytest.raises(DBAPIError, match="append-only"):
                        conn.execute(text(sql))
                assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == n
    finally:
        engine.dispose()


def test_init_creates_the_schema_with_its_triggers(pg_url: str, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "log.key"
    r = run_cli("--db", pg_url, "--log-key", key, "init", "--origin", "pg.test/log")
    assert r.exit_code == 0, r.output
    assert schema_revision(pg_url) == HEAD_REVISION
    tables = {
        str(t)
        for (t,) in _sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert tables == {*LOG_TABLES, "meta", "alembic_version", "cosignatures", "c2pa_manifests"}
    types = dict(
        _sql(
            pg_url,
            "SELECT table_name || '.' || column_name, data_type FROM "
            "information_schema.columns WHERE table_schema = 'public'",
        )
    )
    assert types["records.body"] == "bytea" and types["assets.pdq"] == "bytea"
    assert types["records.idx"] == "bigint" and types["assets.sha_key"] == "bigint"
    assert types["nodes.key"] == "bigint" and types["assets.phash64"] == "bigint"
    assert {t for _, t in _triggers(pg_url)} == {
        *LOG_TABLES,
        "meta",
        "cosignatures",
        "c2pa_manifests",
    }
    r = run_cli("--db", pg_url, "--log-key", tmp_path / "other.key", "init")
    assert r.exit_code == 3 and "already has tables" in r.stderr, r.output
    assert not (tmp_path / "other.key").exists()
    # a non-SQLite ledger has no default log key: writing without --log-key is refused
    r = run_cli(
        "--db", pg_url, "keys", "generate", "bob", "--no-passphrase", "-o", tmp_path / "bob.key"
    )
    assert r.exit_code == 3 and "--log-key" in r.stderr, r.output


def test_cli_end_to_end(pg_url: str, tmp_path: Path, photos: list[Path], run_cli) -> None:  # type: ignore[no-untyped-def]
    key = tmp_path / "log.key"

    def run(*args: object) -> Result:
        return run_cli("--db", pg_url, "--log-key", key, *args)

    assert run("init").exit_code == 0
    r = run("keys", "generate", "alice", "--no-passphrase", "-o", tmp_path / "alice.key")
    assert r.exit_code == 0, r.output
    alice = tmp_path / "alice.key"
    r = run("sign", *photos[:3], "--key", alice, "--workers", "2", "--batch-size", "2", "--json")
    assert r.exit_code == 0, r.output
    assert [json.loads(x)["status"] for x in r.stdout.splitlines()] == ["signed"] * 3
    r = run(
        "derive",
        photos[1],
        photos[5],
        "--key",
        alice,
        "--action",
        "c2pa.edited",
        "--param",
        "tool=unknown",
    )
    assert r.exit_code == 0, r.output
    for img in (photos[0], photos[5]):
        r = run("verify", img, "--json")
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["verdict"] == "verified"
    r = run("history", photos[5], "--json")
    assert r.exit_code == 0, r.output
    assert len(json.loads(r.stdout)["records"][0]["parents"]) == 1
    assert run("verify", photos[4]).exit_code == 4
    r = run("log", "verify")
    assert r.exit_code == 0 and r.stdout.startswith("log verifies: 5 records"), r.output
    bundle = tmp_path / "b.json"
    assert run("export", photos[5], "-o", bundle).exit_code == 0
    vkey = json.loads(run("log", "show", "--json").stdout)["vkey"]
    r = run_cli("verify", photos[5], "--bundle", bundle, "--trust-log-key", vkey)  # offline
    assert r.exit_code == 0, r.output
    with Ledger.open(pg_url, log_key=str(key)) as ledger:
        check_ledger(ledger)


def test_triggers_refuse_update_delete_and_truncate(
    pg_url: str, tmp_path: Path, photos: list[Path]
) -> None:
    pg = PgLedger(pg_url, tmp_path)
    with pg.open() as ledger:
        fill_every_log_table(ledger, pg.alice, pg.desk, photos)
    _assert_triggers_refuse(pg_url)
    with pg.open() as ledger:
        check_ledger(ledger)


def test_concurrent_writers_serialise(pg_url: str, tmp_path: Path, photos: list[Path]) -> None:
    pg = PgLedger(pg_url, tmp_path)
    run_concurrent_signing(
        pg.cli, pg.open, pg.alice_file, tmp_path / "c", photos, expected_before=2
    )


def test_a_writer_waiting_for_the_lock_gives_up_after_the_busy_timeout(
    pg_url: str, tmp_path: Path
) -> None:
    pg = PgLedger(pg_url, tmp_path)
    img = make_jpegs(tmp_path / "img", 1, seed=31)[0]
    holder = create_engine(pg_url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    try:
        with holder.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": PG_LOCK_ID})
            t0 = time.monotonic()
            r = run_proc(*pg.cli, "--busy-timeout", "0.5", "sign", img, "--key", pg.alice_file)
            assert r.returncode == 3, r.stdout + r.stderr
            assert r.stderr.startswith("error: another writer holds the ledger lock"), r.stderr
            assert time.monotonic() - t0 < 20
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": PG_LOCK_ID})
    finally:
        holder.dispose()
    with pg.open() as ledger:
        assert ledger.size() == 2
    r = run_proc(*pg.cli, "sign", img, "--key", pg.alice_file)
    assert r.returncode == 0, r.stderr


LEGACY = Path(__file__).parent / "assets" / "legacy"


def test_upgrade_from_0001(pg_url: str) -> None:
    copy_0001_ledger(LEGACY / "ledger_v1_rev0001.db", pg_url)
    assert schema_revision(pg_url) == "0001"
    log_key = str(LEGACY / "ledger_v1_rev0001.db.logkey")
    with Ledger.open(pg_url, log_key=log_key) as ledger:  # upgrades
        assert schema_revision(pg_url) == HEAD_REVISION
        assert check_ledger(ledger)["records"] == 8
        for name in ("v1_capture.jpg", "v1_capture2.png", "v1_edit.png", "v1_derived.jpg"):
            report, _ = ledger.evidence().verify_image(LEGACY / name)
            assert report.verdict == "verified", report.to_json()
    _assert_triggers_refuse(pg_url)


def test_a_foreign_database_is_refused(pg_url: str, tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    _sql(pg_url, "CREATE TABLE photos (id serial PRIMARY KEY, name text)")
    r = run_cli("--db", pg_url, "log", "show")
    assert r.exit_code == 3 and "not a provenance ledger" in r.stderr, r.output
    r = run_cli("--db", pg_url, "--log-key", tmp_path / "k", "init")
    assert r.exit_code == 3 and "already has tables" in r.stderr, r.output
    assert {
        str(t)
        for (t,) in _sql(pg_url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    } == {"photos"}
