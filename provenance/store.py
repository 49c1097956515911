"""Storage: SQLAlchemy 2 models, engines, the append transaction, node storage and lookups.

This is the only module that imports SQLAlchemy. It knows nothing about images or
signatures: it stores canonical record bytes, the digests the ledger extracted from them,
parent links, every complete-subtree hash of the RFC 9162 tree keyed by (level, index), and
signed checkpoints. Every append (records + digests + parents + nodes + the new checkpoint)
happens in one transaction: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory
lock on PostgreSQL, so concurrent writers serialise instead of forking the log.

Opening a ledger never reads every row: the frontier (compact range) is at most log2(n)+1
node rows fetched by primary key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast

from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from provenance import merkle
from provenance.errors import (
    DatabaseLockedError,
    ForeignDatabaseError,
    KeyStateError,
    LedgerExistsError,
    LedgerNotFoundError,
    LogIntegrityError,
    NotFoundError,
    StoreError,
)

SCHEMA_ID: Final = "provenance-ledger"
HEAD_REVISION: Final = "0003"
LOG_TABLES: Final = (
    "records",
    "assets",
    "parents",
    "nodes",
    "checkpoints",
    "keys",
    "revocations",
)
PG_LOCK_ID: Final = 0x70726F76  # "prov": the advisory lock serialising appends
PG_LOCK_TIMEOUT: Final = "55P03"  # SQLSTATE lock_not_available (lock_timeout expired)


class Base(DeclarativeBase):
    """Declarative base of the ledger schema (the migrations create the same tables)."""


class MetaRow(Base):
    __tablename__ = "meta"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class RecordRow(Base):
    __tablename__ = "records"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    rid: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    signer: Mapped[str] = mapped_column(String(64), index=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)


class AssetRow(Base):
    __tablename__ = "assets"
    idx: Mapped[int] = mapped_column(
        ForeignKey("records.idx"), primary_key=True, autoincrement=False
    )
    sha256: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    pixels: Mapped[bytes] = mapped_column(LargeBinary(32), index=True)
    phash64: Mapped[int] = mapped_column(BigInteger)
    phash256: Mapped[bytes] = mapped_column(LargeBinary(32))


class ParentRow(Base):
    __tablename__ = "parents"
    child: Mapped[int] = mapped_column(
        ForeignKey("records.idx"), primary_key=True, autoincrement=False
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    parent: Mapped[int] = mapped_column(ForeignKey("records.idx"), index=True)


class NodeRow(Base):
    __tablename__ = "nodes"
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class CheckpointRow(Base):
    __tablename__ = "checkpoints"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    note: Mapped[str] = mapped_column(Text)


class KeyRow(Base):
    __tablename__ = "keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(ForeignKey("records.idx"))


class RevocationRow(Base):
    __tablename__ = "revocations"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    idx: Mapped[int] = mapped_column(ForeignKey("records.idx"))


Index("ix_assets_phash64", AssetRow.phash64)

_records = cast(Table, RecordRow.__table__)
_assets = cast(Table, AssetRow.__table__)
_parents = cast(Table, ParentRow.__table__)
_nodes = cast(Table, NodeRow.__table__)
_checkpoints = cast(Table, CheckpointRow.__table__)
_keys = cast(Table, KeyRow.__table__)
_revocations = cast(Table, RevocationRow.__table__)
_meta = cast(Table, MetaRow.__table__)


# --- value types crossing the boundary -----------------------------------------------------
@dataclass(frozen=True, slots=True)
class AssetDigestRow:
    """The digests stored for one record, as raw values."""

    sha256: bytes
    pixels: bytes
    phash64: int
    phash256: bytes


@dataclass(frozen=True, slots=True)
class NewRecord:
    """One record ready to append: its canonical bytes and what the store indexes."""

    body: bytes
    rid: bytes
    kind: str
    signer: str
    parents: tuple[bytes, ...] = ()
    asset: AssetDigestRow | None = None
    registers_key: str | None = None
    revokes_key: str | None = None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as stored: its leaf index, id bytes and canonical body."""

    idx: int
    rid: bytes
    kind: str
    signer: str
    body: bytes


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    size: int
    root: bytes
    note: str


