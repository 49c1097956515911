"""The ledger API of ``provenance serve``, in-process: every route, every refusal.

The app runs in-process (``create_app`` + Starlette's TestClient, lifespan included, so
the group committer runs) over a ledger on a temporary SQLite file. Records are signed
here, as a remote signer would sign them, and every answer that carries a proof is checked
against the checkpoint with :mod:`provenance.merkle`, trusting only the log's key. Every
refusal is a one-line JSON error with a stable code, and appends nothing.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import random
import threading
import warnings
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_NOW, LedgerEnv
from merkle_reference import mth
from PIL import Image
from tamper_helpers import get_body, raw_db, set_body

import provenance
from provenance.checkpoint import open_checkpoint, parse_tlog_proof
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.merkle import leaf_hash, verify_consistency, verify_inclusion
from provenance.records import (
    Action,
    Asset,
    Record,
    Statement,
    canonical,
    format_time,
    sign_statement,
)
from provenance.server import ServeSettings, create_app

with warnings.catch_warnings():
    # starlette 1.x warns (a UserWarning) that it prefers httpx2; httpx is what we ship
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

MISSING = "sha256:" + "ab" * 32


# --- records signed "elsewhere" ------------------------------------------------------------
def digest(seed: int, what: str, nbytes: int = 32) -> str:
    return random.Random(f"{what}/{seed}").randbytes(nbytes).hex()


def synthetic_asset(seed: int) -> Asset:
    """An asset with made-up digests (the server never sees the pixels of a submission)."""
    return Asset(
        sha256=digest(seed, "sha256"),
        phash64=digest(seed, "phash64", 8),
        phash256=digest(seed, "phash256"),
        width=640,
        height=480,
        format="JPEG",
        content=digest(seed, "content"),
        frames=1,
        pdq=digest(seed, "pdq"),
    )


def capture(key: SigningKey, seed: int, **claims: str) -> Record:
    st = Statement(
        type="capture", time=format_time(FIXED_NOW), asset=synthetic_asset(seed), claims=claims
    )
    return sign_statement(st, key)


def edit(key: SigningKey, seed: int, parent: str) -> Record:
    st = Statement(
        type="edit",
        time=format_time(FIXED_NOW),
        asset=synthetic_asset(seed),
        parents=(parent,),
        actions=(Action("c2pa.cropped", {"x": 0, "y": 0, "w": 10, "h": 10}),),
    )
    return sign_statement(st, key)


def noise_png(seed: int, size: tuple[int, int] = (96, 64)) -> bytes:
    rng = random.Random(seed)
    img = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


# --- the served ledger ---------------------------------------------------------------------
@dataclass
class Served:
    client: TestClient
    ledger: Ledger
    lenv: LedgerEnv

    def post(self, body: bytes, **headers: str) -> Any:
        return self.client.post("/v1/records", content=body, headers=headers)

    def submit(self, record: Record) -> Any:
        return self.post(record.canonical())

    def size(self) -> int:
        return self.ledger.size()

    def trusted_checkpoint(self, note: str) -> Any:
        return open_checkpoint(note, self.ledger.log_verifier)


def _serve(lenv: LedgerEnv, **settings: Any) -> Iterator[Served]:
    app = create_app(ServeSettings(db=str(lenv.db), **settings), ledger=lenv.ledger)
    with TestClient(app) as client:
        yield Served(client, lenv.ledger, lenv)


serving = contextmanager(_serve)


@pytest.fixture
def served(lenv: LedgerEnv) -> Iterator[Served]:
    yield from _serve(lenv)


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the documented one-line JSON error, uncacheable."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert "\n" not in response.text.strip()
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    found: dict[str, Any] = body["error"]
    assert isinstance(found["message"], str) and found["message"]
    return found


def check_receipt(s: Served, record: Record, got: dict[str, Any]) -> None:
    """The receipt proves the record at its index in the checkpoint, by the log's key."""
    body = canonical(got["record"])
    cp = s.trusted_checkpoint(got["checkpoint"])
    proof = [base64.b64decode(h) for h in got["inclusion_proof"]]
    verify_inclusion(got["index"], cp.size, leaf_hash(body), proof, cp.root)
    assert got["record_id"] == provenance.Record.from_json(got["record"]).record_id
    tlog = parse_tlog_proof(got["tlog_proof"])
    assert tlog.index == got["index"]
    if got["status"] in ("created", "exists"):
        assert body == record.canonical()


