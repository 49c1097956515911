"""Unit tests of the pure verifier (provenance.verify) on hand-built evidence.

Every record, key and checkpoint here is deterministic: fixed Ed25519 seeds and a counting
clock (:class:`tamper_helpers.ToyLog`), with the Merkle tree computed from the RFC 9162
definitions in the helper, independently of provenance.merkle. Each numbered check has its
pass path (the clean chain) and each of its fail paths, asserted by check number and
reason code; most fail paths are built so that *only* that check fails.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tamper_helpers import ToyLog, subproof, with_bits_flipped

from provenance import plausibility
from provenance.edits import Crop, Resize
from provenance.errors import CheckpointError, TrustAnchorError, VerificationError
from provenance.keys import SigningKey
from provenance.records import Action, Record, Statement, parse_record, sign_statement
from provenance.report import CHECK_NAMES, EXIT_CODES, Check, Report, unknown_report
from provenance.verify import (
    Evidence,
    ImageDigests,
    PinnedCheckpoint,
    ProvenRecord,
    Replay,
    _walk_chain,
    check_chain,
    check_pins_only,
    checkpoint_size_unverified,
    verify_chain,
)

ALICE_KEY, DESK_KEY, CAPTURE, EDIT = 0, 1, 2, 3
FAR = "f0" * 32  # a pHash-256 / PDQ 128 bits from the toy assets' "3c" * 32 / "5a" * 32


@pytest.fixture
def log() -> ToyLog:
    """0 key alice, 1 key desk (both by the log key), 2 capture by alice, 3 edit by desk."""
    t = ToyLog()
    t.register_signers()
    cap = t.capture("img1")
    t.append(cap)
    t.append(t.edit("img2", [cap]))
    return t


def rec(log: ToyLog, idx: int) -> Record:
    return parse_record(log.bodies[idx])


def failed(report: Report) -> dict[int, str]:
    return {c.number: c.code for c in report.failures}


def problems(report: Report, number: int) -> list[tuple[int | None, str]]:
    return [(p.index, p.code) for p in report.checks[number - 1].problems]


def judge(log: ToyLog, subject: int = EDIT, **kw: Any) -> Report:
    if "image" not in kw and kw.get("match", "sha256") is not None:
        kw["image"] = log.image_of(rec(log, subject))
    return check_chain(log.evidence(subject, **kw))


def bad_sig(record: Record) -> Record:
    return Record(record.statement, record.signer, bytes([record.sig[0] ^ 1]) + record.sig[1:])


# --- the clean chain: every check passes ------------------------------------------------------
def test_clean_chain_verifies_with_every_check_passing(log: ToyLog) -> None:
    report = judge(log)
    assert report.verdict == "verified" and report.exit_code == 0
    assert [(c.number, c.status) for c in report.checks] == [
        *[(n, "pass") for n in range(1, 8)],
        (8, "skip"),
    ]
    assert report.checks[7].code == "replay.notRequested"
    assert [c.name for c in report.checks] == [CHECK_NAMES[n] for n in range(1, 9)]
    assert report.checks[5].code == "dataHash.match"
    assert report.checks[6].code == "softBinding.match"
    assert report.failures == []
    assert (report.match, report.index, report.record_id) == (
        "sha256",
        EDIT,
        rec(log, EDIT).record_id,
    )
    assert (report.checkpoint_size, report.origin) == (4, log.origin)
    assert report.distances == {"phash64": 0, "phash256": 0, "pdq": 0}
    assert [(s.index, s.type, s.signer_name, s.signer, s.check, s.ok) for s in report.chain] == [
        (EDIT, "edit", "desk", log.desk.key_id, "declared", True),
        (CAPTURE, "capture", "alice", log.alice.key_id, "capture", True),
    ]
    # The toy edit is a crop without exact parameters: nothing in the records checks it.
    assert report.assurance == "declared" and report.declared_steps == [report.chain[0]]
    assert report.chain[0].parents == [rec(log, CAPTURE).record_id]
    assert verify_chain(log.evidence(EDIT, image=log.image_of(rec(log, EDIT)))).verdict == (
        "verified"
    )


def test_report_to_json(log: ToyLog) -> None:
    obj = judge(log).to_json()
    assert obj["verdict"] == "verified" and obj["exit_code"] == 0
    assert [c["number"] for c in obj["checks"]] == list(range(1, 9))
    assert obj["checkpoint"] == {
        "origin": log.origin,
        "size": 4,
        "root": judge(log).checkpoint_root,
        "note": log.checkpoint(),
        "witnesses": [],
    }
    assert obj["distances"] == {"phash64": 0, "phash256": 0, "pdq": 0}
    assert (obj["assurance"], obj["declared_steps"]) == ("declared", 1)
    assert [(s["index"], s["check"], s["time_is_claimed"]) for s in obj["chain"]] == [
        (EDIT, "declared", True),
        (CAPTURE, "capture", True),
    ]


def test_exit_codes_and_unknown_report() -> None:
    assert EXIT_CODES == {"verified": 0, "tampered": 1, "unknown": 4, "similar": 5}
    rep = unknown_report()
    assert (rep.verdict, rep.exit_code, rep.checks) == ("unknown", 4, [])


def test_checkpoint_size_unverified(log: ToyLog) -> None:
    assert checkpoint_size_unverified(log.checkpoint(3)) == 3
    with pytest.raises(CheckpointError):
        checkpoint_size_unverified("not a note")


# --- verify_chain: the raising twin -----------------------------------------------------------
def test_verify_chain_raises_for_tampered(log: ToyLog) -> None:
    ev = log.evidence(EDIT, image=log.image_of(rec(log, EDIT), sha256="0" * 64))
    with pytest.raises(VerificationError) as info:
        verify_chain(ev)
    assert info.value.exit_code == 1
    assert "tampered" in str(info.value) and "dataHash.mismatch" in str(info.value)


def test_verify_chain_raises_for_similar(log: ToyLog) -> None:
    ev = log.evidence(EDIT, match="perceptual", image=log.image_of(rec(log, EDIT)))
    assert check_chain(ev).verdict == "similar"
    with pytest.raises(VerificationError, match="similar") as info:
        verify_chain(ev)
    assert info.value.exit_code == 1


# --- (1) parsing ---------------------------------------------------------------------------
def test_check1_non_canonical_record_is_malformed(log: ToyLog) -> None:
    """A stored body with one extra space: included in the tree, but not canonical."""
    body = log.bodies[CAPTURE].replace(b'"sig":', b'"sig": ', 1)
    idx = log.append(body)
    report = judge(log, indices=[ALICE_KEY, DESK_KEY, CAPTURE, EDIT, idx])
    assert failed(report) == {1: "record.malformed"}
    assert problems(report, 1)[0][0] == idx


def test_check1_two_records_claiming_one_index(log: ToyLog) -> None:
    records = [log.proven(i) for i in range(4)]
    records.append(ProvenRecord(CAPTURE, log.bodies[DESK_KEY], records[CAPTURE].proof))
    report = judge(log, records=records)
    assert failed(report) == {1: "record.conflict"}


def test_check1_malformed_subject(log: ToyLog) -> None:
    idx = log.append(b'{"not": "a record"}')
    report = check_chain(log.evidence(idx, image=ImageDigests("0" * 64)))
    assert failed(report) == {1: "record.malformed", 6: "record.missing"}
    assert report.checks[6].status == "skip"


# --- (2) signatures and key state -------------------------------------------------------------
def test_check2_bad_signature(log: ToyLog) -> None:
    idx = log.append(bad_sig(log.capture("img3")))
    report = judge(log, subject=idx)
    assert failed(report) == {2: "claimSignature.mismatch"}
    assert problems(report, 2) == [(idx, "claimSignature.mismatch")]


def test_check2_unregistered_signer(log: ToyLog) -> None:
    mallory = SigningKey.from_seed(b"M" * 32)
    idx = log.append(log.capture("img3", mallory))
    report = judge(log, subject=idx)
    assert failed(report) == {2: "signingCredential.untrusted"}
    assert report.chain[0].signer_name is None and not report.chain[0].ok


def test_check2_signer_registered_after_the_record() -> None:
    log = ToyLog()
    carol = SigningKey.from_seed(b"C" * 32)
    cap = log.append(log.capture("img", carol))
    log.append(log.key_record(carol, "carol"))
    assert failed(judge(log, subject=cap)) == {2: "signingCredential.untrusted"}


def test_check2_revoked_before_the_record_fails(log: ToyLog) -> None:
    log.append(log.revoke_record(log.alice))
    idx = log.append(log.capture("img3"))
    report = judge(log, subject=idx)
    assert failed(report) == {2: "signingCredential.revoked"}
    assert "revoked at record 4" in report.checks[1].detail


def test_check2_revoked_after_the_record_passes(log: ToyLog) -> None:
    """The capture (2) predates alice's revocation (4): by log position it stays valid."""
    log.append(log.revoke_record(log.alice))
    assert judge(log).verdict == "verified"
    assert judge(log, subject=CAPTURE).verdict == "verified"


