"""``provenance serve`` and ``provenance witness serve`` as real processes, over loopback.

Each server is a child process started as a user would start it, on a free port
(``--port 0``), and talked to with httpx. Covered: the one line it prints, a clean stop
on SIGTERM and SIGINT (exit 0), start-up failures (exit 3), a client that never finishes
its body (408), a witness cosigning the checkpoint, and, marked slow: ``kill -9`` during a
stream of submissions (every acknowledged record survives the restart and the log audits
clean), several workers on PostgreSQL, and a split view (a server on a forked copy of the
database) caught by the witness.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
import pytest
from conftest import FIXED_NOW
from pg_helpers import CLI, check_ledger, clean_env, pg_admin_url, pg_database, run_proc
from test_server import capture

from provenance.checkpoint import (
    NoteVerifier,
    open_checkpoint,
    parse_note,
    verify_cosignature,
)
from provenance.keys import SigningKey, save_signing_key
from provenance.ledger import Ledger
from provenance.records import Record
from provenance.witness import WitnessConflict, WitnessError, request_cosignature

LINE = re.compile(r"serving (\S+) at (http://127\.0\.0\.1:(\d+)) vkey (\S+)")
WITNESS_LINE = re.compile(r"witness (\S+) at (http://127\.0\.0\.1:\d+) vkey (\S+)")
WITNESS_NAME = "witness.test/w1"


@dataclass
class Proc:
    """A running server: its process, the line it printed, the URL and key in it."""

    proc: subprocess.Popen[str]
    log: IO[str]
    line: str
    url: str
    vkey: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def rest_of_stdout(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.read()


def start(*args: object, pattern: re.Pattern[str] = LINE, timeout: float = 30) -> Proc:
    """Start ``provenance ARGS...`` and wait for its one line on stdout."""
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - the server's log, closed by serving()
    proc = subprocess.Popen(
        [*CLI, *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=clean_env(),
    )
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(proc.stdout.readline()))  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    if not got or not got[0]:
        proc.kill()
        proc.wait(10)
        log.seek(0)
        raise AssertionError(f"no start-up line from {args}: {log.read()[-2000:]}")
    if got[0].startswith("{"):  # --json
        obj = json.loads(got[0])
        return Proc(proc, log, got[0], obj["url"], obj["vkey"])
    match = pattern.fullmatch(got[0].rstrip("\n"))
    assert match is not None, got[0]
    return Proc(proc, log, got[0], match.group(2), match.groups()[-1])


@contextmanager
def serving(*args: object, pattern: re.Pattern[str] = LINE) -> Iterator[Proc]:
    p = start(*args, pattern=pattern)
    try:
        yield p
    finally:
        if p.proc.poll() is None:
            p.proc.kill()
        p.proc.wait(10)
        if p.proc.stdout is not None:
            p.proc.stdout.close()
        p.log.close()


@dataclass
class Site:
    """A SQLite ledger on disk with alice registered."""

    db: Path
    alice: SigningKey
    vkey: str
    origin: str


def make_site(folder: Path) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "ledger.db"
    with Ledger.init(str(db), origin="serve.provenance.test/log") as ledger:
        alice = SigningKey.from_seed(bytes(range(32)))
        ledger.register_key(alice.public, "alice", now=FIXED_NOW)
        return Site(db, alice, ledger.log_verifier.vkey(), ledger.origin)


@pytest.fixture
def site(tmp_path: Path) -> Site:
    return make_site(tmp_path / "site")


def post(url: str, record: Record, client: httpx.Client | None = None) -> httpx.Response:
    if client is None:
        return httpx.post(f"{url}/v1/records", content=record.canonical(), timeout=30)
    return client.post(f"{url}/v1/records", content=record.canonical())


def trusted(note: str, vkey: str) -> Any:
    return open_checkpoint(note, NoteVerifier.parse_vkey(vkey))


# --- start, answer, stop ---------------------------------------------------------------------
def test_serve_prints_one_line_answers_and_stops_cleanly_on_sigterm(site: Site) -> None:
    with serving("--db", site.db, "serve", "--port", 0) as p:
        assert p.vkey == site.vkey and p.line.startswith(f"serving {site.origin} at ")
        cp = trusted(httpx.get(f"{p.url}/checkpoint", timeout=10).text, p.vkey)
        assert cp.size == 1
        r = post(p.url, capture(site.alice, 1))
        assert r.status_code == 201, r.text
        assert trusted(r.json()["checkpoint"], p.vkey).size == 2
        t0 = time.monotonic()
        assert p.stop(signal.SIGTERM) == 0
        assert time.monotonic() - t0 < 10
        assert p.rest_of_stdout() == ""  # exactly one line on stdout
    with Ledger.open(str(site.db)) as ledger:
        assert ledger.size() == 2 and ledger.audit().ok


def test_ctrl_c_stops_cleanly_too(site: Site) -> None:
    with serving("--db", site.db, "serve", "--port", 0, "--json") as p:
        assert p.stop(signal.SIGINT) == 0


def test_workers_share_the_socket_and_stop_cleanly(site: Site) -> None:
    with serving("--db", site.db, "serve", "--port", 0, "--workers", 2) as p:
        # the socket listens before the workers are up: an early request waits, then works
        r = post(p.url, capture(site.alice, 4))
        assert r.status_code == 201, r.text
        assert trusted(httpx.get(f"{p.url}/checkpoint", timeout=30).text, p.vkey).size == 2
        assert p.stop(signal.SIGTERM) == 0


def test_a_missing_ledger_fails_at_once(tmp_path: Path) -> None:
    r = run_proc("--db", tmp_path / "nothing.db", "serve", "--port", 0, timeout=60)
    assert r.returncode == 3 and r.stdout == ""
    assert "error:" in r.stderr


def test_a_port_in_use_fails_with_a_hint(site: Site) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run_proc("--db", site.db, "serve", "--port", port, timeout=60)
    assert r.returncode == 3, r.stderr
    assert f"cannot listen on http://127.0.0.1:{port}" in r.stderr


def test_a_client_that_stalls_gets_408_and_the_server_keeps_serving(site: Site) -> None:
    with serving("--db", site.db, "serve", "--port", 0, "--read-timeout", 0.5) as p:
        port = int(p.url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(
                b"POST /v1/records HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n"
                b'Content-Type: application/json\r\n\r\n{"sig":'
            )
            t0 = time.monotonic()
            answer = b""
            while b'"}}' not in answer:  # the whole one-line JSON error, or the end
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408"), answer
            assert b'"code":"request.timeout"' in answer
            assert time.monotonic() - t0 < 5
        assert post(p.url, capture(site.alice, 2)).status_code == 201


# --- a witness ---------------------------------------------------------------------------------
@dataclass
class WitnessProc:
    proc: Proc
    verifier: NoteVerifier


@contextmanager
def witnessing(tmp: Path, log_vkey: str) -> Iterator[WitnessProc]:
    key_file = tmp / "w1.key"
    if not key_file.exists():
        save_signing_key(SigningKey.from_seed(bytes(range(9, 41))), key_file, None)
    args = ("witness", "serve", "--key", key_file, "--name", WITNESS_NAME, "--log", log_vkey)
    with serving(*args, "--port", 0, "--state", tmp / "w1.state", pattern=WITNESS_LINE) as w:
        yield WitnessProc(w, NoteVerifier.parse_vkey(w.vkey))


def cosigned(url: str, vkey: str, witness: NoteVerifier, size: int, wait: float = 20) -> str:
    """Poll ``/checkpoint`` until it is at ``size`` with the witness's cosignature."""
    deadline = time.monotonic() + wait
    while True:
        note = httpx.get(f"{url}/checkpoint", timeout=10).text
        if trusted(note, vkey).size == size and WITNESS_NAME in note:
            verify_cosignature(note, witness)
            return note
        assert time.monotonic() < deadline, note
        time.sleep(0.05)


