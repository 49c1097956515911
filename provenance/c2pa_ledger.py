"""What a ledger does with deposited C2PA manifest stores: keep, find, serve, prove.

A mixin of :class:`provenance.ledger.Ledger` (one job, its own module), used by the Soft
Binding Resolution routes of ``provenance serve`` (:mod:`provenance.server.c2pa_routes`):

* :meth:`C2paLedger.deposit_manifest` keeps a manifest store exported from one of this
  log's records (``POST /v1/manifests``): it must parse as C2PA with a valid claim
  signature (only the hard binding may fail: the asset is not there), carry a
  ``<ns>.bundle`` of *this* log (origin and key) whose subject is in the log, and a
  ``c2pa.soft-binding`` ``io.iscc.v0`` value, which becomes the store's look-up key;
* :meth:`C2paLedger.iscc_candidates` finds deposited stores by ISCC (Hamming distance of
  the 256-bit Content-Code Image, at most :data:`provenance.iscc.MATCH_THRESHOLD`);
* :meth:`C2paLedger.manifest_store` serves a store (or its active manifest only);
* :meth:`C2paLedger.manifest_receipt` / :meth:`C2paLedger.verify_manifest_receipt`: the
  SBR 2.4 receipt, whose proof is the record's C2SP tlog-proof in this log.

Deposited stores live in ``c2pa_manifests`` (migration 0005), outside the Merkle log: a
store is self-verifying and names its record, which is in the log.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from provenance.c2pa import ContentCredentialsError
from provenance.errors import CheckpointError, MerkleError, NotFoundError

if TYPE_CHECKING:
    from provenance.checkpoint import NoteVerifier
    from provenance.receipts import InclusionProof
    from provenance.store import Store, StoredCheckpoint

__all__ = ["C2paLedger", "Deposit", "DepositRefused", "IsccCandidate"]

RECEIPT_TYPE: Final = "org.c2pa.manifest-receipt"
RECEIPT_CONTEXT: Final = {
    "c2pa": "https://c2pa.org/ns/",
    "receipt": "https://c2pa.org/ns/manifest-receipt#",
}
TLOG_PROOF_ALG: Final = "c2sp.org/tlog-proof@v1"
#: Failure codes a standalone store may show: hard bindings (the asset is absent) and trust
#: (the server judges no signer; the store's bundle is what ties it to the log).
_ALLOWED_FAILURES: Final = frozenset(
    {
        "assertion.dataHash.mismatch",
        "assertion.bmffHash.mismatch",
        "assertion.boxesHash.mismatch",
        "signingCredential.untrusted",
        "timeStamp.untrusted",
    }
)


class DepositRefused(ContentCredentialsError):
    """A deposited store or a submitted receipt is refused; ``status`` is the HTTP status
    (400 malformed, 409 another store under that id, 422 not of this log)."""

    def __init__(self, message: str, *, status: int = 400, code: str = "manifest.invalid"):
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Deposit:
    """A kept manifest store: its id, the record it was exported from, its ISCC unit, and
    whether this call stored it (False: the identical store was already there)."""

    manifest_id: str
    record_id: str
    iscc: bytes
    created: bool


@dataclass(frozen=True, slots=True)
class IsccCandidate:
    """A deposited store whose ISCC is within the threshold of a query."""

    manifest_id: str
    record_id: str
    distance: int


class _Core(Protocol):
    store: Store
    origin: str
    log_verifier: NoteVerifier

    def prove(self, ref: str | int, size: int | None = None) -> InclusionProof: ...

    def consistency(self, size1: int, size2: int) -> tuple[list[bytes], bytes, bytes]: ...

    def checkpoint(self) -> StoredCheckpoint | None: ...


class C2paLedger:
    """Deposited C2PA manifest stores (see the module docstring)."""

    def deposit_manifest(self: _Core, store: bytes) -> Deposit:
        """Keep a manifest store exported from a record of this log.

        Raises:
            DepositRefused: not a readable store (400), a broken claim signature or hashed
                link (400), no ``io.iscc.v0`` soft binding (400), a bundle of another log
                or of a record not in it (422), another store under that id (409).
            C2paUnavailable: c2pa-python is not installed.
        """
        from provenance.c2pa import TrustConfig, read_store
        from provenance.c2pa_ingest import store_bundle
        from provenance.c2pa_manifest import MANIFEST_LABEL
        from provenance.c2pa_scan import manifest_labels

        store = bytes(store)
        labels = manifest_labels(store)
        if not labels:
            raise DepositRefused("the body is not a C2PA manifest store (JUMBF)")
        manifest_id = labels[-1]
        if len(manifest_id) > 200 or MANIFEST_LABEL.fullmatch(manifest_id) is None:
            raise DepositRefused(f"the active manifest's label {manifest_id[:80]!r} is no URN")
        try:
            store_json, cr_json = read_store(store, TrustConfig())
        except ContentCredentialsError as exc:
            raise DepositRefused(str(exc)) from exc
        if store_json.get("active_manifest") != manifest_id:
            raise DepositRefused("c2pa reads another active manifest than the store's last")
        failures = _failure_codes(store_json) - _ALLOWED_FAILURES
        if failures:
            raise DepositRefused(
                "the manifest store does not validate: " + ", ".join(sorted(failures))
            )
        bundle = store_bundle(store, active_only=True)  # a mismatch is a 400 (caller)
        if bundle is None:
            raise DepositRefused(
                "the active manifest carries no provenance bundle",
                status=422,
                code="manifest.notOurs",
            )
        record_id = _bundle_subject(self, bundle.bundle_json)
        iscc = _soft_binding(cr_json, manifest_id)
        created = self.store.add_manifest(manifest_id, record_id, iscc, store)
        if not created:
            kept = self.store.manifest(manifest_id)
            if kept is None or kept[1] != store:
                raise DepositRefused(
                    f"another manifest store is kept under {manifest_id}",
                    status=409,
                    code="manifest.conflict",
                )
        return Deposit(manifest_id, record_id, iscc, created)

    def manifest_store(self: _Core, manifest_id: str, *, active_only: bool = False) -> bytes:
        """A deposited store (``application/c2pa``), or only its active manifest.

        Raises:
            NotFoundError: no store under that id.
        """
        row = self.store.manifest(manifest_id)
        if row is None:
            raise NotFoundError(f"no manifest {manifest_id[:100]} is kept here")
        if not active_only:
            return row[1]
        from provenance.c2pa_scan import active_manifest_store

        cut = active_manifest_store(row[1])
        if cut is None:
            raise NotFoundError(f"manifest {manifest_id[:100]} cannot be cut to its active part")
        return cut

    def iscc_candidates(self: _Core, value: bytes, *, limit: int = 10) -> list[IsccCandidate]:
        """Deposited stores whose ISCC Content-Code Image is within
        :data:`provenance.iscc.MATCH_THRESHOLD` bits of one of the query's Image units,
        nearest first.

        Raises:
            IsccError: the value is not an ISCC-SEQ with a 256-bit Content-Code Image unit.
        """
        import provenance.iscc as iscc

        units = [body for header, body in iscc.parse_iscc_seq(value) if header == iscc.IMAGE_HEADER]
        if not units:
            raise iscc.IsccError("the ISCC-SEQ has no 256-bit Content-Code Image unit")
        queries = [int.from_bytes(u, "big") for u in units]
        found: list[IsccCandidate] = []
        for manifest_id, record_id, stored in self.store.manifest_isccs():
            body = int.from_bytes(stored[len(iscc.IMAGE_HEADER) :], "big")
            distance = min((body ^ q).bit_count() for q in queries)
            if distance <= iscc.MATCH_THRESHOLD:
                found.append(IsccCandidate(manifest_id, record_id, distance))
        found.sort(key=lambda c: (c.distance, c.manifest_id))
        return found[:limit]

    def manifest_receipt(self: _Core, manifest_id: str, *, repository_uri: str) -> dict[str, Any]:
        """The SBR receipt for a deposited store: ``anchor.proof`` is the exported record's
        C2SP tlog-proof in this log's latest checkpoint, with the log's verifier key.

        Raises:
            NotFoundError: no store under that id, or no checkpoint yet.
        """
        row = self.store.manifest(manifest_id)
        if row is None:
            raise NotFoundError(f"no manifest {manifest_id[:100]} is kept here")
        from provenance.checkpoint import format_tlog_proof

        record_id = row[0]
        proof = self.prove(record_id)
        if proof.checkpoint is None:
            raise NotFoundError("the log has no checkpoint for the record yet")
        base = repository_uri.rstrip("/")
        return {
            "@context": dict(RECEIPT_CONTEXT),
            "@type": RECEIPT_TYPE,
            "repository": {"uri": base, "manifestId": manifest_id},
            "anchor": {
                "uri": f"{base}/evidence/{record_id}",
                "parameters": {"record": record_id, "index": proof.index},
                "proof": {
                    "alg": TLOG_PROOF_ALG,
                    "value": format_tlog_proof(proof.index, proof.proof, proof.checkpoint),
                    "vkey": self.log_verifier.vkey(),
                    "record": record_id,
                },
            },
        }

    def verify_manifest_receipt(self: _Core, receipt: Any, manifest_id: str) -> dict[str, Any]:
        """Check a receipt a client holds: the verified receipt (``verified``, and
        ``error`` when false).

        Verified means: it is about ``manifest_id``, kept here; its proof is a tlog-proof
        whose checkpoint this log signed and is in this log's history (consistent with the
        latest), and which proves the store's record at its index.

        Raises:
            DepositRefused: the body is not a receipt (400): not an object, another
                ``@type``, no ``repository`` or ``anchor`` object.
            NotFoundError: no store under ``manifest_id``.
        """
        if (
            not isinstance(receipt, dict)
            or receipt.get("@type") != RECEIPT_TYPE
            or not isinstance(receipt.get("repository"), dict)
            or not isinstance(receipt.get("anchor"), dict)
        ):
            raise DepositRefused(
                f"the body is not a {RECEIPT_TYPE} object with a repository and an anchor",
                code="receipt.malformed",
            )
        row = self.store.manifest(manifest_id)
        if row is None:
            raise NotFoundError(f"no manifest {manifest_id[:100]} is kept here")
        error = _receipt_error(self, receipt, manifest_id, row[0])
        out = dict(receipt)
        out["verified"] = error is None
        if error is not None:
            out["error"] = error
        return out


def _failure_codes(store_json: dict[str, Any]) -> set[str]:
    results = store_json.get("validation_results")
    active = results.get("activeManifest") if isinstance(results, dict) else None
    failure = active.get("failure") if isinstance(active, dict) else None
    return {
        str(e["code"])
        for e in (failure if isinstance(failure, list) else [])
        if isinstance(e, dict) and isinstance(e.get("code"), str)
    }


def _bundle_subject(ledger: _Core, bundle_json: str) -> str:
    """The bundle's subject, when the bundle is of this log and its subject is in it."""
    import json

    obj = json.loads(bundle_json)
    log = obj.get("log") if isinstance(obj.get("log"), dict) else {}
    if log.get("origin") != ledger.origin or log.get("vkey") != ledger.log_verifier.vkey():
        raise DepositRefused(
            f"the manifest's bundle is of log {str(log.get('origin'))[:80]!r}, not of this log "
            f"({ledger.origin})",
            status=422,
            code="manifest.notOurs",
        )
    subject = obj.get("subject")
    if not isinstance(subject, str) or not subject.startswith("sha256:") or len(subject) != 71:
        raise DepositRefused("the manifest's bundle names no subject record")
    try:
        digest = bytes.fromhex(subject[7:])
    except ValueError as exc:
        raise DepositRefused("the manifest's bundle names no subject record") from exc
    if ledger.store.record_by_id(digest) is None:
        raise DepositRefused(
            f"record {subject} is not in this log", status=422, code="manifest.notOurs"
        )
    return subject