def test_check2_self_revocation(log: ToyLog) -> None:
    rev = log.append(log.revoke_record(log.alice, signer=log.alice))
    after = log.append(log.capture("img3"))
    # the revoke record itself verifies (signed by the key it revokes)
    assert judge(log, indices=[ALICE_KEY, DESK_KEY, CAPTURE, EDIT, rev]).verdict == "verified"
    report = judge(log, subject=after)
    assert failed(report) == {2: "signingCredential.revoked"}
    assert problems(report, 2) == [(after, "signingCredential.revoked")]
    assert rev < after


def test_check2_a_key_cannot_revoke_another_key(log: ToyLog) -> None:
    """desk signs a revocation of alice: a key acting outside its role (only the log key
    revokes other keys), and alice is not revoked."""
    rev = log.append(log.revoke_record(log.alice, signer=log.desk))
    after = log.append(log.capture("img3"))
    report = judge(log, subject=after, indices=[ALICE_KEY, DESK_KEY, rev, after])
    assert failed(report) == {2: "signingCredential.role"}
    assert problems(report, 2) == [(rev, "signingCredential.role")]


def test_check2_forged_log_key_revocation_is_not_silently_accepted(log: ToyLog) -> None:
    rev = log.append(bad_sig(log.revoke_record(log.desk)))
    report = judge(log, indices=[ALICE_KEY, DESK_KEY, CAPTURE, EDIT, rev])
    assert problems(report, 2) == [(rev, "claimSignature.mismatch")]
    assert report.verdict == "tampered"


