"""Load test of ``provenance serve``: concurrent HTTP submissions against in-process appends.

``python -m benchmarks.bench_service [--records 5000] [--clients 16]`` builds N capture
records signed by 16 registered keys (synthetic digests: the server never sees pixels),
then, side by side in one run:

* **in-process baseline**: the same records appended to a fresh ledger by one process,
  in batches of 512 (``Ledger.append_records``, one transaction and checkpoint per
  batch: the Store-level append), and the same through ``check_submission`` +
  ``Ledger.submit`` (what the server does per batch, minus HTTP);
* **HTTP**: a real ``provenance serve`` process (SQLite; PostgreSQL with 2 workers too
  when ``PROVENANCE_TEST_PG_URL`` is set), ``--clients`` concurrent clients (asyncio, one
  keep-alive connection each, in ``--client-procs`` processes) submitting every record
  once, while a reader looks records up and fetches inclusion proofs; reported:
  submissions/s and latency p50/p99 (from sending the request to the whole answer);
* **tiles**: GET requests/s for full level-0 tiles and entry bundles, same clients.

Correctness is checked, not assumed: every submission answered 201 with a distinct index
and an inclusion proof that verifies against its checkpoint (trusting only the vkey), the
log holds exactly the records (0 lost, 0 duplicated), and ``provenance log verify``
passes. Prints a markdown table; ``--json FILE`` also writes the numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from provenance.checkpoint import NoteVerifier, open_checkpoint
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.merkle import leaf_hash, verify_inclusion
from provenance.records import (
    Asset,
    Statement,
    canonical,
    format_time,
    parse_record,
    sign_statement,
)

CLI = [sys.executable, "-c", "import sys; from provenance.cli import main; main(sys.argv[1:])"]
NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
ORIGIN = "bench.provenance.local/log"
BATCH = 512
LINE = re.compile(r"serving \S+ at (\S+) vkey (\S+)")


# --- records ---------------------------------------------------------------------------------
def signers(n: int) -> list[SigningKey]:
    return [SigningKey.from_seed(bytes([i + 1]) * 32) for i in range(n)]


def make_records(n: int, keys: Sequence[SigningKey]) -> list[bytes]:
    """``n`` canonical capture records with distinct synthetic digests, round-robin keys."""
    rng = random.Random(1234)
    out = []
    for i in range(n):
        asset = Asset(
            sha256=rng.randbytes(32).hex(),
            phash64=rng.randbytes(8).hex(),
            phash256=rng.randbytes(32).hex(),
            width=4000,
            height=3000,
            format="JPEG",
            content=rng.randbytes(32).hex(),
            frames=1,
            pdq=rng.randbytes(32).hex(),
        )
        st = Statement(type="capture", time=format_time(NOW), asset=asset, claims={"n": str(i)})
        out.append(sign_statement(st, keys[i % len(keys)]).canonical())
    return out


def new_ledger(db: str, keys: Sequence[SigningKey], log_key: str | None = None) -> str:
    """Create a ledger with ``keys`` registered; return its vkey."""
    with Ledger.init(db, origin=ORIGIN, log_key=log_key) as ledger:
        for i, key in enumerate(keys):
            ledger.register_key(key.public, f"signer{i}", now=NOW)
        return ledger.log_verifier.vkey()


# --- in-process baselines ------------------------------------------------------------------
def bench_in_process(
    tmp: Path, keys: Sequence[SigningKey], bodies: Sequence[bytes]
) -> dict[str, float]:
    records = [parse_record(b) for b in bodies]
    out: dict[str, float] = {}
    db = tmp / "inproc-append.db"
    new_ledger(str(db), keys)
    with Ledger.open(str(db)) as ledger:
        t0 = time.perf_counter()
        for at in range(0, len(records), BATCH):
            ledger.append_records(records[at : at + BATCH])
        out["append_s"] = time.perf_counter() - t0
        assert ledger.size() == len(keys) + len(records)
    db = tmp / "inproc-submit.db"
    new_ledger(str(db), keys)
    with Ledger.open(str(db)) as ledger:
        t0 = time.perf_counter()
        for at in range(0, len(bodies), BATCH):
            checked = [ledger.check_submission(b) for b in bodies[at : at + BATCH]]
            results = ledger.submit(checked)
            assert all(getattr(r, "status", None) == "created" for r in results)
        out["submit_s"] = time.perf_counter() - t0
    return out


# --- the server ------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[str]
    url: str
    vkey: str


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def serve(db: str, *extra: str, log_key: str | None = None) -> Iterator[Server]:
    args = [*CLI, "--db", db]
    if log_key:
        args += ["--log-key", log_key]
    args += ["serve", "--port", "0", "--no-access-log", "--log-level", "warning", *extra]
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=log, text=True, env=child_env()
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = LINE.fullmatch(line.strip())
            if match is None:
                log.seek(0)
                raise RuntimeError(f"serve did not start: {line!r} {log.read()[-2000:]}")
            yield Server(proc, match.group(1), match.group(2))
        finally:
            proc.terminate()
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


# --- a minimal HTTP/1.1 keep-alive client ---------------------------------------------------
class RawClient:
    """One keep-alive connection speaking just enough HTTP/1.1 for this load (the server
    always answers with a Content-Length). httpx costs ~2.5 ms of client CPU per request,
    which on a 2-core machine would measure the client rather than the server; this one
    costs ~0.1 ms, like a load generator (wrk, hey) would."""

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("http://").partition(":")
        self._host, self._port = host, int(port)
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> RawClient:
        self._reader, self._writer = await asyncio.open_connection(self._host, self._port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        assert self._reader is not None and self._writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode() + body)
        status_line = await self._reader.readline()
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b""):
                break
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        return status, await self._reader.readexactly(length)


# --- clients ---------------------------------------------------------------------------------
@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    reads: int = 0


async def _submit_all(url: str, bodies: list[bytes], clients: int) -> Load:
    load = Load()
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)

    async def client() -> None:
        async with RawClient(url) as http:
            while True:
                try:
                    body = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                t0 = time.perf_counter()
                status, answer = await http.request("POST", "/v1/records", body)
                load.latencies.append(time.perf_counter() - t0)
                load.statuses.append(status)
                load.answers.append(json.loads(answer))

    await asyncio.gather(*(client() for _ in range(clients)))
    return load


def _client_proc(url: str, bodies: list[bytes], clients: int, out: Any) -> None:
    load = asyncio.run(_submit_all(url, bodies, clients))
    out.put(asdict(load))


async def _reader(url: str, stop: asyncio.Event, probes: list[bytes]) -> int:
    """Look records up and fetch proofs while the load runs: a monitor's traffic, paced
    (about 60 requests/s), every answer checked to be a 200."""
    done = 0
    async with RawClient(url) as http:
        while not stop.is_set():
            record = parse_record(probes[done % len(probes)])
            asset = record.statement.asset
            assert asset is not None
            for path in (
                f"/v1/matches/byBinding?alg=sha256&value={asset.sha256}",
                f"/v1/proof/inclusion?record={done % 16}",
                "/checkpoint",
            ):
                status, _ = await http.request("GET", path)
                assert status == 200, (path, status)
                done += 1
            await asyncio.sleep(0.05)
    return done


def run_load(url: str, bodies: list[bytes], clients: int, procs: int) -> tuple[Load, float, int]:
    """Submit every body once with ``clients`` concurrent clients over ``procs`` processes;
    a reader in this process meanwhile. Returns the load, the wall time and reads made."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    shares = [bodies[i::procs] for i in range(procs)]
    per = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    workers = [
        ctx.Process(target=_client_proc, args=(url, shares[i], per[i], queue)) for i in range(procs)
    ]

    async def main() -> tuple[list[dict[str, Any]], float, int]:
        stop = asyncio.Event()
        reader = asyncio.create_task(_reader(url, stop, bodies[:64]))
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        results = [await asyncio.to_thread(queue.get) for _ in workers]
        wall = time.perf_counter() - t0
        stop.set()
        return results, wall, await reader

    results, wall, reads = asyncio.run(main())
    for w in workers:
        w.join()
    load = Load()
    for r in results:
        load.latencies += r["latencies"]
        load.answers += r["answers"]
        load.statuses += r["statuses"]
    return load, wall, reads


