"""Rows 3 and 4: verifying a downloaded copy against the big ledger.

Row 3: ``provenance verify IMG`` of an exact copy of the tip of a chain of depth 5, as a
whole process (wall time, median), on the big synthetic ledger (1M records), next to a
Python process that reads and validates a C2PA-signed copy of the same image with
c2pa-python (trusting the bench root). Also: the same verification in-process, with its
stages; process start-up (``provenance --version`` against a bare interpreter); the
``python -X importtime`` top offenders of ``verify``.

Row 4: a re-encoded, resized copy (found only by perceptual hash): PerceptualIndex.search
and Ledger.find's lookups (with the image's digests precomputed, so only lookup is timed)
at 1M records, the whole ``verify`` process, the index's first-open cost (built from the
database, then loaded from its ``<db>.phash.npz`` cache), and a search over 10M synthetic
hashes (``load_arrays``).
"""

from __future__ import annotations

import random
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from benchmarks import fixtures
from benchmarks.c2pa_baseline import C2pa
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

VERIFY_STAGES = ("open", "find", "phash", "evidence", "check")
STAGE_TITLES = {
    "open": "Ledger.open",
    "find": "Ledger.find (file SHA-256 lookup: exact hit)",
    "phash": "image digests for checks 6/7 (draft decode + pHash)",
    "evidence": "evidence: ancestry, key events, 7 inclusion proofs",
    "check": "check_chain (signatures, proofs, checkpoint)",
}


def declared(ctx: Ctx) -> list[tuple[str, str]]:
    big = f"{ctx.sizes.big:,}"
    syn = f"{ctx.sizes.synthetic_hashes:,}"
    return [
        ("3a", f"verify exact copy (chain depth 5, {big} records): process"),
        ("3b", "verify exact copy, in-process"),
        *[(f"3s.{s}", f"  stage: {STAGE_TITLES[s]}") for s in VERIFY_STAGES],
        ("3c", "process start-up: provenance --version"),
        ("3d", "python -X importtime: verify's imports"),
        ("4a", f"PerceptualIndex.search, {big} hashes"),
        ("4b", f"Ledger.find lookups, re-encoded copy, {big} records"),
        ("4c", f"verify re-encoded copy ({big} records): process"),
        ("4d", f"PerceptualIndex.search, {syn} synthetic hashes"),
        ("4e", f"perceptual index first open, {big} records: build + save"),
        ("4f", f"perceptual index open from cache, {big} records"),
        ("4g", f"verify {ctx.sizes.verify_images} re-encoded 12 MP copies in one process"),
    ]


def _importtime(
    cmd_args: list[str],
) -> tuple[float, list[tuple[str, float]], list[tuple[str, float]]]:
    """Total import ms, top-level packages by cumulative ms, modules by self ms."""
    code = (
        "import sys; from provenance.cli import main; "
        "sys.argv = ['provenance', *sys.argv[1:]]; main()"
    )
    res = run_process([sys.executable, "-X", "importtime", "-c", code, *cmd_args])
    top: list[tuple[str, float]] = []
    own: list[tuple[str, float]] = []
    for line in res.stderr.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        self_us, cum_us, name = int(parts[0]), int(parts[1]), parts[2]
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        own.append((name.strip(), self_us / 1e3))
        if depth == 0:
            top.append((name.strip(), cum_us / 1e3))
    total = sum(ms for _, ms in top)
    return total, sorted(top, key=lambda t: -t[1]), sorted(own, key=lambda t: -t[1])