def test_check2_log_key_signing_a_capture_breaks_its_role(log: ToyLog) -> None:
    """The log key signs only key and revoke records (it used to read as untrusted)."""
    idx = log.append(log.capture("img3", log.log_key))
    report = judge(log, subject=idx)
    assert failed(report) == {2: "signingCredential.role"}
    assert "only key and revoke records" in report.checks[1].detail


def test_check2_log_key_registered_as_a_signer(log: ToyLog) -> None:
    """A key record registering the log key itself (Ledger.register_key and Store.append
    refuse to write one; forced into the evidence here) is a role failure, and so is every
    image the log key then signs."""
    reg = log.append(log.key_record(log.log_key, "operator"))
    idx = log.append(log.capture("img3", log.log_key))
    report = judge(log, subject=idx, indices=[ALICE_KEY, DESK_KEY, reg, idx])
    assert failed(report) == {2: "signingCredential.role"}
    assert problems(report, 2) == [(reg, "signingCredential.role"), (idx, "signingCredential.role")]
    assert "cannot be registered" in report.checks[1].problems[0].detail
    assert report.chain[0].signer_name is None and not report.chain[0].ok


def test_check2_only_the_log_key_registers_keys(log: ToyLog) -> None:
    """alice (a registered signer) signs a key record for mallory: a role failure, and
    mallory stays unregistered."""
    mallory = SigningKey.from_seed(b"M" * 32)
    reg = log.append(log.key_record(mallory, "mallory", signer=log.alice))
    idx = log.append(log.capture("img3", mallory))
    report = judge(log, subject=idx, indices=[ALICE_KEY, reg, idx])
    assert problems(report, 2) == [
        (reg, "signingCredential.role"),
        (idx, "signingCredential.untrusted"),
    ]
    # A key record signed by a key that is not registered at all is merely untrusted.
    log2 = ToyLog()
    reg2 = log2.append(log2.key_record(mallory, "mallory", signer=log2.alice))
    idx2 = log2.append(log2.capture("img3", mallory))
    assert problems(judge(log2, subject=idx2), 2) == [
        (reg2, "signingCredential.untrusted"),
        (idx2, "signingCredential.untrusted"),
    ]


def test_check2_bad_log_key_signature_on_a_key_record() -> None:
    log = ToyLog()
    log.append(bad_sig(log.key_record(log.alice, "alice")))
    idx = log.append(log.capture("img"))
    report = judge(log, subject=idx)
    assert problems(report, 2) == [(0, "claimSignature.mismatch")]


def test_check2_key_record_whose_public_key_is_not_its_id() -> None:
    log = ToyLog()
    st = Statement(
        type="key",
        time="2026-01-01T00:00:00Z",
        key=replace(
            log.key_record(log.alice, "alice").statement.key, public=log.desk.public.openssh()
        ),
    )
    log.append(sign_statement(st, log.log_key))
    idx = log.append(log.capture("img"))
    report = judge(log, subject=idx)
    assert failed(report) == {2: "signingCredential.untrusted"}


# --- (3) inclusion -------------------------------------------------------------------------
def test_check3_altered_proof_hash(log: ToyLog) -> None:
    records = [log.proven(i) for i in range(4)]
    p = records[CAPTURE].proof
    records[CAPTURE] = replace(records[CAPTURE], proof=(bytes([p[0][0] ^ 1]) + p[0][1:], *p[1:]))
    report = judge(log, records=records)
    assert failed(report) == {3: "log.inclusion.mismatch"}
    assert problems(report, 3) == [(CAPTURE, "log.inclusion.mismatch")]
    assert [s.ok for s in report.chain] == [True, False]


def test_check3_record_at_the_wrong_index(log: ToyLog) -> None:
    records = [log.proven(i) for i in range(4)]
    records[CAPTURE] = ProvenRecord(1, log.bodies[CAPTURE], records[CAPTURE].proof)
    records[DESK_KEY] = ProvenRecord(2, log.bodies[DESK_KEY], records[DESK_KEY].proof)
    report = judge(log, records=records)
    assert failed(report) == {3: "log.inclusion.mismatch"}
    assert {i for i, _ in problems(report, 3)} == {1, 2}


@pytest.mark.parametrize("proof", [(), (b"\0" * 32,) * 5, (b"\0" * 31, b"\0" * 32)])
def test_check3_malformed_proof(log: ToyLog, proof: tuple[bytes, ...]) -> None:
    records = [log.proven(i) for i in range(4)]
    records[EDIT] = replace(records[EDIT], proof=proof)
    assert failed(judge(log, records=records)) == {3: "log.inclusion.mismatch"}


def test_check3_record_beyond_the_checkpoint(log: ToyLog) -> None:
    report = judge(
        log,
        checkpoint=log.checkpoint(3),
        records=[log.proven(i, 3) for i in range(3)] + [log.proven(EDIT)],
    )
    assert problems(report, 3) == [(EDIT, "log.inclusion.mismatch")]


# --- (4) checkpoint ------------------------------------------------------------------------
def test_check4_checkpoint_signed_by_another_key(log: ToyLog) -> None:
    report = judge(log, checkpoint=log.checkpoint(key=SigningKey.from_seed(b"X" * 32)))
    assert failed(report) == {4: "checkpoint.signature.mismatch"}
    assert (report.checks[2].status, report.checks[2].code) == ("skip", "checkpoint.unavailable")
    assert report.checkpoint_size is None


