"""Storage: the ledger database, its append transaction, node storage and lookups.

With :mod:`provenance.migrate` and ``migrations/``, the only code that touches SQLAlchemy.
It knows nothing about images or signatures: it stores canonical record bytes, the index
keys the caller extracted from them (:mod:`.schema`), parent links, every complete-subtree
hash of the RFC 9162 tree keyed by (level, index), and signed checkpoints. Every append
(records + index rows + nodes + the new checkpoint) happens in one transaction
(:mod:`.append`), so concurrent writers serialise instead of forking the log.

Opening a ledger never reads every row: the frontier (compact range) is at most
log2(n)+1 node rows fetched by primary key. Lookups by record id or digest go through
8-byte prefix indexes and are confirmed against the record body.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, func, inspect, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

import provenance.merkle as merkle
import provenance.store.schema as s
from provenance.dburl import normalise_url, sqlite_path
from provenance.errors import (
    ForeignDatabaseError,
    LedgerExistsError,
    LedgerNotFoundError,
    NotFoundError,
    StoreError,
)
from provenance.store.append import (
    AppendResult,
    AssetIndex,
    CheckpointSigner,
    Known,
    NewRecord,
    Rows,
    StoredCheckpoint,
    body_has,
    chunks,
    existing_index,
    fetch_nodes,
    frontier,
    load_tail,
    place,
    proof,
    seal,
    size_of,
    write,
)
from provenance.store.engine import ReadCtx, make_engine, translate
from provenance.store.schema import (
    HEAD_REVISION,
    KNOWN_REVISIONS,
    LOG_TABLES,
    SCHEMA_ID,
    prefix_key,
)

__all__ = [
    "LOG_TABLES",
    "AppendResult",
    "AssetIndex",
    "AssetRow",
    "CheckpointSigner",
    "NewRecord",
    "Store",
    "StoredCheckpoint",
    "StoredRecord",
    "TailState",
]

PG_LOCK_ID: Final = 0x70726F76  # "prov": the advisory lock serialising appends
SQLITE_PAGE_SIZE = 8192
"""Page size of a new SQLite ledger (existing ones keep theirs)."""


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored: its leaf index, body, and the record-id prefix indexed for it
    (the record id itself is the SHA-256 of the body)."""

    idx: int
    body: bytes
    rid_key: int = 0

    @property
    def rid(self) -> bytes:
        return hashlib.sha256(self.body).digest()


@dataclass(frozen=True, slots=True)
class AssetRow:
    """The index row stored for one image record."""

    sha_key: int
    content_key: int | None
    phash64: int
    pdq: bytes | None


@dataclass(frozen=True, slots=True)
class TailState:
    """See :meth:`Store.tail_state`."""

    size: int
    nodes: int
    latest_checkpoint: int | None
    rows_beyond: dict[str, int]


