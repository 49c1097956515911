"""Signing images into the ledger: captures (``sign``), declared edits (``derive``) and
replayable edits (``edit``).

A mixin of :class:`provenance.ledger.Ledger` (one job, its own module). Digests come from
:mod:`provenance.imaging` (a pool of processes for folders: :mod:`provenance.ingest`);
records are signed with the signer's key and appended in batches, one checkpoint each. An
image already logged is never signed twice: ``exists`` for the same key, ``conflict``
(naming the signer) for another.

Content Credentials (C2PA) in a file are read on the way in
(:func:`provenance.c2pa_ingest.ingest_claims`) and recorded as flat ``c2pa.*`` claims, a
namespace users cannot claim by hand; each receipt's ``c2pa`` says what was found. A file
without a manifest store costs a byte pre-scan (microseconds) and never imports c2pa.

:func:`prepare_captures` and :func:`prepare_edit` build the same signed records without
appending them, for a ledger served elsewhere (:class:`provenance.client.RemoteLedger`
submits them; the private key never leaves this machine).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from provenance.errors import NotFoundError, ProvenanceError, RecordError
from provenance.keys import PublicKey, SigningKey
from provenance.receipts import SignResult, SignStatus, now_text
from provenance.records import Action, Record, Statement, check_user_claims, sign_statement

if TYPE_CHECKING:
    from provenance.c2pa import TrustConfig
    from provenance.c2pa_ingest import C2paIngest
    from provenance.edits import Operation
    from provenance.store import Store

DEFAULT_BATCH = 256
C2paPolicy = Literal["record", "require-valid", "ignore"]
#: Claims read from Content Credentials at ingest; never given by hand.
C2PA_CLAIM_PREFIX = "c2pa."
MAX_CLAIMS = 64  # records.py: a statement holds at most 64 claims


class _Core(Protocol):
    store: Store
    log_public: PublicKey

    def append_records(
        self, records: Sequence[Record], *, dedupe: bool = True
    ) -> list[tuple[int, bool]]: ...

    def require_usable(self, key: SigningKey) -> None: ...

    def signer_of(self, idx: int) -> tuple[str, str | None]: ...

    def resolve(self, target: str | int, *, perceptual: bool = False) -> int: ...

    def record(self, ref: str | int) -> tuple[int, Record]: ...

    def derive(
        self: _Core,
        parents: Sequence[str],
        child: str | os.PathLike[str] | bytes,
        key: SigningKey,
        actions: Sequence[Action],
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        child_name: str | None = None,
        c2pa_policy: C2paPolicy = "record",
        c2pa_trust: TrustConfig | None = None,
        _marker: dict[str, str] | None = None,
    ) -> SignResult: ...

    def _receipt(
        self, path: str, key: SigningKey, idx: int, created: bool, rid: str | None, sha: str
    ) -> SignResult: ...

    def _resolve_parent(self: _Core, ref: str) -> str: ...


class Signing:
    """Captures and edits."""

    def _receipt(
        self: _Core, path: str, key: SigningKey, idx: int, created: bool, rid: str | None, sha: str
    ) -> SignResult:
        if created:
            return SignResult(path, "signed", rid, idx, sha256=sha, signer=key.key_id)
        signer, name = self.signer_of(idx)
        rid = "sha256:" + self.store.record_at(idx).rid.hex()
        status: SignStatus = "exists" if signer == key.key_id else "conflict"
        return SignResult(path, status, rid, idx, sha256=sha, signer=signer, signer_name=name)

    def sign(
        self: _Core,
        paths: Sequence[str | os.PathLike[str]],
        key: SigningKey,
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        workers: int = 1,
        batch_size: int = DEFAULT_BATCH,
        on_result: Callable[[SignResult], None] | None = None,
        c2pa_policy: C2paPolicy = "record",
        c2pa_trust: TrustConfig | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> list[SignResult]:
        """Sign capture records for images, in batches of ``batch_size`` (one checkpoint
        each), digests computed in ``workers`` processes.

        An image already logged (same bytes or same displayed content) is not signed again:
        ``exists`` when by this key, ``conflict`` (naming the signer) when by another. A
        failing image is reported with status ``error`` and the rest continue.
        ``on_result`` hears of each image as soon as its fate is known; ``on_progress``
        hears of each image once, as soon as it is read and digested (before its batch
        commits), for progress bars.

        Content Credentials are read under ``c2pa_policy`` (``record``: their claims go
        into the record; ``require-valid``: a file whose credentials do not validate is an
        ``error``; ``ignore``) and judged under ``c2pa_trust`` (default: no anchors).
        """
        self.require_usable(key)

        def commit(batch: list[Prepared]) -> list[SignResult]:
            done = self.append_records([p.record for p in batch])
            out = []
            for p, (idx, created) in zip(batch, done, strict=True):
                sha = p.record.statement.asset.sha256 if p.record.statement.asset else ""
                rid = p.record.record_id
                out.append(p.receipt(self._receipt(p.path, key, idx, created, rid, sha)))
            return out

        def logged(path: str, sha: str) -> SignResult | None:
            existing = self.store.find_by_sha256(bytes.fromhex(sha))
            return self._receipt(path, key, existing[0], False, None, sha) if existing else None

        prepared = prepare_captures(
            paths,
            key,
            claims=claims,
            now=now,
            workers=workers,
            c2pa_policy=c2pa_policy,
            c2pa_trust=c2pa_trust,
            logged=logged,
        )
        return in_batches(prepared, commit, batch_size, on_result, on_progress)

    def derive(
        self: _Core,
        parents: Sequence[str],
        child: str | os.PathLike[str] | bytes,
        key: SigningKey,
        actions: Sequence[Action],
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        child_name: str | None = None,
        c2pa_policy: C2paPolicy = "record",
        c2pa_trust: TrustConfig | None = None,
        _marker: dict[str, str] | None = None,
    ) -> SignResult:
        """Record a declared edit: ``child`` was made from ``parents`` by ``actions``.

        Each parent is a record id, a log index, or an image path found in the log by file
        or content digest. The child's Content Credentials are read as in :meth:`sign`.

        Raises:
            InvalidCredentialsError: ``require-valid`` and the child's credentials do not
                validate (nothing was recorded).
        """
        from provenance.imaging import read_image_bytes

        self.require_usable(key)
        if not actions:
            raise ProvenanceError("an edit lists at least one action", hint="pass --action")
        parent_ids = [self._resolve_parent(p) for p in parents]
        name = child_name or (str(child) if not isinstance(child, bytes) else "<edited image>")
        data = child if isinstance(child, bytes) else read_image_bytes(child)
        prepared = prepare_edit(
            parent_ids,
            data,
            key,
            actions,
            name=name,
            claims=claims,
            now=now,
            c2pa_policy=c2pa_policy,
            c2pa_trust=c2pa_trust,
            marker=_marker,
        )
        rec = prepared.record
        [(idx, created)] = self.append_records([rec])
        sha = rec.statement.asset.sha256 if rec.statement.asset else ""
        return prepared.receipt(self._receipt(name, key, idx, created, rec.record_id, sha))

    def edit(
        self: _Core,
        source: str | os.PathLike[str],
        output: str | os.PathLike[str],
        ops: Sequence[Operation],
        key: SigningKey,
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        overwrite: bool = False,
        c2pa_policy: C2paPolicy = "record",
        c2pa_trust: TrustConfig | None = None,
    ) -> SignResult:
        """Apply replayable operations to a logged image, record the edit, write ``output``.

        The output file appears only once its record is in the log (written atomically,
        with exclusive create, after the append commits). The output is re-encoded, so it
        carries no Content Credentials of its own; ``c2pa_policy`` applies all the same.
        """
        self.require_usable(key)

        def derive(parent_id: str, data: bytes, child: str, marker: dict[str, str]) -> SignResult:
            return self.derive(
                [parent_id],
                data,
                key,
                [op.action() for op in ops],
                claims=claims,
                now=now,
                child_name=child,
                c2pa_policy=c2pa_policy,
                c2pa_trust=c2pa_trust,
                _marker=marker,
            )

        return record_edit(source, output, ops, self._resolve_parent, derive, overwrite=overwrite)

    def _resolve_parent(self: _Core, ref: str) -> str:
        idx = self.resolve(ref, perceptual=False)
        rec = self.record(idx)[1]
        if rec.statement.type not in ("capture", "edit"):
            raise NotFoundError(
                f"{ref} is a {rec.statement.type} record, not an image",
                hint="a parent is an image record (capture or edit)",
            )
        return rec.record_id


def record_edit(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    ops: Sequence[Operation],
    resolve_parent: Callable[[str], str],
    derive: Callable[[str, bytes, str, dict[str, str]], SignResult],
    *,
    overwrite: bool,
) -> SignResult:
    """The steps of ``edit`` a local and a remote ledger share: check the output, resolve
    the parent, apply ``ops``, record the result with ``derive(parent_id, data, output_name,
    replay_marker)``, and write ``output`` only once its record is logged (not on conflict).

    Raises:
        ProvenanceError: no operation, an unsupported output type, ``output`` exists.
    """
    import provenance.edits as edits
    from provenance.files import write_atomic
    from provenance.imaging import read_image_bytes

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
    parent_id = resolve_parent(os.fspath(source))
    encoded = edits.apply(read_image_bytes(source), ops, out_format=fmt, name=str(source))
    res = derive(parent_id, encoded, str(out), {edits.REPLAY_CLAIM: edits.REPLAY_VERSION})
    if res.status != "conflict":
        write_atomic(out, encoded, overwrite=overwrite)
    return res


def check_no_c2pa_claims(claims: Mapping[str, str]) -> None:
    """User claims may not use the ``c2pa.`` namespace: it holds what Content Credentials
    said at ingest, which a signer must not be able to forge by hand.

    Raises:
        RecordError: a claim name starts with ``c2pa.``.
    """
    for name in claims:
        if name.startswith(C2PA_CLAIM_PREFIX):
            raise RecordError(
                f"claim {name!r} is reserved for Content Credentials read at ingest",
                hint="choose a name that does not start with 'c2pa.'",
            )


def _ingest(
    data: bytes,
    claims: Mapping[str, str],
    policy: C2paPolicy,
    trust: TrustConfig | None,
) -> C2paIngest:
    """Read a file's Content Credentials for its record (see :meth:`Signing.sign`).

    Raises:
        InvalidCredentialsError, C2paUnavailable: ``require-valid`` refused the file.
        RecordError: the user's claims and the file's would exceed a record's 64 claims.
    """
    from provenance.c2pa import TrustConfig
    from provenance.c2pa_ingest import ingest_claims

    found = ingest_claims(data, policy=policy, trust=trust or TrustConfig())
    if len(claims) + len(found.claims) > MAX_CLAIMS:
        raise RecordError(
            f"{len(claims)} claims plus {len(found.claims)} read from Content Credentials "
            f"exceed the {MAX_CLAIMS} a record holds",
            hint="pass fewer --claim, or --c2pa ignore",
        )
    return found


def _with_c2pa(res: SignResult, found: C2paIngest | None) -> SignResult:
    """The receipt with its Content Credentials line (only for a new record)."""
    if found is None or res.status != "signed":
        return res
    note = found.summary or found.skipped
    return replace(res, c2pa=note) if note else res


# --- records signed here, appended elsewhere (a ledger served over HTTP) -----------------------
@dataclass(frozen=True, slots=True)
class Prepared:
    """A record signed locally for a ledger elsewhere (nothing appended): what it is for,
    the record, and what the file's Content Credentials said (for the receipt)."""

    path: str
    record: Record
    c2pa: C2paIngest | None = None

    def receipt(self, res: SignResult) -> SignResult:
        """``res`` with the Content Credentials line a new record's receipt carries."""
        return _with_c2pa(res, self.c2pa)