def test_check4_checkpoint_for_another_origin(log: ToyLog) -> None:
    report = judge(log, checkpoint=log.checkpoint(origin="other.example/log"))
    assert failed(report) == {4: "checkpoint.signature.mismatch"}


def test_check4_garbage_checkpoint(log: ToyLog) -> None:
    assert failed(judge(log, checkpoint="garbage")) == {4: "checkpoint.signature.mismatch"}


@pytest.mark.parametrize("size", [1, 2, 3, 4])
def test_check4_pinned_consistent_checkpoint_passes(log: ToyLog, size: int) -> None:
    assert judge(log, pinned=(log.pinned(size),)).verdict == "verified"


def test_check4_pinned_with_a_wrong_proof(log: ToyLog) -> None:
    pin = log.pinned(3)
    bad = PinnedCheckpoint(pin.note, (bytes(32), *pin.proof[1:]))
    assert failed(judge(log, pinned=(bad,))) == {4: "checkpoint.inconsistent"}
    assert failed(judge(log, pinned=(PinnedCheckpoint(pin.note, ()),))) == {
        4: "checkpoint.inconsistent"
    }


def test_check4_the_log_shrank(log: ToyLog) -> None:
    pin = log.pinned(4)
    report = judge(
        log,
        checkpoint=log.checkpoint(3),
        pinned=(pin,),
        records=[log.proven(i, 3) for i in range(3)],
        subject=CAPTURE,
    )
    assert failed(report) == {4: "checkpoint.inconsistent"}
    assert "shrank" in report.checks[3].detail


def test_check4_pinned_checkpoint_of_a_forked_history(log: ToyLog) -> None:
    """The same log key signed a different tree at size 3 (a split view)."""
    fork = ToyLog()
    fork.register_signers()
    fork.append(fork.capture("a different capture"))
    pin = PinnedCheckpoint(fork.checkpoint(3), tuple(subproof(3, log.bodies, True)))
    assert failed(judge(log, pinned=(pin,))) == {4: "checkpoint.inconsistent"}


@pytest.mark.parametrize("which", ["another key", "another origin"])
def test_check4_pinned_checkpoint_of_another_log_is_a_trust_anchor_error(
    log: ToyLog, which: str
) -> None:
    """A pin of another log (another key, or another origin) is a usage error naming both
    logs (exit 3), not evidence that this log was tampered with (it used to be tampered)."""
    if which == "another key":
        note = log.checkpoint(3, key=SigningKey.from_seed(b"X" * 32))
    else:
        note = log.checkpoint(3, origin="other.example/log")
    pin = PinnedCheckpoint(note, tuple(subproof(3, log.bodies, True)))
    with pytest.raises(TrustAnchorError) as info:
        judge(log, pinned=(log.pinned(2), pin))
    assert info.value.exit_code == 3
    assert log.origin in str(info.value) or log.origin in (info.value.hint or "")
    if which == "another origin":
        assert "other.example/log" in str(info.value)
    with pytest.raises(TrustAnchorError):
        check_pins_only(log.checkpoint(), log.verifier, (pin,))


def test_check4_pinned_checkpoint_of_this_log_with_a_corrupted_signature(log: ToyLog) -> None:
    """The pin names this log and its key, but its signature does not verify: that is
    evidence (tampered), not a wrong anchor."""
    pin = log.pinned(3)
    head, sig = pin.note.rstrip("\n").rsplit(" ", 1)
    forged = head + " " + sig[:10] + ("B" if sig[10] != "B" else "C") + sig[11:] + "\n"
    bad = PinnedCheckpoint(forged, pin.proof)
    assert failed(judge(log, pinned=(bad,))) == {4: "checkpoint.pinned.invalid"}
    report = check_pins_only(log.checkpoint(), log.verifier, (bad,))
    assert report is not None and failed(report) == {4: "checkpoint.pinned.invalid"}
    assert check_pins_only(log.checkpoint(), log.verifier, (pin,)) is None


def test_check4_malformed_pin_is_invalid(log: ToyLog) -> None:
    pin = PinnedCheckpoint("not a checkpoint", ())
    assert failed(judge(log, pinned=(pin,))) == {4: "checkpoint.pinned.invalid"}


# --- (5) ancestry ---------------------------------------------------------------------------
def test_check5_parent_missing_from_evidence(log: ToyLog) -> None:
    report = judge(log, indices=[ALICE_KEY, DESK_KEY, EDIT])
    assert failed(report) == {5: "ingredient.missing"}
    assert problems(report, 5) == [(EDIT, "ingredient.missing")]


def test_check5_parent_after_its_child() -> None:
    log = ToyLog()
    log.register_signers()
    cap = log.capture("img1")
    child = log.append(log.edit("img2", [cap]))
    parent = log.append(cap)
    report = judge(log, subject=child)
    assert failed(report) == {5: "ingredient.order"}
    assert [s.index for s in report.chain] == [child, parent]


def test_check5_parents_are_walked_in_statement_order() -> None:
    log = ToyLog()
    log.register_signers()
    caps = [log.capture(f"img{i}") for i in range(3)]
    for c in caps:
        log.append(c)
    a = log.edit("mix-a", [caps[2], caps[0]])
    ia = log.append(a)
    ib = log.append(log.edit("mix-b", [a, caps[1]]))
    report = judge(log, subject=ib)
    assert report.verdict == "verified"
    assert [s.index for s in report.chain] == [ib, ia, 4, 2, 3]


