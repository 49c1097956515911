"""The facade: ``Ledger.open(url)`` -> sign / derive / keys / find / history / prove / checkpoint.

Data flows one way: the caller hands in paths, keys and a clock; the ledger extracts asset
digests (:mod:`provenance.imaging`), builds and signs statements (:mod:`provenance.records`,
:mod:`provenance.keys`), appends them in one store transaction (:mod:`provenance.store`)
which signs the new checkpoint (:mod:`provenance.checkpoint`), and returns receipts. It
never prints or exits; the CLI renders what it returns.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from provenance import merkle
from provenance.checkpoint import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    parse_note,
    sign_checkpoint,
)
from provenance.errors import (
    ForeignDatabaseError,
    ImageError,
    KeyFileError,
    KeyStateError,
    LogIntegrityError,
    MerkleError,
    NotFoundError,
    ProvenanceError,
)
from provenance.keys import (
    PassphraseSource,
    PublicKey,
    SigningKey,
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
    fold_key_event,
    format_time,
    is_record_id,
    key_events_line,
    parse_key_events_line,
    parse_record,
    sign_statement,
)
from provenance.store import (
    AssetDigestRow,
    CheckpointSigner,
    NewRecord,
    Store,
    StoredCheckpoint,
    sqlite_path,
)

if TYPE_CHECKING:
    from provenance.edits import Operation
    from provenance.imaging import AssetDigests
    from provenance.index import PerceptualIndex
    from provenance.verify import Evidence, ImageDigests, PinnedCheckpoint, Replay, Report

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".tif", ".tiff", ".gif", ".heic", ".heif", ".avif"}
)
DEFAULT_BATCH = 256

MatchKind = Literal["sha256", "pixels", "perceptual"]


# --- receipts ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SignResult:
    """What happened to one image handed to ``sign`` or ``derive``."""

    path: str
    status: Literal["signed", "exists", "error"]
    record_id: str | None = None
    index: int | None = None
    error: str | None = None
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class KeyInfo:
    key_id: str
    name: str
    public: str
    registered_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class Match:
    """A record matching an image, and how."""

    index: int
    record_id: str
    kind: MatchKind
    phash64_distance: int | None = None
    phash256_distance: int | None = None


@dataclass(frozen=True, slots=True)
class FindResult:
    """Every match for an image, strongest kind first, with the image's own digests."""

    sha256: str
    pixels: str | None
    phash64: str | None
    phash256: str | None
    matches: tuple[Match, ...] = ()
    orphans: tuple[int, ...] = ()


@dataclass(slots=True)
class HistoryNode:
    """One record in an ancestry tree, with its parents."""

    index: int
    record_id: str
    record: Record
    parents: list[HistoryNode] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class InclusionProof:
    index: int
    size: int
    record_id: str
    leaf_hash: bytes
    proof: tuple[bytes, ...]
    root: bytes
    checkpoint: str | None


def _now(now: datetime | None) -> str:
    return format_time(now if now is not None else datetime.now(UTC))


def collect_images(paths: Iterable[str | os.PathLike[str]], *, recursive: bool) -> Iterator[Path]:
    """Expand files and folders into image paths, in a stable sorted order.

    Folders are walked only one level unless ``recursive``; files inside folders are kept when
    their suffix is an image suffix; files named explicitly are always kept (so a bad file
    given by name yields a clear error instead of being skipped).
    """
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            walker = sorted(p.rglob("*")) if recursive else sorted(p.iterdir())
            for child in walker:
                if child.suffix.lower() in IMAGE_SUFFIXES and not child.is_dir():
                    yield child
        else:
            yield p


def _worker_init() -> None:
    """Digest workers run one thread each: the pool already fills the cores, and a second
    decode thread per worker only competes with the other workers (measured: 2 processes
    1.96x one single-threaded process, against 1.5-1.76x with threads)."""
    from provenance.imaging import THREADS_ENV

    os.environ[THREADS_ENV] = "0"


