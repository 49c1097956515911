"""Unit tests of the whole-log audit (provenance.audit.audit_log, ``log verify``).

A clean ledger audits with exact counts (records, nodes = 2n - popcount(n), checkpoints)
whatever the batch size; each kind of damage the audit knows is produced once, on a copy
of the tamper-suite ledger, and must be reported with its reason code (the verifier's
vocabulary, :data:`provenance.report.REASONS`) and log index.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tamper_helpers import (
    FIXED_NOW,
    LAYOUT,
    MALLORY_SEED,
    ORIGIN,
    SIZE,
    Chain,
    append_raw,
    build_chain,
    capture_record,
    checkpoint_signer,
    flip_bit,
    get_body,
    node_key,
    set_body,
)

from provenance import audit as audit_mod
from provenance.audit import AuditResult, audit_log
from provenance.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from provenance.errors import TrustAnchorError
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.merkle import EMPTY_ROOT
from provenance.records import Action, Statement, sign_statement
from provenance.report import REASONS, Problem
from provenance.store.schema import prefix_key

CHECKPOINTS = 6  # sizes 1, 2, 7, 8, 9, 10


def audit(ledger: Ledger, **kw: Any) -> AuditResult:
    """The audit of a ledger's whole log (what Ledger.audit runs, with a batch size)."""
    return audit_log(ledger.store, ledger.log_verifier, **kw)


def nodes_for(n: int) -> int:
    return 2 * n - n.bit_count()