def test_check5_parent_is_a_key_record(log: ToyLog) -> None:
    """An edit naming alice's key record as its parent: a chain with no image at its root
    (Store.append refuses to write one; forced into the evidence here)."""
    idx = log.append(log.edit("img3", [rec(log, ALICE_KEY)]))
    report = judge(log, subject=idx)
    assert failed(report) == {5: "ingredient.notAsset"}
    assert problems(report, 5) == [(idx, "ingredient.notAsset")]
    assert [s.index for s in report.chain] == [idx]
    # One genuine parent and one key record: still refused.
    idx2 = log.append(log.edit("img4", [rec(log, CAPTURE), rec(log, DESK_KEY)]))
    report = judge(log, subject=idx2)
    assert failed(report) == {5: "ingredient.notAsset"}
    assert [s.index for s in report.chain] == [idx2, CAPTURE]


def test_check5_cycle() -> None:
    """Record ids are hashes, so a real cycle needs a SHA-256 fixpoint; the walk still
    refuses one if the id -> index map ever produced it."""
    log = ToyLog()
    a = log.edit("a", ["sha256:" + "a" * 64])
    b = log.edit("b", ["sha256:" + "b" * 64])
    check = Check(5, CHECK_NAMES[5])
    order = _walk_chain(1, {1: a, 2: b}, {"sha256:" + "a" * 64: 2, "sha256:" + "b" * 64: 1}, check)
    assert order == [1, 2]
    assert check.status == "fail"
    assert [(p.index, p.code) for p in check.problems] == [
        (1, "ingredient.order"),
        (1, "ingredient.cycle"),
    ]


# --- (5) declared edits, checked from the records ----------------------------------------------
def declared(
    actions: list[Action], *, parents: int = 1, **child: Any
) -> tuple[ToyLog, int, Report]:
    """A capture (or ``parents`` captures) and one edit declared with ``actions``, whose
    asset takes ``child`` (toy defaults: 64x48, the same perceptual hashes as the parent)."""
    t = ToyLog()
    t.register_signers()
    caps = [t.capture(f"img{i}") for i in range(parents)]
    for c in caps:
        t.append(c)
    idx = t.append(t.edit("child", caps, actions=actions, **child))
    return t, idx, judge(t, subject=idx)


COLOUR = [Action("c2pa.adjustedColor", {"brightness": 1.1})]


@pytest.mark.parametrize("action", ["c2pa.adjustedColor", "c2pa.color_adjustments"])
def test_check5_photometric_edit_of_an_unrelated_image_is_implausible(action: str) -> None:
    """A "colour adjustment" whose child looks nothing like its parent: someone borrowed a
    capture's history for another picture (issue 8, class 4)."""
    _, idx, report = declared([Action(action, {})], phash256=FAR, pdq=FAR)
    assert report.verdict == "tampered"
    assert failed(report) == {5: "edit.implausible"}
    assert problems(report, 5) == [(idx, "edit.implausible")]
    assert "moved, added or removed" in report.checks[4].detail
    assert (report.chain[0].check, report.chain[0].ok) == ("declared", False)
    assert report.assurance is None


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"width": 63}, "cannot resize"),
        ({"frames": 2}, "frame(s)"),
    ],
    ids=["size", "frames"],
)
def test_check5_photometric_edit_that_changes_geometry_is_implausible(
    changes: dict[str, int], why: str
) -> None:
    _, _, report = declared(COLOUR, **changes)
    assert failed(report) == {5: "edit.implausible"}
    assert why in report.checks[4].detail


@pytest.mark.parametrize(
    ("d64", "d256", "dpdq", "plausible"),
    [
        (16, 32, 64, True),
        (17, 0, 0, False),
        (0, 33, 0, False),
        (0, 0, 65, False),
    ],
)
def test_check5_photometric_thresholds(d64: int, d256: int, dpdq: int, plausible: bool) -> None:
    assert (plausibility.MAX_PHASH64, plausibility.MAX_PHASH256, plausibility.MAX_PDQ) == (
        16,
        32,
        64,
    )
    _, _, report = declared(
        COLOUR,
        phash64=with_bits_flipped("0f0f0f0f0f0f0f0f", d64),
        phash256=with_bits_flipped("3c" * 32, d256),
        pdq=with_bits_flipped("5a" * 32, dpdq),
    )
    if plausible:
        assert report.verdict == "verified" and report.assurance == "declared"
        assert report.chain[0].check == "declared, plausible"
        assert "same size" in report.chain[0].check_detail
    else:
        assert failed(report) == {5: "edit.implausible"}


@pytest.mark.parametrize(
    ("actions", "size", "plausible"),
    [
        ([Crop(8, 8, 40, 32)], (32, 24), True),
        ([Crop(8, 8, 40, 32)], (40, 24), False),  # not the size of the declared box
        ([Crop(8, 8, 80, 32)], (72, 24), False),  # the box does not fit the 64x48 parent
        ([Crop(0, 0, 32, 48), Resize(16, 24)], (16, 24), True),
        ([Crop(0, 0, 32, 48), Resize(16, 24)], (32, 48), False),
        ([Resize(32, 24)], (32, 24), True),
    ],
    ids=["crop", "crop-wrong-size", "crop-outside", "crop+resize", "crop+resize-wrong", "resize"],
)
def test_check5_declared_geometric_edit_sizes_must_add_up(
    actions: list[Any], size: tuple[int, int], plausible: bool
) -> None:
    """A crop or resize declared with exact parameters fixes the child's size."""
    _, idx, report = declared([op.action() for op in actions], width=size[0], height=size[1])
    if plausible:
        assert report.verdict == "verified"
        assert report.chain[0].check == "declared, plausible"
    else:
        assert failed(report) == {5: "edit.implausible"}
        assert problems(report, 5) == [(idx, "edit.implausible")]


