"""What a ledger offers when it is served: submissions, C2SP tiles, look-ups, cosignatures.

A mixin of :class:`provenance.ledger.Ledger` (one job, its own module), used by
``provenance serve`` (:mod:`provenance.server`) and by anything else that publishes a log:

* :meth:`Publishing.submit` checks records signed elsewhere (strict parsing, image records
  only, a registered and unrevoked signer, a valid signature) and appends them in one
  transaction (group commit: many submissions, one checkpoint), answering each with its
  index, inclusion proof and the new checkpoint;
* :meth:`Publishing.tile` and :meth:`Publishing.entry_bundle` serve C2SP tlog-tiles: tile
  ``L/N`` holds the hashes of tree level ``8L``, nodes ``256N ..``; an entry bundle holds
  the canonical records, each prefixed with its length (big-endian uint16);
* :meth:`Publishing.lookup` answers a soft-binding query by algorithm and value;
* witness cosignatures are kept per checkpoint and served with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

from provenance.errors import (
    KeyStateError,
    LogIntegrityError,
    NotFoundError,
    ProvenanceError,
    RecordError,
)
from provenance.records import Record, parse_record

if TYPE_CHECKING:
    from provenance.checkpoint import NoteVerifier
    from provenance.keys import PublicKey
    from provenance.matching import Match
    from provenance.receipts import KeyInfo
    from provenance.store import Store, StoredCheckpoint

TILE_WIDTH = 256
TILE_HEIGHT = 8
MAX_TILE_LEVEL = 7


class SubmissionError(ProvenanceError):
    """A submitted record is refused (nothing was appended). ``code`` is a stable reason,
    ``status`` the HTTP status a server answers with."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True, slots=True)
class Submitted:
    """The fate of one submitted record, proven against the checkpoint that holds it."""

    status: Literal["created", "exists", "conflict"]
    index: int
    record_id: str
    body: bytes  # the record at ``index`` (the submitted one, or the one that was there)
    proof: tuple[bytes, ...]
    checkpoint: str

    def to_json(self) -> dict[str, Any]:
        import base64
        import json

        from provenance.checkpoint import format_tlog_proof

        return {
            "status": self.status,
            "index": self.index,
            "record_id": self.record_id,
            "record": json.loads(self.body),
            "inclusion_proof": [base64.b64encode(h).decode() for h in self.proof],
            "checkpoint": self.checkpoint,
            "tlog_proof": format_tlog_proof(self.index, self.proof, self.checkpoint),
        }


class _Core(Protocol):
    store: Store
    origin: str
    log_public: PublicKey
    log_verifier: NoteVerifier

    def append_records(
        self, records: Sequence[Record], *, dedupe: bool = True
    ) -> list[tuple[int, bool]]: ...

    def key(self, ref: str) -> KeyInfo: ...

    def checkpoint(self) -> StoredCheckpoint | None: ...

    def iter_record_ids(self, indices: Iterable[int]) -> dict[int, str]: ...