def prepare_captures(
    paths: Sequence[str | os.PathLike[str]],
    key: SigningKey,
    *,
    claims: dict[str, str] | None = None,
    now: datetime | None = None,
    workers: int = 1,
    c2pa_policy: C2paPolicy = "record",
    c2pa_trust: TrustConfig | None = None,
    logged: Callable[[str, str], SignResult | None] | None = None,
) -> Iterator[Prepared | SignResult]:
    """Capture records for images, signed with ``key`` and appended nowhere (what
    :meth:`Signing.sign` appends, and a remote ledger submits): a :class:`Prepared` per
    image, in the order digests finish, or a ``SignResult`` with status ``error`` for an
    image that could not be read or whose credentials ``c2pa_policy`` refuses.

    ``logged(path, sha256_hex)``: the receipt of an image already in the log, or None; such
    an image is yielded as that receipt and neither ingested nor digested.

    Raises:
        RecordError: the claims are malformed or use the reserved ``c2pa.`` namespace.
    """
    from provenance.imaging import file_sha256
    from provenance.ingest import digest_many

    claims = dict(claims or {})
    check_user_claims(claims)
    check_no_c2pa_claims(claims)
    found: dict[str, C2paIngest] = {}
    fresh: list[str] = []
    for raw in paths:
        path = str(raw)
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            yield SignResult(path, "error", error=f"cannot read {path}: {exc.strerror}")
            continue
        done = None if logged is None else logged(path, file_sha256(data))
        if done is not None:
            yield done
            continue
        try:
            found[path] = _ingest(data, claims, c2pa_policy, c2pa_trust)
        except ProvenanceError as exc:
            yield SignResult(path, "error", error=str(exc))
            continue
        fresh.append(path)
    for path, outcome in digest_many(fresh, workers):
        ingest = found[path]  # not popped: a path named twice is digested twice
        if isinstance(outcome, str):
            yield SignResult(path, "error", error=outcome)
            continue
        st = Statement(
            type="capture",
            time=now_text(now),
            asset=outcome,
            claims={**claims, **ingest.claims} if ingest.claims else claims,
        )
        yield Prepared(path, sign_statement(st, key), ingest)