def _row3(ctx: Ctx, big: fixtures.BenchLedger, pics: fixtures.Photos, c2pa: C2pa) -> Iterator[Row]:
    from provenance.imaging import ImageProbe
    from provenance.ledger import Ledger
    from provenance.matching import image_digests
    from provenance.verify import check_chain

    reps = ctx.sizes.process_reps
    work = ctx.scratch("verify")
    exact = work / "download.jpg"
    shutil.copyfile(pics.baseline, exact)
    cmd = [*provenance_cmd(), "--db", str(big.db), "verify", str(exact)]
    c2pa_file = work / "c2pa-signed.jpg"
    ccmd: list[str] = []
    if c2pa.available:
        c2pa.sign(pics.baseline, c2pa_file, thumbnail=True)
        ccmd = [
            sys.executable,
            "-m",
            "benchmarks.child",
            "c2pa-read",
            str(c2pa_file),
            str(c2pa.root_pem),
        ]
    runs, cruns = [], []
    cres = None
    for i in range(reps + 1):  # ours and the baseline take turns
        res = run_process(cmd)
        check_process(res, "provenance verify (exact copy)")
        if ccmd:
            cres = run_process(ccmd)
            check_process(cres, "c2pa read process")
        if i:
            runs.append(res.seconds)
            if cres is not None:
                cruns.append(cres.seconds)
    ours = median(runs) * 1e3
    row = Row(
        "3a",
        f"verify exact copy (chain depth 5, {big.size:,} records): process",
        "ms",
        ours=ours,
        n=len(runs),
        baseline_name="python + c2pa-python Reader, process",
        target=Target("ratio", ">=", 1 / 1.5, "<= 1.5x c2pa"),
    )
    if cres is not None:
        row.baseline, row.n_base = median(cruns) * 1e3, len(cruns)
        row.note = (
            f"ours: exit 0 (verified), {ours / row.baseline:.2f}x the c2pa process; "
            f"c2pa: {cres.stdout.strip()}"
        )
    else:
        row.unavailable = c2pa.reason
    yield row

    # in-process, with stages
    data = exact.read_bytes()
    ledger = Ledger.open(str(big.db))
    try:
        verifier = ledger.evidence()

        def verify_once() -> None:
            report, _ = verifier.verify_image(exact)
            if report.verdict != "verified":
                raise RuntimeError(f"verify: {report.verdict}")

        t_ours = repeat(verify_once, ctx.sizes.reps)
        row = Row(
            "3b",
            "verify exact copy, in-process (LocalEvidence.verify_image)",
            "ms",
            ours=median(t_ours) * 1e3,
            n=len(t_ours),
            baseline_name="c2pa-python Reader, in-process",
        )
        if c2pa.available:
            t_c = repeat(lambda: c2pa.read(c2pa_file), ctx.sizes.reps)
            row.baseline, row.n_base = median(t_c) * 1e3, len(t_c)
        else:
            row.unavailable = c2pa.reason
        yield row
        found = ledger.find(data)
        best = found.matches[0]
        asset = ledger.record(best.index)[1].statement.asset
        digests = image_digests(ImageProbe(data), asset, best.kind)
        evidence = verifier.evidence(best.index, match=best.kind, image=digests)
        fns: dict[str, Callable[[], Any]] = {
            "open": lambda: Ledger.open(str(big.db)).close(),
            "find": lambda: ledger.find(data),
            "phash": lambda: image_digests(ImageProbe(data), asset, best.kind),
            "evidence": lambda: verifier.evidence(best.index, match=best.kind, image=digests),
            "check": lambda: check_chain(evidence),
        }
        for s in VERIFY_STAGES:
            t = repeat(fns[s], ctx.sizes.reps)
            yield Row(
                f"3s.{s}", f"  stage: {STAGE_TITLES[s]}", "ms", ours=median(t) * 1e3, n=len(t)
            )
    finally:
        ledger.close()

    # start-up
    ver = [run_process([*provenance_cmd(), "--version"]).seconds for _ in range(reps + 1)][1:]
    bare = [run_process([sys.executable, "-c", "pass"]).seconds for _ in range(reps + 1)][1:]
    yield Row(
        "3c",
        "process start-up: provenance --version",
        "ms",
        ours=median(ver) * 1e3,
        n=len(ver),
        baseline=median(bare) * 1e3,
        n_base=len(bare),
        baseline_name="python -c pass",
    )
    total, top, own = _importtime(["--db", str(big.db), "verify", str(exact)])
    ctx.details["3.importtime_top_level_ms"] = top[:15]
    ctx.details["3.importtime_self_ms"] = own[:15]
    yield Row(
        "3d",
        "python -X importtime: verify's imports (sum, top level)",
        "ms",
        ours=total,
        n=1,
        note="top offenders (cumulative): "
        + ", ".join(f"{name} {ms:.0f} ms" for name, ms in top[:8])
        + "; by self time: "
        + ", ".join(f"{name} {ms:.0f}" for name, ms in own[:6]),
    )