class Publishing:
    """Serving a ledger."""

    def check_submission(self: _Core, body: bytes) -> Record:
        """Parse and check one record submitted from outside (before the append lock).

        Raises:
            SubmissionError: malformed (400), not an image record or signed by the log key
                (403), an unknown or revoked signer (403), a bad signature (400).
        """
        from provenance.keys import PublicKey

        try:
            record = parse_record(body)
        except RecordError as exc:
            raise SubmissionError("record.malformed", str(exc)) from exc
        st = record.statement
        if st.type not in ("capture", "edit"):
            raise SubmissionError(
                "record.forbidden",
                f"{st.type} records are made by the log operator, not submitted",
                403,
            )
        if record.signer == self.log_public.key_id:
            raise SubmissionError("signingCredential.role", "the log key signs no images", 403)
        reg, rev = self.store.key_events(record.signer)
        if reg is None:
            raise SubmissionError(
                "signingCredential.untrusted", f"key {record.signer} is not registered", 403
            )
        if rev is not None:
            raise SubmissionError(
                "signingCredential.revoked", f"key {record.signer} was revoked (record {rev})", 403
            )
        # The registration record is immutable: its key is parsed once per process.
        cache: dict[tuple[str, int], PublicKey] = self.__dict__.setdefault("_signer_keys", {})
        public = cache.get((record.signer, reg))
        if public is None:
            registered = parse_record(self.store.records_at([reg])[reg].body).statement.key
            if registered is None or registered.public is None or registered.id != record.signer:
                raise LogIntegrityError(f"key row {record.signer} points at record {reg}")
            public = cache[(record.signer, reg)] = PublicKey.parse(registered.public)
        if not public.verify(record.sig, st.canonical()):
            raise SubmissionError("claimSignature.mismatch", "the signature does not verify")
        return record

    def submit(self: _Core, records: Sequence[Record]) -> list[Submitted | SubmissionError]:
        """Append checked records in one transaction; answer each with its proof.

        When the batch is refused (a record's parent is missing, its signer was revoked
        meanwhile), the records are appended one by one, so only the culprit fails.
        """
        refused: dict[int, SubmissionError] = {}
        try:
            placed = list(enumerate(self.append_records(records)))
        except (LogIntegrityError, KeyStateError):
            placed = []
            for i, record in enumerate(records):
                try:
                    placed.append((i, self.append_records([record])[0]))
                except (LogIntegrityError, KeyStateError) as exc:
                    refused[i] = _refusal(exc)
        cp = self.checkpoint()
        indices = sorted({idx for _, (idx, _) in placed})
        if cp is None:
            if indices:
                raise LogIntegrityError("the log has no checkpoint after an append")
            return [refused[i] for i in range(len(records))]
        proofs = self.store.inclusion_proofs(indices, cp.size)
        stored = self.store.records_at(indices)
        done: dict[int, Submitted] = {}
        for i, (idx, created) in placed:
            body = stored[idx].body
            status: Literal["created", "exists", "conflict"] = "created"
            if not created:
                same = parse_record(body).signer == records[i].signer
                status = "exists" if same else "conflict"
            rid = "sha256:" + stored[idx].rid.hex()
            done[i] = Submitted(status, idx, rid, body, tuple(proofs.get(idx, ())), cp.note)
        return [done[i] if i in done else refused[i] for i in range(len(records))]

    def tile(self: _Core, level: int, index: int, width: int | None = None) -> bytes:
        """The C2SP tile ``level/index`` (full, or partial of ``width`` hashes).

        Raises:
            NotFoundError: the tile is beyond the log, or not of that width (a full tile
                exists only once the log has all its nodes).
        """
        if not 0 <= level <= MAX_TILE_LEVEL:
            raise NotFoundError(f"no tile level {level}")
        available = (self.store.size() >> (TILE_HEIGHT * level)) - index * TILE_WIDTH
        want = TILE_WIDTH if width is None else width
        if not 0 < want <= TILE_WIDTH or available < want:
            raise NotFoundError(f"tile {level}/{index} of width {want} is not in the log")
        hashes = self.store.node_range(TILE_HEIGHT * level, index * TILE_WIDTH, want)
        return b"".join(hashes)

    def entry_bundle(self: _Core, index: int, width: int | None = None) -> bytes:
        """The C2SP entry bundle ``index`` (records, each with a uint16 length prefix)."""
        available = self.store.size() - index * TILE_WIDTH
        want = TILE_WIDTH if width is None else width
        if not 0 < want <= TILE_WIDTH or available < want:
            raise NotFoundError(f"entry bundle {index} of width {want} is not in the log")
        return b"".join(
            len(body).to_bytes(2, "big") + body
            for body in self.store.bodies(index * TILE_WIDTH, want)
        )

    def lookup(self: _Core, alg: str, value: bytes, *, limit: int = 10) -> list[Match]:
        """Records whose digest ``alg`` is ``value`` (sha256, content: exact; phash64:
        within the lookup threshold, nearest first; pdq: within 52 bits, nearest first).

        ``pdq`` takes one 32-byte hash and compares it as it is: no dihedral variants
        (the server has no pixels to make them from). A client that wants flips and
        quarter turns found sends its 8 variants as 8 queries, or uploads the image
        (``byContent``, which runs the whole cascade). The server cannot tell a PDQ hash's
        quality from the hash: a client must not send hashes of quality below 50
        (featureless images, docs/pdq.md).

        Raises:
            SubmissionError: an unknown algorithm or a value of the wrong length (400).
        """
        from provenance.evidence import LocalCandidates
        from provenance.imaging import PHASH64_MAX_DISTANCE
        from provenance.matching import Match

        sizes = {"sha256": 32, "content": 32, "phash64": 8, "pdq": 32}
        if alg not in sizes:
            raise SubmissionError("binding.algorithm", f"unknown algorithm {alg!r}")
        if len(value) != sizes[alg]:
            raise SubmissionError(
                "binding.value", f"{alg} values are {sizes[alg]} bytes, not {len(value)}"
            )
        source = LocalCandidates(self)  # type: ignore[arg-type]
        if alg == "phash64":
            signed = int.from_bytes(value, "big", signed=True)
            hits = source.by_phash64(signed, PHASH64_MAX_DISTANCE)[:limit]
            ids = source.record_ids(i for i, _ in hits)
            return [Match(i, ids[i], "perceptual", {"phash64": d}) for i, d in hits if i in ids]
        if alg == "pdq":
            from provenance.pdq import MATCH_DISTANCE

            near = source.by_pdq([value], MATCH_DISTANCE)[:limit]
            ids = source.record_ids(i for i, _, _ in near)
            return [Match(i, ids[i], "perceptual", {"pdq": d}) for i, d, _ in near if i in ids]
        found = source.by_sha256(value.hex()) if alg == "sha256" else source.by_content(value.hex())
        ids = source.record_ids(found[:limit])
        kind: Literal["sha256", "content"] = "sha256" if alg == "sha256" else "content"
        return [Match(i, ids[i], kind) for i in found[:limit] if i in ids]

    def checkpoint_note(self: _Core) -> StoredCheckpoint | None:
        """The latest checkpoint with every cosignature witnesses gave it."""
        from provenance.store import StoredCheckpoint

        cp = self.checkpoint()
        if cp is None:
            return None
        lines = self.store.cosignatures(cp.size)
        return StoredCheckpoint(cp.size, cp.root, cp.note + "".join(lines))

    def add_cosignature(self: _Core, size: int, witness: str, line: str) -> None:
        """Keep a witness's cosignature (verified by the caller)."""
        self.store.add_cosignature(size, witness, line)


def _refusal(exc: ProvenanceError) -> SubmissionError:
    """What a refused append means to the submitter."""
    message = str(exc)
    if isinstance(exc, KeyStateError):
        code = (
            "signingCredential.revoked" if "revoked" in message else "signingCredential.untrusted"
        )
        return SubmissionError(code, message, 403)
    if "not an image" in message:
        return SubmissionError("ingredient.notAsset", message, 422)
    if "not in the log" in message:
        return SubmissionError("ingredient.missing", message, 422)
    return SubmissionError("log.integrity", message, 500)
