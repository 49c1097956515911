"""The facade: ``Ledger.open(url)`` -> keys / sign / derive / edit / find / prove / export.

Data flows one way: the caller hands in paths, keys and a clock; the ledger extracts asset
digests (:mod:`provenance.imaging`, in a pool for folders: :mod:`provenance.ingest`),
builds and signs statements (:mod:`provenance.records`, :mod:`provenance.keys`), appends
them in one store transaction (:mod:`provenance.store`) which signs the new checkpoint
(:mod:`provenance.checkpoint`), and returns receipts. Verification evidence is gathered by
:mod:`provenance.evidence`. It never prints or exits; the CLI and the server render what it
returns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from provenance import merkle
from provenance.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, parse_note
from provenance.checkpoint import sign_checkpoint as sign_note_checkpoint
from provenance.dburl import normalise_url, sqlite_path
from provenance.errors import (
    CheckpointError,
    ForeignDatabaseError,
    ImageError,
    KeyFileError,
    KeyStateError,
    LedgerExistsError,
    LogIntegrityError,
    NotFoundError,
    ProvenanceError,
)
from provenance.keys import (
    PassphraseSource,
    PublicKey,
    SigningKey,
    key_file_encrypted,
    load_public_key_file,
    load_signing_key,
    save_signing_key,
)
from provenance.logkey import log_key_path, log_passphrase_source
from provenance.records import (
    KEY_EVENTS_START,
    Action,
    Asset,
    KeyRef,
    Record,
    Statement,
    check_key_name,
    check_user_claims,
    fold_key_event,
    format_time,
    is_record_id,
    key_events_line,
    parse_key_events_line,
    parse_record,
    sign_statement,
)
from provenance.store import AssetIndex, CheckpointSigner, NewRecord, Store, StoredCheckpoint

if TYPE_CHECKING:
    from provenance.audit import AuditResult
    from provenance.edits import Operation
    from provenance.evidence import LocalEvidence
    from provenance.index import PerceptualIndex
    from provenance.matching import FindResult

DEFAULT_BATCH = 256

SignStatus = Literal["signed", "exists", "conflict", "error"]


# --- receipts ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignResult:
    """What happened to one image handed to ``sign``, ``derive`` or ``edit``.

    ``exists``: already logged by the same key. ``conflict``: already logged by another key
    (``signer``, ``signer_name``): this signature was not recorded.
    """

    path: str
    status: SignStatus
    record_id: str | None = None
    index: int | None = None
    error: str | None = None
    sha256: str | None = None
    signer: str | None = None
    signer_name: str | None = None

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


def _now(now: datetime | None) -> str:
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


class Ledger:
    """An open ledger. Create with :meth:`init` or :meth:`open`; close when done."""

    def __init__(
        self, store: Store, *, log_key_file: Path | None, log_passphrase: PassphraseSource
    ) -> None:
        self.store = store
        meta = store.meta()
        if "origin" not in meta or "log_public_key" not in meta:
            raise ForeignDatabaseError(
                f"{store.display_url}: the ledger's meta table lacks its origin or log key"
            )
        self.origin = meta["origin"]
        self.log_public = PublicKey.parse(meta["log_public_key"])
        self.log_verifier = NoteVerifier(self.origin, self.log_public)
        self.log_key_file = log_key_file
        self._log_passphrase = log_passphrase
        self._log_signer: SigningKey | None = None
        self._index: PerceptualIndex | None = None
        if log_key_file is not None:
            pub_file = log_key_file.with_name(log_key_file.name + ".pub")
            if pub_file.exists():
                local = load_public_key_file(pub_file)
                if local.raw != self.log_public.raw:
                    raise LogIntegrityError(
                        f"the ledger's log key {self.log_public.key_id} is not the one in "
                        f"{pub_file} ({local.key_id}): the database was replaced or rewritten"
                    )

    # --- lifecycle -----------------------------------------------------------------------
    @classmethod
    def init(
        cls,
        db: str,
        *,
        origin: str | None = None,
        log_key: str | None = None,
        log_passphrase: PassphraseSource | None = None,
        kdf_rounds: int | None = None,
    ) -> Ledger:
        """Create a ledger and its log key. Nothing is left behind if either step fails.

        Raises:
            LedgerExistsError: a ledger (or a log key) is already there; nothing changed.
        """
        url = normalise_url(db)
        key_path = log_key_path(url, log_key)
        existing = sqlite_path(url)
        if existing is not None and existing.exists() and existing.stat().st_size > 0:
            raise LedgerExistsError(_exists_message(url), hint="nothing was changed")
        if key_path.exists():
            raise LedgerExistsError(
                f"a log key already exists at {key_path}; nothing was changed",
                hint="it belongs to a ledger: keep it. For a new ledger choose another --db "
                "(or --log-key)",
            )
        key = SigningKey.generate()
        if origin is None:
            # Unique per ledger, so two default ledgers never claim the same log name.
            dbp = sqlite_path(url)
            tag = key.public.key_id[7:15].replace("+", "-").replace("/", "_").lower()
            origin = f"provenance.local/{(dbp.stem if dbp else 'ledger')}-{tag}"
        check_origin(origin)
        try:
            key_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot create {key_path.parent}: {exc.strerror or exc}") from exc
        passphrase_src = log_passphrase or log_passphrase_source()
        passphrase = passphrase_src.get()
        kwargs: dict[str, Any] = {} if kdf_rounds is None else {"kdf_rounds": kdf_rounds}
        save_signing_key(key, key_path, passphrase, **kwargs)
        try:
            store = Store.create(url, origin=origin, log_public_key=key.public.openssh(origin))
        except BaseException:
            for p in (key_path, key_path.with_name(key_path.name + ".pub")):
                p.unlink(missing_ok=True)
            raise
        ledger = cls(store, log_key_file=key_path, log_passphrase=passphrase_src)
        ledger._log_signer = key
        return ledger

    @classmethod
    def open(
        cls,
        db: str,
        *,
        log_key: str | None = None,
        log_passphrase: PassphraseSource | None = None,
        busy_timeout_s: float = 30.0,
    ) -> Ledger:
        store = Store.open(db, busy_timeout_s=busy_timeout_s)
        try:
            try:
                key_path: Path | None = log_key_path(store.url, log_key)
            except KeyFileError:
                key_path = None
            return cls(
                store,
                log_key_file=key_path,
                log_passphrase=log_passphrase or log_passphrase_source(),
            )
        except BaseException:
            store.close()
            raise

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def info(self) -> LedgerInfo:
        return LedgerInfo(
            db=self.store.display_url,
            origin=self.origin,
            size=self.store.size(),
            log_key_id=self.log_public.key_id,
            vkey=self.log_verifier.vkey(),
            log_key_file=None if self.log_key_file is None else str(self.log_key_file),
            log_key_encrypted=None
            if self.log_key_file is None
            else key_file_encrypted(self.log_key_file),
            counts=self.store.table_counts(),
            checkpoint=self.checkpoint(),
        )

    # --- the log key ---------------------------------------------------------------------
    def log_signer(self) -> SigningKey:
        """The private log key, loaded on first use (only writers need it)."""
        if self._log_signer is None:
            if self.log_key_file is None:
                raise KeyFileError(
                    "the log key path is needed to write to this ledger",
                    hint="pass --log-key FILE or set PROVENANCE_LOG_KEY",
                )
            key = load_signing_key(self.log_key_file, self._log_passphrase)
            if key.public.raw != self.log_public.raw:
                raise KeyFileError(f"{self.log_key_file} is not this ledger's log key")
            self._log_signer = key
        return self._log_signer

    def _checkpoint_signer(self) -> CheckpointSigner:
        signer = NoteSigner(self.origin, self.log_signer())

        def sign(
            size: int, root: bytes, previous: str | None, key_events: list[tuple[int, bytes]]
        ) -> str:
            count, state = 0, KEY_EVENTS_START
            if previous is not None:
                text, _ = parse_note(previous)
                got = parse_key_events_line(Checkpoint.parse(text).extensions)
                if got is None:
                    raise LogIntegrityError("the previous checkpoint carries no key-event state")
                count, state = got
            for idx, rid in key_events:
                state = fold_key_event(state, idx, "sha256:" + rid.hex())
                count += 1
            cp = Checkpoint(self.origin, size, root, (key_events_line(count, state),))
            return sign_note_checkpoint(cp, signer)

        return sign

    def append_records(
        self, records: Sequence[Record], *, dedupe: bool = True
    ) -> list[tuple[int, bool]]:
        """Append signed records (one transaction, one checkpoint): (index, created) each.

        The rules the store checks under its lock apply (:mod:`provenance.store.append`);
        signatures are checked by the caller (:meth:`submit` for records from elsewhere).
        """
        res = self.store.append(
            [new_record(r) for r in records],
            self._checkpoint_signer(),
            dedupe=dedupe,
            log_key_id=self.log_public.key_id,
        )
        return list(zip(res.indices, res.created, strict=True))

    # --- keys ----------------------------------------------------------------------------
    def register_key(
        self, public: PublicKey, name: str, *, now: datetime | None = None
    ) -> tuple[int, str, bool]:
        """Register ``public`` under ``name`` (a ``key`` record signed by the log key).

        Returns (index, record id, created): registering the same key under the same name
        again is "already done" (created False), like signing a logged image.

        Raises:
            KeyStateError: the log key itself; a name or key registered otherwise.
            RecordError: an invalid name.
        """
        check_key_name(name)
        if public.key_id == self.log_public.key_id:
            raise KeyStateError(
                "the log key cannot be registered as a signer",
                hint="signers need keys of their own: provenance keys generate NAME",
            )
        reg, _ = self.store.key_events(public.key_id)
        if reg is not None:
            existing = self.key(public.key_id)
            if existing.name == name:
                return reg, "sha256:" + self.store.record_at(reg).rid.hex(), False
            raise KeyStateError(
                f"key {public.key_id} is already registered as {existing.name!r} (record {reg})"
            )
        holder = self.store.key_by_name(name)
        if holder is not None:
            raise KeyStateError(
                f"the name {name!r} is already taken by key {holder}",
                hint="names are unique in a ledger: choose another with --name",
            )
        st = Statement(
            type="key",
            time=_now(now),
            key=KeyRef(id=public.key_id, public=public.openssh(), name=name),
        )
        rec = sign_statement(st, self.log_signer())
        [(idx, _)] = self.append_records([rec], dedupe=False)
        return idx, rec.record_id, True

    def revoke_key(
        self,
        key_id: str,
        *,
        reason: str | None = None,
        now: datetime | None = None,
        by: SigningKey | None = None,
    ) -> tuple[int, str]:
        """Append a ``revoke`` record, signed by the log key or by the key itself (``by``)."""
        key_id = self.key(key_id).key_id
        reg, rev = self.store.key_events(key_id)
        if reg is None:
            raise KeyStateError(f"key {key_id} is not registered in this ledger")
        if rev is not None:
            raise KeyStateError(f"key {key_id} was already revoked (record {rev})")
        claims = {"reason": reason} if reason else {}
        st = Statement(type="revoke", time=_now(now), key=KeyRef(id=key_id), claims=claims)
        if by is not None and by.public.key_id != key_id:
            raise KeyStateError("a key can only revoke itself; the log key revokes any key")
        signer: SigningKey = by if by is not None else self.log_signer()
        rec = sign_statement(st, signer)
        [(idx, _)] = self.append_records([rec], dedupe=False)
        return idx, rec.record_id

    def list_keys(self) -> list[KeyInfo]:
        out = []
        rows = self.store.key_rows()
        bodies = self.store.records_at(i for _, i, _, _ in rows)
        for key_id, idx, name, rev in rows:
            st = parse_record(bodies[idx].body).statement
            if st.key is None or st.type != "key":
                raise LogIntegrityError(
                    f"key index row {key_id} points at record {idx}, a {st.type} record"
                )
            out.append(KeyInfo(key_id, name, st.key.public or "", idx, rev))
        return out

    def key(self, ref: str) -> KeyInfo:
        """A registered key by key id, name, or key file (``.pub`` or private).

        Raises:
            NotFoundError: no such key in this ledger.
        """
        keys = self.list_keys()
        for k in keys:
            if ref in (k.key_id, k.name):
                return k
        if not ref.startswith("SHA256:") and Path(ref).is_file():
            key_id = load_public_key_file(ref).key_id
            for k in keys:
                if k.key_id == key_id:
                    return k
            raise NotFoundError(f"the key in {ref} ({key_id}) is not registered in this ledger")
        raise NotFoundError(
            f"no key {ref[:80]!r} in this ledger",
            hint="give a key id, a name or a key file; `provenance keys list` shows them",
        )

    def _require_usable(self, key: SigningKey) -> None:
        reg, rev = self.store.key_events(key.public.key_id)
        if key.public.key_id == self.log_public.key_id:
            raise KeyStateError("the log key signs checkpoints and key records, not images")
        if reg is None:
            raise KeyStateError(
                f"key {key.public.key_id} is not registered in this ledger",
                hint="register it first: provenance keys register KEYFILE",
            )
        if rev is not None:
            raise KeyStateError(f"key {key.public.key_id} was revoked (record {rev})")

    def _signer_of(self, idx: int) -> tuple[str, str | None]:
        rec = parse_record(self.store.record_at(idx).body)
        names = {k: n for k, _, n, _ in self.store.key_rows()}
        return rec.signer, names.get(rec.signer)

    def _receipt(
        self, path: str, key: SigningKey, idx: int, created: bool, rid: str | None, sha: str
    ) -> SignResult:
        if created:
            return SignResult(path, "signed", rid, idx, sha256=sha, signer=key.key_id)
        signer, name = self._signer_of(idx)
        rid = "sha256:" + self.store.record_at(idx).rid.hex()
        status: SignStatus = "exists" if signer == key.key_id else "conflict"
        return SignResult(path, status, rid, idx, sha256=sha, signer=signer, signer_name=name)

    # --- signing -------------------------------------------------------------------------
    def sign(
        self,
        paths: Sequence[str | os.PathLike[str]],
        key: SigningKey,
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        workers: int = 1,
        batch_size: int = DEFAULT_BATCH,
        on_result: Callable[[SignResult], None] | None = None,
    ) -> list[SignResult]:
        """Sign capture records for images, in batches of ``batch_size`` (one checkpoint
        each), digests computed in ``workers`` processes.

        An image already logged (same bytes or same displayed content) is not signed again:
        ``exists`` when by this key, ``conflict`` (naming the signer) when by another. A
        failing image is reported with status ``error`` and the rest continue.
        ``on_result`` hears of each image as soon as its fate is known.
        """
        from provenance.imaging import file_sha256
        from provenance.ingest import digest_many

        self._require_usable(key)
        claims = dict(claims or {})
        check_user_claims(claims)
        results: list[SignResult] = []
        pending: list[tuple[str, Record]] = []

        def report(res: SignResult) -> None:
            results.append(res)
            if on_result is not None:
                on_result(res)

        def flush() -> None:
            if pending:
                done = self.append_records([r for _, r in pending])
                for (path, rec), (idx, created) in zip(pending, done, strict=True):
                    sha = rec.statement.asset.sha256 if rec.statement.asset else ""
                    report(self._receipt(path, key, idx, created, rec.record_id, sha))
                pending.clear()

        fresh: list[str] = []
        for raw in paths:
            path = str(raw)
            try:
                sha = file_sha256(Path(path).read_bytes())
            except OSError as exc:
                report(SignResult(path, "error", error=f"cannot read {path}: {exc.strerror}"))
                continue
            existing = self.store.find_by_sha256(bytes.fromhex(sha))
            if existing:
                report(self._receipt(path, key, existing[0], False, None, sha))
            else:
                fresh.append(path)
        for path, outcome in digest_many(fresh, workers):
            if isinstance(outcome, str):
                report(SignResult(path, "error", error=outcome))
                continue
            st = Statement(type="capture", time=_now(now), asset=outcome, claims=claims)
            pending.append((path, sign_statement(st, key)))
            if len(pending) >= batch_size:
                flush()
        flush()
        return results

    def derive(
        self,
        parents: Sequence[str],
        child: str | os.PathLike[str] | bytes,
        key: SigningKey,
        actions: Sequence[Action],
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        child_name: str | None = None,
        _marker: dict[str, str] | None = None,
    ) -> SignResult:
        """Record a declared edit: ``child`` was made from ``parents`` by ``actions``.

        Each parent is a record id, a log index, or an image path found in the log by file
        or content digest.
        """
        from provenance.imaging import ImageProbe

        self._require_usable(key)
        if not actions:
            raise ProvenanceError("an edit lists at least one action", hint="pass --action")
        user_claims = dict(claims or {})
        check_user_claims(user_claims)
        parent_ids = [self._resolve_parent(p) for p in parents]
        if isinstance(child, bytes):
            probe = ImageProbe(child, name=child_name or "<edited image>")
        else:
            probe = ImageProbe.from_file(child)
        name = child_name or (str(child) if not isinstance(child, bytes) else "<edited image>")
        st = Statement(
            type="edit",
            time=_now(now),
            asset=probe.asset(),
            parents=tuple(parent_ids),
            actions=tuple(actions),
            claims={**user_claims, **(_marker or {})},
        )
        rec = sign_statement(st, key)
        [(idx, created)] = self.append_records([rec])
        return self._receipt(name, key, idx, created, rec.record_id, probe.sha256)

    def edit(
        self,
        source: str | os.PathLike[str],
        output: str | os.PathLike[str],
        ops: Sequence[Operation],
        key: SigningKey,
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        overwrite: bool = False,
    ) -> SignResult:
        """Apply replayable operations to a logged image, record the edit, write ``output``.

        The output file appears only once its record is in the log (written atomically,
        with exclusive create, after the append commits).
        """
        from provenance import edits
        from provenance.files import write_atomic
        from provenance.imaging import read_image_bytes

        self._require_usable(key)
        if not ops:
            raise ProvenanceError(
                "no edit operation given", hint="pass --crop, --resize, --rotate or --flip"
            )
        out = Path(output)
        fmt = edits.OUTPUT_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise ProvenanceError(
                f"unsupported output type {out.suffix!r}: {out}",
                hint="use .png or .webp (exact replay), .jpg or .tif",
            )
        if os.path.lexists(out) and not overwrite:
            raise ProvenanceError(f"{out} exists", hint="pass --force to replace it")
        parent_id = self._resolve_parent(str(source))
        encoded = edits.apply(read_image_bytes(source), ops, out_format=fmt, name=str(source))
        res = self.derive(
            [parent_id],
            encoded,
            key,
            [op.action() for op in ops],
            claims=claims,
            now=now,
            child_name=str(out),
            _marker={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
        )
        if res.status != "conflict":
            write_atomic(out, encoded, overwrite=overwrite)
        return res

    def _resolve_parent(self, ref: str) -> str:
        idx = self.resolve(ref, perceptual=False)
        rec = self.record(idx)[1]
        if rec.statement.type not in ("capture", "edit"):
            raise NotFoundError(
                f"{ref} is a {rec.statement.type} record, not an image",
                hint="a parent is an image record (capture or edit)",
            )
        return rec.record_id

    # --- reading -------------------------------------------------------------------------
    def record(self, ref: str | int) -> tuple[int, Record]:
        """A record by log index or record id."""
        if isinstance(ref, int):
            stored = self.store.record_at(ref)
        else:
            if not is_record_id(ref):
                raise NotFoundError(
                    f"not a record id: {ref[:80]!r}", hint="a record id is sha256:<64 hex>"
                )
            got = self.store.record_by_id(bytes.fromhex(ref[7:]))
            if got is None:
                raise NotFoundError(f"record {ref} is not in the log")
            stored = got
        return stored.idx, parse_record(stored.body)

    def resolve(self, target: str | int, *, perceptual: bool = False) -> int:
        """A log index, a record id, or an image (matched by file or content digest) to its
        log index.

        Raises:
            NotFoundError: nothing in the log matches.
        """
        if isinstance(target, int):
            return self.record(target)[0]
        index = parse_index(target)
        if index is not None:
            return self.record(index)[0]
        if is_record_id(target):
            return self.record(target)[0]
        found = self.find(target, perceptual=perceptual)
        if found.best is None:
            raise NotFoundError(
                f"{target} is not in the log (no file or content match)",
                hint="sign it first, or name its record id or log index",
            )
        return found.best.index

    def checkpoint(self) -> StoredCheckpoint | None:
        """The latest checkpoint, its signed note checked against the log key and its row.

        Raises:
            LogIntegrityError: the stored note does not verify or disagrees with its row (it
                must never be printed, pinned or exported as if it were the log's).
        """
        cp = self.store.latest_checkpoint()
        if cp is None:
            return None
        try:
            opened = open_checkpoint(cp.note, self.log_verifier)
        except CheckpointError as exc:
            raise LogIntegrityError(f"the latest checkpoint does not verify: {exc}") from exc
        if (opened.size, opened.root) != (cp.size, cp.root):
            raise LogIntegrityError("the latest checkpoint's note disagrees with its row")
        return cp

    def size(self) -> int:
        return self.store.size()

    def prove(self, ref: str | int, size: int | None = None) -> InclusionProof:
        """Inclusion proof of a record in the tree of ``size`` leaves (default: latest),
        checked against the root before it is returned."""
        idx = self.resolve(ref)
        rec = self.store.record_at(idx)
        cp = self.store.latest_checkpoint()
        if size is None:
            if cp is None:
                raise NotFoundError("the log has no checkpoint yet")
            size = cp.size
        if not idx < size <= self.store.size():
            raise NotFoundError(
                f"record {idx} is not in a tree of size {size} (log size {self.store.size()})"
            )
        proof = self.store.inclusion_proof(idx, size)
        stored_cp = self.store.checkpoint_at(size)
        root = stored_cp.root if stored_cp is not None else self.store.frontier(size).root()
        leaf = merkle.leaf_hash(rec.body)
        merkle.verify_inclusion(idx, size, leaf, proof, root)
        note = stored_cp.note if stored_cp is not None else None
        return InclusionProof(idx, size, "sha256:" + rec.rid.hex(), leaf, tuple(proof), root, note)

    def consistency(self, size1: int, size2: int) -> tuple[list[bytes], bytes, bytes]:
        """Consistency proof between two tree sizes, with both roots; verified before return."""
        n = self.store.size()
        if not 0 <= size1 <= size2 <= n:
            raise NotFoundError(f"sizes must satisfy 0 <= OLD <= NEW <= {n}")
        root1 = self.store.frontier(size1).root()
        root2 = self.store.frontier(size2).root()
        if size1 == 0:
            # RFC 9162 defines no proof from the empty tree: every tree extends it.
            return [], root1, root2
        proof = self.store.consistency_proof(size1, size2) if size1 < size2 else []
        merkle.verify_consistency(size1, size2, proof, root1, root2)
        return proof, root1, root2

    # --- lookup --------------------------------------------------------------------------
    def find(self, image: str | os.PathLike[str] | bytes, *, perceptual: bool = True) -> FindResult:
        """Records matching an image: file SHA-256, then content digest, then perceptual."""
        from provenance.evidence import LocalCandidates
        from provenance.imaging import ImageProbe
        from provenance.matching import find

        probe = ImageProbe(image) if isinstance(image, bytes) else ImageProbe.from_file(image)
        return find(probe, LocalCandidates(self), perceptual=perceptual)

    def perceptual_index(self) -> PerceptualIndex:
        """The pHash-64 index, brought up to date with the log."""
        from provenance.index import PerceptualIndex

        if self._index is None:
            db = sqlite_path(self.store.url)
            cache = db.with_name(db.name + ".phash.npz") if db is not None else None
            self._index = PerceptualIndex(cache)
        self._index.refresh(
            self.store.size(),
            lambda a, b: self.store.iter_perceptual("phash64", a, b),
            lambda n: self.store.frontier(n).root(),
        )
        return self._index

    def audit(
        self,
        *,
        pinned: Sequence[str] = (),
        progress: Callable[[int], object] | None = None,
        workers: int = 0,
    ) -> AuditResult:
        """Audit the whole log (:mod:`provenance.audit`); ``workers`` check signatures."""
        from provenance.audit import audit_log

        return audit_log(
            self.store, self.log_verifier, pinned=pinned, progress=progress, workers=workers
        )

    def evidence(self) -> LocalEvidence:
        """The evidence gatherer for verification (:mod:`provenance.evidence`)."""
        from provenance.evidence import LocalEvidence

        return LocalEvidence(self)

    def iter_record_ids(self, indices: Iterable[int]) -> dict[int, str]:
        return {i: "sha256:" + r.rid.hex() for i, r in self.store.records_at(indices).items()}


def _exists_message(url: str) -> str:
    path = sqlite_path(url)
    try:
        with Ledger.open(url) as ledger:
            return (
                f"a ledger already exists at {ledger.store.display_url} (log "
                f"{ledger.origin}, {ledger.size()} records)"
            )
    except ProvenanceError:
        return f"a file that is not an empty database already exists at {path or url}"


_ = (Asset, ImageError)  # re-exported names used in type positions by callers
