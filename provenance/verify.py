"""The pure verifier: records + proofs + keys + image digests -> a graded Report.

No database access and no I/O: the ledger (or an offline bundle) gathers the evidence,
this module judges it. Modelled on python-tuf's trusted metadata set: the rules for
admitting a chain live here, the fetching lives elsewhere. Two forms of the one check:
:func:`check_chain` returns a :class:`Report`; :func:`verify_chain` raises
:class:`~provenance.errors.VerificationError` unless the verdict is ``verified``.

The numbered checks (each report lists all of them, in order):

(1) every record parses strictly and re-canonicalises to the same bytes;
(2) every signature verifies under a registered key that was not revoked at that record's
    log position (key and revoke records: under the log key; a revoke may also be signed by
    the key it revokes);
(3) every record is included, at its index, in the signed checkpoint's tree;
(4) the checkpoint's signature verifies under the trusted log key, and the checkpoint is
    consistent with every pinned earlier checkpoint;
(5) every parent exists in the evidence, precedes its child in the log, and there is no
    cycle;
(6) the image's digests against the matched record: file SHA-256, canonical pixels, or
    perceptual (reported with distances; a perceptual match is never ``verified``);
(7) the matched record's own perceptual hashes are recomputed from the image at hand and
    compared, never just trusted;
(8) replay: when the parent image of an edit made with ``provenance edit`` is supplied, its
    recorded actions, re-applied to it, reproduce the edit's canonical pixels (skipped when
    no parent image is given).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from provenance import merkle
from provenance.checkpoint import Checkpoint, NoteVerifier, open_checkpoint, parse_note
from provenance.errors import (
    CheckpointError,
    MerkleError,
    RecordError,
    VerificationError,
)
from provenance.records import (
    KEY_EVENTS_START,
    Record,
    fold_key_event,
    parse_key_events_line,
    parse_record,
    record_id,
)
from provenance.trust import KeyBook, KeyState

Verdict = Literal["verified", "tampered", "unknown", "similar"]
MatchKind = Literal["sha256", "pixels", "perceptual"]
CheckStatus = Literal["pass", "fail", "skip"]

EXIT_CODES: dict[str, int] = {"verified": 0, "tampered": 1, "unknown": 4, "similar": 5}

CHECK_NAMES: dict[int, str] = {
    1: "records parse and are canonical",
    2: "signatures verify under registered, unrevoked keys",
    3: "records are included in the signed checkpoint",
    4: "checkpoint signed by the log key and consistent with pinned checkpoints",
    5: "parents exist, precede their children, no cycles",
    6: "image digests match the record",
    7: "record's perceptual hashes recomputed from the image",
    8: "replayable edits reproduce the child's pixels from the parent image",
}


# --- evidence ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ProvenRecord:
    """A record's canonical bytes, its log index and its inclusion proof."""

    index: int
    body: bytes
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class ImageDigests:
    """What was computed from the image at hand (None: not computed)."""

    sha256: str
    pixels: str | None = None
    phash64: str | None = None
    phash256: str | None = None


@dataclass(frozen=True, slots=True)
class PinnedCheckpoint:
    """An earlier checkpoint an auditor kept, with a consistency proof to the current one."""

    note: str
    proof: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Replay:
    """An edit re-applied to a supplied parent image (computed outside, judged here).

    ``pixels`` is the canonical pixel digest of the replayed result, or None when the
    recorded actions are not replayable (declared edits, unknown parameters).
    """

    child: int
    parent: int
    parent_sha256: str
    parent_pixels: str
    pixels: str | None
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
    phash64_max: int = 10
    phash256_max: int = 40


# --- report --------------------------------------------------------------------------------
@dataclass(slots=True)
class Problem:
    code: str
    detail: str
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "index": self.index}


@dataclass(slots=True)
class Check:
    number: int
    name: str
    status: CheckStatus = "pass"
    code: str = "ok"
    detail: str = ""
    problems: list[Problem] = field(default_factory=list)

    def fail(self, code: str, detail: str, index: int | None = None) -> None:
        if self.status != "fail":
            self.status, self.code, self.detail = "fail", code, detail
        self.problems.append(Problem(code, detail, index))

    def to_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
            "problems": [p.to_json() for p in self.problems],
        }


