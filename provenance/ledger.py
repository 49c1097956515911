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
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import provenance.merkle as merkle
from provenance.c2pa_ledger import C2paLedger
from provenance.checkpoint import Checkpoint, NoteSigner, NoteVerifier, open_checkpoint, parse_note
from provenance.checkpoint import sign_checkpoint as sign_note_checkpoint
from provenance.dburl import normalise_url, sqlite_path
from provenance.errors import (
    CheckpointError,
    ForeignDatabaseError,
    ImageError,
    KeyFileError,
    LedgerExistsError,
    LogIntegrityError,
    NotFoundError,
    ProvenanceError,
)
from provenance.keyring import KeyRegistry
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
from provenance.publishing import Publishing
from provenance.receipts import (
    InclusionProof,
    KeyInfo,
    LedgerInfo,
    SignResult,
    SignStatus,
    check_origin,
    new_record,
    parse_index,
)
from provenance.records import (
    KEY_EVENTS_START,
    Asset,
    Record,
    fold_key_event,
    is_record_id,
    key_events_line,
    parse_key_events_line,
    parse_record,
)
from provenance.signing import DEFAULT_BATCH, Signing
from provenance.store import CheckpointSigner, Store, StoredCheckpoint

if TYPE_CHECKING:
    from provenance.audit import AuditResult
    from provenance.evidence import LocalEvidence
    from provenance.imaging import ImageProbe
    from provenance.index import PerceptualIndex
    from provenance.matching import FindResult

__all__ = [
    "DEFAULT_BATCH",
    "InclusionProof",
    "KeyInfo",
    "Ledger",
    "LedgerInfo",
    "SignResult",
    "SignStatus",
    "check_origin",
    "new_record",
    "parse_index",
]


class Ledger(KeyRegistry, Signing, Publishing, C2paLedger):
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
        self._index_lock = threading.Lock()
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
    def find(
        self, image: str | os.PathLike[str] | bytes | ImageProbe, *, perceptual: bool = True
    ) -> FindResult:
        """Records matching an image: file SHA-256, then content digest, then perceptual."""
        from provenance.evidence import LocalCandidates
        from provenance.imaging import ImageProbe
        from provenance.matching import find

        if isinstance(image, ImageProbe):
            probe = image
        elif isinstance(image, bytes):
            probe = ImageProbe(image)
        else:
            probe = ImageProbe.from_file(image)
        return find(probe, LocalCandidates(self), perceptual=perceptual)

    def perceptual_index(self) -> PerceptualIndex:
        """The pHash-64 index, brought up to date with the log."""
        from provenance.index import PerceptualIndex

        with self._index_lock:  # a server looks up from several threads
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
        """Audit the whole log (:mod:`provenance.audit`); ``workers`` check signatures.

        Raises:
            TrustAnchorError: a pinned checkpoint is of another log (not damage of this one).
        """
        from provenance.audit import audit_log
        from provenance.errors import TrustAnchorError
        from provenance.verify import anchor_mismatch

        for note in pinned:
            try:
                why = anchor_mismatch(note, self.log_verifier)
            except CheckpointError:
                continue  # malformed: the audit reports it
            if why is not None:
                raise TrustAnchorError(
                    why, hint=f"this ledger is log {self.origin}: pin a checkpoint of it"
                )

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