# --- POST /v1/records ------------------------------------------------------------------------
def test_a_record_signed_by_a_registered_key_is_created_with_a_proof(served: Served) -> None:
    record = capture(served.lenv.alice, 1, title="harbour")
    before = served.size()
    r = served.submit(record)
    assert r.status_code == 201, r.text
    assert r.headers["cache-control"] == "no-store"
    got = r.json()
    assert set(got) == {
        "status",
        "index",
        "record_id",
        "record",
        "inclusion_proof",
        "checkpoint",
        "tlog_proof",
    }
    assert got["status"] == "created" and got["index"] == before
    assert got["record_id"] == record.record_id
    check_receipt(served, record, got)
    assert served.size() == before + 1
    idx, stored = served.ledger.record(record.record_id)
    assert idx == before and stored.canonical() == record.canonical()


def test_the_same_record_again_exists_and_appends_nothing(served: Served) -> None:
    record = capture(served.lenv.alice, 2)
    first = served.submit(record).json()
    size = served.size()
    again = served.submit(record)
    assert again.status_code == 200
    got = again.json()
    assert got["status"] == "exists" and got["index"] == first["index"]
    check_receipt(served, record, got)
    assert served.size() == size


def test_the_same_image_by_another_signer_is_a_conflict_naming_the_first(served: Served) -> None:
    mine = capture(served.lenv.alice, 3)
    first = served.submit(mine).json()
    theirs = capture(served.lenv.desk, 3)  # same asset, the other registered key
    size = served.size()
    r = served.submit(theirs)
    assert r.status_code == 200
    got = r.json()
    assert got["status"] == "conflict"
    assert got["index"] == first["index"] and got["record_id"] == mine.record_id
    assert got["record"]["signer"] == served.lenv.alice.key_id
    check_receipt(served, theirs, got)
    assert served.size() == size


def test_an_edit_of_a_logged_record_is_created(served: Served) -> None:
    parent = capture(served.lenv.alice, 4)
    served.submit(parent)
    child = edit(served.lenv.desk, 5, parent.record_id)
    r = served.submit(child)
    assert r.status_code == 201, r.text
    check_receipt(served, child, r.json())


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "record.malformed"),
        (b"", "record.malformed"),
        (b"\xff\xfe", "record.malformed"),
        (b"[]", "record.malformed"),
        (b'{"statement": 1}', "record.malformed"),
        (b"NaN", "record.malformed"),
    ],
)
def test_malformed_json_is_400(served: Served, body: bytes, code: str) -> None:
    size = served.size()
    error(served.post(body), 400, code)
    assert served.size() == size


def test_non_canonical_json_is_400(served: Served) -> None:
    record = capture(served.lenv.alice, 6)
    pretty = json.dumps(record.to_json(), indent=2).encode()
    message = error(served.post(pretty), 400, "record.malformed")["message"]
    assert "canonical" in message
    duplicated = record.canonical()[:-1] + b',"signer":"x"}'
    error(served.post(duplicated), 400, "record.malformed")
    assert served.ledger.size() == 2  # the two key registrations


def test_a_bad_signature_is_400(served: Served) -> None:
    record = capture(served.lenv.alice, 7)
    forged = Record(record.statement, record.signer, bytes(64))
    error(served.submit(forged), 400, "claimSignature.mismatch")
    other = capture(served.lenv.desk, 7)  # desk's signature under alice's name
    error(
        served.submit(Record(other.statement, record.signer, other.sig)),
        400,
        "claimSignature.mismatch",
    )
    assert served.size() == 2


