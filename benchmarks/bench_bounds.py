"""Worst-case work: the hostile inputs of the hardening issue, timed and their peak memory
measured, each in a fresh process, beside an honest 12 MP photograph.

    python -m benchmarks.bench_bounds [--corpus DIR] [--skip-big]

Cases (each is the digest work ``sign`` and ``verify`` do, ``ImageProbe(...).asset()``, or a
whole ``verify`` with replay):

* ``photo``: a 12 MP baseline JPEG from the corpus (the baseline);
* ``scans``: a 1.4 MB progressive JPEG of thousands of repeated scans (refused: scan bound);
* ``png16``: a 16-bit greyscale PNG just under the pixel limit (decoded within the bound);
* ``png16-over``: the same one pixel row over the limit (refused before decoding);
* ``resizes``: verify with ``--parent-image`` of an edit recording 300 alternating resizes
  to 12 MP and back (as many as fit in a record; refused before replaying).

Prints a markdown table: seconds and peak RSS (MiB) of the child process, and the outcome.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

CORPUS = Path(os.environ.get("PROVENANCE_CORPUS", Path(__file__).parents[2] / "shared/corpus"))
PHOTO = "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg"


def _child(case: str, path: str, extra: str) -> None:
    """Run one case in this (fresh) process and print its time, peak RSS and outcome."""
    import provenance

    t0 = time.perf_counter()
    try:
        if case == "resizes":
            with provenance.Ledger.open(extra) as ledger:
                report, _ = ledger.evidence().verify_image(path, parent_images=[path + ".parent"])
            steps = ", ".join(f"#{s.index} {s.check}" for s in report.chain)
            outcome = f"{report.verdict}, {report.assurance}: {steps}; not replayed"
        else:
            provenance.ImageProbe(Path(path).read_bytes(), name=path).asset()
            outcome = "digests computed"
    except provenance.ProvenanceError as exc:
        outcome = f"refused: {type(exc).__name__}: {exc.message[:70]}"
    seconds = time.perf_counter() - t0
    # VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so it would count the parent
    status = Path("/proc/self/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    rss = int(hwm.split()[1]) / 1024
    print(json.dumps({"seconds": seconds, "rss_mib": rss, "outcome": outcome}))


def _run(case: str, path: Path, extra: str = "") -> dict[str, object]:
    cmd = [sys.executable, "-m", "benchmarks.bench_bounds", "--child", case, str(path), extra]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=900)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def _scan_bomb(target: int = 1_400_000) -> bytes:
    buf = io.BytesIO()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(
        buf, "JPEG", progressive=True, quality=80
    )
    data = buf.getvalue()
    sos, end = data.index(b"\xff\xda"), data.index(b"\xff\xd9")
    scan = data[sos:end]
    return data[:end] + scan * max(1, (target - len(data)) // len(scan)) + b"\xff\xd9"


def _png16(pixels: int) -> bytes:
    side = int(pixels**0.5)
    rows = pixels // side
    arr = np.zeros((rows, side), dtype=np.uint16)
    arr[:, ::7] = 40_000
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "PNG", compress_level=1)  # mode I;16
    return buf.getvalue()


def _resize_chain(tmp: Path) -> tuple[Path, str]:
    """A ledger whose edit records 300 alternating resizes, and its child and parent files."""
    import provenance
    from provenance.edits import Resize
    from provenance.records import Statement, sign_statement

    db = tmp / "bounds.db"
    ledger = provenance.Ledger.init(str(db), origin="bench.example/bounds")
    key = provenance.SigningKey.generate()
    ledger.register_key(key.public, "bench")
    parent = tmp / "child.png.parent"
    Image.fromarray(np.full((48, 64, 3), 120, dtype=np.uint8)).save(parent, "PNG")
    ledger.sign([str(parent)], key)
    child = tmp / "child.png"
    Image.fromarray(np.full((48, 64, 3), 121, dtype=np.uint8)).save(child, "PNG")
    sizes = [Resize(4000, 3000), Resize(64, 48)] * 150
    st = Statement(
        type="edit",
        time="2026-12-07T00:00:00Z",
        asset=provenance.ImageProbe(child.read_bytes()).asset(),
        parents=(ledger.find(str(parent)).matches[0].record_id,),
        actions=tuple(op.action() for op in sizes),
        claims={"provenance.edit": "1"},
    )
    ledger.append_records([sign_statement(st, key)])
    ledger.close()
    return child, str(db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", nargs=3, metavar=("CASE", "PATH", "EXTRA"))
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--skip-big", action="store_true", help="skip the 179 MP PNGs")
    args = parser.parse_args()
    if args.child:
        _child(*args.child)
        return
    from provenance.imaging.opening import DEFAULT_MAX_PIXELS

    rows: list[tuple[str, str, dict[str, object]]] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        photo = args.corpus / PHOTO
        rows.append(("photo", f"12 MP JPEG, {photo.stat().st_size:,} B", _run("photo", photo)))
        bomb = tmp / "scans.jpg"
        bomb.write_bytes(_scan_bomb())
        rows.append(("scans", f"{bomb.stat().st_size:,} B of repeated scans", _run("scans", bomb)))
        if not args.skip_big:
            for name, pixels in (
                ("png16", DEFAULT_MAX_PIXELS - 20_000),
                ("png16-over", DEFAULT_MAX_PIXELS + 20_000),
            ):
                png = tmp / f"{name}.png"
                png.write_bytes(_png16(pixels))
                rows.append((name, f"16-bit grey, {pixels:,} px", _run(name, png)))
                png.unlink()
        child, db = _resize_chain(tmp)
        rows.append(("resizes", "edit of 300 alternating resizes", _run("resizes", child, db)))
    print("| case | input | seconds | peak RSS (MiB) | outcome |")
    print("|---|---|---|---|---|")
    for name, what, r in rows:
        print(f"| {name} | {what} | {r['seconds']:.2f} | {r['rss_mib']:.0f} | {r['outcome']} |")


if __name__ == "__main__":
    main()
