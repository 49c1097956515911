"""What the ledger hands back: receipts of signing, key and proof records, ledger info.

Plain frozen values with a ``to_json`` each (the CLI and the server render them), and the
small pure helpers that turn a signed record into what the store indexes
(:func:`new_record`), and check a log origin or a log index given by a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from provenance.errors import ProvenanceError
from provenance.records import Record, format_time
from provenance.store import AssetIndex, NewRecord, StoredCheckpoint

SignStatus = Literal["signed", "exists", "conflict", "error"]


@dataclass(frozen=True, slots=True)
class SignResult:
    """What happened to one image handed to ``sign``, ``derive`` or ``edit``.

    ``exists``: already logged by the same key. ``conflict``: already logged by another key
    (``signer``, ``signer_name``): this signature was not recorded. ``c2pa``: one line on
    the file's Content Credentials as read at ingest (or why they were not read), None
    when it had none.
    """

    path: str
    status: SignStatus
    record_id: str | None = None
    index: int | None = None
    error: str | None = None
    sha256: str | None = None
    signer: str | None = None
    signer_name: str | None = None
    c2pa: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "record_id": self.record_id,
            "index": self.index,
            "sha256": self.sha256,
            "signer": self.signer,
            "signer_name": self.signer_name,
            "error": self.error,
            "c2pa": self.c2pa,
        }


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    name: str
    public: str
    registered_at: int
    revoked_at: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "name": self.name,
            "public": self.public,
            "registered_at": self.registered_at,
            "revoked_at": self.revoked_at,
        }


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    size: int
    record_id: str
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    root: bytes
    checkpoint: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "size": self.size,
            "record_id": self.record_id,
            "leaf_hash": self.leaf_hash.hex(),
            "root": self.root.hex(),
            "proof": [h.hex() for h in self.proof],
            "checkpoint": self.checkpoint,
            "verified": True,
        }


@dataclass(frozen=True, slots=True)
class LedgerInfo:
    """What ``log show`` and ``init`` print: where the ledger is and how to trust it."""

    db: str
    origin: str
    size: int
    log_key_id: str
    vkey: str
    log_key_file: str | None
    log_key_encrypted: bool | None
    counts: dict[str, int]
    checkpoint: StoredCheckpoint | None

    def to_json(self) -> dict[str, Any]:
        cp = self.checkpoint
        return {
            "db": self.db,
            "origin": self.origin,
            "size": self.size,
            "log_key_id": self.log_key_id,
            "vkey": self.vkey,
            "log_key_file": self.log_key_file,
            "log_key_encrypted": self.log_key_encrypted,
            "keys": self.counts.get("keys", 0),
            "revocations": self.counts.get("revocations", 0),
            "assets": self.counts.get("assets", 0),
            "checkpoint": None
            if cp is None
            else {"size": cp.size, "root": cp.root.hex(), "note": cp.note},
        }


def now_text(now: datetime | None) -> str:
    """RFC 3339 UTC text of ``now`` (default: the current time)."""
    return format_time(now if now is not None else datetime.now(UTC))


def new_record(record: Record) -> NewRecord:
    """Everything the store indexes about a signed record."""
    from provenance.imaging import phash64_to_int

    st = record.statement
    asset: AssetIndex | None = None
    if st.asset is not None:
        a = st.asset
        asset = AssetIndex(
            sha256=bytes.fromhex(a.sha256),
            content=bytes.fromhex(a.content) if a.content is not None else None,
            phash64=phash64_to_int(a.phash64),
            pdq=bytes.fromhex(a.pdq) if a.pdq is not None else None,
        )
    return NewRecord(
        body=record.canonical(),
        rid=bytes.fromhex(record.record_id.removeprefix("sha256:")),
        kind=st.type,
        signer=record.signer,
        parents=tuple(bytes.fromhex(p.removeprefix("sha256:")) for p in st.parents),
        asset=asset,
        registers_key=st.key.id if st.type == "key" and st.key is not None else None,
        key_name=st.key.name if st.type == "key" and st.key is not None else None,
        revokes_key=st.key.id if st.type == "revoke" and st.key is not None else None,
    )


_ORIGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._~:/-]{0,199}")


def check_origin(origin: str) -> None:
    """A log origin: a schema-less URL-like name (no spaces, no '+', printable ASCII).

    Raises:
        ProvenanceError: the name cannot be a checkpoint origin / signed-note key name.
    """
    if _ORIGIN.fullmatch(origin) is None:
        raise ProvenanceError(
            f"invalid log origin {origin[:60]!r}",
            hint="use a URL-like name without spaces or '+', e.g. newsroom.example/photos",
        )


def parse_index(text: str) -> int | None:
    """A log index written in decimal, or None when ``text`` is not one."""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else None