def _digest_path(path: str) -> AssetDigests | str:
    """Worker entry point: digests of one file, or the error message (picklable)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    return _digest_data(data, path)


def _digest_data(data: bytes, name: str) -> AssetDigests | str:
    from provenance.imaging import digest_bytes

    try:
        return digest_bytes(data, name=name)
    except ImageError as exc:
        return str(exc)


def asset_from_digests(d: AssetDigests) -> Asset:
    return Asset(
        sha256=d.sha256,
        pixels=d.pixels,
        phash64=d.phash64,
        phash256=d.phash256,
        width=d.width,
        height=d.height,
        format=d.format,
    )


def _asset_row(asset: Asset) -> AssetDigestRow:
    from provenance.imaging import phash64_to_int

    return AssetDigestRow(
        sha256=bytes.fromhex(asset.sha256),
        pixels=bytes.fromhex(asset.pixels),
        phash64=phash64_to_int(asset.phash64),
        phash256=bytes.fromhex(asset.phash256),
    )


def new_record(record: Record) -> NewRecord:
    """Everything the store indexes about a signed record."""
    body = record.canonical()
    st = record.statement
    return NewRecord(
        body=body,
        rid=bytes.fromhex(record.record_id.removeprefix("sha256:")),
        kind=st.type,
        signer=record.signer,
        parents=tuple(bytes.fromhex(p.removeprefix("sha256:")) for p in st.parents),
        asset=_asset_row(st.asset) if st.asset is not None else None,
        registers_key=st.key.id if st.type == "key" and st.key is not None else None,
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
        self._log_key_file = log_key_file
        self._log_passphrase = log_passphrase
        self._log_signer: SigningKey | None = None
        self._index: PerceptualIndex | None = None
        if log_key_file is not None:
            pub_file = log_key_file.with_name(log_key_file.name + ".pub")
            if pub_file.exists():
                from provenance.keys import load_public_key_file

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
        """Create a ledger and its log key. Nothing is left behind if either step fails."""
        from provenance.store import normalise_url

        url = normalise_url(db)
        key_path = log_key_path(url, log_key)
        if key_path.exists():
            raise KeyFileError(
                f"a log key already exists at {key_path}",
                hint="remove it, or pass --log-key for a new one",
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
            key_path: Path | None = log_key_path(store.url, log_key)
        except KeyFileError:
            key_path = None
        return cls(
            store, log_key_file=key_path, log_passphrase=log_passphrase or log_passphrase_source()
        )

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the log key ---------------------------------------------------------------------
    def log_signer(self) -> SigningKey:
        """The private log key, loaded on first use (only writers need it)."""
        if self._log_signer is None:
            if self._log_key_file is None:
                raise KeyFileError(
                    "the log key path is needed to write to this ledger",
                    hint="pass --log-key FILE or set PROVENANCE_LOG_KEY",
                )
            key = load_signing_key(self._log_key_file, self._log_passphrase)
            if key.public.raw != self.log_public.raw:
                raise KeyFileError(f"{self._log_key_file} is not this ledger's log key")
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
            return sign_checkpoint(cp, signer)

        return sign

    def _append(self, records: Sequence[Record], *, dedupe: bool = True) -> list[tuple[int, bool]]:
        sign_cp = self._checkpoint_signer()
        res = self.store.append([new_record(r) for r in records], sign_cp, dedupe_sha256=dedupe)
        return list(zip(res.indices, res.created, strict=True))

    # --- keys ----------------------------------------------------------------------------
    def register_key(
        self, public: PublicKey, name: str, *, now: datetime | None = None
    ) -> tuple[int, str]:
        """Append a ``key`` record (signed by the log key) registering ``public``."""
        reg, _ = self.store.key_events(public.key_id)
        if reg is not None:
            raise KeyStateError(f"key {public.key_id} is already registered (record {reg})")
        st = Statement(
            type="key",
            time=_now(now),
            key=KeyRef(id=public.key_id, public=public.openssh(), name=name),
        )
        rec = sign_statement(st, self.log_signer())
        [(idx, _)] = self._append([rec], dedupe=False)
        return idx, rec.record_id

    def revoke_key(
        self,
        key_id: str,
        *,
        reason: str | None = None,
        now: datetime | None = None,
        by: SigningKey | None = None,
    ) -> tuple[int, str]:
        """Append a ``revoke`` record, signed by the log key or by the key itself (``by``)."""
        reg, rev = self.store.key_events(key_id)
        if reg is None:
            raise KeyStateError(f"key {key_id} is not registered in this ledger")
        if rev is not None:
            raise KeyStateError(f"key {key_id} was already revoked (record {rev})")
        claims = {"reason": reason} if reason else {}
        st = Statement(type="revoke", time=_now(now), key=KeyRef(id=key_id), claims=claims)
        signer: SigningKey = by if by is not None else self.log_signer()
        if by is not None and by.public.key_id != key_id:
            raise KeyStateError("a key can only revoke itself; the log key revokes any key")
        rec = sign_statement(st, signer)
        [(idx, _)] = self._append([rec], dedupe=False)
        return idx, rec.record_id

    def list_keys(self) -> list[KeyInfo]:
        out = []
        rows = self.store.key_rows()
        bodies = self.store.records_at(i for _, i, _ in rows)
        for key_id, idx, rev in rows:
            st = parse_record(bodies[idx].body).statement
            if st.key is None or st.type != "key":
                raise LogIntegrityError(
                    f"key index row {key_id} points at record {idx}, a {st.type} record"
                )
            out.append(KeyInfo(key_id, st.key.name or "", st.key.public or "", idx, rev))
        return out

    def key(self, key_id: str) -> KeyInfo:
        for k in self.list_keys():
            if k.key_id == key_id:
                return k
        raise NotFoundError(f"key {key_id} is not registered in this ledger")

    def _require_usable(self, key: SigningKey) -> None:
        reg, rev = self.store.key_events(key.public.key_id)
        if reg is None:
            raise KeyStateError(
                f"key {key.public.key_id} is not registered in this ledger",
                hint="register it first: provenance keys register KEYFILE",
            )
        if rev is not None:
            raise KeyStateError(f"key {key.public.key_id} was revoked (record {rev})")

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
        progress: Callable[[SignResult], None] | None = None,
    ) -> list[SignResult]:
        """Sign capture records for images; images already logged are reported, not re-signed.

        Digests are computed in ``workers`` processes (1 = in this process); records are
        signed and appended in batches of ``batch_size``, one checkpoint per batch. A failing
        image is reported with status ``error`` and the rest of the batch continues.
        """
        self._require_usable(key)
        results: list[SignResult] = []
        pending: list[tuple[str, Record, str]] = []
        claims = dict(claims or {})

        def flush() -> None:
            if not pending:
                return
            done = self._append([r for _, r, _ in pending])
            for (path, rec, sha), (idx, created) in zip(pending, done, strict=True):
                if created:
                    res = SignResult(path, "signed", rec.record_id, idx, sha256=sha)
                else:
                    res = SignResult(path, "exists", self._rid_at(idx), idx, sha256=sha)
                results.append(res)
                if progress:
                    progress(res)
            pending.clear()

        for path, outcome in self._digests([str(p) for p in paths], workers):
            if isinstance(outcome, SignResult):
                results.append(outcome)
                if progress:
                    progress(outcome)
                continue
            st = Statement(
                type="capture", time=_now(now), asset=asset_from_digests(outcome), claims=claims
            )
            pending.append((path, sign_statement(st, key), outcome.sha256))
            if len(pending) >= batch_size:
                flush()
        flush()
        return results

    def _rid_at(self, idx: int) -> str:
        return "sha256:" + self.store.record_at(idx).rid.hex()

    def _digests(
        self, paths: list[str], workers: int
    ) -> Iterator[tuple[str, AssetDigests | SignResult]]:
        """Yield (path, digests or a finished SignResult) in input order, bounded memory."""
        import hashlib

        def precheck(path: str, keep: bool) -> tuple[SignResult | None, bytes | None]:
            """Already logged (by file hash) or unreadable? ``keep``: return the bytes read."""
            try:
                with open(path, "rb") as fh:
                    data = fh.read() if keep else None
                    sha = (
                        hashlib.sha256(data)
                        if data is not None
                        else hashlib.file_digest(fh, "sha256")
                    ).hexdigest()
            except OSError as exc:
                err = f"cannot read {path}: {exc.strerror or exc}"
                return SignResult(path, "error", error=err), None
            existing = self.store.find_by_sha256(bytes.fromhex(sha))
            if existing:
                rid = self._rid_at(existing[0])
                return SignResult(path, "exists", rid, existing[0], sha256=sha), None
            return None, data

        def finish(path: str, out: AssetDigests | str) -> tuple[str, AssetDigests | SignResult]:
            if isinstance(out, str):
                return path, SignResult(path, "error", error=out)
            return path, out

        if workers <= 1:
            for path in paths:
                pre, data = precheck(path, keep=True)
                if pre is not None:
                    yield path, pre
                else:
                    assert data is not None
                    yield finish(path, _digest_data(data, path))
            return
        window = max(4, workers * 4)
        with ProcessPoolExecutor(max_workers=workers, initializer=_worker_init) as pool:
            queue: list[tuple[str, SignResult | Future[AssetDigests | str]]] = []
            for path in paths:
                pre, _ = precheck(path, keep=False)
                queue.append((path, pre if pre is not None else pool.submit(_digest_path, path)))
                while len(queue) >= window:
                    yield self._resolve(queue.pop(0), finish)
            while queue:
                yield self._resolve(queue.pop(0), finish)

    @staticmethod
    def _resolve(
        item: tuple[str, SignResult | Future[AssetDigests | str]],
        finish: Callable[[str, AssetDigests | str], tuple[str, AssetDigests | SignResult]],
    ) -> tuple[str, AssetDigests | SignResult]:
        path, fut = item
        if isinstance(fut, SignResult):
            return path, fut
        return finish(path, fut.result())

    def derive(
        self,
        parents: Sequence[str],
        child: str | os.PathLike[str],
        key: SigningKey,
        actions: Sequence[Action],
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
    ) -> SignResult:
        """Record a declared edit: ``child`` was made from ``parents`` by ``actions``.

        Each parent is a record id or an image path found in the log by file or pixel hash.
        """
        self._require_usable(key)
        if not actions:
            raise ProvenanceError("an edit lists at least one action", hint="pass --action")
        parent_ids = [self._resolve_parent(p) for p in parents]
        outcome = _digest_path(str(child))
        if isinstance(outcome, str):
            raise ImageError(outcome)
        existing = self.store.find_by_sha256(bytes.fromhex(outcome.sha256))
        if existing:
            return SignResult(
                str(child), "exists", self._rid_at(existing[0]), existing[0], sha256=outcome.sha256
            )
        st = Statement(
            type="edit",
            time=_now(now),
            asset=asset_from_digests(outcome),
            parents=tuple(parent_ids),
            actions=tuple(actions),
            claims=claims or {},
        )
        rec = sign_statement(st, key)
        [(idx, created)] = self._append([rec])
        rid = rec.record_id if created else self._rid_at(idx)
        return SignResult(
            str(child), "signed" if created else "exists", rid, idx, sha256=outcome.sha256
        )

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
        """Apply replayable operations to a logged image, write ``output``, record the edit.

        The output file appears only once its record is in the log (written to a temporary
        file first, renamed after the append commits).
        """
        from provenance import edits

        self._require_usable(key)
        if not ops:
            raise ProvenanceError(
                "no edit operation given", hint="pass --crop, --resize, --rotate or --flip"
            )
        out = Path(output)
        fmt = edits.OUTPUT_FORMATS.get(out.suffix.lower())
        if fmt is None:
            raise ProvenanceError(
                f"unsupported output type {out.suffix!r}",
                hint="use .png or .webp (exact replay), .jpg or .tif",
            )
        if out.exists() and not overwrite:
            raise ProvenanceError(f"{out} exists", hint="pass --force to replace it")
        parent_id = self._resolve_parent(str(source))
        data = _read(Path(source))
        encoded = edits.apply(data, ops, out_format=fmt, name=str(source))
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(encoded)
            res = self.derive(
                [parent_id],
                tmp,
                key,
                [op.action() for op in ops],
                claims={**(claims or {}), edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
                now=now,
            )
            os.replace(tmp, out)
        except OSError as exc:
            raise ProvenanceError(f"cannot write {out}: {exc.strerror or exc}") from exc
        finally:
            tmp.unlink(missing_ok=True)
        return SignResult(str(out), res.status, res.record_id, res.index, sha256=res.sha256)

    def _resolve_parent(self, ref: str) -> str:
        if is_record_id(ref):
            if self.store.record_by_id(bytes.fromhex(ref[7:])) is None:
                raise NotFoundError(f"record {ref} is not in the log")
            return ref
        found = self.find(ref, perceptual=False)
        if not found.matches:
            raise NotFoundError(
                f"parent image {ref} is not in the log (no file or pixel match)",
                hint="sign it first, or name its record id",
            )
        return found.matches[0].record_id

    # --- reading -------------------------------------------------------------------------
    def record(self, ref: str | int) -> tuple[int, Record]:
        """A record by log index or record id."""
        if isinstance(ref, int):
            stored = self.store.record_at(ref)
        else:
            if not is_record_id(ref):
                raise NotFoundError(f"not a record id: {ref!r} (expected sha256:<64 hex>)")
            got = self.store.record_by_id(bytes.fromhex(ref[7:]))
            if got is None:
                raise NotFoundError(f"record {ref} is not in the log")
            stored = got
        return stored.idx, parse_record(stored.body)

    def resolve(self, target: str) -> int:
        """A record id, or an image path matched by file or pixel hash, to its log index."""
        if is_record_id(target):
            return self.record(target)[0]
        found = self.find(target, perceptual=False)
        if not found.matches:
            raise NotFoundError(f"{target} is not in the log (no file or pixel match)")
        return found.matches[0].index

    def history(self, target: str | int, *, max_records: int = 100_000) -> HistoryNode:
        """The ancestry of a record back to capture, as a graph of nodes (a shared ancestor
        is one node). Built without recursion, so chains of any depth work.

        Raises:
            LogIntegrityError: a parent link does not point to an earlier record.
            RecordError: a stored record does not parse.
        """
        idx = target if isinstance(target, int) else self.resolve(target)
        order = self.ancestry(idx)
        if len(order) > max_records:
            raise ProvenanceError(f"history larger than {max_records} records")
        stored = self.store.records_at(order)
        nodes: dict[int, HistoryNode] = {}
        for i in order:
            if i not in stored:
                raise LogIntegrityError(f"record {i} named as a parent is missing")
            rec = parse_record(stored[i].body)
            nodes[i] = HistoryNode(i, rec.record_id, rec)
        for i in order:
            for p in self.store.parents_of(i):
                if p >= i:
                    raise LogIntegrityError(f"record {i}: parent {p} does not precede it")
                nodes[i].parents.append(nodes[p])
        return nodes[idx]

    def ancestry(self, idx: int) -> list[int]:
        """Indices of ``idx`` and all its ancestors (each once), child first."""
        out: list[int] = []
        seen: set[int] = set()
        stack = [idx]
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            out.append(i)
            stack.extend(reversed(self.store.parents_of(i)))
        return out

    def checkpoint(self) -> StoredCheckpoint | None:
        """The latest checkpoint, its signed note checked against the log key and its row.

        Raises:
            LogIntegrityError: the stored note does not verify or disagrees with its row (it
                must never be printed, pinned or exported as if it were the log's).
        """
        from provenance.checkpoint import open_checkpoint
        from provenance.errors import CheckpointError

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
        """Inclusion proof of a record in the tree of ``size`` leaves (default: latest)."""
        idx, rec = self.record(ref)
        cp = self.store.latest_checkpoint()
        if size is None:
            if cp is None:
                raise NotFoundError("the log has no checkpoint yet")
            size = cp.size
        if not idx < size <= self.store.size():
            raise NotFoundError(
                f"record {idx} is not in a tree of size {size} (log size {self.store.size()})"
            )
        body = rec.canonical()
        proof = self.store.inclusion_proof(idx, size)
        stored_cp = self.store.checkpoint_at(size)
        root = stored_cp.root if stored_cp is not None else self.store.frontier(size).root()
        leaf = merkle.leaf_hash(body)
        merkle.verify_inclusion(idx, size, leaf, proof, root)
        return InclusionProof(
            idx,
            size,
            rec.record_id,
            leaf,
            tuple(proof),
            root,
            stored_cp.note if stored_cp is not None else None,
        )

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
        """Find records matching an image: file SHA-256, then pixels, then perceptual hashes.

        Index rows that point at a log index holding no record (a damaged database) are not
        matches; they are reported in ``FindResult.orphans``.
        """
        from provenance import imaging

        data = image if isinstance(image, bytes) else _read(Path(image))
        name = "<bytes>" if isinstance(image, bytes) else str(image)
        sha = imaging.file_sha256(data)
        exact = self.store.find_by_sha256(bytes.fromhex(sha))
        if exact:
            return self._found(sha, None, None, None, [(i, "sha256", None, None) for i in exact])
        pixels, _, _, _ = imaging.pixel_digest(data, name=name)
        by_pixels = self.store.find_by_pixels(bytes.fromhex(pixels))
        if by_pixels or not perceptual:
            return self._found(
                sha, pixels, None, None, [(i, "pixels", None, None) for i in by_pixels]
            )
        p64, p256 = imaging.perceptual_hashes(data, name=name)
        hits: list[tuple[int, MatchKind, int | None, int | None]] = []
        candidates = self.perceptual_index().search(
            imaging.phash64_to_int(p64), imaging.PHASH64_MAX_DISTANCE
        )
        stored = self.store.asset_digests(c.idx for c in candidates)
        for c in candidates:
            row = stored.get(c.idx)
            if row is None:
                continue
            d256 = imaging.hamming(p256, row.phash256.hex())
            if d256 <= imaging.PHASH256_MAX_DISTANCE:
                hits.append((c.idx, "perceptual", c.distance, d256))
        hits.sort(key=lambda h: (h[3] or 0, h[0]))
        return self._found(sha, pixels, p64, p256, hits)

    def _found(
        self,
        sha: str,
        pixels: str | None,
        p64: str | None,
        p256: str | None,
        hits: list[tuple[int, MatchKind, int | None, int | None]],
    ) -> FindResult:
        rows = self.store.records_at(h[0] for h in hits)
        matches = tuple(
            Match(i, "sha256:" + rows[i].rid.hex(), kind, d64, d256)
            for i, kind, d64, d256 in hits
            if i in rows
        )
        orphans = tuple(h[0] for h in hits if h[0] not in rows)
        return FindResult(sha, pixels, p64, p256, matches, orphans)

    def perceptual_index(self) -> PerceptualIndex:
        """The pHash-64 index, brought up to date with the log."""
        from provenance.index import PerceptualIndex

        if self._index is None:
            db = sqlite_path(self.store.url)
            cache = db.with_name(db.name + ".phash.npz") if db is not None else None
            self._index = PerceptualIndex(cache)
        self._index.refresh(
            self.store.size(), self.store.iter_phash64, lambda n: self.store.frontier(n).root()
        )
        return self._index


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise ImageError(f"no such file: {path}", hint="check the path") from exc
    except IsADirectoryError as exc:
        raise ImageError(f"is a folder, not an image: {path}") from exc
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc


# --- verification: gathering evidence for the pure verifier ----------------------------------
def image_digests_for(data: bytes, name: str, found: FindResult) -> ImageDigests:
    """The image's digests for check (6)/(7): reuse what lookup computed, add the rest."""
    from provenance import imaging
    from provenance.verify import ImageDigests

    p64, p256 = found.phash64, found.phash256
    if p64 is None or p256 is None:
        p64, p256 = imaging.perceptual_hashes(data, name=name)
    return ImageDigests(sha256=found.sha256, pixels=found.pixels, phash64=p64, phash256=p256)


class LedgerVerifier:
    """Collects evidence from a ledger and runs :func:`provenance.verify.check_chain`."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.store = ledger.store

    def evidence(
        self,
        subject: int,
        *,
        match: MatchKind | None,
        image: ImageDigests | None = None,
        pinned: Sequence[str] = (),
    ) -> Evidence:
        from provenance.verify import Evidence, ProvenRecord

        cp = self.store.latest_checkpoint()
        if cp is None:
            raise NotFoundError("the log has no checkpoint yet")
        wanted = self.ledger.ancestry(subject)
        stored = self.store.records_at(wanted)
        # Every key event in the log (registrations and revocations: one per key, few): the
        # signed checkpoint commits to their count and running hash, so the verifier holds
        # the index tables to account; one hidden or altered event makes the chain tampered.
        log_key_id = self.ledger.log_public.key_id
        for rec in self.store.records_by_signer(log_key_id):
            stored[rec.idx] = rec
            wanted.append(rec.idx)
        for _key_id, reg, rev in self.store.key_rows():
            wanted += [reg] if rev is None else [reg, rev]
        stored.update(self.store.records_at(i for i in wanted if i not in stored))
        records = []
        for i in sorted(set(wanted)):
            if i not in stored or i >= cp.size:
                continue
            try:
                incl = tuple(self.store.inclusion_proof(i, cp.size))
            except (LogIntegrityError, MerkleError):
                incl = ()
            records.append(ProvenRecord(i, stored[i].body, incl))
        pins = self.evidence_pins(pinned, cp.size)
        return Evidence(
            subject=subject,
            match=match,
            records=tuple(records),
            checkpoint=cp.note,
            log_key=self.ledger.log_verifier,
            image=image,
            pinned=pins,
        )

    def replays(
        self, chain: Sequence[int], parent_images: Sequence[str | os.PathLike[str]]
    ) -> tuple[Replay, ...]:
        """Re-apply each replayable edit in ``chain`` whose parent image was supplied."""
        from provenance import edits, imaging
        from provenance.verify import Replay

        stored = self.store.records_at(chain)
        recs = {i: parse_record(r.body) for i, r in stored.items()}
        ids = {r.record_id: i for i, r in recs.items()}
        out: list[Replay] = []
        for path in parent_images:
            data = _read(Path(path))
            sha = imaging.file_sha256(data)
            pix = imaging.pixel_digest(data, name=str(path)).pixels
            parent = next(
                (
                    i
                    for i, r in recs.items()
                    if r.statement.asset is not None and sha in (r.statement.asset.sha256,)
                ),
                None,
            )
            if parent is None:
                parent = next(
                    (
                        i
                        for i, r in recs.items()
                        if r.statement.asset is not None and r.statement.asset.pixels == pix
                    ),
                    None,
                )
            if parent is None:
                raise NotFoundError(
                    f"{path} is not the image of any record in this chain",
                    hint="--parent-image takes the original an edit was made from",
                )
            for child, rec in recs.items():
                st = rec.statement
                if st.type != "edit" or st.asset is None:
                    continue
                if [ids.get(p) for p in st.parents] != [parent]:
                    continue
                pixels: str | None = None
                detail = ""
                if st.claims.get(edits.REPLAY_CLAIM) == edits.REPLAY_VERSION:
                    try:
                        pixels = edits.replay_pixels(
                            data, st.actions, out_format=st.asset.format, name=str(path)
                        )
                    except (edits.EditError, ImageError) as exc:
                        pixels, detail = "", f"the recorded edit cannot be replayed: {exc}"
                out.append(Replay(child, parent, sha, pix, pixels, detail))
        return tuple(out)

    def verify_image(
        self,
        image: str | os.PathLike[str],
        *,
        pinned: Sequence[str] = (),
        parent_images: Sequence[str | os.PathLike[str]] = (),
    ) -> tuple[Report, FindResult]:
        from provenance.verify import check_chain, missing_record_report, unknown_report

        data = _read(Path(image))
        found = self.ledger.find(data)
        if not found.matches and found.orphans:
            return missing_record_report(found.orphans[0]), found
        if not found.matches:
            report = unknown_report()
            report.notes.append(f"file SHA-256 {found.sha256}")
            if pinned:
                # An erased record looks like a stranger: the pins still say whether the
                # log was rewritten.
                report = self.check_pins(pinned) or report
            return report, found
        best = found.matches[0]
        digests = image_digests_for(data, str(image), found)
        ev = self.evidence(best.index, match=best.kind, image=digests, pinned=pinned)
        if parent_images:
            from dataclasses import replace

            # the evidence already holds the ancestry (key events among it are skipped)
            ev = replace(ev, replays=self.replays([r.index for r in ev.records], parent_images))
        report = check_chain(ev)
        for other in found.matches[1:6]:
            report.notes.append(f"also matches record {other.index} ({other.kind})")
        return report, found

    def check_pins(self, pinned: Sequence[str]) -> Report | None:
        """A ``tampered`` report when the log is not consistent with a pinned checkpoint."""
        from provenance.verify import check_pins_only, empty_log_report

        cp = self.store.latest_checkpoint()
        if cp is None:
            return empty_log_report(pinned)
        ev = self.evidence_pins(pinned, cp.size)
        return check_pins_only(cp.note, self.ledger.log_verifier, ev)

    def evidence_pins(self, pinned: Sequence[str], size: int) -> tuple[PinnedCheckpoint, ...]:
        from provenance.verify import PinnedCheckpoint, checkpoint_size_unverified

        pins = []
        for note in pinned:
            size1 = checkpoint_size_unverified(note)
            proof: tuple[bytes, ...] = ()
            if 0 < size1 < size:
                try:
                    proof = tuple(self.store.consistency_proof(size1, size))
                except (LogIntegrityError, MerkleError):
                    proof = ()
            pins.append(PinnedCheckpoint(note, proof))
        return tuple(pins)

    def verify_record(self, ref: str | int, *, pinned: Sequence[str] = ()) -> Report:
        from provenance.verify import check_chain

        idx = ref if isinstance(ref, int) else self.ledger.resolve(ref)
        return check_chain(self.evidence(idx, match=None, pinned=pinned))
