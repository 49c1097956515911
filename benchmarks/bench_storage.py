"""Row 8: storage per record of the big ledger.

The database file as it is (after a WAL checkpoint, no VACUUM), its page count and free
pages, and the bytes per record of each table and index from SQLite's ``dbstat`` virtual
table when this SQLite has it. The baseline is pymerkle's SqliteTree holding entries of the
same size (it stores each entry and its leaf hash, no interior nodes, no index).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator

from benchmarks import fixtures
from benchmarks.common import Ctx, Row, Target
from benchmarks.merkle_baselines import pymerkle, pymerkle_db


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    return [("8a", f"database bytes per record, {ctx.sizes.big:,} records")]


def run(ctx: Ctx) -> Iterator[Row]:
    ctx.log("[row 8] storage")
    big = fixtures.build_ledger(ctx, ctx.sizes.big, chain=True)
    fixtures._wal_checkpoint(big.db)
    size = big.db.stat().st_size
    con = sqlite3.connect(big.db)
    try:
        page_size = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
        free = con.execute("PRAGMA freelist_count").fetchone()[0]
        records = con.execute("SELECT count(*) FROM records").fetchone()[0]
        body = con.execute("SELECT avg(length(body)) FROM records").fetchone()[0]
        per: dict[str, float] = {}
        with contextlib.suppress(sqlite3.DatabaseError):
            for name, nbytes in con.execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            ):
                per[name] = nbytes / records
    finally:
        con.close()
    ctx.details["8.bytes_per_record_by_object"] = per
    breakdown = ", ".join(f"{k} {v:.0f}" for k, v in list(per.items())[:9])
    npz = big.db.with_name(big.db.name + ".phash.npz")
    row = Row(
        "8a",
        f"database bytes per record, {records:,} records",
        "B/rec",
        ours=size / records,
        n=1,
        baseline_name="pymerkle SqliteTree, same entries",
        target=Target("abs", "<", 1024, "< 1 KB"),
        note=(
            f"file {size / 2**20:,.1f} MiB = {pages:,} pages x {page_size} B, "
            f"{free} free; record body {body:.0f} B on average; by object (B/rec): "
            f"{breakdown or 'dbstat unavailable'}"
            + (
                f"; plus <db>.phash.npz {npz.stat().st_size / records:.1f} B/rec"
                if npz.exists()
                else ""
            )
        ),
    )
    pm, why = pymerkle()
    if pm is not None:
        db = pymerkle_db(ctx, records)
        fixtures._wal_checkpoint(db)
        row.baseline, row.n_base = db.stat().st_size / records, 1
    else:
        row.unavailable = why
    yield row
