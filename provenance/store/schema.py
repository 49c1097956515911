"""The ledger's tables (SQLAlchemy Core), as migration 0004 leaves them.

Sized for a log of millions of records (issue 12: under 1 KB per record at 1M):

* ``records``: the leaf index (SQLite ``INTEGER PRIMARY KEY``, so it is the rowid and needs
  no index of its own), the canonical body, and ``rid_key``, the first 8 bytes of the record
  id as a signed integer, indexed. Lookups by record id go through the prefix and are
  confirmed by hashing the body; kind and signer are read from the body.
* ``assets``: per image record, 8-byte prefixes of the file SHA-256 (``sha_key``) and of the
  content digest (``content_key``, NULL for digest set 1), both indexed and confirmed against
  the body; pHash-64 and PDQ for the perceptual indexes (scanned in memory, never by SQL).
* ``parents``: (child, position) -> parent.
* ``nodes``: every complete-subtree hash keyed by ``level << 56 | index``.
* ``checkpoints``: every signed checkpoint by tree size.
* ``keys`` / ``revocations``: the index of each key's registration (with its name, unique
  per ledger) and revocation.
* ``meta``: origin, log public key, schema id.
* outside the log (migration 0005): ``cosignatures`` (witness cosignature lines per
  checkpoint size) and ``c2pa_manifests`` (C2PA manifest stores exported from records).

Every table is append-only (triggers, :mod:`provenance.store.migrate`).
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

SCHEMA_ID: Final = "provenance-ledger"
HEAD_REVISION: Final = "0005"
KNOWN_REVISIONS: Final = ("0001", "0002", "0003", "0004", HEAD_REVISION)
LOG_TABLES: Final = ("records", "assets", "parents", "nodes", "checkpoints", "keys", "revocations")

# BIGINT everywhere, but INTEGER on SQLite so a single-column primary key is the rowid.
Int64 = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
records = Table(
    "records",
    metadata,
    Column("idx", Int64, primary_key=True, autoincrement=False),
    Column("rid_key", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),
)
assets = Table(
    "assets",
    metadata,
    Column("idx", Int64, primary_key=True, autoincrement=False),
    Column("sha_key", BigInteger, nullable=False),
    Column("content_key", BigInteger, nullable=True),
    Column("phash64", BigInteger, nullable=False),
    Column("pdq", LargeBinary(32), nullable=True),
)
parents = Table(
    "parents",
    metadata,
    Column("child", BigInteger, primary_key=True, autoincrement=False),
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("parent", BigInteger, nullable=False),
)
nodes = Table(
    "nodes",
    metadata,
    Column("key", Int64, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("size", Int64, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
)
keys = Table(
    "keys",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("idx", BigInteger, nullable=False),
    Column("name", Text, nullable=False),
)
revocations = Table(
    "revocations",
    metadata,
    Column("key_id", String(64), primary_key=True),
    Column("idx", BigInteger, nullable=False),
)
cosignatures = Table(
    "cosignatures",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("witness", String(200), primary_key=True),
    Column("line", Text, nullable=False),
)
c2pa_manifests = Table(
    "c2pa_manifests",
    metadata,
    Column("manifest_id", String(200), primary_key=True),
    Column("record_id", String(71), nullable=False),
    Column("iscc", LargeBinary, nullable=False),
    Column("store_sha256", LargeBinary(32), nullable=False),
    Column("store", LargeBinary, nullable=False),
)
Index("ix_records_rid_key", records.c.rid_key)
Index("ix_c2pa_manifests_record", c2pa_manifests.c.record_id)
Index("ix_assets_sha_key", assets.c.sha_key)
Index("ix_assets_content_key", assets.c.content_key)
Index("ix_keys_name", keys.c.name)


def prefix_key(digest: bytes) -> int:
    """The first 8 bytes of a digest as a signed 64-bit integer (an index key)."""
    return int.from_bytes(digest[:8], "big", signed=True)