def in_batches(
    items: Iterable[Prepared | SignResult],
    commit: Callable[[list[Prepared]], list[SignResult]],
    batch_size: int,
    on_result: Callable[[SignResult], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> list[SignResult]:
    """Commit prepared records ``batch_size`` at a time (``commit`` answers each with its
    receipt), passing results already decided straight through; every result goes to
    ``on_result`` as soon as it is known, every image to ``on_progress`` as it arrives."""
    results: list[SignResult] = []
    pending: list[Prepared] = []

    def report(res: SignResult) -> None:
        results.append(res)
        if on_result is not None:
            on_result(res)

    for item in items:
        if on_progress is not None:
            on_progress(item.path)
        if isinstance(item, Prepared):
            pending.append(item)
            if len(pending) >= batch_size:
                for res in commit(pending):
                    report(res)
                pending = []
        else:
            report(item)
    if pending:
        for res in commit(pending):
            report(res)
    return results


def prepare_edit(
    parent_ids: Sequence[str],
    child: bytes,
    key: SigningKey,
    actions: Sequence[Action],
    *,
    name: str,
    claims: dict[str, str] | None = None,
    now: datetime | None = None,
    c2pa_policy: C2paPolicy = "record",
    c2pa_trust: TrustConfig | None = None,
    marker: dict[str, str] | None = None,
) -> Prepared:
    """The edit record :meth:`Signing.derive` would append (``parent_ids`` already
    resolved to record ids), signed with ``key`` and appended nowhere. ``marker``: the
    replay claim :meth:`Signing.edit` adds for a replayable edit.

    Raises:
        ProvenanceError: no action given.
        RecordError: malformed or reserved claims.
        ImageError: the child is not a readable image.
        InvalidCredentialsError: ``require-valid`` and the child's credentials do not
            validate.
    """
    from provenance.imaging import ImageProbe

    if not actions:
        raise ProvenanceError("an edit lists at least one action", hint="pass --action")
    user_claims = dict(claims or {})
    check_user_claims(user_claims)
    check_no_c2pa_claims(user_claims)
    probe = ImageProbe(child, name=name)
    found = _ingest(probe.data, {**user_claims, **(marker or {})}, c2pa_policy, c2pa_trust)
    st = Statement(
        type="edit",
        time=now_text(now),
        asset=probe.asset(),
        parents=tuple(parent_ids),
        actions=tuple(actions),
        claims={**user_claims, **found.claims, **(marker or {})},
    )
    return Prepared(name, sign_statement(st, key), found)
