"""The append transaction: records, index rows, tree nodes and one new checkpoint, atomically.

Under the writers' lock (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock
on PostgreSQL) every record of a batch is checked against the log as it stands, in named
steps: :func:`load_tail` (the stored frontier must match the latest checkpoint),
:class:`Known` (everything the batch refers to, fetched in bulk: O(batch / 500) queries),
:func:`place` (dedupe, key and parent rules, the new rows and tree nodes), then the rows are
written and :func:`seal` proves the new tree consistent with the last one and stores the
signed checkpoint. Nothing of a refused batch is written.

Rules checked here, under the lock, because another writer may have changed the answer
since the caller looked: a record already present (same id, or an image with the same file
or content digest when deduplicating) is reported, not appended; image records must be
signed by a registered, unrevoked key; the log key is never registered as a signer; key
names are unique; parents must exist, precede, and be image records.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, func, select

import provenance.merkle as merkle
import provenance.store.schema as s
from provenance.errors import KeyStateError, LogIntegrityError
from provenance.store.schema import prefix_key

CheckpointSigner = Callable[[int, bytes, "str | None", "list[tuple[int, bytes]]"], str]
"""``sign(size, root, previous checkpoint note or None, [(index, record id) of the key
events appended now])`` -> the new signed checkpoint note."""


@dataclass(frozen=True, slots=True)
class AssetIndex:
    """What the store indexes of an image record's digests."""

    sha256: bytes
    content: bytes | None
    phash64: int  # signed 64-bit
    pdq: bytes | None


@dataclass(frozen=True, slots=True)
class NewRecord:
    """One record ready to append: its canonical bytes and what the store indexes."""

    body: bytes
    rid: bytes
    kind: str
    signer: str
    parents: tuple[bytes, ...] = ()
    asset: AssetIndex | None = None
    registers_key: str | None = None
    key_name: str | None = None
    revokes_key: str | None = None


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(slots=True)
class AppendResult:
    """Per input record: its index (new or existing) and whether it was appended now."""

    indices: list[int] = field(default_factory=list)
    created: list[bool] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None


def body_has(body: bytes, name: str, hex_value: str) -> bool:
    """Whether a canonical record carries ``"name":"hex_value"``.

    Exact for canonical JSON (RFC 8785): a quote inside a string value is always escaped,
    so the unescaped byte sequence can only be a member of an object.
    """
    return f'"{name}":"{hex_value}"'.encode("ascii") in body


def record_kind(body: bytes) -> str:
    """The statement type of a stored record (``?`` when it cannot be read)."""
    try:
        kind = json.loads(body)["statement"]["type"]
    except (ValueError, KeyError, TypeError):
        return "?"
    return kind if isinstance(kind, str) else "?"


def chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def lookup(
    conn: Connection, table: Table, key: str, value: str, wanted: Sequence[Any]
) -> list[tuple[Any, Any]]:
    """``(key, value)`` rows whose key is among ``wanted``, in bulk."""
    out: list[tuple[Any, Any]] = []
    col = table.c[key]
    for chunk in chunks(sorted(set(wanted)), 500):
        out.extend(
            (k, v) for k, v in conn.execute(select(col, table.c[value]).where(col.in_(chunk)))
        )
    return out


# --- the tail of the log ---------------------------------------------------------------------
def size_of(conn: Connection) -> int:
    top = conn.execute(select(func.max(s.records.c.idx))).scalar()
    return 0 if top is None else int(top) + 1


def fetch_nodes(conn: Connection, ids: Any) -> dict[tuple[int, int], bytes]:
    wanted = {merkle.node_key(level, index): (level, index) for level, index in ids}
    out: dict[tuple[int, int], bytes] = {}
    table = _quote(conn, "nodes")
    for chunk in chunks(sorted(wanted), 500):
        sql = f"SELECT {_quote(conn, 'key')}, hash FROM {table} WHERE {_quote(conn, 'key')} IN "
        for key, h in conn.exec_driver_sql(f"{sql}({_marks(conn, len(chunk))})", tuple(chunk)):
            out[wanted[key]] = bytes(h)
    return out


