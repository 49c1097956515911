"""Perceptual lookup: in-memory numpy scans over every pHash-64 and every PDQ hash in the log.

DESIGN section 7 measured a plain XOR + popcount scan of pHash-64 at 1.3 ms per query for 1M
hashes (8 bytes per record), with exact recall, where BK-trees and HNSW were too slow or
missed matches. PDQ (256 bits, 8 query variants) is a bigger scan; :class:`PdqIndex` keeps
it exact and under 10 ms at 1M records (docs/pdq.md, "Lookup"):

* the hashes are stored as four uint64 word columns, so a pass reads one word of every
  record;
* stage 1 sums the distances of the first three words (192 bits) for all variants at
  once, in cache-sized chunks, and keeps a record when its smallest partial sum is within
  the radius. A partial distance never exceeds the full one, so no true match is lost;
  192 bits make a random pair pass with probability about 1e-10 at 52 bits, so stage 2
  (the full 256-bit distance, for the survivors only) costs nothing;
* the chunks are split between threads (numpy releases the GIL).

Both indexes are built from the store once and then kept current incrementally: the log is
append-only, so an index that covers leaves [0, n) only needs rows with idx >= n to catch
up. For a SQLite ledger the arrays are cached beside the database (``<db>.phash.npz`` and
``<db>.pdq.npz``) so a fresh process does not re-read every row; a cache is a hint, never
trusted for a verdict: every candidate it yields is re-read from the store and confirmed
against the signed record, and a cache that does not agree with the store's shape or with
the tree root it was written at is rebuilt.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

PhashBatches = Callable[[int, int], Iterator[list[tuple[int, int]]]]
PdqBatches = Callable[[int, int], Iterator[list[tuple[int, bytes]]]]
RootAt = Callable[[int], bytes]

PDQ_WORDS: Final = 4
"""A PDQ hash is four 64-bit words."""

_STAGE1_WORDS: Final = 3
"""Words summed for every record in stage 1 (192 of the 256 bits)."""

_CHUNK: Final = 16384
"""Records per stage-1 step: an 8 x 16384 uint64 scratch array (1 MiB) stays in cache."""

_PARALLEL_FROM: Final = 65536
"""Records from which a search is split between threads."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A record whose pHash-64 lies within the query's threshold."""

    idx: int
    distance: int


@dataclass(frozen=True, slots=True)
class PdqCandidate:
    """A record whose PDQ hash lies within the threshold of one of the query's variants:
    the smallest distance, and the first variant (by position) at that distance."""

    idx: int
    distance: int
    variant: int


@dataclass(frozen=True, slots=True)
class _State:
    idx: Any  # int64 (n,): log index of each row, increasing
    values: Any  # uint64 (n,) for pHash-64, (4, n) for PDQ
    covered: int  # leaves [0, covered) have been indexed
    root: bytes  # tree root at size ``covered``: ties a cache to its ledger