def _row4(ctx: Ctx, big: fixtures.BenchLedger, pics: fixtures.Photos, c2pa: C2pa) -> Iterator[Row]:

    from provenance import imaging
    from provenance.imaging import ImageProbe
    from provenance.ledger import Ledger

    reps = ctx.sizes.reps
    data = pics.reencoded.read_bytes()
    q = imaging.phash64_to_int(ImageProbe(data).perceptual().phash64)

    # 4e/4f: first open (build from the database, write the cache), then from the cache
    cache = big.db.with_name(big.db.name + ".phash.npz")
    builds, loads = [], []
    for _ in range(ctx.sizes.slow_reps):
        cache.unlink(missing_ok=True)
        with Ledger.open(str(big.db)) as ledger:
            t0 = time.perf_counter()
            ledger.perceptual_index()
            builds.append(time.perf_counter() - t0)
        with Ledger.open(str(big.db)) as ledger:
            t0 = time.perf_counter()
            index = ledger.perceptual_index()
            loads.append(time.perf_counter() - t0)
    cache_mib = cache.stat().st_size / 2**20

    with Ledger.open(str(big.db)) as ledger:
        index = ledger.perceptual_index()
        n_idx = len(index)
        t_search = repeat(lambda: index.search(q, imaging.PHASH64_MAX_DISTANCE), reps * 5)
        hits = index.search(q, imaging.PHASH64_MAX_DISTANCE)
        # baseline: the plain-Python scan a user would write over the same values
        values = [
            v & (2**64 - 1) for batch in ledger.store.iter_perceptual("phash64") for _, v in batch
        ]
        qu = q & (2**64 - 1)

        def py_scan() -> list[int]:
            return [i for i, v in enumerate(values) if (v ^ qu).bit_count() <= 10]

        t_py = repeat(py_scan, ctx.sizes.slow_reps)
        yield Row(
            "4a",
            f"PerceptualIndex.search, {n_idx:,} hashes",
            "ms",
            ours=median(t_search) * 1e3,
            n=len(t_search),
            baseline=median(t_py) * 1e3,
            n_base=len(t_py),
            baseline_name="plain Python XOR+bit_count loop",
            target=Target("abs", "<", 10.0, "< 10 ms"),
            note=f"{len(hits)} candidate(s) within 10 bits",
        )
        values.clear()

        # 4b: Ledger.find with the image digests precomputed (the probe keeps them)
        probe = ImageProbe(data)
        found = ledger.find(probe)
        t_find = repeat(lambda: ledger.find(probe), reps * 3)
        kinds = {m.kind for m in found.matches}
        yield Row(
            "4b",
            f"Ledger.find look-ups, re-encoded copy, {big.size:,} records",
            "ms",
            ours=median(t_find) * 1e3,
            n=len(t_find),
            target=Target("abs", "<", 10.0, "< 10 ms"),
            note=(
                f"digests precomputed; SHA-256 miss + content miss + perceptual "
                f"stage (pHash-64 and PDQ indexes, confirmation, record ids); "
                f"{len(found.matches)} match(es), kinds {sorted(kinds)}"
            ),
        )

    # 4c: the whole verify process on the re-encoded copy (exit 5: similar)
    work = ctx.scratch("verify4")
    copy = work / "reposted.jpg"
    shutil.copyfile(pics.reencoded, copy)
    runs = []
    for i in range(ctx.sizes.process_reps + 1):
        res = run_process([*provenance_cmd(), "--db", str(big.db), "verify", str(copy)])
        check_process(res, "provenance verify (re-encoded copy)", ok=(5,))
        if i:
            runs.append(res.seconds)
    row = Row(
        "4c",
        f"verify re-encoded copy ({big.size:,} records): process",
        "ms",
        ours=median(runs) * 1e3,
        n=len(runs),
        baseline_name="python + c2pa-python Reader, process",
        note="ours: exit 5 (similar)",
    )
    if c2pa.available:
        # c2pa on a re-encoded copy of a signed image: the manifest is gone
        signed = work / "c2pa-signed.jpg"
        c2pa.sign(pics.baseline, signed, thumbnail=True)
        from PIL import Image

        with Image.open(signed) as im:
            im.resize((2000, 1500)).save(work / "c2pa-reposted.jpg", quality=75)
        cruns = []
        for i in range(ctx.sizes.process_reps + 1):
            res = run_process(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.child",
                    "c2pa-read",
                    str(work / "c2pa-reposted.jpg"),
                    str(c2pa.root_pem),
                ]
            )
            if i:
                cruns.append(res.seconds)
        row.baseline, row.n_base = median(cruns) * 1e3, len(cruns)
        err = (res.stderr.strip().splitlines() or ["?"])[-1]
        row.note += f"; c2pa exits {res.returncode}: {err[:90]}"
    else:
        row.unavailable = c2pa.reason
    yield row

    yield _row4d(ctx)
    yield Row(
        "4e",
        f"perceptual index first open, {big.size:,} records: build + save",
        "ms",
        ours=median(builds) * 1e3,
        n=len(builds),
        note=f"reads every pHash-64 row, writes <db>.phash.npz ({cache_mib:.1f} MiB)",
    )
    yield Row(
        "4f",
        f"perceptual index open from cache, {big.size:,} records",
        "ms",
        ours=median(loads) * 1e3,
        n=len(loads),
        note="np.load + a root check against the log",
    )
    yield _row4g(ctx, big, pics)