def frontier(conn: Connection, size: int) -> merkle.CompactRange:
    ids = merkle.range_nodes(0, size)
    got = fetch_nodes(conn, ids)
    missing = [i for i in ids if i not in got]
    if missing:
        raise LogIntegrityError(f"node {missing[0]} of the frontier at size {size} is missing")
    return merkle.CompactRange(size, [got[i] for i in ids])


def proof(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    plan = [merkle.range_nodes(a, b) for a, b in ranges]
    got = fetch_nodes(conn, (n for ids in plan for n in ids))
    out = []
    for ids in plan:
        missing = [i for i in ids if i not in got]
        if missing:
            raise LogIntegrityError(f"node {missing[0]} needed for a proof is missing")
        out.append(merkle.fold_range([got[i] for i in ids]))
    return out


def load_tail(conn: Connection) -> tuple[merkle.CompactRange, StoredCheckpoint | None]:
    """The frontier and the latest checkpoint, which must agree (else the log was damaged
    or rewritten, and nothing is appended to it)."""
    size = size_of(conn)
    compact = frontier(conn, size)
    row = conn.execute(select(s.checkpoints).order_by(s.checkpoints.c.size.desc()).limit(1)).first()
    last = None if row is None else StoredCheckpoint(row.size, row.root, row.note)
    if (last is None) != (size == 0) or (
        last is not None and (last.size != size or last.root != compact.root())
    ):
        raise LogIntegrityError(
            f"stored tree (size {size}) does not match the latest checkpoint "
            f"(size {None if last is None else last.size}); refusing to append"
        )
    return compact, last


# --- what the batch refers to ----------------------------------------------------------------
@dataclass(slots=True)
class Known:
    """Everything a batch is checked against, fetched in bulk before placing it."""

    rids: dict[bytes, int] = field(default_factory=dict)
    kinds: dict[int, str] = field(default_factory=dict)
    sha: dict[bytes, int] = field(default_factory=dict)
    content: dict[bytes, int] = field(default_factory=dict)
    keys: dict[str, int] = field(default_factory=dict)
    revoked: dict[str, int] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, conn: Connection, batch: Sequence[NewRecord], *, dedupe: bool) -> Known:
        known = cls()
        wanted = {r.rid for r in batch} | {p for r in batch for p in r.parents}
        by_key: dict[int, list[bytes]] = {}
        for rid in wanted:
            by_key.setdefault(prefix_key(rid), []).append(rid)
        for idx, body in _records_with_keys(conn, list(by_key)):
            rid = hashlib.sha256(body).digest()
            if rid in wanted and rid not in known.rids:
                known.rids[rid] = idx
                known.kinds[idx] = record_kind(body)
        images = [r for r in batch if r.asset is not None]
        if dedupe and images:
            known.sha = _confirmed(
                conn, "sha_key", [(r.asset.sha256, "sha256") for r in images if r.asset]
            )
            known.content = _confirmed(
                conn,
                "content_key",
                [(r.asset.content, "content") for r in images if r.asset and r.asset.content],
            )
        key_ids = [r.registers_key for r in batch if r.registers_key] + [r.signer for r in images]
        known.keys = dict(lookup(conn, s.keys, "key_id", "idx", key_ids))
        known.revoked = dict(
            lookup(
                conn,
                s.revocations,
                "key_id",
                "idx",
                [r.revokes_key for r in batch if r.revokes_key] + [r.signer for r in images],
            )
        )
        names = [r.key_name for r in batch if r.key_name]
        known.names = {n for n, _ in lookup(conn, s.keys, "name", "idx", names)}
        return known


def _records_with_keys(conn: Connection, keys: Sequence[int]) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    table = _quote(conn, "records")
    for chunk in chunks(sorted(set(keys)), 500):
        # plain SQL: SQLAlchemy's coercion of every IN literal cost more than the query
        sql = f"SELECT idx, body FROM {table} WHERE rid_key IN ({_marks(conn, len(chunk))})"
        out.extend((int(i), bytes(b)) for i, b in conn.exec_driver_sql(sql, tuple(chunk)))
    return out


