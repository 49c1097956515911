"""Signing for a ledger served over HTTP: records built and signed here, submitted there.

A mixin of :class:`provenance.client.RemoteLedger` (one job, its own module), with the
signatures of :class:`provenance.ledger.Ledger`'s ``sign``, ``derive`` and ``edit``, so the
CLI drives either. The records are what a local ledger would append
(:func:`provenance.signing.prepare_captures`, :func:`provenance.signing.prepare_edit`); the
private key never leaves this machine. Each image's fate is reported only once the server's
receipt checks (:meth:`provenance.client.RemoteLedger.check_receipt`): ``signed`` when the
log holds this very record, ``exists``/``conflict`` decided here from the signer of the
record the log already held for the image (the server's word for it is not taken).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from provenance.errors import NotFoundError, ProvenanceError
from provenance.records import Record

if TYPE_CHECKING:
    from provenance.c2pa import TrustConfig
    from provenance.edits import Operation
    from provenance.keys import SigningKey
    from provenance.receipts import SignResult, SignStatus
    from provenance.records import Action
    from provenance.signing import C2paPolicy, Prepared


@dataclass(frozen=True, slots=True)
class Receipt:
    """A submission, as the server answered it and this client checked it."""

    status: str  # created | exists | conflict (as the server said; `record` is the truth)
    index: int
    record_id: str
    record: Record
    checkpoint: str
    size: int


class _Core(Protocol):
    url: str

    def info(self) -> dict[str, Any]: ...

    def resolve_record(self, target: str | int) -> tuple[int, Record]: ...

    def signer_names(self) -> dict[str, str]: ...

    def submit_many(
        self,
        records: Sequence[tuple[str, Record]],
        *,
        concurrency: int = 8,
        on_result: Callable[[str, Receipt | ProvenanceError], None] | None = None,
    ) -> list[tuple[str, Receipt | ProvenanceError]]: ...

    def _sign_result(
        self, prepared: Prepared, outcome: Receipt | ProvenanceError
    ) -> SignResult: ...

    def resolve_parent(self, ref: str) -> str: ...

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
        c2pa_policy: C2paPolicy = "record",
        c2pa_trust: TrustConfig | None = None,
        marker: dict[str, str] | None = None,
    ) -> SignResult: ...


class RemoteSigning:
    """Captures and edits, signed here and submitted to the server."""

    def _sign_result(
        self: _Core, prepared: Prepared, outcome: Receipt | ProvenanceError
    ) -> SignResult:
        from provenance.receipts import SignResult

        rec = prepared.record
        sha = rec.statement.asset.sha256 if rec.statement.asset else None
        if isinstance(outcome, ProvenanceError):
            return SignResult(prepared.path, "error", error=outcome.message, sha256=sha)
        stored = outcome.record
        if stored.canonical() == rec.canonical() and outcome.status == "created":
            res = SignResult(
                prepared.path, "signed", rec.record_id, outcome.index, sha256=sha, signer=rec.signer
            )
            return prepared.receipt(res)
        status: SignStatus = "exists" if stored.signer == rec.signer else "conflict"
        return SignResult(
            prepared.path,
            status,
            stored.record_id,
            outcome.index,
            sha256=sha,
            signer=stored.signer,
            signer_name=self.signer_names().get(stored.signer),
        )

    def sign(
        self: _Core,
        paths: Sequence[str | os.PathLike[str]],
        key: SigningKey,
        *,
        claims: dict[str, str] | None = None,
        now: datetime | None = None,
        workers: int = 1,
        batch_size: int = 256,
        on_result: Callable[[SignResult], None] | None = None,
        c2pa_policy: C2paPolicy = "record",
        c2pa_trust: TrustConfig | None = None,
        concurrency: int = 8,
        on_progress: Callable[[str], None] | None = None,
    ) -> list[SignResult]:
        """Sign capture records here and submit them (:meth:`provenance.ledger.Ledger.sign`
        over HTTP): each ``signed``/``exists``/``conflict`` only once its receipt checks.

        Raises:
            RemoteError: the server cannot be reached.
            TrustAnchorError, LogIntegrityError: the server is not the trusted log's, or a
                receipt does not prove what it claims.
        """
        from provenance.signing import in_batches, prepare_captures

        self.info()  # fail fast: unreachable, or another log's server

        def commit(batch: list[Prepared]) -> list[SignResult]:
            outcomes = self.submit_many(
                [(p.path, p.record) for p in batch], concurrency=concurrency
            )
            return [self._sign_result(p, o) for p, (_, o) in zip(batch, outcomes, strict=True)]

        prepared = prepare_captures(
            paths,
            key,
            claims=claims,
            now=now,
            workers=workers,
            c2pa_policy=c2pa_policy,
            c2pa_trust=c2pa_trust,
        )
        return in_batches(prepared, commit, batch_size, on_result, on_progress)

    def resolve_parent(self: _Core, ref: str) -> str:
        """A parent reference (id, index, image) to the record id of an image record."""
        _, rec = self.resolve_record(ref)
        if rec.statement.type not in ("capture", "edit"):
            raise NotFoundError(
                f"{ref} is a {rec.statement.type} record, not an image",
                hint="a parent is an image record (capture or edit)",
            )
        return rec.record_id

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
        marker: dict[str, str] | None = None,
    ) -> SignResult:
        """Record a declared edit (:meth:`provenance.ledger.Ledger.derive` over HTTP)."""
        from provenance.imaging import read_image_bytes
        from provenance.signing import prepare_edit

        if not actions:
            raise ProvenanceError("an edit lists at least one action", hint="pass --action")
        self.info()  # fail fast: unreachable, or another log's server
        parent_ids = [self.resolve_parent(p) for p in parents]
        data = child if isinstance(child, bytes) else read_image_bytes(child)
        name = child_name or (
            os.fspath(child) if not isinstance(child, bytes) else "<edited image>"
        )
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
            marker=marker,
        )
        [(_, outcome)] = self.submit_many([(name, prepared.record)], concurrency=1)
        if isinstance(outcome, ProvenanceError):
            raise outcome
        return self._sign_result(prepared, outcome)

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
        """Apply replayable operations to a logged image, record the edit on the server,
        write ``output`` once the receipt checks (:meth:`provenance.ledger.Ledger.edit`)."""
        from provenance.signing import record_edit

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
                marker=marker,
            )

        return record_edit(source, output, ops, self.resolve_parent, derive, overwrite=overwrite)