class _LogIndex:
    """An append-only numpy index over one perceptual column of the log (shared by the
    pHash-64 and PDQ indexes): refresh, npz cache, root check."""

    _rows: int = 0  # 0: values is (n,); else values is (_rows, n)

    def __init__(self, cache_path: Path | None = None) -> None:
        import numpy as np

        self._np = np
        self.cache_path = cache_path
        self._state = _State(np.empty(0, dtype=np.int64), self._empty_values(), 0, b"")
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._state.idx.shape[0])

    @property
    def covered(self) -> int:
        """Leaves [0, covered) of the log have been indexed."""
        return self._state.covered

    def _empty_values(self) -> Any:
        np = self._np
        shape = (self._rows, 0) if self._rows else (0,)
        return np.empty(shape, dtype=np.uint64)

    def _values_of(self, batch: list[tuple[int, Any]]) -> tuple[Any, Any]:
        """(idx int64, values uint64) of one batch of store rows."""
        raise NotImplementedError

    def refresh(
        self, log_size: int, batches: Callable[[int, int], Iterator[list[Any]]], root_at: RootAt
    ) -> None:
        """Catch up with a log of ``log_size`` leaves, reading only the rows not yet indexed.

        ``batches(start, stop)`` streams the store's ``(idx, value)`` rows of this index's
        column (:data:`PhashBatches`, :data:`PdqBatches`).

        ``root_at(n)`` returns the tree root at size n; a cached index whose recorded root
        differs (another ledger, a rewritten log) is discarded and rebuilt.
        """
        np = self._np
        with self._lock:
            state = self._state
            if state.covered == 0 and self.cache_path is not None:
                state = self._load_cache() or state
            if state.covered > log_size or (state.covered and root_at(state.covered) != state.root):
                state = _State(np.empty(0, dtype=np.int64), self._empty_values(), 0, b"")
            if state.covered == log_size:
                self._state = state
                return
            new_idx: list[Any] = [state.idx]
            new_values: list[Any] = [state.values]
            for batch in batches(state.covered, log_size):
                idx, values = self._values_of(batch)
                new_idx.append(idx)
                new_values.append(values)
            self._state = _State(
                np.concatenate(new_idx),
                np.concatenate(new_values, axis=-1),
                log_size,
                root_at(log_size),
            )
            if self.cache_path is not None:
                self._save_cache()

    def _load_arrays(self, idx: Any, values: Any, covered: int) -> None:
        with self._lock:
            self._state = _State(idx, values, covered, b"")

    # --- cache -------------------------------------------------------------------------
    def _load_cache(self) -> _State | None:
        np = self._np
        path = self.cache_path
        if path is None or not path.exists():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                idx = data["idx"]
                values = data["hash"]
                covered = int(data["covered"])
                root = bytes(data["root"].tobytes())
        except (OSError, ValueError, KeyError, EOFError):
            return None  # a damaged cache is simply rebuilt
        want_ndim = 2 if self._rows else 1
        if (
            idx.dtype != np.int64
            or values.dtype != np.uint64
            or idx.ndim != 1
            or values.ndim != want_ndim
            or (self._rows and values.shape[0] != self._rows)
            or values.shape[-1] != idx.shape[0]
            or covered < 0
            or (idx.shape[0] and (int(idx[-1]) >= covered or bool(np.any(np.diff(idx) <= 0))))
        ):
            return None
        return _State(idx, np.ascontiguousarray(values), covered, root)

    def _save_cache(self) -> None:
        np = self._np
        path = self.cache_path
        if path is None:
            return
        state = self._state
        try:
            fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        except OSError:
            return  # read-only folder: keep the index in memory only
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(
                    fh,
                    idx=state.idx,
                    hash=state.values,
                    covered=np.int64(state.covered),
                    root=np.frombuffer(state.root, dtype=np.uint8),
                )
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class PerceptualIndex(_LogIndex):
    """pHash-64 values of every asset-bearing record, scanned with numpy; it also holds the
    ledger's :class:`PdqIndex` (:meth:`pdq_index`), refreshed on its own when a PDQ lookup
    needs it."""

    def __init__(self, cache_path: Path | None = None) -> None:
        super().__init__(cache_path)
        self._pdq: PdqIndex | None = None
        self._pdq_lock = threading.Lock()

    def _values_of(self, batch: list[tuple[int, Any]]) -> tuple[Any, Any]:
        np = self._np
        arr = np.array(batch, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0].copy(), arr[:, 1].view(np.uint64).copy()

    def load_arrays(
        self, idx: npt.NDArray[np.int64], hashes: npt.NDArray[np.uint64], covered: int
    ) -> None:
        """Replace the contents (benchmarks: 10M synthetic hashes)."""
        self._load_arrays(idx, hashes, covered)

    def search(self, phash64_signed: int, max_distance: int) -> list[Candidate]:
        """Every indexed record within ``max_distance`` bits of the query, nearest first."""
        np = self._np
        state = self._state
        if state.idx.shape[0] == 0:
            return []
        q = np.int64(phash64_signed).view(np.uint64)
        dist = np.bitwise_count(np.bitwise_xor(state.values, q))
        hits = np.flatnonzero(dist <= max_distance)
        order = hits[np.argsort(dist[hits], kind="stable")]
        return [Candidate(int(state.idx[i]), int(dist[i])) for i in order]

    def pdq_index(self) -> PdqIndex:
        """The ledger's PDQ index, cached beside this one (``<db>.pdq.npz``); the caller
        refreshes it (:meth:`PdqIndex.refresh`) before searching."""
        with self._pdq_lock:
            if self._pdq is None:
                cache = None
                if self.cache_path is not None:
                    name = self.cache_path.name.removesuffix(".phash.npz")
                    cache = self.cache_path.with_name(name + ".pdq.npz")
                self._pdq = PdqIndex(cache)
            return self._pdq


