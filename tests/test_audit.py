"""Unit tests of the whole-log audit (provenance.audit.audit_log, ``log verify``).

A clean ledger audits with exact counts (records, nodes = 2n - popcount(n), checkpoints)
whatever the batch size; each kind of damage the audit knows is produced once, on a copy
of the tamper-suite ledger, and must be reported with its kind and log index.
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
from provenance.audit import AuditResult, Damage, audit_log
from provenance.checkpoint import Checkpoint, NoteSigner, sign_checkpoint
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.merkle import EMPTY_ROOT

CHECKPOINTS = 6  # sizes 1, 2, 7, 8, 9, 10


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
    result = audit_log(chain.ledger)
    assert result.ok and result.problems == []
    assert (result.records, result.nodes, result.checkpoints) == (
        SIZE,
        nodes_for(SIZE),
        CHECKPOINTS,
    )
    assert result.nodes == 18 == chain.ledger.store.table_counts()["nodes"]
    cp = chain.ledger.checkpoint()
    assert cp is not None and result.root_hex == cp.root.hex()
    assert (result.first_bad_index, result.kind, result.detail) == (None, "", "")
    assert result.to_json() == {
        "ok": True,
        "records": SIZE,
        "nodes": 18,
        "checkpoints": CHECKPOINTS,
        "root": cp.root.hex(),
        "first_bad_index": None,
        "kind": None,
        "problems": [],
    }


def test_empty_ledger_audits(tmp_path: Path) -> None:
    with Ledger.init(str(tmp_path / "empty.db"), origin=ORIGIN) as ledger:
        result = audit_log(ledger)
    assert result.ok
    assert (result.records, result.nodes, result.checkpoints) == (0, 0, 0)
    assert result.root_hex == EMPTY_ROOT.hex()


def test_node_count_is_2n_minus_popcount(lenv: Any) -> None:
    """One key record per append (so one checkpoint per record), audited at every size."""
    ledger = lenv.ledger
    for n in range(2, 12):
        result = audit_log(ledger, batch=3)
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
    result = audit_log(chain.ledger, batch=batch, progress=calls.append)
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


def _rid_moved(chain: Chain) -> None:
    """The rocket capture's id column moves to record 9, so its child (7) seems to point
    forward in the log."""
    rocket = hashlib.sha256(chain.body(LAYOUT["rocket"])).digest()
    _sql(
        ("UPDATE records SET rid = ? WHERE idx = 2", (b"\1" * 32,)),
        ("UPDATE records SET rid = ? WHERE idx = 9", (rocket,)),
    )(chain)


def _flip_sig(body: bytes) -> bytes:
    pos = body.index(b'"sig":"') + 17
    return body[:pos] + (b"B" if body[pos : pos + 1] != b"B" else b"C") + body[pos + 1 :]


ORPHAN_KEY = "SHA256:" + "A" * 43  # a key id never registered
RID_ZERO = ("UPDATE records SET rid = ? WHERE idx = ?", (b"\0" * 32, 4))
DAMAGE: list[tuple[str, Callable[[Chain], None], set[str] | None, int | None]] = [
    # kind, attack, exact set of kinds (None: kind must be among them), first bad index
    (
        "record.missing",
        _sql(("DELETE FROM records WHERE idx = 4", ()), ("DELETE FROM assets WHERE idx = 4", ())),
        None,
        4,
    ),
    ("record.id-mismatch", _sql(RID_ZERO), {"record.id-mismatch"}, 4),
    ("record.malformed", _body(5, lambda b: b"{}"), None, 5),
    (
        "signature.invalid",
        _body(5, _flip_sig),
        {
            "signature.invalid",
            "record.id-mismatch",
            "leaf.mismatch",
            "node.mismatch",
            "checkpoint.root-mismatch",
        },
        5,
    ),
    ("signature.untrusted", _unregistered, {"signature.untrusted"}, SIZE),
    ("signature.revoked", _revoked, {"signature.revoked"}, SIZE + 1),
    (
        "index.asset-missing",
        _sql(("DELETE FROM assets WHERE idx = 4", ())),
        {"index.asset-missing"},
        4,
    ),
    (
        "index.asset-mismatch",
        _sql(("UPDATE assets SET phash64 = phash64 + 1 WHERE idx = 4", ())),
        {"index.asset-mismatch"},
        4,
    ),
    (
        "index.asset-extra",
        _sql(("INSERT INTO assets VALUES (0, ?, ?, 1, ?)", (b"a" * 32, b"b" * 32, b"c" * 32))),
        {"index.asset-extra"},
        0,
    ),
    (
        "index.asset-extra",
        _sql(("INSERT INTO assets VALUES (50, ?, ?, 1, ?)", (b"a" * 32, b"b" * 32, b"c" * 32))),
        {"index.asset-extra"},
        None,
    ),
    (
        "parent.missing",
        _sql(("UPDATE records SET rid = ? WHERE idx = 2", (b"\1" * 32,))),
        {"record.id-mismatch", "parent.missing"},
        2,
    ),
    ("parent.order", _rid_moved, {"record.id-mismatch", "parent.order"}, 2),
    (
        "index.parents-mismatch",
        _sql(("UPDATE parents SET parent = 4 WHERE child = 7", ())),
        {"index.parents-mismatch"},
        7,
    ),
    (
        "index.parents-mismatch",
        _sql(("INSERT INTO parents VALUES (50, 0, 2)", ())),
        {"index.parents-mismatch"},
        None,
    ),
    (
        "checkpoint.row-mismatch",
        _sql(("UPDATE checkpoints SET root = ? WHERE size = 8", (b"\7" * 32,))),
        None,
        7,
    ),
    (
        "checkpoint.signature",
        _sql(
            ("UPDATE checkpoints SET note = replace(note, ?, ?) WHERE size = 8", ("\n8\n", "\n9\n"))
        ),
        None,
        7,
    ),
    (
        "checkpoint.root-mismatch",
        _wrong_root_signed,
        {"checkpoint.root-mismatch", "checkpoint.inconsistent"},
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
    (
        "index.keys-mismatch",
        _sql(("DELETE FROM keys WHERE idx = 1", ())),
        {"index.keys-mismatch"},
        None,
    ),
    (
        "index.keys-mismatch",
        _sql(("INSERT INTO revocations VALUES (?, 3)", (ORPHAN_KEY,))),
        {"index.keys-mismatch"},
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
    ("kind", "attack", "exact", "first"), DAMAGE, ids=[f"{d[0]}-{i}" for i, d in enumerate(DAMAGE)]
)
def test_every_damage_kind_is_reported(
    chain: Chain,
    run_cli: Any,
    kind: str,
    attack: Callable[[Chain], None],
    exact: set[str] | None,
    first: int | None,
) -> None:
    attack(chain)
    result = audit_log(chain.ledger)
    kinds = {p.kind for p in result.problems}
    assert not result.ok
    assert kind in kinds, result.problems
    if exact is not None:
        assert kinds == exact, result.problems
    assert result.first_bad_index == first
    # The same damage, the same report, whatever the batch size.
    for batch in (1, 3):
        again = audit_log(chain.ledger, batch=batch)
        assert sorted(map(repr, again.problems)) == sorted(map(repr, result.problems))
    res = run_cli("--db", chain.db, "log", "verify")
    assert res.exit_code == 1
    assert res.stdout.startswith(f"LOG DAMAGED at index {first}: {result.kind}: ")


@pytest.mark.parametrize("how", ["garbage", "another key", "forked tree", "larger"])
def test_pinned_checkpoints(chain: Chain, how: str) -> None:
    good = [cp.note for cp in chain.ledger.store.iter_checkpoints()]
    assert audit_log(chain.ledger, pinned=good).ok  # every genuine checkpoint is consistent
    if how == "garbage":
        note, kind = "not a checkpoint", "pinned.invalid"
    elif how == "another key":
        other = NoteSigner(ORIGIN, SigningKey.from_seed(b"O" * 32))
        cp = chain.ledger.store.checkpoint_at(8)
        assert cp is not None
        note, kind = sign_checkpoint(Checkpoint(ORIGIN, 8, cp.root), other), "pinned.invalid"
    elif how == "forked tree":
        note = _resign_checkpoint(chain, 8, hashlib.sha256(b"fork").digest())
        kind = "pinned.inconsistent"
    else:
        cp = chain.ledger.checkpoint()
        assert cp is not None
        note, kind = _resign_checkpoint(chain, SIZE + 5, cp.root), "pinned.inconsistent"
    result = audit_log(chain.ledger, pinned=[*good, note])
    assert [p.kind for p in result.problems] == [kind]


# --- the result object ------------------------------------------------------------------------
def test_result_orders_problems_by_index_none_last() -> None:
    r = AuditResult()
    r.add(None, "nodes.count", "n")
    r.add(7, "leaf.mismatch", "l")
    r.add(3, "record.missing", "m")
    assert [p.index for p in r.ordered()] == [3, 7, None]
    assert (r.first_bad_index, r.kind, r.detail) == (3, "record.missing", "m")
    assert r.to_json()["kind"] == "record.missing" and not r.ok
    assert Damage(1, "k", "d").to_json() == {"index": 1, "kind": "k", "detail": "d"}


def test_problems_are_capped(chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
    with chain.raw("nodes") as con:
        con.execute("UPDATE nodes SET hash = ?", (b"\0" * 32,))
    assert len(audit_log(chain.ledger).problems) > 3
    monkeypatch.setattr(audit_mod, "MAX_PROBLEMS", 3)
    assert len(audit_log(chain.ledger).problems) == 3


def test_checkpoint_signer_helper_matches_the_ledger(chain: Chain) -> None:
    """Guard for the helpers: a checkpoint signed by tamper_helpers opens under the log key."""
    from provenance.checkpoint import open_checkpoint

    note = checkpoint_signer(chain.ledger)(3, b"\0" * 32, None, [])
    assert open_checkpoint(note, chain.ledger.log_verifier).size == 3
