"""Engines for SQLite and PostgreSQL, read transactions, and database errors mapped to ours.

SQLite: WAL (set at creation), ``synchronous=FULL``, a busy timeout, foreign keys on, and
writers that begin with ``BEGIN IMMEDIATE`` (measured: without it, concurrent writers forked
the chain); readers and writers use separate engines. PostgreSQL (psycopg 3): READ
COMMITTED, so a writer that waited for the append lock sees what the previous one committed.
Every SQLAlchemy error leaves this package as a :class:`~provenance.errors.StoreError`.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Final

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from provenance.errors import DatabaseLockedError, ForeignDatabaseError, StoreError

PG_LOCK_TIMEOUT: Final = "55P03"  # SQLSTATE lock_not_available (lock_timeout expired)


def make_engine(url: str, *, immediate: bool, busy_timeout_s: float) -> Engine:
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
            if immediate:  # the writer: appends at 1M records touch many index pages
                cur.execute("PRAGMA cache_size = -65536")
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


def translate(exc: SQLAlchemyError, what: str) -> StoreError:
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


class ReadCtx:
    """A read transaction that turns database errors into StoreError."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cm: Any = None

    def __enter__(self) -> Connection:
        try:
            self._cm = self._engine.connect()
            conn: Connection = self._cm.__enter__()
        except SQLAlchemyError as exc:
            raise translate(exc, "reading the ledger") from exc
        return conn

    def __exit__(self, et: Any, ev: Any, tb: Any) -> None:
        try:
            self._cm.__exit__(et, ev, tb)
        except SQLAlchemyError as exc:
            raise translate(exc, "reading the ledger") from exc
        if isinstance(ev, SQLAlchemyError):
            raise translate(ev, "reading the ledger") from ev