def test_an_unknown_key_is_403(served: Served) -> None:
    stranger = SigningKey.from_seed(bytes(range(7, 39)))
    error(served.submit(capture(stranger, 8)), 403, "signingCredential.untrusted")
    assert served.size() == 2


def test_a_revoked_key_is_403(served: Served) -> None:
    served.ledger.revoke_key(served.lenv.desk.key_id, reason="lost", now=FIXED_NOW)
    size = served.size()
    error(served.submit(capture(served.lenv.desk, 9)), 403, "signingCredential.revoked")
    assert served.size() == size


def test_records_the_operator_makes_are_refused(served: Served) -> None:
    log_key = served.ledger.log_signer()
    error(served.submit(capture(log_key, 10)), 403, "signingCredential.role")
    _, key_record = served.ledger.record(0)  # alice's registration, signed by the log key
    error(served.submit(key_record), 403, "record.forbidden")
    assert served.size() == 2


def test_an_edit_of_a_record_not_in_the_log_is_422(served: Served) -> None:
    error(served.submit(edit(served.lenv.alice, 11, MISSING)), 422, "ingredient.missing")
    assert served.size() == 2


def test_a_batch_with_a_bad_record_fails_only_that_one(served: Served) -> None:
    """Group commit: a refused record in a batch does not take the others down."""
    good = [capture(served.lenv.alice, 100 + i) for i in range(8)]
    bad = edit(served.lenv.alice, 120, MISSING)
    results: dict[int, int] = {}

    def send(i: int, record: Record) -> None:
        results[i] = served.submit(record).status_code

    threads = [
        threading.Thread(target=send, args=(i, r))
        for i, r in enumerate([*good[:4], bad, *good[4:]])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [201] * 8 + [422]
    assert served.size() == 2 + 8


# --- limits ----------------------------------------------------------------------------------
def test_a_body_over_the_limit_is_413(lenv: LedgerEnv) -> None:
    with serving(lenv, max_record_bytes=1024) as s:
        record = capture(lenv.alice, 12, note="x" * 2000)
        error(s.submit(record), 413, "request.tooLarge")

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield record.canonical()[:600]
            yield record.canonical()[600:]

        error(s.client.post("/v1/records", content=chunks()), 413, "request.tooLarge")
        assert s.size() == 2
        small = capture(lenv.alice, 13)
        assert s.submit(small).status_code == 201


def test_a_client_that_never_finishes_its_body_is_408(lenv: LedgerEnv) -> None:
    """The body must arrive within read_timeout_s; a stalled client gets a 408."""
    with serving(lenv, read_timeout_s=0.3) as s:
        app = s.client.app
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if not sent:
                sent.append({})
                return {"type": "http.request", "body": b'{"sig":', "more_body": True}
            await asyncio.sleep(30)  # never more: the deadline must end the wait
            return {"type": "http.disconnect"}

        async def send(message: MutableMapping[str, Any]) -> None:
            sent.append(dict(message))

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/v1/records",
            "raw_path": b"/v1/records",
            "query_string": b"",
            "root_path": "",
            "headers": [(b"content-length", b"500"), (b"host", b"testserver")],
            "server": ("testserver", 80),
            "client": ("127.0.0.1", 1234),
            "state": {},
            "app": app,
        }
        asyncio.run(asyncio.wait_for(app(scope, receive, send), 10))
        start = next(m for m in sent if m.get("type") == "http.response.start")
        body = b"".join(m.get("body", b"") for m in sent if m.get("type") == "http.response.body")
        assert start["status"] == 408
        assert json.loads(body)["error"]["code"] == "request.timeout"
        assert s.size() == 2


# --- routing ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no/such/route", 404, "route.notFound"),
        ("GET", "/v1/nothing", 404, "route.notFound"),
        ("DELETE", "/v1/records", 405, "method.notAllowed"),
        ("GET", "/v1/records", 405, "method.notAllowed"),
        ("PUT", "/checkpoint", 405, "method.notAllowed"),
    ],
)
def test_unknown_routes_and_methods_are_json_errors(
    served: Served, method: str, path: str, status: int, code: str
) -> None:
    error(served.client.request(method, path), status, code)