@dataclass(slots=True)
class AppendResult:
    """What one append transaction did: index per input (new or existing) and the checkpoint."""

    indices: list[int] = field(default_factory=list)
    created: list[bool] = field(default_factory=list)
    checkpoint: StoredCheckpoint | None = None


@dataclass(frozen=True, slots=True)
class TailState:
    """See :meth:`Store.tail_state`."""

    size: int
    nodes: int
    latest_checkpoint: int | None
    rows_beyond: dict[str, int]


CheckpointSigner = Callable[[int, bytes, "str | None", "list[tuple[int, bytes]]"], str]
"""``sign(size, root, previous checkpoint note or None, [(index, record id) of the key
events appended now])`` -> the new signed checkpoint note."""


# --- engines -------------------------------------------------------------------------------
def normalise_url(db: str) -> str:
    """Turn a plain path into a SQLite URL; leave SQLAlchemy URLs alone."""
    if "://" in db:
        return db
    return "sqlite:///" + str(Path(db).expanduser().absolute())


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL, or None for other engines / in-memory."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database)


def _make_engine(url: str, *, immediate: bool, busy_timeout_s: float) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        engine = create_engine(
            u,
            connect_args={"timeout": busy_timeout_s, "check_same_thread": False},
            poolclass=None,
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    if u.get_backend_name() == "postgresql":
        # READ COMMITTED explicitly: after waiting for the advisory lock, each statement must
        # see what the previous writer committed (a server default of REPEATABLE READ would
        # keep the snapshot taken before the wait and fork the log).
        return create_engine(u, pool_pre_ping=True, isolation_level="READ COMMITTED")
    raise StoreError(
        f"unsupported database URL scheme: {u.drivername}",
        hint="use a SQLite path or postgresql+psycopg://...",
    )


def _translate(exc: SQLAlchemyError, what: str) -> StoreError:
    orig = getattr(exc, "orig", None)
    msg = str(orig if orig is not None else exc).splitlines()[0]
    if isinstance(orig, sqlite3.OperationalError) and "locked" in msg:
        return DatabaseLockedError(f"database is locked ({what})")
    if getattr(orig, "sqlstate", None) == PG_LOCK_TIMEOUT:
        return DatabaseLockedError(f"another writer holds the ledger lock ({what})")
    if isinstance(orig, sqlite3.OperationalError) and "readonly" in msg.replace("-", ""):
        return StoreError(
            f"database is read-only ({what})",
            hint="check the permissions of the database file and its folder",
        )
    if isinstance(orig, sqlite3.OperationalError) and "disk" in msg and "full" in msg:
        return StoreError(f"disk full ({what}); nothing was written")
    if isinstance(orig, sqlite3.OperationalError) and "disk I/O error" in msg:
        return StoreError(
            f"disk I/O error ({what})", hint="the disk holding the ledger may be full or failing"
        )
    if isinstance(orig, sqlite3.OperationalError) and "unable to open database file" in msg:
        return StoreError(
            f"cannot open the database file ({what})",
            hint="the ledger's folder must be writable: SQLite keeps <db>-wal and "
            "<db>-shm beside the database (a read-only disk cannot be used)",
        )
    if isinstance(orig, sqlite3.DatabaseError) and "not a database" in msg:
        return ForeignDatabaseError(f"not a provenance ledger: {msg}")
    return StoreError(f"database error while {what}: {msg}")


class Store:
    """One ledger database: a reader engine and a writer engine over the same URL."""

    def __init__(self, url: str, *, busy_timeout_s: float = 30.0) -> None:
        self.url = normalise_url(url)
        self.backend = make_url(self.url).get_backend_name()
        self._busy = busy_timeout_s
        self._reader = _make_engine(self.url, immediate=False, busy_timeout_s=busy_timeout_s)
        self._writer = _make_engine(self.url, immediate=True, busy_timeout_s=busy_timeout_s)

    # --- lifecycle ---------------------------------------------------------------------
    @classmethod
    def create(cls, url: str, *, origin: str, log_public_key: str) -> Store:
        """Create a new ledger (schema at head, meta filled). Refuses an existing one."""
        url = normalise_url(url)
        path = sqlite_path(url)
        if path is not None:
            if path.exists() and path.stat().st_size > 0:
                raise LedgerExistsError(f"a database already exists at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)
        store = cls(url)
        try:
            if store.backend == "sqlite":
                # Outside any transaction: inside one (the writer engine begins every
                # connection with BEGIN IMMEDIATE) SQLite silently keeps the rollback journal.
                raw = store._writer.raw_connection()
                try:
                    raw.cursor().execute("PRAGMA journal_mode = WAL").fetchall()
                finally:
                    raw.close()
            with store._writer.connect() as conn:
                existing = inspect(conn).get_table_names()
                if existing:
                    raise LedgerExistsError(
                        f"database already has tables ({', '.join(sorted(existing)[:3])}...)"
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
                raise _translate(exc, "creating the ledger") from exc
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
                        f"{self.display_url} is not a provenance ledger (no meta table)"
                    )
                schema = conn.execute(select(_meta.c.value).where(_meta.c.key == "schema")).scalar()
                if schema != SCHEMA_ID:
                    raise ForeignDatabaseError(
                        f"{self.display_url} is not a provenance ledger (schema {schema!r})"
                    )
                rev = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except SQLAlchemyError as exc:
            raise _translate(exc, "opening the ledger") from exc
        if rev != HEAD_REVISION:
            known = {"0001", "0002", HEAD_REVISION}
            if rev not in known:
                raise ForeignDatabaseError(
                    f"ledger schema revision {rev!r} is newer than this program understands",
                    hint="upgrade provenance",
                )
            self.migrate()

    def migrate(self, *, revision: str = "head", create_meta: dict[str, str] | None = None) -> None:
        """Run the Alembic migrations up to ``revision`` in one transaction."""
        from provenance import migrate as _migrate  # lazy: Alembic is slow to import

        try:
            with self._writer.begin() as conn:
                self._lock_writers(conn)  # two programs opening an old ledger upgrade once
                _migrate.upgrade(conn, revision)
                if create_meta is not None:
                    conn.execute(
                        _meta.insert(), [{"key": k, "value": v} for k, v in create_meta.items()]
                    )
        except SQLAlchemyError as exc:
            raise _translate(exc, "migrating the schema") from exc

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
            return {k: v for k, v in conn.execute(select(_meta.c.key, _meta.c.value))}

    # --- reads -------------------------------------------------------------------------
    def _read(self) -> _ReadCtx:
        return _ReadCtx(self)

    def size(self) -> int:
        with self._read() as conn:
            return _size(conn)

    def frontier(self, size: int | None = None) -> merkle.CompactRange:
        with self._read() as conn:
            return _frontier(conn, _size(conn) if size is None else size)

    def record_at(self, idx: int) -> StoredRecord:
        with self._read() as conn:
            row = conn.execute(select(_records).where(_records.c.idx == idx)).first()
        if row is None:
            raise NotFoundError(f"no record at log index {idx}")
        return StoredRecord(row.idx, row.rid, row.kind, row.signer, row.body)

    def record_by_id(self, rid: bytes) -> StoredRecord | None:
        with self._read() as conn:
            row = conn.execute(select(_records).where(_records.c.rid == rid)).first()
        if row is None:
            return None
        return StoredRecord(row.idx, row.rid, row.kind, row.signer, row.body)

    def records_at(self, indices: Iterable[int]) -> dict[int, StoredRecord]:
        wanted = sorted(set(indices))
        out: dict[int, StoredRecord] = {}
        with self._read() as conn:
            for chunk in _chunks(wanted, 500):
                for row in conn.execute(select(_records).where(_records.c.idx.in_(chunk))):
                    out[row.idx] = StoredRecord(row.idx, row.rid, row.kind, row.signer, row.body)
        return out

    def iter_records(
        self, start: int = 0, stop: int | None = None, batch: int = 5000
    ) -> Iterator[StoredRecord]:
        """Stream records in log order without holding them all in memory."""
        pos = start
        while True:
            with self._read() as conn:
                q = select(_records).where(_records.c.idx >= pos)
                if stop is not None:
                    q = q.where(_records.c.idx < stop)
                rows = conn.execute(q.order_by(_records.c.idx).limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield StoredRecord(row.idx, row.rid, row.kind, row.signer, row.body)
            pos = rows[-1].idx + 1

    def find_by_sha256(self, digest: bytes) -> list[int]:
        with self._read() as conn:
            return list(
                conn.execute(
                    select(_assets.c.idx).where(_assets.c.sha256 == digest).order_by(_assets.c.idx)
                ).scalars()
            )

    def find_by_pixels(self, digest: bytes) -> list[int]:
        with self._read() as conn:
            return list(
                conn.execute(
                    select(_assets.c.idx).where(_assets.c.pixels == digest).order_by(_assets.c.idx)
                ).scalars()
            )

    def asset_digests(self, indices: Iterable[int]) -> dict[int, AssetDigestRow]:
        out: dict[int, AssetDigestRow] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(indices)), 500):
                for row in conn.execute(select(_assets).where(_assets.c.idx.in_(chunk))):
                    out[row.idx] = AssetDigestRow(row.sha256, row.pixels, row.phash64, row.phash256)
        return out

    def iter_phash64(
        self, start: int = 0, stop: int | None = None, batch: int = 200_000
    ) -> Iterator[list[tuple[int, int]]]:
        """Stream ``(idx, phash64)`` pairs with start <= idx < stop, in batches, in log order."""
        pos = start
        while True:
            q = select(_assets.c.idx, _assets.c.phash64).where(_assets.c.idx >= pos)
            if stop is not None:
                q = q.where(_assets.c.idx < stop)
            with self._read() as conn:
                rows = conn.execute(q.order_by(_assets.c.idx).limit(batch)).all()
            if not rows:
                return
            yield [(r[0], r[1]) for r in rows]
            pos = rows[-1][0] + 1

    def parents_of(self, idx: int) -> list[int]:
        with self._read() as conn:
            return list(
                conn.execute(
                    select(_parents.c.parent)
                    .where(_parents.c.child == idx)
                    .order_by(_parents.c.position)
                ).scalars()
            )

    def parents_between(self, start: int, stop: int) -> dict[int, list[int]]:
        """Parent indices of every child in [start, stop), in position order."""
        out: dict[int, list[int]] = {}
        with self._read() as conn:
            for child, parent in conn.execute(
                select(_parents.c.child, _parents.c.parent)
                .where(_parents.c.child >= start, _parents.c.child < stop)
                .order_by(_parents.c.child, _parents.c.position)
            ):
                out.setdefault(child, []).append(parent)
        return out

    def indices_by_ids(self, rids: Iterable[bytes]) -> dict[bytes, int]:
        """Log index of each record id present (absent ids are left out)."""
        out: dict[bytes, int] = {}
        with self._read() as conn:
            for chunk in _chunks(sorted(set(rids)), 500):
                for rid, idx in conn.execute(
                    select(_records.c.rid, _records.c.idx).where(_records.c.rid.in_(chunk))
                ):
                    out[rid] = idx
        return out

    def records_by_signer(self, signer: str) -> list[StoredRecord]:
        """Records signed by ``signer``, in log order."""
        q = select(_records).where(_records.c.signer == signer)
        with self._read() as conn:
            return [
                StoredRecord(r.idx, r.rid, r.kind, r.signer, r.body)
                for r in conn.execute(q.order_by(_records.c.idx))
            ]

    def key_events(self, key_id: str) -> tuple[int | None, int | None]:
        """Log indices of the registration and revocation records of ``key_id``."""
        with self._read() as conn:
            reg = conn.execute(select(_keys.c.idx).where(_keys.c.key_id == key_id)).scalar()
            rev = conn.execute(
                select(_revocations.c.idx).where(_revocations.c.key_id == key_id)
            ).scalar()
        return reg, rev

    def key_rows(self) -> list[tuple[str, int, int | None]]:
        """Every registered key: (key id, registration index, revocation index or None)."""
        with self._read() as conn:
            revs = dict(conn.execute(select(_revocations.c.key_id, _revocations.c.idx)).all())
            return [
                (k, i, revs.get(k))
                for k, i in conn.execute(select(_keys.c.key_id, _keys.c.idx).order_by(_keys.c.idx))
            ]

    def nodes(self, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        with self._read() as conn:
            return _fetch_nodes(conn, ids)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        with self._read() as conn:
            return _proof(conn, merkle.inclusion_proof_ranges(index, size))

    def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        with self._read() as conn:
            return _proof(conn, merkle.consistency_proof_ranges(size1, size2))

    def latest_checkpoint(self) -> StoredCheckpoint | None:
        with self._read() as conn:
            row = conn.execute(
                select(_checkpoints).order_by(_checkpoints.c.size.desc()).limit(1)
            ).first()
        return None if row is None else StoredCheckpoint(row.size, row.root, row.note)

    def checkpoint_at(self, size: int) -> StoredCheckpoint | None:
        with self._read() as conn:
            row = conn.execute(select(_checkpoints).where(_checkpoints.c.size == size)).first()
        return None if row is None else StoredCheckpoint(row.size, row.root, row.note)

    def iter_checkpoints(self, batch: int = 5000) -> Iterator[StoredCheckpoint]:
        pos = -1
        while True:
            with self._read() as conn:
                rows = conn.execute(
                    select(_checkpoints)
                    .where(_checkpoints.c.size > pos)
                    .order_by(_checkpoints.c.size)
                    .limit(batch)
                ).all()
            if not rows:
                return
            for r in rows:
                yield StoredCheckpoint(r.size, r.root, r.note)
            pos = rows[-1].size

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
            "records": _records.c.idx,
            "assets": _assets.c.idx,
            "parents": _parents.c.child,
            "keys": _keys.c.idx,
            "revocations": _revocations.c.idx,
        }
        with self._read() as conn:
            out = {
                t: conn.execute(select(func.count()).where(c < below)).scalar_one()
                for t, c in col.items()
            }
            out["checkpoints"] = conn.execute(
                select(func.count()).where(_checkpoints.c.size <= below)
            ).scalar_one()
            nodes = 0
            for level in range(max(below, 1).bit_length()):
                first = merkle.node_key(level, 0)
                n = below >> level
                if n:
                    nodes += conn.execute(
                        select(func.count()).where(_nodes.c.key >= first, _nodes.c.key < first + n)
                    ).scalar_one()
            out["nodes"] = nodes
        return out

    def tail_state(self) -> TailState:
        """The log's end, read in one transaction: size, node rows, newest checkpoint, and
        index rows pointing past the last record."""
        with self._read() as conn, conn.begin():
            size = _size(conn)
            nodes = conn.execute(select(func.count()).select_from(_nodes)).scalar_one()
            latest = conn.execute(select(func.max(_checkpoints.c.size))).scalar()
            beyond = {
                t: conn.execute(select(func.count()).where(c >= size)).scalar_one()
                for t, c in (
                    ("assets", _assets.c.idx),
                    ("parents", _parents.c.child),
                    ("keys", _keys.c.idx),
                    ("revocations", _revocations.c.idx),
                )
            }
        return TailState(size, int(nodes), None if latest is None else int(latest), beyond)

    # --- the append transaction ----------------------------------------------------------
    def append(
        self,
        records: Sequence[NewRecord],
        sign_checkpoint: CheckpointSigner,
        *,
        dedupe_sha256: bool = True,
        require_signers: bool = True,
    ) -> AppendResult:
        """Append records, their indexes and nodes, and one new checkpoint, atomically.

        A capture or edit whose asset SHA-256 is already in the log is not appended again
        when ``dedupe_sha256`` is true; its existing index is reported with created=False.
        A record whose id is already present is likewise reported, never duplicated.

        Raises:
            LogIntegrityError: the stored frontier does not match the latest checkpoint, or
                a parent is missing, or the new checkpoint is not consistent with the last.
            KeyStateError: a key record registers a key already registered, or revokes a
                key already revoked (another writer got there first); or, with
                ``require_signers``, a capture or edit is signed by a key that is not
                registered or was revoked (checked under the write lock, so a revocation
                racing a bulk sign cannot let a record in after it).
            DatabaseLockedError: another writer held the lock past the busy timeout.
        """
        result = AppendResult()
        try:
            with self._writer.begin() as conn:
                self._lock_writers(conn)
                size = _size(conn)
                compact = _frontier(conn, size)
                last = conn.execute(
                    select(_checkpoints).order_by(_checkpoints.c.size.desc()).limit(1)
                ).first()
                if (last is None) != (size == 0) or (
                    last is not None and (last.size != size or last.root != compact.root())
                ):
                    raise LogIntegrityError(
                        f"stored tree (size {size}) does not match the latest checkpoint "
                        f"(size {None if last is None else last.size}); refusing to append"
                    )
                # Everything the batch must be checked against, fetched in bulk (the append
                # of a large batch stays O(batch) queries / 500, not O(batch)).
                known_rid = _lookup(
                    conn,
                    _records.c.rid,
                    _records.c.idx,
                    [r.rid for r in records] + [p for r in records for p in r.parents],
                )
                known_sha = (
                    _lookup(
                        conn,
                        _assets.c.sha256,
                        _assets.c.idx,
                        [r.asset.sha256 for r in records if r.asset is not None],
                    )
                    if dedupe_sha256
                    else {}
                )
                known_keys = _lookup(
                    conn,
                    _keys.c.key_id,
                    _keys.c.idx,
                    [r.registers_key for r in records if r.registers_key],
                )
                known_revs = _lookup(
                    conn,
                    _revocations.c.key_id,
                    _revocations.c.idx,
                    [r.revokes_key for r in records if r.revokes_key]
                    + [r.signer for r in records if r.asset is not None],
                )
                signers = (
                    _lookup(conn, _keys.c.key_id, _keys.c.idx,
                            [r.signer for r in records if r.asset is not None])
                    if require_signers
                    else {}
                )
                rows_rec: list[dict[str, Any]] = []
                rows_asset: list[dict[str, Any]] = []
                rows_parent: list[dict[str, Any]] = []
                rows_node: list[dict[str, Any]] = []
                rows_key: list[dict[str, Any]] = []
                rows_rev: list[dict[str, Any]] = []
                for rec in records:
                    existing = known_rid.get(rec.rid)
                    if existing is None and dedupe_sha256 and rec.asset is not None:
                        existing = known_sha.get(rec.asset.sha256)
                    if existing is not None:
                        result.indices.append(existing)
                        result.created.append(False)
                        continue
                    idx = compact.size
                    if require_signers and rec.asset is not None:
                        if rec.signer not in signers:
                            raise KeyStateError(f"key {rec.signer} is not registered")
                        if rec.signer in known_revs:
                            raise KeyStateError(
                                f"key {rec.signer} was revoked (record {known_revs[rec.signer]})"
                            )
                    for pos, prid in enumerate(rec.parents):
                        pidx = known_rid.get(prid)
                        if pidx is None:
                            raise LogIntegrityError(f"parent sha256:{prid.hex()} is not in the log")
                        rows_parent.append({"child": idx, "position": pos, "parent": pidx})
                    # Checked again under the write lock: another writer may have registered
                    # or revoked the key since the ledger's own check (a state error, not
                    # damage: the log is fine).
                    if rec.registers_key is not None:
                        if rec.registers_key in known_keys:
                            raise KeyStateError(f"key {rec.registers_key} is already registered")
                        known_keys[rec.registers_key] = idx
                        rows_key.append({"key_id": rec.registers_key, "idx": idx})
                    if rec.revokes_key is not None:
                        if rec.revokes_key in known_revs:
                            raise KeyStateError(f"key {rec.revokes_key} was already revoked")
                        known_revs[rec.revokes_key] = idx
                        rows_rev.append({"key_id": rec.revokes_key, "idx": idx})
                    rows_rec.append(
                        {
                            "idx": idx,
                            "rid": rec.rid,
                            "kind": rec.kind,
                            "signer": rec.signer,
                            "body": rec.body,
                        }
                    )
                    if rec.asset is not None:
                        rows_asset.append(
                            {
                                "idx": idx,
                                "sha256": rec.asset.sha256,
                                "pixels": rec.asset.pixels,
                                "phash64": rec.asset.phash64,
                                "phash256": rec.asset.phash256,
                            }
                        )
                        known_sha.setdefault(rec.asset.sha256, idx)
                    for (level, index), h in compact.append(merkle.leaf_hash(rec.body)):
                        rows_node.append({"key": merkle.node_key(level, index), "hash": h})
                    known_rid[rec.rid] = idx
                    result.indices.append(idx)
                    result.created.append(True)
                if not rows_rec:
                    result.checkpoint = (
                        None if last is None else StoredCheckpoint(last.size, last.root, last.note)
                    )
                    return result
                conn.execute(_records.insert(), rows_rec)
                if rows_asset:
                    conn.execute(_assets.insert(), rows_asset)
                if rows_parent:
                    conn.execute(_parents.insert(), rows_parent)
                if rows_key:
                    conn.execute(_keys.insert(), rows_key)
                if rows_rev:
                    conn.execute(_revocations.insert(), rows_rev)
                conn.execute(_nodes.insert(), rows_node)
                new_size, new_root = compact.size, compact.root()
                if last is not None:
                    # Prove the new tree extends the old one before signing it.
                    proof = _proof(conn, merkle.consistency_proof_ranges(last.size, new_size))
                    merkle.verify_consistency(last.size, new_size, proof, last.root, new_root)
                key_events = [(r["idx"], r["rid"]) for r in rows_rec
                              if r["kind"] in ("key", "revoke")]
                note = sign_checkpoint(new_size, new_root,
                                       None if last is None else last.note, key_events)
                conn.execute(
                    _checkpoints.insert(), [{"size": new_size, "root": new_root, "note": note}]
                )
                result.checkpoint = StoredCheckpoint(new_size, new_root, note)
        except SQLAlchemyError as exc:
            raise _translate(exc, "appending to the log") from exc
        return result

    # --- for tests and tamper drills --------------------------------------------------------
    def raw_connection(self) -> Connection:
        """A plain connection for tests that simulate tampering. Not for application code."""
        return self._writer.connect()


class _ReadCtx:
    """A read transaction that turns database errors into StoreError."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._cm: Any = None

    def __enter__(self) -> Connection:
        try:
            self._cm = self._store._reader.connect()
            conn: Connection = self._cm.__enter__()
        except SQLAlchemyError as exc:
            raise _translate(exc, "reading the ledger") from exc
        return conn

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        try:
            self._cm.__exit__(et, ev, tb)
        except SQLAlchemyError as exc:
            raise _translate(exc, "reading the ledger") from exc
        if isinstance(ev, SQLAlchemyError):
            raise _translate(ev, "reading the ledger") from ev


def _size(conn: Connection) -> int:
    top = conn.execute(select(func.max(_records.c.idx))).scalar()
    return 0 if top is None else int(top) + 1


def _fetch_nodes(conn: Connection, ids: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    wanted = {merkle.node_key(level, index): (level, index) for level, index in ids}
    out: dict[tuple[int, int], bytes] = {}
    for chunk in _chunks(sorted(wanted), 500):
        for key, h in conn.execute(
            select(_nodes.c.key, _nodes.c.hash).where(_nodes.c.key.in_(chunk))
        ):
            out[wanted[key]] = h
    return out


def _frontier(conn: Connection, size: int) -> merkle.CompactRange:
    ids = merkle.range_nodes(0, size)
    got = _fetch_nodes(conn, ids)
    missing = [i for i in ids if i not in got]
    if missing:
        raise LogIntegrityError(f"node {missing[0]} of the frontier at size {size} is missing")
    return merkle.CompactRange(size, [got[i] for i in ids])


def _proof(conn: Connection, ranges: Sequence[tuple[int, int]]) -> list[bytes]:
    plan = [merkle.range_nodes(a, b) for a, b in ranges]
    got = _fetch_nodes(conn, (n for ids in plan for n in ids))
    out = []
    for ids in plan:
        missing = [i for i in ids if i not in got]
        if missing:
            raise LogIntegrityError(f"node {missing[0]} needed for a proof is missing")
        out.append(merkle.fold_range([got[i] for i in ids]))
    return out


def _lookup(conn: Connection, key: Any, value: Any, wanted: Sequence[Any]) -> dict[Any, int]:
    """``{key: smallest value}`` for the wanted keys present in the table, in bulk."""
    out: dict[Any, int] = {}
    for chunk in _chunks(sorted(set(wanted)), 500):
        for k, v in conn.execute(select(key, func.min(value)).where(key.in_(chunk)).group_by(key)):
            out[k] = v
    return out


def _chunks(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