def _quote(conn: Connection, name: str) -> str:
    return str(conn.dialect.identifier_preparer.quote(name))


def _marks(conn: Connection, n: int, start: int = 1) -> str:
    """``n`` positional parameter markers in the driver's style."""
    style = conn.dialect.paramstyle
    if style == "qmark":
        return ", ".join("?" for _ in range(n))
    if style in ("format", "pyformat"):
        return ", ".join("%s" for _ in range(n))
    if style == "numeric":
        return ", ".join(f":{i}" for i in range(start, start + n))
    raise NotImplementedError(f"driver paramstyle {style!r}")  # named styles take no tuples


def _confirmed(
    conn: Connection, column: str, wanted: Sequence[tuple[bytes, str]]
) -> dict[bytes, int]:
    """Digest -> smallest index of an image record carrying it (prefix, then the body)."""
    by_key: dict[int, list[tuple[bytes, str]]] = {}
    for digest, name in wanted:
        by_key.setdefault(prefix_key(digest), []).append((digest, name))
    out: dict[bytes, int] = {}
    col, assets, records = _quote(conn, column), _quote(conn, "assets"), _quote(conn, "records")
    for chunk in chunks(sorted(by_key), 500):
        sql = (
            f"SELECT a.{col}, r.idx, r.body FROM {assets} a JOIN {records} r ON r.idx = a.idx "
            f"WHERE a.{col} IN ({_marks(conn, len(chunk))}) ORDER BY r.idx"
        )
        for key, idx, body in conn.exec_driver_sql(sql, tuple(chunk)):
            for digest, name in by_key[key]:
                if digest not in out and body_has(bytes(body), name, digest.hex()):
                    out[digest] = int(idx)
    return out


# --- placing each record ---------------------------------------------------------------------
@dataclass(slots=True)
class Rows:
    """The placed rows, each a tuple in its table's column order (:data:`_COLUMNS`)."""

    records: list[tuple[Any, ...]] = field(default_factory=list)
    assets: list[tuple[Any, ...]] = field(default_factory=list)
    parents: list[tuple[Any, ...]] = field(default_factory=list)
    nodes: list[tuple[Any, ...]] = field(default_factory=list)
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    revocations: list[tuple[Any, ...]] = field(default_factory=list)
    key_events: list[tuple[int, bytes]] = field(default_factory=list)


_COLUMNS: dict[str, tuple[str, ...]] = {
    "records": ("idx", "rid_key", "body"),
    "assets": ("idx", "sha_key", "content_key", "phash64", "pdq"),
    "parents": ("child", "position", "parent"),
    "keys": ("key_id", "idx", "name"),
    "revocations": ("key_id", "idx"),
    "nodes": ("key", "hash"),
}
"""The columns :func:`write` fills, in the order of the tuples in :class:`Rows`."""


def existing_index(rec: NewRecord, known: Known) -> int | None:
    """The index of a record this one duplicates (same id, or same image when deduping)."""
    if rec.rid in known.rids:
        return known.rids[rec.rid]
    if rec.asset is None:
        return None
    found = [known.sha.get(rec.asset.sha256)]
    if rec.asset.content is not None:
        found.append(known.content.get(rec.asset.content))
    hits = [i for i in found if i is not None]
    return min(hits) if hits else None


