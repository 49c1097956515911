"""Helpers shared by the storage tests: concurrency, crash safety, PostgreSQL, migrations.

(Named for PostgreSQL, but most of it serves the SQLite tests too.)

* :data:`CLI` / :func:`run_proc` run ``provenance`` in a child process (the same code as the
  console script), with the ``PROVENANCE_*`` variables of the calling shell removed and
  stdout unbuffered so a test can follow ``--json`` lines while the command runs;
* :func:`run_gated` starts several ``provenance`` processes that wait, fully imported, at a
  start gate and are released together, plus a reader process running CLI commands in a
  loop until they are done; :func:`run_concurrent_signing` is the whole concurrent-signing
  scenario (4 writers on disjoint folders, 2 on the same folder, a verify/history reader)
  against any ledger, SQLite or PostgreSQL;
* :func:`make_jpegs` writes small JPEGs of distinct random noise (distinct SHA-256, pixels
  and pHash), so a test can have as many images as it needs without the corpus;
* :func:`check_ledger` asserts what must hold after any run, crash or upgrade: the audit
  passes, the latest checkpoint covers exactly the stored records, the node table holds
  exactly the complete subtrees of that tree, and no image is logged twice;
* :func:`pg_database` creates a throwaway PostgreSQL database through the server named by
  ``PROVENANCE_TEST_PG_URL`` (see ``.ci/start-postgres.sh``) and drops it afterwards;
* :func:`fill_every_log_table` puts a row in each log table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from conftest import FIXED_NOW
from PIL import Image
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from provenance.keys import SigningKey, load_signing_key
from provenance.ledger import Ledger
from provenance.records import Action, parse_record
from provenance.store import LOG_TABLES

PG_URL_ENV = "PROVENANCE_TEST_PG_URL"

CLI: tuple[str, ...] = (
    sys.executable,
    "-c",
    "import sys; from provenance.cli import main; main(sys.argv[1:])",
)

# A writer that imports everything `sign` needs, says it is ready, and waits at the gate.
_GATED = """
import os, sys, time
from pathlib import Path
from provenance.cli import main
import provenance.audit, provenance.imaging, provenance.ledger, provenance.verify  # warm
gate = Path(os.environ["PROVENANCE_TEST_GATE"])
Path(f"{gate}.ready.{os.getpid()}").touch()
while not gate.exists():
    time.sleep(0.002)
main(sys.argv[1:])
"""

# A reader running CLI commands in-process, in a loop, until the stop file appears.
_READER = """
import contextlib, io, json, sys, time
from pathlib import Path
from provenance.cli import main
commands, stop = json.loads(sys.argv[1]), Path(sys.argv[2])
runs, errors, t0 = 0, [], time.monotonic()
while not stop.exists() or runs < len(commands):
    for args in commands:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
        runs += 1
        if code != 0:
            errors.append({"args": args, "code": code, "stderr": err.getvalue()[-500:],
                           "stdout": out.getvalue()[-500:]})
print(json.dumps({"runs": runs, "errors": errors[:20], "seconds": time.monotonic() - t0}))
"""


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child ``provenance``: no inherited PROVENANCE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def run_proc(*args: object, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``provenance ARGS...`` in a child process and wait for it."""
    return subprocess.run(
        [*CLI, *map(str, args)],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=timeout,
        check=False,
    )


