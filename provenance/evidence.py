"""Gathering verification evidence from a local ledger (the HTTP client is the other source).

:class:`LocalCandidates` answers the look-ups of :mod:`provenance.matching`;
:class:`LocalEvidence` collects, for a matched record, what the pure verifier
(:func:`provenance.verify.check_chain`) judges: the record's ancestry (one recursive
query), every key registration and revocation (the checkpoint commits to them), inclusion
proofs for all of them in the latest checkpoint's tree (one batch of node reads),
consistency proofs to pinned checkpoints, and replays of recorded edits from parent images.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from provenance.errors import (
    ImageError,
    LogIntegrityError,
    MerkleError,
    NotFoundError,
    RecordError,
)
from provenance.imaging import ImageProbe
from provenance.matching import FindResult, find, image_digests
from provenance.records import Asset, Record, parse_record
from provenance.report import MatchKind, Report, unknown_report
from provenance.verify import (
    Evidence,
    ImageDigests,
    PinnedCheckpoint,
    ProvenRecord,
    Replay,
    check_chain,
    check_pins_only,
    checkpoint_size_unverified,
    empty_log_report,
    missing_record_report,
)

if TYPE_CHECKING:
    from provenance.bundle import Bundle
    from provenance.checkpoint import NoteVerifier
    from provenance.index import PerceptualIndex
    from provenance.store import Store, StoredCheckpoint


ImageSource = str | os.PathLike[str] | bytes | ImageProbe
"""An image to verify: a file, its bytes, or a probe of them."""


class Ledger(Protocol):
    """What evidence gathering needs of a ledger (:class:`provenance.ledger.Ledger`)."""

    store: Store
    origin: str
    log_verifier: NoteVerifier

    def perceptual_index(self) -> PerceptualIndex: ...

    def resolve(self, target: str | int, *, perceptual: bool = False) -> int: ...

    def checkpoint(self) -> StoredCheckpoint | None: ...

    def consistency(self, size1: int, size2: int) -> tuple[list[bytes], bytes, bytes]: ...

    def iter_record_ids(self, indices: Iterable[int]) -> dict[int, str]: ...


class LocalCandidates:
    """:class:`provenance.matching.Candidates` over a local ledger's indexes."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.store = ledger.store

    def by_sha256(self, sha256: str) -> list[int]:
        digest = bytes.fromhex(sha256)
        return self.store.find_by_sha256(digest) or self.store.find_unconfirmed("sha_key", digest)

    def by_content(self, content: str) -> list[int]:
        digest = bytes.fromhex(content)
        found = self.store.find_by_content(digest)
        return found or self.store.find_unconfirmed("content_key", digest)

    def by_phash64(self, value: int, max_distance: int) -> list[tuple[int, int]]:
        return [
            (c.idx, c.distance) for c in self.ledger.perceptual_index().search(value, max_distance)
        ]

    def by_pdq(self, variants: Sequence[bytes], max_distance: int) -> list[tuple[int, int, int]]:
        """:class:`provenance.matching.PdqCandidates`: the ledger's PDQ index (kept beside
        the pHash-64 one, ``<db>.pdq.npz``), brought up to date with the log first."""
        index = self.ledger.perceptual_index().pdq_index()
        index.refresh(
            self.store.size(),
            lambda a, b: self.store.iter_perceptual("pdq", a, b),
            lambda n: self.store.frontier(n).root(),
        )
        return [(c.idx, c.distance, c.variant) for c in index.search(variants, max_distance)]

    def assets(self, indices: Iterable[int]) -> dict[int, Asset]:
        """Assets of the image records among ``indices`` (a record that does not parse is
        left out: the verifier reports it, a lookup must not fail on it)."""
        out: dict[int, Asset] = {}
        for idx, stored in self.store.records_at(indices).items():
            try:
                asset = parse_record(stored.body).statement.asset
            except RecordError:
                continue
            if asset is not None:
                out[idx] = asset
        return out

    def record_ids(self, indices: Iterable[int]) -> dict[int, str]:
        return self.ledger.iter_record_ids(indices)


