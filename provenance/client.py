"""The HTTP client of a ledger served by ``provenance serve``: trust nothing but the vkey.

A :class:`RemoteLedger` is built from the server's URL and the log's verifier key (vkey,
published by its operator). Every answer that matters is checked before it is believed:

* a checkpoint must be signed by the trusted key (and be of the trusted log: another log's
  key is a :class:`~provenance.errors.TrustAnchorError`, exit 3);
* a submission's receipt must prove the submitted record (or the one already there, which
  must then be of the same image) included at its index in that checkpoint's tree; the
  record is signed here (:func:`provenance.signing.prepare_captures`), the private key
  never leaves this machine;
* evidence is an offline bundle judged by the same pure verifier as a local ledger
  (:func:`provenance.bundle.verify_offline`), under the trusted key, with the witness
  cosignatures the server holds for that checkpoint; look-up answers are only
  candidates, each confirmed against the records themselves;
* proofs are checked against the verified checkpoint (an older tree size through a
  consistency proof to it);
* ``log verify`` rebuilds the whole tree from the C2SP entry tiles, checks every record's
  signature, parents and key roles in log order, the root against the checkpoint and
  every pinned checkpoint against the tree it rebuilt.

It implements :class:`provenance.matching.Candidates`, so :func:`provenance.matching.find`
runs unchanged against a server, and ``sign``/``derive``/``edit`` with the signatures of
:class:`provenance.ledger.Ledger`'s, so the CLI drives either.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import provenance.merkle as merkle
from provenance.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, parse_note
from provenance.client_signing import Receipt, RemoteSigning
from provenance.errors import (
    CheckpointError,
    LogIntegrityError,
    MerkleError,
    NotFoundError,
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
    from provenance.receipts import InclusionProof
    from provenance.report import Report

MAX_LOOKUP = 20


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


class RemoteLedger(RemoteSigning):
    """A ledger behind ``provenance serve`` (module docstring).

    Args:
        url: the server's base URL.
        vkey: the log's verifier key (the trust anchor; None is refused).
        timeout: seconds per request.
        client: an ``httpx.Client`` to use instead of one of its own (tests hand it
            Starlette's TestClient; requests go to paths under its base URL).

    Raises:
        TrustAnchorError: no vkey, or one that does not parse.
    """

    def __init__(
        self,
        url: str,
        vkey: str | None,
        *,
        timeout: float = 30.0,
        client: httpx.Client | None = None,
    ) -> None:
        if not vkey:
            raise TrustAnchorError(
                f"no trust anchor for the ledger at {url}: a server proves nothing on its own",
                hint="pass --trust-log-key VKEY (or set PROVENANCE_LOG_VKEY): the verifier key "
                "the log's operator publishes (`provenance log show` on the server host)",
            )
        try:
            self.verifier = NoteVerifier.parse_vkey(vkey)
        except CheckpointError as exc:
            raise TrustAnchorError(
                f"the log key you trust (--trust-log-key) is not a verifier key: {exc}",
                hint="pass the vkey the log's operator publishes (name+keyid+key)",
            ) from exc
        self.url = url.rstrip("/")
        self.origin = self.verifier.name
        if client is None:
            import httpx

            client = httpx.Client(base_url=self.url, timeout=timeout)
            self._own = True
        else:
            self._own = False
        self._http: httpx.Client = client
        self._latest: Checkpoint | None = None
        self._note: str | None = None
        self._records: dict[int, Record] = {}
        self._ids: dict[int, str] = {}
        self._names: dict[str, str] | None = None

    def close(self) -> None:
        if self._own:
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
                f"cannot reach the ledger at {self.url}: {exc or type(exc).__name__}",
                hint="check --ledger (PROVENANCE_LEDGER) and that the server runs",
            ) from exc
        if response.status_code >= 400:
            code, message, hint = None, response.text[:200], None
            try:
                error = response.json()["error"]
                code, message = error.get("code"), error.get("message", message)
                hint = error.get("hint")
            except (ValueError, KeyError, TypeError, AttributeError):
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
            raise LogIntegrityError(f"the ledger answered garbage for {path}") from exc

    # --- the log -----------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        """The server's description of its log, its checkpoint replaced by the verified one.

        Raises:
            TrustAnchorError: the server keeps another log than the one trusted.
        """
        info = self._json("/v1/log")
        if not isinstance(info, dict):
            raise LogIntegrityError("the ledger answered garbage for /v1/log")
        served = info.get("vkey")
        if served != self.verifier.vkey():
            raise TrustAnchorError(
                f"the ledger at {self.url} keeps log {str(info.get('origin'))[:80]!r} "
                f"(vkey {str(served)[:120]}), not the log you trust ({self.verifier.vkey()})",
                hint="pass the vkey of this server's log, or the URL of your log's server",
            )
        out = dict(info)
        out["ledger"] = self.url
        cp = None
        if info.get("checkpoint") is not None:
            opened, note = self.checkpoint()
            cp = {"size": opened.size, "root": opened.root.hex(), "note": note}
            out["size"] = opened.size
        elif info.get("size"):
            raise LogIntegrityError("the ledger reports records but no checkpoint")
        out["checkpoint"] = cp
        return out

    def checkpoint(self) -> tuple[Checkpoint, str]:
        """The latest checkpoint, verified under the trusted key (with cosignatures).

        Raises:
            TrustAnchorError: a checkpoint of another log or key.
            LogIntegrityError: malformed, or its signature does not verify.
            RemoteError: the log is empty (404) or the server is unreachable.
        """
        note = self._get("/checkpoint").text
        cp = self._open(note)
        if self._latest is not None and cp.size < self._latest.size:
            raise LogIntegrityError(
                f"the ledger's checkpoint went back from size {self._latest.size} to {cp.size}"
            )
        self._latest, self._note = cp, note
        return cp, note

    def _open(self, note: str) -> Checkpoint:
        if not isinstance(note, str):
            raise LogIntegrityError("the ledger served a checkpoint that is not text")
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
                    f"the ledger at {self.url} serves log {origin[:80]!r} signed by key id "
                    f"{keys[:80]}; you trust log {self.origin!r} "
                    f"(key {self.verifier.key_id.hex()})",
                    hint="pass the vkey of this server's log; if it is the same log, its "
                    "checkpoint is forged: do not trust it",
                ) from exc
            raise LogIntegrityError(
                f"the ledger's checkpoint does not verify under the trusted key: {exc}"
            ) from exc

    def consistency(self, old: int, new: int) -> tuple[list[bytes], bytes, bytes]:
        """A consistency proof between two tree sizes, both roots anchored in the verified
        checkpoint (through proofs from each size to it) before it is returned.

        Raises:
            NotFoundError: sizes out of order or beyond the checkpoint.
            LogIntegrityError: a proof or root does not check.
        """
        cp, _ = self.checkpoint()
        if not 0 <= old <= new <= cp.size:
            raise NotFoundError(f"sizes must satisfy 0 <= OLD <= NEW <= {cp.size}")
        proof, root1, root2 = self._consistency(old, new)
        if new != cp.size:
            _, root2_again, root_n = self._consistency(new, cp.size)
            if (root2_again, root_n) != (root2, cp.root):
                raise LogIntegrityError("the ledger's roots disagree with its checkpoint")
        elif root2 != cp.root:
            raise LogIntegrityError("the consistency proof's new root is not the checkpoint's")
        return proof, root1, root2

    def _consistency(self, old: int, new: int) -> tuple[list[bytes], bytes, bytes]:
        """One proof from the server, checked (size 0: the empty tree, nothing to prove)."""
        got = self._json("/v1/proof/consistency", old=old, new=new)
        try:
            proof = [base64.b64decode(h, validate=True) for h in got["proof"]]
            root1, root2 = bytes.fromhex(got["root1"]), bytes.fromhex(got["root2"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LogIntegrityError(f"the ledger's consistency proof is malformed: {exc}") from exc
        try:
            merkle.verify_consistency(old, new, proof, root1, root2)
        except MerkleError as exc:
            raise LogIntegrityError(
                f"the ledger's consistency proof {old} -> {new} fails: {exc}"
            ) from exc
        return proof, root1, root2

    def prove(self, ref: str | int, size: int | None = None) -> InclusionProof:
        """An inclusion proof of a record (id, index or image), checked against the verified
        checkpoint (an earlier ``size``: its root anchored by a consistency proof)."""
        from provenance.receipts import InclusionProof

        idx, rec = self.resolve_record(ref)
        cp, note = self.checkpoint()
        size = cp.size if size is None else size
        if not idx < size <= cp.size:
            raise NotFoundError(
                f"record {idx} is not in a tree of size {size} (log size {cp.size})"
            )
        got = self._json("/v1/proof/inclusion", record=str(idx), size=size)
        try:
            proof = tuple(bytes.fromhex(h) for h in got["proof"])
            note_at: str | None = got.get("checkpoint")
        except (KeyError, TypeError, ValueError) as exc:
            raise LogIntegrityError(f"the ledger's inclusion proof is malformed: {exc}") from exc
        if size == cp.size:
            root, note_at = cp.root, note
        else:
            _, root, _ = self.consistency(size, cp.size)
            if note_at is not None:
                opened = self._open(note_at)
                if (opened.size, opened.root) != (size, root):
                    raise LogIntegrityError("the ledger's checkpoint of that size disagrees")
        leaf = merkle.leaf_hash(rec.canonical())
        try:
            merkle.verify_inclusion(idx, size, leaf, list(proof), root)
        except MerkleError as exc:
            raise LogIntegrityError(f"the ledger's inclusion proof fails: {exc}") from exc
        return InclusionProof(idx, size, rec.record_id, leaf, proof, root, note_at)

    # --- records -----------------------------------------------------------------------
    def record(self, ref: str) -> tuple[int, Record]:
        """A record by id or index, as the server claims it (parsed strictly; an id must
        be the record's own). Whether it is *in the log* is for proofs to say."""
        from provenance.records import canonical

        idx_text = ref if ref.isascii() and ref.isdigit() else None
        if idx_text is not None and int(idx_text) in self._records:
            return int(idx_text), self._records[int(idx_text)]
        got = self._json(f"/v1/records/{ref}")
        try:
            rec = parse_record(canonical(got["record"]))
            idx = int(got["index"])
        except (RecordError, KeyError, TypeError, ValueError) as exc:
            raise LogIntegrityError(f"the ledger served a malformed record for {ref}") from exc
        if (ref.startswith("sha256:") and rec.record_id != ref) or (
            idx_text is not None and idx != int(idx_text)
        ):
            raise LogIntegrityError(f"the ledger served another record for {ref}")
        self._records[idx] = rec
        self._ids[idx] = rec.record_id
        return idx, rec

    def resolve_record(self, target: str | int) -> tuple[int, Record]:
        """A log index, a record id, or an image file (found by file or content digest,
        confirmed against the record) to its index and record.

        Raises:
            NotFoundError: nothing in the log matches.
        """
        from provenance.imaging import ImageProbe
        from provenance.matching import find
        from provenance.receipts import parse_index
        from provenance.records import is_record_id

        try:
            if isinstance(target, int) or parse_index(target) is not None:
                return self.record(str(target))
            if is_record_id(target):
                return self.record(target)
        except RemoteError as exc:
            if exc.status == 404:
                raise NotFoundError(f"{target} is not in the log at {self.url}") from exc
            raise
        probe = ImageProbe.from_file(target)
        for match in find(probe, self, perceptual=False).matches:
            idx, rec = self.record(str(match.index))
            asset = rec.statement.asset
            if asset is not None and (
                asset.sha256 == probe.sha256
                or (asset.binding is not None and asset.binding == probe.content())
            ):
                return idx, rec
        raise NotFoundError(
            f"{target} is not in the log at {self.url} (no file or content match)",
            hint="sign it first, or name its record id or log index",
        )

    def evidence(self, ref: str, *, since: Sequence[int] = ()) -> Bundle:
        """The offline bundle the server exports for a record (not yet judged)."""
        from provenance.bundle import loads

        params = [("since", str(s)) for s in since]
        return loads(self._call("GET", f"/v1/evidence/{ref}", params=params or None).text)

    def cosigned(self, bundle: Bundle) -> Bundle:
        """The bundle with the witness cosignatures the server holds for its checkpoint
        (the bundle carries the log's signature only). Nothing is trusted: the verifier
        checks every signature line."""
        _, note = self.checkpoint()
        try:
            text, _ = parse_note(note)
            own, _ = parse_note(bundle.checkpoint)
        except CheckpointError:
            return bundle
        if text != own or note == bundle.checkpoint:
            return bundle
        old = bundle.checkpoint
        records = tuple(
            r if r.checkpoint != old else replace(r, checkpoint=note) for r in bundle.records
        )
        return replace(bundle, checkpoint=note, records=records)

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
        try:
            got = response.json()
        except ValueError as exc:
            raise LogIntegrityError("the ledger answered garbage to a submission") from exc
        return self.check_receipt(record, got)

    def check_receipt(self, record: Record, got: Any) -> Receipt:
        """Check a submission's answer: the record it names (ours, or one of the same
        image already there) is included at its index in a checkpoint of the trusted log.

        Raises:
            LogIntegrityError: malformed, another record, or a proof that fails.
            TrustAnchorError: a checkpoint of another log.
        """
        from provenance.records import canonical

        try:
            cp = self._open(got["checkpoint"])
            body = canonical(got["record"])
            proof = [base64.b64decode(h, validate=True) for h in got["inclusion_proof"]]
            index = int(got["index"])
            status = str(got["status"])
            stored = parse_record(body)
        except (KeyError, TypeError, ValueError, RecordError) as exc:
            raise LogIntegrityError(f"the ledger's receipt is malformed: {exc}") from exc
        if body != record.canonical() and (status == "created" or not _same_image(stored, record)):
            raise LogIntegrityError(
                "the receipt proves another record than the one submitted, not of its image"
            )
        try:
            merkle.verify_inclusion(index, cp.size, merkle.leaf_hash(body), proof, cp.root)
        except MerkleError as exc:
            raise LogIntegrityError(f"the receipt's inclusion proof fails: {exc}") from exc
        return Receipt(status, index, stored.record_id, stored, got["checkpoint"], cp.size)

    def signer_names(self) -> dict[str, str]:
        """Key id -> name, as the server lists its keys (display only)."""
        if self._names is None:
            try:
                rows = self._json("/v1/keys")
                self._names = {str(k["key_id"]): str(k["name"]) for k in rows}
            except (RemoteError, LogIntegrityError, KeyError, TypeError):
                self._names = {}
        return self._names

    # --- look-ups (provenance.matching.Candidates) -------------------------------------
    def _lookup(self, alg: str, value: bytes) -> list[dict[str, Any]]:
        got = self._json("/v1/matches/byBinding", alg=alg, value=value.hex(), maxResults=MAX_LOOKUP)
        records = got.get("records") if isinstance(got, dict) else None
        if not isinstance(records, list):
            raise LogIntegrityError(f"the ledger answered garbage to a {alg} look-up")
        out = []
        for r in records:
            if isinstance(r, dict) and isinstance(r.get("index"), int):
                if isinstance(r.get("record_id"), str):
                    self._ids.setdefault(r["index"], r["record_id"])
                out.append(r)
        return out

    def by_sha256(self, sha256: str) -> list[int]:
        return [int(r["index"]) for r in self._lookup("sha256", bytes.fromhex(sha256))]

    def by_content(self, content: str) -> list[int]:
        return [int(r["index"]) for r in self._lookup("content", bytes.fromhex(content))]

    def by_phash64(self, value: int, max_distance: int) -> list[tuple[int, int]]:
        raw = (value & (2**64 - 1)).to_bytes(8, "big")
        out = []
        for r in self._lookup("phash64", raw):
            distances = r.get("distances")
            d = distances.get("phash64") if isinstance(distances, dict) else None
            if isinstance(d, int) and d <= max_distance:
                out.append((int(r["index"]), d))
        return out

    def by_pdq(self, variants: Sequence[bytes], max_distance: int) -> list[tuple[int, int, int]]:
        """:class:`provenance.matching.PdqCandidates`: one query per variant (the server
        compares a PDQ hash as it is; flips and quarter turns are the client's to send)."""
        best: dict[int, tuple[int, int]] = {}
        for k, variant in enumerate(variants):
            for r in self._lookup("pdq", variant):
                distances = r.get("distances")
                d = distances.get("pdq") if isinstance(distances, dict) else None
                idx = int(r["index"])
                if isinstance(d, int) and d <= max_distance and d < best.get(idx, (d + 1, 0))[0]:
                    best[idx] = (d, k)
        return sorted(((i, d, k) for i, (d, k) in best.items()), key=lambda x: (x[1], x[0]))

    def assets(self, indices: Iterable[int]) -> dict[int, Asset]:
        out: dict[int, Asset] = {}
        for idx in indices:
            try:
                _, rec = self.record(str(idx))
            except (RemoteError, LogIntegrityError):
                continue  # a candidate the server cannot back is no candidate
            if rec.statement.asset is not None:
                out[idx] = rec.statement.asset
        return out

    def record_ids(self, indices: Iterable[int]) -> dict[int, str]:
        out: dict[int, str] = {}
        for idx in indices:
            if idx in self._ids:
                out[idx] = self._ids[idx]
                continue
            try:
                out[idx] = self.record(str(idx))[1].record_id
            except RemoteError as exc:
                if exc.status != 404:
                    raise
        return out

    # --- verification ------------------------------------------------------------------
    def verify_image(
        self,
        image: str | os.PathLike[str] | bytes | ImageProbe,
        *,
        pinned: Sequence[str] = (),
        witnesses: Sequence[NoteVerifier | str] = (),
        min_witnesses: int = 0,
    ) -> Report:
        """Find an image's record on the server, fetch its evidence and judge it here with
        the pure verifier under the trusted key (the server is never believed)."""
        from provenance.bundle import verify_offline, witness_verifiers
        from provenance.imaging import ImageProbe
        from provenance.matching import find
        from provenance.report import unknown_report
        from provenance.verify import checkpoint_size_unverified

        cosigners = witness_verifiers(witnesses, min_witnesses)
        if isinstance(image, ImageProbe):
            probe = image
        elif isinstance(image, bytes):
            probe = ImageProbe(image)
        else:
            probe = ImageProbe.from_file(image)
        found = find(probe, self)
        best = found.best
        if best is None:
            report = unknown_report(f"no record on {self.url} matches this image")
            report.notes.append(f"file SHA-256 {probe.sha256}")
            if pinned:
                report = self.check_pins(pinned) or report
            return report
        since = sorted({checkpoint_size_unverified(n) for n in pinned} - {0})
        # by index: the verifier finds the image among the bundle's records itself, so a
        # record altered in the server's database is judged (tampered), not looked up by
        # an id that no longer names it
        bundle = self.evidence(str(best.index), since=since)
        if cosigners:
            bundle = self.cosigned(bundle)
        report = verify_offline(
            probe,
            bundle,
            name=probe.name,
            trust_log_key=self.verifier.vkey(),
            pinned=pinned,
            witnesses=cosigners,
            min_witnesses=min_witnesses,
        )
        for other in found.matches[1:6]:
            report.notes.append(f"also matches record {other.index} ({other.kind})")
        report.notes.append(f"evidence from {self.url}, judged here under the trusted log key")
        return report

    def verify_record(
        self,
        ref: str | int,
        *,
        pinned: Sequence[str] = (),
        witnesses: Sequence[NoteVerifier | str] = (),
        min_witnesses: int = 0,
    ) -> Report:
        """Verify a record's chain without an image (``history``), from its evidence."""
        from provenance.bundle import evidence, trusted_verifier, witness_verifiers
        from provenance.verify import check_chain, checkpoint_size_unverified

        cosigners = witness_verifiers(witnesses, min_witnesses)
        idx, rec = self.resolve_record(ref)
        since = sorted({checkpoint_size_unverified(n) for n in pinned} - {0})
        bundle = self.evidence(str(idx), since=since)
        if cosigners:
            bundle = self.cosigned(bundle)
        ev = evidence(
            bundle,
            subject=idx,
            match=None,
            image=None,
            pinned=pinned,
            verifier=trusted_verifier(bundle, self.verifier.vkey()),
        )
        report = check_chain(replace(ev, witnesses=cosigners, min_witnesses=min_witnesses))
        _same_subject(ref, report.record_id)
        # an image (or index) was resolved through the server: its evidence must be of the
        # record the look-up named, or a server could vouch for another image's chain
        if report.record_id is not None and report.record_id != rec.record_id:
            raise LogIntegrityError(f"the ledger served evidence of another record than {ref}")
        return report

    def check_pins(self, pinned: Sequence[str]) -> Report | None:
        """A ``tampered`` report when the log is not consistent with a pinned checkpoint
        (an erased record looks like a stranger: the pins still tell)."""
        from provenance.verify import PinnedCheckpoint, check_pins_only, checkpoint_size_unverified

        cp, note = self.checkpoint()
        pins = []
        for pin in pinned:
            size = checkpoint_size_unverified(pin)
            proof: tuple[bytes, ...] = ()
            if 0 < size < cp.size:
                try:
                    proof = tuple(self._consistency(size, cp.size)[0])
                except (RemoteError, LogIntegrityError):
                    proof = ()
            pins.append(PinnedCheckpoint(pin, proof))
        return check_pins_only(note, self.verifier, tuple(pins))

    def export(self, ref: str | int, *, since: Sequence[int] = ()) -> Bundle:
        """The server's bundle for ``ref``, checked here first: of the trusted log, its
        records included in a checkpoint signed by the trusted key.

        Raises:
            LogIntegrityError: the bundle does not verify (the server's log is damaged or
                it lies).
        """
        from provenance.bundle import evidence, trusted_verifier
        from provenance.verify import check_chain

        idx, rec = self.resolve_record(ref)
        bundle = self.cosigned(self.evidence(str(idx), since=since))
        verifier = trusted_verifier(bundle, self.verifier.vkey())
        ev = evidence(bundle, subject=idx, match=None, image=None, verifier=verifier)
        report = check_chain(ev)
        if report.verdict != "verified":
            first = report.failures[0] if report.failures else None
            why = f"{first.code}: {first.detail}" if first else report.verdict
            raise LogIntegrityError(f"the ledger's evidence for {ref} does not verify ({why})")
        _same_subject(rec.record_id, report.record_id)
        return bundle

    # --- signing -----------------------------------------------------------------------
    def submit_many(
        self,
        records: Sequence[tuple[str, Record]],
        *,
        concurrency: int = 8,
        on_result: Callable[[str, Receipt | ProvenanceError], None] | None = None,
    ) -> list[tuple[str, Receipt | ProvenanceError]]:
        """Submit records concurrently (the server batches them into few commits).

        A refusal of one record is its outcome; an unreachable server, a receipt that does
        not check or a checkpoint of another log stops everything (raised).
        """

        def one(item: tuple[str, Record]) -> tuple[str, Receipt | ProvenanceError]:
            name, record = item
            try:
                return name, self.submit(record)
            except RemoteError as exc:
                if exc.status is None:
                    raise
                return name, exc

        results = []
        workers = max(1, min(concurrency, len(records)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for name, outcome in pool.map(one, records):
                results.append((name, outcome))
                if on_result is not None:
                    on_result(name, outcome)
        return results

    # --- the whole log from tiles ------------------------------------------------------
    def audit(
        self,
        *,
        pinned: Sequence[str] = (),
        progress: Callable[[int], object] | None = None,
    ) -> AuditResult:
        """Rebuild the log from its C2SP entry bundles and check it
        (:func:`provenance.client_audit.audit_tiles`) against the verified checkpoint.

        Raises:
            TrustAnchorError: a pinned checkpoint of another log.
        """
        from provenance.client_audit import audit_tiles

        cp, _ = self.checkpoint()
        return audit_tiles(
            lambda path: self._get(path).content,
            self.verifier,
            cp,
            pinned=pinned,
            progress=progress,
        )


def _same_subject(ref: str | int, judged: str | None) -> None:
    """A record asked for by id must be the one the evidence was judged for.

    Raises:
        LogIntegrityError: the server answered with evidence of another record.
    """
    from provenance.records import is_record_id

    if isinstance(ref, str) and is_record_id(ref) and judged != ref:
        raise LogIntegrityError(f"the ledger served evidence of another record than {ref}")


def _same_image(stored: Record, submitted: Record) -> bool:
    """Whether the server may have deduplicated ``submitted`` onto ``stored``: the same
    record id, file SHA-256 or content digest (what the append checks)."""
    if stored.record_id == submitted.record_id:
        return True
    a, b = stored.statement.asset, submitted.statement.asset
    if a is None or b is None:
        return False
    return a.sha256 == b.sha256 or (a.content is not None and a.content == b.content)