# --- the log, tiles ----------------------------------------------------------------------------
def fill(s: Served, count: int, start: int = 1000) -> None:
    """Append ``count`` records in one go (as a batch of submissions would)."""
    records = [capture(s.lenv.alice, start + i) for i in range(count)]
    for at in range(0, count, 500):
        results = s.ledger.submit(records[at : at + 500])
        assert all(isinstance(r, provenance.Submitted) for r in results)


def test_checkpoint_is_the_signed_note(served: Served) -> None:
    r = served.client.get("/checkpoint")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["cache-control"] == "no-store"
    cp = served.trusted_checkpoint(r.text)
    assert cp.size == served.size() == 2
    assert cp.origin == served.ledger.origin


def test_an_empty_log_has_no_checkpoint(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    with Ledger.init(str(db), origin="empty.provenance.local/log") as ledger:
        app = create_app(ServeSettings(db=str(db)), ledger=ledger)
        with TestClient(app) as client:
            error(client.get("/checkpoint"), 404, "log.empty")
            assert client.get("/v1/log").json()["checkpoint"] is None


def test_log_info_tells_how_to_trust_the_log_and_nothing_about_the_host(served: Served) -> None:
    got = served.client.get("/v1/log").json()
    assert got["origin"] == served.ledger.origin
    assert got["vkey"] == served.ledger.log_verifier.vkey()
    assert got["size"] == 2 and got["checkpoint"]["size"] == 2
    assert got["witnesses"] == []
    text = json.dumps(got)
    assert str(served.lenv.tmp) not in text and "log_key_file" not in got


def test_keys_lists_the_registered_keys(served: Served) -> None:
    served.ledger.revoke_key(served.lenv.desk.key_id, now=FIXED_NOW)
    got = served.client.get("/v1/keys").json()
    by_id = {k["key_id"]: k for k in got}
    assert set(by_id) == {served.lenv.alice.key_id, served.lenv.desk.key_id}
    assert by_id[served.lenv.alice.key_id]["name"] == "alice"
    assert by_id[served.lenv.alice.key_id]["revoked_at"] is None
    assert by_id[served.lenv.desk.key_id]["revoked_at"] is not None


def test_full_and_partial_tiles_hold_the_tree(served: Served) -> None:
    fill(served, 300)
    size = served.size()  # 302
    bodies = [served.ledger.record(i)[1].canonical() for i in range(size)]
    leaves = [leaf_hash(b) for b in bodies]

    full = served.client.get("/tile/0/000")
    assert full.status_code == 200
    assert full.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert full.content == b"".join(leaves[:256])

    partial = served.client.get(f"/tile/0/001.p/{size - 256}")
    assert partial.status_code == 200
    assert "immutable" not in partial.headers["cache-control"]
    assert partial.content == b"".join(leaves[256:size])

    level1 = served.client.get("/tile/1/000.p/1")  # the root of the first 256 leaves
    assert level1.status_code == 200 and level1.content == mth(bodies[:256])

    entries = served.client.get("/tile/entries/000")
    assert entries.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert split_bundle(entries.content) == bodies[:256]
    tail = served.client.get(f"/tile/entries/001.p/{size - 256}")
    assert split_bundle(tail.content) == bodies[256:]

    # full tiles are cached, partial ones never: once the log grows, tile 1 is whole
    fill(served, 300, start=5000)
    leaves = [leaf_hash(served.ledger.record(i)[1].canonical()) for i in range(512)]
    assert served.client.get("/tile/0/000").content == b"".join(leaves[:256])
    assert served.client.get("/tile/0/001").content == b"".join(leaves[256:512])
    assert served.client.get("/tile/0/001.p/100").content == b"".join(leaves[256:356])


def split_bundle(data: bytes) -> list[bytes]:
    out, at = [], 0
    while at < len(data):
        n = int.from_bytes(data[at : at + 2], "big")
        out.append(data[at + 2 : at + 2 + n])
        at += 2 + n
    return out


def test_tiles_not_in_the_log_are_404(served: Served) -> None:
    fill(served, 10)
    error(served.client.get("/tile/0/000"), 404, "notFound")  # not full yet
    error(served.client.get("/tile/0/000.p/13"), 404, "notFound")  # wider than the log
    error(served.client.get("/tile/0/001.p/1"), 404, "notFound")
    error(served.client.get("/tile/entries/000"), 404, "notFound")
    assert served.client.get("/tile/0/000.p/12").status_code == 200
    assert served.client.get("/tile/entries/000.p/12").status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/tile/0/0",
        "/tile/0/0000",
        "/tile/0/x1/000",
        "/tile/0/000.p/0",
        "/tile/0/000.p/256",
        "/tile/0/000.p/012",
        "/tile/0/000.p/x",
        "/tile/a/000",
        "/tile/12/000",
        "/tile/0/000/",
        "/tile/entries/..%2F000",
    ],
)
def test_malformed_tile_paths_are_404(served: Served, path: str) -> None:
    error(served.client.get(path), 404, "tile.path")