class LocalEvidence:
    """Collects evidence from a ledger and runs the pure verifier."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        witnesses: Sequence[NoteVerifier] = (),
        min_witnesses: int = 0,
        cosigned: bool = False,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.witnesses = tuple(witnesses)
        self.min_witnesses = min_witnesses
        # the checkpoint with the witness cosignatures kept for it (when witnesses are to
        # be counted, or for a bundle that carries them)
        self.cosigned = cosigned or bool(self.witnesses)

    def evidence(
        self,
        subject: int,
        *,
        match: MatchKind | None,
        image: ImageDigests | None = None,
        pinned: Sequence[str] = (),
    ) -> Evidence:
        cp = self.store.latest_checkpoint()
        if cp is None:
            raise NotFoundError("the log has no checkpoint yet")
        # The chain, and every key event in the log (registrations and revocations: one per
        # key, few): the signed checkpoint commits to their count and running hash, so one
        # hidden or altered event makes the chain tampered.
        wanted = set(self.store.ancestry(subject)) | set(self.store.key_event_indices())
        wanted = {i for i in wanted if i < cp.size}
        stored = self.store.records_at(wanted)
        proofs = self.store.inclusion_proofs(sorted(stored), cp.size)
        records = tuple(
            ProvenRecord(i, stored[i].body, tuple(proofs.get(i, ()))) for i in sorted(stored)
        )
        note = cp.note
        if self.cosigned:
            note += "".join(self.store.cosignatures(cp.size))
        return Evidence(
            subject=subject,
            match=match,
            records=records,
            checkpoint=note,
            log_key=self.ledger.log_verifier,
            image=image,
            pinned=self.pins(pinned, cp.size),
            witnesses=self.witnesses,
            min_witnesses=self.min_witnesses,
        )

    def pins(self, pinned: Sequence[str], size: int) -> tuple[PinnedCheckpoint, ...]:
        """Each pinned checkpoint with a consistency proof from its size to ``size``."""
        out = []
        for note in pinned:
            size1 = checkpoint_size_unverified(note)
            proof: tuple[bytes, ...] = ()
            if 0 < size1 < size:
                try:
                    proof = tuple(self.store.consistency_proof(size1, size))
                except (LogIntegrityError, MerkleError):
                    proof = ()
            out.append(PinnedCheckpoint(note, proof))
        return tuple(out)

    def replays(
        self, chain: Sequence[int], parent_images: Sequence[ImageSource]
    ) -> tuple[Replay, ...]:
        """Re-apply each replayable edit in ``chain`` whose parent image was supplied."""
        import provenance.edits as edits

        recs = {i: parse_record(r.body) for i, r in self.store.records_at(chain).items()}
        ids = {r.record_id: i for i, r in recs.items()}
        out: list[Replay] = []
        for source in parent_images:
            probe = _probe(source)
            path = probe.name
            parent = _parent_of(probe, recs)
            if parent is None:
                raise NotFoundError(
                    f"{path} is not the image of any record in this chain",
                    hint="--parent-image takes the original an edit was made from",
                )
            content = probe.content()
            for child, rec in recs.items():
                st = rec.statement
                if st.type != "edit" or st.asset is None:
                    continue
                if [ids.get(p) for p in st.parents] != [parent]:
                    continue
                digest: str | None = None
                detail = ""
                if st.claims.get(edits.REPLAY_CLAIM) == edits.REPLAY_VERSION:
                    try:
                        digest = edits.replay_digest(
                            probe.data,
                            st.actions,
                            out_format=st.asset.format,
                            digest_set=st.asset.digests,
                            name=path,
                        )
                    except (edits.EditError, ImageError) as exc:
                        digest, detail = "", f"the recorded edit cannot be replayed: {exc}"
                out.append(Replay(child, parent, probe.sha256, content, digest, detail))
        return tuple(out)

    def verify_image(
        self,
        image: ImageSource,
        *,
        pinned: Sequence[str] = (),
        parent_images: Sequence[ImageSource] = (),
    ) -> tuple[Report, FindResult]:
        """Find an image's record and verify its chain: the report and the look-up.

        Images are files, bytes, or probes (an :class:`ImageProbe` made with the caller's
        pixel limit: a server's upload limits apply).
        """
        probe = _probe(image)
        found = find(probe, LocalCandidates(self.ledger))
        if not found.matches and found.orphans:
            return missing_record_report(found.orphans[0]), found
        best = found.best
        if best is None:
            report = unknown_report()
            report.notes.append(f"file SHA-256 {probe.sha256}")
            if pinned:
                # An erased record looks like a stranger: the pins still say whether the
                # log was rewritten.
                report = self.check_pins(pinned) or report
            return report, found
        asset = LocalCandidates(self.ledger).assets([best.index]).get(best.index)
        digests = image_digests(probe, asset, best.kind)
        ev = self.evidence(best.index, match=best.kind, image=digests, pinned=pinned)
        if parent_images:
            # the evidence already holds the ancestry (key events among it are skipped)
            ev = replace(ev, replays=self.replays([r.index for r in ev.records], parent_images))
        report = check_chain(ev)
        for other in found.matches[1:6]:
            report.notes.append(f"also matches record {other.index} ({other.kind})")
        return report, found

    def check_pins(self, pinned: Sequence[str]) -> Report | None:
        """A ``tampered`` report when the log is not consistent with a pinned checkpoint."""
        cp = self.store.latest_checkpoint()
        if cp is None:
            return empty_log_report(pinned)
        return check_pins_only(cp.note, self.ledger.log_verifier, self.pins(pinned, cp.size))

    def verify_record(self, ref: str | int, *, pinned: Sequence[str] = ()) -> Report:
        """Verify a record's chain without an image (``history``)."""
        idx = self.ledger.resolve(ref)
        return check_chain(self.evidence(idx, match=None, pinned=pinned))


def _probe(source: ImageSource) -> ImageProbe:
    if isinstance(source, ImageProbe):
        return source
    if isinstance(source, bytes):
        return ImageProbe(source)
    return ImageProbe.from_file(source)


def _parent_of(probe: ImageProbe, recs: Mapping[int, Record]) -> int | None:
    """The record in ``recs`` whose image ``probe`` is (by bytes, else by content)."""
    assets = {i: r.statement.asset for i, r in recs.items() if r.statement.asset is not None}
    for i, asset in assets.items():
        if asset.sha256 == probe.sha256:
            return i
    content = probe.content()
    for i, asset in assets.items():
        if asset.binding is not None and asset.binding == content:
            return i
    return None


def export_bundle(
    ledger: Ledger, target: str | int, *, since: Sequence[int] = (), check: bool = True
) -> Bundle:
    """A self-contained bundle to verify ``target`` (image, record id or index) offline.

    ``check=False`` exports the evidence as the database holds it, damaged or not: what a
    server hands a remote verifier, which judges it itself (a damaged record then reads
    ``tampered`` there, not as an error).

    Raises:
        LogIntegrityError: records or proofs of the chain cannot be served (a damaged
            database would give a bundle that is not even well formed). A chain that only
            fails its signature checks is exported as it is: the bundle shows why.
    """
    import provenance.bundle as bundle

    # an index is taken as it is (bounds are the caller's): the record there is not parsed,
    # so with check=False a record damaged past parsing is still served for judging
    idx = target if isinstance(target, int) and not check else ledger.resolve(target)
    ev = LocalEvidence(ledger, cosigned=True).evidence(idx, match=None)
    failures = check_chain(ev).failures if check else []
    damaged = ("ingredient.missing", "ingredient.order", "ingredient.cycle")
    broken = [c for c in failures if c.number in (1, 3) or c.code in damaged]
    if broken:
        raise LogIntegrityError(
            f"cannot export: the log is damaged ({broken[0].code}: {broken[0].detail})"
        )
    cp = ledger.checkpoint()
    if cp is None:
        raise NotFoundError("the log has no checkpoint yet")
    # the checkpoint the proofs were made for (a server may have appended since): the
    # latest one checked above, or an earlier one of that log
    size = checkpoint_size_unverified(ev.checkpoint)
    consistency = {s: tuple(ledger.consistency(s, size)[0]) for s in since if s < size}
    subject = next(r for r in ev.records if r.index == idx)
    return bundle.build(
        origin=ledger.origin,
        vkey=ledger.log_verifier.vkey(),
        checkpoint=ev.checkpoint,
        subject="sha256:" + hashlib.sha256(subject.body).hexdigest(),
        records=ev.records,
        consistency=consistency,
    )
