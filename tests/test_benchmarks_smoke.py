"""The benchmark suite's smoke mode: every row runs and is printed (CI runs this).

``python -m benchmarks --smoke`` uses tiny sizes (a 2,000-record ledger instead of 1M, ten
images instead of 200...) and a private cache folder, so it builds everything from scratch;
it is sized to finish well under a minute on a 2-core machine. Baselines that are not
installed (c2pa-python, merkletools, pymerkle) print as "unavailable", which is allowed;
a row that fails prints as ERROR, which is not.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("PROVENANCE_CORPUS", REPO.parent / "shared" / "corpus"))


def test_smoke_run_prints_every_row(tmp_path: Path) -> None:
    if not (CORPUS / "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg").exists():
        pytest.skip(f"photo corpus not found at {CORPUS}")
    if str(REPO) not in sys.path:  # `pytest` (unlike `python -m pytest`) may not add it
        sys.path.insert(0, str(REPO))
    from benchmarks.suite import declared_keys

    keys = declared_keys(smoke=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENANCE_")}
    env.update(PROVENANCE_BENCH_CACHE=str(tmp_path / "cache"), PROVENANCE_CORPUS=str(CORPUS))
    out_json = tmp_path / "results.json"
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--json", str(out_json)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - t0
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-4000:])

    lines = proc.stdout.splitlines()
    assert any(line.startswith("machine: ") and " cores " in line for line in lines)
    printed = {line.split()[0] for line in lines if line.split()}
    missing = [k for k in keys if k not in printed]
    assert not missing, f"rows not printed: {missing}"

    doc = json.loads(out_json.read_text())
    assert [r["key"] for r in doc["rows"]] == keys
    assert not [r["key"] for r in doc["rows"] if r["status"] == "ERROR"]
    for r in doc["rows"]:
        # each row has our median, or says why it could not be measured
        assert r["ours"] is not None or r["unavailable"], r
        if r["baseline_name"] and r["baseline"] is None and r["status"] != "unavailable":
            assert r["unavailable"], r
    # Sized for < 60 s on an idle 2-core machine; the bound here leaves room for a busy one.
    assert elapsed < 240, f"smoke run took {elapsed:.0f} s"
