"""The list of benchmark modules, the rows each declares, and the runner."""

from __future__ import annotations

import importlib
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Protocol, cast

from benchmarks.common import (
    CACHE_ENV,
    DEFAULT_CACHE,
    FULL,
    SMOKE,
    Ctx,
    Row,
    error_row,
    find_corpus,
    git_revision,
    machine_info,
    machine_line,
    render_table,
    write_json,
)

# topic -> (module, row numbers it prints)
MODULES: dict[str, tuple[str, tuple[int, ...]]] = {
    "sign": ("benchmarks.bench_sign", (1, 2)),
    "verify": ("benchmarks.bench_verify", (3, 4)),
    "append": ("benchmarks.bench_append", (5,)),
    "proofs": ("benchmarks.bench_proofs", (6,)),
    "audit": ("benchmarks.bench_audit", (7,)),
    "storage": ("benchmarks.bench_storage", (8,)),
    "scaling": ("benchmarks.bench_scaling", (9,)),
    "lookup": ("benchmarks.bench_pdq_lookup", (10,)),
}


class BenchModule(Protocol):
    def declared(self, ctx: Ctx) -> list[tuple[str, str]]: ...

    def run(self, ctx: Ctx) -> Iterator[Row]: ...


def load(topic: str) -> BenchModule:
    mod: ModuleType = importlib.import_module(MODULES[topic][0])
    return cast(BenchModule, mod)


def select(only: str | None) -> list[str]:
    """Topics to run: all, or those named (by topic or row number) in ``only``."""
    if not only:
        return list(MODULES)
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    out = []
    for topic, (_, numbers) in MODULES.items():
        if topic in wanted or any(str(n) in wanted for n in numbers):
            out.append(topic)
    unknown = wanted - set(MODULES) - {str(n) for _, ns in MODULES.values() for n in ns}
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return out


def make_ctx(
    *, smoke: bool, cache: Path | None, tmp: Path, log: Callable[[str], None] | None = None
) -> Ctx:
    import os

    cache = cache or Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    ctx = Ctx(
        smoke=smoke, sizes=SMOKE if smoke else FULL, cache=cache, tmp=tmp, corpus=find_corpus()
    )
    if log is not None:
        ctx.log = log
    return ctx


def declared_keys(*, smoke: bool, topics: Sequence[str] | None = None) -> list[str]:
    """Every row key the suite prints (for the smoke test)."""
    with tempfile.TemporaryDirectory() as tmp:
        ctx = make_ctx(smoke=smoke, cache=Path(tmp) / "cache", tmp=Path(tmp))
        return [k for t in (topics or list(MODULES)) for k, _ in load(t).declared(ctx)]


def run(
    argv: Sequence[str],
    *,
    smoke: bool,
    only: str | None,
    json_path: Path | None,
    cache: Path | None,
    keep_tmp: bool,
) -> int:
    import os

    for var in (
        "PROVENANCE_LOG_PASSPHRASE",
        "PROVENANCE_PASSPHRASE",
        "PROVENANCE_DB",
        "PROVENANCE_LOG_KEY",
    ):
        os.environ.pop(var, None)
    t_start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="provenance-bench-run-"))
    ctx = make_ctx(smoke=smoke, cache=cache, tmp=tmp)
    if not (ctx.corpus / DRAGONFLY_CHECK).exists():
        print(
            f"error: photo corpus not found at {ctx.corpus} (set PROVENANCE_CORPUS)",
            file=sys.stderr,
        )
        return 3
    info = machine_info(ctx.cache)
    rows: list[Row] = []
    try:
        for topic in select(only):
            mod = load(topic)
            decl = mod.declared(ctx)
            got: list[Row] = []
            t0 = time.perf_counter()
            try:
                for row in mod.run(ctx):
                    got.append(row)
                    ctx.log(f"  {row.key}: done")
            except Exception as exc:  # noqa: BLE001 - one failing topic must not hide the rest
                import traceback

                traceback.print_exc(file=sys.stderr)
                done = {r.key for r in got}
                got += [error_row(k, t, exc) for k, t in decl if k not in done]
            ctx.details.setdefault("topic_seconds", {})[topic] = time.perf_counter() - t0
            keys = {r.key for r in got}
            for k, t in decl:
                if k not in keys:
                    got.append(error_row(k, t, RuntimeError("row was not produced")))
            rows += got
    finally:
        if keep_tmp:
            print(f"kept scratch files in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t_start
    info["load_average_end"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    end_rev = git_revision()
    if end_rev != info["revision"]:
        info["revision"] = f"{info['revision']} (changed to {end_rev} during the run!)"
    mode = "smoke" if smoke else "full"
    print(
        f"provenance benchmarks ({mode} sizes), {seconds:.0f} s; "
        f"command: python -m benchmarks {' '.join(argv)}".rstrip()
    )
    print(machine_line(info))
    print()
    print(render_table(rows))
    if json_path is not None:
        write_json(json_path, info, rows, ctx.details, argv, seconds)
        print(f"\nwrote {json_path}")
    bad = [r.key for r in rows if r.status == "ERROR"]
    if bad:
        print(f"\n{len(bad)} row(s) failed: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


DRAGONFLY_CHECK = "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg"