def test_tile_levels_beyond_the_tree_are_404(served: Served) -> None:
    error(served.client.get("/tile/8/000.p/1"), 404, "notFound")


# --- records, evidence, proofs -----------------------------------------------------------------
def test_a_record_by_id_and_by_index(served: Served) -> None:
    record = capture(served.lenv.alice, 20)
    idx = served.submit(record).json()["index"]
    for ref in (record.record_id, str(idx)):
        got = served.client.get(f"/v1/records/{ref}")
        assert got.status_code == 200
        assert got.json() == {
            "index": idx,
            "record_id": record.record_id,
            "record": record.to_json(),
        }
    error(served.client.get(f"/v1/records/{MISSING}"), 404, "notFound")
    error(served.client.get("/v1/records/999"), 404, "notFound")
    error(served.client.get("/v1/records/alice.jpg"), 400, "record.ref")
    error(served.client.get("/v1/records/-1"), 400, "record.ref")


def test_evidence_is_the_bundle_export_writes_and_verifies_offline(served: Served) -> None:
    path = served.lenv.tmp / "photo.png"
    path.write_bytes(noise_png(21))
    [res] = served.ledger.sign([path], served.lenv.alice, now=FIXED_NOW)
    got = served.client.get(f"/v1/evidence/{res.record_id}")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    bundle = provenance.load_bundle(got.text)
    report = provenance.verify_offline(
        path.read_bytes(), bundle, trust_log_key=served.ledger.log_verifier.vkey()
    )
    assert report.verdict == "verified"
    error(served.client.get(f"/v1/evidence/{MISSING}"), 404, "notFound")


def test_evidence_from_a_tampered_database_reads_tampered_never_verified(
    served: Served,
) -> None:
    """A byte flipped in the server's database: the evidence is still served, as stored,
    and the reader's own verifier says ``tampered``."""
    path = served.lenv.tmp / "photo.png"
    path.write_bytes(noise_png(23))
    [res] = served.ledger.sign([path], served.lenv.alice, now=FIXED_NOW)
    assert res.record_id is not None
    idx, _ = served.ledger.record(res.record_id)
    with raw_db(served.lenv.db, "records") as con:
        body = get_body(con, idx)
        at = body.index(b'"sig":"') + len(b'"sig":"')
        flipped = body[:at] + (b"B" if body[at : at + 1] != b"B" else b"C") + body[at + 1 :]
        set_body(con, idx, flipped)
    got = served.client.get(f"/v1/evidence/{idx}")
    assert got.status_code == 200, got.text
    report = provenance.verify_offline(
        path.read_bytes(),
        provenance.load_bundle(got.text),
        trust_log_key=served.ledger.log_verifier.vkey(),
    )
    assert report.verdict == "tampered"


