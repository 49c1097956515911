"""Offline bundles: a self-contained JSON file that verifies an image without the database.

A bundle carries the matched record's whole chain (and the key records its signers depend
on), each with a C2SP ``tlog-proof`` (index, inclusion proof, signed checkpoint), the log's
verifier key, and optionally consistency proofs from earlier tree sizes so a pinned
checkpoint can be checked offline too::

    {
      "format": "provenance-bundle/v1",
      "log": {"origin": "...", "vkey": "<C2SP signed-note verifier key>"},
      "checkpoint": "<signed checkpoint note>",
      "subject": "sha256:<record id>",
      "records": [{"index": 7, "record": {...}, "tlog_proof": "c2sp.org/tlog-proof@v1\\n..."}],
      "consistency": [{"size": 3, "proof": ["<base64>", ...]}]
    }

Parsing is strict (unknown fields, wrong types, oversize input are :class:`BundleError`);
whether the contents are *true* is the verifier's job: an altered bundle parses and then
fails its checks (``tampered``), a truncated one does not parse (an error).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from provenance.checkpoint import (
    SIG_COSIGNATURE_V1,
    NoteVerifier,
    format_tlog_proof,
    parse_tlog_proof,
)
from provenance.errors import (
    BundleError,
    CheckpointError,
    LogIntegrityError,
    RecordError,
    TrustAnchorError,
)
from provenance.records import Asset, Record, canonical, parse_record, record_id
from provenance.report import MatchKind, Report, unknown_report
from provenance.verify import (
    Evidence,
    ImageDigests,
    PinnedCheckpoint,
    ProvenRecord,
    check_chain,
    checkpoint_size_unverified,
)

if TYPE_CHECKING:
    from provenance.imaging import ImageProbe

FORMAT: Final = "provenance-bundle/v1"
MAX_BUNDLE_BYTES: Final = 32 * 1024 * 1024
MAX_RECORDS: Final = 10_000


@dataclass(frozen=True, slots=True)
class BundleRecord:
    index: int
    body: bytes
    proof: tuple[bytes, ...]
    checkpoint: str


@dataclass(frozen=True, slots=True)
class Bundle:
    origin: str
    vkey: str
    checkpoint: str
    subject: str
    records: tuple[BundleRecord, ...]
    consistency: dict[int, tuple[bytes, ...]]

    def to_json(self) -> dict[str, Any]:
        """The bundle as JSON (records embedded as objects).

        Raises:
            LogIntegrityError: a record's bytes are not JSON (a damaged log: no bundle can
                carry them).
        """
        embedded = []
        for r in self.records:
            try:
                embedded.append(json.loads(r.body))
            except ValueError as exc:
                raise LogIntegrityError(
                    f"record {r.index} is not JSON: the log is damaged there",
                    hint="`provenance log verify` locates the damage",
                ) from exc
        return {
            "format": FORMAT,
            "log": {"origin": self.origin, "vkey": self.vkey},
            "checkpoint": self.checkpoint,
            "subject": self.subject,
            "records": [
                {
                    "index": r.index,
                    "record": obj,
                    "tlog_proof": format_tlog_proof(r.index, r.proof, r.checkpoint),
                }
                for r, obj in zip(self.records, embedded, strict=True)
            ],
            "consistency": [
                {"size": size, "proof": [base64.b64encode(h).decode() for h in proof]}
                for size, proof in sorted(self.consistency.items())
            ],
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n"

    def parsed_records(self) -> dict[int, Record]:
        """Records that parse (a malformed one is left for the verifier to report)."""
        out: dict[int, Record] = {}
        for r in self.records:
            try:
                out[r.index] = parse_record(r.body)
            except RecordError:
                continue
        return out


def loads(text: str | bytes) -> Bundle:
    """Strictly parse a bundle.

    Raises:
        BundleError: not JSON, wrong format, missing or extra fields, malformed proofs.
    """
    if len(text) > MAX_BUNDLE_BYTES:
        raise BundleError(f"bundle larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and an integer literal
        # longer than Python's int conversion limit (4300 digits).
        raise BundleError(
            f"bundle is not valid JSON ({exc.__class__.__name__}: "
            f"{str(exc)[:80]}); is it truncated?"
        ) from exc
    o = _fields(obj, "bundle", {"format", "log", "checkpoint", "subject", "records", "consistency"})
    if o["format"] != FORMAT:
        raise BundleError(f"unsupported bundle format {str(o['format'])[:40]!r}")
    log = _fields(o["log"], "bundle.log", {"origin", "vkey"})
    origin, vkey = _s(log["origin"], "log.origin"), _s(log["vkey"], "log.vkey")
    checkpoint = _s(o["checkpoint"], "checkpoint")
    subject = _s(o["subject"], "subject")
    recs = o["records"]
    if not isinstance(recs, list) or not recs or len(recs) > MAX_RECORDS:
        raise BundleError("bundle.records: expected 1 to 10000 records")
    records = []
    for i, item in enumerate(recs):
        r = _fields(item, f"records[{i}]", {"index", "record", "tlog_proof"})
        index = r["index"]
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise BundleError(f"records[{i}].index: expected a non-negative integer")
        try:
            body = canonical(r["record"])
            tp = parse_tlog_proof(_s(r["tlog_proof"], f"records[{i}].tlog_proof"))
        except (RecordError, CheckpointError) as exc:
            raise BundleError(f"records[{i}]: {exc}") from exc
        if tp.index != index:
            raise BundleError(f"records[{i}]: tlog-proof index {tp.index} != {index}")
        records.append(BundleRecord(index, body, tuple(tp.proof), tp.checkpoint_note))
    cons_raw = o["consistency"]
    if not isinstance(cons_raw, list):
        raise BundleError("bundle.consistency: expected a list")
    consistency: dict[int, tuple[bytes, ...]] = {}
    for i, item in enumerate(cons_raw):
        c = _fields(item, f"consistency[{i}]", {"size", "proof"})
        size = c["size"]
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BundleError(f"consistency[{i}].size: expected a non-negative integer")
        if not isinstance(c["proof"], list) or len(c["proof"]) > 128:
            raise BundleError(f"consistency[{i}].proof: expected a list of hashes")
        consistency[size] = tuple(_b64_hash(h, f"consistency[{i}].proof") for h in c["proof"])
    return Bundle(origin, vkey, checkpoint, subject, tuple(records), consistency)


def build(
    *,
    origin: str,
    vkey: str,
    checkpoint: str,
    subject: str,
    records: Sequence[ProvenRecord],
    consistency: dict[int, tuple[bytes, ...]] | None = None,
) -> Bundle:
    return Bundle(
        origin,
        vkey,
        checkpoint,
        subject,
        tuple(BundleRecord(r.index, r.body, r.proof, checkpoint) for r in records),
        dict(consistency or {}),
    )


class BundleCandidates:
    """:class:`provenance.matching.Candidates` over a bundle's image records (a scan: a
    bundle holds one chain)."""

    def __init__(self, bundle: Bundle) -> None:
        self._assets: dict[int, Asset] = {
            i: r.statement.asset
            for i, r in bundle.parsed_records().items()
            if r.statement.asset is not None
        }
        self._ids = {r.index: record_id(r.body) for r in bundle.records}

    def by_sha256(self, sha256: str) -> list[int]:
        return sorted(i for i, a in self._assets.items() if a.sha256 == sha256)

    def by_content(self, content: str) -> list[int]:
        return sorted(i for i, a in self._assets.items() if a.binding == content)

    def by_phash64(self, value: int, max_distance: int) -> list[tuple[int, int]]:
        from provenance.imaging import phash64_to_int

        out = []
        for i, a in self._assets.items():
            d = ((phash64_to_int(a.phash64) ^ value) & (2**64 - 1)).bit_count()
            if d <= max_distance:
                out.append((i, d))
        return sorted(out, key=lambda x: (x[1], x[0]))

    def by_pdq(self, variants: Sequence[bytes], max_distance: int) -> list[tuple[int, int, int]]:
        """:class:`provenance.matching.PdqCandidates`, by a scan of the bundle's records."""
        from provenance.pdq import nearest_variant

        out = []
        for i, a in self._assets.items():
            if a.pdq is None:
                continue
            try:
                d, k = nearest_variant(variants, bytes.fromhex(a.pdq))
            except ValueError:
                continue  # a malformed hash is never matched on
            if d <= max_distance:
                out.append((i, d, k))
        return sorted(out, key=lambda x: (x[1], x[0]))

    def assets(self, indices: Iterable[int]) -> dict[int, Asset]:
        return {i: self._assets[i] for i in indices if i in self._assets}

    def record_ids(self, indices: Iterable[int]) -> dict[int, str]:
        return {i: self._ids[i] for i in indices if i in self._ids}