class PdqIndex(_LogIndex):
    """PDQ hashes of every record that has one (digest set 2), as four uint64 word columns,
    searched exactly for the nearest of several query variants (module docstring)."""

    _rows = PDQ_WORDS

    def _values_of(self, batch: list[tuple[int, Any]]) -> tuple[Any, Any]:
        np = self._np
        rows = [(i, bytes(v)) for i, v in batch if v is not None and len(v) == 32]
        idx = np.array([i for i, _ in rows], dtype=np.int64)
        words = words_of([v for _, v in rows])
        return idx, words

    def load_arrays(
        self, idx: npt.NDArray[np.int64], words: npt.NDArray[np.uint64], covered: int
    ) -> None:
        """Replace the contents: ``words`` is (4, n) uint64 (:func:`words_of`; benchmarks)."""
        self._load_arrays(idx, self._np.ascontiguousarray(words), covered)

    def search(
        self, variants: Sequence[bytes], max_distance: int, *, workers: int | None = None
    ) -> list[PdqCandidate]:
        """Every indexed record within ``max_distance`` bits of at least one of
        ``variants`` (32-byte hashes), nearest first, then by log index. Exact: the same
        answer as comparing every variant with every record.

        ``workers``: threads to split the scan between (default: the CPU count, for
        indexes of 65,536 records and more).

        Raises:
            ValueError: no variants, or one is not 32 bytes.
        """
        np = self._np
        if not variants or any(len(v) != 32 for v in variants):
            raise ValueError("PDQ variants are 32-byte hashes")
        state = self._state
        n = int(state.idx.shape[0])
        if n == 0 or max_distance < 0:
            return []
        queries = words_of(list(variants)).T.copy()  # (v, 4)
        words = state.values
        if workers is None:
            workers = (os.cpu_count() or 1) if n >= _PARALLEL_FROM else 1
        workers = max(1, min(workers, -(-n // _CHUNK)))
        if workers == 1:
            rows = _stage1(words, queries, max_distance, 0, n)
        else:
            step = -(-n // workers)
            step = -(-step // _CHUNK) * _CHUNK
            pool = _pool(workers - 1)
            others = [
                pool.submit(_stage1, words, queries, max_distance, s, min(n, s + step))
                for s in range(step, n, step)
            ]
            first = _stage1(words, queries, max_distance, 0, min(n, step))  # this thread
            rows = np.concatenate([first, *(p.result() for p in others)])
        if rows.size == 0:
            return []
        # stage 2: the full distance to every variant, for the survivors only
        found: list[Any] = []
        for s in range(0, rows.size, _CHUNK):
            part = rows[s : s + _CHUNK]
            full = np.bitwise_count(words[:, part].T[:, None, :] ^ queries[None, :, :]).sum(
                axis=2, dtype=np.int64
            )  # (survivors, variants)
            best = full.min(axis=1)
            keep = best <= max_distance
            # argmin: the first variant at the minimum
            found.append((part[keep], best[keep], full.argmin(axis=1)[keep]))
        hit = np.concatenate([f[0] for f in found])
        dist = np.concatenate([f[1] for f in found])
        which = np.concatenate([f[2] for f in found])
        order = np.lexsort((state.idx[hit], dist))
        return [PdqCandidate(int(state.idx[hit[i]]), int(dist[i]), int(which[i])) for i in order]


def words_of(hashes: Sequence[bytes]) -> npt.NDArray[np.uint64]:
    """32-byte hashes as a (4, n) uint64 array of word columns (any fixed byte order does:
    Hamming distances do not depend on it)."""
    import numpy as np

    if not hashes:
        return np.empty((PDQ_WORDS, 0), dtype=np.uint64)
    flat = np.frombuffer(b"".join(hashes), dtype=np.uint64).reshape(-1, PDQ_WORDS)
    return np.ascontiguousarray(flat.T)


def _stage1(words: Any, queries: Any, max_distance: int, start: int, stop: int) -> Any:
    """Rows in [start, stop) whose first three words lie within ``max_distance`` bits of
    at least one query (a superset of the true matches: module docstring)."""
    import numpy as np

    v = queries.shape[0]
    columns = [queries[:, w : w + 1].copy() for w in range(_STAGE1_WORDS)]  # (v, 1) each
    scratch = np.empty((v, _CHUNK), dtype=np.uint64)
    total = np.empty((v, _CHUNK), dtype=np.uint8)
    count = np.empty((v, _CHUNK), dtype=np.uint8)
    nearest = np.empty(stop - start, dtype=np.uint8)
    limit = np.uint8(min(max_distance, 255))
    for s in range(start, stop, _CHUNK):
        m = min(_CHUNK, stop - s)
        x, t, c = scratch[:, :m], total[:, :m], count[:, :m]
        np.bitwise_xor(words[0, s : s + m], columns[0], out=x)
        np.bitwise_count(x, out=t)
        for w in range(1, _STAGE1_WORDS):
            np.bitwise_xor(words[w, s : s + m], columns[w], out=x)
            np.bitwise_count(x, out=c)
            np.add(t, c, out=t)  # at most 192: fits uint8
        np.minimum.reduce(t, axis=0, out=nearest[s - start : s - start + m])
    return np.flatnonzero(nearest <= limit) + start


_POOL: tuple[int, int, ThreadPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()


def _pool(workers: int) -> ThreadPoolExecutor:
    """A shared thread pool for index scans (remade after a fork: threads do not survive)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None or _POOL[0] != os.getpid() or _POOL[1] < workers:
            if _POOL is not None and _POOL[0] == os.getpid():
                _POOL[2].shutdown(wait=False)
            _POOL = (os.getpid(), workers, ThreadPoolExecutor(workers, "pdq-scan"))
        return _POOL[2]