def test_inclusion_proofs_verify_against_the_checkpoint(served: Served) -> None:
    fill(served, 20)
    record = capture(served.lenv.alice, 22)
    first = served.submit(record).json()
    fill(served, 5, start=2000)
    got = served.client.get("/v1/proof/inclusion", params={"record": record.record_id})
    assert got.status_code == 200
    p = got.json()
    cp = served.trusted_checkpoint(p["checkpoint"])
    assert p["index"] == first["index"] and p["size"] == cp.size == served.size()
    verify_inclusion(
        p["index"],
        cp.size,
        leaf_hash(record.canonical()),
        [bytes.fromhex(h) for h in p["proof"]],
        cp.root,
    )
    old = served.client.get(
        "/v1/proof/inclusion", params={"record": str(first["index"]), "size": first["index"] + 1}
    ).json()
    assert old["size"] == first["index"] + 1
    error(served.client.get("/v1/proof/inclusion", params={"record": "x"}), 400, "record.ref")
    error(served.client.get("/v1/proof/inclusion"), 400, "record.ref")
    too_big = {"record": record.record_id, "size": 10_000}
    error(served.client.get("/v1/proof/inclusion", params=too_big), 404, "notFound")


def test_consistency_proofs_verify(served: Served) -> None:
    fill(served, 30)
    old_note = served.client.get("/checkpoint").text
    old = served.trusted_checkpoint(old_note)
    fill(served, 17, start=3000)
    new = served.trusted_checkpoint(served.client.get("/checkpoint").text)
    got = served.client.get("/v1/proof/consistency", params={"old": old.size, "new": new.size})
    assert got.status_code == 200
    p = got.json()
    assert (p["size1"], p["size2"]) == (old.size, new.size)
    assert bytes.fromhex(p["root1"]) == old.root and bytes.fromhex(p["root2"]) == new.root
    proof = [base64.b64decode(h) for h in p["proof"]]
    verify_consistency(old.size, new.size, proof, old.root, new.root)
    error(served.client.get("/v1/proof/consistency", params={"old": 1}), 400, "proof.sizes")
    error(
        served.client.get("/v1/proof/consistency", params={"old": "a", "new": 3}),
        400,
        "proof.sizes",
    )
    bad = {"old": new.size, "new": old.size}
    error(served.client.get("/v1/proof/consistency", params=bad), 404, "notFound")
    beyond = {"old": 1, "new": new.size + 1}
    error(served.client.get("/v1/proof/consistency", params=beyond), 404, "notFound")


# --- look-ups ----------------------------------------------------------------------------------
@pytest.fixture
def logged(served: Served) -> tuple[Served, Path, Record, int]:
    path = served.lenv.tmp / "logged.png"
    path.write_bytes(noise_png(30, (128, 96)))
    [res] = served.ledger.sign([path], served.lenv.alice, now=FIXED_NOW)
    assert res.record_id is not None
    idx, record = served.ledger.record(res.record_id)
    return served, path, record, idx


def by_binding(s: Served, alg: str, value: str, **params: Any) -> Any:
    return s.client.get("/v1/matches/byBinding", params={"alg": alg, "value": value, **params})


@pytest.mark.parametrize("alg", ["sha256", "content", "phash64", "pdq"])
def test_by_binding_finds_the_record_by_each_digest(
    logged: tuple[Served, Path, Record, int], alg: str
) -> None:
    s, _, record, idx = logged
    asset = record.statement.asset
    assert asset is not None
    hex_value = str(getattr(asset, alg))
    for value in (hex_value, base64.b64encode(bytes.fromhex(hex_value)).decode()):
        for name in (alg, f"{_namespace(s)}.{alg}"):
            got = by_binding(s, name, value)
            assert got.status_code == 200, got.text
            [hit] = got.json()["records"]
            assert hit["index"] == idx and hit["record_id"] == record.record_id
            assert hit["similarityScore"] == 100
            assert hit["match"] == {"sha256": "exact", "content": "content"}.get(alg, "perceptual")
    posted = s.client.post("/v1/matches/byBinding", json={"alg": alg, "value": hex_value})
    assert posted.json()["records"][0]["index"] == idx