def trusted_verifier(bundle: Bundle, trust_log_key: str | None) -> NoteVerifier:
    """The log key to judge the bundle with: ``trust_log_key`` when given (it must be the
    bundle's own log's key: another log's key is a usage error, not evidence), else the
    bundle's own key (then a pinned checkpoint must anchor it).

    Raises:
        BundleError: the bundle's key is malformed.
        TrustAnchorError: the trusted key is of another log than the bundle.
        CheckpointError: the trusted key is malformed.
    """
    try:
        own = NoteVerifier.parse_vkey(bundle.vkey)
    except CheckpointError as exc:
        raise BundleError(f"the bundle's log verifier key: {exc}") from exc
    if trust_log_key is None:
        return own
    try:
        trusted = NoteVerifier.parse_vkey(trust_log_key)
    except CheckpointError as exc:
        raise TrustAnchorError(
            f"the log key you trust (--trust-log-key) is not a verifier key: {exc}",
            hint="pass the vkey the log's operator publishes (`provenance log show` prints it)",
        ) from exc
    if (trusted.name, trusted.public) != (own.name, own.public):
        raise TrustAnchorError(
            f"the bundle is from log {own.name!r} (key {own.key_id.hex()}), but the key you "
            f"trust is of log {trusted.name!r} (key {trusted.key_id.hex()})",
            hint="pass the verifier key published by the operator of the bundle's log",
        )
    return trusted