class Store:
    """One ledger database: a reader engine and a writer engine over the same URL."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0) -> None:
        self.url = normalise_url(url)
        self.backend = make_url(self.url).get_backend_name()
        self._busy = busy_timeout_s
        self._reader = make_engine(self.url, immediate=False, busy_timeout_s=busy_timeout_s)
        self._writer = make_engine(self.url, immediate=True, busy_timeout_s=busy_timeout_s)

    # --- lifecycle ---------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, *, origin: str, log_public_key: str) -> Store:
        """Create a new ledger (schema at head, meta filled). Refuses an existing one."""
        url = normalise_url(url)
        path = sqlite_path(url)
        if path is not None:
            if path.exists() and path.stat().st_size > 0:
                raise LedgerExistsError(
                    f"a database already exists at {path}",
                    hint="choose another --db, or use the ledger that is there",
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {path.parent}: {exc.strerror or exc}") from exc
        store = cls(url)
        try:
            if store.backend == "sqlite":
                # Outside any transaction: inside one (the writer engine begins every
                # connection with BEGIN IMMEDIATE) SQLite silently keeps the rollback journal.
                raw = store._writer.raw_connection()
                try:
                    # before the first table: ~700-byte records waste less of 8 KiB pages
                    # (1,044 -> 954 bytes per record at 1M, benchmarks/bench_storage.py)
                    raw.cursor().execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}").fetchall()
                    raw.cursor().execute("PRAGMA journal_mode = WAL").fetchall()
                finally:
                    raw.close()
            with store._writer.connect() as conn:
                existing = inspect(conn).get_table_names()
                if existing:
                    raise LedgerExistsError(
                        f"database already has tables ({', '.join(sorted(existing)[:3])}...)",
                        hint="point --db at an empty database",
                    )
            store.migrate(
                create_meta={
                    "schema": SCHEMA_ID,
                    "origin": origin,
                    "log_public_key": log_public_key,
                }
            )
        except BaseException as exc:
            store.close()  # a refused or failed create must not leak pooled connections
            if isinstance(exc, SQLAlchemyError):
                raise translate(exc, "creating the ledger") from exc
            raise
        return store

    @classmethod
    def open(cls, url: str, *, busy_timeout_s: float = 30.0) -> Store:
        """Open an existing ledger, upgrading its schema if it is older than this code."""
        url = normalise_url(url)
        path = sqlite_path(url)
        if path is not None and not path.exists():
            raise LedgerNotFoundError(f"no ledger at {path}")
        store = cls(url, busy_timeout_s=busy_timeout_s)
        try:
            store._check_and_upgrade()
        except BaseException:
            store.close()  # a refused or failed open must not leak pooled connections
            raise
        return store

    def _check_and_upgrade(self) -> None:
        """Refuse anything but a provenance ledger; upgrade an older schema to head."""
        try:
            with self._reader.connect() as conn:
                tables = set(inspect(conn).get_table_names())
                if not tables:
                    raise LedgerNotFoundError(f"no ledger at {self.display_url}")
                if "meta" not in tables:
                    raise ForeignDatabaseError(
                        f"{self.display_url} is not a provenance ledger (no meta table)",
                        hint="point --db at a ledger made by `provenance init`",
                    )
                schema = conn.execute(select(s.meta.c.value).where(s.meta.c.key == "schema"))
                schema_id = schema.scalar()
                if schema_id != SCHEMA_ID:
                    raise ForeignDatabaseError(
                        f"{self.display_url} is not a provenance ledger (schema {schema_id!r})"
                    )
                rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError as exc:
            raise translate(exc, "opening the ledger") from exc
        if rev != HEAD_REVISION:
            if rev not in KNOWN_REVISIONS:
                raise ForeignDatabaseError(
                    f"ledger schema revision {rev!r} is newer than this program understands",
                    hint="upgrade provenance",
                )
            self.migrate()

    def migrate(self, *, revision: str = "head", create_meta: dict[str, str] | None = None) -> None:
        """Run the Alembic migrations up to ``revision`` in one transaction."""
        from provenance.store import migrate as _migrate  # lazy: Alembic is slow to import

        try:
            with self._writer.begin() as conn:
                self._lock_writers(conn)  # two programs opening an old ledger upgrade once
                _migrate.upgrade(conn, revision)
                if create_meta is not None:
                    conn.execute(
                        s.meta.insert(), [{"key": k, "value": v} for k, v in create_meta.items()]
                    )
        except SQLAlchemyError as exc:
            raise translate(exc, "migrating the schema") from exc

    def _lock_writers(self, conn: Connection) -> None:
        """Serialise writers. SQLite: the writer's BEGIN IMMEDIATE already holds the write
        lock. PostgreSQL: a transaction-scoped advisory lock, waited for at most the busy
        timeout (lock_timeout applies to advisory locks too)."""
        if self.backend == "postgresql":
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = {max(1, round(self._busy * 1000))}")
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK_ID})

    def close(self) -> None:
        self._reader.dispose()
        self._writer.dispose()

    @property
    def display_url(self) -> str:
        path = sqlite_path(self.url)
        if path is not None:
            return str(path)
        return make_url(self.url).render_as_string(hide_password=True)

    # --- meta --------------------------------------------------------------------------
    def meta(self) -> dict[str, str]:
        with self._read() as conn:
            return {k: v for k, v in conn.execute(select(s.meta.c.key, s.meta.c.value))}

    # --- records -----------------------------------------------------------------------
    def _read(self) -> ReadCtx:
        return ReadCtx(self._reader)

    def size(self) -> int:
        with self._read() as conn:
            return size_of(conn)

    def frontier(self, size: int | None = None) -> merkle.CompactRange:
        with self._read() as conn:
            return frontier(conn, size_of(conn) if size is None else size)

    def record_at(self, idx: int) -> StoredRecord:
        got = self.records_at([idx])
        if idx not in got:
            size = self.size()
            raise NotFoundError(
                f"no record at log index {idx}",
                hint=f"the log holds indexes 0 to {size - 1}" if size else "the log is empty",
            )
        return got[idx]

    def record_by_id(self, rid: bytes) -> StoredRecord | None:
        return self.records_by_ids([rid]).get(rid)

    def records_by_ids(self, rids: Iterable[bytes]) -> dict[bytes, StoredRecord]:
        """The stored record of each id present (by prefix, confirmed by the body's hash)."""
        wanted = set(rids)
        out: dict[bytes, StoredRecord] = {}
        keys = sorted({prefix_key(r) for r in wanted})
        with self._read() as conn:
            for chunk in chunks(keys, 500):
                for idx, body in conn.execute(
                    select(s.records.c.idx, s.records.c.body)
                    .where(s.records.c.rid_key.in_(chunk))
                    .order_by(s.records.c.idx)
                ):
                    rec = StoredRecord(idx, body)
                    if rec.rid in wanted and rec.rid not in out:
                        out[rec.rid] = rec
        return out

    def records_at(self, indices: Iterable[int]) -> dict[int, StoredRecord]:
        out: dict[int, StoredRecord] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(indices)), 500):
                for idx, body, key in conn.execute(
                    select(s.records.c.idx, s.records.c.body, s.records.c.rid_key).where(
                        s.records.c.idx.in_(chunk)
                    )
                ):
                    out[idx] = StoredRecord(idx, body, key)
        return out

    def iter_records(
        self, start: int = 0, stop: int | None = None, batch: int = 5000
    ) -> Iterator[StoredRecord]:
        """Stream records in log order without holding them all in memory."""
        pos = start
        while True:
            cols = (s.records.c.idx, s.records.c.body, s.records.c.rid_key)
            q = select(*cols).where(s.records.c.idx >= pos)
            if stop is not None:
                q = q.where(s.records.c.idx < stop)
            with self._read() as conn:
                rows = conn.execute(q.order_by(s.records.c.idx).limit(batch)).all()
            if not rows:
                return
            for idx, body, key in rows:
                yield StoredRecord(idx, body, key)
            pos = rows[-1][0] + 1

    def ancestry(self, idx: int, *, limit: int = 100_000) -> list[int]:
        """``idx`` and the indices of all its ancestors (one recursive query)."""
        query = text(
            "WITH RECURSIVE anc(i) AS (SELECT CAST(:idx AS BIGINT) UNION "
            "SELECT p.parent FROM parents p JOIN anc ON p.child = anc.i) "
            "SELECT i FROM anc LIMIT :limit"
        )
        with self._read() as conn:
            return [int(i) for (i,) in conn.execute(query, {"idx": idx, "limit": limit + 1})]

    def parents_of(self, idx: int) -> list[int]:
        return self.parents_between(idx, idx + 1).get(idx, [])

    def parents_between(self, start: int, stop: int) -> dict[int, list[int]]:
        """Parent indices of every child in [start, stop), in position order."""
        out: dict[int, list[int]] = {}
        with self._read() as conn:
            for child, parent in conn.execute(
                select(s.parents.c.child, s.parents.c.parent)
                .where(s.parents.c.child >= start, s.parents.c.child < stop)
                .order_by(s.parents.c.child, s.parents.c.position)
            ):
                out.setdefault(child, []).append(parent)
        return out

    # --- image lookups -----------------------------------------------------------------
    def find_by_sha256(self, digest: bytes) -> list[int]:
        """Image records whose file SHA-256 is ``digest``, in log order."""
        return self._find("sha_key", "sha256", digest)

    def find_by_content(self, digest: bytes) -> list[int]:
        """Image records whose content digest (digest set 2) is ``digest``, in log order."""
        return self._find("content_key", "content", digest)

    def _find(self, column: str, name: str, digest: bytes) -> list[int]:
        with self._read() as conn:
            rows = conn.execute(
                select(s.records.c.idx, s.records.c.body)
                .join(s.assets, s.assets.c.idx == s.records.c.idx)
                .where(s.assets.c[column] == prefix_key(digest))
                .order_by(s.records.c.idx)
            ).all()
        return [idx for idx, body in rows if body_has(body, name, digest.hex())]

    def find_unconfirmed(self, column: str, digest: bytes) -> list[int]:
        """Index rows keyed for ``digest`` whose record is missing or does not carry it.

        A genuine 64-bit prefix collision with another logged image is not a practical
        event; such a row means the index was rewritten (the audit reports it too).
        """
        name = {"sha_key": "sha256", "content_key": "content"}[column]
        with self._read() as conn:
            rows = conn.execute(
                select(s.assets.c.idx, s.records.c.body)
                .join(s.records, s.records.c.idx == s.assets.c.idx, isouter=True)
                .where(s.assets.c[column] == prefix_key(digest))
            ).all()
        return [
            int(idx) for idx, body in rows if body is None or not body_has(body, name, digest.hex())
        ]

    def asset_rows(self, indices: Iterable[int]) -> dict[int, AssetRow]:
        out: dict[int, AssetRow] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(indices)), 500):
                for row in conn.execute(select(s.assets).where(s.assets.c.idx.in_(chunk))):
                    out[row.idx] = AssetRow(row.sha_key, row.content_key, row.phash64, row.pdq)
        return out

    def iter_perceptual(
        self, column: str, start: int = 0, stop: int | None = None, batch: int = 200_000
    ) -> Iterator[list[tuple[int, Any]]]:
        """Stream ``(idx, value)`` of ``phash64`` or ``pdq`` for start <= idx < stop, in
        batches, in log order (rows without a value are left out)."""
        col = s.assets.c[column]
        pos = start
        while True:
            q = select(s.assets.c.idx, col).where(s.assets.c.idx >= pos)
            if stop is not None:
                q = q.where(s.assets.c.idx < stop)
            with self._read() as conn:
                rows = conn.execute(q.order_by(s.assets.c.idx).limit(batch)).all()
            if not rows:
                return
            yield [(r[0], r[1]) for r in rows if r[1] is not None]
            pos = rows[-1][0] + 1

    # --- keys --------------------------------------------------------------------------
    def key_events(self, key_id: str) -> tuple[int | None, int | None]:
        """Log indices of the registration and revocation records of ``key_id``."""
        joined = s.keys.outerjoin(s.revocations, s.revocations.c.key_id == s.keys.c.key_id)
        query = select(s.keys.c.idx, s.revocations.c.idx).select_from(joined)
        with self._read() as conn:  # one statement: every submission asks
            row = conn.execute(query.where(s.keys.c.key_id == key_id)).first()
            if row is not None:
                return row[0], row[1]
            rev = conn.execute(
                select(s.revocations.c.idx).where(s.revocations.c.key_id == key_id)
            ).scalar()
        return None, rev

    def key_rows(self) -> list[tuple[str, int, str, int | None]]:
        """Every registered key: (key id, registration index, name, revocation or None)."""
        with self._read() as conn:
            revs = dict(conn.execute(select(s.revocations.c.key_id, s.revocations.c.idx)).all())
            return [
                (k, i, n, revs.get(k))
                for k, i, n in conn.execute(
                    select(s.keys.c.key_id, s.keys.c.idx, s.keys.c.name).order_by(s.keys.c.idx)
                )
            ]

    def key_by_name(self, name: str) -> str | None:
        with self._read() as conn:
            return conn.execute(select(s.keys.c.key_id).where(s.keys.c.name == name)).scalar()

    def key_event_indices(self) -> list[int]:
        """The log indices of every registration and revocation, sorted."""
        with self._read() as conn:
            regs = conn.execute(select(s.keys.c.idx)).scalars().all()
            revs = conn.execute(select(s.revocations.c.idx)).scalars().all()
        return sorted({int(i) for i in (*regs, *revs)})

    # --- the tree ----------------------------------------------------------------------
    def nodes(self, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with self._read() as conn:
            return fetch_nodes(conn, ids)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._read() as conn:
            return proof(conn, merkle.inclusion_proof_ranges(index, size))

    def inclusion_proofs(self, indices: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """Inclusion proofs of many leaves in one tree, from one batch of node reads.

        A proof whose nodes are missing is left out (the verifier reports it).
        """
        plans = {
            i: [merkle.range_nodes(a, b) for a, b in merkle.inclusion_proof_ranges(i, size)]
            for i in indices
        }
        with self._read() as conn:
            got = fetch_nodes(conn, (n for plan in plans.values() for ids in plan for n in ids))
        out: dict[int, list[bytes]] = {}
        for i, plan in plans.items():
            if all(n in got for ids in plan for n in ids):
                out[i] = [merkle.fold_range([got[n] for n in ids]) for ids in plan]
        return out

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self._read() as conn:
            return proof(conn, merkle.consistency_proof_ranges(size1, size2))

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._read() as conn:
            row = conn.execute(
                select(s.checkpoints).order_by(s.checkpoints.c.size.desc()).limit(1)
            ).first()
        return None if row is None else StoredCheckpoint(row.size, row.root, row.note)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        with self._read() as conn:
            row = conn.execute(select(s.checkpoints).where(s.checkpoints.c.size == size)).first()
        return None if row is None else StoredCheckpoint(row.size, row.root, row.note)

    def iter_checkpoints(self, batch: int = 5000) -> Iterator[StoredCheckpoint]:
        pos = -1
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    select(s.checkpoints)
                    .where(s.checkpoints.c.size > pos)
                    .order_by(s.checkpoints.c.size)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for r in rows:
                yield StoredCheckpoint(r.size, r.root, r.note)
            pos = rows[-1].size

    # --- tiles (C2SP tlog-tiles) and the service's side tables ---------------------------
    def node_range(self, level: int, start: int, count: int) -> list[bytes]:
        """The stored hashes of nodes (level, start) .. (level, start + count - 1).

        Raises:
            LogIntegrityError: one of them is missing.
        """
        first = merkle.node_key(level, start)
        with self._read() as conn:
            rows = conn.execute(
                select(s.nodes.c.key, s.nodes.c.hash)
                .where(s.nodes.c.key >= first, s.nodes.c.key < first + count)
                .order_by(s.nodes.c.key)
            ).all()
        if len(rows) != count or (rows and rows[0][0] != first):
            from provenance.errors import LogIntegrityError

            raise LogIntegrityError(f"nodes of level {level} from {start} are missing")
        return [bytes(h) for _, h in rows]

    def bodies(self, start: int, count: int) -> list[bytes]:
        """The canonical bodies of records start .. start + count - 1, in log order."""
        with self._read() as conn:
            rows = conn.execute(
                select(s.records.c.idx, s.records.c.body)
                .where(s.records.c.idx >= start, s.records.c.idx < start + count)
                .order_by(s.records.c.idx)
            ).all()
        if [i for i, _ in rows] != list(range(start, start + count)):
            from provenance.errors import LogIntegrityError

            raise LogIntegrityError(f"records from {start} are missing")
        return [bytes(b) for _, b in rows]

    def add_cosignature(self, size: int, witness: str, line: str) -> None:
        """Keep a witness's cosignature line for the checkpoint of ``size`` (once)."""
        try:
            with self._writer.begin() as conn:
                found = conn.execute(
                    select(s.cosignatures.c.line).where(
                        s.cosignatures.c.size == size, s.cosignatures.c.witness == witness
                    )
                ).first()
                if found is None:
                    conn.execute(
                        s.cosignatures.insert(), [{"size": size, "witness": witness, "line": line}]
                    )
        except SQLAlchemyError as exc:
            raise translate(exc, "storing a cosignature") from exc

    def cosignatures(self, size: int) -> list[str]:
        with self._read() as conn:
            return list(
                conn.execute(
                    select(s.cosignatures.c.line)
                    .where(s.cosignatures.c.size == size)
                    .order_by(s.cosignatures.c.witness)
                ).scalars()
            )

    def add_manifest(self, manifest_id: str, record_id: str, iscc: bytes, store: bytes) -> bool:
        """Keep a C2PA manifest store; False when the id is already taken."""
        try:
            with self._writer.begin() as conn:
                found = conn.execute(
                    select(s.c2pa_manifests.c.manifest_id).where(
                        s.c2pa_manifests.c.manifest_id == manifest_id
                    )
                ).first()
                if found is not None:
                    return False
                conn.execute(
                    s.c2pa_manifests.insert(),
                    [
                        {
                            "manifest_id": manifest_id,
                            "record_id": record_id,
                            "iscc": iscc,
                            "store_sha256": hashlib.sha256(store).digest(),
                            "store": store,
                        }
                    ],
                )
        except SQLAlchemyError as exc:
            raise translate(exc, "storing a manifest") from exc
        return True

    def manifest(self, manifest_id: str) -> tuple[str, bytes] | None:
        """(record id, store bytes) of a deposited manifest store."""
        with self._read() as conn:
            row = conn.execute(
                select(s.c2pa_manifests.c.record_id, s.c2pa_manifests.c.store).where(
                    s.c2pa_manifests.c.manifest_id == manifest_id
                )
            ).first()
        return None if row is None else (str(row[0]), bytes(row[1]))

    def manifest_isccs(self) -> list[tuple[str, str, bytes]]:
        """(manifest id, record id, ISCC) of every deposited manifest (a scan: few)."""
        with self._read() as conn:
            return [
                (str(m), str(r), bytes(i))
                for m, r, i in conn.execute(
                    select(
                        s.c2pa_manifests.c.manifest_id,
                        s.c2pa_manifests.c.record_id,
                        s.c2pa_manifests.c.iscc,
                    )
                )
            ]

    # --- counting (the audit's view of the tables) --------------------------------------
    def table_counts(self, below: int | None = None) -> dict[str, int]:
        """Rows per log table; with ``below``, only rows belonging to leaves [0, below).

        Rows below a size already reached never change in an append-only log, so the
        bounded counts are stable while other processes append.
        """
        if below is None:
            with self._read() as conn:
                return {
                    t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
                    for t in LOG_TABLES
                }
        col = {
            "records": s.records.c.idx,
            "assets": s.assets.c.idx,
            "parents": s.parents.c.child,
            "keys": s.keys.c.idx,
            "revocations": s.revocations.c.idx,
        }
        with self._read() as conn:
            out = {
                t: conn.execute(select(func.count()).where(c < below)).scalar_one()
                for t, c in col.items()
            }
            out["checkpoints"] = conn.execute(
                select(func.count()).where(s.checkpoints.c.size <= below)
            ).scalar_one()
            nodes = 0
            for level in range(max(below, 1).bit_length()):
                first = merkle.node_key(level, 0)
                n = below >> level
                if n:
                    nodes += conn.execute(
                        select(func.count()).where(
                            s.nodes.c.key >= first, s.nodes.c.key < first + n
                        )
                    ).scalar_one()
            out["nodes"] = nodes
        return out

    def tail_state(self) -> TailState:
        """The log's end, read in one transaction: size, node rows, newest checkpoint, and
        index rows pointing past the last record."""
        with self._read() as conn, conn.begin():
            size = size_of(conn)
            nodes = conn.execute(select(func.count()).select_from(s.nodes)).scalar_one()
            latest = conn.execute(select(func.max(s.checkpoints.c.size))).scalar()
            beyond = {
                t: conn.execute(select(func.count()).where(c >= size)).scalar_one()
                for t, c in (
                    ("assets", s.assets.c.idx),
                    ("parents", s.parents.c.child),
                    ("keys", s.keys.c.idx),
                    ("revocations", s.revocations.c.idx),
                )
            }
        return TailState(size, int(nodes), None if latest is None else int(latest), beyond)

    # --- the append transaction ----------------------------------------------------------
    def append(
        self,
        records: Sequence[NewRecord],
        sign_checkpoint: CheckpointSigner,
        *,
        dedupe: bool = True,
        require_signers: bool = True,
        log_key_id: str | None = None,
    ) -> AppendResult:
        """Append records, their index rows and nodes, and one new checkpoint, atomically.

        An image record whose file SHA-256 or content digest is already in the log is not
        appended again when ``dedupe``; nor is a record whose id is present. Either is
        reported with its existing index and created=False (the caller tells "exists" from
        "another signer's").

        Raises:
            LogIntegrityError: the stored frontier does not match the latest checkpoint,
                a parent is missing or not an image record, or the new checkpoint is not
                consistent with the last.
            KeyStateError: a key rule is broken under the lock (:mod:`.append`).
            DatabaseLockedError: another writer held the lock past the busy timeout.
        """
        result = AppendResult()
        try:
            with self._writer.begin() as conn:
                self._lock_writers(conn)
                compact, last = load_tail(conn)
                known = Known.load(conn, records, dedupe=dedupe)
                rows = Rows()
                for rec in records:
                    existing = existing_index(rec, known)
                    if existing is not None:
                        result.indices.append(existing)
                        result.created.append(False)
                        continue
                    idx = place(
                        rec,
                        known,
                        compact,
                        rows,
                        require_signers=require_signers,
                        log_key_id=log_key_id,
                    )
                    result.indices.append(idx)
                    result.created.append(True)
                if not rows.records:
                    result.checkpoint = last
                    return result
                write(conn, rows)
                result.checkpoint = seal(conn, compact, last, sign_checkpoint, rows.key_events)
        except SQLAlchemyError as exc:
            raise translate(exc, "appending to the log") from exc
        return result
