"""Row 9: how appends, proofs and opening scale with the log (1k, 10k, 100k, 1M records).

At each size, on a private copy of the cached ledger: batched appends of pre-signed
records (``Store.append``, batches of 1,000, SHA-256 dedupe on as ``Ledger.sign`` uses it),
inclusion proof + verification, and Store.open + frontier. Baselines at the same size:
merkletools adding a batch of leaves and rebuilding (``make_tree``; it has no other way to
update its root), merkletools ``get_proof`` + ``validate_proof`` on the built tree, and
pymerkle's cold root after a restart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from functools import partial
from typing import Any

from benchmarks import fixtures
from benchmarks.bench_proofs import open_cost
from benchmarks.common import Ctx, Row, median, repeat_each
from benchmarks.merkle_baselines import merkletools, merkletools_tree, pymerkle, pymerkle_db


def _batch(ctx: Ctx) -> int:
    return 100 if ctx.smoke else 1_000


def _label(n: int) -> str:
    return (
        f"{n // 1_000_000}M"
        if n >= 1_000_000 and n % 1_000_000 == 0
        else (f"{n // 1000}k" if n % 1000 == 0 else str(n))
    )


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    out = []
    for n in ctx.sizes.curve:
        out += [
            (f"9a.{_label(n)}", f"append, batches of {_batch(ctx):,}, at {n:,} records"),
            (f"9b.{_label(n)}", f"inclusion proof + verify at {n:,} records"),
            (f"9c.{_label(n)}", f"open + frontier at {n:,} records"),
        ]
    return out


def _ours(ctx: Ctx, n: int, rng: random.Random) -> tuple[list[float], list[float], list[float]]:
    """Append batch seconds, inclusion proof seconds, open seconds at size ``n``."""
    from provenance import merkle

    batch = _batch(ctx)
    src = fixtures.build_ledger(ctx, n, chain=n == ctx.sizes.big)
    copy = fixtures.copy_ledger(ctx, src, f"row9-{_label(n)}")
    ledger = copy.open()
    try:
        sign_cp = fixtures.checkpoint_signer(ledger)
        recs = [
            fixtures.to_new_records(fixtures.synth_records((3 * 10**9 + n + i, batch)))
            for i in range(4)
        ]
        t_app = repeat_each([partial(ledger.store.append, r, sign_cp) for r in recs])[1:]
        store = ledger.store
        size = store.size()
        cp = store.latest_checkpoint()
        assert cp is not None
        idx = [rng.randrange(size) for _ in range(ctx.sizes.reps * 10 + 1)]
        bodies = store.records_at(idx)
        leaves = {i: merkle.leaf_hash(bodies[i].body) for i in idx}

        def incl(i: int) -> None:
            merkle.verify_inclusion(i, size, leaves[i], store.inclusion_proof(i, size), cp.root)

        t_incl = repeat_each([partial(incl, i) for i in idx])[1:]
    finally:
        ledger.close()
        fixtures.remove_ledger_copy(copy)
    opens = [open_cost(str(src.db)).seconds for _ in range(ctx.sizes.reps + 1)][1:]
    return t_app, t_incl, opens


def _merkletools(ctx: Ctx, n: int, rng: random.Random) -> tuple[list[float], list[float]]:
    """merkletools at ``n`` leaves: add a batch + make_tree seconds, proof seconds."""
    batch = _batch(ctx)
    mt = merkletools_tree(n)
    new = [[rng.randbytes(32).hex() for _ in range(batch)] for _ in range(3)]

    def append(leaves: list[str]) -> None:
        mt.add_leaf(leaves)
        mt.make_tree()

    t_add = repeat_each([partial(append, b) for b in new])
    root = mt.get_merkle_root()
    count = mt.get_leaf_count()

    def proof(i: int) -> None:
        if not mt.validate_proof(mt.get_proof(i), mt.get_leaf(i), root):
            raise RuntimeError("merkletools proof does not validate")

    t_proof = repeat_each(
        [partial(proof, i) for i in [rng.randrange(count) for _ in range(ctx.sizes.reps * 10)]]
    )
    return t_add, t_proof


def _pymerkle_root(ctx: Ctx, pm: Any, n: int) -> list[float]:
    db = pymerkle_db(ctx, n)
    out = []
    for _ in range(ctx.sizes.slow_reps):
        t0 = time.perf_counter()
        tree = pm.SqliteTree(str(db))
        tree.get_root()
        out.append(time.perf_counter() - t0)
        tree.close()
    return out


def run(ctx: Ctx) -> Iterator[Row]:
    batch = _batch(ctx)
    mt_cls, mt_why = merkletools()
    pm, pm_why = pymerkle()
    rng = random.Random(9)
    for n in ctx.sizes.curve:
        lab = _label(n)
        ctx.log(f"[row 9] scaling at {n:,} records")
        t_app, t_incl, opens = _ours(ctx, n, rng)
        row_a = Row(
            f"9a.{lab}",
            f"append, batches of {batch:,}, at {n:,} records",
            "rec/s",
            ours=median([batch / t for t in t_app]),
            n=len(t_app),
            higher_is_better=True,
            baseline_name=f"merkletools add {batch:,} + make_tree",
        )
        row_b = Row(
            f"9b.{lab}",
            f"inclusion proof + verify at {n:,} records",
            "ms",
            ours=median(t_incl) * 1e3,
            n=len(t_incl),
            baseline_name="merkletools get_proof + validate_proof",
        )
        row_c = Row(
            f"9c.{lab}",
            f"open + frontier at {n:,} records",
            "ms",
            ours=median(opens) * 1e3,
            n=len(opens),
            baseline_name="pymerkle cold root after restart",
        )
        if mt_cls is not None:
            t_mt, t_mp = _merkletools(ctx, n, rng)
            row_a.baseline, row_a.n_base = median([batch / t for t in t_mt]), len(t_mt)
            row_b.baseline, row_b.n_base = median(t_mp) * 1e3, len(t_mp)
        else:
            row_a.unavailable = row_b.unavailable = mt_why
        if pm is not None:
            t_root = _pymerkle_root(ctx, pm, n)
            row_c.baseline, row_c.n_base = median(t_root) * 1e3, len(t_root)
        else:
            row_c.unavailable = pm_why
        yield row_a
        yield row_b
        yield row_c