def test_check5_resize_keeps_the_picture() -> None:
    """A declared pure resize whose child is perceptually another picture is implausible."""
    _, _, report = declared([Resize(32, 24).action()], width=32, height=24, phash256=FAR)
    assert failed(report) == {5: "edit.implausible"}
    assert "a resize keeps the picture" in report.checks[4].detail


@pytest.mark.parametrize(
    ("actions", "parents"),
    [
        ([Action("c2pa.edited", {})], 1),
        ([Action("c2pa.cropped", {"left": 1})], 1),  # no exact box
        (COLOUR, 2),  # a composite
    ],
    ids=["edited", "crop-without-box", "composite"],
)
def test_check5_unchecked_declared_edits_stay_declared(actions: list[Action], parents: int) -> None:
    """What the records cannot check is not a failure: the step says "declared" and the
    verdict carries assurance "declared"."""
    _, _, report = declared(actions, parents=parents, phash256=FAR, pdq=FAR, width=10)
    assert report.verdict == "verified" and report.failures == []
    assert report.chain[0].check == "declared" and report.assurance == "declared"


# --- how each step was checked; the verdict's assurance -------------------------------------------
def test_steps_say_capture_replayed_declared_and_plausible() -> None:
    """capture -> colour edit (declared, plausible) -> crop (replayed when the parent image
    is supplied, else declared, plausible) -> an edit nothing can check (declared)."""
    t = ToyLog()
    t.register_signers()
    cap = t.capture("img")
    graded = t.edit("graded", [cap], actions=COLOUR)
    crop = t.edit("crop", [graded], actions=[Crop(0, 0, 32, 24).action()], width=32, height=24)
    note = t.edit("note", [crop], actions=[Action("c2pa.edited", {})], width=32, height=24)
    i_cap, i_graded, i_crop, i_note = (t.append(r) for r in (cap, graded, crop, note))
    parent = graded.statement.asset
    child = crop.statement.asset
    assert parent is not None and child is not None
    replay = Replay(i_crop, i_graded, parent.sha256, parent.content, child.content)

    report = judge(t, subject=i_note)
    assert [(s.index, s.check) for s in report.chain] == [
        (i_note, "declared"),
        (i_crop, "declared, plausible"),
        (i_graded, "declared, plausible"),
        (i_cap, "capture"),
    ]
    assert (report.verdict, report.assurance, len(report.declared_steps)) == (
        "verified",
        "declared",
        3,
    )
    report = judge(t, subject=i_note, replays=(replay,))
    assert [s.check for s in report.chain] == [
        "declared",
        "replayed",
        "declared, plausible",
        "capture",
    ]
    assert report.checks[7].code == "replay.match"
    assert report.chain[1].check_detail.startswith("re-applied to the parent image")
    obj = report.to_json()
    assert obj["assurance"] == "declared" and obj["declared_steps"] == 2
    assert [s["check"] for s in obj["chain"]] == [s.check for s in report.chain]

    # One edit replayed, one declared below it: still "declared".
    report = judge(t, subject=i_crop, indices=[0, 1, i_cap, i_graded, i_crop], replays=(replay,))
    assert [s.check for s in report.chain] == ["replayed", "declared, plausible", "capture"]
    assert report.assurance == "declared"

    # Every edit replayed: assurance "complete".
    t2 = ToyLog()
    t2.register_signers()
    cap2 = t2.capture("img")
    crop2 = t2.edit("crop", [cap2], actions=[Crop(0, 0, 32, 24).action()], width=32, height=24)
    j_cap, j_crop = t2.append(cap2), t2.append(crop2)
    pa, ca = cap2.statement.asset, crop2.statement.asset
    assert pa is not None and ca is not None
    ok = Replay(j_crop, j_cap, pa.sha256, pa.content, ca.content)
    report = judge(t2, subject=j_crop, replays=(ok,))
    assert [s.check for s in report.chain] == ["replayed", "capture"]
    assert (report.assurance, report.declared_steps) == ("complete", [])
    assert report.to_json()["assurance"] == "complete"
    # A replay that does not reproduce the child fails check 8.
    bad = replace(ok, digest="0" * 64)
    report = judge(t2, subject=j_crop, replays=(bad,))
    assert failed(report) == {8: "replay.mismatch"}
    assert report.chain[0].check == "declared, plausible" and report.assurance is None


def test_assurance_of_captures_key_events_and_similar(log: ToyLog) -> None:
    report = judge(log, subject=CAPTURE)
    assert [s.check for s in report.chain] == ["capture"]
    assert report.assurance == "complete"
    key = check_chain(log.evidence(ALICE_KEY, match=None))
    assert [(s.index, s.check) for s in key.chain] == [(ALICE_KEY, "key event")]
    similar = judge(log, match="perceptual")
    assert (similar.verdict, similar.assurance) == ("similar", "declared")
    tampered = judge(log, image=log.image_of(rec(log, EDIT), sha256="0" * 64))
    assert (tampered.verdict, tampered.assurance) == ("tampered", None)
    assert tampered.to_json()["assurance"] is None


