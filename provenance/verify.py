"""The pure verifier: records + proofs + keys + image digests -> a graded Report.

No database access and no I/O: a local ledger, an offline bundle or a remote server gathers
the evidence, this module judges it. Modelled on python-tuf's trusted metadata set: the
rules for admitting a chain live here, the fetching lives elsewhere. Two forms of the one
check: :func:`check_chain` returns a :class:`~provenance.report.Report`;
:func:`verify_chain` raises :class:`~provenance.errors.VerificationError` unless the
verdict is ``verified``.

The numbered checks (each report lists all of them, in order):

(1) every record parses strictly and re-canonicalises to the same bytes;
(2) every signature verifies under a registered key that was not revoked at that record's
    log position, and every key keeps to its role (the log key signs only key and revoke
    records and is never a signer; :mod:`provenance.trust`);
(3) every record is included, at its index, in the signed checkpoint's tree;
(4) the checkpoint's signature verifies under the trusted log key, it is consistent with
    every pinned earlier checkpoint, and it carries the required witness cosignatures;
(5) every parent exists in the evidence, is an image record (capture or edit), precedes
    its child, there is no cycle, and every declared edit is plausible from the records
    (:mod:`provenance.plausibility`);
(6) the image's digests against the matched record: file SHA-256, the content digest of
    what a viewer displays, or perceptual (reported with distances; a perceptual match is
    never ``verified``; a digest-set-1 record has no content digest to match);
(7) the matched record's own perceptual hashes are recomputed from the image at hand and
    compared, never just trusted;
(8) replay: when the parent image of an edit made with ``provenance edit`` is supplied, its
    recorded actions, re-applied to it, reproduce the edit's content digest (skipped when
    no parent image is given).

Trust anchors that belong to another log (a pinned checkpoint of another origin or key, a
witness key given twice) are not evidence of anything: :func:`check_chain` raises
:class:`~provenance.errors.TrustAnchorError` for them (exit 3), naming both logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import provenance.merkle as merkle
import provenance.plausibility as plausibility
from provenance.checkpoint import (
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteVerifier,
    open_checkpoint,
    parse_note,
    verify_cosignature,
)
from provenance.errors import CheckpointError, MerkleError, RecordError, VerificationError
from provenance.records import (
    KEY_EVENTS_START,
    Asset,
    Record,
    fold_key_event,
    parse_key_events_line,
    parse_record,
    record_id,
)
from provenance.report import (
    ChainStep,
    Check,
    MatchKind,
    Report,
    StepCheck,
    fresh_checks,
)
from provenance.trust import FAILURE_CODES, KeyBook, KeyState

__all__ = [
    "Evidence",
    "ImageDigests",
    "PinnedCheckpoint",
    "ProvenRecord",
    "Replay",
    "check_chain",
    "check_pins_only",
    "checkpoint_size_unverified",
    "empty_log_report",
    "missing_record_report",
    "verify_chain",
]

PDQ_RECOMPUTE_TOLERANCE = 8
"""PDQ bits a recomputation may differ by (floating point across machines); pHash is
computed with integers and must match exactly."""
_PDQ_QUALITY = 50
"""pdq.QUALITY_THRESHOLD (pdq is imported lazily: numpy stays off the import path)."""


# --- evidence ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProvenRecord:
    """A record's canonical bytes, its log index and its inclusion proof."""

    index: int
    body: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ImageDigests:
    """What was computed from the image at hand (None: not computed). The perceptual
    hashes are computed the way the matched record's digest set computes them."""

    sha256: str
    content: str | None = None
    phash64: str | None = None
    phash256: str | None = None
    pdq: str | None = None
    pdq_quality: int | None = None
    pdq_variants: tuple[str, ...] = ()  # PDQ of the 8 dihedral variants (perceptual match)


