"""Crash safety and failing storage: kill -9 mid-batch, read-only, locked and full disks.

Each append (records, digests, nodes and the checkpoint of a batch) is one SQLite
transaction in WAL mode with ``synchronous=FULL``, so a writer killed at any moment leaves
either the whole batch or none of it: ``log verify`` passes, the latest checkpoint covers
exactly the stored records, the number of records added is a multiple of the batch size,
and re-running the same command completes the folder with every image logged once.

A database that cannot be written (read-only file or folder, locked by another program,
full disk) gives one ``error:`` line (plus a hint), exit 3, and leaves the ledger unchanged.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import LedgerEnv
from pg_helpers import CLI, check_ledger, clean_env, logged_once, make_jpegs, run_proc

from provenance.ledger import Ledger

IMAGES = 20  # per trial
BATCH = 4


def _seed() -> int:
    return int(os.environ.get("PROVENANCE_CRASH_SEED", time.time_ns() % 1_000_000))


def _kill_mid_run(db: Path, key: Path, folder: Path, rng: random.Random, workers: int) -> None:
    """Start ``provenance sign FOLDER --batch-size 4``, kill -9 it at a random moment.

    Each batch prints its result lines once it has committed. The kill comes after a random
    number of lines (at least two batches still to go) plus a random pause of up to one
    batch period (measured from the gaps between earlier batches), so it falls anywhere in
    the digest, append, commit or print phase of a later batch. The whole process group is
    killed (with --workers the digest processes die too).
    """
    cmd = [
        *CLI,
        "--db",
        str(db),
        "sign",
        str(folder),
        "--batch-size",
        str(BATCH),
        "--key",
        str(key),
        "--workers",
        str(workers),
        "--json",
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        batch_starts: list[float] = []
        last = 0.0
        for _ in range(rng.randrange(1, IMAGES - 2 * BATCH + 1)):
            if not proc.stdout.readline():
                break
            now = time.monotonic()
            if now - last > 0.002:  # lines of one batch arrive together
                batch_starts.append(now)
            last = now
        gaps = [b - a for a, b in itertools.pairwise(batch_starts)]
        time.sleep(rng.uniform(0, max(gaps, default=0.03)))
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
        proc.stdout.close()


def _crash_trials(lenv: LedgerEnv, run_cli, trials: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Run ``trials`` kill/check/re-run rounds on one ledger; return the records each kill
    left (a multiple of the batch size; below IMAGES when the kill came mid-folder)."""
    seed = _seed()
    rng = random.Random(seed)
    lenv.ledger.close()
    outcomes = []
    for t in range(trials):
        ctx = f"trial {t}, PROVENANCE_CRASH_SEED={seed}"
        folder = lenv.tmp / f"trial{t}"
        images = make_jpegs(folder, IMAGES, seed=1000 + t)
        with Ledger.open(str(lenv.db)) as ledger:
            before = ledger.size()
        _kill_mid_run(lenv.db, lenv.alice_file, folder, rng, workers=1 + t % 2)
        with Ledger.open(str(lenv.db)) as ledger:
            counts = check_ledger(ledger)
        added = counts["records"] - before
        assert added % BATCH == 0 and 0 <= added <= IMAGES, (ctx, added)  # whole batches only
        outcomes.append(added)
        r = run_cli(
            "--db",
            lenv.db,
            "sign",
            folder,
            "--batch-size",
            BATCH,
            "--key",
            lenv.alice_file,
            "--json",
        )
        assert r.exit_code == 0, (ctx, r.output)
        statuses = [json.loads(line)["status"] for line in r.stdout.splitlines()]
        assert statuses.count("exists") == added and statuses.count("signed") == IMAGES - added
        with Ledger.open(str(lenv.db)) as ledger:
            counts = check_ledger(ledger)
            assert counts["records"] == before + IMAGES, ctx
            logged_once(ledger, images)
    r = run_proc("--db", lenv.db, "log", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    return outcomes


def test_kill_9_mid_batch_leaves_whole_batches(lenv: LedgerEnv, run_cli) -> None:  # type: ignore[no-untyped-def]
    outcomes = _crash_trials(lenv, run_cli, 3)
    assert min(outcomes) < IMAGES, outcomes  # at least one kill interrupted the folder


@pytest.mark.slow
def test_kill_9_mid_batch_many_trials(lenv: LedgerEnv, run_cli) -> None:  # type: ignore[no-untyped-def]
    trials = 24
    outcomes = _crash_trials(lenv, run_cli, trials)
    print(f"records left by each kill (of {IMAGES}): {outcomes}")
    assert sum(o < IMAGES for o in outcomes) >= trials // 2, outcomes


# --- databases that cannot be written ----------------------------------------------------
def _assert_clean_failure(r: subprocess.CompletedProcess[str], *words: str) -> None:
    """Exit 3 with one ``error:`` line naming the problem (a hint may follow), no traceback."""
    assert r.returncode == 3, r.stdout + r.stderr
    lines = r.stderr.splitlines()
    assert lines and lines[0].startswith("error: "), r.stderr
    assert any(w in lines[0] for w in words), lines[0]
    assert "Traceback" not in r.stderr
    assert all(line.startswith(("error: ", "hint: ")) for line in lines), r.stderr


def _ledger_state(db: Path) -> tuple[int, dict[str, int]]:
    with Ledger.open(str(db)) as ledger:
        return ledger.size(), check_ledger(ledger)


def _is_root() -> bool:
    return os.geteuid() == 0


def _mount(*args: str) -> None:
    r = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot mount ({' '.join(args)}): {r.stderr.strip()}")


def _umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True, check=False)


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """Make a file or folder read-only even for root: a read-only bind mount over itself
    when running as root (permissions do not stop root), else chmod."""
    if _is_root():
        _mount("--bind", str(path), str(path))
        try:
            _mount("-o", "remount,bind,ro", str(path))
            yield
        finally:
            _umount(path)
    else:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)