def _soft_binding(cr_json: dict[str, Any], manifest_id: str) -> bytes:
    """The ``io.iscc.v0`` value of the active manifest's ``c2pa.soft-binding``: one
    Content-Code Image unit (34 bytes)."""
    import provenance.iscc as iscc
    from provenance.c2pa_manifest import ISCC_ALG

    for manifest in _items(cr_json.get("manifests")):
        if manifest.get("label") != manifest_id:
            continue
        assertions = manifest.get("assertions")
        for label, data in assertions.items() if isinstance(assertions, dict) else []:
            if not label.startswith("c2pa.soft-binding") or not isinstance(data, dict):
                continue
            if data.get("alg") != ISCC_ALG:
                continue
            for block in _items(data.get("blocks")):
                raw = _bytes_value(block.get("value"))
                if raw is None:
                    continue
                try:
                    units = iscc.parse_iscc_seq(raw)
                except iscc.IsccError:
                    continue
                for header, body in units:
                    if header == iscc.IMAGE_HEADER:
                        return header + body
    raise DepositRefused("the manifest has no io.iscc.v0 soft binding with an Image-Code")


def _items(value: Any) -> Iterable[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _bytes_value(value: Any) -> bytes | None:
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b < 256 for b in value):
        return bytes(value)
    if isinstance(value, str):
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return None
    return None


