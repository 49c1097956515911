"""Tests for provenance.witness and provenance.server.witness_app (C2SP tlog-witness).

Checkpoints are signed with fixed-seed keys; roots and consistency proofs come from the
RFC 9162 reference tree in tests/merkle_reference.py (cross-checked against
provenance.merkle.CompactRange), so the witness is checked against the RFC text rather
than against the library's own proof code.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import sqlite3
import threading
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx
import pytest
from merkle_reference import mth
from merkle_reference import proof as rfc_proof
from starlette.applications import Starlette

from provenance.checkpoint import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_checkpoint,
    parse_note,
    sign_checkpoint,
    sign_note,
    verify_cosignature,
)
from provenance.keys import SigningKey
from provenance.merkle import CompactRange, leaf_hash
from provenance.server.witness_app import create_witness_app, witness_vkey
from provenance.witness import (
    MAX_BODY,
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    Witness,
    WitnessConflict,
    WitnessError,
    WitnessRefusal,
    WitnessState,
    WitnessStateError,
    format_add_checkpoint,
    parse_add_checkpoint,
    request_cosignature,
)

ORIGIN = "example.com/log"
LOG = NoteSigner(ORIGIN, SigningKey.from_seed(bytes(range(32))))
ROGUE = NoteSigner(ORIGIN, SigningKey.from_seed(bytes(range(2, 34))))  # same name, other key
OTHER_LOG = NoteSigner("example.org/other", SigningKey.from_seed(bytes(range(3, 35))))
WITNESS = NoteSigner("example.net/witness", SigningKey.from_seed(bytes(range(1, 33))))
NOW = 1_750_000_000
LEAVES = [f"entry {i}".encode() for i in range(40)]
FORK = [*LEAVES[:2], b"forged entry 2", *LEAVES[3:]]  # differs from LEAVES at index 2


# --- helpers ------------------------------------------------------------------------------
def note(size: int, leaves: Sequence[bytes] = LEAVES, signer: NoteSigner = LOG) -> str:
    return sign_checkpoint(Checkpoint(signer.name, size, mth(leaves[:size])), signer)


def proof(old: int, size: int, leaves: Sequence[bytes] = LEAVES) -> list[bytes]:
    return rfc_proof(old, leaves[:size]) if 0 < old < size else []


def body(
    old: int,
    size: int,
    *,
    leaves: Sequence[bytes] = LEAVES,
    hashes: Sequence[bytes] | None = None,
    checkpoint: str | None = None,
) -> bytes:
    hashes = proof(old, size, leaves) if hashes is None else hashes
    return format_add_checkpoint(
        old, hashes, note(size, leaves) if checkpoint is None else checkpoint
    )


def make_witness(path: Path, **logs: NoteSigner) -> Witness:
    known = {ORIGIN: LOG.verifier()} | {s.name: s.verifier() for s in logs.values()}
    return Witness(WITNESS, known, WitnessState(path / "witness.db"))


def refusal(witness: Witness, request: bytes) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as info:
        witness.add_checkpoint(request, NOW)
    return info.value


def cosigned(witness: Witness, old: int, size: int, leaves: Sequence[bytes] = LEAVES) -> str:
    """Submit and check the answer: one valid cosignature/v1 line at NOW."""
    checkpoint = note(size, leaves)
    answer = witness.add_checkpoint(body(old, size, leaves=leaves), NOW).decode()
    assert answer.startswith("\u2014 example.net/witness ") and answer.count("\n") == 1
    assert verify_cosignature(checkpoint + answer, witness.verifier) == NOW
    return answer


@pytest.fixture
def witness(tmp_path: Path) -> Witness:
    return make_witness(tmp_path)


def test_reference_tree_agrees_with_the_library() -> None:
    tree = CompactRange()
    for size, leaf in enumerate(LEAVES[:20], start=1):
        tree.append(leaf_hash(leaf))
        assert tree.root() == mth(LEAVES[:size])


# --- the good path ------------------------------------------------------------------------
def test_a_chain_of_checkpoints_is_cosigned_and_stored(witness: Witness) -> None:
    cosigned(witness, 0, 3)
    cosigned(witness, 3, 7)
    cosigned(witness, 7, 7)  # the same checkpoint again: cosigned again
    cosigned(witness, 7, 16)
    cosigned(witness, 16, 29)
    latest = witness.latest(ORIGIN)
    assert latest is not None
    assert (latest.size, latest.root) == (29, mth(LEAVES[:29]))
    assert open_checkpoint(latest.note, LOG.verifier()).size == 29
    assert verify_cosignature(latest.note, witness.verifier) == NOW


def test_the_stored_note_keeps_only_the_log_signature_and_the_cosignature(
    witness: Witness,
) -> None:
    text = Checkpoint(ORIGIN, 4, mth(LEAVES[:4])).body()
    noisy = sign_note(text, [OTHER_LOG, LOG, ROGUE])  # two signatures from unknown keys
    witness.add_checkpoint(format_add_checkpoint(0, [], noisy), NOW)
    latest = witness.latest(ORIGIN)
    assert latest is not None
    _, signatures = parse_note(latest.note)
    assert [(s.name, s.key_id) for s in signatures] == [
        (ORIGIN, LOG.key_id),
        (WITNESS.name, witness.verifier.key_id),
    ]


def test_an_empty_tree_needs_the_empty_root(witness: Witness) -> None:
    cosigned(witness, 0, 0)
    bogus = sign_checkpoint(Checkpoint(ORIGIN, 0, mth(LEAVES[:1])), LOG)
    got = refusal(witness, format_add_checkpoint(0, [], bogus))
    assert (got.status, got.size) == (422, None)
    assert "empty tree" in got.message


def test_any_tree_extends_size_zero_with_an_empty_proof(witness: Witness) -> None:
    cosigned(witness, 0, 0)
    cosigned(witness, 0, 1)
    assert witness.latest(ORIGIN) is not None


# --- refusals: 400 ------------------------------------------------------------------------
def _variants() -> dict[str, bytes]:
    good = body(0, 5)
    cp = note(5)
    h = base64.b64encode(bytes(32)).decode()
    text = Checkpoint(ORIGIN, 5, mth(LEAVES[:5])).body()
    signature = cp[len(text) + 1 :]
    return {
        "empty": b"",
        "no blank line": b"old 0\n" + cp.encode().replace(b"\n\n", b"\n"),
        "only a size": b"old 0\n\n",
        "no old line": cp.encode(),
        "old is negative": good.replace(b"old 0", b"old -0"),
        "old has a plus": good.replace(b"old 0", b"old +0"),
        "old has a leading zero": body(3, 5).replace(b"old 3", b"old 03"),
        "old has two spaces": good.replace(b"old 0", b"old  0"),
        "old has a trailing space": good.replace(b"old 0\n", b"old 0 \n"),
        "old is capitalised": good.replace(b"old 0", b"Old 0"),
        "old is 2**64": good.replace(b"old 0", b"old 18446744073709551616"),
        "old line ends in CR": good.replace(b"old 0\n", b"old 0\r\n"),
        "old is hex": good.replace(b"old 0", b"old 0x0"),
        "CRLF everywhere": good.replace(b"\n", b"\r\n"),
        "proof line is 31 bytes": f"old 3\n{base64.b64encode(bytes(31)).decode()}\n\n{cp}".encode(),
        "proof line is 33 bytes": f"old 3\n{base64.b64encode(bytes(33)).decode()}\n\n{cp}".encode(),
        "proof line not canonical": f"old 3\n{h[:42]}B=\n\n{cp}".encode(),
        "proof line unpadded": f"old 3\n{h[:43]}\n\n{cp}".encode(),
        "proof line url-safe": f"old 3\n{'_' * 43}=\n\n{cp}".encode(),
        "proof line with space": f"old 3\n {h}\n\n{cp}".encode(),
        "64 proof lines": f"old 3\n{(h + chr(10)) * 64}\n{cp}".encode(),
        "checkpoint size has a leading zero": (
            f"old 0\n\n{ORIGIN}\n05\n{text.split(chr(10))[2]}\n\n{signature}".encode()
        ),
        "checkpoint root is 31 bytes": (
            f"old 0\n\n{ORIGIN}\n5\n{base64.b64encode(bytes(31)).decode()}\n\n{signature}"
        ).encode(),
        "checkpoint has two lines": f"old 0\n\n{ORIGIN}\n5\n\n{signature}".encode(),
        "checkpoint has no signature": f"old 0\n\n{text}\n".encode(),
        "checkpoint has no final newline": good[:-1],
        "checkpoint is not UTF-8": good.replace(ORIGIN.encode(), b"example.com/\xff"),
        "checkpoint has a NUL": good.replace(ORIGIN.encode(), b"example.com/\x00"),
        "signature line garbage": good + b"garbage\n",
    }


@pytest.mark.parametrize("name", sorted(_variants()))
def test_malformed_bodies_are_400(witness: Witness, name: str) -> None:
    got = refusal(witness, _variants()[name])
    assert (got.status, got.size) == (400, None), got.message
    assert witness.latest(ORIGIN) is None


def test_63_proof_lines_parse_and_64_do_not() -> None:
    cp = note(5)
    h = base64.b64encode(bytes(32)).decode()
    parsed = parse_add_checkpoint(f"old 3\n{(h + chr(10)) * 63}\n{cp}".encode())
    assert parsed == AddCheckpointRequest(
        3, (bytes(32),) * 63, cp, Checkpoint.parse(parse_note(cp)[0])
    )
    with pytest.raises(WitnessRefusal) as info:
        parse_add_checkpoint(f"old 3\n{(h + chr(10)) * 64}\n{cp}".encode())
    assert info.value.status == 400


def test_old_size_above_the_checkpoint_size_is_400(witness: Witness) -> None:
    got = refusal(witness, format_add_checkpoint(0, [], note(5)).replace(b"old 0", b"old 6"))
    assert (got.status, got.size) == (400, None)
    assert "old size 6 > checkpoint size 5" in got.message


def test_a_body_over_the_limit_is_413(witness: Witness) -> None:
    request = body(0, 5)
    padded = request.replace(b"\n\n", b"\n" + b"x" * (MAX_BODY - len(request)) + b"\n\n", 1)
    assert refusal(witness, padded).status == 413


# --- refusals: 404, 403 -------------------------------------------------------------------
def test_an_unknown_origin_is_404(witness: Witness) -> None:
    request = format_add_checkpoint(0, [], note(5, signer=OTHER_LOG))
    got = refusal(witness, request)
    assert (got.status, got.size) == (404, None)
    assert "example.org/other" in got.message


def test_a_checkpoint_without_the_log_signature_is_403(witness: Witness) -> None:
    forged = format_add_checkpoint(0, [], note(5, signer=ROGUE))  # the log's name, other key
    assert refusal(witness, forged).status == 403
    text = Checkpoint(ORIGIN, 5, mth(LEAVES[:5])).body()
    unsigned = format_add_checkpoint(0, [], sign_note(text, OTHER_LOG))
    assert refusal(witness, unsigned).status == 403
    assert witness.latest(ORIGIN) is None


def test_a_failing_signature_by_the_log_key_is_403(witness: Witness) -> None:
    text = Checkpoint(ORIGIN, 5, mth(LEAVES[:5])).body()
    other = sign_note(Checkpoint(ORIGIN, 6, mth(LEAVES[:6])).body(), LOG)
    swapped = text + "\n" + other.split("\n\n")[1]  # the log's signature over another text
    assert refusal(witness, format_add_checkpoint(0, [], swapped)).status == 403
    # Beside a good one, a line by an unknown key (the log's name, another key) is ignored.
    cosigned_note = sign_note(text, [ROGUE, LOG])
    witness.add_checkpoint(format_add_checkpoint(0, [], cosigned_note), NOW)
    # Two lines with the log's name and key id make the note malformed.
    doubled = sign_note(text, LOG) + other.split("\n\n")[1]
    assert refusal(witness, b"old 5\n\n" + doubled.encode()).status == 400


# --- refusals: 409 ------------------------------------------------------------------------
def test_a_stale_old_size_is_409_with_the_witness_size(witness: Witness) -> None:
    got = refusal(witness, body(3, 7))  # never cosigned: its size is 0
    assert (got.status, got.size) == (409, 0)
    cosigned(witness, 0, 5)
    for old, size in ((0, 7), (3, 7), (6, 7), (7, 7)):
        got = refusal(witness, body(old, size))
        assert (got.status, got.size) == (409, 5), (old, size)


def test_a_rollback_is_refused(witness: Witness) -> None:
    cosigned(witness, 0, 9)
    assert refusal(witness, body(0, 5)).size == 9  # 409
    assert refusal(witness, body(5, 5)).size == 9  # 409
    got = refusal(witness, body(0, 5).replace(b"old 0", b"old 9"))  # honest old size
    assert (got.status, got.size) == (400, None)
    latest = witness.latest(ORIGIN)
    assert latest is not None and latest.size == 9


def test_the_same_size_with_another_root_is_409_without_a_size(witness: Witness) -> None:
    cosigned(witness, 0, 5)
    got = refusal(witness, body(5, 5, leaves=FORK))
    assert (got.status, got.size) == (409, None)
    assert "different root" in got.message


def test_a_split_view_is_caught(witness: Witness) -> None:
    """Two trees of size 8 signed by the same log key: the second is never cosigned."""
    cosigned(witness, 0, 8)
    assert refusal(witness, body(0, 8, leaves=FORK)).size == 8  # 409: it has 8 already
    got = refusal(witness, body(8, 8, leaves=FORK))  # same size, another root
    assert (got.status, got.size) == (409, None)
    got = refusal(witness, body(8, 13, leaves=FORK))  # a fork's proof from its own 8
    assert (got.status, got.size) == (422, None)
    cosigned(witness, 8, 13)  # the honest tree goes on
    latest = witness.latest(ORIGIN)
    assert latest is not None and latest.root == mth(LEAVES[:13])


# --- refusals: 422 ------------------------------------------------------------------------
def test_bad_proofs_are_422(witness: Witness) -> None:
    cosigned(witness, 0, 5)
    good = proof(5, 11)
    flipped = [good[0], bytes([good[1][0] ^ 1]) + good[1][1:], *good[2:]]
    for hashes in (flipped, good[:-1], [*good, bytes(32)], [], proof(5, 11, FORK)):
        got = refusal(witness, body(5, 11, hashes=hashes))
        assert (got.status, got.size) == (422, None)
    got = refusal(witness, body(5, 11, hashes=good, checkpoint=note(11, FORK)))
    assert got.status == 422
    cosigned(witness, 5, 11)


def test_a_proof_from_size_zero_or_to_the_same_size_must_be_empty(witness: Witness) -> None:
    got = refusal(witness, body(0, 5, hashes=[bytes(32)]))
    assert (got.status, got.size) == (422, None)
    cosigned(witness, 0, 5)
    got = refusal(witness, body(5, 5, hashes=[mth(LEAVES[:5])]))
    assert (got.status, got.size) == (422, None)


# --- durability and concurrency -----------------------------------------------------------
def test_a_new_witness_on_the_same_file_remembers(tmp_path: Path) -> None:
    cosigned(make_witness(tmp_path), 0, 6)
    again = make_witness(tmp_path)
    assert refusal(again, body(0, 9)).size == 6
    cosigned(again, 6, 9)
    latest = make_witness(tmp_path).latest(ORIGIN)
    assert latest is not None and latest.size == 9
    assert (tmp_path / "witness.db").exists()


def test_concurrent_witnesses_on_one_file_cosign_only_one_tree(tmp_path: Path) -> None:
    """Eight witness objects (eight connections) race with the same old size."""
    make_witness(tmp_path)
    results: dict[int, str | int] = {}
    start = threading.Barrier(8)

    def submit(size: int) -> None:
        w = make_witness(tmp_path)
        start.wait()
        try:
            results[size] = w.add_checkpoint(body(0, size), NOW).decode()
        except WitnessRefusal as exc:
            results[size] = exc.status

    threads = [threading.Thread(target=submit, args=(size,)) for size in range(3, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [size for size, r in results.items() if isinstance(r, str)]
    assert len(winners) == 1 and len(results) == 8
    assert sorted(r for r in results.values() if isinstance(r, int)) == [409] * 7
    latest = make_witness(tmp_path).latest(ORIGIN)
    assert latest is not None and latest.size == winners[0]


def test_a_corrupt_state_row_is_an_error_not_a_reset(tmp_path: Path) -> None:
    w = make_witness(tmp_path)
    cosigned(w, 0, 6)
    with sqlite3.connect(tmp_path / "witness.db") as conn:
        conn.execute("UPDATE witness_checkpoint SET size = '5'")
    conn.close()
    with pytest.raises(WitnessStateError):
        w.add_checkpoint(body(6, 9), NOW)
    with pytest.raises(WitnessStateError):
        w.latest(ORIGIN)


def test_the_state_must_be_a_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="file path"):
        WitnessState(":memory:")
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    with pytest.raises(WitnessStateError):
        WitnessState(tmp_path / "junk.db")


def test_construction_checks(tmp_path: Path) -> None:
    state = WitnessState(tmp_path / "w.db")
    with pytest.raises(ValueError, match="also be a log key"):
        Witness(WITNESS, {"w": WITNESS.verifier()}, state)
    with pytest.raises(ValueError, match="Ed25519 verifier"):
        Witness(WITNESS, {ORIGIN: LOG.verifier(SIG_COSIGNATURE_V1)}, state)
    w = Witness(WITNESS, {ORIGIN: LOG.verifier()}, state)
    with pytest.raises(ValueError, match="positive"):
        w.add_checkpoint(body(0, 1), 0)


# --- the client format ----------------------------------------------------------------------
def test_format_and_parse_round_trip() -> None:
    cp = note(11)
    request = format_add_checkpoint(5, proof(5, 11), cp)
    assert request.startswith(b"old 5\n") and request.endswith(cp.encode())
    parsed = parse_add_checkpoint(request)
    assert (parsed.old_size, list(parsed.proof), parsed.note) == (5, proof(5, 11), cp)
    assert parsed.checkpoint.size == 11
    with pytest.raises(ValueError, match="old size"):
        format_add_checkpoint(12, [], cp)
    with pytest.raises(ValueError, match="32 bytes"):
        format_add_checkpoint(5, [bytes(31)], cp)
    with pytest.raises(ValueError, match="at most 63"):
        format_add_checkpoint(5, [bytes(32)] * 64, cp)


# --- the ASGI app -------------------------------------------------------------------------
def _call(
    witness: Witness, method: str, path: str, content: bytes | None = None, **kwargs: object
) -> httpx.Response:
    app = create_witness_app(witness, clock=lambda: float(NOW))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            return await client.request(method, path, content=content, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(go())


def test_app_cosigns_with_text_plain(witness: Witness) -> None:
    r = _call(witness, "POST", "/add-checkpoint", body(0, 5))
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert verify_cosignature(note(5) + r.text, witness.verifier) == NOW


def test_app_409_names_the_size_with_its_content_type(witness: Witness) -> None:
    cosigned(witness, 0, 5)
    r = _call(witness, "POST", "/add-checkpoint", body(0, 7))
    assert (r.status_code, r.headers["content-type"], r.text) == (409, SIZE_CONTENT_TYPE, "5\n")
    r = _call(witness, "POST", "/add-checkpoint", body(5, 5, leaves=FORK))
    assert (r.status_code, r.headers["content-type"]) == (409, "text/plain; charset=utf-8")


@pytest.mark.parametrize(
    ("request_body", "status"),
    [
        (b"old 0\n\ngarbage", 400),
        (body(0, 5).replace(b"old 0", b"old 9"), 400),
        (format_add_checkpoint(0, [], note(5, signer=OTHER_LOG)), 404),
        (format_add_checkpoint(0, [], note(5, signer=ROGUE)), 403),
        (body(0, 5, hashes=[bytes(32)]), 422),
    ],
)
def test_app_refusals_are_one_line_of_text(
    witness: Witness, request_body: bytes, status: int
) -> None:
    r = _call(witness, "POST", "/add-checkpoint", request_body)
    assert r.status_code == status
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert r.text.endswith("\n") and r.text.count("\n") == 1
    assert "Traceback" not in r.text


def test_app_413_for_a_large_body_declared_or_streamed(witness: Witness) -> None:
    big = b"old 0\n" + b"A" * (MAX_BODY + 1)
    r = _call(witness, "POST", "/add-checkpoint", big)
    assert (r.status_code, r.headers["content-type"]) == (413, "text/plain; charset=utf-8")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 1024

    app = create_witness_app(witness)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://w") as client:
            return await client.post("/add-checkpoint", content=chunks())

    r = asyncio.run(go())
    assert r.status_code == 413


def test_app_other_methods_and_paths(witness: Witness) -> None:
    assert _call(witness, "GET", "/add-checkpoint").status_code == 405
    assert _call(witness, "POST", "/nowhere", b"x").status_code == 404


def test_app_reads_back_the_latest_cosigned_checkpoint(witness: Witness) -> None:
    assert _call(witness, "GET", "/checkpoint", params={"origin": ORIGIN}).status_code == 404
    cosigned(witness, 0, 5)
    r = _call(witness, "GET", "/checkpoint", params={"origin": ORIGIN})
    assert r.status_code == 200
    assert open_checkpoint(r.text, LOG.verifier()).size == 5
    assert (
        verify_cosignature(r.text, NoteVerifier.parse_vkey(witness_vkey(WITNESS.name, WITNESS.key)))
        == NOW
    )
    assert _call(witness, "GET", "/checkpoint", params={"origin": "nope"}).status_code == 404
    assert _call(witness, "GET", "/checkpoint").status_code == 400


def test_app_state_failures_are_a_plain_500(witness: Witness) -> None:
    def broken(body: bytes, now: int) -> bytes:
        raise WitnessStateError("disk on fire /secret/path")

    witness.add_checkpoint = broken  # type: ignore[method-assign]
    r = _call(witness, "POST", "/add-checkpoint", body(0, 5))
    assert r.status_code == 500 and "secret" not in r.text

    def exploding(body: bytes, now: int) -> bytes:
        raise RuntimeError("boom /secret/path")

    witness.add_checkpoint = exploding  # type: ignore[method-assign]
    r = _call(witness, "POST", "/add-checkpoint", body(0, 5))
    assert r.status_code == 500 and "secret" not in r.text and "Traceback" not in r.text


def test_app_prefix(witness: Witness) -> None:
    app = create_witness_app(witness, prefix="/w1", clock=lambda: float(NOW))
    with _sync_client(app) as http:
        assert http.post("/w1/add-checkpoint", content=body(0, 5)).status_code == 200
        assert http.post("/add-checkpoint", content=body(5, 5)).status_code == 404
    with pytest.raises(ValueError):
        create_witness_app(witness, prefix="w1/")


def test_witness_vkey_is_the_cosignature_key() -> None:
    vkey = witness_vkey(WITNESS.name, WITNESS.key)
    assert vkey == WITNESS.verifier(SIG_COSIGNATURE_V1).vkey()
    assert vkey == witness_vkey(WITNESS.name, WITNESS.key.public)
    assert NoteVerifier.parse_vkey(vkey).sig_type == SIG_COSIGNATURE_V1


# --- the client ---------------------------------------------------------------------------
class _SyncASGI(httpx.BaseTransport):
    """Runs an ASGI app under a synchronous httpx.Client (one event loop per request)."""

    def __init__(self, app: Starlette) -> None:
        self._transport = httpx.ASGITransport(app=app)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def go() -> httpx.Response:
            response = await self._transport.handle_async_request(request)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return asyncio.run(go())


def _sync_client(app: Starlette) -> httpx.Client:
    return httpx.Client(transport=_SyncASGI(app), base_url="http://testserver")


def _client(witness: Witness) -> httpx.Client:
    return _sync_client(create_witness_app(witness, clock=lambda: float(NOW)))


def test_client_gets_a_cosignature(witness: Witness) -> None:
    with _client(witness) as http:
        lines = request_cosignature(
            "http://testserver/", 0, [], note(5), timeout=5, witness=witness.verifier, client=http
        )
    assert isinstance(lines, list) and len(lines) == 1
    assert verify_cosignature(note(5) + lines[0], witness.verifier) == NOW


def test_client_retries_once_from_the_size_the_witness_names(witness: Witness) -> None:
    cosigned(witness, 0, 5)
    asked: list[int] = []

    def proof_from(size: int) -> list[bytes]:
        asked.append(size)
        return proof(size, 12)

    with _client(witness) as http:
        lines = request_cosignature(
            "http://testserver", 0, [], note(12), timeout=5, proof_from=proof_from, client=http
        )
        assert isinstance(lines, list) and asked == [5]
        # Without proof_from, the conflict is returned.
        got = request_cosignature(
            "http://testserver", 5, proof(5, 14), note(14), timeout=5, client=http
        )
        assert got == WitnessConflict(12)
        # A witness ahead of the checkpoint: returned, not retried.
        got = request_cosignature(
            "http://testserver", 0, [], note(9), timeout=5, proof_from=proof_from, client=http
        )
        assert got == WitnessConflict(12) and asked == [5]


def test_client_reports_a_split_view(witness: Witness) -> None:
    cosigned(witness, 0, 5)
    with _client(witness) as http, pytest.raises(WitnessError, match="split view") as info:
        request_cosignature(
            "http://testserver",
            0,
            [],
            note(5, FORK),
            timeout=5,
            proof_from=lambda s: [],
            client=http,
        )
    assert info.value.status == 409


def test_client_refusals_and_garbage_raise(witness: Witness) -> None:
    with _client(witness) as http:
        with pytest.raises(WitnessError) as info:
            request_cosignature(
                "http://testserver", 0, [], note(5, signer=ROGUE), timeout=5, client=http
            )
        assert info.value.status == 403
        wrong = NoteSigner("example.net/witness", ROGUE.key).verifier(SIG_COSIGNATURE_V1)
        with pytest.raises(WitnessError, match="malformed cosignature"):
            request_cosignature(
                "http://testserver", 0, [], note(5), timeout=5, witness=wrong, client=http
            )

    def answer(status: int, content: bytes, content_type: str = "text/plain") -> httpx.Client:
        def handler(request: httpx.Request) -> httpx.Response:
            return httpx.Response(status, content=content, headers={"Content-Type": content_type})

        return httpx.Client(transport=httpx.MockTransport(handler))

    for status, content, content_type in [
        (200, b"hello\n", "text/plain"),
        (200, b"", "text/plain"),
        (200, b"\xe2\x80\x94 w AAAA\n", "text/plain"),  # too short a signature
        (200, b"x" * 70_000, "text/plain"),
        (409, b"05\n", SIZE_CONTENT_TYPE),
        (409, b"5", SIZE_CONTENT_TYPE),
        (500, b"oops", "text/plain"),
        (302, b"", "text/plain"),
    ]:
        with answer(status, content, content_type) as http, pytest.raises(WitnessError):
            request_cosignature("http://w", 0, [], note(5), timeout=5, client=http)


def test_client_reports_no_answer() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as http,
        pytest.raises(WitnessError, match="no answer within"),
    ):
        request_cosignature("http://w", 0, [], note(5), timeout=0.5, client=http)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(WitnessError, match="no answer within"):
            request_cosignature(f"http://127.0.0.1:{port}", 0, [], note(5), timeout=0.3)
    with pytest.raises(WitnessError, match="no answer"):  # the port is closed now
        request_cosignature(f"http://127.0.0.1:{port}", 0, [], note(5), timeout=0.3)
