"""Shared pieces of the benchmark suite: the run context, rows, timing, machine, output.

Every benchmark module declares the rows it prints (``ROWS``) and a ``run(ctx)`` returning
:class:`Row` objects. A row holds our median, the baseline's median measured in the same
run, the ratio (always oriented so that > 1 means "ours is better"), the target from issue
4 and whether it is met.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

REPO = Path(__file__).resolve().parents[1]
CACHE_ENV = "PROVENANCE_BENCH_CACHE"
DEFAULT_CACHE = Path("/tmp/provenance-bench")
CORPUS_ENV = "PROVENANCE_CORPUS"

Status = Literal["met", "MISSED", "info", "unavailable", "ERROR"]


# --- sizes -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Sizes:
    """Every size the suite uses; ``--smoke`` shrinks them all."""

    big: int  # "1M": the ledger of rows 3, 4, 6, 8
    curve: tuple[int, ...]  # row 9
    audit: tuple[int, int]  # row 7: small and large log
    synthetic_hashes: int  # row 4: PerceptualIndex over this many synthetic hashes
    pdq_lookup: tuple[int, ...]  # row 10: PdqIndex over these many synthetic hashes
    sign_images: int  # row 2 throughput
    verify_images: int  # row 4g: re-encoded 12 MP copies verified in one process
    rss_images: tuple[int, int]  # row 2 memory: few vs many images
    append_total: int  # row 5: records appended per batch size
    existing: int  # row 1/5: size of the "existing" ledger appended to
    reps: int  # repetitions for in-process timings (after warm-up)
    process_reps: int  # repetitions for whole-process timings
    slow_reps: int  # repetitions for operations taking seconds


FULL = Sizes(
    big=1_000_000,
    curve=(1_000, 10_000, 100_000, 1_000_000),
    audit=(100_000, 1_000_000),
    synthetic_hashes=10_000_000,
    pdq_lookup=(1_000_000, 10_000_000),
    sign_images=200,
    verify_images=100,
    rss_images=(250, 1000),
    append_total=20_000,
    existing=10_000,
    reps=7,
    process_reps=7,
    slow_reps=3,
)

SMOKE = Sizes(
    big=2_000,
    curve=(250, 500, 1_000, 2_000),
    audit=(1_000, 2_000),
    synthetic_hashes=100_000,
    pdq_lookup=(100_000,),
    sign_images=10,
    verify_images=4,
    rss_images=(5, 20),
    append_total=600,
    existing=250,
    reps=1,
    process_reps=1,
    slow_reps=1,
)


@dataclass
class Ctx:
    """What a benchmark needs: sizes, where to cache and scratch, and extra details."""

    smoke: bool
    sizes: Sizes
    cache: Path
    tmp: Path
    corpus: Path
    details: dict[str, Any] = field(default_factory=dict)
    log: Callable[[str], None] = lambda msg: print(msg, file=sys.stderr, flush=True)

    def scratch(self, name: str) -> Path:
        """A fresh folder under the run's temporary directory."""
        return Path(tempfile.mkdtemp(prefix=name + "-", dir=self.tmp))


def find_corpus() -> Path:
    """The photo corpus: $PROVENANCE_CORPUS, else ../shared/corpus beside the repository."""
    env = os.environ.get(CORPUS_ENV)
    return Path(env) if env else REPO.parent / "shared" / "corpus"


# --- rows ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A target from issue 4: on our value alone (``abs``) or on the ratio (``ratio``)."""

    kind: Literal["abs", "ratio"]
    op: Literal["<", "<=", ">", ">="]
    value: float
    text: str

    def met(self, ours: float | None, ratio: float | None) -> bool | None:
        v = ours if self.kind == "abs" else ratio
        if v is None:
            return None
        return {
            "<": v < self.value,
            "<=": v <= self.value,
            ">": v > self.value,
            ">=": v >= self.value,
        }[self.op]


@dataclass
class Row:
    """One printed line of the results table."""

    key: str
    title: str
    unit: str
    ours: float | None = None
    baseline: float | None = None
    baseline_name: str = ""
    higher_is_better: bool = False
    growth: bool = False  # ratio = ours / baseline (e.g. memory growth), lower is better
    target: Target | None = None
    n: int = 0
    n_base: int = 0
    note: str = ""
    unavailable: str = ""  # why the row (or its baseline) could not be measured
    error: str = ""

    @property
    def ratio(self) -> float | None:
        """> 1 means ours is better (faster, higher throughput, smaller), except for
        ``growth`` rows, where it is ours / baseline."""
        if self.ours is None or self.baseline is None or self.ours == 0 or self.baseline == 0:
            return None
        if self.growth:
            return self.ours / self.baseline
        return self.ours / self.baseline if self.higher_is_better else self.baseline / self.ours

    @property
    def status(self) -> Status:
        if self.error:
            return "ERROR"
        if self.ours is None:
            return "unavailable"
        if self.target is None:
            return "info"
        met = self.target.met(self.ours, self.ratio)
        if met is None:
            return "unavailable"
        return "met" if met else "MISSED"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = None if self.target is None else asdict(self.target)
        out["ratio"] = self.ratio
        out["status"] = self.status
        return out


