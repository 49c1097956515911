"""The CLI and the library against a ledger served over HTTP (``--ledger URL``, issue 10).

A real server (``create_app`` on uvicorn, in a thread, on a free loopback port) serves a
fresh ledger; the CLI runs in-process through CliRunner with ``--ledger`` and
``--trust-log-key``, exactly as a signer or reader elsewhere would. Library-level tests hand
:class:`provenance.RemoteLedger` an ``httpx.Client`` instead: Starlette's TestClient (no
sockets), or a transport that rewrites the server's answers into lies, which must never
come out ``verified``.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from click.testing import Result
from conftest import FIXED_NOW, LedgerEnv
from tamper_helpers import raw_db, reencoded

import provenance
from provenance.checkpoint import NoteSigner, cosign
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.server import ServeSettings, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette 1.x prefers httpx2 (a UserWarning)
    from starlette.testclient import TestClient

ORIGIN = "test.provenance.local/log"
WITNESS = SigningKey.from_seed(bytes(range(40, 72)))
OTHER_WITNESS = SigningKey.from_seed(bytes(range(50, 82)))


@dataclass
class Served:
    """A ledger served on a loopback port, and what a remote client needs to use it."""

    url: str
    vkey: str
    lenv: LedgerEnv
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def ledger(self) -> Ledger:
        return self.lenv.ledger

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def serve(ledger: Ledger, db: Path) -> tuple[uvicorn.Server, threading.Thread, str]:
    app = create_app(ServeSettings(db=str(db), batch_wait_s=0.0), ledger=ledger)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def served(lenv: LedgerEnv, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.delenv("PROVENANCE_LEDGER", raising=False)
    monkeypatch.delenv("PROVENANCE_LOG_VKEY", raising=False)
    server, thread, url = serve(lenv.ledger, lenv.db)
    s = Served(url, lenv.ledger.log_verifier.vkey(), lenv, server, thread)
    yield s
    s.stop()


@pytest.fixture
def other_log(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Serve another ledger (``origin``: the same name as ours, or another); its URL."""
    stops: list[Callable[[], None]] = []

    def start(origin: str) -> str:
        db = tmp_path / f"other-{len(stops)}.db"
        ledger = Ledger.init(str(db), origin=origin)
        ledger.register_key(SigningKey.from_seed(bytes(range(32))).public, "alice")
        server, thread, url = serve(ledger, db)

        def stop() -> None:
            server.should_exit = True
            thread.join(10)
            ledger.close()

        stops.append(stop)
        return url

    yield start
    for stop in stops:
        stop()


def remote(run_cli: Any, s: Served, *args: Any, vkey: str | None = None) -> Result:
    """``provenance --ledger URL CMD ... --trust-log-key VKEY``."""
    cmd, *rest = args
    sub = [cmd] if cmd != "log" else [cmd, rest.pop(0)]
    result: Result = run_cli("--ledger", s.url, *sub, *rest, "--trust-log-key", vkey or s.vkey)
    return result


def sign(run_cli: Any, s: Served, *paths: Path, key: Path | None = None) -> Result:
    return remote(run_cli, s, "sign", *paths, "--key", key or s.lenv.alice_file)