def place(
    rec: NewRecord,
    known: Known,
    compact: merkle.CompactRange,
    rows: Rows,
    *,
    require_signers: bool,
    log_key_id: str | None,
) -> int:
    """Check one new record against the log and the batch so far; add its rows.

    Raises:
        KeyStateError: a key rule is broken (a state error: the log is fine).
        LogIntegrityError: a parent is missing, or is not an image record.
    """
    idx = compact.size
    if require_signers and rec.asset is not None:
        if rec.signer not in known.keys:
            raise KeyStateError(f"key {rec.signer} is not registered")
        if rec.signer in known.revoked:
            raise KeyStateError(
                f"key {rec.signer} was revoked (record {known.revoked[rec.signer]})"
            )
    for pos, prid in enumerate(rec.parents):
        pidx = known.rids.get(prid)
        if pidx is None:
            raise LogIntegrityError(f"parent sha256:{prid.hex()} is not in the log")
        if known.kinds.get(pidx) not in ("capture", "edit"):
            raise LogIntegrityError(
                f"parent sha256:{prid.hex()} is a {known.kinds.get(pidx)} record, not an image"
            )
        rows.parents.append((idx, pos, pidx))
    if rec.registers_key is not None:
        if rec.registers_key == log_key_id:
            raise KeyStateError("the log key cannot be registered as a signer")
        if rec.registers_key in known.keys:
            raise KeyStateError(f"key {rec.registers_key} is already registered")
        name = rec.key_name or ""
        if name in known.names:
            raise KeyStateError(f"a key named {name!r} is already registered")
        known.keys[rec.registers_key] = idx
        known.names.add(name)
        rows.keys.append((rec.registers_key, idx, name))
    if rec.revokes_key is not None:
        if rec.revokes_key in known.revoked:
            raise KeyStateError(f"key {rec.revokes_key} was already revoked")
        known.revoked[rec.revokes_key] = idx
        rows.revocations.append((rec.revokes_key, idx))
    if rec.kind in ("key", "revoke"):
        rows.key_events.append((idx, rec.rid))
    rows.records.append((idx, prefix_key(rec.rid), rec.body))
    if rec.asset is not None:
        a = rec.asset
        content_key = None if a.content is None else prefix_key(a.content)
        rows.assets.append((idx, prefix_key(a.sha256), content_key, a.phash64, a.pdq))
        known.sha.setdefault(a.sha256, idx)
        if a.content is not None:
            known.content.setdefault(a.content, idx)
    for (level, index), h in compact.append(merkle.leaf_hash(rec.body)):
        rows.nodes.append((merkle.node_key(level, index), h))
    known.rids[rec.rid] = idx
    known.kinds[idx] = rec.kind
    return idx


def write(conn: Connection, rows: Rows) -> None:
    """Insert the placed rows (nothing is updated or deleted, ever).

    The rows go straight to the driver's ``executemany`` as tuples: SQLAlchemy's per-row
    parameter processing cost more than SQLite's inserts for large batches, and these
    columns need no conversion (integers, bytes, text).
    """
    for table, batch in (
        (s.records, rows.records),
        (s.assets, rows.assets),
        (s.parents, rows.parents),
        (s.keys, rows.keys),
        (s.revocations, rows.revocations),
        (s.nodes, rows.nodes),
    ):
        if batch:
            conn.exec_driver_sql(_insert_sql(conn, table), batch)


def _insert_sql(conn: Connection, table: Table) -> str:
    """``INSERT INTO table (columns) VALUES (markers)`` in the driver's positional style."""
    columns = _COLUMNS[table.name]
    names = ", ".join(_quote(conn, c) for c in columns)
    return f"INSERT INTO {_quote(conn, table.name)} ({names}) VALUES ({_marks(conn, len(columns))})"


def seal(
    conn: Connection,
    compact: merkle.CompactRange,
    last: StoredCheckpoint | None,
    sign_checkpoint: CheckpointSigner,
    key_events: list[tuple[int, bytes]],
) -> StoredCheckpoint:
    """Prove the new tree extends the last checkpoint's, sign it, store the checkpoint."""
    new_size, new_root = compact.size, compact.root()
    if last is not None:
        extension = proof(conn, merkle.consistency_proof_ranges(last.size, new_size))
        merkle.verify_consistency(last.size, new_size, extension, last.root, new_root)
    note = sign_checkpoint(new_size, new_root, None if last is None else last.note, key_events)
    conn.execute(s.checkpoints.insert(), [{"size": new_size, "root": new_root, "note": note}])
    return StoredCheckpoint(new_size, new_root, note)