def verify_offline(
    image: bytes | ImageProbe,
    bundle: Bundle,
    *,
    name: str = "<image>",
    trust_log_key: str | None = None,
    pinned: Sequence[str] = (),
    witnesses: Sequence[NoteVerifier | str] = (),
    min_witnesses: int = 0,
) -> Report:
    """Verify an image against a bundle with no database (``verify --bundle``).

    A bundle carries its own log key, so on its own it proves nothing about who kept the
    log: a trust anchor is required, the log's published verifier key or a checkpoint of
    that log pinned earlier.

    Args:
        witnesses: witness verifier keys (``NoteVerifier`` or vkey text, from ``witness
            vkey``) whose cosignatures on the bundle's checkpoint count (check 4).
        min_witnesses: how many of them must have cosigned it (else ``tampered``:
            ``checkpoint.witnesses``).

    Raises:
        BundleError: no trust anchor, or the bundle is damaged beyond matching.
        TrustAnchorError: an anchor of another log, or a malformed or repeated witness key.
        ImageError: the image cannot be read.
        ValueError: ``min_witnesses`` is negative or more than the witnesses given.
    """
    from provenance.imaging import ImageProbe
    from provenance.matching import find, image_digests

    if trust_log_key is None and not pinned:
        raise BundleError(
            f"no trust anchor for the bundle's log {bundle.origin!r}: a bundle alone proves "
            "nothing about who kept the log",
            hint="pass --trust-log-key VKEY (published by the log's operator) or "
            "--checkpoint FILE (one you saved earlier)",
        )
    verifier = trusted_verifier(bundle, trust_log_key)
    cosigners = witness_verifiers(witnesses, min_witnesses)
    # a probe already made (a remote ledger's look-up) keeps the digests it computed
    probe = image if isinstance(image, ImageProbe) else ImageProbe(image, name=name)
    candidates = BundleCandidates(bundle)
    found = find(probe, candidates)
    best = found.best
    if best is None:
        subject = next((r for r in bundle.records if record_id(r.body) == bundle.subject), None)
        if subject is None:
            # The record the bundle was made for is gone (removed, or altered so its id
            # changed): the bundle is damaged, not evidence that the image is unknown.
            raise BundleError(
                f"the bundle's subject {bundle.subject[:80]} is not among its records, and "
                "no record in it matches the image"
            )
        if subject.index not in bundle.parsed_records():
            # The record it was made for does not parse (a server's damaged log): nothing
            # can match it, and its chain is judged as it is, which fails check (1).
            report = check_chain(
                evidence(
                    bundle,
                    subject=subject.index,
                    match=None,
                    image=None,
                    pinned=pinned,
                    verifier=verifier,
                )
            )
            if report.verdict == "tampered":
                report.notes.append("the bundle's record does not parse: no image can match it")
                return report
        return unknown_report("no record in the bundle matches this image")
    asset = candidates.assets([best.index]).get(best.index)
    ev = evidence(
        bundle,
        subject=best.index,
        match=best.kind,
        image=image_digests(probe, asset, best.kind),
        pinned=pinned,
        verifier=verifier,
    )
    if cosigners or min_witnesses:
        ev = replace(ev, witnesses=cosigners, min_witnesses=min_witnesses)
    return check_chain(ev)