# --- signing ---------------------------------------------------------------------------------
def test_sign_remote_then_verified_remotely_and_locally(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    r = sign(run_cli, served, *photos[:2])
    assert r.exit_code == 0, r.output
    assert r.output.count("signed   ") == 2
    assert "2 signed, 0 already logged, 0 logged by another signer, 0 failed" in r.stderr
    for photo in photos[:2]:
        r = remote(run_cli, served, "verify", photo)
        assert r.exit_code == 0, r.output
        assert r.output.startswith(f"VERIFIED: {photo}")
        assert "judged here under the trusted log key" in r.output
        local = run_cli("--db", served.lenv.db, "verify", photo)
        assert local.exit_code == 0, local.output
    # again: exists (exit 0); by another signer: CONFLICT naming the first (exit 6)
    r = sign(run_cli, served, photos[0])
    assert r.exit_code == 0 and r.output.startswith("exists   "), r.output
    r = sign(run_cli, served, photos[0], key=served.lenv.desk_file)
    assert r.exit_code == 6, r.output
    assert "CONFLICT" in r.output and "already logged by alice" in r.output
    assert served.ledger.size() == 4  # two keys, two captures


def test_sign_remote_json_lines_and_an_unreadable_file(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image at all")
    r = remote(run_cli, served, "sign", photos[0], bad, "--key", served.lenv.alice_file, "--json")
    assert r.exit_code == 3, r.output
    rows = {Path(row["path"]).name: row for row in map(json.loads, r.stdout.splitlines())}
    assert rows[photos[0].name]["status"] == "signed"
    assert rows[photos[0].name]["index"] == 2
    assert rows[photos[0].name]["signer"] == served.lenv.alice.key_id
    assert rows["broken.jpg"]["status"] == "error"
    assert served.ledger.size() == 3


def test_sign_with_an_unregistered_key_is_refused(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    mallory = tmp_path / "mallory.key"
    provenance.save_signing_key(SigningKey.from_seed(bytes(range(9, 41))), mallory, None)
    r = sign(run_cli, served, photos[0], key=mallory)
    assert r.exit_code == 3, r.output
    assert "is not registered" in r.stderr
    assert served.ledger.size() == 2


def test_edit_and_derive_remote_verify_remotely_and_locally(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    rocket, apple, fruits = photos[0], photos[1], photos[5]
    assert sign(run_cli, served, rocket, apple).exit_code == 0
    out = tmp_path / "rocket-web.png"
    r = remote(
        run_cli,
        served,
        "edit",
        rocket,
        "-o",
        out,
        "--crop",
        "0,0,200,150",
        "--key",
        served.lenv.desk_file,
        "--json",
    )
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["status"] == "signed" and out.exists()
    r = remote(
        run_cli,
        served,
        "derive",
        apple,
        fruits,
        "--key",
        served.lenv.desk_file,
        "--action",
        "c2pa.edited",
        "--claim",
        "note=graded",
    )
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"recorded {fruits}")
    for image in (out, fruits):
        r = remote(run_cli, served, "verify", image)
        assert r.exit_code == 0, r.output
        assert "edit    by desk" in r.output
        assert run_cli("--db", served.lenv.db, "verify", image).exit_code == 0
    # the replayable edit replays locally from its parent (the record the server holds)
    r = run_cli("--db", served.lenv.db, "verify", out, "--parent-image", rocket)
    assert r.exit_code == 0 and "replayed" in r.output, r.output


def test_derive_remote_from_an_unknown_parent_is_not_found(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    r = remote(
        run_cli,
        served,
        "derive",
        photos[1],
        photos[5],
        "--key",
        served.lenv.desk_file,
        "--action",
        "c2pa.adjustedColor",
    )
    assert r.exit_code == 3, r.output
    assert "is not in the log at" in r.stderr
    assert served.ledger.size() == 2


# --- reading ---------------------------------------------------------------------------------
def test_verify_remote_unknown_and_similar(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    assert sign(run_cli, served, photos[0]).exit_code == 0
    r = remote(run_cli, served, "verify", photos[1])
    assert r.exit_code == 4 and r.output.startswith("UNKNOWN"), r.output
    copy = tmp_path / "reencoded.jpg"
    reencoded(photos[0], copy, quality=70)
    r = remote(run_cli, served, "verify", copy, "--json")
    assert r.exit_code == 5, r.output
    report = json.loads(r.stdout)
    assert report["verdict"] == "similar" and report["match"] == "perceptual"
    assert report["exit_code"] == 5


def test_verify_remote_finds_a_mirrored_copy_by_pdq(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    from PIL import Image, ImageOps

    assert sign(run_cli, served, photos[2]).exit_code == 0
    mirrored = tmp_path / "mirrored.png"
    with Image.open(photos[2]) as im:
        ImageOps.mirror(im.convert("RGB")).save(mirrored)
    local = run_cli("--db", served.lenv.db, "verify", mirrored, "--json")
    r = remote(run_cli, served, "verify", mirrored, "--json")
    assert r.exit_code == local.exit_code == 5, (r.output, local.output)
    got, want = json.loads(r.stdout), json.loads(local.stdout)
    assert got["variant"] == want["variant"] == "mirrored horizontally"
    assert got["record_id"] == want["record_id"]


def test_parent_image_needs_the_local_ledger(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    r = remote(run_cli, served, "verify", photos[0], "--parent-image", photos[1])
    assert r.exit_code == 2 and "--parent-image works with the local ledger" in r.output


def test_verify_remote_several_images_json_lines(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    assert sign(run_cli, served, photos[0]).exit_code == 0
    r = remote(run_cli, served, "verify", photos[0], photos[1], "--json")
    assert r.exit_code == 4, r.output
    verdicts = [json.loads(line)["verdict"] for line in r.stdout.splitlines()]
    assert verdicts == ["verified", "unknown"]


def test_tampered_server_database_is_never_verified(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    assert sign(run_cli, served, photos[0]).exit_code == 0
    with raw_db(served.lenv.db, "records") as con:
        body = bytes(con.execute("SELECT body FROM records WHERE idx = 2").fetchone()[0])
        forged = body.replace(b'"capture"', b'"capturf"', 1)
        assert forged != body
        con.execute("UPDATE records SET body = ? WHERE idx = 2", (forged,))
    r = remote(run_cli, served, "verify", photos[0])
    assert r.exit_code == 1, r.output  # the server serves the damaged record: tampered
    assert r.output.startswith("TAMPERED") and "VERIFIED" not in r.output
    r = remote(run_cli, served, "log", "verify")
    assert r.exit_code == 1, r.output
    assert r.output.startswith("LOG DAMAGED at index 2")


def test_tampered_server_database_reads_tampered_when_evidence_is_served_unchecked(
    run_cli: Any, served: Served, photos: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the server handing out its evidence unchecked (``export_bundle(check=False)``,
    as routes.evidence does; forced here so the test does not depend on it), a byte
    flipped in its database reads ``tampered`` (exit 1) at the client, as issue 10 asks."""
    import functools

    unchecked = functools.partial(provenance.export_bundle, check=False)
    monkeypatch.setattr(provenance, "export_bundle", unchecked)
    r = remote(
        run_cli, served, "sign", photos[0], "--key", served.lenv.alice_file, "--claim", "by=Alice"
    )
    assert r.exit_code == 0, r.output
    with raw_db(served.lenv.db, "records") as con:
        body = bytes(con.execute("SELECT body FROM records WHERE idx = 2").fetchone()[0])
        forged = body.replace(b'"Alice"', b'"Alicf"')  # one byte, the record still parses
        assert forged != body
        con.execute("UPDATE records SET body = ? WHERE idx = 2", (forged,))
    r = remote(run_cli, served, "verify", photos[0], "--json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    assert report["verdict"] == "tampered"
    assert {c["number"] for c in report["checks"] if c["status"] == "fail"} >= {2, 3}


def test_a_record_rewritten_past_parsing_on_the_server_is_never_verified(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    """A record rewritten so it is no longer JSON cannot travel in a bundle: the server says
    its log is damaged there (exit 3 at the reader, never verified), and a remote audit
    locates it (exit 1)."""
    r = remote(
        run_cli, served, "sign", photos[0], "--key", served.lenv.alice_file, "--claim", "by=Alice"
    )
    assert r.exit_code == 0, r.output
    with raw_db(served.lenv.db, "records") as con:
        body = bytes(con.execute("SELECT body FROM records WHERE idx = 2").fetchone()[0])
        con.execute("UPDATE records SET body = ? WHERE idx = 2", (body.replace(b"}", b" ", 1),))
    r = remote(run_cli, served, "verify", photos[0], "--json")
    assert r.exit_code == 3, r.output
    assert "record 2 is not JSON: the log is damaged" in json.loads(r.stdout)["message"]
    r = remote(run_cli, served, "log", "verify")
    assert r.exit_code == 1 and r.output.startswith("LOG DAMAGED at index 2"), r.output


def test_history_and_export_remote(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    assert sign(run_cli, served, photos[0]).exit_code == 0
    r = remote(run_cli, served, "history", photos[0], "--json")
    assert r.exit_code == 0, r.output
    got = json.loads(r.stdout)
    assert got["verdict"] == "verified" and got["root"] == 2
    assert [s["type"] for s in got["records"]] == ["capture"]
    r = remote(run_cli, served, "history", "2")
    assert r.exit_code == 0 and r.output.startswith("chain verifies"), r.output
    r = remote(run_cli, served, "history", "99")
    assert r.exit_code == 3, r.output
    bundle = tmp_path / "b.json"
    r = remote(run_cli, served, "export", photos[0], "-o", bundle)
    assert r.exit_code == 0, r.output
    r = run_cli("verify", photos[0], "--bundle", bundle, "--trust-log-key", served.vkey)
    assert r.exit_code == 0, r.output
    # with consistency proofs from an earlier size, it verifies against a pin offline too
    pin = tmp_path / "pin"
    assert remote(run_cli, served, "log", "checkpoint", "--out", pin).exit_code == 0
    assert sign(run_cli, served, photos[1]).exit_code == 0
    r = remote(run_cli, served, "export", photos[0], "-o", bundle, "--since", "3")
    assert r.exit_code == 0, r.output
    assert [c["size"] for c in json.loads(bundle.read_text())["consistency"]] == [3]
    r = run_cli("verify", photos[0], "--bundle", bundle, "--checkpoint", pin)
    assert r.exit_code == 0, r.output


def test_log_commands_remote(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    assert sign(run_cli, served, photos[0]).exit_code == 0
    pin = tmp_path / "pin.checkpoint"
    r = remote(run_cli, served, "log", "checkpoint", "--out", pin, "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["size"] == 3 and pin.read_text() == json.loads(r.stdout)["note"]
    assert sign(run_cli, served, photos[1]).exit_code == 0
    r = remote(run_cli, served, "log", "show", "--json")
    assert r.exit_code == 0, r.output
    info = json.loads(r.stdout)
    assert (info["vkey"], info["size"], info["ledger"]) == (served.vkey, 4, served.url)
    assert info["checkpoint"]["size"] == 4
    r = remote(run_cli, served, "log", "show")
    assert r.exit_code == 0 and "latest checkpoint (verified):" in r.output, r.output
    r = remote(run_cli, served, "log", "prove", "2", "--size", "3", "--json")
    assert r.exit_code == 0, r.output
    proof = json.loads(r.stdout)
    assert (proof["index"], proof["size"], proof["verified"]) == (2, 3, True)
    assert run_cli("--db", served.lenv.db, "log", "prove", "2", "--size", "3", "--json").stdout == (
        r.stdout
    )
    r = remote(run_cli, served, "log", "prove", photos[1])
    assert r.exit_code == 0 and "index      3" in r.output, r.output
    r = remote(run_cli, served, "log", "consistency", "3", "4", "--json")
    assert r.exit_code == 0, r.output
    local = run_cli("--db", served.lenv.db, "log", "consistency", "3", "4", "--json")
    assert json.loads(r.stdout) == json.loads(local.stdout)
    r = remote(run_cli, served, "log", "consistency", "3", "9")
    assert r.exit_code == 3, r.output
    r = remote(run_cli, served, "log", "verify", "--checkpoint", pin, "--json")
    assert r.exit_code == 0, r.output
    audit = json.loads(r.stdout)
    assert audit["ok"] and audit["records"] == 4 and audit["checkpoints"] == 2
    r = remote(run_cli, served, "verify", photos[0], "--checkpoint", pin)
    assert r.exit_code == 0, r.output


def test_log_verify_remote_over_more_than_one_tile(
    run_cli: Any, served: Served, tmp_path: Path
) -> None:
    from tamper_helpers import png_bytes

    paths = []
    for i in range(260):
        p = tmp_path / f"p{i:03d}.png"
        p.write_bytes(png_bytes((i % 256, (i * 7) % 256, (i * 13) % 256), size=(8 + i % 5, 8)))
        paths.append(str(p))
    served.ledger.sign(paths, served.lenv.alice, now=FIXED_NOW)
    size = served.ledger.size()
    assert size > 256
    r = remote(run_cli, served, "log", "verify", "--json")
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["records"] == size
    local = json.loads(run_cli("--db", served.lenv.db, "log", "verify", "--json").stdout)
    assert json.loads(r.stdout)["root"] == local["root"]


# --- trust -----------------------------------------------------------------------------------
def test_no_vkey_is_exit_3_with_a_hint(run_cli: Any, served: Served, photos: list[Path]) -> None:
    for args in (("verify", photos[0]), ("log", "show"), ("sign", photos[0], "--key", "x")):
        r = run_cli("--ledger", served.url, *args)
        if args[0] == "sign":  # --key must exist: click says so first (exit 2)
            continue
        assert r.exit_code == 3, r.output
        assert "no trust anchor" in r.stderr and "hint: pass --trust-log-key" in r.stderr


def test_env_variables_name_the_ledger_and_its_key(
    run_cli: Any, served: Served, photos: list[Path]
) -> None:
    env = {"PROVENANCE_LEDGER": served.url, "PROVENANCE_LOG_VKEY": served.vkey}
    r = run_cli("sign", photos[0], "--key", served.lenv.alice_file, env=env)
    assert r.exit_code == 0 and r.output.startswith("signed"), r.output
    r = run_cli("verify", photos[0], env=env)
    assert r.exit_code == 0, r.output
    # the group's --trust-log-key serves every command
    r = run_cli("--ledger", served.url, "--trust-log-key", served.vkey, "log", "checkpoint")
    assert r.exit_code == 0, r.output


def test_trust_log_key_without_a_ledger_is_a_usage_error(run_cli: Any, served: Served) -> None:
    r = run_cli("--db", served.lenv.db, "log", "show", "--trust-log-key", served.vkey)
    assert r.exit_code == 2 and "pass --ledger URL" in r.output


def test_a_malformed_vkey_is_exit_3(run_cli: Any, served: Served, photos: list[Path]) -> None:
    r = remote(run_cli, served, "verify", photos[0], vkey="not-a-vkey")
    assert r.exit_code == 3 and "not a verifier key" in r.stderr, r.output


def test_vkey_of_another_log_is_exit_3(
    run_cli: Any,
    served: Served,
    photos: list[Path],
    other_log: Callable[[str], str],
    lenv: LedgerEnv,
) -> None:
    # our vkey against another log's server, under another name and under the same name
    for origin in ("other.example/log", ORIGIN):
        url = other_log(origin)
        for args in (("verify", photos[0]), ("log", "verify"), ("sign", photos[0])):
            extra = ("--key", lenv.alice_file) if args[0] == "sign" else ()
            r = run_cli("--ledger", url, *args, *extra, "--trust-log-key", served.vkey)
            assert r.exit_code == 3, (origin, args, r.output)
            assert r.stderr.startswith("error: the ledger at"), r.stderr
            assert "hint:" in r.stderr
    # another log's vkey against our server
    other = Ledger.init(str(lenv.tmp / "third.db"), origin="third.example/log")
    vkey = other.log_verifier.vkey()
    other.close()
    r = remote(run_cli, served, "verify", photos[0], vkey=vkey)
    assert r.exit_code == 3 and "third.example/log" in r.stderr, r.output


def test_server_down_is_one_error_line(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    served.stop()
    for args in (
        ("verify", photos[0]),
        ("sign", photos[0], "--key", served.lenv.alice_file),
        ("log", "verify"),
        ("history", "1"),
    ):
        r = remote(run_cli, served, *args)
        assert r.exit_code == 3, (args, r.output)
        lines = r.stderr.splitlines()
        assert lines[0].startswith(f"error: cannot reach the ledger at {served.url}"), lines
        assert [ln for ln in lines if ln.startswith("error:")] == lines[:1]
        assert not r.stdout


def test_witness_cosignatures_remote(
    run_cli: Any, served: Served, photos: list[Path], tmp_path: Path
) -> None:
    assert sign(run_cli, served, photos[0]).exit_code == 0
    cp = served.ledger.checkpoint()
    assert cp is not None
    witness = NoteSigner("witness.example/w1", WITNESS)
    served.ledger.add_cosignature(cp.size, witness.name, cosign(cp.note, witness, 1_700_000_000))
    wvkey = witness.verifier().vkey()
    r = remote(run_cli, served, "verify", photos[0], "--witness-key", wvkey)
    assert r.exit_code == 0, r.output
    assert "cosigned by witness.example/w1" in r.output
    assert "witness.example/w1" in remote(run_cli, served, "log", "checkpoint").output
    other = NoteSigner("witness.example/w2", OTHER_WITNESS).verifier().vkey()
    r = remote(run_cli, served, "verify", photos[0], "--witness-key", other, "--json")
    assert r.exit_code == 1, r.output
    report = json.loads(r.stdout)
    assert report["verdict"] == "tampered"
    assert any(c["code"] == "checkpoint.witnesses" for c in report["checks"])
    r = remote(
        run_cli, served, "verify", photos[0], "--witness-key", wvkey, "--witness-key", other,
        "--min-witnesses", "1",
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    r = remote(run_cli, served, "verify", photos[0], "--witness-key", wvkey, "--min-witnesses", "2")
    assert r.exit_code == 2 and "--min-witnesses 2 needs" in r.output
    # the same witness checks work offline, on an exported bundle, and locally
    bundle = tmp_path / "b.json"
    assert remote(run_cli, served, "export", photos[0], "-o", bundle).exit_code == 0
    args = ("verify", photos[0], "--bundle", bundle, "--trust-log-key", served.vkey)
    assert run_cli(*args, "--witness-key", wvkey).exit_code == 0
    assert run_cli(*args, "--witness-key", other).exit_code == 1
    assert (
        run_cli("--db", served.lenv.db, "verify", photos[0], "--witness-key", wvkey).exit_code == 0
    )
    assert (
        run_cli("--db", served.lenv.db, "verify", photos[0], "--witness-key", other).exit_code == 1
    )


# --- the library, in-process and against lying servers ---------------------------------------
@pytest.fixture
def app_client(lenv: LedgerEnv) -> Iterator[TestClient]:
    app = create_app(ServeSettings(db=str(lenv.db), batch_wait_s=0.0), ledger=lenv.ledger)
    with TestClient(app) as client:
        yield client


def _lying(
    client: TestClient, rewrite: Callable[[httpx.Request, httpx.Response], httpx.Response]
) -> httpx.Client:
    """An httpx client whose answers come from the real app, then pass through ``rewrite``."""

    def handler(request: httpx.Request) -> httpx.Response:
        real = client.request(
            request.method, request.url.raw_path.decode(), content=request.content,
            headers={"content-type": request.headers.get("content-type", "")},
        )  # fmt: skip
        return rewrite(request, httpx.Response(real.status_code, content=real.content))

    return httpx.Client(transport=httpx.MockTransport(handler), base_url="http://liar")


def test_remote_ledger_in_process(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path], tmp_path: Path
) -> None:
    vkey = lenv.ledger.log_verifier.vkey()
    with provenance.RemoteLedger("http://testserver", vkey, client=app_client) as remote:
        results = remote.sign([str(p) for p in photos[:2]], lenv.alice, now=FIXED_NOW)
        assert [r.status for r in results] == ["signed", "signed"]
        assert {r.index for r in results} == {2, 3}
        report = remote.verify_image(photos[0])
        assert report.verdict == "verified" and report.index in (2, 3)
        res = remote.derive(
            [str(photos[0])], photos[5], lenv.desk, [provenance.Action("c2pa.edited")]
        )
        assert res.status == "signed" and res.index == 4
        assert remote.verify_image(photos[5]).verdict == "verified"
        again = remote.derive(
            [str(photos[0])], photos[5], lenv.alice, [provenance.Action("c2pa.edited")]
        )
        assert (again.status, again.index, again.signer_name) == ("conflict", 4, "desk")
        assert remote.audit().ok
        assert remote.verify_record(4).verdict == "verified"
    # the local ledger agrees on every record
    assert lenv.ledger.size() == 5


def test_a_forged_checkpoint_is_refused(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    lenv.ledger.sign([str(photos[0])], lenv.alice, now=FIXED_NOW)

    def forge(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path != "/checkpoint":
            return response
        text = response.text
        head, _, sig = text.rstrip("\n").rpartition(" ")
        raw = bytearray(base64.b64decode(sig))
        raw[-1] ^= 1  # same key id, a signature that does not verify
        return httpx.Response(200, text=f"{head} {base64.b64encode(raw).decode()}\n")

    vkey = lenv.ledger.log_verifier.vkey()
    remote = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, forge))
    with pytest.raises(provenance.LogIntegrityError, match="does not verify"):
        remote.checkpoint()
    with pytest.raises(provenance.LogIntegrityError):
        remote.audit()
    with pytest.raises(provenance.LogIntegrityError):
        remote.prove("2")

    def forge_evidence(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if not request.url.path.startswith("/v1/evidence/"):
            return response
        note = response.json()["checkpoint"]
        forged = forge(
            httpx.Request("GET", "http://liar/checkpoint"), httpx.Response(200, text=note)
        )
        old, new = (json.dumps(t, ensure_ascii=False)[1:-1] for t in (note, forged.text))
        return httpx.Response(200, text=response.text.replace(old, new))

    remote = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, forge_evidence))
    report = remote.verify_image(photos[0])
    assert report.verdict == "tampered"
    assert [c.code for c in report.failures] == ["checkpoint.signature.mismatch"]


def test_a_lying_receipt_is_refused(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    def shift(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path != "/v1/records" or request.method != "POST":
            return response
        got = response.json()
        got["index"] += 1  # an index the proof does not prove
        return httpx.Response(response.status_code, json=got)

    vkey = lenv.ledger.log_verifier.vkey()
    remote = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, shift))
    with pytest.raises(provenance.LogIntegrityError, match="inclusion proof fails"):
        remote.sign([str(photos[0])], lenv.alice, now=FIXED_NOW)


def test_tampered_evidence_reads_tampered(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    """A server that hands out an altered record (as a damaged database would, were it
    served unchecked): the client's verifier says tampered, never verified."""
    lenv.ledger.sign([str(photos[0])], lenv.alice, claims={"author": "A"}, now=FIXED_NOW)

    def alter(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if not request.url.path.startswith("/v1/evidence/"):
            return response
        got = response.json()
        for r in got["records"]:
            if r["record"]["statement"]["type"] == "capture":
                r["record"]["statement"]["claims"]["author"] = "Mallory"
        return httpx.Response(200, json=got)

    vkey = lenv.ledger.log_verifier.vkey()
    remote = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, alter))
    report = remote.verify_image(photos[0])
    assert report.verdict == "tampered"
    assert {c.number for c in report.failures} >= {2, 3}
    with pytest.raises(provenance.LogIntegrityError, match="does not verify"):
        remote.export("2")


def test_a_tampered_entry_tile_fails_the_remote_audit(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    lenv.ledger.sign([str(p) for p in photos[:3]], lenv.alice, now=FIXED_NOW)

    def flip(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if not request.url.path.startswith("/tile/entries/"):
            return response
        data = response.content.replace(b'"capture"', b'"Capture"', 1)
        return httpx.Response(200, content=data)

    vkey = lenv.ledger.log_verifier.vkey()
    result = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, flip)).audit()
    assert not result.ok
    assert result.has("checkpoint.rootMismatch")
    assert result.first_bad_index == 2

    def truncate(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path.startswith("/tile/entries/"):
            return httpx.Response(200, content=response.content[:-5])
        return response

    result = provenance.RemoteLedger(
        "http://liar", vkey, client=_lying(app_client, truncate)
    ).audit()
    assert result.code == "log.entries.malformed"


def test_lookup_lies_cannot_make_an_image_verified(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    """A server that answers every look-up with its one record: the image is judged
    against that record's digests, so a stranger stays a stranger."""
    lenv.ledger.sign([str(photos[0])], lenv.alice, now=FIXED_NOW)

    def everything_matches(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path != "/v1/matches/byBinding":
            return response
        rid = lenv.ledger.record(2)[1].record_id
        return httpx.Response(
            200, json={"matches": [], "records": [{"index": 2, "record_id": rid}]}
        )

    vkey = lenv.ledger.log_verifier.vkey()
    remote = provenance.RemoteLedger(
        "http://liar", vkey, client=_lying(app_client, everything_matches)
    )
    assert remote.verify_image(photos[1]).verdict == "unknown"
    assert remote.verify_image(photos[0]).verdict == "verified"


def test_verify_offline_counts_witness_cosignatures(lenv: LedgerEnv, photos: list[Path]) -> None:
    lenv.ledger.sign([str(photos[0])], lenv.alice, now=FIXED_NOW)
    bare = provenance.export_bundle(lenv.ledger, 2)
    cp = lenv.ledger.checkpoint()
    assert cp is not None
    witness = NoteSigner("witness.example/w1", WITNESS)
    lenv.ledger.add_cosignature(cp.size, witness.name, cosign(cp.note, witness, 1_700_000_000))
    cosigned = provenance.export_bundle(lenv.ledger, 2)  # the bundle carries cosignatures
    assert cosigned.checkpoint.startswith(cp.note) and cosigned.checkpoint != cp.note
    data = photos[0].read_bytes()
    vkey = lenv.ledger.log_verifier.vkey()
    wvkey = witness.verifier().vkey()
    ok = provenance.verify_offline(data, cosigned, trust_log_key=vkey, witnesses=[wvkey])
    assert ok.verdict == "verified" and ok.witnesses == ["witness.example/w1"]
    # a NoteVerifier of the plain (0x01) kind counts too: it is made a cosigner
    plain = provenance.NoteVerifier(witness.name, WITNESS.public)
    report = provenance.verify_offline(
        data, cosigned, trust_log_key=vkey, witnesses=[plain], min_witnesses=1
    )
    assert report.verdict == "verified"
    report = provenance.verify_offline(
        data, bare, trust_log_key=vkey, witnesses=[wvkey], min_witnesses=1
    )
    assert report.verdict == "tampered"
    assert [c.code for c in report.failures] == ["checkpoint.witnesses"]
    with pytest.raises(provenance.TrustAnchorError, match="given twice"):
        provenance.verify_offline(data, cosigned, trust_log_key=vkey, witnesses=[wvkey, plain])
    with pytest.raises(provenance.TrustAnchorError, match="not a verifier key"):
        provenance.verify_offline(data, cosigned, trust_log_key=vkey, witnesses=["nope"])
    with pytest.raises(ValueError, match="min_witnesses"):
        provenance.verify_offline(data, cosigned, trust_log_key=vkey, min_witnesses=1)


def test_a_server_cannot_vouch_for_another_images_chain_in_history_or_export(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    """The look-up for photo 0 names photo 1's index, and /v1/records at that index answers
    with photo 0's record: history and export must refuse, not judge photo 1's chain."""
    lenv.ledger.sign([str(p) for p in photos[:2]], lenv.alice, now=FIXED_NOW)
    idx0, idx1 = (lenv.ledger.resolve(str(p)) for p in photos[:2])

    def swap(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        path = request.url.path
        if path.startswith("/v1/matches/byBinding"):
            got = json.loads(response.content)
            for r in got.get("records", []):
                if r["index"] == idx0:
                    r["index"] = idx1
            return httpx.Response(200, json=got)
        if path == f"/v1/records/{idx1}":
            real = json.loads(app_client.get(f"/v1/records/{idx0}").content)
            real["index"] = idx1
            return httpx.Response(200, json=real)
        return response

    vkey = lenv.ledger.log_verifier.vkey()
    remote = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, swap))
    with pytest.raises(provenance.LogIntegrityError, match="another record"):
        remote.verify_record(str(photos[0]))
    with pytest.raises(provenance.LogIntegrityError, match="another record"):
        remote.export(str(photos[0]))


def test_garbage_look_up_and_checkpoint_answers_are_log_errors_not_crashes(
    lenv: LedgerEnv, app_client: TestClient, photos: list[Path]
) -> None:
    lenv.ledger.sign([str(photos[0])], lenv.alice, now=FIXED_NOW)

    def garbage(request: httpx.Request, response: httpx.Response) -> httpx.Response:
        if request.url.path.startswith("/v1/matches/byBinding"):
            return httpx.Response(200, json={"records": 5})
        if request.url.path == "/v1/proof/inclusion":
            got = json.loads(response.content)
            return httpx.Response(200, json={**got, "checkpoint": 123})
        return response

    vkey = lenv.ledger.log_verifier.vkey()
    remote = provenance.RemoteLedger("http://liar", vkey, client=_lying(app_client, garbage))
    with pytest.raises(provenance.LogIntegrityError, match="garbage"):
        remote.verify_image(photos[0])
    with pytest.raises(provenance.LogIntegrityError, match="not text"):
        remote.prove("0", size=1)  # an earlier size: its checkpoint comes from the server
