"""Row 6: inclusion and consistency proofs at 1M records, and opening the ledger.

Proofs: ``Store.inclusion_proof`` / ``Store.consistency_proof`` plus verification with
``provenance.merkle``, for random indices / old sizes (leaf hashes and old roots are looked
up beforehand, outside the timing). Baseline: pymerkle's SqliteTree of the same size
(``prove_inclusion`` / ``prove_consistency`` + ``verify_*``), timed warm after one cold proof
that fills its subroot cache.

Opening: ``Store.open`` + ``frontier()`` (the compact range) + root, on a fresh Store each
time; the baseline is pymerkle's cold root after a restart (new SqliteTree + ``get_root``).
That opening does not read every row is shown by counting, with SQLAlchemy listeners on
the Engine class, the statements executed, the node rows they ask for, and the SQLite VM
instructions they run (a progress handler), at 1M against the smallest ledger.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from benchmarks import fixtures
from benchmarks.common import Ctx, Row, Target, median, repeat, repeat_each
from benchmarks.merkle_baselines import pymerkle, pymerkle_db

VM_STEP = 10  # the progress handler fires every VM_STEP SQLite instructions


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    big = f"{ctx.sizes.big:,}"
    return [
        ("6a", f"inclusion proof + verify, {big} records"),
        ("6b", f"consistency proof + verify, {big} records"),
        ("6c", f"open {big}-record ledger: Store.open + frontier + root"),
        ("6d", f"open + frontier: SQLite VM instructions, {big} vs small"),
    ]


@dataclass
class OpenCost:
    statements: int
    params: int
    vm_instructions: int
    seconds: float


def open_cost(db: str) -> OpenCost:
    """Open a Store and rebuild its frontier, counting what SQLite was asked to do."""
    from sqlalchemy import Engine, event

    from provenance.store import Store

    counts = {"statements": 0, "params": 0, "vm": 0}

    def on_connect(dbapi_conn: Any, _rec: Any) -> None:
        def tick() -> int:
            counts["vm"] += VM_STEP
            return 0

        dbapi_conn.set_progress_handler(tick, VM_STEP)

    def on_execute(_conn: Any, _cur: Any, _stmt: str, params: Any, _ctx: Any, many: bool) -> None:
        counts["statements"] += 1
        if isinstance(params, (list, tuple, dict)):
            counts["params"] += len(params)

    event.listen(Engine, "connect", on_connect)
    event.listen(Engine, "before_cursor_execute", on_execute)
    try:
        t0 = time.perf_counter()
        store = Store.open(db)
        store.frontier().root()
        seconds = time.perf_counter() - t0
        store.close()
    finally:
        event.remove(Engine, "connect", on_connect)
        event.remove(Engine, "before_cursor_execute", on_execute)
    return OpenCost(counts["statements"], counts["params"], counts["vm"], seconds)


def run(ctx: Ctx) -> Iterator[Row]:
    from provenance import merkle
    from provenance.store import Store

    ctx.log("[row 6] proofs and opening at the big size")
    big = fixtures.build_ledger(ctx, ctx.sizes.big, chain=True)
    pm, why = pymerkle()
    reps = ctx.sizes.reps * 30
    rng = random.Random(6)
    store = Store.open(str(big.db))
    try:
        size = store.size()
        cp = store.latest_checkpoint()
        assert cp is not None and cp.size == size
        idx = [rng.randrange(size) for _ in range(reps + 1)]
        bodies = store.records_at(idx)
        leaves = {i: merkle.leaf_hash(bodies[i].body) for i in idx}

        def incl(i: int) -> None:
            proof = store.inclusion_proof(i, size)
            merkle.verify_inclusion(i, size, leaves[i], proof, cp.root)

        t_incl = repeat_each([partial(incl, i) for i in idx])[1:]
        olds = [rng.randrange(1, size) for _ in range(reps + 1)]
        roots = {m: store.frontier(m).root() for m in olds}

        def cons(m: int) -> None:
            proof = store.consistency_proof(m, size)
            merkle.verify_consistency(m, size, proof, roots[m], cp.root)

        t_cons = repeat_each([partial(cons, m) for m in olds])[1:]
    finally:
        store.close()

    row_a = Row(
        "6a",
        f"inclusion proof + verify, {size:,} records",
        "ms",
        ours=median(t_incl) * 1e3,
        n=len(t_incl),
        baseline_name="pymerkle prove_inclusion+verify (warm)",
        target=Target("abs", "<", 1.0, "< 1 ms"),
    )
    row_b = Row(
        "6b",
        f"consistency proof + verify, {size:,} records",
        "ms",
        ours=median(t_cons) * 1e3,
        n=len(t_cons),
        baseline_name="pymerkle prove_consistency+verify (warm)",
        target=Target("abs", "<", 1.0, "< 1 ms"),
    )
    row_c = Row(
        "6c",
        f"open {size:,}-record ledger: Store.open + frontier + root",
        "ms",
        baseline_name="pymerkle cold root after restart",
    )
    opens = [open_cost(str(big.db)) for _ in range(ctx.sizes.reps + 1)][1:]
    row_c.ours, row_c.n = median([o.seconds for o in opens]) * 1e3, len(opens)
    if pm is not None:
        db = pymerkle_db(ctx, size)
        tree = pm.SqliteTree(str(db))
        try:
            pm_n = tree.get_size()
            t0 = time.perf_counter()
            tree.prove_inclusion(1 + idx[0] % pm_n, pm_n)
            cold = time.perf_counter() - t0
            root = tree.get_root(pm_n)
            pidx = [1 + i % pm_n for i in idx[1 : ctx.sizes.reps * 3 + 1]]

            def pm_incl(i: int) -> None:
                pm.verify_inclusion(tree.get_leaf(i), root, tree.prove_inclusion(i, pm_n))

            t_pi = repeat_each([partial(pm_incl, i) for i in pidx])
            pold = [max(1, m % pm_n) for m in olds[1 : ctx.sizes.reps * 3 + 1]]
            proots = {m: tree.get_root(m) for m in pold}

            def pm_cons(m: int) -> None:
                pm.verify_consistency(proots[m], root, tree.prove_consistency(m, pm_n))

            t_pc = repeat_each([partial(pm_cons, m) for m in pold])
        finally:
            tree.close()
        row_a.baseline, row_a.n_base = median(t_pi) * 1e3, len(t_pi)
        row_a.note = f"pymerkle's first (cold) proof took {cold * 1e3:,.0f} ms"
        row_b.baseline, row_b.n_base = median(t_pc) * 1e3, len(t_pc)

        def cold_root() -> None:
            t = pm.SqliteTree(str(db))
            try:
                t.get_root()
            finally:
                t.close()

        t_root = repeat(cold_root, ctx.sizes.slow_reps, warmup=0)
        row_c.baseline, row_c.n_base = median(t_root) * 1e3, len(t_root)
    else:
        for r in (row_a, row_b, row_c):
            r.unavailable = why
    yield row_a
    yield row_b
    yield row_c

    small = fixtures.build_ledger(ctx, ctx.sizes.curve[0], chain=False)
    c_small = [open_cost(str(small.db)) for _ in range(2)][1]
    c_big = opens[-1]
    ctx.details["6.open_cost"] = {"big": vars(c_big), "small": vars(c_small)}
    yield Row(
        "6d",
        f"open + frontier: SQLite VM instructions, {size:,} records",
        "ops",
        ours=c_big.vm_instructions,
        n=1,
        baseline=c_small.vm_instructions,
        n_base=1,
        baseline_name=f"same, {small.size:,}-record ledger",
        growth=True,
        target=Target("ratio", "<", 10.0, "O(log n): big/small < 10x"),
        note=(
            f"statements {c_big.statements} vs {c_small.statements}, bound parameters "
            f"(node keys asked for) {c_big.params} vs {c_small.params}; reading every "
            f"row would grow {size / small.size:,.0f}x"
        ),
    )