def _receipt_error(
    ledger: _Core, receipt: dict[str, Any], manifest_id: str, rid: str
) -> str | None:
    """Why a receipt does not verify, or None."""
    import provenance.merkle as merkle
    from provenance.checkpoint import open_checkpoint, parse_tlog_proof

    repository = receipt.get("repository")
    if not isinstance(repository, dict) or repository.get("manifestId") != manifest_id:
        return f"the receipt is not about {manifest_id}"
    anchor = receipt.get("anchor")
    proof = anchor.get("proof") if isinstance(anchor, dict) else None
    if not isinstance(proof, dict) or proof.get("alg") != TLOG_PROOF_ALG:
        return f"anchor.proof is not a {TLOG_PROOF_ALG} proof"
    if not isinstance(proof.get("value"), str):
        return "anchor.proof.value is not a tlog-proof text"
    try:
        tp = parse_tlog_proof(proof["value"])
        cp = open_checkpoint(tp.checkpoint_note, ledger.log_verifier)
    except CheckpointError as exc:
        return f"the proof's checkpoint is not this log's: {exc}"
    latest = ledger.checkpoint()
    if latest is None or cp.size > latest.size:
        return "the proof's checkpoint is ahead of this log"
    stored = ledger.store.records_at([tp.index]).get(tp.index)
    if stored is None or "sha256:" + stored.rid.hex() != rid:
        return f"the proof's index {tp.index} is not the manifest's record {rid}"
    try:
        merkle.verify_inclusion(tp.index, cp.size, merkle.leaf_hash(stored.body), tp.proof, cp.root)
        _, root1, _ = ledger.consistency(cp.size, latest.size)
    except (MerkleError, NotFoundError) as exc:
        return f"the inclusion proof does not verify: {exc}"
    if root1 != cp.root:
        return "the proof's checkpoint is not in this log's history (a fork)"
    return None