@dataclass(slots=True)
class ChainStep:
    index: int
    record_id: str
    type: str
    signer: str
    signer_name: str | None
    time: str
    actions: list[dict[str, Any]]
    parents: list[str]
    ok: bool = True
    problems: list[str] = field(default_factory=list)
    asset: dict[str, Any] | None = None
    claims: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "record_id": self.record_id,
            "type": self.type,
            "signer": self.signer,
            "signer_name": self.signer_name,
            "time": self.time,
            "actions": self.actions,
            "parents": self.parents,
            "ok": self.ok,
            "problems": self.problems,
            "asset": self.asset,
            "claims": self.claims,
        }


@dataclass(slots=True)
class Report:
    verdict: Verdict
    checks: list[Check] = field(default_factory=list)
    chain: list[ChainStep] = field(default_factory=list)
    match: MatchKind | None = None
    record_id: str | None = None
    index: int | None = None
    phash64_distance: int | None = None
    phash256_distance: int | None = None
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    origin: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "match": self.match,
            "record_id": self.record_id,
            "index": self.index,
            "distances": {"phash64": self.phash64_distance, "phash256": self.phash256_distance},
            "checkpoint": {
                "origin": self.origin,
                "size": self.checkpoint_size,
                "root": self.checkpoint_root,
            },
            "checks": [c.to_json() for c in self.checks],
            "chain": [s.to_json() for s in self.chain],
            "notes": self.notes,
        }


def checkpoint_size_unverified(note: str) -> int:
    """The tree size a checkpoint note claims, before its signature is checked.

    Raises:
        CheckpointError: the note or its checkpoint body is malformed.
    """
    text, _ = parse_note(note)
    return Checkpoint.parse(text).size


def missing_record_report(index: int) -> Report:
    """The image's digest is indexed at ``index`` but no record is stored there."""
    checks = [Check(n, CHECK_NAMES[n], status="skip", code="record.missing") for n in CHECK_NAMES]
    checks[5].fail(
        "record.missing",
        f"the image is indexed at log index {index} but no record is stored there",
        index,
    )
    return Report(
        verdict="tampered",
        checks=checks,
        index=index,
        notes=["the database's index points at a record that is gone"],
    )


def empty_log_report(pinned: Sequence[str]) -> Report | None:
    """The log has no checkpoint at all, yet checkpoints of it were pinned: it was wiped."""
    sizes = [checkpoint_size_unverified(n) for n in pinned]
    if not any(sizes):
        return None
    check = Check(4, CHECK_NAMES[4])
    check.fail("checkpoint.inconsistent",
               f"the log is empty, but a pinned checkpoint has size {max(sizes)}")
    checks = [check if n == 4 else Check(n, CHECK_NAMES[n], status="skip", code="no.match")
              for n in CHECK_NAMES]
    return Report(verdict="tampered", checks=checks,
                  notes=["the log was emptied after a checkpoint of it was pinned"])


def check_pins_only(
    checkpoint_note: str, log_key: NoteVerifier, pinned: Sequence[PinnedCheckpoint]
) -> Report | None:
    """Check only (4) for an image nothing matched: ``tampered`` if a pin fails, else None."""
    check = Check(4, CHECK_NAMES[4])
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
    checks = [
        check if n == 4 else Check(n, CHECK_NAMES[n], status="skip", code="no.match")
        for n in CHECK_NAMES
    ]
    return Report(
        verdict="tampered",
        checks=checks,
        notes=[
            "no record matches this image, and the log is not consistent with "
            "the pinned checkpoint: records may have been erased"
        ],
    )


def unknown_report(note: str = "no record matches this image") -> Report:
    """The report for an image nothing in the log matches."""
    return Report(verdict="unknown", notes=[note])