async def _tiles(url: str, paths: list[str], clients: int) -> tuple[float, int]:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for p in paths:
        queue.put_nowait(p)
    bad = 0

    async def client() -> None:
        nonlocal bad
        async with RawClient(url) as http:
            while True:
                try:
                    path = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                status, _ = await http.request("GET", path)
                if status != 200:
                    bad += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - t0, bad


# --- checks ----------------------------------------------------------------------------------
def check_answers(load: Load, bodies: list[bytes], vkey: str, first_index: int) -> None:
    """0 lost, 0 duplicated, every proof checks against its checkpoint (only the vkey)."""
    verifier = NoteVerifier.parse_vkey(vkey)
    assert sorted(load.statuses) == [201] * len(bodies), sorted(set(load.statuses))
    indices = sorted(a["index"] for a in load.answers)
    assert indices == list(range(first_index, first_index + len(bodies))), "lost or duplicated"
    sent = {parse_record(b).record_id for b in bodies}
    assert {a["record_id"] for a in load.answers} == sent
    checkpoints: dict[str, Any] = {}
    for a in load.answers:
        note = a["checkpoint"]
        if note not in checkpoints:
            checkpoints[note] = open_checkpoint(note, verifier)
        cp = checkpoints[note]
        body = canonical(a["record"])
        proof = [base64.b64decode(h) for h in a["inclusion_proof"]]
        verify_inclusion(a["index"], cp.size, leaf_hash(body), proof, cp.root)