def make_jpegs(folder: Path, n: int, *, seed: int, size: int = 64) -> list[Path]:
    """Write ``n`` small JPEGs of random noise (seeded: reproducible, distinct per seed)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        path = folder / f"noise-{seed}-{i:03d}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        out.append(path)
    return out


# --- invariants --------------------------------------------------------------------------
def check_ledger(ledger: Ledger) -> dict[str, int]:
    """Assert the ledger is whole; return its table counts.

    Checks: the full audit passes (every checkpoint consistent with the next, every node and
    signature); the latest checkpoint is at the log size (no record outside a checkpoint: a
    half-written append would leave one); ``records`` holds exactly indices 0..n-1; ``nodes``
    holds exactly the 2n - popcount(n) complete subtrees; no asset SHA-256 appears twice.
    """
    result = ledger.audit()
    assert result.ok, [p.to_json() for p in result.ordered()[:5]]
    n = ledger.size()
    cp = ledger.checkpoint()
    assert (cp.size if cp else 0) == n
    counts = ledger.store.table_counts()
    assert counts["records"] == n
    assert counts["nodes"] == 2 * n - bin(n).count("1")
    engine = create_engine(ledger.store.url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            dupes = conn.execute(
                text(
                    "SELECT count(*) FROM (SELECT sha_key FROM assets "
                    "GROUP BY sha_key HAVING count(*) > 1) d"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert dupes == 0, f"{dupes} images are logged more than once"
    return counts


def logged_once(ledger: Ledger, paths: Sequence[Path]) -> None:
    """Assert every image in ``paths`` is in the log exactly once (by file SHA-256)."""
    for p in paths:
        digest = hashlib.sha256(p.read_bytes()).digest()
        found = ledger.store.find_by_sha256(digest)
        assert len(found) == 1, f"{p.name} logged {len(found)} times"


def claim_runs(ledger: Ledger, claim: str) -> list[str]:
    """The value of ``claim`` of each record in log order, merged into runs of equal values."""
    runs: list[str] = []
    for stored in ledger.store.iter_records():
        value = parse_record(stored.body).statement.claims.get(claim)
        if value is not None and (not runs or runs[-1] != value):
            runs.append(value)
    return runs


# --- concurrent writers --------------------------------------------------------------------
@dataclass
class ConcurrentRun:
    writers: list[tuple[str, int, str, str]]  # (tag, exit code, stdout, stderr)
    reader: dict[str, Any]

    def failures(self) -> list[str]:
        return [
            f"writer {tag} exit {rc}: {err.strip()[-800:]}"
            for tag, rc, _, err in self.writers
            if rc != 0
        ]


def run_gated(
    commands: Sequence[Sequence[str]],
    work: Path,
    *,
    readers: Sequence[Sequence[str]] = (),
    timeout: float = 240,
) -> tuple[list[tuple[int, str, str]], dict[str, Any]]:
    """Run one ``provenance`` process per command, all released at the same instant.

    Each process imports everything first and waits at a start gate; the gate opens once
    all are ready. While they run, one reader process runs each command of ``readers`` in a
    loop (in-process CLI calls) until all have exited. Returns (exit code, stdout, stderr)
    per command and the reader's summary ({"runs", "errors", "seconds"}; empty without
    readers).
    """
    work.mkdir(parents=True, exist_ok=True)
    gate, stop = work / "gate", work / "stop"
    env = clean_env(PROVENANCE_TEST_GATE=str(gate))
    reader = None
    if readers:
        reader = subprocess.Popen(
            [sys.executable, "-c", _READER, json.dumps([list(r) for r in readers]), str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _GATED, *map(str, cmd)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for cmd in commands
    ]
    try:
        deadline = time.monotonic() + 90
        while len(list(work.glob("gate.ready.*"))) < len(procs):
            early = [p for p in procs if p.poll() is not None]
            assert not early, "exited before the gate: " + early[0].communicate()[1][-800:]
            assert time.monotonic() < deadline, "processes did not get ready in time"
            time.sleep(0.01)
        gate.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=timeout)
            results.append((p.returncode, out, err))
        summary: dict[str, Any] = {}
        if reader is not None:
            stop.touch()
            rout, rerr = reader.communicate(timeout=120)
            assert reader.returncode == 0, rerr[-2000:]
            summary = json.loads(rout.strip().splitlines()[-1])
    finally:
        for p in [*procs, *([reader] if reader is not None else [])]:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results, summary


def sign_concurrently(
    base: Sequence[str],
    jobs: Sequence[tuple[str, Path]],
    key_file: Path,
    work: Path,
    *,
    batch_size: int = 2,
    readers: Sequence[Sequence[str]] = (),
) -> ConcurrentRun:
    """:func:`run_gated` with one ``provenance sign FOLDER --json`` per job (tag, folder).

    ``base`` is the global options (``--db ...``, ``--log-key ...``), also given to the
    readers; each job's records carry the claim ``writer=<tag>``.
    """
    commands = [
        [
            *base,
            "sign",
            str(folder),
            "--key",
            str(key_file),
            "--batch-size",
            str(batch_size),
            "--claim",
            f"writer={tag}",
            "--json",
        ]
        for tag, folder in jobs
    ]
    results, summary = run_gated(commands, work, readers=[[*base, *r] for r in readers])
    return ConcurrentRun(
        [(tag, *res) for (tag, _), res in zip(jobs, results, strict=True)], summary
    )


# --- the concurrent signing scenario (SQLite and PostgreSQL) ------------------------------
WRITERS = 4  # processes signing disjoint folders
PER_WRITER = 10
SHARED_EXTRA = 4  # synthetic images added to the corpus photos in the shared folder


def _folders(tmp: Path, photos: list[Path]) -> tuple[list[tuple[str, Path]], list[Path]]:
    """Four disjoint folders and one shared by two writers; returns (jobs, every image)."""
    jobs: list[tuple[str, Path]] = []
    images: list[Path] = []
    for w in range(WRITERS):
        folder = tmp / f"w{w}"
        images += make_jpegs(folder, PER_WRITER, seed=100 + w)
        jobs.append((f"w{w}", folder))
    shared = tmp / "shared"
    shared.mkdir()
    for p in photos:
        images.append(Path(shutil.copy(p, shared / p.name)))
    images += make_jpegs(shared, SHARED_EXTRA, seed=999)
    jobs += [("s0", shared), ("s1", shared)]
    return jobs, images


def run_concurrent_signing(
    base: list[str],
    open_ledger: Callable[[], Ledger],
    key_file: Path,
    tmp: Path,
    photos: list[Path],
    *,
    expected_before: int,
) -> None:
    """The whole scenario against any ledger (the PostgreSQL suite reuses it).

    ``base`` holds the global CLI options naming the ledger; ``open_ledger`` opens it here;
    ``expected_before`` is its size before the run.
    """
    presigned = make_jpegs(tmp / "pre", 1, seed=7)[0]
    with open_ledger() as ledger:
        [res] = ledger.sign([presigned], load_signing_key(key_file, None))
    assert res.status == "signed"
    jobs, images = _folders(tmp, photos)
    run = sign_concurrently(
        base,
        jobs,
        key_file,
        tmp / "run",
        batch_size=2,
        readers=[
            ["--busy-timeout", "5", "verify", str(presigned)],
            ["--busy-timeout", "5", "history", str(presigned)],
            ["--busy-timeout", "5", "log", "show", "--json"],
        ],
    )
    assert not run.failures(), run.failures()
    # the two writers of the shared folder: for each image one signed it, the other found it
    statuses: dict[str, list[str]] = {}
    for tag, _, out, _ in run.writers:
        if tag.startswith("s"):
            for line in out.splitlines():
                item = json.loads(line)
                statuses.setdefault(item["path"], []).append(item["status"])
    assert len(statuses) == len(photos) + SHARED_EXTRA
    for path, seen in statuses.items():
        assert sorted(seen) == ["exists", "signed"], (path, seen)
    # the reader never failed, and kept running while the writers did
    assert run.reader["errors"] == [], run.reader["errors"]
    assert run.reader["runs"] >= 6, run.reader
    with open_ledger() as ledger:
        counts = check_ledger(ledger)
        assert counts["records"] == expected_before + 1 + len(images)  # nothing lost
        assert counts["assets"] == 1 + len(images)
        logged_once(ledger, [presigned, *images])
        # batches of different writers interleave in the log: they really ran together
        runs = claim_runs(ledger, "writer")
        assert len(runs) > len(jobs), runs
    r = run_proc(*base, "log", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("log verifies:")


# --- PostgreSQL ------------------------------------------------------------------------------
def pg_admin_url() -> str | None:
    return os.environ.get(PG_URL_ENV) or None


@contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A new, empty, uniquely named database on the server of ``admin_url``; dropped after."""
    name = f"provenance_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# --- a ledger with rows in every log table ------------------------------------------------
