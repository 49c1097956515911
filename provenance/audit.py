"""Whole-log audit: re-check every record, node, index row and checkpoint, streaming.

``provenance log verify`` re-reads every record in log order, re-hashes its leaf, rebuilds
the tree with a compact range and compares every complete-subtree hash it produces with the
stored one, checks every signature against the key state the log itself records, every
parent link, every derived index row (digests, parents, keys, revocations), and every stored
checkpoint: its signature under the log key, its root against the recomputed root at its
size, and a consistency proof (built from stored nodes) to the next checkpoint. Pinned
checkpoints from outside the database must be consistent with the current tree.

Memory is constant in the log size: records, nodes and checkpoints are read in batches and
only O(log n) frontier hashes plus the (small) key table are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance import merkle
from provenance.checkpoint import open_checkpoint
from provenance.errors import (
    CheckpointError,
    LogIntegrityError,
    MerkleError,
    RecordError,
)
from provenance.records import (
    KEY_EVENTS_START,
    Record,
    fold_key_event,
    parse_key_events_line,
    parse_record,
    record_id,
)
from provenance.trust import KeyBook

if TYPE_CHECKING:
    from provenance.ledger import Ledger

MAX_PROBLEMS = 100


@dataclass(slots=True)
class Damage:
    index: int | None
    kind: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "detail": self.detail}


@dataclass(slots=True)
class AuditResult:
    records: int = 0
    nodes: int = 0
    checkpoints: int = 0
    root_hex: str = ""
    problems: list[Damage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_index(self) -> int | None:
        idx = [p.index for p in self.problems if p.index is not None]
        return min(idx) if idx else None

    @property
    def kind(self) -> str:
        return self._first().kind if self.problems else ""

    @property
    def detail(self) -> str:
        return self._first().detail if self.problems else ""

    def _first(self) -> Damage:
        return self.ordered()[0]

    def ordered(self) -> list[Damage]:
        """Problems by log index (those without an index last), stable otherwise."""
        return sorted(self.problems, key=lambda p: (p.index is None, p.index or 0))

    def add(self, index: int | None, kind: str, detail: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(Damage(index, kind, detail))

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "nodes": self.nodes,
            "checkpoints": self.checkpoints,
            "root": self.root_hex,
            "first_bad_index": self.first_bad_index,
            "kind": self.kind or None,
            "problems": [p.to_json() for p in self.problems],
        }


def audit_log(
    ledger: Ledger,
    *,
    pinned: Sequence[str] = (),
    progress: Callable[[int], Any] | None = None,
    batch: int = 5000,
) -> AuditResult:
    """Audit the whole log of ``ledger``. Never raises for damage: it is reported."""
    store = ledger.store
    log_key = ledger.log_public
    verifier = ledger.log_verifier
    result = AuditResult()
    compact = merkle.CompactRange()
    book = KeyBook(log_key)
    keys = book.keys
    # Audit the log as it stood when we started: other processes may append meanwhile, and
    # everything below this size is final in an append-only log.
    bound = store.size()
    checkpoints = (cp for cp in store.iter_checkpoints() if cp.size <= bound)
    next_cp = next(checkpoints, None)
    prev_cp: tuple[int, bytes] | None = None
    expected_idx = 0
    asset_rows = parent_rows_seen = 0  # index rows found at the indices of stored records
    key_events = (0, KEY_EVENTS_START)  # running commitment, as checkpoints carry it

    def settle_checkpoints() -> None:
        nonlocal next_cp, prev_cp
        while next_cp is not None and next_cp.size <= compact.size:
            cp = next_cp
            result.checkpoints += 1
            committed: tuple[int, bytes] | None = None
            try:
                parsed = open_checkpoint(cp.note, verifier)
                committed = parse_key_events_line(parsed.extensions)
                if parsed.size != cp.size or parsed.root != cp.root:
                    result.add(
                        cp.size - 1,
                        "checkpoint.row-mismatch",
                        f"checkpoint row (size {cp.size}) disagrees with its signed note",
                    )
            except (CheckpointError, RecordError) as exc:
                result.add(
                    cp.size - 1 if cp.size else None,
                    "checkpoint.signature",
                    f"checkpoint at size {cp.size}: {exc}",
                )
            if cp.size == compact.size and committed is not None and committed != key_events:
                result.add(
                    cp.size - 1,
                    "checkpoint.key-events",
                    f"checkpoint at size {cp.size} commits to {committed[0]} key events, the "
                    f"log holds {key_events[0]}",
                )
            if cp.size == compact.size and cp.root != compact.root():
                result.add(
                    cp.size - 1,
                    "checkpoint.root-mismatch",
                    f"checkpoint at size {cp.size} does not match the recomputed root",
                )
            if prev_cp is not None:
                try:
                    proof = store.consistency_proof(prev_cp[0], cp.size)
                    merkle.verify_consistency(prev_cp[0], cp.size, proof, prev_cp[1], cp.root)
                except (MerkleError, LogIntegrityError) as exc:
                    result.add(
                        cp.size - 1,
                        "checkpoint.inconsistent",
                        f"checkpoint {prev_cp[0]} -> {cp.size}: {exc}",
                    )
            prev_cp = (cp.size, cp.root)
            next_cp = next(checkpoints, None)

    for chunk in _batched(store.iter_records(stop=bound, batch=batch), batch):
        emitted: list[tuple[tuple[int, int], bytes]] = []
        digests = store.asset_digests(r.idx for r in chunk)
        first = chunk[0].idx
        parent_rows = store.parents_between(first, chunk[-1].idx + 1)
        parsed: dict[int, Record | RecordError] = {}
        for r in chunk:
            try:
                parsed[r.idx] = parse_record(r.body)
            except RecordError as exc:
                parsed[r.idx] = exc
        parent_idx = store.indices_by_ids(
            bytes.fromhex(pid[7:])
            for rec_or_err in parsed.values()
            if isinstance(rec_or_err, Record)
            for pid in rec_or_err.statement.parents
        )
        for stored in chunk:
            i = stored.idx
            if next_cp is not None and next_cp.size == compact.size:
                settle_checkpoints()  # everything below this record has been checked
            if i != expected_idx:
                result.add(
                    expected_idx,
                    "record.missing",
                    f"log index {expected_idx} is missing (next stored is {i})",
                )
                expected_idx = i  # the tree can no longer be rebuilt faithfully
            expected_idx += 1
            result.records += 1
            asset_rows += i in digests
            parent_rows_seen += len(parent_rows.get(i, ()))
            emitted.extend(compact.append(merkle.leaf_hash(stored.body)))
            if stored.rid != bytes.fromhex(record_id(stored.body)[7:]):
                result.add(i, "record.id-mismatch", "stored record id is not the body's hash")
            rec_or_err = parsed[i]
            if isinstance(rec_or_err, RecordError):
                result.add(i, "record.malformed", str(rec_or_err))
                continue
            rec = rec_or_err
            st = rec.statement
            if stored.kind != st.type or stored.signer != rec.signer:
                result.add(i, "index.record-columns",
                           "the stored kind/signer columns differ from the signed record")
            # signature, judged by log position (the rules verify.py applies too)
            verdict = book.judge(i, rec)
            if verdict is not None:
                result.add(i, f"signature.{verdict[0]}", verdict[1])
            book.observe(i, rec)
            if st.type in ("key", "revoke"):
                key_events = (key_events[0] + 1,
                              fold_key_event(key_events[1], i, record_id(stored.body)))
            # derived index rows
            row = digests.get(i)
            if st.asset is not None:
                if row is None:
                    result.add(i, "index.asset-missing", "no digest row for an image record")
                elif (
                    row.sha256.hex() != st.asset.sha256
                    or row.pixels.hex() != st.asset.pixels
                    or row.phash256.hex() != st.asset.phash256
                    or _signed64(int(st.asset.phash64, 16)) != row.phash64
                ):
                    result.add(
                        i, "index.asset-mismatch", "stored digests differ from the signed record"
                    )
            elif row is not None:
                result.add(i, "index.asset-extra", "digest row for a record without an image")
            # parent links: each parent id must name an earlier record
            want_parents = []
            for pid in st.parents:
                found = parent_idx.get(bytes.fromhex(pid[7:]))
                if found is None:
                    result.add(i, "parent.missing", f"parent {pid} is not in the log")
                elif found >= i:
                    result.add(i, "parent.order", f"parent {pid} at {found} does not precede")
                else:
                    want_parents.append(found)
            if parent_rows.get(i, []) != want_parents and not any(
                p.index == i and p.kind.startswith("parent.") for p in result.problems
            ):
                result.add(
                    i,
                    "index.parents-mismatch",
                    f"parent rows {parent_rows.get(i)} differ from the record's parents",
                )
        _compare_nodes(store, emitted, result)
        if progress is not None:
            progress(len(chunk))
        settle_checkpoints()

    settle_checkpoints()
    size = compact.size
    result.root_hex = compact.root().hex()
    result.nodes = 2 * size - bin(size).count("1") if size else 0
    counts = store.table_counts(below=bound)
    if counts["nodes"] != result.nodes:
        result.add(
            None,
            "nodes.count",
            f"{counts['nodes']} node rows stored, {result.nodes} expected for {size} records",
        )
    # Rows at indices no stored record has (or for keys never registered) are only visible
    # in the table sizes.
    if counts["assets"] != asset_rows:
        result.add(
            None,
            "index.asset-extra",
            f"{counts['assets'] - asset_rows} digest rows for records that are not in the log",
        )
    if counts["parents"] != parent_rows_seen:
        result.add(
            None,
            "index.parents-mismatch",
            f"{counts['parents'] - parent_rows_seen} parent rows for records not in the log",
        )
    key_rows = store.key_rows()
    revoked = sum(rev is not None for _, _, rev in key_rows)
    if (
        len(key_rows) != len(keys)
        or counts["revocations"] != revoked
        or any(
            k not in keys or keys[k].registered != reg or keys[k].revoked != rev
            for k, reg, rev in key_rows
        )
    ):
        result.add(None, "index.keys-mismatch", "key/revocation rows differ from the log's records")
    # The tail, read in one transaction: the newest checkpoint covers exactly the stored
    # records and there are no node rows beyond them (a log cut short after its checkpoint).
    tail = store.tail_state()
    now_size, now_nodes, latest = tail.size, tail.nodes, tail.latest_checkpoint
    if now_size and latest != now_size:
        short = latest is not None and latest > now_size  # records cut off after signing
        result.add(
            now_size if short else now_size - 1,
            "checkpoint.missing",
            f"the newest checkpoint (size {latest}) does not cover exactly the "
            f"{now_size} stored records",
        )
    for table, kind in (
        ("assets", "index.asset-extra"),
        ("parents", "index.parents-mismatch"),
        ("keys", "index.keys-mismatch"),
        ("revocations", "index.keys-mismatch"),
    ):
        if tail.rows_beyond[table] and not any(p.kind == kind for p in result.problems):
            result.add(
                None,
                kind,
                f"{tail.rows_beyond[table]} {table} rows point past the last record ({now_size})",
            )
    expected_now = 2 * now_size - bin(now_size).count("1") if now_size else 0
    if now_nodes != expected_now and not any(p.kind == "nodes.count" for p in result.problems):
        result.add(
            None,
            "nodes.count",
            f"{now_nodes} node rows stored, {expected_now} expected for {now_size} records",
        )
    for note in pinned:
        _audit_pinned(note, ledger, size, compact.root(), result)
    return result


def _compare_nodes(
    store: Any, emitted: list[tuple[tuple[int, int], bytes]], result: AuditResult
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


def _audit_pinned(note: str, ledger: Ledger, size: int, root: bytes, result: AuditResult) -> None:
    try:
        old = open_checkpoint(note, ledger.log_verifier)
    except CheckpointError as exc:
        result.add(None, "pinned.invalid", f"pinned checkpoint does not verify: {exc}")
        return
    if old.size > size:
        result.add(None, "pinned.inconsistent", f"the log shrank: pinned size {old.size} > {size}")
        return
    try:
        proof = ledger.store.consistency_proof(old.size, size) if 0 < old.size < size else []
        merkle.verify_consistency(old.size, size, proof, old.root, root)
    except (MerkleError, LogIntegrityError) as exc:
        result.add(
            old.size - 1 if old.size else None,
            "pinned.inconsistent",
            f"the log is not consistent with the pinned checkpoint (size {old.size}): {exc}",
        )


def _batched(it: Any, n: int) -> Any:
    chunk: list[Any] = []
    for item in it:
        chunk.append(item)
        if len(chunk) >= n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v
