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

import dataclasses
import hashlib
import io
import json
import time
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
STAGES = ("read", "sha256", "walk", "content", "draft", "hashes", "asset", "sign", "append")
STAGE_TITLES = {
    "read": "read the file",
    "sha256": "SHA-256 of the file",
    "walk": "JPEG segment walk (bounds, display tokens)",
    "content": "content digest: data segments + tokens (no decode)",
    "draft": "draft() decode alone (the floor)",
    "hashes": "reduce + pHash-64/256 + PDQ of the draft decode",
    "asset": "ImageProbe.asset(): every digest of set 2",
    "sign": "statement + Ed25519 sign + record",
    "append": "durable append + checkpoint (1 record)",
}
# per image: (naive target, floor target)
TARGETS = {"base": (3.5, 1.3), "prog": (1.5, 1.3)}

ROWS: list[tuple[str, str]] = []
for _img, _desc in IMAGES.items():
    ROWS += [
        (f"1a.{_img}", f"sign {_desc}, end to end + durable append"),
        (f"1b.{_img}", f"sign {_desc}, end to end + durable append"),
        (f"1c.{_img}", f"sign {_desc}, end to end + durable append"),
        (f"1d.{_img}", f"sign {_desc}, end to end + durable append"),
    ]
    ROWS += [(f"1s.{_img}.{s}", f"  stage: {STAGE_TITLES[s]}") for s in STAGES]
ROWS += [
    ("2a", "provenance sign DIR, 12 MP JPEGs: --workers 2"),
    ("2b", "provenance sign DIR, 12 MP JPEGs: --workers 1"),
    ("2c", "peak RSS, sign DIR --workers 2, many images"),
    ("2d", "marginal cost per photo of `provenance sign FOLDER`, corpus 3-16 MP JPEGs"),
]


_SALT = uuid.uuid4().int % 30_000  # variants differ from one run to the next


def _variants(ctx: Ctx, src: Path, count: int, label: str) -> list[Path]:
    """``count`` copies of ``src`` with distinct quantisation tables (distinct SHA-256 and
    content digests, same decode cost)."""
    out = ctx.scratch(f"variants-{label}")
    data = src.read_bytes()
    paths = []
    for i in range(count):
        p = out / f"{label}-{i:03d}.jpg"
        p.write_bytes(fixtures.vary_content(data, _SALT + i))
        paths.append(p)
    return paths


def naive_pipeline() -> Callable[[Path], tuple[str, str, str, bytes]]:
    """What a user would write: full decode, SHA-256 of the pixels, imagehash.phash,
    SHA-256 of the file, Ed25519 (no log)."""
    import imagehash
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from PIL import Image

    key = ed25519.Ed25519PrivateKey.generate()

    def sign(path: Path) -> tuple[str, str, str, bytes]:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        with Image.open(path) as img:
            img.load()
            pixels = hashlib.sha256(img.tobytes()).hexdigest()
            phash = str(imagehash.phash(img))
        return digest, pixels, phash, key.sign(f"{digest} {pixels} {phash}".encode())

    return sign