def _namespace(s: Served) -> str:
    algs = s.client.get("/v1/services/supportedAlgorithms").json()["fingerprints"]
    name: str = next(a["alg"] for a in algs if a["alg"].endswith(".sha256"))
    return name.rsplit(".", 1)[0]


def test_by_binding_with_no_match_is_an_empty_list(served: Served) -> None:
    got = by_binding(served, "sha256", "00" * 32)
    assert got.status_code == 200 and got.json()["records"] == []


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"alg": "md5", "value": "00" * 16}, 400, "binding.algorithm"),
        ({"alg": "sha256", "value": "zz"}, 400, "binding.value"),
        ({"alg": "sha256", "value": "00" * 31}, 400, "binding.value"),
        ({"alg": "phash64", "value": "00" * 32}, 400, "binding.value"),
        ({"alg": "sha256", "value": "AAA"}, 400, "binding.value"),
        ({"alg": "sha256"}, 400, "binding.query"),
        ({"value": "00"}, 400, "binding.query"),
        ({"alg": "sha256", "value": "00" * 32, "maxResults": "0"}, 400, "binding.maxResults"),
        ({"alg": "sha256", "value": "00" * 32, "maxResults": "x"}, 400, "binding.maxResults"),
        ({"alg": "sha256", "value": "0" * 3000}, 414, "request.uriTooLong"),
    ],
)
def test_bad_binding_queries_are_refused(
    served: Served, params: dict[str, str], status: int, code: str
) -> None:
    error(served.client.get("/v1/matches/byBinding", params=params), status, code)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "request.json"),
        (b"[1]", "request.json"),
        (b'{"alg": 1, "value": 2}', "binding.query"),
    ],
)
def test_bad_posted_binding_queries_are_400(served: Served, body: bytes, code: str) -> None:
    error(served.client.post("/v1/matches/byBinding", content=body), 400, code)


def test_by_content_finds_an_uploaded_copy(logged: tuple[Served, Path, Record, int]) -> None:
    s, path, record, idx = logged
    got = s.client.post("/v1/matches/byContent", content=path.read_bytes())
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["records"][0]["index"] == idx
    assert body["records"][0]["match"] == "exact"
    assert body["digests"]["sha256"] == record.statement.asset.sha256  # type: ignore[union-attr]
    # the same pixels in another container: found by content
    jpeg = io.BytesIO()
    Image.open(path).save(jpeg, "PNG", compress_level=1)
    again = s.client.post("/v1/matches/byContent", content=jpeg.getvalue()).json()
    assert again["records"][0]["index"] == idx
    other = s.client.post("/v1/matches/byContent", content=noise_png(31)).json()
    assert other["records"] == []


def test_by_content_refuses_what_is_not_an_image(served: Served) -> None:
    error(served.client.post("/v1/matches/byContent", content=b"hello"), 415, "image.unsupported")
    error(served.client.post("/v1/matches/byContent", content=b""), 415, "image.unsupported")


def test_by_content_refuses_bombs_and_oversized_uploads(lenv: LedgerEnv) -> None:
    with serving(lenv, max_upload_pixels=10_000, max_upload_bytes=4096) as s:
        buf = io.BytesIO()
        Image.new("L", (200, 200)).save(buf, "PNG")  # small file, 40,000 pixels
        assert len(buf.getvalue()) < 4096
        error(s.client.post("/v1/matches/byContent", content=buf.getvalue()), 413, "image.tooLarge")
        error(s.client.post("/v1/matches/byContent", content=noise_png(1)), 413, "request.tooLarge")


def test_supported_algorithms(served: Served) -> None:
    got = served.client.get("/v1/services/supportedAlgorithms").json()
    names = {a["alg"] for a in got["fingerprints"]}
    ns = _namespace(served)
    assert {f"{ns}.{a}" for a in ("sha256", "content", "phash64", "pdq")} <= names
    assert got["watermarks"] == []