# --- (6) the image against the record ----------------------------------------------------------
def test_check6_file_hash_mismatch(log: ToyLog) -> None:
    report = judge(log, image=log.image_of(rec(log, EDIT), sha256="0" * 64))
    assert failed(report) == {6: "dataHash.mismatch"}


def test_check6_content_match(log: ToyLog) -> None:
    """Other bytes, same displayed content (metadata stripped): verified."""
    report = judge(log, match="content", image=log.image_of(rec(log, EDIT), sha256="0" * 64))
    assert report.verdict == "verified" and report.checks[5].code == "content.match"


@pytest.mark.parametrize("content", ["0" * 64, None])
def test_check6_content_mismatch(log: ToyLog, content: str | None) -> None:
    img = log.image_of(rec(log, EDIT), sha256="0" * 64, content=content)
    assert failed(judge(log, match="content", image=img)) == {6: "content.mismatch"}


def test_check6_digest_set_1_record(log: ToyLog) -> None:
    """A record made before display digests (set 1, ``pixels``) has no content digest: an
    exact file match still verifies it, a content match cannot."""
    idx = log.append(log.capture("old", digests=1))
    legacy = rec(log, idx)
    assert legacy.statement.asset is not None and legacy.statement.asset.binding is None
    assert judge(log, subject=idx, image=log.image_of(legacy)).verdict == "verified"
    img = log.image_of(legacy, sha256="0" * 64, content="1" * 64)
    assert failed(judge(log, subject=idx, match="content", image=img)) == {6: "content.legacy"}


@pytest.mark.parametrize(
    ("d64", "d256", "verdict"),
    [
        (0, 0, "similar"),
        (10, 40, "similar"),
        (11, 0, "tampered"),
        (0, 41, "tampered"),
    ],
)
def test_check6_perceptual_thresholds(log: ToyLog, d64: int, d256: int, verdict: str) -> None:
    asset = rec(log, EDIT).statement.asset
    assert asset is not None
    img = ImageDigests(
        "0" * 64,
        "0" * 64,
        with_bits_flipped(asset.phash64, d64),
        with_bits_flipped(asset.phash256, d256),
    )
    report = judge(log, match="perceptual", image=img)
    assert report.verdict == verdict
    assert report.distances == {"phash64": d64, "phash256": d256}
    if verdict == "similar":
        assert report.exit_code == 5 and report.checks[5].code == "softBinding.match"
        assert report.checks[6].code == "softBinding.recomputed"
    else:
        assert failed(report) == {6: "softBinding.mismatch"}


def test_check6_perceptual_thresholds_come_from_the_evidence(log: ToyLog) -> None:
    asset = rec(log, EDIT).statement.asset
    assert asset is not None
    img = ImageDigests("0" * 64, None, with_bits_flipped(asset.phash64, 4), asset.phash256)
    assert judge(log, match="perceptual", image=img, phash64_max=3).verdict == "tampered"
    assert judge(log, match="perceptual", image=img, phash64_max=4).verdict == "similar"


def test_check6_perceptual_claim_without_hashes(log: ToyLog) -> None:
    report = judge(log, match="perceptual", image=ImageDigests("0" * 64, "0" * 64))
    assert failed(report) == {6: "softBinding.mismatch"}


def test_check6_subject_without_an_asset(log: ToyLog) -> None:
    report = check_chain(log.evidence(ALICE_KEY, image=ImageDigests("0" * 64)))
    assert failed(report) == {6: "record.noAsset"}
    assert report.checks[6].status == "skip"


def test_check6_subject_not_in_evidence(log: ToyLog) -> None:
    report = judge(log, image=ImageDigests("0" * 64), indices=[0, 1, 2])
    assert failed(report) == {6: "record.missing"}
    assert report.record_id is None


def test_check6_no_image_given(log: ToyLog) -> None:
    report = judge(log, match=None, image=None)
    assert report.verdict == "verified"
    assert [(c.status, c.code) for c in report.checks[5:7]] == [
        ("skip", "image.unavailable"),
        ("skip", "image.unavailable"),
    ]


# --- (7) perceptual hashes recomputed --------------------------------------------------------
@pytest.mark.parametrize("field", ["phash64", "phash256"])
def test_check7_record_hashes_differ_from_the_image_on_an_exact_match(
    log: ToyLog, field: str
) -> None:
    """A record whose file hash matches but whose perceptual hashes belong to another image
    (a signer planting them to capture lookups of someone else's photo) is tampered."""
    asset = rec(log, EDIT).statement.asset
    assert asset is not None
    img = log.image_of(rec(log, EDIT), **{field: with_bits_flipped(getattr(asset, field), 1)})
    report = judge(log, image=img)
    assert failed(report) == {7: "softBinding.mismatch"}
    # A content match (same displayed content, other metadata) decodes the same samples
    # through the same pipeline: pHash must match exactly there too (it used to tolerate
    # up to the lookup thresholds for a pixel match).
    assert failed(judge(log, match="content", image=img)) == {7: "softBinding.mismatch"}


@pytest.mark.parametrize(("bits", "ok"), [(8, True), (9, False)])
def test_check7_pdq_tolerates_floating_point_drift_only(log: ToyLog, bits: int, ok: bool) -> None:
    asset = rec(log, EDIT).statement.asset
    assert asset is not None and asset.pdq is not None
    img = log.image_of(rec(log, EDIT), pdq=with_bits_flipped(asset.pdq, bits))
    report = judge(log, image=img)
    assert report.distances["pdq"] == bits
    assert failed(report) == ({} if ok else {7: "softBinding.mismatch"})