def log_verify(db: str, log_key: str | None = None) -> float:
    args = [*CLI, "--db", db] + (["--log-key", log_key] if log_key else []) + ["log", "verify"]
    t0 = time.perf_counter()
    r = subprocess.run(args, capture_output=True, text=True, env=child_env(), check=False)
    if r.returncode != 0:
        raise AssertionError(f"log verify failed: {r.stdout[-1000:]} {r.stderr[-1000:]}")
    return time.perf_counter() - t0


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


# --- one backend -----------------------------------------------------------------------------
def bench_http(
    label: str,
    db: str,
    keys: Sequence[SigningKey],
    bodies: list[bytes],
    args: argparse.Namespace,
    *,
    workers: int = 1,
    log_key: str | None = None,
) -> dict[str, Any]:
    vkey = new_ledger(db, keys, log_key=log_key)
    extra = ["--workers", str(workers)] if workers > 1 else []
    with serve(db, *extra, log_key=log_key) as server:
        assert server.vkey == vkey
        load, wall, reads = run_load(server.url, bodies, args.clients, args.client_procs)
        check_answers(load, bodies, vkey, len(keys))
        size = len(keys) + len(bodies)
        full = size // 256
        paths = [f"/tile/0/{_tile_path(i % full)}" for i in range(args.tile_requests // 2)]
        paths += [f"/tile/entries/{_tile_path(i % full)}" for i in range(args.tile_requests // 2)]
        tile_s, bad = asyncio.run(_tiles(server.url, paths, args.clients))
        assert bad == 0
    verify_s = log_verify(db, log_key)
    return {
        "backend": label,
        "workers": workers,
        "records": len(bodies),
        "wall_s": wall,
        "rate": len(bodies) / wall,
        "p50_ms": pct(load.latencies, 0.50),
        "p99_ms": pct(load.latencies, 0.99),
        "mean_ms": statistics.fmean(load.latencies) * 1000,
        "reads_during_load": reads,
        "tile_rate": len(paths) / tile_s,
        "tile_requests": len(paths),
        "log_verify_s": verify_s,
    }


def _tile_path(index: int) -> str:
    text = f"{index:03d}"
    groups: list[str] = []
    while len(text) > 3:
        groups.insert(0, text[-3:])
        text = text[:-3]
    groups.insert(0, text.rjust(3, "0"))
    return "/".join(["x" + g for g in groups[:-1]] + [groups[-1]])


@contextmanager
def pg_db(admin_url: str) -> Iterator[str]:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    name = f"provenance_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


# --- main --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_service")
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--tile-requests", type=int, default=4000)
    parser.add_argument("--no-pg", action="store_true", help="skip PostgreSQL even if set")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    args = parser.parse_args(argv)

    keys = signers(16)
    t0 = time.perf_counter()
    bodies = make_records(args.records, keys)
    sign_s = time.perf_counter() - t0
    rows: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-service-"))
    try:
        base = bench_in_process(tmp, keys, bodies)
        rows.append(bench_http("SQLite", str(tmp / "served.db"), keys, bodies, args))
        pg = os.environ.get("PROVENANCE_TEST_PG_URL")
        if pg and not args.no_pg:
            with pg_db(pg) as url:
                key = str(tmp / "pg-log.key")
                rows.append(
                    bench_http("PostgreSQL", url, keys, bodies, args, workers=2, log_key=key)
                )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    n = args.records
    print(
        f"records: {n}, clients: {args.clients} (in {args.client_procs} processes), "
        f"cores: {os.cpu_count()}, signing them locally: {n / sign_s:,.0f}/s"
    )
    print()
    print("| scenario | records/s | p50 ms | p99 ms | notes |")
    print("|---|---:|---:|---:|---|")
    print(
        f"| in-process `Ledger.append_records`, batches of {BATCH} (SQLite) "
        f"| {n / base['append_s']:,.0f} | | | Store-level append, one process |"
    )
    print(
        f"| in-process `check_submission` + `Ledger.submit`, batches of {BATCH} (SQLite) "
        f"| {n / base['submit_s']:,.0f} | | | what the server does, minus HTTP |"
    )
    for r in rows:
        print(
            f"| HTTP `POST /v1/records`, {args.clients} clients, {r['backend']}, "
            f"{r['workers']} worker(s) | {r['rate']:,.0f} | {r['p50_ms']:.1f} "
            f"| {r['p99_ms']:.1f} | 0 lost, 0 duplicated, every proof checked; "
            f"{r['reads_during_load']} reads during the load; "
            f"`log verify` {r['log_verify_s']:.1f} s |"
        )
    for r in rows:
        print(
            f"| HTTP `GET /tile/...` (full tiles + entry bundles), {r['backend']} "
            f"| {r['tile_rate']:,.0f} req/s | | | {r['tile_requests']} requests |"
        )
    if args.json:
        args.json.write_text(json.dumps({"baseline": base, "http": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