# --- races -----------------------------------------------------------------------------------
def test_duplicates_racing_are_created_exactly_once(served: Served) -> None:
    record = capture(served.lenv.alice, 40)
    size = served.size()
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()
    go = threading.Barrier(16)

    def race() -> None:
        go.wait()
        r = served.submit(record)
        with lock:
            answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=race) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 15 + [201]
    assert {got["index"] for _, got in answers} == {size}
    assert sorted(got["status"] for _, got in answers) == ["created"] + ["exists"] * 15
    for _, got in answers:
        check_receipt(served, record, got)
    assert served.size() == size + 1


def test_many_different_submissions_share_commits(served: Served) -> None:
    records = [capture(served.lenv.alice, 500 + i) for i in range(64)]
    answers: dict[int, dict[str, Any]] = {}

    def send(i: int) -> None:
        r = served.submit(records[i])
        assert r.status_code == 201
        answers[i] = r.json()

    threads = [threading.Thread(target=send, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a["index"] for a in answers.values()) == list(range(2, 66))
    for i, got in answers.items():
        check_receipt(served, records[i], got)
    assert served.ledger.audit().ok


def test_a_cancelled_waiter_never_stops_the_committer(lenv: LedgerEnv) -> None:
    """A request cancelled while queued (its client went away) must not kill the committer
    thread: the submissions after it are still committed and answered."""
    from provenance.server.committer import GroupCommitter

    committer = GroupCommitter(lenv.ledger, batch_max=64, batch_wait_s=0.05)
    try:
        gone = committer.submit(capture(lenv.alice, 50))
        assert gone.cancel()  # before the batch is taken: left out
        kept = committer.submit(capture(lenv.alice, 51))
        result = kept.result(timeout=10)
        assert isinstance(result, provenance.Submitted) and result.status == "created"
        assert lenv.ledger.size() == 3
        late = committer.submit(capture(lenv.alice, 52))
        assert late.result(timeout=10).index == 3  # type: ignore[union-attr]
    finally:
        committer.stop()


# --- witnesses that misbehave ----------------------------------------------------------------
@contextmanager
def garbage_witness() -> Iterator[str]:
    """A loopback 'witness' that answers every request with 200 and garbage."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\ngarbage\n")
                except OSError:
                    pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        server.close()


def test_witnesses_answering_garbage_or_nothing_never_stop_the_log(lenv: LedgerEnv) -> None:
    import socket

    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        silent = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with garbage_witness() as garbage, serving(lenv, witnesses=(garbage, silent)) as s:
        cosigner = s.client.app.state.provenance.cosigner  # type: ignore[attr-defined]
        for seed in range(3):
            assert s.submit(capture(lenv.alice, 60 + seed)).status_code == 201
        assert cosigner.wait_idle(20)
        note = s.client.get("/checkpoint").text
        cp = s.trusted_checkpoint(note)
        assert cp.size == 5
        assert note.count("\n— ") == 1  # the log's signature only: nothing from the witnesses
        assert s.client.get("/v1/log").json()["witnesses"] == [garbage, silent]


@pytest.mark.parametrize(
    "path",
    [
        "/tile/%C2%B2/000",
        "/tile/entries/000.p/%C2%B2",
        "/v1/evidence/0?since=%C2%B2",
        "/v1/evidence/0?since=" + "9" * 5000,
        "/v1/proof/inclusion?record=0&size=%C2%B2",
        "/v1/proof/consistency?old=%C2%B2&new=1",
        "/v1/matches/byBinding?alg=sha256&value=" + "00" * 32 + "&maxResults=%C2%B2",
    ],
)
def test_numbers_in_other_scripts_or_absurdly_long_are_refused_not_internal_errors(
    served: Served, photos: list[Path], path: str
) -> None:
    """str.isdigit() accepts '²', int() does not: every number is parsed as ASCII decimal."""
    served.lenv.ledger.sign(photos[:1], served.lenv.alice)
    r = served.client.get(path)
    assert r.status_code < 500, (path[:80], r.status_code, r.text[:200])
