"""Row 5: appending pre-signed records, batched and one durable record at a time.

Records are made in advance (real Ed25519 signatures, random digests, see
:mod:`benchmarks.fixtures`) and appended with ``Store.append`` into a copy of an existing
ledger (SQLite, WAL, synchronous=FULL, ``BEGIN IMMEDIATE``; one checkpoint signed per
transaction). ``dedupe=True`` is what ``Ledger.sign``/``derive`` use; the bench
ledger builder turns it off. The baseline is pymerkle's SqliteTree with entries of the same
size: ``append_entries`` per batch, and ``append_entry`` (one INSERT + commit) per record.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from functools import partial

from benchmarks import fixtures
from benchmarks.common import Ctx, Row, Target, median, repeat_each
from benchmarks.merkle_baselines import BODY_LEN, pymerkle


def _batches(ctx: Ctx) -> tuple[int, int, int]:
    return (50, 100, 200) if ctx.smoke else (256, 1_000, 10_000)


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    b = _batches(ctx)
    return [
        ("5a", f"append pre-signed records, batches of {b[0]:,} (CLI default)"),
        ("5b", f"append pre-signed records, batches of {b[1]:,}"),
        ("5c", f"append pre-signed records, batches of {b[2]:,}"),
        ("5d", f"append pre-signed records, batches of {b[2]:,}, no digest dedupe"),
        ("5e", "one durable append: 1 record, 1 transaction, synchronous=FULL"),
        ("5f", f"building the {ctx.sizes.big:,}-record ledger: Store.append throughput"),
        ("5g", f"append at {ctx.sizes.big:,} records, batches of {_batches(ctx)[2]:,}"),
    ]


def run(ctx: Ctx) -> Iterator[Row]:
    ctx.log("[row 5] appends")
    pm, why = pymerkle()
    existing = fixtures.build_ledger(ctx, ctx.sizes.existing, chain=False)
    copy = fixtures.copy_ledger(ctx, existing, "row5")
    ledger = copy.open()
    pm_tree = None
    if pm is not None:
        pm_tree = pm.SqliteTree(str(ctx.scratch("pymerkle5") / "tree.db"))
    try:
        sign_cp = fixtures.checkpoint_signer(ledger)
        seed = 10**9
        rng = random.Random(5)
        keys = [k for k, _ in declared(ctx)]
        titles = dict(declared(ctx))
        for key, batch, dedupe in zip(
            keys[:4], (*_batches(ctx), _batches(ctx)[2]), (True, True, True, False), strict=True
        ):
            count = max(3, ctx.sizes.append_total // batch)
            if batch >= 10_000 and dedupe:
                count = 2  # quadratic in-batch dedupe: each batch takes seconds (see note)
            raws = [fixtures.synth_records((seed + i, batch)) for i in range(count)]
            seed += count
            recs = [fixtures.to_new_records(r) for r in raws]
            times = repeat_each(
                [partial(ledger.store.append, r, sign_cp, dedupe=dedupe) for r in recs]
            )
            rates = [batch / t for t in times]
            row = Row(
                key,
                titles[key],
                "rec/s",
                ours=median(rates),
                n=len(rates),
                higher_is_better=True,
                baseline_name="pymerkle append_entries",
                target=Target("abs", ">=", 10_000, ">= 10,000 rec/s"),
            )
            if pm_tree is not None:
                blobs = [[rng.randbytes(BODY_LEN) for _ in range(batch)] for _ in range(count)]
                pt = repeat_each([partial(pm_tree.append_entries, b) for b in blobs])
                row.baseline, row.n_base = median([batch / t for t in pt]), len(pt)
            else:
                row.unavailable = why
            if key == "5c":
                row.note = "dedupe=True, as Ledger.sign and derive call it"
            yield row
        reps = ctx.sizes.reps * 3
        singles = fixtures.to_new_records(fixtures.synth_records((seed, reps + 1)))
        t1 = repeat_each([partial(ledger.store.append, [r], sign_cp) for r in singles])[1:]
        row = Row(
            "5e",
            titles["5e"],
            "ms",
            ours=median(t1) * 1e3,
            n=len(t1),
            baseline_name="pymerkle append_entry (commit each)",
            target=Target("abs", "<", 5.0, "< 5 ms"),
            note=f"ours p90 {sorted(t1)[int(0.9 * (len(t1) - 1))] * 1e3:.1f} ms "
            "(fsync of WAL; one signed checkpoint per append)",
        )
        if pm_tree is not None:
            blobs1 = [rng.randbytes(BODY_LEN) for _ in range(reps + 1)]
            pt1 = repeat_each([partial(pm_tree.append_entry, b) for b in blobs1])[1:]
            row.baseline, row.n_base = median(pt1) * 1e3, len(pt1)
        else:
            row.unavailable = why
        yield row
    finally:
        ledger.close()
        if pm_tree is not None:
            pm_tree.close()
        fixtures.remove_ledger_copy(copy)
    big = fixtures.build_ledger(ctx, ctx.sizes.big, chain=True)
    info = big.info
    yield Row(
        "5f",
        f"building the {big.size:,}-record ledger: Store.append throughput",
        "rec/s",
        ours=info["append_rate"],
        n=1,
        higher_is_better=True,
        target=Target("abs", ">=", 10_000, ">= 10,000 rec/s"),
        note=(
            f"measured when the cached ledger was built: {info['synthetic']:,} records "
            f"in batches of {info['batch']:,}, dedupe=False, "
            f"{info['append_seconds']:.0f} s in Store.append, "
            f"whole build {info['build_seconds']:.0f} s (records pre-signed in a "
            f"second process meanwhile), library at {info.get('revision', '?')}"
        ),
    )
    yield _at_big(ctx, big)


def _at_big(ctx: Ctx, big: fixtures.BenchLedger) -> Row:
    """Store.append into a copy of the big ledger, records signed beforehand (5f's build
    signs them in a second process meanwhile, which takes one of the two cores)."""
    batch = _batches(ctx)[2]
    raws = [fixtures.synth_records((7 * 10**9 + i, batch)) for i in range(ctx.sizes.slow_reps)]
    copy = fixtures.copy_ledger(ctx, big, "row5g")
    try:
        with copy.open() as ledger:
            sign_cp = fixtures.checkpoint_signer(ledger)
            recs = [fixtures.to_new_records(r) for r in raws]
            times = repeat_each(
                [partial(ledger.store.append, r, sign_cp, dedupe=False) for r in recs]
            )
    finally:
        fixtures.remove_ledger_copy(copy)
    return Row(
        "5g",
        f"append at {big.size:,} records, batches of {batch:,}",
        "rec/s",
        ours=batch / median(times),
        n=len(times),
        higher_is_better=True,
        target=Target("abs", ">=", 10_000, ">= 10,000 rec/s"),
        note="pre-signed records, dedupe=False (as 5f); a copy of the cached big ledger",
    )