@pytest.fixture(scope="module")
def template(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("audit") / "chain"
    build_chain(root, corpus)
    return root


@pytest.fixture
def chain(template: Path, tmp_path: Path) -> Iterator[Chain]:
    c = Chain.copy_of(template, tmp_path / "chain")
    yield c
    c.ledger.close()


# --- a clean log ----------------------------------------------------------------------------
def test_clean_ledger_audits_with_exact_counts(chain: Chain) -> None:
    result = chain.ledger.audit()
    assert result.ok and result.problems == []
    assert (result.records, result.nodes, result.checkpoints) == (
        SIZE,
        nodes_for(SIZE),
        CHECKPOINTS,
    )
    assert result.nodes == 18 == chain.ledger.store.table_counts()["nodes"]
    cp = chain.ledger.checkpoint()
    assert cp is not None and result.root_hex == cp.root.hex()
    assert (result.first_bad_index, result.code, result.detail) == (None, "", "")
    assert result.to_json() == {
        "ok": True,
        "records": SIZE,
        "nodes": 18,
        "checkpoints": CHECKPOINTS,
        "root": cp.root.hex(),
        "first_bad_index": None,
        "code": None,
        "problems": [],
    }
    # Signatures checked in worker processes give the same result.
    assert chain.ledger.audit(workers=2).to_json() == result.to_json()


def test_empty_ledger_audits(tmp_path: Path) -> None:
    with Ledger.init(str(tmp_path / "empty.db"), origin=ORIGIN) as ledger:
        result = ledger.audit()
    assert result.ok
    assert (result.records, result.nodes, result.checkpoints) == (0, 0, 0)
    assert result.root_hex == EMPTY_ROOT.hex()


def test_node_count_is_2n_minus_popcount(lenv: Any) -> None:
    """One key record per append (so one checkpoint per record), audited at every size."""
    ledger = lenv.ledger
    for n in range(2, 12):
        result = audit(ledger, batch=3)
        assert result.ok, result.problems
        assert (result.records, result.nodes, result.checkpoints) == (n, nodes_for(n), n)
        assert ledger.store.table_counts()["nodes"] == nodes_for(n)
        ledger.register_key(SigningKey.from_seed(bytes([n]) * 32).public, f"k{n}", now=FIXED_NOW)


@pytest.mark.parametrize("batch", [1, 2, 3, 4, 7, 9, 10, 11, 5000])
def test_streams_in_batches(chain: Chain, monkeypatch: pytest.MonkeyPatch, batch: int) -> None:
    """Records are read ``batch`` at a time (and checkpoints two at a time); the result is
    the same for every batch size and the progress callback sees every record once."""
    store = chain.ledger.store
    asked: list[int] = []
    real_records, real_checkpoints = store.iter_records, store.iter_checkpoints

    def spy(start: int = 0, stop: int | None = None, batch: int = 5000) -> Iterator[Any]:
        asked.append(batch)
        return real_records(start, stop, batch)

    monkeypatch.setattr(store, "iter_records", spy)
    monkeypatch.setattr(store, "iter_checkpoints", functools.partial(real_checkpoints, batch=2))
    calls: list[int] = []
    result = audit(chain.ledger, batch=batch, progress=calls.append)
    assert result.ok
    assert (result.records, result.nodes, result.checkpoints) == (SIZE, 18, CHECKPOINTS)
    assert asked == [batch]
    assert sum(calls) == SIZE
    assert calls == [min(batch, SIZE - k) for k in range(0, SIZE, batch)]


def test_cli_log_verify_text(chain: Chain, run_cli: Any) -> None:
    res = run_cli("--db", chain.db, "log", "verify")
    assert res.exit_code == 0
    assert res.stdout.startswith(
        f"log verifies: {SIZE} records, 18 nodes, {CHECKPOINTS} checkpoints, root "
    )


# --- every kind of damage ------------------------------------------------------------------------
def _resign_checkpoint(chain: Chain, size: int, root: bytes) -> str:
    signer = NoteSigner(ORIGIN, chain.ledger.log_signer())
    return sign_checkpoint(Checkpoint(ORIGIN, size, root), signer)


def _sql(*statements: tuple[str, tuple[Any, ...]]) -> Callable[[Chain], None]:
    def run(chain: Chain) -> None:
        with chain.raw("*") as con:
            for q, args in statements:
                con.execute(q, args)

    return run


def _body(idx: int, edit: Callable[[bytes], bytes]) -> Callable[[Chain], None]:
    def run(chain: Chain) -> None:
        with chain.raw("records") as con:
            set_body(con, idx, edit(get_body(con, idx)))

    return run


def _node(level: int, index: int) -> Callable[[Chain], None]:
    def run(chain: Chain) -> None:
        with chain.raw("nodes") as con:
            (h,) = con.execute(
                "SELECT hash FROM nodes WHERE key = ?", (node_key(level, index),)
            ).fetchone()
            con.execute(
                "UPDATE nodes SET hash = ? WHERE key = ?",
                (flip_bit(bytes(h), 5), node_key(level, index)),
            )

    return run


def _unregistered(chain: Chain) -> None:
    mallory = SigningKey.from_seed(MALLORY_SEED)
    append_raw(chain.ledger, [capture_record(chain.photo("opencv-doc__home.jpg"), mallory)])


def _revoked(chain: Chain) -> None:
    chain.ledger.revoke_key(chain.alice.key_id, now=FIXED_NOW)
    append_raw(chain.ledger, [capture_record(chain.photo("opencv-doc__home.jpg"), chain.alice)])


def _wrong_root_signed(chain: Chain) -> None:
    """Checkpoint 8 replaced by a genuinely signed note for a tree that is not the log's."""
    note = _resign_checkpoint(chain, 8, hashlib.sha256(b"another tree").digest())
    _sql(
        (
            "UPDATE checkpoints SET note = ?, root = ? WHERE size = 8",
            (note, hashlib.sha256(b"another tree").digest()),
        )
    )(chain)


def _swap_records(a: int, b: int) -> Callable[[Chain], None]:
    """Two stored records (bodies and id keys) trade log positions; the index rows stay."""

    def run(chain: Chain) -> None:
        with chain.raw("*") as con:
            rows = {
                i: con.execute("SELECT rid_key, body FROM records WHERE idx = ?", (i,)).fetchone()
                for i in (a, b)
            }
            for i, j in ((a, b), (b, a)):
                con.execute("UPDATE records SET rid_key = ?, body = ? WHERE idx = ?", (*rows[j], i))

    return run


def _rid_key_of(idx: int) -> Callable[[Chain], None]:
    """Record ``idx``'s id key is set to the rocket capture's (an index row pointing at the
    wrong record): lookups by id confirm against the body, so nothing resolves to it."""

    def run(chain: Chain) -> None:
        rocket = prefix_key(hashlib.sha256(chain.body(LAYOUT["rocket"])).digest())
        _sql(("UPDATE records SET rid_key = ? WHERE idx = ?", (rocket, idx)))(chain)

    return run


def _asset_key_of(column: str, src: int, dst: int) -> Callable[[Chain], None]:
    """The ``column`` digest key of record ``dst``'s assets row copied from ``src``'s."""
    return _sql(
        (
            f"UPDATE assets SET {column} = (SELECT {column} FROM assets WHERE idx = ?) "
            "WHERE idx = ?",
            (src, dst),
        ),
    )


def _key_record_as_parent(chain: Chain) -> None:
    """An edit naming alice's key record as its parent, forced past the store's check."""
    from provenance.store import append as append_mod

    st = Statement(
        type="edit",
        time="2026-11-26T12:00:00Z",
        asset=capture_record(chain.photo("opencv-doc__home.jpg"), chain.desk).statement.asset,
        parents=(chain.rid("alice"),),
        actions=(Action("c2pa.edited", {}),),
    )
    real = append_mod.record_kind
    append_mod.record_kind = lambda body: "capture"  # type: ignore[assignment]
    try:
        append_raw(chain.ledger, [sign_statement(st, chain.desk)])
    finally:
        append_mod.record_kind = real


def _flip_sig(body: bytes) -> bytes:
    pos = body.index(b'"sig":"') + 17
    return body[:pos] + (b"B" if body[pos : pos + 1] != b"B" else b"C") + body[pos + 1 :]


ORPHAN_KEY = "SHA256:" + "A" * 43  # a key id never registered
RID_ZERO = ("UPDATE records SET rid_key = ? WHERE idx = ?", (0, 4))
DAMAGE: list[tuple[str, Callable[[Chain], None], set[str] | None, int | None]] = [
    # code, attack, exact set of codes (None: code must be among them), first bad index
    (
        "record.missing",
        _sql(("DELETE FROM records WHERE idx = 4", ()), ("DELETE FROM assets WHERE idx = 4", ())),
        None,
        4,
    ),
    ("record.idMismatch", _sql(RID_ZERO), {"record.idMismatch"}, 4),
    ("record.idMismatch", _rid_key_of(9), {"record.idMismatch"}, 9),
    ("record.malformed", _body(5, lambda b: b"{}"), None, 5),
    (
        "claimSignature.mismatch",
        _body(5, _flip_sig),
        {
            "claimSignature.mismatch",
            "record.idMismatch",
            "leaf.mismatch",
            "node.mismatch",
            "checkpoint.rootMismatch",
        },
        5,
    ),
    ("signingCredential.untrusted", _unregistered, {"signingCredential.untrusted"}, SIZE),
    ("signingCredential.revoked", _revoked, {"signingCredential.revoked"}, SIZE + 1),
    # index.asset-missing
    ("index.mismatch", _sql(("DELETE FROM assets WHERE idx = 4", ())), {"index.mismatch"}, 4),
    # index.asset-mismatch: the perceptual key, the file digest key, the content key
    (
        "index.mismatch",
        _sql(("UPDATE assets SET phash64 = phash64 + 1 WHERE idx = 4", ())),
        {"index.mismatch"},
        4,
    ),
    ("index.mismatch", _asset_key_of("sha_key", 3, 4), {"index.mismatch"}, 4),
    ("index.mismatch", _asset_key_of("content_key", 3, 4), {"index.mismatch"}, 4),
    (
        "index.mismatch",
        _sql(("UPDATE assets SET pdq = ? WHERE idx = 4", (b"\0" * 32,))),
        {"index.mismatch"},
        4,
    ),
    # index.asset-extra: a digest row for a key record, and one past the end of the log
    (
        "index.extra",
        _sql(("INSERT INTO assets VALUES (0, 1, 2, 1, ?)", (b"c" * 32,))),
        {"index.extra"},
        0,
    ),
    (
        "index.extra",
        _sql(("INSERT INTO assets VALUES (50, 1, 2, 1, ?)", (b"c" * 32,))),
        {"index.extra"},
        None,
    ),
    # parent.missing: the rocket capture's id key no longer leads to it
    (
        "ingredient.missing",
        _sql(("UPDATE records SET rid_key = ? WHERE idx = 2", (1,))),
        {"record.idMismatch", "ingredient.missing"},
        2,
    ),
    # parent.order: crop (7) and its crop (9) trade places, so the record at 7 names a
    # parent stored at 9 (ids move with the bodies: no id mismatch, the tree shows it)
    (
        "ingredient.order",
        _swap_records(7, 9),
        {
            "ingredient.order",
            "index.mismatch",
            "leaf.mismatch",
            "node.mismatch",
            "checkpoint.rootMismatch",
        },
        7,
    ),
    ("ingredient.notAsset", _key_record_as_parent, {"ingredient.notAsset"}, SIZE),
    # index.parents-mismatch
    (
        "index.mismatch",
        _sql(("UPDATE parents SET parent = 4 WHERE child = 7", ())),
        {"index.mismatch"},
        7,
    ),
    (
        "index.extra",
        _sql(("INSERT INTO parents VALUES (50, 0, 2)", ())),
        {"index.extra"},
        None,
    ),
    (
        "checkpoint.rowMismatch",
        _sql(("UPDATE checkpoints SET root = ? WHERE size = 8", (b"\7" * 32,))),
        None,
        7,
    ),
    (
        "checkpoint.signature.mismatch",
        _sql(
            ("UPDATE checkpoints SET note = replace(note, ?, ?) WHERE size = 8", ("\n8\n", "\n9\n"))
        ),
        None,
        7,
    ),
    (
        "checkpoint.rootMismatch",
        _wrong_root_signed,
        {"checkpoint.rootMismatch", "checkpoint.inconsistent"},
        7,
    ),
    ("leaf.mismatch", _node(0, 3), {"leaf.mismatch"}, 3),
    ("node.mismatch", _node(2, 1), {"node.mismatch"}, 7),
    (
        "node.missing",
        _sql(("DELETE FROM nodes WHERE key = ?", (node_key(1, 2),))),
        {"node.missing", "nodes.count", "checkpoint.inconsistent"},
        5,
    ),
    (
        "nodes.count",
        _sql(("INSERT INTO nodes VALUES (?, ?)", (node_key(0, 100), b"\0" * 32))),
        {"nodes.count"},
        None,
    ),
    # index.keys-mismatch: a registration row deleted, renamed, moved; a revocation row
    # for a key never registered
    ("index.mismatch", _sql(("DELETE FROM keys WHERE idx = 1", ())), {"index.mismatch"}, None),
    (
        "index.mismatch",
        _sql(("UPDATE keys SET name = 'mallory' WHERE idx = 1", ())),
        {"index.mismatch"},
        None,
    ),
    (
        "index.mismatch",
        _sql(("UPDATE keys SET idx = 0 WHERE idx = 1", ())),
        {"index.mismatch"},
        None,
    ),
    (
        "index.mismatch",
        _sql(("INSERT INTO revocations VALUES (?, 3)", (ORPHAN_KEY,))),
        {"index.mismatch"},
        None,
    ),
    (
        "checkpoint.missing",
        _sql(("DELETE FROM checkpoints WHERE size = ?", (SIZE,))),
        {"checkpoint.missing"},
        SIZE - 1,
    ),
]


@pytest.mark.parametrize(
    ("code", "attack", "exact", "first"), DAMAGE, ids=[f"{d[0]}-{i}" for i, d in enumerate(DAMAGE)]
)
def test_every_damage_kind_is_reported(
    chain: Chain,
    run_cli: Any,
    code: str,
    attack: Callable[[Chain], None],
    exact: set[str] | None,
    first: int | None,
) -> None:
    attack(chain)
    result = chain.ledger.audit()
    codes = {p.code for p in result.problems}
    assert not result.ok
    assert code in codes, result.problems
    assert codes <= set(REASONS), codes - set(REASONS)  # one vocabulary with the verifier
    if exact is not None:
        assert codes == exact, result.problems
    assert result.first_bad_index == first
    # The same damage, the same report, whatever the batch size.
    for batch in (1, 3):
        again = audit(chain.ledger, batch=batch)
        assert sorted(map(repr, again.problems)) == sorted(map(repr, result.problems))
    res = run_cli("--db", chain.db, "log", "verify")
    assert res.exit_code == 1
    assert res.stdout.startswith(f"LOG DAMAGED at index {first}: {result.code}: ")


@pytest.mark.parametrize(
    "how", ["garbage", "corrupted signature", "forked tree", "larger", "another key"]
)
def test_pinned_checkpoints(chain: Chain, how: str) -> None:
    good = [cp.note for cp in chain.ledger.store.iter_checkpoints()]
    assert chain.ledger.audit(pinned=good).ok  # every genuine checkpoint is consistent
    cp8 = chain.ledger.store.checkpoint_at(8)
    assert cp8 is not None
    if how == "garbage":
        note, code = "not a checkpoint", "checkpoint.pinned.invalid"
    elif how == "corrupted signature":  # this log's pin, its signature damaged
        head, sig = cp8.note.rstrip("\n").rsplit(" ", 1)
        note = head + " " + sig[:10] + ("B" if sig[10] != "B" else "C") + sig[11:] + "\n"
        code = "checkpoint.pinned.invalid"
    elif how == "forked tree":
        note = _resign_checkpoint(chain, 8, hashlib.sha256(b"fork").digest())
        code = "checkpoint.inconsistent"
    elif how == "larger":
        cp = chain.ledger.checkpoint()
        assert cp is not None
        note, code = _resign_checkpoint(chain, SIZE + 5, cp.root), "checkpoint.inconsistent"
    else:
        # Another log's key: not damage of this log, a usage error (exit 3), from the
        # library as from ``log verify`` (test_cli_log_verify_refuses_a_pin_of_another_log).
        other = NoteSigner(ORIGIN, SigningKey.from_seed(b"O" * 32))
        note = sign_checkpoint(Checkpoint(ORIGIN, 8, cp8.root), other)
        with pytest.raises(TrustAnchorError, match="signed by key id"):
            chain.ledger.audit(pinned=[*good, note])
        return
    result = chain.ledger.audit(pinned=[*good, note])
    assert [p.code for p in result.problems] == [code]


@pytest.mark.parametrize("which", ["another key", "another origin"])
def test_cli_log_verify_refuses_a_pin_of_another_log(
    chain: Chain, run_cli: Any, which: str
) -> None:
    """A checkpoint of another log is a wrong trust anchor (exit 3, naming both logs), not
    damage to this one (it used to be ``LOG DAMAGED``, exit 1)."""
    cp8 = chain.ledger.store.checkpoint_at(8)
    assert cp8 is not None
    if which == "another key":
        signer = NoteSigner(ORIGIN, SigningKey.from_seed(b"O" * 32))
        note = sign_checkpoint(Checkpoint(ORIGIN, 8, cp8.root), signer)
    else:
        other = "other.example/log"
        signer = NoteSigner(other, chain.ledger.log_signer())
        note = sign_checkpoint(Checkpoint(other, 8, cp8.root), signer)
    pin = chain.root / "foreign.checkpoint"
    pin.write_text(note)
    res = run_cli("--db", chain.db, "log", "verify", "--checkpoint", pin)
    assert res.exit_code == 3, res.output
    assert "LOG DAMAGED" not in res.stdout
    assert ORIGIN in res.stderr
    if which == "another origin":
        assert "other.example/log" in res.stderr
    # This log's own pin with a corrupted signature is still damage (exit 1).
    head, sig = cp8.note.rstrip("\n").rsplit(" ", 1)
    pin.write_text(head + " " + sig[:10] + ("B" if sig[10] != "B" else "C") + sig[11:] + "\n")
    res = run_cli("--db", chain.db, "log", "verify", "--checkpoint", pin)
    assert res.exit_code == 1
    assert res.stdout.startswith("LOG DAMAGED at index None: checkpoint.pinned.invalid: ")


def test_malformed_pin_is_an_error_for_log_verify(lenv: Any, run_cli: Any) -> None:
    bad = lenv.tmp / "bad.cp"
    bad.write_text("garbage\n")
    r = run_cli("--db", lenv.db, "log", "verify", "--checkpoint", bad)
    assert r.exit_code == 3 and r.stderr.startswith("error: ")
    assert "is not a checkpoint" in r.stderr


# --- the result object ------------------------------------------------------------------------
def test_result_orders_problems_by_index_none_last() -> None:
    r = AuditResult()
    r.add(None, "nodes.count", "n")
    r.add(7, "leaf.mismatch", "l")
    r.add(3, "record.missing", "m")
    assert [p.index for p in r.ordered()] == [3, 7, None]
    assert (r.first_bad_index, r.code, r.detail) == (3, "record.missing", "m")
    assert r.to_json()["code"] == "record.missing" and not r.ok
    assert [p["code"] for p in r.to_json()["problems"]] == [
        "record.missing",
        "leaf.mismatch",
        "nodes.count",
    ]
    assert r.problems[0] == Problem("nodes.count", "n", None)
    assert Problem("k", "d", 1).to_json() == {"code": "k", "detail": "d", "index": 1}
    assert r.has("leaf.mismatch") and r.has("leaf.mismatch", 7) and not r.has("leaf.mismatch", 3)


def test_problems_are_capped(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    with chain.raw("nodes") as con:
        con.execute("UPDATE nodes SET hash = ?", (b"\0" * 32,))
    assert len(chain.ledger.audit().problems) > 3
    monkeypatch.setattr(audit_mod, "MAX_PROBLEMS", 3)
    assert len(chain.ledger.audit().problems) == 3


def test_checkpoint_signer_helper_matches_the_ledger(chain: Chain) -> None:
    """Guard for the helpers: a checkpoint signed by tamper_helpers opens under the log key."""
    from provenance.checkpoint import open_checkpoint

    note = checkpoint_signer(chain.ledger)(3, b"\0" * 32, None, [])
    assert open_checkpoint(note, chain.ledger.log_verifier).size == 3