def test_witness_vkey_is_the_one_the_witness_serves(tmp_path: Path, site: Site) -> None:
    with witnessing(tmp_path, site.vkey) as w:
        r = run_proc("witness", "vkey", "--key", tmp_path / "w1.key", "--name", WITNESS_NAME)
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == w.proc.vkey
        assert w.proc.stop(signal.SIGTERM) == 0


def test_serve_with_a_witness_gets_each_checkpoint_cosigned(tmp_path: Path, site: Site) -> None:
    with (
        witnessing(tmp_path, site.vkey) as w,
        serving("--db", site.db, "serve", "--port", 0, "--witness", w.proc.url) as p,
    ):
        cosigned(p.url, p.vkey, w.verifier, 1)
        assert post(p.url, capture(site.alice, 3)).status_code == 201
        note = cosigned(p.url, p.vkey, w.verifier, 2)
        _, signatures = parse_note(note)
        assert [s.name for s in signatures] == [site.origin, WITNESS_NAME]
        assert p.stop() == 0


# --- crashes, workers, forks (slow) ---------------------------------------------------------
@pytest.mark.slow
def test_kill_9_during_submissions_loses_no_acknowledged_record(site: Site) -> None:
    acked: dict[str, int] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def submitter(worker: int, url: str) -> None:
        with httpx.Client(timeout=10) as client:
            for n in range(10_000):
                if stop.is_set():
                    return
                record = capture(site.alice, 10_000 * (worker + 1) + n)
                try:
                    r = post(url, record, client)
                except httpx.HTTPError:
                    return  # the server is gone
                if r.is_success:
                    with lock:
                        acked[record.record_id] = r.json()["index"]

    with serving("--db", site.db, "serve", "--port", 0, "--no-access-log") as p:
        threads = [threading.Thread(target=submitter, args=(i, p.url)) for i in range(8)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while len(acked) < 300 and time.monotonic() < deadline:
            time.sleep(0.02)
        p.proc.kill()  # SIGKILL: no shutdown at all
        p.proc.wait(10)
        stop.set()
        for t in threads:
            t.join(30)
    assert len(acked) >= 300
    with serving("--db", site.db, "serve", "--port", 0) as p:
        with httpx.Client(base_url=p.url, timeout=10) as client:
            for rid, index in acked.items():
                got = client.get(f"/v1/records/{rid}")
                assert got.status_code == 200 and got.json()["index"] == index
        assert p.stop() == 0
    r = run_proc("--db", site.db, "log", "verify")
    assert r.returncode == 0, r.stdout + r.stderr
    with Ledger.open(str(site.db)) as ledger:
        check_ledger(ledger)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(pg_admin_url() is None, reason="PROVENANCE_TEST_PG_URL is not set")
def test_several_workers_on_postgresql(tmp_path: Path) -> None:
    admin = pg_admin_url()
    assert admin is not None
    with pg_database(admin) as url:
        log_key = tmp_path / "log.key"
        with Ledger.init(url, origin="pg.provenance.test/log", log_key=str(log_key)) as ledger:
            alice = SigningKey.from_seed(bytes(range(32)))
            ledger.register_key(alice.public, "alice", now=FIXED_NOW)
            vkey = ledger.log_verifier.vkey()
        args = ("--db", url, "--log-key", log_key, "serve", "--port", 0, "--workers", 2)
        with serving(*args, "--no-access-log") as p:
            assert p.vkey == vkey
            records = [capture(alice, 70_000 + i) for i in range(200)]
            answers: dict[int, httpx.Response] = {}

            def send(part: int) -> None:
                with httpx.Client(timeout=30) as client:
                    for i in range(part, len(records), 8):
                        answers[i] = post(p.url, records[i], client)

            threads = [threading.Thread(target=send, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            assert sorted(r.status_code for r in answers.values()) == [201] * 200
            assert sorted(r.json()["index"] for r in answers.values()) == list(range(1, 201))
            again = post(p.url, records[0])
            assert again.status_code == 200 and again.json()["status"] == "exists"
            assert p.stop() == 0
        r = run_proc("--db", url, "log", "verify")
        assert r.returncode == 0, r.stdout + r.stderr
        with Ledger.open(url) as ledger:
            check_ledger(ledger)


@pytest.mark.slow
def test_a_server_on_a_forked_database_is_caught_by_the_witness(tmp_path: Path, site: Site) -> None:
    """Split view: two servers with the log key show two trees of the same size. The
    witness cosigned the first; it refuses the second, so readers requiring its
    cosignature never accept the fork."""
    fork_dir = tmp_path / "fork"
    fork_dir.mkdir()
    for f in site.db.parent.iterdir():  # the database and its log key, at size 1
        shutil.copy2(f, fork_dir / f.name)
    fork_db = fork_dir / site.db.name
    with witnessing(tmp_path, site.vkey) as w:
        with serving("--db", site.db, "serve", "--port", 0, "--witness", w.proc.url) as a:
            for seed in range(5):
                assert post(a.url, capture(site.alice, 100 + seed)).status_code == 201
            honest = trusted(cosigned(a.url, a.vkey, w.verifier, 6), a.vkey)
            assert a.stop() == 0
        with serving("--db", fork_db, "serve", "--port", 0, "--witness", w.proc.url) as b:
            for seed in range(5):
                assert post(b.url, capture(site.alice, 200 + seed)).status_code == 201
            note = httpx.get(f"{b.url}/checkpoint", timeout=10).text
            forked = trusted(note, b.vkey)  # signed by the same log key ...
            assert (forked.size, forked.origin) == (honest.size, honest.origin)
            assert forked.root != honest.root  # ... but another tree: a split view
            # the fork's server asked the witness and got nothing
            time.sleep(1.0)
            note = httpx.get(f"{b.url}/checkpoint", timeout=10).text
            assert WITNESS_NAME not in note
            # asked directly, the witness refuses: same size, another root (409) ...
            with pytest.raises(WitnessError) as same_size:
                request_cosignature(w.proc.url, honest.size, [], note, timeout=5)
            assert same_size.value.status == 409
            # ... and with the fork's own consistency proof from size 1 it names its size,
            # and refuses the retry from there
            proof = httpx.get(
                f"{b.url}/v1/proof/consistency", params={"old": 1, "new": 6}, timeout=10
            ).json()["proof"]
            fork_proof = [base64.b64decode(h) for h in proof]
            assert request_cosignature(w.proc.url, 1, fork_proof, note, timeout=5) == (
                WitnessConflict(honest.size)
            )
            with pytest.raises(WitnessError) as retried:
                request_cosignature(
                    w.proc.url, 1, fork_proof, note, timeout=5, proof_from=lambda old: []
                )
            assert retried.value.status == 409
            assert b.stop() == 0
        # the witness still vouches for the honest tree only
        latest = httpx.get(
            f"{w.proc.url}/checkpoint", params={"origin": site.origin}, timeout=10
        ).text
        assert trusted(latest, site.vkey).root == honest.root


def test_bad_witness_options_are_usage_errors(site: Site, tmp_path: Path) -> None:
    r = run_proc("--db", site.db, "serve", "--witness", "ftp://x")
    assert r.returncode == 2 and "--witness" in r.stderr
    key = tmp_path / "w.key"
    save_signing_key(SigningKey.from_seed(bytes(range(5, 37))), key, None)
    r = run_proc("witness", "serve", "--key", key, "--name", "w", "--log", "not+a+vkey")
    assert r.returncode == 2 and "--log" in r.stderr
    r = run_proc("witness", "vkey", "--key", key, "--name", "bad name")
    assert r.returncode == 2 and "--name" in r.stderr
