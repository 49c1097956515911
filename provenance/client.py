"""The HTTP client of a ledger served by ``provenance serve``: trust nothing but the vkey.

A :class:`RemoteLedger` is built from the server's URL and the log's verifier key (vkey,
published by its operator). Every answer that matters is checked before it is believed:

* a checkpoint must be signed by the trusted key (and be of the trusted log: another log's
  key is a :class:`~provenance.errors.TrustAnchorError`, exit 3);
* a submission's receipt must prove the submitted record (or the one already there)
  included at its index in that checkpoint's tree;
* evidence is an offline bundle judged by the same pure verifier as a local ledger
  (:func:`provenance.bundle.verify_offline`); look-up answers are only candidates, each
  confirmed against the records themselves;
* ``log verify`` rebuilds the whole tree from the C2SP entry tiles, checks every record's
  signature in log order and the root against the checkpoint.

It implements :class:`provenance.matching.Candidates`, so :func:`provenance.matching.find`
runs unchanged against a server.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import provenance.merkle as merkle
from provenance.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, parse_note
from provenance.errors import (
    CheckpointError,
    LogIntegrityError,
    MerkleError,
    ProvenanceError,
    RecordError,
    TrustAnchorError,
)
from provenance.records import Asset, Record, parse_record

if TYPE_CHECKING:
    import httpx

    from provenance.audit import AuditResult
    from provenance.bundle import Bundle
    from provenance.imaging import ImageProbe
    from provenance.report import Report

TILE = 256


class RemoteError(ProvenanceError):
    """The server refused a request or could not be reached (exit 3)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code


@dataclass(frozen=True, slots=True)
class Receipt:
    """A submission, as the server answered it and this client checked it."""

    status: str  # created | exists | conflict
    index: int
    record_id: str
    record: Record
    checkpoint: str
    size: int