def witness_verifiers(
    witnesses: Sequence[NoteVerifier | str], min_witnesses: int = 0
) -> tuple[NoteVerifier, ...]:
    """Witness keys as cosignature/v1 verifiers (``--witness-key``, ``--min-witnesses``).

    Raises:
        TrustAnchorError: a key that is not a verifier key, or the same witness twice
            (it would count twice towards ``min_witnesses``).
        ValueError: ``min_witnesses`` negative or above the number of witnesses.
    """
    out: list[NoteVerifier] = []
    for item in witnesses:
        if isinstance(item, str):
            try:
                w = NoteVerifier.parse_vkey(item)
            except CheckpointError as exc:
                raise TrustAnchorError(
                    f"the witness key {item[:80]!r} is not a verifier key: {exc}",
                    hint="pass what `provenance witness vkey` prints",
                ) from exc
        else:
            w = item
        if w.sig_type != SIG_COSIGNATURE_V1:
            w = NoteVerifier(w.name, w.public, SIG_COSIGNATURE_V1)
        if any(o.public == w.public for o in out):
            raise TrustAnchorError(
                f"the witness {w.name!r} (key {w.key_id.hex()}) is given twice",
                hint="each witness counts once towards --min-witnesses",
            )
        out.append(w)
    if isinstance(min_witnesses, bool) or not 0 <= min_witnesses <= len(out):
        raise ValueError(f"min_witnesses must be between 0 and the {len(out)} witness keys given")
    return tuple(out)


def evidence(
    bundle: Bundle,
    *,
    subject: int,
    match: MatchKind | None,
    image: ImageDigests | None,
    pinned: Sequence[str] = (),
    verifier: NoteVerifier,
) -> Evidence:
    """Turn a parsed bundle into evidence for :func:`provenance.verify.check_chain`, judged
    under ``verifier`` (:func:`trusted_verifier`). A record whose tlog-proof names a
    different checkpoint than the bundle's gets an empty proof (and so fails check 3)
    rather than being silently judged against another tree.
    """
    records = tuple(
        ProvenRecord(r.index, r.body, r.proof if r.checkpoint == bundle.checkpoint else ())
        for r in bundle.records
    )
    pins = []
    for note in pinned:
        size = checkpoint_size_unverified(note)
        pins.append(PinnedCheckpoint(note, bundle.consistency.get(size, ())))
    return Evidence(
        subject=subject,
        match=match,
        records=records,
        checkpoint=bundle.checkpoint,
        log_key=verifier,
        image=image,
        pinned=tuple(pins),
    )


def _fields(obj: Any, where: str, fields: set[str]) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise BundleError(f"{where}: expected an object")
    missing = fields - set(obj)
    if missing:
        raise BundleError(f"{where}: missing field {sorted(missing)[0]!r}")
    extra = set(obj) - fields
    if extra:
        raise BundleError(f"{where}: unexpected field {sorted(extra)[0]!r}")
    return obj


def _s(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise BundleError(f"{where}: expected a string")
    return value


def _b64_hash(value: Any, where: str) -> bytes:
    try:
        raw = base64.b64decode(_s(value, where), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BundleError(f"{where}: invalid base64") from exc
    if len(raw) != 32:
        raise BundleError(f"{where}: expected 32-byte hashes")
    return raw
