"""Rows 1 and 2: signing one photograph end to end, and bulk signing with workers.

Row 1 signs one new 12 MP JPEG per iteration with ``Ledger.sign`` into an existing SQLite
ledger (synchronous=FULL, one append transaction and checkpoint per call). Each iteration
gets a new file: the same JPEG with a distinct COM segment (new bytes and SHA-256, the same
pixels and decode cost, progressive stays progressive). Baselines on the same files in the
same process: the naive pipeline (full ``Image.open().load()`` + ``imagehash.phash`` +
SHA-256 of the file + an Ed25519 signature with ``cryptography``; no pixel hash, no log),
and c2pa-python signing with defaults (thumbnail on) and with the thumbnail off.

Row 2 runs ``provenance sign DIR --workers N`` as a whole process on distinct JPEGs (random
crops of corpus photographs with a few random pixels, re-encoded), and measures the peak
RSS of the process tree (psutil sampling) for a small and a large folder.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from benchmarks import fixtures
from benchmarks.c2pa_baseline import C2pa
from benchmarks.common import (
    Ctx,
    ProcResult,
    Row,
    Target,
    check_process,
    median,
    mib,
    provenance_cmd,
    repeat,
    repeat_each,
    run_process,
)

IMAGES = {"base": "12.0 MP baseline JPEG", "prog": "13.4 MP progressive JPEG"}
STAGES = ("read", "sha256", "pixels", "phash", "digests", "sign", "append")
STAGE_TITLES = {
    "read": "read the file",
    "sha256": "SHA-256 of the file",
    "pixels": "full decode + pixel hash",
    "phash": "draft() decode + pHash-64/256",
    "digests": "digest_bytes (pixels || phash, 2 threads)",
    "sign": "statement + Ed25519 sign + record",
    "append": "durable append + checkpoint (1 record)",
}

ROWS: list[tuple[str, str]] = []
for _img, _desc in IMAGES.items():
    ROWS += [
        (f"1a.{_img}", f"sign {_desc}, end to end + durable append"),
        (f"1b.{_img}", f"sign {_desc}, end to end + durable append"),
        (f"1c.{_img}", f"sign {_desc}, end to end + durable append"),
    ]
    ROWS += [(f"1s.{_img}.{s}", f"  stage: {STAGE_TITLES[s]}") for s in STAGES]
ROWS += [
    ("2a", "provenance sign DIR, 12 MP JPEGs: --workers 2"),
    ("2b", "provenance sign DIR, 12 MP JPEGs: --workers 1"),
    ("2c", "peak RSS, sign DIR --workers 2, many images"),
]


def _variants(ctx: Ctx, src: Path, count: int, label: str) -> list[Path]:
    """``count`` copies of ``src`` with distinct COM segments (distinct SHA-256)."""
    out = ctx.scratch(f"variants-{label}")
    data = src.read_bytes()
    paths = []
    for i in range(count):
        p = out / f"{label}-{i:03d}.jpg"
        p.write_bytes(fixtures.add_comment(data, f"provenance-bench {uuid.uuid4()} {i}"))
        paths.append(p)
    return paths


def naive_pipeline() -> Callable[[Path], tuple[str, str, bytes]]:
    """What a user would write: full decode, imagehash.phash, SHA-256, Ed25519."""
    import imagehash
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from PIL import Image

    key = ed25519.Ed25519PrivateKey.generate()

    def sign(path: Path) -> tuple[str, str, bytes]:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with Image.open(path) as img:
            img.load()
            phash = str(imagehash.phash(img))
        return digest, phash, key.sign(f"{digest} {phash}".encode())

    return sign


def _row1(ctx: Ctx, c2pa: C2pa, existing: fixtures.BenchLedger, img: str,
          src: Path) -> list[Row]:
    from provenance.imaging import (
        digest_bytes,
        file_sha256,
        perceptual_hashes,
        pixel_digest,
    )
    from provenance.ledger import new_record
    from provenance.records import Statement, sign_statement

    reps = ctx.sizes.reps
    desc = IMAGES[img]
    rows: list[Row] = []
    copy = fixtures.copy_ledger(ctx, existing, f"row1-{img}")
    ledger = copy.open()
    try:
        key = fixtures.bench_key()
        # ours: Ledger.sign of one new image per iteration (1 warm-up)
        files = _variants(ctx, src, reps + 1, f"ours-{img}")

        def sign_one(p: Path) -> Callable[[], None]:
            def go() -> None:
                [res] = ledger.sign([p], key)
                if res.status != "signed":
                    raise RuntimeError(f"Ledger.sign: {res.status} {res.error}")
            return go

        ours = repeat_each([sign_one(p) for p in files])[1:]
        ours_ms = median(ours) * 1e3
        ctx.details[f"1.{img}.ours_ms"] = [t * 1e3 for t in ours]

        # naive baseline on the same kind of files
        naive = naive_pipeline()
        nfiles = _variants(ctx, src, reps + 1, f"naive-{img}")
        naive_t = repeat_each([partial(naive, p) for p in nfiles])[1:]
        naive_ms = median(naive_t) * 1e3
        rows.append(Row(f"1a.{img}", f"sign {desc}, end to end + durable append", "ms",
                        ours=ours_ms, n=len(ours), baseline=naive_ms, n_base=len(naive_t),
                        baseline_name="naive: load+phash+sha256+Ed25519",
                        target=Target("ratio", ">=", 4.0, ">= 4x faster")))

        # c2pa-python, defaults (thumbnail) and no thumbnail
        for key_, thumb, tgt in (("1b", True, Target("ratio", ">=", 5.0, ">= 5x faster")),
                                 ("1c", False, None)):
            name = "c2pa-python sign, defaults" if thumb else "c2pa-python sign, no thumbnail"
            row = Row(f"{key_}.{img}", f"sign {desc}, end to end + durable append", "ms",
                      ours=ours_ms, n=len(ours), baseline_name=name, target=tgt)
            if not c2pa.available:
                row.unavailable = c2pa.reason
            else:
                cfiles = _variants(ctx, src, reps + 1, f"c2pa-{img}-{thumb}")
                out = ctx.scratch("c2pa-out")
                sizes: list[int] = []

                def c2pa_sign(p: Path, thumb: bool = thumb, out: Path = out,
                              sizes: list[int] = sizes) -> None:
                    dest = out / p.name
                    c2pa.sign(p, dest, thumbnail=thumb)
                    sizes.append(dest.stat().st_size - p.stat().st_size)

                ct = repeat_each([partial(c2pa_sign, p) for p in cfiles])[1:]
                row.baseline, row.n_base = median(ct) * 1e3, len(ct)
                row.note = (f"c2pa {c2pa.version}: file grows by {median(sizes) / 1024:.1f} KiB "
                            f"per image (manifest{' + thumbnail' if thumb else ''})")
            rows.append(row)

        # per-stage breakdown on one file (each stage alone, same data)
        data = files[0].read_bytes()
        d = digest_bytes(data)
        stage_fns: dict[str, Callable[[], Any]] = {
            "read": lambda: files[0].read_bytes(),
            "sha256": lambda: file_sha256(data),
            "pixels": lambda: pixel_digest(data),
            "phash": lambda: perceptual_hashes(data),
            "digests": lambda: digest_bytes(data),
        }

        class _Signer:
            key_id = key.key_id

            @staticmethod
            def sign(message: bytes) -> bytes:
                return bytes(key.sign(message))

        def make_record(sha: str) -> Any:
            st = Statement(type="capture", time="2026-11-26T12:00:00Z",
                           asset=_asset(d, sha), claims={})
            return new_record(sign_statement(st, _Signer()))

        stage_fns["sign"] = lambda: make_record(d.sha256)
        stage_times = {s: repeat(fn, reps) for s, fn in stage_fns.items()}
        # appends need a new SHA-256 each time (else deduplicated): pre-build records
        sign_cp = fixtures.checkpoint_signer(ledger)
        recs = [make_record(hashlib.sha256(uuid.uuid4().bytes).hexdigest())
                for _ in range(reps + 1)]
        stage_times["append"] = repeat_each(
            [partial(ledger.store.append, [r], sign_cp) for r in recs])[1:]
        serial = 0.0
        for s in STAGES:
            t = median(stage_times[s]) * 1e3
            if s != "digests":
                serial += t
            rows.append(Row(f"1s.{img}.{s}", f"  stage: {STAGE_TITLES[s]}", "ms", ours=t,
                            n=len(stage_times[s])))
        rows[-1].note = (f"sum of stages run one after another {serial:.1f} ms; "
                         f"end to end {ours_ms:.1f} ms (Ledger.sign runs pixels and phash in "
                         "two threads, plus its own look-ups)")
        ctx.details[f"1.{img}.stages_ms"] = {s: median(v) * 1e3 for s, v in stage_times.items()}
    finally:
        ledger.close()
        fixtures.remove_ledger_copy(copy)
    return rows


def _asset(d: Any, sha: str) -> Any:
    from provenance.records import Asset

    return Asset(sha256=sha, pixels=d.pixels, phash64=d.phash64, phash256=d.phash256,
                 width=d.width, height=d.height, format=d.format)


def _sign_dir(ctx: Ctx, folder: Path, workers: int, *, rss: bool = False) -> ProcResult:
    led = fixtures.new_ledger(ctx, f"sign-w{workers}")
    cmd = [*provenance_cmd(), "--db", str(led.db), "sign", str(folder), "--key",
           str(led.key_file), "--workers", str(workers), "--json"]
    if rss:
        import sys

        cmd = [sys.executable, "-m", "benchmarks.child", "rusage", *cmd]
    res = run_process(cmd, sample_rss=rss)
    check_process(res, f"provenance sign --workers {workers}")
    statuses = [json.loads(line)["status"] for line in res.stdout.splitlines()
                if line.startswith("{")]
    expected = sum(1 for p in folder.iterdir() if p.suffix == ".jpg")
    if statuses.count("signed") != expected:
        raise RuntimeError(f"sign --workers {workers}: {statuses.count('signed')} of "
                           f"{expected} signed")
    fixtures.remove_ledger_copy(led)
    return res


def _row2(ctx: Ctx) -> list[Row]:
    n = ctx.sizes.sign_images
    size = (800, 600) if ctx.smoke else (4000, 3000)
    sources = fixtures.SMALL_SOURCES if ctx.smoke else (fixtures.KLEIBER, fixtures.DRAGONFLY)
    folder = fixtures.image_set(ctx, "sign", n, size, sources)
    mp = size[0] * size[1] / 1e6
    runs: dict[int, list[float]] = {1: [], 2: []}
    for w in (1, 2):
        runs[w].append(_sign_dir(ctx, folder, w).seconds)
    rate = {w: n / median(t) for w, t in runs.items()}
    ctx.details["2.sign_seconds"] = runs
    naive = naive_pipeline()
    files = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")
    naive_s = float(sum(repeat_each([partial(naive, p) for p in files])))
    rows = [
        Row("2a", f"provenance sign DIR, {n} x {mp:.1f} MP JPEGs: --workers 2", "img/s",
            ours=rate[2], n=len(runs[2]), baseline=rate[1], n_base=len(runs[1]),
            baseline_name="same, --workers 1", higher_is_better=True,
            target=Target("ratio", ">=", 1.8, ">= 1.8x of 1 worker"),
            note=f"whole process incl. start-up; {n} images; wall {median(runs[2]):.1f} s "
                 f"vs {median(runs[1]):.1f} s"),
        Row("2b", f"provenance sign DIR, {n} x {mp:.1f} MP JPEGs: --workers 1", "img/s",
            ours=rate[1], n=len(runs[1]), baseline=n / naive_s, n_base=1,
            baseline_name="naive pipeline, 1 process", higher_is_better=True),
    ]
    few, many = ctx.sizes.rss_images
    rsize = (640, 480) if ctx.smoke else (2560, 1600)
    big = fixtures.image_set(ctx, "rss", many, rsize, fixtures.SMALL_SOURCES)
    small = fixtures.subset_dir(ctx, big, few)
    try:
        import psutil  # noqa: F401
    except ImportError:
        rows.append(Row("2c", f"peak RSS, sign DIR --workers 2, {many} images", "MiB",
                        unavailable="psutil is not installed (pip install psutil)"))
        return rows
    r_few = _sign_dir(ctx, small, 2, rss=True)
    r_many = _sign_dir(ctx, big, 2, rss=True)
    ru = [json.loads(line)["children_maxrss_kib"] for line in r_many.stderr.splitlines()
          if "children_maxrss_kib" in line]
    rows.append(Row(
        "2c", f"peak RSS, sign DIR --workers 2, {many} x {rsize[0]}x{rsize[1]}", "MiB",
        ours=mib(r_many.peak_tree_rss), n=1, baseline=mib(r_few.peak_tree_rss), n_base=1,
        baseline_name=f"same, {few} images", growth=True,
        target=Target("ratio", "<=", 1.10, f"flat: {many}/{few} <= 1.10x"),
        note=(f"sum over the process tree, sampled every 20 ms; largest single process "
              f"{mib(r_many.peak_single_rss):.1f} MiB ({few} images: "
              f"{mib(r_few.peak_single_rss):.1f} MiB); RUSAGE_CHILDREN max "
              f"{(ru[-1] / 1024) if ru else float('nan'):.1f} MiB")))
    return rows


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    return ROWS


def run(ctx: Ctx) -> Iterator[Row]:
    pics = fixtures.photos(ctx)
    existing = fixtures.build_ledger(ctx, ctx.sizes.existing, chain=False)
    c2pa = C2pa(ctx.scratch("c2pa"), pics.baseline)
    if not c2pa.available:
        ctx.log(f"[row 1] c2pa baseline unavailable: {c2pa.reason}")
    for img, src in (("base", pics.baseline), ("prog", pics.progressive)):
        ctx.log(f"[row 1] sign one {IMAGES[img]} per iteration")
        yield from _row1(ctx, c2pa, existing, img, src)
    ctx.log("[row 2] provenance sign DIR --workers 1/2 and peak RSS")
    yield from _row2(ctx)