class RemoteLedger:
    """A ledger behind ``provenance serve`` (module docstring)."""

    def __init__(self, url: str, vkey: str | None, *, timeout: float = 30.0) -> None:
        import httpx

        if not vkey:
            raise TrustAnchorError(
                f"no trust anchor for the ledger at {url}: a server proves nothing on its own",
                hint="pass --trust-log-key VKEY (or set PROVENANCE_LOG_VKEY): the verifier key "
                "the log's operator publishes",
            )
        try:
            self.verifier = NoteVerifier.parse_vkey(vkey)
        except CheckpointError as exc:
            raise TrustAnchorError(
                f"the log key you trust (--trust-log-key) is not a verifier key: {exc}"
            ) from exc
        self.url = url.rstrip("/")
        self.origin = self.verifier.name
        self._http: httpx.Client = httpx.Client(base_url=self.url, timeout=timeout)
        self._latest: Checkpoint | None = None
        self._note: str | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RemoteLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- HTTP --------------------------------------------------------------------------
    def _get(self, path: str, **params: Any) -> httpx.Response:
        return self._call("GET", path, params=params or None)

    def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RemoteError(
                f"cannot reach the ledger at {self.url}: {exc}",
                hint="check --ledger (PROVENANCE_LEDGER) and that the server runs",
            ) from exc
        if response.status_code >= 400:
            code, message, hint = None, response.text[:200], None
            try:
                err = response.json()["error"]
                code, message, hint = err.get("code"), err.get("message", message), err.get("hint")
            except (ValueError, KeyError, TypeError):
                pass
            raise RemoteError(
                f"the ledger answered {response.status_code} for {path}: {message}",
                status=response.status_code,
                code=code,
                hint=hint,
            )
        return response

    def _json(self, path: str, **params: Any) -> Any:
        try:
            return self._get(path, **params).json()
        except ValueError as exc:
            raise RemoteError(f"the ledger answered garbage for {path}") from exc

    # --- the log -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The server's description of its log (its vkey must be the one trusted)."""
        info = self._json("/v1/log")
        served = info.get("vkey") if isinstance(info, dict) else None
        if served != self.verifier.vkey():
            raise TrustAnchorError(
                f"the ledger at {self.url} keeps log {str(info.get('origin'))[:80]!r} "
                f"(vkey {str(served)[:120]}), not the log you trust ({self.verifier.vkey()})",
                hint="pass the vkey of this server's log, or the URL of your log's server",
            )
        return dict(info)

    def checkpoint(self) -> tuple[Checkpoint, str]:
        """The latest checkpoint, verified under the trusted key (with cosignatures)."""
        note = self._get("/checkpoint").text
        cp = self._open(note)
        self._latest, self._note = cp, note
        return cp, note

    def _open(self, note: str) -> Checkpoint:
        try:
            return open_checkpoint(note, self.verifier)
        except CheckpointError as exc:
            try:
                text, signatures = parse_note(note)
                origin = Checkpoint.parse(text).origin
                keys = ", ".join(s.key_id.hex() for s in signatures)
            except CheckpointError:
                raise LogIntegrityError(f"the ledger served a malformed checkpoint: {exc}") from exc
            if origin != self.origin or not any(
                s.key_id == self.verifier.key_id for s in signatures
            ):
                raise TrustAnchorError(
                    f"the ledger at {self.url} serves log {origin!r} signed by key id {keys}; "
                    f"you trust log {self.origin!r} (key {self.verifier.key_id.hex()})",
                    hint="pass the vkey of this server's log",
                ) from exc
            raise LogIntegrityError(
                f"the ledger's checkpoint does not verify under the trusted key: {exc}"
            ) from exc

    def consistency(self, old: int, new: int) -> tuple[list[bytes], bytes, bytes]:
        got = self._json("/v1/proof/consistency", old=old, new=new)
        proof = [base64.b64decode(h) for h in got["proof"]]
        root1, root2 = bytes.fromhex(got["root1"]), bytes.fromhex(got["root2"])
        cp, _ = self.checkpoint()
        if new == cp.size and root2 != cp.root:
            raise LogIntegrityError("the consistency proof's new root is not the checkpoint's")
        if 0 < old < new:
            merkle.verify_consistency(old, new, proof, root1, root2)
        return proof, root1, root2

    def prove(self, ref: str) -> dict[str, Any]:
        """An inclusion proof of a record, checked against the verified checkpoint."""
        got = self._json("/v1/proof/inclusion", record=ref)
        cp, _note = self.checkpoint()
        idx, rec = self.record(str(got["index"]))
        proof = [bytes.fromhex(h) for h in got["proof"]]
        if got["size"] != cp.size:
            cp_at = self._open(got["checkpoint"]) if got.get("checkpoint") else None
            root = cp_at.root if cp_at is not None and cp_at.size == got["size"] else None
            if root is None:
                raise LogIntegrityError("the inclusion proof is for an unsigned tree size")
        else:
            root = cp.root
        merkle.verify_inclusion(idx, got["size"], merkle.leaf_hash(rec.canonical()), proof, root)
        got["verified"] = True
        return dict(got)

    # --- records -----------------------------------------------------------------------
    def record(self, ref: str) -> tuple[int, Record]:
        got = self._json(f"/v1/records/{ref}")
        try:
            from provenance.records import canonical

            rec = parse_record(canonical(got["record"]))
        except (RecordError, KeyError, TypeError) as exc:
            raise LogIntegrityError(f"the ledger served a malformed record for {ref}") from exc
        if ref.startswith("sha256:") and rec.record_id != ref:
            raise LogIntegrityError(f"the ledger served another record for {ref}")
        return int(got["index"]), rec

    def evidence(self, ref: str) -> Bundle:
        from provenance.bundle import loads

        return loads(self._get(f"/v1/evidence/{ref}").text)

    def submit(self, record: Record) -> Receipt:
        """Submit a signed record; the receipt is checked before it is returned.

        Raises:
            RemoteError: the server refused the record (its code says why).
            LogIntegrityError: the receipt does not prove what it claims.
        """
        response = self._call(
            "POST",
            "/v1/records",
            content=record.canonical(),
            headers={"Content-Type": "application/json"},
        )
        return self.check_receipt(record, response.json())

    def check_receipt(self, record: Record, got: dict[str, Any]) -> Receipt:
        from provenance.records import canonical

        try:
            cp = self._open(got["checkpoint"])
            body = canonical(got["record"])
            proof = [base64.b64decode(h, validate=True) for h in got["inclusion_proof"]]
            index = int(got["index"])
            status = str(got["status"])
        except (KeyError, TypeError, ValueError, RecordError) as exc:
            raise LogIntegrityError(f"the ledger's receipt is malformed: {exc}") from exc
        stored = parse_record(body)
        if status == "created" and body != record.canonical():
            raise LogIntegrityError("the receipt proves another record than the one submitted")
        try:
            merkle.verify_inclusion(index, cp.size, merkle.leaf_hash(body), proof, cp.root)
        except MerkleError as exc:
            raise LogIntegrityError(f"the receipt's inclusion proof fails: {exc}") from exc
        return Receipt(status, index, stored.record_id, stored, got["checkpoint"], cp.size)

    # --- look-ups (provenance.matching.Candidates) -------------------------------------
    def _lookup(self, alg: str, value: bytes) -> list[dict[str, Any]]:
        got = self._json("/v1/matches/byBinding", alg=alg, value=value.hex(), maxResults=20)
        records = got.get("records", []) if isinstance(got, dict) else []
        return [r for r in records if isinstance(r, dict)]

    def by_sha256(self, sha256: str) -> list[int]:
        return [int(r["index"]) for r in self._lookup("sha256", bytes.fromhex(sha256))]

    def by_content(self, content: str) -> list[int]:
        return [int(r["index"]) for r in self._lookup("content", bytes.fromhex(content))]

    def by_phash64(self, value: int, max_distance: int) -> list[tuple[int, int]]:
        raw = (value & (2**64 - 1)).to_bytes(8, "big")
        out = []
        for r in self._lookup("phash64", raw):
            d = int(r.get("distances", {}).get("phash64", max_distance))
            if d <= max_distance:
                out.append((int(r["index"]), d))
        return out

    def assets(self, indices: Iterable[int]) -> dict[int, Asset]:
        out: dict[int, Asset] = {}
        for idx in indices:
            _, rec = self.record(str(idx))
            if rec.statement.asset is not None:
                out[idx] = rec.statement.asset
        return out

    def record_ids(self, indices: Iterable[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for idx in indices:
            try:
                out[idx] = self.record(str(idx))[1].record_id
            except RemoteError as exc:
                if exc.status != 404:
                    raise
        return out

    # --- verification ------------------------------------------------------------------
    def verify_image(
        self,
        probe: ImageProbe,
        *,
        pinned: Sequence[str] = (),
        witnesses: Sequence[NoteVerifier] = (),
        min_witnesses: int = 0,
    ) -> Report:
        """Find an image's record on the server and verify its evidence locally."""
        from provenance.bundle import verify_offline
        from provenance.matching import find
        from provenance.report import unknown_report

        found = find(probe, self)
        best = found.best
        if best is None:
            report = unknown_report(f"no record on {self.url} matches this image")
            report.notes.append(f"file SHA-256 {probe.sha256}")
            return report
        bundle = self.evidence(best.record_id)
        report = verify_offline(
            probe.data,
            bundle,
            name=probe.name,
            trust_log_key=self.verifier.vkey(),
            pinned=pinned,
            witnesses=witnesses,
            min_witnesses=min_witnesses,
        )
        report.notes.append(f"evidence from {self.url}, judged here under the trusted log key")
        return report

    # --- signing -----------------------------------------------------------------------
    def submit_many(
        self,
        records: Sequence[tuple[str, Record]],
        *,
        concurrency: int = 8,
        on_result: Callable[[str, Receipt | ProvenanceError], None] | None = None,
    ) -> list[tuple[str, Receipt | ProvenanceError]]:
        """Submit records concurrently (the server batches them into few commits)."""

        def one(item: tuple[str, Record]) -> tuple[str, Receipt | ProvenanceError]:
            name, record = item
            try:
                return name, self.submit(record)
            except ProvenanceError as exc:
                return name, exc

        results = []
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for name, outcome in pool.map(one, records):
                results.append((name, outcome))
                if on_result is not None:
                    on_result(name, outcome)
        return results

    # --- the whole log from tiles ------------------------------------------------------
    def audit(self, *, progress: Callable[[int], object] | None = None) -> AuditResult:
        """Rebuild the log from its C2SP entry bundles and check it (module docstring)."""
        from provenance.audit import AuditResult
        from provenance.keys import PublicKey
        from provenance.records import KEY_EVENTS_START, fold_key_event, parse_key_events_line
        from provenance.trust import FAILURE_CODES, KeyBook

        cp, _ = self.checkpoint()
        result = AuditResult()
        compact = merkle.CompactRange()
        book = KeyBook(self.verifier.public)
        events = (0, KEY_EVENTS_START)
        for tile in range(-(-cp.size // TILE)):
            width = min(TILE, cp.size - tile * TILE)
            path = f"/tile/entries/{_tile_path(tile)}" + ("" if width == TILE else f".p/{width}")
            for offset, body in enumerate(_entries(self._get(path).content, width)):
                idx = tile * TILE + offset
                compact.append(merkle.leaf_hash(body))
                result.records += 1
                try:
                    rec = parse_record(body)
                except RecordError as exc:
                    result.add(idx, "record.malformed", str(exc))
                    continue
                expected = book.expected_signer(idx, rec)
                if not isinstance(expected, PublicKey):
                    result.add(idx, FAILURE_CODES[expected[0]], f"record {idx}: {expected[1]}")
                elif not expected.verify(rec.sig, rec.statement.canonical()):
                    result.add(idx, "claimSignature.mismatch", f"record {idx}: bad signature")
                book.observe(idx, rec)
                if rec.statement.type in ("key", "revoke"):
                    events = (events[0] + 1, fold_key_event(events[1], idx, rec.record_id))
            if progress is not None:
                progress(width)
        result.root_hex = compact.root().hex()
        result.nodes = 2 * cp.size - bin(cp.size).count("1") if cp.size else 0
        result.checkpoints = 1
        if compact.root() != cp.root:
            result.add(
                None,
                "checkpoint.rootMismatch",
                "the entries served do not hash to the checkpoint's root",
            )
        committed = parse_key_events_line(cp.extensions)
        if committed is not None and committed != events:
            result.add(
                None,
                "keyEvents.incomplete",
                "the key events served do not match the checkpoint's commitment",
            )
        return result


def _tile_path(index: int) -> str:
    """C2SP tile index path: 3-digit groups, all but the last prefixed with ``x``."""
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def _entries(data: bytes, width: int) -> list[bytes]:
    """The records of an entry bundle (uint16 length-prefixed)."""
    out, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise LogIntegrityError("a truncated entry bundle")
        length = int.from_bytes(data[pos : pos + 2], "big")
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    if pos != len(data) or len(out) != width:
        raise LogIntegrityError(f"an entry bundle of {len(out)} entries, expected {width}")
    return out


def _unused(_: object) -> None:  # keep json imported for type checkers of callers
    json.dumps(_)
