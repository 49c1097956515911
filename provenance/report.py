"""The verification report: verdicts, numbered checks, reason codes, the chain's steps.

One vocabulary for every judgement the project makes: the verifier (:mod:`provenance.verify`)
and the whole-log audit (:mod:`provenance.audit`) report problems as :class:`Problem` with a
reason code from :data:`REASONS` (C2PA's names where they fit: ``dataHash.mismatch``,
``claimSignature.mismatch``, ``signingCredential.untrusted``). Pure data: no I/O, no
rendering (the CLI and the web page render it).

Verdicts and exit codes (DESIGN section 8): ``verified`` 0, ``tampered`` 1, ``unknown`` 4,
``similar`` 5. A ``verified`` report also carries an *assurance*: ``complete`` when every
edit in the chain was replayed from its parent image, ``declared`` when at least one edit
rests on its signer's word (checked for plausibility from the records where a rule
applies). A script tells them apart from the JSON alone (``"assurance"``, and per step
``"check"``); ``verify --require-replayed`` turns ``declared`` into exit 7.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final, Literal

Verdict = Literal["verified", "tampered", "unknown", "similar"]
MatchKind = Literal["sha256", "content", "perceptual"]
CheckStatus = Literal["pass", "fail", "skip"]
StepCheck = Literal["capture", "replayed", "declared, plausible", "declared", "key event"]
Assurance = Literal["complete", "declared"]

EXIT_CODES: Final[dict[str, int]] = {"verified": 0, "tampered": 1, "unknown": 4, "similar": 5}
EXIT_DECLARED: Final = 7
"""``verify --require-replayed``: verified, but some edit was only declared."""

CHECK_NAMES: Final[dict[int, str]] = {
    1: "records parse and are canonical",
    2: "signatures verify under registered, unrevoked keys",
    3: "records are included in the signed checkpoint",
    4: "checkpoint signed by the log key and consistent with pinned checkpoints",
    5: "parents exist and precede their children; declared edits are plausible",
    6: "image digests match the record",
    7: "record's perceptual hashes recomputed from the image",
    8: "replayable edits reproduce the child from the parent image",
}

REASONS: Final[dict[str, str]] = {
    # (1) records
    "record.malformed": "a record does not parse strictly or is not canonical",
    "record.conflict": "two different records claim one log index",
    "record.missing": "a record the index or chain points at is not stored",
    "record.idMismatch": "a stored record id is not the hash of its body",
    # (2) signatures and keys
    "claimSignature.mismatch": "a signature does not verify",
    "signingCredential.untrusted": "the signer was not registered before the record",
    "signingCredential.revoked": "the signer was revoked before the record",
    "signingCredential.role": "a key signed something its role does not allow",
    "keyEvents.incomplete": "the key registrations/revocations do not match the checkpoint",
    "keyEvents.malformed": "the checkpoint's key-event line is malformed",
    # (3), (4) log
    "log.inclusion.mismatch": "a record is not in the signed tree at its index",
    "checkpoint.signature.mismatch": "the checkpoint is not signed by the log key",
    "checkpoint.inconsistent": "the log does not extend a pinned or earlier checkpoint",
    "checkpoint.pinned.invalid": "a pinned checkpoint does not verify",
    # (5) chain
    "ingredient.missing": "a parent is not in the log",
    "ingredient.order": "a parent does not precede its child",
    "ingredient.cycle": "a record is its own ancestor",
    "ingredient.notAsset": "a parent is a key record, not an image",
    "edit.implausible": "a declared edit cannot have produced the child from its parent",
    # (6), (7) image
    "dataHash.match": "the file's bytes are the signed bytes",
    "dataHash.mismatch": "the file's bytes differ from the record's",
    "content.match": "what a viewer displays matches; only metadata differs",
    "content.mismatch": "what a viewer displays differs from the record",
    "content.legacy": "the record predates display digests: only a perceptual match is possible",
    "softBinding.match": "perceptual match: re-encoded, resized, cropped, turned, flipped or "
    "edited after logging",
    "softBinding.mismatch": "the record's perceptual hashes are not the image's",
    "softBinding.recomputed": "perceptual distances computed from the image",
    "softBinding.notComputed": "the image's perceptual hashes were not computed",
    "record.noAsset": "the matched record is a key record",
    "image.unavailable": "no image given",
    # (8) replay
    "replay.match": "the recorded edit, re-applied to the parent, gives the child exactly",
    "replay.mismatch": "the recorded edit, re-applied to the parent, differs from the child",
    "replay.parentMismatch": "the supplied parent image is not the parent record's image",
    "replay.notParent": "the supplied parent is not a parent of the edit",
    "replay.recordMissing": "the edit or its parent is not in evidence",
    "replay.notReplayable": "the edits are declared, not replayable",
    "replay.notRequested": "no parent image given (verify --parent-image FILE)",
    # audit only
    "leaf.mismatch": "a stored leaf hash is not the record's",
    "node.missing": "a stored tree node is missing",
    "node.mismatch": "a stored tree node differs from the recomputed one",
    "nodes.count": "the node table has rows it should not",
    "index.mismatch": "an index row differs from the signed record",
    "index.extra": "index rows point at records that are not in the log",
    "checkpoint.missing": "the newest checkpoint does not cover the stored records",
    "checkpoint.rowMismatch": "a checkpoint row disagrees with its signed note",
    "checkpoint.rootMismatch": "a checkpoint does not match the recomputed root",
}


@dataclass(slots=True)
class Problem:
    """One thing found wrong: a reason code, a detail, and the log index it concerns."""

    code: str
    detail: str
    index: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "index": self.index}


@dataclass(slots=True)
class Check:
    """One numbered check of the verifier."""

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

    def skip(self, code: str, detail: str = "") -> None:
        self.status, self.code, self.detail = "skip", code, detail

    def note(self, code: str, detail: str) -> None:
        """Say what passed (the check stays ``pass``)."""
        if self.status == "pass":
            self.code, self.detail = code, detail

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
    """One record of the chain back to capture, as the report shows it."""

    index: int
    record_id: str
    type: str
    signer: str
    signer_name: str | None
    time: str
    actions: list[dict[str, Any]]
    parents: list[str]
    check: StepCheck = "declared"
    check_detail: str = ""
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
            "time_is_claimed": True,
            "actions": self.actions,
            "parents": self.parents,
            "check": self.check,
            "check_detail": self.check_detail,
            "ok": self.ok,
            "problems": self.problems,
            "asset": self.asset,
            "claims": self.claims,
        }


@dataclass(slots=True)
class Report:
    """A graded verdict with every check and the chain back to capture."""

    verdict: Verdict
    checks: list[Check] = field(default_factory=list)
    chain: list[ChainStep] = field(default_factory=list)
    match: MatchKind | None = None
    record_id: str | None = None
    index: int | None = None
    distances: dict[str, int] = field(default_factory=dict)
    variant: str | None = None  # PDQ matches: how the image is turned or flipped
    checkpoint_size: int | None = None
    checkpoint_root: str | None = None
    checkpoint_note: str | None = None
    origin: str | None = None
    witnesses: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status == "fail"]

    @property
    def declared_steps(self) -> list[ChainStep]:
        return [s for s in self.chain if s.type == "edit" and s.check != "replayed"]

    @property
    def assurance(self) -> Assurance | None:
        if self.verdict not in ("verified", "similar"):
            return None
        return "declared" if self.declared_steps else "complete"

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "assurance": self.assurance,
            "declared_steps": len(self.declared_steps),
            "match": self.match,
            "record_id": self.record_id,
            "index": self.index,
            "distances": self.distances,
            "variant": self.variant,
            "checkpoint": {
                "origin": self.origin,
                "size": self.checkpoint_size,
                "root": self.checkpoint_root,
                "note": self.checkpoint_note,
                "witnesses": self.witnesses,
            },
            "checks": [c.to_json() for c in self.checks],
            "chain": [s.to_json() for s in self.chain],
            "notes": self.notes,
        }


def fresh_checks() -> dict[int, Check]:
    """Every numbered check, passing until told otherwise."""
    return {n: Check(n, CHECK_NAMES[n]) for n in CHECK_NAMES}


def unknown_report(note: str = "no record matches this image") -> Report:
    """The report for an image nothing in the evidence matches."""
    return Report(verdict="unknown", notes=[note])