def _row4g(ctx: Ctx, big: fixtures.BenchLedger, pics: fixtures.Photos) -> Row:
    """Many re-encoded 12 MP copies verified by one ``verify --json`` process."""
    import json

    n = ctx.sizes.verify_images
    folder = fixtures.reencoded_copies(ctx, pics.baseline, n)
    files = sorted(str(p) for p in folder.iterdir() if p.suffix == ".jpg")
    base = [*provenance_cmd(), "--db", str(big.db), "verify", "--json"]
    many: list[float] = []
    one: list[float] = []
    for i in range(ctx.sizes.slow_reps + 1):  # the two kinds of run take turns
        res = run_process([*base, *files])
        check_process(res, "provenance verify (many re-encoded copies)", ok=(5,))
        verdicts = [
            json.loads(line).get("verdict")
            for line in res.stdout.splitlines()
            if line.startswith("{")
        ]
        if verdicts.count("similar") != n:
            raise RuntimeError(f"verify of {n} copies: verdicts {verdicts[:5]}...")
        r1 = run_process([*base, files[i % n]])
        check_process(r1, "provenance verify (one re-encoded copy)", ok=(5,))
        if i:
            many.append(res.seconds)
            one.append(r1.seconds)
    rate = n / median(many)
    marginal = (median(many) - median(one)) / max(1, n - 1)
    return Row(
        "4g",
        f"verify {n} re-encoded 12 MP copies in one process ({big.size:,} records)",
        "img/s",
        ours=rate,
        n=len(many),
        baseline=1 / median(one),
        n_base=len(one),
        baseline_name="one verify process per image",
        higher_is_better=True,
        target=Target("abs", ">=", 20.0, ">= 20 images/s"),
        note=(
            f"`verify --json` with {n} paths: wall {median(many):.2f} s incl. start-up "
            f"(one image: {median(one) * 1e3:.0f} ms); marginal "
            f"{marginal * 1e3:.1f} ms per image; every verdict similar (exit 5)"
        ),
    )


def _row4d(ctx: Ctx) -> Row:
    import numpy as np

    from provenance import imaging
    from provenance.index import PerceptualIndex

    n = ctx.sizes.synthetic_hashes
    rng = np.random.default_rng(4)
    syn = PerceptualIndex(None)
    syn.load_arrays(
        np.arange(n, dtype=np.int64), rng.integers(0, 2**64, size=n, dtype=np.uint64), n
    )
    it = iter([random.Random(i).getrandbits(63) for i in range(ctx.sizes.reps * 3 + 1)])
    t_syn = repeat(lambda: syn.search(next(it), imaging.PHASH64_MAX_DISTANCE), ctx.sizes.reps * 3)
    return Row(
        "4d",
        f"PerceptualIndex.search, {n:,} synthetic hashes",
        "ms",
        ours=median(t_syn) * 1e3,
        n=len(t_syn),
        note="numpy XOR + bitwise_count over uint64; grows linearly with the log",
    )


def run(ctx: Ctx) -> Iterator[Row]:
    pics = fixtures.photos(ctx)
    big = fixtures.build_ledger(ctx, ctx.sizes.big, chain=True)
    c2pa = C2pa(ctx.scratch("c2pa"), pics.baseline)
    ctx.log("[row 3] verify an exact copy")
    yield from _row3(ctx, big, pics, c2pa)
    ctx.log("[row 4] perceptual look-up")
    yield from _row4(ctx, big, pics, c2pa)
