"""Row 7: auditing the whole log (``provenance.audit.audit_log``).

Each audit runs in its own process (``python -m benchmarks.child audit DB``), which reports
its own peak RSS (VmHWM, reset when it starts: ``ru_maxrss`` survives exec and would report
the benchmark parent's size); psutil samples the process as a cross-check. The throughput
counts the audit only (not start-up).
The baseline is the floor of any audit that checks every signature: Ed25519 verification
alone (``cryptography``, one core) of the same records' statements, in this process.
A ``provenance log verify`` process on the smallest synthetic ledger checks end to end that
the synthetic ledgers pass the CLI's audit.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from typing import Any

from benchmarks import fixtures
from benchmarks.common import (
    Ctx,
    Row,
    Target,
    check_process,
    median,
    provenance_cmd,
    repeat,
    run_process,
)


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    small, large = ctx.sizes.audit
    return [
        ("7a", f"log verify (audit_log) throughput, {large:,} records"),
        ("7b", f"log verify (audit_log) throughput, {small:,} records"),
        ("7c", f"log verify peak RSS, {large:,} vs {small:,} records"),
        ("7e", f"log verify throughput, {small:,} records: --workers 2 vs 0"),
        ("7d", f"provenance log verify process, {ctx.sizes.curve[0]:,}-record ledger"),
    ]


def _audit(ledger: fixtures.BenchLedger, workers: int = 1) -> dict[str, Any]:
    res = run_process(
        [sys.executable, "-m", "benchmarks.child", "audit", str(ledger.db), str(workers)],
        sample_rss=_has_psutil(),
    )
    check_process(res, f"audit of {ledger.size:,} records")
    out: dict[str, Any] = json.loads(res.stdout.strip().splitlines()[-1])
    out["sampled_peak_rss_kib"] = res.peak_tree_rss // 1024
    if not out["ok"]:
        raise RuntimeError(f"the synthetic ledger does not audit clean: {out['problem']}")
    return out


def _has_psutil() -> bool:
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


def _verify_floor(ledger: fixtures.BenchLedger, n: int) -> float:
    """Records/s of Ed25519 verification alone over ``n`` of the ledger's records."""
    from provenance.keys import PublicKey

    key = fixtures.bench_key().public
    pub = PublicKey.from_raw(key.raw)
    items = []
    with ledger.open() as led:
        for rec in led.store.iter_records(start=1, stop=1 + n):
            body = rec.body
            sig_b64 = body[8 : body.index(b'"', 8)]
            stmt = body[body.index(b'"statement":') + 12 : -1]
            items.append((base64.b64decode(sig_b64), stmt))

    def verify_all() -> None:
        for sig, msg in items:
            if not pub.verify(sig, msg):
                raise RuntimeError("signature does not verify")

    t = repeat(verify_all, 3, warmup=0)
    return len(items) / median(t)


def run(ctx: Ctx) -> Iterator[Row]:
    small_n, large_n = ctx.sizes.audit
    ledgers = {
        n: fixtures.build_ledger(ctx, n, chain=n == ctx.sizes.big) for n in (small_n, large_n)
    }
    ctx.log(f"[row 7] audit_log of {small_n:,} and {large_n:,} records (one process each)")
    results = {n: _audit(ledgers[n]) for n in (small_n, large_n)}
    ctx.details["7.audit"] = results
    floor = _verify_floor(ledgers[small_n], min(20_000, small_n - 1))
    for key, n in (("7a", large_n), ("7b", small_n)):
        r = results[n]
        yield Row(
            key,
            f"log verify (audit_log) throughput, {n:,} records",
            "rec/s",
            ours=r["records"] / r["seconds"],
            n=1,
            baseline=floor,
            n_base=3,
            baseline_name="Ed25519 verify alone (1 core)",
            higher_is_better=True,
            target=Target("abs", ">=", 10_000, ">= 10,000 rec/s"),
            note=(
                f"{r['seconds']:.1f} s for {r['records']:,} records, --workers 1 "
                "(the CLI default: signatures in one more process); result ok"
            ),
        )
    big, small = results[large_n], results[small_n]
    yield Row(
        "7c",
        f"log verify peak RSS, {large_n:,} records",
        "MiB",
        ours=big["peak_rss_kib"] / 1024,
        n=1,
        baseline=small["peak_rss_kib"] / 1024,
        n_base=1,
        baseline_name=f"same, {small_n:,} records",
        growth=True,
        target=Target("ratio", "<=", 1.10, "constant: <= 1.10x"),
        note=(
            "peak RSS (VmHWM) of the whole audit process, imports included; "
            f"psutil sampling: {big['sampled_peak_rss_kib'] / 1024:.1f} vs "
            f"{small['sampled_peak_rss_kib'] / 1024:.1f} MiB"
        ),
    )
    by_workers = {w: _audit(ledgers[small_n], w) for w in (0, 2)}
    ctx.details["7.audit_workers"] = by_workers
    rate = {w: r["records"] / r["seconds"] for w, r in by_workers.items()}
    yield Row(
        "7e",
        f"log verify throughput, {small_n:,} records: --workers 2",
        "rec/s",
        ours=rate[2],
        n=1,
        baseline=rate[0],
        n_base=1,
        baseline_name="same, --workers 0 (all in one process)",
        higher_is_better=True,
        note=(
            f"peak RSS of the tree {by_workers[2]['sampled_peak_rss_kib'] / 1024:.0f} "
            f"MiB vs {by_workers[0]['sampled_peak_rss_kib'] / 1024:.0f} MiB"
        ),
    )
    tiny = fixtures.build_ledger(ctx, ctx.sizes.curve[0], chain=False)
    res = run_process([*provenance_cmd(), "--db", str(tiny.db), "log", "verify"])
    check_process(res, "provenance log verify")
    yield Row(
        "7d",
        f"provenance log verify process, {tiny.size:,}-record ledger",
        "ms",
        ours=res.seconds * 1e3,
        n=1,
        note=f"exit 0: {res.stdout.strip().splitlines()[-1][:100]}",
    )
