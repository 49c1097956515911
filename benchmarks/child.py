"""Entry points run as separate processes by the suite (``python -m benchmarks.child ...``).

- ``audit DB [WORKERS]``: run ``Ledger.audit`` (:func:`provenance.audit.audit_log`) with
  WORKERS signature-checking processes (default 1, as ``provenance log verify``) on a
  ledger; print JSON with the
  record count, seconds, result and this process's own peak RSS (VmHWM, reset at start:
  ``ru_maxrss`` would include the RSS of the parent it was started from).
- ``c2pa-read FILE ROOT_PEM``: a whole Python process that reads and validates a C2PA
  manifest with c2pa-python, trusting ROOT_PEM; exit 0 if the state is Trusted or Valid.
- ``naive FOLDER``: the naive signing script (:func:`benchmarks.bench_sign.naive_pipeline`)
  over every JPEG in FOLDER, in sorted order; prints the count.
- ``rusage CMD...``: run CMD, then print the peak RSS of its largest process
  (``RUSAGE_CHILDREN``) as JSON on stderr's last line; exit with CMD's exit code.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def reset_peak_rss() -> bool:
    """Reset this process's peak RSS (VmHWM). Needed because ru_maxrss survives exec: a
    child started from a large parent would report the parent's size."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def peak_rss_kib() -> int:
    """VmHWM from /proc/self/status (since the reset), else ru_maxrss."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _audit(db: str, workers: int) -> int:
    from provenance.ledger import Ledger

    ledger = Ledger.open(db)
    try:
        size = ledger.size()
        t0 = time.perf_counter()
        result = ledger.audit(workers=workers)
        seconds = time.perf_counter() - t0
    finally:
        ledger.close()
    print(
        json.dumps(
            {
                "size": size,
                "records": result.records,
                "seconds": seconds,
                "ok": result.ok,
                "problem": None if result.ok else f"{result.first_bad_index} {result.code}",
                "workers": workers,
                "peak_rss_kib": peak_rss_kib(),
                "ru_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            }
        )
    )
    return 0 if result.ok else 1


def _c2pa_read(path: str, root_pem: str) -> int:
    import c2pa

    settings = c2pa.Settings.from_dict({"trust": {"trust_anchors": Path(root_pem).read_text()}})
    with c2pa.Context(settings) as ctx, c2pa.Reader(path, context=ctx) as reader:
        state = reader.get_validation_state()
    print(state)
    return 0 if state in ("Trusted", "Valid") else 1


def _naive(folder: str) -> int:
    from benchmarks.bench_sign import naive_pipeline

    sign = naive_pipeline()
    files = sorted(p for p in Path(folder).iterdir() if p.suffix == ".jpg")
    for p in files:
        sign(p)
    print(len(files))
    return 0


def _rusage(cmd: list[str]) -> int:
    code = subprocess.call(cmd)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"children_maxrss_kib": peak}), file=sys.stderr)
    return code


def main(argv: list[str]) -> int:
    if len(argv) in (2, 3) and argv[0] == "audit":
        reset_peak_rss()
        return _audit(argv[1], int(argv[2]) if len(argv) == 3 else 1)
    if len(argv) == 3 and argv[0] == "c2pa-read":
        return _c2pa_read(argv[1], argv[2])
    if len(argv) == 2 and argv[0] == "naive":
        return _naive(argv[1])
    if len(argv) >= 2 and argv[0] == "rusage":
        return _rusage(argv[1:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