def draft_decode(data: bytes) -> None:
    """The floor of any JPEG perceptual hash: Pillow's ``draft()`` decode as the perceptual
    path asks for it (DCT scaling to a short side >= 512 px), nothing else."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (512, 512))
        img.load()


def _row1(ctx: Ctx, c2pa: C2pa, existing: fixtures.BenchLedger, img: str, src: Path) -> list[Row]:
    from provenance.imaging import ImageProbe, file_sha256
    from provenance.imaging.jpeg import content_digest, walk
    from provenance.imaging.opening import resolve_max_pixels
    from provenance.imaging.perceptual import hashes_of, orient, reduced_grey
    from provenance.receipts import new_record
    from provenance.records import Statement, sign_statement

    reps = ctx.sizes.reps
    desc = IMAGES[img]
    naive_target, floor_target = TARGETS[img]
    rows: list[Row] = []
    copy = fixtures.copy_ledger(ctx, existing, f"row1-{img}")
    ledger = copy.open()
    try:
        key = fixtures.bench_key()
        # One new file per iteration for each contender (1 warm-up); the contenders take
        # turns within each iteration, so a change in machine load hits them alike.
        files = _variants(ctx, src, reps + 1, f"ours-{img}")
        nfiles = _variants(ctx, src, reps + 1, f"naive-{img}")
        naive = naive_pipeline()
        data0 = src.read_bytes()
        thumbs = (True, False) if c2pa.available else ()
        cfiles = {t: _variants(ctx, src, reps + 1, f"c2pa-{img}-{t}") for t in thumbs}
        out = ctx.scratch(f"c2pa-out-{img}")
        c2pa_sizes: dict[bool, list[int]] = {t: [] for t in thumbs}

        def sign_one(p: Path) -> None:
            [res] = ledger.sign([p], key)
            if res.status != "signed":
                raise RuntimeError(f"Ledger.sign: {res.status} {res.error}")

        def c2pa_sign(p: Path, thumb: bool) -> None:
            dest = out / p.name
            c2pa.sign(p, dest, thumbnail=thumb)
            c2pa_sizes[thumb].append(dest.stat().st_size - p.stat().st_size)

        times: dict[str, list[float]] = {
            "ours": [],
            "naive": [],
            "draft": [],
            **{f"c2pa-{t}": [] for t in thumbs},
        }
        for i in range(reps + 1):
            turn: dict[str, Callable[[], Any]] = {
                "ours": partial(sign_one, files[i]),
                "naive": partial(naive, nfiles[i]),
                "draft": partial(draft_decode, data0),
                **{f"c2pa-{t}": partial(c2pa_sign, cfiles[t][i], t) for t in thumbs},
            }
            for name, fn in turn.items():
                [t] = repeat_each([fn])
                if i:  # the first iteration is the warm-up
                    times[name].append(t)
        ours_ms = median(times["ours"]) * 1e3
        ctx.details[f"1.{img}.ms"] = {k: [t * 1e3 for t in v] for k, v in times.items()}
        rows.append(
            Row(
                f"1a.{img}",
                f"sign {desc}, end to end + durable append",
                "ms",
                ours=ours_ms,
                n=len(times["ours"]),
                baseline=median(times["naive"]) * 1e3,
                n_base=len(times["naive"]),
                baseline_name="naive: load+sha256(pixels)+phash+sha256+Ed25519",
                target=Target("ratio", ">=", naive_target, f">= {naive_target}x faster"),
            )
        )
        for key_, thumb, tgt in (
            ("1b", True, Target("ratio", ">=", 5.0, ">= 5x faster")),
            ("1c", False, None),
        ):
            name = "c2pa-python sign, defaults" if thumb else "c2pa-python sign, no thumbnail"
            row = Row(
                f"{key_}.{img}",
                f"sign {desc}, end to end + durable append",
                "ms",
                ours=ours_ms,
                n=len(times["ours"]),
                baseline_name=name,
                target=tgt if img == "base" else None,
            )
            if not c2pa.available:
                row.unavailable = c2pa.reason
            else:
                ct = times[f"c2pa-{thumb}"]
                row.baseline, row.n_base = median(ct) * 1e3, len(ct)
                row.note = (
                    f"c2pa {c2pa.version}: file grows by "
                    f"{median(c2pa_sizes[thumb]) / 1024:.1f} KiB per image "
                    f"(manifest{' + thumbnail' if thumb else ''})"
                )
            rows.append(row)
        draft_ms = median(times["draft"]) * 1e3
        rows.append(
            Row(
                f"1d.{img}",
                f"sign {desc}, end to end + durable append",
                "ms",
                ours=ours_ms,
                n=len(times["ours"]),
                baseline=draft_ms,
                n_base=len(times["draft"]),
                baseline_name="floor: draft() decode alone",
                target=Target("ratio", ">=", 1 / floor_target, f"<= {floor_target}x the floor"),
                note=f"ours / floor = {ours_ms / draft_ms:.2f}x",
            )
        )

        # per-stage breakdown on one file (each stage alone, same data)
        data = files[0].read_bytes()
        limit = resolve_max_pixels(None)
        info = walk(data, "bench", limit)
        probe = ImageProbe(data)
        d = probe.asset()

        def hashes() -> Any:
            from PIL import Image

            with Image.open(io.BytesIO(data)) as im:
                im.draft("RGB", (512, 512))
                im.load()
                grey = reduced_grey(orient(im), "bench")
            t0 = time.perf_counter()
            hashes_of(grey, with_pdq=True)
            return time.perf_counter() - t0

        stage_fns: dict[str, Callable[[], Any]] = {
            "read": lambda: files[0].read_bytes(),
            "sha256": lambda: file_sha256(data),
            "walk": lambda: walk(data, "bench", limit),
            "content": lambda: content_digest(data, info),
            "draft": lambda: draft_decode(data),
            "asset": lambda: ImageProbe(data).asset(),
        }

        class _Signer:
            key_id = key.key_id

            @staticmethod
            def sign(message: bytes) -> bytes:
                return bytes(key.sign(message))

        def make_record(sha: str) -> Any:
            st = Statement(
                type="capture",
                time="2026-11-26T12:00:00Z",
                asset=dataclasses.replace(d, sha256=sha),
                claims={},
            )
            return new_record(sign_statement(st, _Signer()))

        stage_fns["sign"] = lambda: make_record(d.sha256)
        stage_times = {s: repeat(fn, reps) for s, fn in stage_fns.items()}
        # the hash stage alone (after a draft decode that is not timed)
        stage_times["hashes"] = [hashes() for _ in range(reps + 1)][1:]
        # appends need a new SHA-256 each time (else deduplicated): pre-build records
        sign_cp = fixtures.checkpoint_signer(ledger)
        recs = [
            make_record(hashlib.sha256(uuid.uuid4().bytes).hexdigest()) for _ in range(reps + 1)
        ]
        stage_times["append"] = repeat_each(
            [partial(ledger.store.append, [r], sign_cp) for r in recs]
        )[1:]
        serial = 0.0
        for s in STAGES:
            t = median(stage_times[s]) * 1e3
            if s in ("read", "sha256", "asset", "sign", "append"):
                serial += t
            rows.append(
                Row(
                    f"1s.{img}.{s}",
                    f"  stage: {STAGE_TITLES[s]}",
                    "ms",
                    ours=t,
                    n=len(stage_times[s]),
                )
            )
        rows[-1].note = (
            f"read + sha256 + asset + sign + append = {serial:.1f} ms; "
            f"end to end {ours_ms:.1f} ms (Ledger.sign also looks up the file "
            "digest and scans for Content Credentials)"
        )
        ctx.details[f"1.{img}.stages_ms"] = {s: median(v) * 1e3 for s, v in stage_times.items()}
    finally:
        ledger.close()
        fixtures.remove_ledger_copy(copy)
    return rows


def _bound(parent: float, workers: float) -> float:
    """The speed-up over one process that 2 cores allow when the parent's share of the CPU
    per image is ``parent`` and the workers' ``workers`` (both overlap; the busier side or
    the total over two cores sets the pace)."""
    one = parent + workers  # --workers 1 does everything in one process
    two = max(parent, one / 2)
    return one / two if two else 0.0


def _sign_dir(
    ctx: Ctx, folder: Path, workers: int, *, rss: bool = False, cpu: bool = False
) -> ProcResult:
    led = fixtures.new_ledger(ctx, f"sign-w{workers}")
    cmd = [
        *provenance_cmd(),
        "--db",
        str(led.db),
        "sign",
        str(folder),
        "--key",
        str(led.key_file),
        "--workers",
        str(workers),
        "--json",
    ]
    if rss:
        import sys

        cmd = [sys.executable, "-m", "benchmarks.child", "rusage", *cmd]
    res = run_process(cmd, sample_rss=rss or cpu)
    check_process(res, f"provenance sign --workers {workers}")
    statuses = [
        json.loads(line)["status"] for line in res.stdout.splitlines() if line.startswith("{")
    ]
    expected = sum(1 for p in folder.iterdir() if p.suffix == ".jpg")
    if statuses.count("signed") != expected:
        raise RuntimeError(
            f"sign --workers {workers}: {statuses.count('signed')} of {expected} signed"
        )
    fixtures.remove_ledger_copy(led)
    return res


def _row2(ctx: Ctx) -> list[Row]:
    n = ctx.sizes.sign_images
    size = (800, 600) if ctx.smoke else (4000, 3000)
    sources = fixtures.SMALL_SOURCES if ctx.smoke else (fixtures.KLEIBER, fixtures.DRAGONFLY)
    folder = fixtures.image_set(ctx, "sign", n, size, sources)
    mp = size[0] * size[1] / 1e6
    runs: dict[int, list[float]] = {1: [], 2: []}
    cpu_parent: list[float] = []
    cpu_workers: list[float] = []
    for _ in range(ctx.sizes.slow_reps):  # the two take turns
        for w in (1, 2):
            res = _sign_dir(ctx, folder, w, cpu=w == 2)
            runs[w].append(res.seconds)
            if w == 2:
                cpu_parent.append(res.cpu_root / n)
                cpu_workers.append(res.cpu_children / n)
    rate = {w: n / median(t) for w, t in runs.items()}
    ctx.details["2.sign_seconds"] = runs
    naive = naive_pipeline()
    files = sorted(p for p in folder.iterdir() if p.suffix == ".jpg")
    naive_s = float(sum(repeat_each([partial(naive, p) for p in files])))
    rows = [
        Row(
            "2a",
            f"provenance sign DIR, {n} x {mp:.1f} MP JPEGs: --workers 2",
            "img/s",
            ours=rate[2],
            n=len(runs[2]),
            baseline=rate[1],
            n_base=len(runs[1]),
            baseline_name="same, --workers 1",
            higher_is_better=True,
            target=Target("ratio", ">=", 1.8, ">= 1.8x of 1 worker"),
            note=(
                f"whole process incl. start-up; {n} images; wall {median(runs[2]):.1f} s vs "
                f"{median(runs[1]):.1f} s; --workers 2 CPU per image: parent "
                f"{median(cpu_parent) * 1e3:.1f} ms, workers {median(cpu_workers) * 1e3:.1f} "
                f"ms (2 cores bound the speed-up at "
                f"{_bound(median(cpu_parent), median(cpu_workers)):.2f}x)"
            ),
        ),
        Row(
            "2b",
            f"provenance sign DIR, {n} x {mp:.1f} MP JPEGs: --workers 1",
            "img/s",
            ours=rate[1],
            n=len(runs[1]),
            baseline=n / naive_s,
            n_base=1,
            baseline_name="naive pipeline, 1 process",
            higher_is_better=True,
        ),
    ]
    few, many = ctx.sizes.rss_images
    rsize = (640, 480) if ctx.smoke else (2560, 1600)
    big = fixtures.image_set(ctx, "rss", many, rsize, fixtures.SMALL_SOURCES)
    small = fixtures.subset_dir(ctx, big, few)
    try:
        import psutil  # noqa: F401
    except ImportError:
        rows.append(
            Row(
                "2c",
                f"peak RSS, sign DIR --workers 2, {many} images",
                "MiB",
                unavailable="psutil is not installed (pip install psutil)",
            )
        )
        return rows
    r_few = _sign_dir(ctx, small, 2, rss=True)
    r_many = _sign_dir(ctx, big, 2, rss=True)
    ru = [
        json.loads(line)["children_maxrss_kib"]
        for line in r_many.stderr.splitlines()
        if "children_maxrss_kib" in line
    ]
    rows.append(
        Row(
            "2c",
            f"peak RSS, sign DIR --workers 2, {many} x {rsize[0]}x{rsize[1]}",
            "MiB",
            ours=mib(r_many.peak_tree_rss),
            n=1,
            baseline=mib(r_few.peak_tree_rss),
            n_base=1,
            baseline_name=f"same, {few} images",
            growth=True,
            target=Target("ratio", "<=", 1.10, f"flat: {many}/{few} <= 1.10x"),
            note=(
                f"sum over the process tree, sampled every 20 ms; largest single process "
                f"{mib(r_many.peak_single_rss):.1f} MiB ({few} images: "
                f"{mib(r_few.peak_single_rss):.1f} MiB); RUSAGE_CHILDREN max "
                f"{(ru[-1] / 1024) if ru else float('nan'):.1f} MiB"
            ),
        )
    )
    return rows


def corpus_photos(ctx: Ctx, low_mp: float = 3.0, high_mp: float = 16.0) -> list[Path]:
    """The corpus JPEGs of ``low_mp`` to ``high_mp`` megapixels (from MANIFEST.tsv)."""
    out = []
    lines = (ctx.corpus / "MANIFEST.tsv").read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    for line in lines[1:]:
        f = dict(zip(head, line.split("\t"), strict=False))
        if f.get("format") != "JPEG":
            continue
        mp = int(f["width"]) * int(f["height"]) / 1e6
        if low_mp <= mp <= high_mp:
            out.append(ctx.corpus / f["file"])
    return out


def _row2d(ctx: Ctx) -> Row:
    """The held-out check: (T(many) - T(few)) / (many - few) for ``provenance sign FOLDER``
    and for the naive script as a process, on distinct variants of the corpus photos."""
    import sys

    photos = corpus_photos(ctx)
    copies = (1, 2) if ctx.smoke else (1, 4)
    folders = {}
    for c in copies:
        folder = ctx.scratch(f"marginal-{c}")
        for p in photos:
            data = p.read_bytes()
            for j in range(c):
                (folder / f"{p.stem}-{j}.jpg").write_bytes(fixtures.vary_content(data, j))
        folders[c] = folder
    times: dict[tuple[str, int], list[float]] = {}
    for rep in range(ctx.sizes.process_reps + 1):
        for c in copies:
            res = _sign_dir(ctx, folders[c], 1)
            nres = run_process([sys.executable, "-m", "benchmarks.child", "naive", str(folders[c])])
            check_process(nres, "naive signing script")
            if rep:
                times.setdefault(("ours", c), []).append(res.seconds)
                times.setdefault(("naive", c), []).append(nres.seconds)
    extra = (copies[1] - copies[0]) * len(photos)

    def marginal(who: str) -> float:
        return (median(times[(who, copies[1])]) - median(times[(who, copies[0])])) / extra

    ours, naive = marginal("ours"), marginal("naive")
    mps = sorted(round(_megapixels(p), 1) for p in photos)
    ctx.details["2d.seconds"] = {f"{k[0]}-{k[1]}": v for k, v in times.items()}
    return Row(
        "2d",
        f"marginal cost per photo of `provenance sign FOLDER`, {len(photos)} corpus 3-16 MP JPEGs",
        "ms",
        ours=ours * 1e3,
        n=ctx.sizes.process_reps,
        baseline=naive * 1e3,
        n_base=ctx.sizes.process_reps,
        baseline_name="naive script as a process",
        note=(
            f"(T({copies[1] * len(photos)} photos) - T({copies[0] * len(photos)})) / "
            f"{extra}, whole processes, --workers 1; photos of {mps} MP, each copy "
            "with its own quantisation tables (new bytes and content digest)"
        ),
    )


def _megapixels(path: Path) -> float:
    from PIL import Image

    with Image.open(path) as im:
        return float(im.width * im.height) / 1e6


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
    ctx.log("[row 2d] marginal cost per photo of provenance sign FOLDER vs a naive script")
    yield _row2d(ctx)