def error_row(key: str, title: str, exc: BaseException) -> Row:
    msg = " ".join(f"{type(exc).__name__}: {exc}".split())[:200]
    return Row(key=key, title=title, unit="", error=msg)


# --- timing ----------------------------------------------------------------------------------
def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def _timed(fn: Callable[[], Any]) -> float:
    """One call's seconds, with the cyclic GC paused during the call (as ``timeit`` does)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0
    finally:
        if enabled:
            gc.enable()


def repeat(fn: Callable[[], Any], reps: int, warmup: int = 1) -> list[float]:
    """Run ``fn`` ``warmup`` times untimed, then ``reps`` times; seconds per call."""
    for _ in range(warmup):
        fn()
    gc.collect()
    return [_timed(fn) for _ in range(reps)]


def repeat_each(fns: Sequence[Callable[[], Any]]) -> list[float]:
    """Time each callable once (a fresh input per repetition); seconds per call."""
    gc.collect()
    return [_timed(fn) for fn in fns]


@contextlib.contextmanager
def stopwatch() -> Iterator[list[float]]:
    """``with stopwatch() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    t0 = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - t0)


# --- processes -------------------------------------------------------------------------------
def provenance_cmd() -> list[str]:
    """The installed ``provenance`` console script of this interpreter's environment."""
    script = Path(sys.executable).with_name("provenance")
    if script.exists():
        return [str(script)]
    found = shutil.which("provenance")
    if found:
        return [found]
    return [sys.executable, str(REPO / "cli.py")]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for subprocesses: no passphrase variables, unbuffered output."""
    # PYTHONDONTWRITEBYTECODE is dropped so that, as after a normal ``pip install``, the
    # warm-up run leaves .pyc files and timed runs do not recompile sources.
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "PROVENANCE_LOG_PASSPHRASE",
            "PROVENANCE_PASSPHRASE",
            "PROVENANCE_DB",
            "PROVENANCE_LOG_KEY",
            "PYTHONDONTWRITEBYTECODE",
        )
    }
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


@dataclass
class ProcResult:
    seconds: float
    returncode: int
    stdout: str
    stderr: str
    peak_tree_rss: int = 0  # bytes, sum over the process tree (sampled)
    peak_single_rss: int = 0  # bytes, largest single process (sampled)
    cpu_root: float = 0.0  # CPU seconds (user + system) of the process itself (sampled)
    cpu_children: float = 0.0  # CPU seconds of its descendants, last sample of each


def run_process(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    sample_rss: bool = False,
    timeout: float = 1800,
    env: dict[str, str] | None = None,
) -> ProcResult:
    """Run a command, timing its wall clock; optionally sample the RSS of its whole tree."""
    env = env if env is not None else child_env()
    if not sample_rss:
        t0 = time.perf_counter()
        cp = subprocess.run(
            list(cmd),
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return ProcResult(time.perf_counter() - t0, cp.returncode, cp.stdout, cp.stderr)
    import psutil

    peak_tree = peak_single = 0
    cpu: dict[int, float] = {}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(cmd), cwd=cwd, env=env, stdout=out, stderr=err, text=True)
        ps = psutil.Process(proc.pid)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak_tree, peak_single
            while not stop.is_set():
                try:
                    procs = [ps, *ps.children(recursive=True)]
                    rss = []
                    for p in procs:
                        with contextlib.suppress(psutil.Error):
                            rss.append(p.memory_info().rss)
                            t = p.cpu_times()
                            cpu[p.pid] = t.user + t.system
                    if rss:
                        peak_tree = max(peak_tree, sum(rss))
                        peak_single = max(peak_single, max(rss))
                except psutil.Error:
                    pass
                stop.wait(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        try:
            code = proc.wait(timeout=timeout)
        finally:
            stop.set()
            th.join()
        seconds = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        root = cpu.pop(proc.pid, 0.0)
        return ProcResult(
            seconds, code, out.read(), err.read(), peak_tree, peak_single, root, sum(cpu.values())
        )


def check_process(res: ProcResult, what: str, ok: Sequence[int] = (0,)) -> None:
    if res.returncode not in ok:
        tail = (res.stderr or res.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{what} exited {res.returncode}: {' | '.join(tail)}")


# --- machine ---------------------------------------------------------------------------------
def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _filesystem(path: Path) -> str:
    best, fstype = "", "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, fstype = parts[1], parts[2]
    return fstype


def git_revision() -> str:
    """The commit the library was measured at (``+dirty`` if provenance/ has local edits)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "provenance", "migrations"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return rev.strip() + ("+dirty" if dirty.strip() else "")


