"""Soft binding v2 (issue 13): PDQ lookup at 1M and 10M records, and what PDQ adds to signing.

Run from the repository root::

    python -m benchmarks.bench_lookup                 # 1M and 10M, about a minute
    python -m benchmarks.bench_lookup --sizes 1000000 --json out.json

Rows:

* **PDQ dihedral lookup** (:meth:`provenance.index.PdqIndex.search`): the query's 8
  variants against N synthetic hashes (uniformly random 256-bit values, with 100 records
  planted 20-60 bits from a variant so that the answer is not empty), radius 52; in one
  thread and split between the CPU's cores (the default from 65,536 records). The answer
  is checked against a plain scan once per size.
* **plain scan**: the same question answered by XOR + popcount of all four words of
  every record for each of the 8 variants (what the index avoids), at 1M only; it also
  checks the index's answer at every size.
* **pHash-64 lookup** (:meth:`provenance.index.PerceptualIndex.search`, radius 12), for
  comparison: 8 bytes per record, one query.
* **PDQ index cache**: loading ``<db>.pdq.npz`` for N records (a fresh process's cost).
* **sign cost of PDQ on a 12 MP JPEG**: the corpus's 4224 x 3168 photograph
  (``lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg``) resized to 4000 x 3000 and saved at
  quality 90; the whole digest set (:meth:`ImageProbe.asset`), and the perceptual hashes of
  its reduced greyscale image with and without PDQ (the difference is what PDQ adds to
  every signature); the query side's 8 variants (:meth:`ImageProbe.pdq_dihedral`).

Medians of repeated runs (the cyclic GC paused during each), milliseconds.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import find_corpus, median, repeat

DRAGONFLY = "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg"


def _ms(values: Sequence[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median_ms": round(median(ordered) * 1e3, 3),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1e3, 3),
        "runs": len(ordered),
    }


def _label(n: int) -> str:
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n:,}"


def synthetic_pdq(n: int, seed: int) -> tuple[Any, list[bytes]]:
    """(4, n) uint64 word columns of random hashes, 100 of them planted near the 8 query
    variants; and the variants."""
    from provenance.index import words_of

    rng = np.random.default_rng(seed)
    words = rng.integers(0, 2**63, size=(4, n), dtype=np.uint64) << np.uint64(1)
    words |= rng.integers(0, 2, size=(4, n), dtype=np.uint64)
    variants = [rng.integers(0, 256, 32, dtype=np.uint8).tobytes() for _ in range(8)]
    for j in rng.choice(n, size=min(100, n), replace=False):
        bits = np.unpackbits(np.frombuffer(variants[j % 8], dtype=np.uint8))
        bits[rng.choice(256, int(rng.integers(20, 61)), replace=False)] ^= 1
        words[:, j] = words_of([np.packbits(bits).tobytes()])[:, 0]
    return words, variants


def plain_scan(words: Any, variants: Sequence[bytes], radius: int) -> set[int]:
    """XOR + popcount of every word of every record for every variant (word columns, the
    fastest plain numpy form; summing an (n, 4) array along its rows is 8x slower)."""
    from provenance.index import words_of

    queries = words_of(list(variants)).T
    best = np.full(words.shape[1], 256, dtype=np.uint16)
    for q in queries:
        d = np.bitwise_count(words[0] ^ q[0]).astype(np.uint16)
        for w in range(1, 4):
            d += np.bitwise_count(words[w] ^ q[w])
        np.minimum(best, d, out=best)
    return set(np.flatnonzero(best <= radius).tolist())


def _search(index: Any, variants: Sequence[bytes], workers: int) -> Callable[[], Any]:
    return lambda: index.search(variants, 52, workers=workers)


def lookup_rows(sizes: Sequence[int], reps: int) -> list[dict[str, Any]]:
    from provenance.index import PdqIndex, PerceptualIndex

    rows: list[dict[str, Any]] = []
    for n in sizes:
        words, variants = synthetic_pdq(n, seed=n)
        index = PdqIndex(None)
        index.load_arrays(np.arange(n, dtype=np.int64), words, n)
        want = plain_scan(words, variants, 52)
        got = {c.idx for c in index.search(variants, 52)}
        if got != want:
            raise AssertionError(f"PdqIndex.search is not exact at {n:,} records")
        r = max(5, reps // (1 if n <= 1_000_000 else 3))
        for workers in (1, os.cpu_count() or 1):
            times = repeat(_search(index, variants, workers), r)
            rows.append(
                {
                    "row": f"PDQ dihedral lookup, 8 variants, radius 52, {_label(n)} records, "
                    f"{workers} thread(s)",
                    "records": n,
                    "threads": workers,
                    "matches": len(got),
                    **_ms(times),
                }
            )
        if n <= 1_000_000:
            times = repeat(partial(plain_scan, words, variants, 52), 5)
            rows.append(
                {
                    "row": f"plain numpy scan (8 variants x 4 words), {_label(n)} records",
                    "records": n,
                    **_ms(times),
                }
            )
        ph = PerceptualIndex(None)
        ph.load_arrays(np.arange(n, dtype=np.int64), words[0].copy(), n)
        q = int(np.int64(words[0, 7].view(np.int64)))
        times = repeat(partial(ph.search, q, 12), r)
        rows.append(
            {
                "row": f"pHash-64 lookup, radius 12, {_label(n)} records (comparison)",
                "records": n,
                **_ms(times),
            }
        )
        with tempfile.TemporaryDirectory() as tmp:
            cache = Path(tmp) / "x.db.pdq.npz"
            index.cache_path = cache
            index._save_cache()  # the benchmark times the cache itself
            fresh = PdqIndex(cache)
            times = repeat(fresh._load_cache, 3)
            rows.append(
                {
                    "row": f"load the PDQ index cache, {_label(n)} records "
                    f"({cache.stat().st_size / 2**20:.0f} MiB)",
                    "records": n,
                    **_ms(times),
                }
            )
        del words, index, ph
    return rows


def sign_cost_rows(corpus: Path, reps: int) -> list[dict[str, Any]]:
    from PIL import Image

    from provenance.imaging import ImageProbe
    from provenance.imaging.perceptual import hashes_of, orient, reduced_grey
    from provenance.pdq import pdq_dihedral, pdq_hash

    with Image.open(corpus / DRAGONFLY) as src:
        big = src.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    big.save(out, "JPEG", quality=90)
    data = out.getvalue()
    probe = ImageProbe(data)
    probe.asset()
    with Image.open(io.BytesIO(data)) as image:
        image.draft("RGB", (512, 512))
        image.load()
        grey = reduced_grey(orient(image), "bench")
    luma = np.asarray(grey)

    def timed(what: str, fn: Callable[[], Any], n: int) -> dict[str, Any]:
        return {"row": what, **_ms(repeat(fn, n))}

    without = timed(
        "perceptual hashes without PDQ (pHash-64 + pHash-256)",
        lambda: hashes_of(grey, with_pdq=False),
        reps,
    )
    with_pdq = timed("perceptual hashes with PDQ", lambda: hashes_of(grey, with_pdq=True), reps)
    return [
        timed(
            "sign-side digests of a 12 MP JPEG (ImageProbe.asset: SHA-256, content, "
            "pHash-64/256, PDQ)",
            lambda: ImageProbe(data).asset(),
            max(5, reps // 5),
        ),
        without,
        with_pdq,
        {
            "row": "added by PDQ per signature (difference of the two medians)",
            "median_ms": round(with_pdq["median_ms"] - without["median_ms"], 3),
        },
        timed(
            f"pdq_hash alone ({luma.shape[1]} x {luma.shape[0]} luma)", lambda: pdq_hash(luma), reps
        ),
        timed(
            "query side: the 8 dihedral variants (pdq_dihedral)", lambda: pdq_dihedral(luma), reps
        ),
    ]


def render(rows: Sequence[dict[str, Any]]) -> str:
    width = max(len(r["row"]) for r in rows)
    lines = [f"{'':<{width}}  {'median ms':>10}  {'p95 ms':>8}"]
    for r in rows:
        p95 = f"{r['p95_ms']:>8.3f}" if "p95_ms" in r else f"{'':>8}"
        lines.append(f"{r['row']:<{width}}  {r['median_ms']:>10.3f}  {p95}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_lookup",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument(
        "--sizes",
        default="1000000,10000000",
        help="comma-separated record counts (default 1M and 10M)",
    )
    parser.add_argument("--reps", type=int, default=31, help="runs per lookup row")
    parser.add_argument("--corpus", type=Path, help="the photo corpus (default: ../shared/corpus)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON")
    parser.add_argument("--no-sign", action="store_true", help="skip the sign-cost rows")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    started = time.perf_counter()
    rows = lookup_rows(sizes, args.reps)
    if not args.no_sign:
        rows += sign_cost_rows(args.corpus or find_corpus(), args.reps)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}, load {load}"
    )
    print(render(rows))
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "load": load}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
