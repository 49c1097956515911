"""Whole-log audit: re-check every record, node, index row and checkpoint, streaming.

``provenance log verify`` re-reads every record in log order, re-hashes its leaf, rebuilds
the tree with a compact range and compares every complete-subtree hash it produces with the
stored one; checks every signature against the key state the log itself records, every
parent link, every derived index row (digest keys, parents, keys and names, revocations),
and every stored checkpoint: its signature under the log key, its root against the
recomputed root at its size, and a consistency proof (built from stored nodes) to the next
checkpoint. Pinned checkpoints from outside the database must be consistent with the
current tree. Problems are reported in the verifier's vocabulary
(:data:`provenance.report.REASONS`).

Memory is constant in the log size: records, nodes and checkpoints are read in batches and
only O(log n) frontier hashes plus the (small) key table are kept. Ed25519 verification is
the largest cost and ``cryptography`` holds the GIL while it runs, so with ``workers`` the
signatures of each batch are checked in other processes while this one hashes and reads
the next batch (:class:`SignatureChecks`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import provenance.merkle as merkle
from provenance.checkpoint import NoteVerifier, open_checkpoint
from provenance.errors import CheckpointError, LogIntegrityError, MerkleError, RecordError
from provenance.keys import PublicKey
from provenance.records import (
    KEY_EVENTS_START,
    Record,
    fold_key_event,
    parse_key_events_line,
    parse_record,
    record_id,
)
from provenance.report import Problem
from provenance.trust import FAILURE_CODES, SIGNATURE_INVALID, KeyBook

if TYPE_CHECKING:
    from provenance.store import Store, StoredCheckpoint, StoredRecord

MAX_PROBLEMS: Final = 100
BATCH: Final = 5000


@dataclass(slots=True)
class AuditResult:
    """What the audit found: counts, the recomputed root, and the problems (first 100)."""

    records: int = 0
    nodes: int = 0
    checkpoints: int = 0
    root_hex: str = ""
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        idx = [p.index for p in self.problems if p.index is not None]
        return min(idx) if idx else None

    @property
    def code(self) -> str:
        return self.ordered()[0].code if self.problems else ""

    @property
    def detail(self) -> str:
        return self.ordered()[0].detail if self.problems else ""

    def ordered(self) -> list[Problem]:
        """Problems by log index (those without an index last), stable otherwise."""
        return sorted(self.problems, key=lambda p: (p.index is None, p.index or 0))

    def add(self, index: int | None, code: str, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Problem(code, detail, index))

    def has(self, code: str, index: int | None = None) -> bool:
        return any(p.code == code and (index is None or p.index == index) for p in self.problems)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "nodes": self.nodes,
            "checkpoints": self.checkpoints,
            "root": self.root_hex,
            "first_bad_index": self.first_bad_index,
            "code": self.code or None,
            "problems": [p.to_json() for p in self.ordered()],
        }


# --- signatures, possibly in other processes --------------------------------------------------
_Task = tuple[int, bytes, bytes, bytes]  # (index, public key, signature, message)


def _verify_batch(tasks: Sequence[_Task]) -> list[int]:
    """The indices whose signature does not verify (runs in a worker process); one key
    object per distinct signer of the batch."""
    keys: dict[bytes, PublicKey] = {}
    bad = []
    for idx, pub, sig, msg in tasks:
        key = keys.get(pub)
        if key is None:
            key = keys[pub] = PublicKey(pub)
        if not key.verify(sig, msg):
            bad.append(idx)
    return bad


class SignatureChecks:
    """Ed25519 checks of one batch at a time, in ``workers`` processes (0: in process)."""

    def __init__(self, workers: int) -> None:
        self._pool = ProcessPoolExecutor(max_workers=workers) if workers > 0 else None
        self._workers = max(1, workers)
        self._pending: list[Future[list[int]]] = []

    def submit(self, tasks: list[_Task]) -> None:
        if self._pool is None:
            done: Future[list[int]] = Future()
            done.set_result(_verify_batch(tasks))
            self._pending.append(done)
            return
        per = max(1, -(-len(tasks) // self._workers))
        for i in range(0, len(tasks), per):
            self._pending.append(self._pool.submit(_verify_batch, tasks[i : i + per]))

    def collect(self, keep: int = 0) -> Iterator[int]:
        """Indices of bad signatures of every submitted batch but the last ``keep``."""
        while len(self._pending) > keep:
            yield from self._pending.pop(0).result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# --- the audit --------------------------------------------------------------------------------
@dataclass(slots=True)
class _State:
    """What the streaming audit carries from one batch to the next."""

    store: Store
    verifier: NoteVerifier
    result: AuditResult
    bound: int
    checkpoints: Iterator[StoredCheckpoint]
    next_cp: StoredCheckpoint | None
    compact: merkle.CompactRange = field(default_factory=merkle.CompactRange)
    book: KeyBook | None = None
    prev_cp: tuple[int, bytes] | None = None
    expected_idx: int = 0
    asset_rows: int = 0
    parent_rows: int = 0
    key_events: tuple[int, bytes] = (0, KEY_EVENTS_START)


def audit_log(
    store: Store,
    verifier: NoteVerifier,
    *,
    pinned: Sequence[str] = (),
    progress: Callable[[int], Any] | None = None,
    batch: int = BATCH,
    workers: int = 0,
) -> AuditResult:
    """Audit the whole log of ``store`` under the log key ``verifier``.

    Never raises for damage: it is reported. ``workers`` processes check signatures.
    """
    result = AuditResult()
    # Audit the log as it stood when we started: other processes may append meanwhile, and
    # everything below this size is final in an append-only log.
    bound = store.size()
    checkpoints = (cp for cp in store.iter_checkpoints() if cp.size <= bound)
    state = _State(store, verifier, result, bound, checkpoints, next(checkpoints, None))
    state.book = KeyBook(verifier.public)
    signatures = SignatureChecks(workers)
    try:
        for chunk in _batched(store.iter_records(stop=bound, batch=batch), batch):
            tasks = _audit_batch(state, chunk)
            signatures.submit(tasks)
            for bad in signatures.collect(keep=max(workers, 1)):
                result.add(bad, FAILURE_CODES["invalid"], f"record {bad}: {SIGNATURE_INVALID}")
            if progress is not None:
                progress(len(chunk))
            _settle_checkpoints(state)
        for bad in signatures.collect():
            result.add(bad, FAILURE_CODES["invalid"], f"record {bad}: {SIGNATURE_INVALID}")
    finally:
        signatures.close()
    _settle_checkpoints(state)
    size = state.compact.size
    result.root_hex = state.compact.root().hex()
    result.nodes = 2 * size - bin(size).count("1") if size else 0
    _audit_tables(state)
    _audit_tail(state)
    for note in pinned:
        _audit_pinned(note, state, size, state.compact.root())
    return result


def _audit_batch(state: _State, chunk: list[StoredRecord]) -> list[_Task]:
    """Check one batch of records; returns the signature checks to run."""
    store, result, book = state.store, state.result, state.book
    assert book is not None
    emitted: list[tuple[tuple[int, int], bytes]] = []
    rows = store.asset_rows(r.idx for r in chunk)
    parent_rows = store.parents_between(chunk[0].idx, chunk[-1].idx + 1)
    parsed: dict[int, Record | RecordError] = {}
    for r in chunk:
        try:
            parsed[r.idx] = parse_record(r.body)
        except RecordError as exc:
            parsed[r.idx] = exc
    parent_ids = {
        bytes.fromhex(pid[7:])
        for rec in parsed.values()
        if isinstance(rec, Record)
        for pid in rec.statement.parents
    }
    parent_recs = store.records_by_ids(parent_ids)
    parent_idx = {rid: rec.idx for rid, rec in parent_recs.items()}
    parents = {rid: _parsed(parsed.get(rec.idx), rec) for rid, rec in parent_recs.items()}
    tasks: list[_Task] = []
    for stored in chunk:
        i = stored.idx
        if state.next_cp is not None and state.next_cp.size == state.compact.size:
            _settle_checkpoints(state)  # everything below this record has been checked
        if i != state.expected_idx:
            result.add(
                state.expected_idx,
                "record.missing",
                f"log index {state.expected_idx} is missing (next stored is {i})",
            )
            state.expected_idx = i  # the tree can no longer be rebuilt faithfully
        state.expected_idx += 1
        result.records += 1
        state.asset_rows += i in rows
        state.parent_rows += len(parent_rows.get(i, ()))
        emitted.extend(state.compact.append(merkle.leaf_hash(stored.body)))
        rid = record_id(stored.body)
        if stored.rid_key != int.from_bytes(bytes.fromhex(rid[7:23]), "big", signed=True):
            result.add(i, "record.idMismatch", "the indexed record-id key is not the body's")
        rec = parsed[i]
        if isinstance(rec, RecordError):
            result.add(i, "record.malformed", str(rec))
            continue
        expected = book.expected_signer(i, rec)
        if isinstance(expected, PublicKey):
            tasks.append((i, expected.raw, rec.sig, rec.statement.canonical()))
        else:
            result.add(i, FAILURE_CODES[expected[0]], f"record {i}: {expected[1]}")
        book.observe(i, rec)
        if rec.statement.type in ("key", "revoke"):
            count, fold = state.key_events
            state.key_events = (count + 1, fold_key_event(fold, i, rid))
        _audit_index_rows(result, i, rec, rows.get(i), parent_rows.get(i, []), parent_idx)
        _audit_chain_links(result, i, rec, parent_idx, parents)
    _compare_nodes(store, emitted, result)
    return tasks


def _audit_index_rows(
    result: AuditResult,
    i: int,
    rec: Record,
    row: Any,
    parent_rows: list[int],
    parent_idx: dict[bytes, int],
) -> None:
    """The derived rows of record ``i`` (digest keys, parent links) against its body."""
    from provenance.imaging import phash64_to_int
    from provenance.store.schema import prefix_key

    asset = rec.statement.asset
    if asset is not None:
        if row is None:
            result.add(i, "index.mismatch", "no digest row for an image record")
        elif (
            row.sha_key != prefix_key(bytes.fromhex(asset.sha256))
            or row.content_key
            != (None if asset.binding is None else prefix_key(bytes.fromhex(asset.binding)))
            or row.phash64 != phash64_to_int(asset.phash64)
            or row.pdq != (None if asset.pdq is None else bytes.fromhex(asset.pdq))
        ):
            result.add(i, "index.mismatch", "stored digests differ from the signed record")
    elif row is not None:
        result.add(i, "index.extra", "digest row for a record without an image")
    want = [
        found
        for pid in rec.statement.parents
        if (found := parent_idx.get(bytes.fromhex(pid[7:]))) is not None and found < i
    ]
    if parent_rows != want and len(want) == len(rec.statement.parents):
        result.add(i, "index.mismatch", f"parent rows {parent_rows} differ from the record's")


def _audit_chain_links(
    result: AuditResult,
    i: int,
    rec: Record,
    parent_idx: dict[bytes, int],
    parents: dict[bytes, Record | None],
) -> None:
    """Record ``i``'s parents (stored, earlier, image records) and, for an edit, whether
    the records make it plausible (the rules the verifier's check 5 applies)."""
    import provenance.plausibility as plausibility

    assets = []
    for pid in rec.statement.parents:
        rid = bytes.fromhex(pid[7:])
        found = parent_idx.get(rid)
        parent = parents.get(rid)
        if found is None:
            result.add(i, "ingredient.missing", f"parent {pid} is not in the log")
        elif found >= i:
            result.add(i, "ingredient.order", f"parent {pid} at {found} does not precede")
        elif parent is not None and parent.statement.type not in ("capture", "edit"):
            kind = parent.statement.type
            result.add(i, "ingredient.notAsset", f"parent {pid} at {found} is a {kind} record")
        elif parent is not None and parent.statement.asset is not None:
            assets.append(parent.statement.asset)
    asset = rec.statement.asset
    if (
        rec.statement.type == "edit"
        and asset is not None
        and len(assets) == len(rec.statement.parents)
    ):
        judgement = plausibility.judge(asset, assets, rec.statement.actions)
        if judgement.outcome == "implausible":
            result.add(i, "edit.implausible", f"record {i}: {judgement.detail}")


def _parsed(parsed: Record | RecordError | None, stored: StoredRecord) -> Record | None:
    """A parent record, parsed (None when it does not parse: reported at its own index)."""
    if parsed is None:
        try:
            parsed = parse_record(stored.body)
        except RecordError:
            return None
    return parsed if isinstance(parsed, Record) else None


def _settle_checkpoints(state: _State) -> None:
    """Check every stored checkpoint up to the tree built so far."""
    result, compact = state.result, state.compact
    while state.next_cp is not None and state.next_cp.size <= compact.size:
        cp = state.next_cp
        result.checkpoints += 1
        committed: tuple[int, bytes] | None = None
        try:
            parsed = open_checkpoint(cp.note, state.verifier)
            committed = parse_key_events_line(parsed.extensions)
            if parsed.size != cp.size or parsed.root != cp.root:
                result.add(
                    cp.size - 1,
                    "checkpoint.rowMismatch",
                    f"checkpoint row (size {cp.size}) disagrees with its signed note",
                )
        except (CheckpointError, RecordError) as exc:
            result.add(
                cp.size - 1 if cp.size else None,
                "checkpoint.signature.mismatch",
                f"checkpoint at size {cp.size}: {exc}",
            )
        if cp.size == compact.size and committed is not None and committed != state.key_events:
            result.add(
                cp.size - 1,
                "keyEvents.incomplete",
                f"checkpoint at size {cp.size} commits to {committed[0]} key events, the "
                f"log holds {state.key_events[0]}",
            )
        if cp.size == compact.size and cp.root != compact.root():
            result.add(
                cp.size - 1,
                "checkpoint.rootMismatch",
                f"checkpoint at size {cp.size} does not match the recomputed root",
            )
        if state.prev_cp is not None:
            old_size, old_root = state.prev_cp
            try:
                proof = state.store.consistency_proof(old_size, cp.size)
                merkle.verify_consistency(old_size, cp.size, proof, old_root, cp.root)
            except (MerkleError, LogIntegrityError) as exc:
                result.add(
                    cp.size - 1,
                    "checkpoint.inconsistent",
                    f"checkpoint {old_size} -> {cp.size}: {exc}",
                )
        state.prev_cp = (cp.size, cp.root)
        state.next_cp = next(state.checkpoints, None)


def _audit_tables(state: _State) -> None:
    """Row counts and the key tables: rows at indices no stored record has (or for keys
    never registered) are only visible in the table sizes."""
    result, store = state.result, state.store
    assert state.book is not None
    keys = state.book.keys
    counts = store.table_counts(below=state.bound)
    if counts["nodes"] != result.nodes:
        result.add(
            None,
            "nodes.count",
            f"{counts['nodes']} node rows stored, {result.nodes} expected for "
            f"{state.compact.size} records",
        )
    if counts["assets"] != state.asset_rows:
        result.add(
            None,
            "index.extra",
            f"{counts['assets'] - state.asset_rows} digest rows for records not in the log",
        )
    if counts["parents"] != state.parent_rows:
        result.add(
            None,
            "index.extra",
            f"{counts['parents'] - state.parent_rows} parent rows for records not in the log",
        )
    key_rows = store.key_rows()
    revoked = sum(rev is not None for _, _, _, rev in key_rows)
    if (
        len(key_rows) != len(keys)
        or counts["revocations"] != revoked
        or any(
            k not in keys
            or keys[k].registered != reg
            or keys[k].revoked != rev
            or (keys[k].name or "") != name
            for k, reg, name, rev in key_rows
        )
    ):
        result.add(None, "index.mismatch", "key/revocation rows differ from the log's records")


def _audit_tail(state: _State) -> None:
    """The tail, read in one transaction: the newest checkpoint covers exactly the stored
    records and there are no rows beyond them (a log cut short after its checkpoint)."""
    result = state.result
    tail = state.store.tail_state()
    now_size, latest = tail.size, tail.latest_checkpoint
    if now_size and latest != now_size:
        short = latest is not None and latest > now_size  # records cut off after signing
        result.add(
            now_size if short else now_size - 1,
            "checkpoint.missing",
            f"the newest checkpoint (size {latest}) does not cover exactly the "
            f"{now_size} stored records",
        )
    for table, rows in tail.rows_beyond.items():
        if rows and not result.has("index.extra") and not result.has("index.mismatch"):
            result.add(
                None, "index.extra", f"{rows} {table} rows point past the last record ({now_size})"
            )
    expected = 2 * now_size - bin(now_size).count("1") if now_size else 0
    if tail.nodes != expected and not result.has("nodes.count"):
        result.add(
            None,
            "nodes.count",
            f"{tail.nodes} node rows stored, {expected} expected for {now_size} records",
        )


def _compare_nodes(
    store: Store, emitted: list[tuple[tuple[int, int], bytes]], result: AuditResult
) -> None:
    stored = store.nodes(nid for nid, _ in emitted)
    for (level, index), h in emitted:
        got = stored.get((level, index))
        last_leaf = ((index + 1) << level) - 1  # the append that completed this node
        if got is None:
            result.add(last_leaf, "node.missing", f"node ({level}, {index}) is missing")
        elif got != h and level == 0:
            result.add(
                last_leaf,
                "leaf.mismatch",
                f"record {index} does not hash to the leaf stored for it",
            )
        elif got != h:
            result.add(
                last_leaf,
                "node.mismatch",
                f"stored node ({level}, {index}) differs from the recomputed one",
            )


def _audit_pinned(note: str, state: _State, size: int, root: bytes) -> None:
    result = state.result
    try:
        old = open_checkpoint(note, state.verifier)
    except CheckpointError as exc:
        result.add(None, "checkpoint.pinned.invalid", f"pinned checkpoint does not verify: {exc}")
        return
    if old.size > size:
        result.add(
            None, "checkpoint.inconsistent", f"the log shrank: pinned size {old.size} > {size}"
        )
        return
    try:
        proof = state.store.consistency_proof(old.size, size) if 0 < old.size < size else []
        merkle.verify_consistency(old.size, size, proof, old.root, root)
    except (MerkleError, LogIntegrityError) as exc:
        result.add(
            old.size - 1 if old.size else None,
            "checkpoint.inconsistent",
            f"the log is not consistent with the pinned checkpoint (size {old.size}): {exc}",
        )


def _batched(it: Iterator[StoredRecord], n: int) -> Iterator[list[StoredRecord]]:
    chunk: list[StoredRecord] = []
    for item in it:
        chunk.append(item)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