def machine_info(cache: Path) -> dict[str, Any]:
    libs = {}
    for dist in (
        "provenance",
        "Pillow",
        "ImageHash",
        "numpy",
        "SQLAlchemy",
        "cryptography",
        "rfc8785",
        "c2pa-python",
        "merkletools",
        "pymerkle",
        "psutil",
    ):
        v = _version(dist)
        libs[dist] = v if v is not None else "not installed"
    libs["SQLite"] = sqlite3.sqlite_version
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": f"{platform.system()} {platform.release()}",
        "libraries": libs,
        "cache_fs": _filesystem(cache),
        "revision": git_revision(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def machine_line(info: dict[str, Any]) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in info["libraries"].items())
    return (
        f"machine: {info['cpu']} | {info['cores']} cores ({info['usable_cores']} usable) | "
        f"{info['implementation']} {info['python']} | {info['os']} | "
        f"cache fs {info['cache_fs']} | provenance at {info['revision']} | "
        f"load average at start {_fmt_load(info['load_average'])}, at end "
        f"{_fmt_load(info.get('load_average_end'))} | {libs}"
    )


def _fmt_load(load: Any) -> str:
    return "?" if not load else "/".join(f"{x:.2f}" for x in load)


# --- output ----------------------------------------------------------------------------------
def fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "-"
    if unit in ("rec/s", "img/s", "B/rec", "B", "queries/s"):
        if abs(v) >= 100:
            return f"{v:,.0f} {unit}"
        return f"{v:,.1f} {unit}"
    if unit == "MiB":
        return f"{v:,.1f} {unit}"
    if unit == "x":
        return f"{v:.2f}x"
    if unit in ("ms", "s", "us"):
        if abs(v) >= 100:
            return f"{v:,.0f} {unit}"
        if abs(v) >= 10:
            return f"{v:.1f} {unit}"
        if abs(v) >= 1:
            return f"{v:.2f} {unit}"
        return f"{v:.3f} {unit}"
    return f"{v:,.4g} {unit}".strip()


def render_table(rows: Sequence[Row]) -> str:
    header = ("row", "measurement", "ours", "baseline", "base median", "ratio", "target", "status")
    lines = []
    body = []
    for r in rows:
        ratio = r.ratio
        ours = fmt_value(r.ours, r.unit)
        if r.n:
            ours += f" (n={r.n})"
        base = fmt_value(r.baseline, r.unit)
        if r.baseline is not None and r.n_base:
            base += f" (n={r.n_base})"
        status: str = r.status
        if r.status == "ERROR":
            status = f"ERROR: {r.error}"
        body.append(
            (
                r.key,
                r.title,
                ours,
                r.baseline_name or "-",
                base,
                "-" if ratio is None else f"{ratio:.2f}x",
                r.target.text if r.target else "-",
                status,
            )
        )
    widths = [
        max(len(header[i]), *(len(b[i]) for b in body)) if body else len(header[i])
        for i in range(len(header))
    ]
    widths[-1] = len(header[-1])
    fmt = "  ".join(f"{{:{'<' if i in (0, 1, 3, 6, 7) else '>'}{w}}}" for i, w in enumerate(widths))
    lines.append(fmt.format(*header).rstrip())
    lines.append("-" * (sum(widths) + 2 * (len(widths) - 1)))
    for b in body:
        lines.append(fmt.format(*b).rstrip())
    notes = [(r.key, r.unavailable or r.note) for r in rows if r.unavailable or r.note]
    if notes:
        lines.append("")
        lines.append("notes:")
        for key, text in notes:
            lines.append(f"  {key}: {text}")
    return "\n".join(lines)


def write_json(
    path: Path,
    info: dict[str, Any],
    rows: Sequence[Row],
    details: dict[str, Any],
    argv: Sequence[str],
    seconds: float,
) -> None:
    doc = {
        "command": " ".join(["python", "-m", "benchmarks", *argv]),
        "machine": info,
        "seconds": seconds,
        "rows": [r.to_json() for r in rows],
        "details": details,
    }
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")


def mib(nbytes: float) -> float:
    return nbytes / (1024 * 1024)
