"""Compact layout (issue 12, under 1 KB per record) and content digests (digest set 2).

Rebuilds every log table:

* ``records``: ``idx`` becomes SQLite's rowid (``INTEGER PRIMARY KEY``); the 32-byte ``rid``
  with its unique index becomes ``rid_key``, the id's first 8 bytes, indexed (lookups are
  confirmed by hashing the body); ``kind`` and ``signer`` (and their index) go: they are
  read from the body.
* ``assets``: ``sha256``/``pixels``/``phash256`` become ``sha_key`` and ``content_key``
  (8-byte prefixes, confirmed against the body; digest set 1 records have no content
  digest) plus ``pdq``; the pHash-64 index goes (the perceptual index scans in memory).
* ``nodes`` and ``checkpoints``: the key becomes the rowid (no separate index).
* ``keys`` gains the key's ``name`` (indexed: names are unique per ledger from now on);
  ``parents`` loses its unused index on ``parent``.

Foreign keys are dropped: the append transaction checks parents and keys under its lock
and the audit checks every index row. The triggers are dropped first and recreated last.
Everything runs in the caller's transaction: a failure leaves the ledger as it was.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import sqlalchemy as sa
from alembic import op

from provenance.store.migrate import create_triggers, drop_triggers

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = ("records", "assets", "parents", "nodes", "checkpoints", "keys", "revocations")
_BATCH = 20_000
Int64 = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _prefix(value: bytes) -> int:
    return int.from_bytes(bytes(value)[:8], "big", signed=True)


def _columns(table: str) -> list[sa.Column[Any]]:
    """The rebuilt table's columns (a snapshot: later schema changes get new revisions)."""
    if table == "records":
        return [
            sa.Column("idx", Int64, primary_key=True, autoincrement=False),
            sa.Column("rid_key", sa.BigInteger, nullable=False),
            sa.Column("body", sa.LargeBinary, nullable=False),
        ]
    if table == "assets":
        return [
            sa.Column("idx", Int64, primary_key=True, autoincrement=False),
            sa.Column("sha_key", sa.BigInteger, nullable=False),
            sa.Column("content_key", sa.BigInteger, nullable=True),
            sa.Column("phash64", sa.BigInteger, nullable=False),
            sa.Column("pdq", sa.LargeBinary(32), nullable=True),
        ]
    if table == "parents":
        return [
            sa.Column("child", sa.BigInteger, primary_key=True, autoincrement=False),
            sa.Column("position", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("parent", sa.BigInteger, nullable=False),
        ]
    if table == "nodes":
        return [
            sa.Column("key", Int64, primary_key=True, autoincrement=False),
            sa.Column("hash", sa.LargeBinary(32), nullable=False),
        ]
    if table == "checkpoints":
        return [
            sa.Column("size", Int64, primary_key=True, autoincrement=False),
            sa.Column("root", sa.LargeBinary(32), nullable=False),
            sa.Column("note", sa.Text, nullable=False),
        ]
    if table == "keys":
        return [
            sa.Column("key_id", sa.String(64), primary_key=True),
            sa.Column("idx", sa.BigInteger, nullable=False),
            sa.Column("name", sa.Text, nullable=False),
        ]
    return [
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.BigInteger, nullable=False),
    ]


_INDEXES = {
    "records": [("ix_records_rid_key", ["rid_key"])],
    "assets": [("ix_assets_sha_key", ["sha_key"]), ("ix_assets_content_key", ["content_key"])],
    "keys": [("ix_keys_name", ["name"])],
}


def _batches(bind: sa.Connection, query: str, order: str) -> Iterator[list[Any]]:
    """Rows of ``query`` (which must select ``order`` first), in batches, in order."""
    last: Any = None
    while True:
        where = "" if last is None else f" WHERE {order} > :last"
        rows = bind.execute(
            sa.text(f"SELECT * FROM ({query}) q{where} ORDER BY {order} LIMIT {_BATCH}"),
            {} if last is None else {"last": last},
        ).all()
        if not rows:
            return
        yield list(rows)
        last = rows[-1][0]


def _name(body: bytes) -> str:
    try:
        name = json.loads(bytes(body))["statement"]["key"]["name"]
    except (ValueError, KeyError, TypeError):
        return ""
    return name if isinstance(name, str) else ""


_Convert = Callable[[Any], dict[str, Any]]
_COPY: dict[str, tuple[str, str, _Convert]] = {
    "records": (
        "SELECT idx, rid, body FROM records",
        "idx",
        lambda r: {"idx": r[0], "rid_key": _prefix(r[1]), "body": r[2]},
    ),
    "assets": (
        "SELECT idx, sha256, phash64 FROM assets",
        "idx",
        lambda r: {
            "idx": r[0],
            "sha_key": _prefix(r[1]),
            "content_key": None,
            "phash64": r[2],
            "pdq": None,
        },
    ),
    "parents": (
        "SELECT child * 1000000 + position AS k, child, position, parent FROM parents",
        "k",
        lambda r: {"child": r[1], "position": r[2], "parent": r[3]},
    ),
    "nodes": ("SELECT key, hash FROM nodes", "key", lambda r: {"key": r[0], "hash": r[1]}),
    "checkpoints": (
        "SELECT size, root, note FROM checkpoints",
        "size",
        lambda r: {"size": r[0], "root": r[1], "note": r[2]},
    ),
    "keys": (
        "SELECT k.idx, k.key_id, r.body FROM keys k JOIN records r ON r.idx = k.idx",
        "idx",
        lambda r: {"key_id": r[1], "idx": r[0], "name": _name(r[2])},
    ),
    "revocations": (
        "SELECT idx, key_id FROM revocations",
        "idx",
        lambda r: {"key_id": r[1], "idx": r[0]},
    ),
}


def upgrade() -> None:
    bind = op.get_bind()
    drop_triggers(bind, _TABLES)
    # Tables that referred to ``records`` first, so dropping the old ``records`` is allowed.
    for table in ("assets", "parents", "keys", "revocations", "nodes", "checkpoints", "records"):
        new = op.create_table(f"{table}_v4", *_columns(table))
        query, order, convert = _COPY[table]
        for rows in _batches(bind, query, order):
            bind.execute(new.insert(), [convert(r) for r in rows])
        op.drop_table(table)
        op.rename_table(f"{table}_v4", table)
        for name, cols in _INDEXES.get(table, []):
            op.create_index(name, table, cols)
    create_triggers(bind, _TABLES)