@dataclass(frozen=True, slots=True)
class PinnedCheckpoint:
    """An earlier checkpoint an auditor kept, with a consistency proof to the current one."""

    note: str
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Replay:
    """An edit re-applied to a supplied parent image (computed outside, judged here).

    ``digest`` is the replayed result's digest in the child's digest set (content digest,
    or digest set 1's pixel digest), or None when the recorded actions are not replayable.
    """

    child: int
    parent: int
    parent_sha256: str
    parent_content: str | None
    digest: str | None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything needed to judge one matched record and its chain."""

    subject: int
    match: MatchKind | None
    records: tuple[ProvenRecord, ...]
    checkpoint: str
    log_key: NoteVerifier
    image: ImageDigests | None = None
    pinned: tuple[PinnedCheckpoint, ...] = ()
    replays: tuple[Replay, ...] = ()
    witnesses: tuple[NoteVerifier, ...] = ()
    min_witnesses: int = 0
    phash64_max: int = 10
    phash256_max: int = 40


def checkpoint_size_unverified(note: str) -> int:
    """The tree size a checkpoint note claims, before its signature is checked.

    Raises:
        CheckpointError: the note or its checkpoint body is malformed.
    """
    text, _ = parse_note(note)
    return Checkpoint.parse(text).size


def anchor_mismatch(note: str, log_key: NoteVerifier) -> str | None:
    """Why a pinned checkpoint belongs to another log than ``log_key``'s, or None.

    A pin of this log's origin that carries a signature line of this log's key is *of this
    log* (whether that signature verifies is check 4's business).

    Raises:
        CheckpointError: the note is malformed.
    """
    text, signatures = parse_note(note)
    origin = Checkpoint.parse(text).origin
    if origin != log_key.name:
        return f"the pinned checkpoint is of log {origin!r}, not {log_key.name!r}"
    if not any(s.name == log_key.name and s.key_id == log_key.key_id for s in signatures):
        others = ", ".join(sorted({s.key_id.hex() for s in signatures})) or "none"
        return (
            f"the pinned checkpoint of log {origin!r} is signed by key id {others}, not by "
            f"the key {log_key.key_id.hex()} trusted here"
        )
    return None


def missing_record_report(index: int) -> Report:
    """The image's digest is indexed at ``index`` but no record is stored there."""
    checks = fresh_checks()
    for check in checks.values():
        check.skip("record.missing")
    checks[6].status = "pass"
    checks[6].fail(
        "record.missing",
        f"the image is indexed at log index {index} but no record is stored there",
        index,
    )
    return Report(
        verdict="tampered",
        checks=list(checks.values()),
        index=index,
        notes=["the database's index points at a record that is gone"],
    )


def empty_log_report(pinned: Sequence[str]) -> Report | None:
    """The log has no checkpoint at all, yet checkpoints of it were pinned: it was wiped."""
    sizes = [checkpoint_size_unverified(n) for n in pinned]
    if not any(sizes):
        return None
    checks = fresh_checks()
    for number, check in checks.items():
        if number != 4:
            check.skip("no.match")
    checks[4].fail(
        "checkpoint.inconsistent",
        f"the log is empty, but a pinned checkpoint has size {max(sizes)}",
    )
    return Report(
        verdict="tampered",
        checks=list(checks.values()),
        notes=["the log was emptied after a checkpoint of it was pinned"],
    )


def check_pins_only(
    checkpoint_note: str, log_key: NoteVerifier, pinned: Sequence[PinnedCheckpoint]
) -> Report | None:
    """Check only (4) for an image nothing matched: ``tampered`` if a pin fails, else None.

    Raises:
        TrustAnchorError: a pin belongs to another log.
    """
    _check_anchors(pinned, log_key)
    checks = fresh_checks()
    check = checks[4]
    try:
        cp = open_checkpoint(checkpoint_note, log_key)
    except CheckpointError as exc:
        check.fail("checkpoint.signature.mismatch", str(exc))
        cp = None
    if cp is not None:
        for pin in pinned:
            _check_pinned(pin, cp, log_key, check)
    if check.status != "fail":
        return None
    for number, other in checks.items():
        if number != 4:
            other.skip("no.match")
    return Report(
        verdict="tampered",
        checks=list(checks.values()),
        notes=[
            "no record matches this image, and the log is not consistent with "
            "the pinned checkpoint: records may have been erased"
        ],
    )


# --- the checks ----------------------------------------------------------------------------
def check_chain(ev: Evidence) -> Report:
    """Run checks (1)-(8) over the evidence and grade the result.

    Never raises on bad evidence: every failure is a check in the report.

    Raises:
        TrustAnchorError: a pinned checkpoint or witness key of another log.
    """
    _check_anchors(ev.pinned, ev.log_key)
    checks = fresh_checks()
    report = Report(verdict="tampered", match=ev.match, index=ev.subject)

    # (4) the checkpoint first: everything else is judged against its tree.
    cp = _check_checkpoint(ev, checks[4], report)

    # (1) parse every record.
    parsed: dict[int, Record] = {}
    by_id: dict[str, int] = {}
    bodies: dict[int, ProvenRecord] = {}
    for pr in ev.records:
        if pr.index in bodies and bodies[pr.index].body != pr.body:
            checks[1].fail(
                "record.conflict", f"two different records claim index {pr.index}", pr.index
            )
            continue
        bodies[pr.index] = pr
        try:
            rec = parse_record(pr.body)
        except RecordError as exc:
            checks[1].fail("record.malformed", f"record {pr.index}: {exc}", pr.index)
            continue
        parsed[pr.index] = rec
        by_id[record_id(pr.body)] = pr.index

    # (3) inclusion of every record in the checkpoint's tree.
    if cp is None:
        checks[3].skip("checkpoint.unavailable")
    else:
        for pr in bodies.values():
            try:
                merkle.verify_inclusion(
                    pr.index, cp.size, merkle.leaf_hash(pr.body), list(pr.proof), cp.root
                )
            except MerkleError as exc:
                checks[3].fail(
                    "log.inclusion.mismatch",
                    f"record {pr.index} is not in the checkpoint's tree: {exc}",
                    pr.index,
                )

    # (2) key state as the log records it, then every signature; the checkpoint commits to
    # every key event below its size, so the evidence must hold all of them.
    book = KeyBook(ev.log_key.public)
    for idx in sorted(parsed):
        book.observe(idx, parsed[idx])
    for idx in sorted(parsed):
        verdict = book.judge(idx, parsed[idx])
        if verdict is not None:
            checks[2].fail(FAILURE_CODES[verdict[0]], f"record {idx}: {verdict[1]}", idx)
    if cp is not None:
        _check_key_events(cp, parsed, bodies, checks[2])

    # (5) the subject's ancestry, and what the declared edits in it are worth.
    chain_idx = _walk_chain(ev.subject, parsed, by_id, checks[5])
    judgements = _judge_edits(chain_idx, parsed, by_id, checks[5])

    # (6) + (7) the image against the matched record.
    subject = parsed.get(ev.subject)
    if subject is None:
        checks[6].fail("record.missing", f"the matched record {ev.subject} is not in evidence")
        checks[7].skip("record.missing")
    else:
        report.record_id = record_id(bodies[ev.subject].body)
        _check_image(ev, subject, checks[6], checks[7], report)

    # (8) replays of recorded edits from supplied parent images.
    replayed = _check_replays(ev.replays, parsed, checks[8])

    report.checks = [checks[n] for n in sorted(checks)]
    report.chain = [
        _step(i, parsed[i], book.keys, report.checks, replayed, judgements)
        for i in chain_idx
        if i in parsed
    ]
    if any(c.status == "fail" for c in report.checks):
        report.verdict = "tampered"
    elif ev.match == "perceptual":
        report.verdict = "similar"
        report.notes.append(
            "perceptual match only: the image was re-encoded, resized or edited after it "
            "was logged, or differs in what a viewer shows (colour profile, orientation, "
            "frames); its history after that record is unknown"
        )
    else:
        report.verdict = "verified"
    return report


def verify_chain(ev: Evidence) -> Report:
    """Raising twin of :func:`check_chain`: returns the report only when ``verified``."""
    report = check_chain(ev)
    if report.verdict != "verified":
        first = report.failures[0] if report.failures else None
        why = f"{first.code}: {first.detail}" if first else report.verdict
        raise VerificationError(f"verification failed ({report.verdict}): {why}")
    return report


# --- helpers -------------------------------------------------------------------------------
def _check_anchors(pinned: Sequence[PinnedCheckpoint], log_key: NoteVerifier) -> None:
    from provenance.errors import TrustAnchorError

    for pin in pinned:
        try:
            why = anchor_mismatch(pin.note, log_key)
        except CheckpointError:
            continue  # a malformed pin is check 4's (pinned.invalid)
        if why is not None:
            raise TrustAnchorError(
                why,
                hint=f"this log is {log_key.name} (key {log_key.key_id.hex()}); pin a "
                "checkpoint of it, or if it is the same log, its key was replaced: do not "
                "trust it",
            )


def _check_checkpoint(ev: Evidence, check: Check, report: Report) -> Checkpoint | None:
    try:
        cp = open_checkpoint(ev.checkpoint, ev.log_key)
    except CheckpointError as exc:
        check.fail("checkpoint.signature.mismatch", str(exc))
        return None
    report.checkpoint_size, report.checkpoint_root = cp.size, cp.root.hex()
    report.origin, report.checkpoint_note = cp.origin, ev.checkpoint
    for pin in ev.pinned:
        _check_pinned(pin, cp, ev.log_key, check)
    for witness in ev.witnesses:
        if witness.sig_type != SIG_COSIGNATURE_V1:
            witness = NoteVerifier(witness.name, witness.public, SIG_COSIGNATURE_V1)
        try:
            verify_cosignature(ev.checkpoint, witness)
        except CheckpointError:
            continue
        report.witnesses.append(witness.name)
    if len(report.witnesses) < ev.min_witnesses:
        check.fail(
            "checkpoint.witnesses",
            f"{len(report.witnesses)} of the required {ev.min_witnesses} witness "
            "cosignatures verify on the checkpoint",
        )
    return cp


def _check_key_events(
    cp: Checkpoint, parsed: dict[int, Record], bodies: dict[int, ProvenRecord], check: Check
) -> None:
    try:
        committed = parse_key_events_line(cp.extensions)
    except RecordError as exc:
        check.fail("keyEvents.malformed", f"checkpoint: {exc}")
        return
    if committed is None:
        return  # a checkpoint without the commitment: nothing to hold the evidence to
    events = sorted(
        i for i, r in parsed.items() if r.statement.type in ("key", "revoke") and i < cp.size
    )
    state = KEY_EVENTS_START
    for i in events:
        state = fold_key_event(state, i, record_id(bodies[i].body))
    if (len(events), state) != committed:
        check.fail(
            "keyEvents.incomplete",
            f"the checkpoint commits to {committed[0]} key registrations/revocations; the "
            f"evidence holds {len(events)} that do not match it (one is missing or altered)",
        )


def _walk_chain(
    subject: int, parsed: dict[int, Record], by_id: dict[str, int], check: Check
) -> list[int]:
    """Indices of the subject and its ancestors, child first (depth-first, parents in
    order); records problems in (5). Iterative: chains of any depth are walked."""
    order: list[int] = []
    done: set[int] = set()
    on_path: set[int] = set()
    stack: list[tuple[int, list[int]]] = []

    def enter(idx: int) -> None:
        if idx in on_path:
            check.fail("ingredient.cycle", f"record {idx} is its own ancestor", idx)
            return
        if idx in done:
            return
        on_path.add(idx)
        done.add(idx)
        order.append(idx)
        parents: list[int] = []
        rec = parsed.get(idx)
        for pid in rec.statement.parents if rec is not None else ():
            pidx = by_id.get(pid)
            if pidx is None:
                check.fail(
                    "ingredient.missing", f"record {idx}: parent {pid} is not in the evidence", idx
                )
                continue
            if parsed[pidx].statement.type not in ("capture", "edit"):
                check.fail(
                    "ingredient.notAsset",
                    f"record {idx}: parent {pidx} is a {parsed[pidx].statement.type} record, "
                    "not an image",
                    idx,
                )
                continue
            if pidx >= idx:
                check.fail(
                    "ingredient.order", f"record {idx}: parent at {pidx} does not precede it", idx
                )
            parents.append(pidx)
        stack.append((idx, parents[::-1]))

    enter(subject)
    while stack:
        idx, pending = stack[-1]
        if pending:
            enter(pending.pop())
        else:
            stack.pop()
            on_path.discard(idx)
    return order


def _judge_edits(
    chain: Sequence[int], parsed: dict[int, Record], by_id: dict[str, int], check: Check
) -> dict[int, plausibility.Judgement]:
    """Plausibility of every edit in the chain, from the records (part of check 5)."""
    out: dict[int, plausibility.Judgement] = {}
    for idx in chain:
        rec = parsed.get(idx)
        if rec is None or rec.statement.type != "edit" or rec.statement.asset is None:
            continue
        parents: list[Asset] = []
        for pid in rec.statement.parents:
            pidx = by_id.get(pid)
            asset = parsed[pidx].statement.asset if pidx is not None else None
            if asset is not None:
                parents.append(asset)
        if len(parents) != len(rec.statement.parents):
            continue  # a missing parent is already a failure of (5)
        judgement = plausibility.judge(rec.statement.asset, parents, rec.statement.actions)
        out[idx] = judgement
        if judgement.outcome == "implausible":
            check.fail("edit.implausible", f"record {idx}: {judgement.detail}", idx)
    return out


def _check_image(ev: Evidence, subject: Record, c6: Check, c7: Check, report: Report) -> None:
    asset = subject.statement.asset
    img = ev.image
    if img is None:
        c6.skip("image.unavailable", "no image given")
        c7.skip("image.unavailable")
        return
    if asset is None:
        c6.fail("record.noAsset", f"record {ev.subject} is a {subject.statement.type} record")
        c7.skip("record.noAsset")
        return
    if ev.match == "sha256":
        if img.sha256 != asset.sha256:
            c6.fail("dataHash.mismatch", "file SHA-256 differs from the record's")
        else:
            c6.note("dataHash.match", "the file's bytes are exactly the signed bytes")
    elif ev.match == "content":
        if asset.binding is None:
            c6.fail("content.legacy", "the record has no content digest (digest set 1)")
        elif img.content != asset.binding:
            c6.fail("content.mismatch", "what a viewer displays differs from the record")
        else:
            c6.note(
                "content.match",
                "what a viewer displays matches the record; only metadata differs",
            )
    if img.phash64 is None or img.phash256 is None:
        c7.skip("softBinding.notComputed")
        if ev.match == "perceptual":
            c6.fail("softBinding.mismatch", "perceptual match claimed without hashes")
        return
    d64 = _hamming(img.phash64, asset.phash64)
    d256 = _hamming(img.phash256, asset.phash256)
    report.distances = {"phash64": d64, "phash256": d256}
    dpdq = None
    if img.pdq is not None and asset.pdq is not None:
        dpdq = _hamming(img.pdq, asset.pdq)
        report.distances["pdq"] = dpdq
    # A featureless image's PDQ bits are rounding noise (docs/pdq.md): a recomputation on
    # another CPU may differ by dozens of bits, so they are never held against it.
    pdq_stable = img.pdq_quality is None or img.pdq_quality >= _PDQ_QUALITY
    shown = f"pHash-64 {d64}, pHash-256 {d256}" + (f", PDQ {dpdq}" if dpdq is not None else "")
    if ev.match == "perceptual":
        # PDQ (docs/pdq.md): the nearest of the image's 8 dihedral variants, all recomputed
        # from the image; never with a featureless image's hash (quality < 50).
        pdq_match, turned = False, ""
        if asset.pdq is not None and img.pdq_quality is not None:
            import provenance.pdq as pdq

            if img.pdq_quality < pdq.QUALITY_THRESHOLD:
                report.notes.append(
                    f"PDQ not used: the image's PDQ quality is {img.pdq_quality} (below "
                    f"{pdq.QUALITY_THRESHOLD}: too featureless to match on); only pHash "
                    "could match it"
                )
            elif img.pdq_variants:
                try:
                    variants = [bytes.fromhex(v) for v in img.pdq_variants]
                    dpdq, k = pdq.nearest_variant(variants, bytes.fromhex(asset.pdq))
                except ValueError:
                    dpdq, k = None, 0  # a malformed hash: PDQ cannot match
                if dpdq is not None:
                    report.distances["pdq"] = dpdq
                    shown = f"pHash-64 {d64}, pHash-256 {d256}, PDQ {dpdq}"
                    pdq_match = pdq.is_match(dpdq, d64)
                if pdq_match:
                    report.variant = pdq.DIHEDRAL_EDITS[k]
                    if k:
                        turned = f"; the image is the record's image {report.variant}"
        if not pdq_match and (d64 > ev.phash64_max or d256 > ev.phash256_max):
            c6.fail("softBinding.mismatch", f"perceptual distance too large ({shown} bits)")
        else:
            what = "bytes and displayed content differ"
            c6.note("softBinding.match", f"{what}; perceptual match only: {shown} bits{turned}")
        c7.note("softBinding.recomputed", f"distances computed from the image: {shown} bits")
        return
    if d64 or d256 or (pdq_stable and dpdq is not None and dpdq > PDQ_RECOMPUTE_TOLERANCE):
        c7.fail(
            "softBinding.mismatch",
            f"the record's perceptual hashes are not the image's ({shown} bits apart): the "
            "signer recorded hashes of another picture",
        )
    else:
        c7.note("softBinding.match", f"recomputed hashes equal the record's ({shown} bits)")


def _check_replays(replays: Sequence[Replay], parsed: dict[int, Record], check: Check) -> set[int]:
    """Check (8); returns the indices of the edits replayed exactly."""
    if not replays:
        check.skip("replay.notRequested", "no parent image given (verify --parent-image FILE)")
        return set()
    done: set[int] = set()
    for rp in replays:
        child, parent = parsed.get(rp.child), parsed.get(rp.parent)
        if (
            child is None
            or parent is None
            or child.statement.asset is None
            or parent.statement.asset is None
        ):
            check.fail(
                "replay.recordMissing",
                f"record {rp.child} or its parent is not in evidence",
                rp.child,
            )
            continue
        if record_id(parent.canonical()) not in child.statement.parents:
            check.fail(
                "replay.notParent", f"record {rp.parent} is not a parent of {rp.child}", rp.child
            )
            continue
        pa = parent.statement.asset
        if rp.parent_sha256 != pa.sha256 and (
            pa.binding is None or rp.parent_content != pa.binding
        ):
            check.fail(
                "replay.parentMismatch",
                f"the supplied parent image is not record {rp.parent}'s image",
                rp.child,
            )
            continue
        if rp.digest is None:
            continue  # declared, not replayable: nothing to compare
        ca = child.statement.asset
        expected = ca.binding if ca.digests >= 2 else ca.pixels
        if rp.digest != expected:
            check.fail(
                "replay.mismatch",
                rp.detail
                or f"re-applying record {rp.child}'s actions to the parent image does not "
                "reproduce it",
                rp.child,
            )
            continue
        done.add(rp.child)
    if check.status != "fail":
        if done:
            check.note("replay.match", f"{len(done)} edit(s) replayed exactly")
        else:
            check.skip("replay.notReplayable", "the edits are declared, not replayable")
    return done


def _check_pinned(
    pin: PinnedCheckpoint, cp: Checkpoint, log_key: NoteVerifier, check: Check
) -> None:
    try:
        old = open_checkpoint(pin.note, log_key)
    except CheckpointError as exc:
        check.fail("checkpoint.pinned.invalid", f"pinned checkpoint: {exc}")
        return
    if old.size > cp.size:
        check.fail(
            "checkpoint.inconsistent",
            f"the log shrank: pinned size {old.size} > current size {cp.size}",
        )
        return
    try:
        merkle.verify_consistency(old.size, cp.size, list(pin.proof), old.root, cp.root)
    except MerkleError as exc:
        check.fail(
            "checkpoint.inconsistent",
            f"current tree (size {cp.size}) does not extend the pinned one "
            f"(size {old.size}): {exc}",
        )


def _step(
    idx: int,
    rec: Record,
    keys: dict[str, KeyState],
    checks: Sequence[Check],
    replayed: set[int],
    judgements: dict[int, plausibility.Judgement],
) -> ChainStep:
    st = rec.statement
    problems = [f"{p.code}: {p.detail}" for c in checks for p in c.problems if p.index == idx]
    state = keys.get(rec.signer)
    how: StepCheck
    detail = ""
    if st.type == "capture":
        how = "capture"
    elif st.type in ("key", "revoke"):
        how = "key event"
    elif idx in replayed:
        how, detail = "replayed", "re-applied to the parent image: identical"
    else:
        judgement = judgements.get(idx)
        plausible = judgement is not None and judgement.outcome == "plausible"
        how = "declared, plausible" if plausible else "declared"
        detail = judgement.detail if judgement is not None else ""
    return ChainStep(
        index=idx,
        record_id=record_id(rec.canonical()),
        type=st.type,
        signer=rec.signer,
        signer_name=state.name if state is not None else None,
        time=st.time,
        actions=[a.to_json() for a in st.actions],
        parents=list(st.parents),
        check=how,
        check_detail=detail,
        ok=not problems,
        problems=problems,
        asset=st.asset.to_json() if st.asset is not None else None,
        claims=dict(st.claims),
    )


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