# --- the checks ----------------------------------------------------------------------------
def check_chain(ev: Evidence) -> Report:
    """Run checks (1)-(7) over the evidence and grade the result. Never raises on bad data."""
    checks = {n: Check(n, CHECK_NAMES[n]) for n in CHECK_NAMES}
    report = Report(verdict="tampered", match=ev.match, index=ev.subject)

    # (4) the checkpoint first: everything else is judged against its tree.
    cp: Checkpoint | None = None
    try:
        cp = open_checkpoint(ev.checkpoint, ev.log_key)
    except CheckpointError as exc:
        checks[4].fail("checkpoint.signature.mismatch", str(exc))
    if cp is not None:
        report.checkpoint_size, report.checkpoint_root = cp.size, cp.root.hex()
        report.origin = cp.origin
        for pin in ev.pinned:
            _check_pinned(pin, cp, ev.log_key, checks[4])

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
        checks[3].status, checks[3].code = "skip", "checkpoint.unavailable"
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

    # (2) key state as the log records it, then every signature.
    book = KeyBook(ev.log_key.public)
    for idx in sorted(parsed):
        book.observe(idx, parsed[idx])
    for idx in sorted(parsed):
        _check_signature(idx, parsed[idx], book, checks[2])
    # The checkpoint commits to every key event below its size: the evidence must hold all
    # of them, or a hidden revocation would go unnoticed.
    if cp is not None:
        _check_key_events(cp, parsed, bodies, checks[2])

    # (5) the subject's ancestry: parents exist, precede, no cycles.
    chain_idx = _walk_chain(ev.subject, parsed, by_id, checks[5])

    # (6) + (7) the image against the matched record.
    subject = parsed.get(ev.subject)
    if subject is None:
        checks[6].fail("record.missing", f"the matched record {ev.subject} is not in evidence")
        checks[7].status, checks[7].code = "skip", "record.missing"
    else:
        report.record_id = record_id(bodies[ev.subject].body)
        _check_image(ev, subject, checks[6], checks[7], report)

    # (8) replays of recorded edits from supplied parent images.
    _check_replays(ev.replays, parsed, checks[8])

    report.checks = [checks[n] for n in sorted(checks)]
    report.chain = [
        _step(i, parsed[i], book.keys, report.checks) for i in chain_idx if i in parsed
    ]
    failed = any(c.status == "fail" for c in report.checks)
    if failed:
        report.verdict = "tampered"
    elif ev.match == "perceptual":
        report.verdict = "similar"
        report.notes.append(
            "perceptual match only: the image was re-encoded, resized or "
            "edited after it was logged; its history after that is unknown"
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
def _check_key_events(cp: Checkpoint, parsed: dict[int, Record],
                      bodies: dict[int, ProvenRecord], check: Check) -> None:
    try:
        committed = parse_key_events_line(cp.extensions)
    except RecordError as exc:
        check.fail("keyEvents.malformed", f"checkpoint: {exc}")
        return
    if committed is None:
        return  # a checkpoint without the commitment: nothing to hold the evidence to
    events = sorted(i for i, r in parsed.items()
                    if r.statement.type in ("key", "revoke") and i < cp.size)
    state = KEY_EVENTS_START
    for i in events:
        state = fold_key_event(state, i, record_id(bodies[i].body))
    if (len(events), state) != committed:
        check.fail(
            "keyEvents.incomplete",
            f"the checkpoint commits to {committed[0]} key registrations/revocations; the "
            f"evidence holds {len(events)} that do not match it (one is missing or altered)",
        )


_VERIFY_CODES: dict[str, str] = {
    "untrusted": "signingCredential.untrusted",
    "revoked": "signingCredential.revoked",
    "invalid": "claimSignature.mismatch",
}


def _check_signature(idx: int, rec: Record, book: KeyBook, check: Check) -> None:
    verdict = book.judge(idx, rec)
    if verdict is not None:
        failure, detail = verdict
        check.fail(_VERIFY_CODES[failure], f"record {idx}: {detail}", idx)


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


def _check_image(ev: Evidence, subject: Record, c6: Check, c7: Check, report: Report) -> None:
    asset = subject.statement.asset
    img = ev.image
    if img is None:
        c6.status, c6.code, c6.detail = "skip", "image.unavailable", "no image given"
        c7.status, c7.code = "skip", "image.unavailable"
        return
    if asset is None:
        c6.fail("record.noAsset", f"record {ev.subject} is a {subject.statement.type} record")
        c7.status, c7.code = "skip", "record.noAsset"
        return
    if ev.match == "sha256":
        if img.sha256 != asset.sha256:
            c6.fail("dataHash.mismatch", "file SHA-256 differs from the record's")
        else:
            c6.code, c6.detail = "dataHash.match", "file bytes match exactly"
    elif ev.match == "pixels":
        if img.pixels is None or img.pixels != asset.pixels:
            c6.fail("dataHash.mismatch", "canonical pixels differ from the record's")
        else:
            c6.code, c6.detail = "pixels.match", "decoded pixels match (metadata differs)"
    if img.phash64 is None or img.phash256 is None:
        c7.status, c7.code, c7.detail = "skip", "softBinding.notComputed", ""
        if ev.match == "perceptual":
            c6.fail("softBinding.mismatch", "perceptual match claimed without hashes")
        return
    d64 = _hamming(img.phash64, asset.phash64)
    d256 = _hamming(img.phash256, asset.phash256)
    report.phash64_distance, report.phash256_distance = d64, d256
    if ev.match == "perceptual":
        if d64 > ev.phash64_max or d256 > ev.phash256_max:
            c6.fail(
                "softBinding.mismatch",
                f"perceptual distance too large (pHash-64 {d64}, pHash-256 {d256})",
            )
        else:
            c6.code = "softBinding.match"
            c6.detail = f"perceptual match: pHash-64 {d64} bits, pHash-256 {d256} bits"
        c7.code, c7.detail = "softBinding.recomputed", "distances computed from the image"
    elif ev.match == "pixels" and (d64 > ev.phash64_max or d256 > ev.phash256_max):
        # Same pixels in another container: the hashes may differ by the JPEG draft decode
        # (DCT-domain scaling) but never by more than a re-encode does.
        c7.fail(
            "softBinding.mismatch",
            f"the record's perceptual hashes are far from the image's (pHash-64 off by "
            f"{d64} bits, pHash-256 by {d256})",
        )
    elif ev.match == "pixels":
        c7.code = "softBinding.match"
        c7.detail = f"recomputed hashes within {d64}/{d256} bits of the record's"
    elif d64 != 0 or d256 != 0:
        c7.fail(
            "softBinding.mismatch",
            f"the record's perceptual hashes are not the image's (pHash-64 off by {d64} "
            f"bits, pHash-256 by {d256})",
        )
    else:
        c7.code, c7.detail = "softBinding.match", "recomputed hashes equal the record's"


def _check_replays(replays: Sequence[Replay], parsed: dict[int, Record], check: Check) -> None:
    if not replays:
        check.status, check.code = "skip", "replay.notRequested"
        check.detail = "no parent image given (verify --parent-image FILE)"
        return
    done = 0
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
        if rp.parent_sha256 != pa.sha256 and rp.parent_pixels != pa.pixels:
            check.fail(
                "replay.parentMismatch",
                f"the supplied parent image is not record {rp.parent}'s image",
                rp.child,
            )
            continue
        if rp.pixels is None:
            continue  # declared, not replayable: nothing to compare
        if rp.pixels != child.statement.asset.pixels:
            check.fail(
                "replay.mismatch",
                rp.detail or
                f"re-applying record {rp.child}'s actions to the parent image does not "
                "reproduce its pixels",
                rp.child,
            )
            continue
        done += 1
    if check.status != "fail":
        if done:
            check.code = "replay.match"
            check.detail = f"{done} edit(s) replayed exactly"
        else:
            check.status, check.code = "skip", "replay.notReplayable"
            check.detail = "the edits are declared, not replayable"


def _check_pinned(
    pin: PinnedCheckpoint, cp: Checkpoint, log_key: NoteVerifier, check: Check
) -> None:
    try:
        old = open_checkpoint(pin.note, log_key)
    except CheckpointError as exc:
        check.fail("checkpoint.pinned.invalid", f"pinned checkpoint: {exc}")
        return
    if old.origin != cp.origin:
        check.fail(
            "checkpoint.inconsistent",
            f"pinned checkpoint is for log {old.origin!r}, not {cp.origin!r}",
        )
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


def _step(idx: int, rec: Record, keys: dict[str, KeyState], checks: Sequence[Check]) -> ChainStep:
    st = rec.statement
    problems = [f"{p.code}: {p.detail}" for c in checks for p in c.problems if p.index == idx]
    state = keys.get(rec.signer)
    return ChainStep(
        index=idx,
        record_id=record_id(rec.canonical()),
        type=st.type,
        signer=rec.signer,
        signer_name=state.name if state is not None else None,
        time=st.time,
        actions=[a.to_json() for a in st.actions],
        parents=list(st.parents),
        ok=not problems,
        problems=problems,
        asset=st.asset.to_json() if st.asset is not None else None,
        claims=dict(st.claims),
    )


def _hamming(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()
