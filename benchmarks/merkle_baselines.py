"""The Merkle-tree baselines: merkletools (in memory) and pymerkle (SQLite), if installed.

merkletools is installed with ``pip install --no-deps merkletools`` (its pysha3 dependency
does not build on Python 3.11+); it then imports with a UserWarning ("sha3 is not
working!"), which is silenced here. It keeps every leaf in a list and rebuilds the whole
tree on ``make_tree``. pymerkle 7's ``SqliteTree`` stores entries and leaf hashes only and
recomputes interior nodes (with an in-memory subroot cache) when asked for a root or proof.
"""

from __future__ import annotations

import os
import random
import time
import warnings
from pathlib import Path
from typing import Any

from benchmarks.common import Ctx
from benchmarks.fixtures import cache_tag, publish

BODY_LEN = 589  # bytes of one synthetic record body (see fixtures.RECORD_TEMPLATE)


def merkletools() -> tuple[Any, str]:
    """(the MerkleTools class, "") or (None, why it is unavailable)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from merkletools import MerkleTools
    except Exception as exc:  # noqa: BLE001 - report why, keep going
        return None, (
            f"merkletools does not import ({type(exc).__name__}: {exc}); "
            "pip install --no-deps merkletools"
        )
    return MerkleTools, ""


def pymerkle() -> tuple[Any, str]:
    """(the pymerkle module, "") or (None, why it is unavailable)."""
    try:
        import pymerkle as pm  # type: ignore[import-untyped,unused-ignore]
    except Exception as exc:  # noqa: BLE001 - report why, keep going
        return None, f"pymerkle does not import ({type(exc).__name__}: {exc}); pip install pymerkle"
    return pm, ""


def pymerkle_db(ctx: Ctx, n: int) -> Path:
    """A cached pymerkle SqliteTree with ``n`` entries of record-sized random bytes."""
    pm, why = pymerkle()
    if pm is None:
        raise RuntimeError(why)
    root = ctx.cache / f"pymerkle-{cache_tag()}-{n}"
    if (root / "done.json").exists():
        return root / "tree.db"
    ctx.log(f"[fixtures] building a pymerkle SqliteTree of {n:,} entries in {root}")
    tmp = root.with_name(f".{root.name}-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    rng = random.Random(n)
    t0 = time.perf_counter()
    tree = pm.SqliteTree(str(tmp / "tree.db"))
    try:
        chunk = 100_000
        for start in range(0, n, chunk):
            tree.append_entries([rng.randbytes(BODY_LEN) for _ in range(min(chunk, n - start))])
    finally:
        tree.close()
    (tmp / "done.json").write_text(f'{{"seconds": {time.perf_counter() - t0}}}')
    publish(tmp, root)
    return root / "tree.db"


def merkletools_tree(n: int) -> Any:
    """A merkletools tree with ``n`` random leaves, built (``make_tree``)."""
    mt_cls, why = merkletools()
    if mt_cls is None:
        raise RuntimeError(why)
    mt = mt_cls(hash_type="sha256")
    rng = random.Random(n)
    mt.add_leaf([rng.randbytes(32).hex() for _ in range(n)])
    mt.make_tree()
    return mt