@pytest.mark.parametrize(("quality", "ok"), [(49, True), (50, False)])
def test_check7_ignores_the_pdq_bits_of_a_featureless_image(
    log: ToyLog, quality: int, ok: bool
) -> None:
    """Below PDQ quality 50 the bits are rounding noise that differs between CPUs (seen: 20
    bits on the 16-bit grey golden image), so they never fail check 7; from 50 they do."""
    asset = rec(log, EDIT).statement.asset
    assert asset is not None and asset.pdq is not None
    img = log.image_of(rec(log, EDIT), pdq=with_bits_flipped(asset.pdq, 30), pdq_quality=quality)
    assert failed(judge(log, image=img)) == ({} if ok else {7: "softBinding.mismatch"})


def test_the_verifiers_pdq_quality_bound_is_pdqs() -> None:
    import provenance.pdq as pdq
    import provenance.verify as verify

    assert verify._PDQ_QUALITY == pdq.QUALITY_THRESHOLD


def test_check7_not_computed_is_skipped(log: ToyLog) -> None:
    img = log.image_of(rec(log, EDIT), phash64=None, phash256=None)
    report = judge(log, image=img)
    assert report.verdict == "verified"
    assert (report.checks[6].status, report.checks[6].code) == ("skip", "softBinding.notComputed")


# --- on a real ledger ---------------------------------------------------------------------------
def test_deep_chain_verifies_without_recursion_errors(
    lenv: Any, photos: list[Path], run_cli: Any
) -> None:
    """1,200 chained edits: verify, history and export walk them iteratively (and the
    ancestry is one recursive query)."""
    from conftest import FIXED_NOW
    from tamper_helpers import append_raw

    from provenance.imaging import digest_file
    from provenance.records import Asset

    [first] = lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    base = digest_file(photos[0])
    parent = first.record_id
    assert parent is not None
    records = []
    for n in range(1200):
        asset = Asset(**{**base.to_json(), "sha256": f"{n:064x}", "content": f"{n + 1:064x}"})
        st = Statement(
            type="edit",
            time="2026-11-26T12:00:00Z",
            asset=asset,
            parents=(parent,),
            actions=(Action("c2pa.edited", {"n": n}),),
        )
        rec_ = sign_statement(st, lenv.alice)
        records.append(rec_)
        parent = rec_.record_id
    append_raw(lenv.ledger, records)
    report = lenv.ledger.evidence().verify_record(parent)
    assert report.verdict == "verified" and len(report.chain) == 1201
    assert report.assurance == "declared" and len(report.declared_steps) == 1200
    assert len(lenv.ledger.store.ancestry(lenv.ledger.resolve(parent))) == 1201
    r = run_cli("--db", lenv.db, "history", parent, "--json")
    assert r.exit_code == 0 and len(json.loads(r.stdout)["records"]) == 1201
    out = lenv.tmp / "deep.json"
    assert run_cli("--db", lenv.db, "export", parent, "-o", out).exit_code == 0


# --- robustness -------------------------------------------------------------------------------
def _judge_safely(ev: Evidence) -> Report:
    report = check_chain(ev)
    assert report.verdict in ("tampered", "similar", "verified")
    return report


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_check_chain_never_raises_and_never_verifies_altered_evidence(
    log: ToyLog, data: st.DataObject
) -> None:
    genuine = [log.proven(i) for i in range(4)]
    records = list(genuine)
    note = log.checkpoint()
    what = data.draw(st.sampled_from(["body", "proof", "index", "note", "drop", "extra"]))
    k = data.draw(st.integers(0, 3))
    if what == "body":
        body = bytearray(records[k].body)
        pos = data.draw(st.integers(0, len(body) - 1))
        body[pos] = data.draw(st.integers(0, 255).filter(lambda b: b != body[pos]))
        records[k] = replace(records[k], body=bytes(body))
    elif what == "proof":
        proof = [bytearray(h) for h in records[k].proof]
        j = data.draw(st.integers(0, len(proof) - 1))
        proof[j][data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        proof = proof[: data.draw(st.integers(0, len(proof)))]
        records[k] = replace(records[k], proof=tuple(bytes(h) for h in proof))
    elif what == "index":
        records[k] = replace(
            records[k], index=data.draw(st.integers(-3, 2**64 + 3).filter(lambda i: i != k))
        )
    elif what == "note":
        pos = data.draw(st.integers(0, len(note) - 1))
        note = note[:pos] + data.draw(st.characters()) + note[pos + 1 :]
    elif what == "drop":
        records.pop(k)
    else:
        records.append(
            ProvenRecord(
                data.draw(st.integers(0, 10)),
                data.draw(st.binary()),
                tuple(data.draw(st.lists(st.binary(min_size=32, max_size=32), max_size=4))),
            )
        )
    ev = log.evidence(EDIT, records=records, checkpoint=note, image=log.image_of(rec(log, EDIT)))
    report = _judge_safely(ev)
    if report.verdict == "verified":
        assert note == log.checkpoint()
        assert {(r.index, r.body, r.proof) for r in records} >= {
            (r.index, r.body, r.proof) for r in genuine
        }