def fill_every_log_table(
    ledger: Ledger, alice: SigningKey, desk: SigningKey, photos: list[Path]
) -> list[Path]:
    """Captures, a declared edit and a revoked key: a row in each of the seven log tables.

    Returns the captured photos and the derived one (last).
    """
    captured = photos[:3]
    ledger.sign(captured, alice, now=FIXED_NOW)
    ledger.derive(
        [str(photos[1])],
        photos[5],
        desk,
        [Action("c2pa.edited", {"note": "declared"})],
        now=FIXED_NOW,
    )
    gone = SigningKey.from_seed(bytes(range(9, 41)))
    ledger.register_key(gone.public, "gone", now=FIXED_NOW)
    ledger.revoke_key(gone.public.key_id, reason="test", now=FIXED_NOW)
    counts = ledger.store.table_counts()
    assert all(counts[t] > 0 for t in LOG_TABLES), counts
    return [*captured, photos[5]]


def copy_0001_ledger(source: Path, url: str) -> None:
    """Copy a SQLite ledger at schema revision 0001 (``tests/assets/legacy``) to ``url``.

    The schema is created by the 0001 migration alone (``Store.migrate(revision="0001")``),
    then every row of every log table is copied as it is, so the upgrade path runs on
    PostgreSQL too.
    """
    from provenance.store import Store

    src = create_engine(f"sqlite:///{source}", poolclass=NullPool)
    old = Store(url)
    try:
        with src.connect() as conn:
            meta = dict(conn.execute(text("SELECT key, value FROM meta")).all())
            tables = {
                t: [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {t}"))]
                for t in LOG_TABLES
            }
        old.migrate(revision="0001", create_meta=meta)
        dst = create_engine(url, poolclass=NullPool)
        try:
            with dst.begin() as conn:
                for table, rows in tables.items():
                    if rows:
                        cols = list(rows[0])
                        conn.execute(
                            text(
                                f"INSERT INTO {table} ({', '.join(cols)}) VALUES "
                                f"({', '.join(':' + c for c in cols)})"
                            ),
                            rows,
                        )
        finally:
            dst.dispose()
    finally:
        old.close()
        src.dispose()


def schema_revision(url: str) -> str | None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