@pytest.mark.parametrize("what", ["file", "folder"])
def test_read_only_database_fails_cleanly(lenv: LedgerEnv, tmp_path: Path, what: str) -> None:
    first, second = make_jpegs(tmp_path / "img", 2, seed=11)
    lenv.ledger.sign([first], lenv.alice)
    lenv.ledger.close()
    size, counts = _ledger_state(lenv.db)
    target = lenv.db if what == "file" else lenv.db.parent
    with _read_only(target):
        r = run_proc("--db", lenv.db, "sign", second, "--key", lenv.alice_file)
        _assert_clean_failure(r, "read-only", "cannot open the database file")
        if what == "file":  # the folder is writable: reading still works
            assert run_proc("--db", lenv.db, "verify", first).returncode == 0
    assert _ledger_state(lenv.db) == (size, counts)


def test_locked_database_fails_after_the_busy_timeout(lenv: LedgerEnv, tmp_path: Path) -> None:
    img = make_jpegs(tmp_path / "img", 1, seed=12)[0]
    lenv.ledger.close()
    size, counts = _ledger_state(lenv.db)
    conn = sqlite3.connect(lenv.db, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        t0 = time.monotonic()
        r = run_proc(
            "--db", lenv.db, "--busy-timeout", "0.5", "sign", img, "--key", lenv.alice_file
        )
        elapsed = time.monotonic() - t0
        _assert_clean_failure(r, "locked")
        assert elapsed < 15  # gave up after the busy timeout, not the default 30 s
    finally:
        conn.execute("ROLLBACK")
        conn.close()
    assert _ledger_state(lenv.db) == (size, counts)
    r = run_proc("--db", lenv.db, "sign", img, "--key", lenv.alice_file)  # lock released
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("free_kb", [0, 40])
def test_full_disk_fails_cleanly(tmp_path: Path, free_kb: int) -> None:
    """A 2 MiB tmpfs filled up to ``free_kb``: 0 fails at open (no room for the WAL index),
    40 fails while appending (SQLITE_FULL)."""
    if not _is_root():
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk))
    try:
        db = disk / "ledger.db"
        first, second = make_jpegs(tmp_path / "img", 2, seed=13)
        from provenance.keys import SigningKey, save_signing_key

        alice = SigningKey.from_seed(bytes(range(32)))
        key_file = tmp_path / "alice.key"
        save_signing_key(alice, key_file, None)
        with Ledger.init(str(db)) as ledger:
            ledger.register_key(alice.public, "alice")
            ledger.sign([first], alice)
        size, counts = _ledger_state(db)
        avail = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
        filler = disk / "filler"
        with filler.open("wb") as fh:
            fh.write(b"\0" * max(0, avail - free_kb * 1024))
        r = run_proc("--db", db, "sign", second, "--key", key_file)
        _assert_clean_failure(r, "disk")
        filler.unlink()
        assert _ledger_state(db) == (size, counts)
        r = run_proc("--db", db, "sign", second, "--key", key_file)
        assert r.returncode == 0, r.stderr
    finally:
        _umount(disk)
