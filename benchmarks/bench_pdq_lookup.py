"""Row 10: PDQ look-up and what PDQ adds to signing, in the suite's table.

The measurements are :mod:`benchmarks.bench_lookup`'s (also runnable alone:
``python -m benchmarks.bench_lookup``); this module only runs them at the suite's sizes
and turns each of its rows into a table row with a stable key:

* ``10a.<size>.t<threads>``: :meth:`provenance.index.PdqIndex.search`, the query's 8
  dihedral variants against ``size`` synthetic hashes, radius 52, one thread and all
  cores; ``10b.<size>``: the plain numpy scan it avoids (baseline, sizes up to 1M);
  ``10c.<size>``: pHash-64 search over as many records (comparison); ``10d.<size>``:
  loading the ``<db>.pdq.npz`` cache;
* ``10s.*``: on a 12 MP JPEG, the sign-side digests, the perceptual hashes with and
  without PDQ, and the query side's 8 variants.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from benchmarks.common import Ctx, Row, Target

SIGN_KEYS = ("10s.asset", "10s.nopdq", "10s.pdq", "10s.added", "10s.pdqhash", "10s.dihedral")


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1_000}k"


def _threads() -> tuple[int, int]:
    return 1, os.cpu_count() or 1


def _size_keys(n: int) -> list[str]:
    lab = _label(n)
    keys = [f"10a.{lab}.t{t}" for t in _threads()]
    if n <= 1_000_000:
        keys.append(f"10b.{lab}")
    return [*keys, f"10c.{lab}", f"10d.{lab}"]


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for n in ctx.sizes.pdq_lookup:
        lab = f"{n:,}"
        titles = [f"PDQ dihedral look-up, {lab} hashes, {t} thread(s)" for t in _threads()]
        if n <= 1_000_000:
            titles.append(f"plain numpy scan, 8 variants x 4 words, {lab} hashes")
        titles += [f"pHash-64 look-up, radius 12, {lab} hashes", f"load PDQ index cache, {lab}"]
        out += list(zip(_size_keys(n), titles, strict=True))
    out += list(
        zip(
            SIGN_KEYS,
            (
                "12 MP JPEG: ImageProbe.asset (every digest of set 2)",
                "12 MP JPEG: perceptual hashes without PDQ",
                "12 MP JPEG: perceptual hashes with PDQ",
                "12 MP JPEG: added by PDQ per signature",
                "12 MP JPEG: pdq_hash alone",
                "query side: PDQ of the 8 dihedral variants",
            ),
            strict=True,
        )
    )
    return out


def run(ctx: Ctx) -> Iterator[Row]:
    from benchmarks import bench_lookup

    titles = dict(declared(ctx))
    reps = 5 if ctx.smoke else 31
    for n in ctx.sizes.pdq_lookup:
        ctx.log(f"[row 10] PDQ look-up over {n:,} synthetic hashes")
        got = bench_lookup.lookup_rows([n], reps)
        keys = _size_keys(n)
        if len(got) != len(keys):
            raise RuntimeError(f"bench_lookup returned {len(got)} rows for {n:,}, not {len(keys)}")
        plain = next((r for r in got if r["row"].startswith("plain")), None)
        for key, r in zip(keys, got, strict=True):
            row = _row(key, titles[key], r)
            if key.startswith("10a.") and plain is not None:
                row.baseline, row.n_base = plain["median_ms"], plain["runs"]
                row.baseline_name = "plain numpy scan"
            if key.startswith("10a.") and n == 1_000_000:
                row.target = Target("abs", "<", 10.0, "< 10 ms")
            yield row
    ctx.log("[row 10] what PDQ costs a signature")
    got = bench_lookup.sign_cost_rows(ctx.corpus, reps)
    for key, r in zip(SIGN_KEYS, got, strict=True):
        yield _row(key, titles[key], r)


def _row(key: str, title: str, r: dict[str, Any]) -> Row:
    note = r["row"]
    if "matches" in r:
        note += f"; {r['matches']} match(es)"
    if "p95_ms" in r:
        note += f"; p95 {r['p95_ms']:.3f} ms"
    return Row(key, title, "ms", ours=float(r["median_ms"]), n=int(r.get("runs", 0)), note=note)
