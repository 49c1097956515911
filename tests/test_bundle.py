"""Offline bundles under attack: truncated, altered, re-keyed, pinned, fuzzed.

A genuine bundle for ``rocket-crop.png`` (its edit record, the rocket capture it came from,
and the key records of alice and desk) is exported once from the tamper-suite ledger; each
test alters a copy and runs ``provenance verify IMAGE --bundle FILE`` with no database.
Parsing errors are exit 3 (never verified), altered contents are ``tampered`` (exit 1), and a
trust anchor of another log (``--trust-log-key`` or ``--checkpoint``) is exit 3 naming both
logs: a wrong anchor is a usage error, not evidence about the bundle.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tamper_helpers import (
    CAPTURES,
    FIXED_NOW,
    LAYOUT,
    MALLORY_SEED,
    ORIGIN,
    SIZE,
    STRANGERS,
    CliOutcome,
    build_chain,
    cli_verify,
)

from provenance import bundle as bundle_mod
from provenance.bundle import Bundle
from provenance.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from provenance.cli import cli
from provenance.errors import BundleError, CheckpointError, TrustAnchorError
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.records import record_id
from provenance.verify import check_chain

CROP, ROCKET = LAYOUT["crop"], LAYOUT["rocket"]
FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def _cli(*args: Any) -> str:
    res = CliRunner().invoke(
        cli,
        [str(a) for a in args],
        catch_exceptions=False,
        env={"PROVENANCE_DB": None, "PROVENANCE_LOG_KEY": None},
    )
    assert res.exit_code == 0, res.output
    return res.stdout


@dataclass(frozen=True)
class Kit:
    root: Path
    crop_png: Path
    genuine: Path  # bundle for rocket-crop.png, no consistency proofs
    since: Path  # the same, exported with --since 2 --since 8
    pins: dict[int, Path]  # genuine checkpoints of the log at sizes 2, 8, 10
    vkey: str
    forged_vkey: str  # another log's key, same origin name
    forged_checkpoint: str  # that log's latest checkpoint (size 7)
    forged_bundle: Path  # rocket-crop.png signed as a capture in that log

    def text(self) -> str:
        return self.genuine.read_text()

    def obj(self) -> dict[str, Any]:
        return json.loads(self.text())


@pytest.fixture(scope="module")
def kit(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Kit:
    root = tmp_path_factory.mktemp("bundle") / "chain"
    build_chain(root, corpus)
    db, crop = root / "ledger.db", root / "photos" / "rocket-crop.png"
    _cli("--db", db, "export", crop, "-o", root / "crop.json")
    _cli("--db", db, "export", crop, "-o", root / "crop-since.json", "--since", "2", "--since", "8")
    pins = {}
    with Ledger.open(str(db)) as ledger:
        vkey = ledger.log_verifier.vkey()
        for size in (2, 8, 10):
            cp = ledger.store.checkpoint_at(size)
            assert cp is not None
            pins[size] = root / f"pin-{size}.checkpoint"
            pins[size].write_text(cp.note)
    # A second log under the same origin name with its own key: a forger's.
    (root / "forge").mkdir()
    forged = Ledger.init(str(root / "forge" / "ledger.db"), origin=ORIGIN)
    try:
        mallory = SigningKey.from_seed(MALLORY_SEED)
        forged.register_key(mallory.public, "alice", now=FIXED_NOW)
        forged.sign(
            [root / "photos" / n for n in CAPTURES.values()] + [crop], mallory, now=FIXED_NOW
        )
        forged_vkey = forged.log_verifier.vkey()
        forged_cp = forged.checkpoint()
        assert forged_cp is not None and forged_cp.size == 7
    finally:
        forged.close()
    _cli("--db", root / "forge" / "ledger.db", "export", crop, "-o", root / "forged.json")
    return Kit(
        root,
        crop,
        root / "crop.json",
        root / "crop-since.json",
        pins,
        vkey,
        forged_vkey,
        forged_cp.note,
        root / "forged.json",
    )


def verify_bundle(
    run_cli: Any,
    kit: Kit,
    tmp_path: Path,
    content: str | dict[str, Any] | None,
    *extra: Any,
    image: Path | None = None,
    anchor: bool = True,
) -> CliOutcome:
    """verify IMAGE --bundle (the genuine bundle, or ``content``) with no database.

    Unless the test passes its own trust anchor (or ``anchor=False``), the genuine log's
    verifier key is pinned with --trust-log-key, as a fact-checker would."""
    if anchor and not {"--trust-log-key", "--checkpoint"} & {str(e) for e in extra}:
        extra = (*extra, "--trust-log-key", kit.vkey)
    if content is None:
        path = kit.genuine
    else:
        path = tmp_path / "altered.provenance.json"
        text = (
            content
            if isinstance(content, str)
            else json.dumps(content, indent=2, ensure_ascii=False)
        )
        path.write_text(text)
    return cli_verify(
        run_cli, tmp_path / "no-such.db", image or kit.crop_png, "--bundle", path, *extra
    )


def record_at(obj: dict[str, Any], index: int) -> dict[str, Any]:
    [r] = [r for r in obj["records"] if r["index"] == index]
    return r


def with_checkpoint(text: str, old: str, new: str) -> str:
    """Replace a checkpoint note everywhere in a bundle's text (its field and every proof)."""
    enc = lambda s: json.dumps(s, ensure_ascii=False)[1:-1]  # noqa: E731
    assert text.count(enc(old)) == 5  # "checkpoint" + four tlog-proofs
    return text.replace(enc(old), enc(new))


def flip_b64(s: str, pos: int = 0) -> str:
    return s[:pos] + ("B" if s[pos] != "B" else "C") + s[pos + 1 :]


# --- the genuine bundle ---------------------------------------------------------------------
def test_genuine_bundle_verifies_offline(kit: Kit, run_cli: Any, tmp_path: Path) -> None:
    out = verify_bundle(run_cli, kit, tmp_path, None)
    assert (out.code, out.verdict, out.failed()) == (0, "verified", {})
    assert out.report is not None
    assert [s["index"] for s in out.report["chain"]] == [CROP, ROCKET]
    # The parent's own photograph verifies against the same bundle.
    parent = verify_bundle(
        run_cli, kit, tmp_path, None, image=kit.root / "photos" / CAPTURES["rocket"]
    )
    assert (parent.code, parent.report and parent.report["index"]) == (0, ROCKET)
    # An unrelated photograph is unknown to the bundle.
    stranger = verify_bundle(run_cli, kit, tmp_path, None, image=kit.root / "photos" / STRANGERS[0])
    assert (stranger.code, stranger.verdict) == (4, "unknown")


# --- attacks --------------------------------------------------------------------------------
@pytest.mark.parametrize("keep", [0, 1, 100, 0.5, 0.9, -3])
def test_attack_truncated_bundle_is_an_error(
    kit: Kit, run_cli: Any, tmp_path: Path, keep: float
) -> None:
    text = kit.text()
    cut = text[: int(len(text) * keep) if isinstance(keep, float) else keep]
    out = verify_bundle(run_cli, kit, tmp_path, cut)
    assert (out.code, out.verdict) == (3, "error")  # --json prints the error as JSON
    assert out.report is not None and out.report["error"] == "BundleError"
    assert "truncated" in out.stderr


@pytest.mark.parametrize(
    ("index", "field", "expected"),
    [
        (CROP, "actions", {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch"}),
        (
            ROCKET,
            "claims",
            {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch", 5: "ingredient.missing"},
        ),
        (LAYOUT["alice"], "key", {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch"}),
    ],
)
def test_attack_altered_record_inside_bundle(
    kit: Kit, run_cli: Any, tmp_path: Path, index: int, field: str, expected: dict[int, str]
) -> None:
    obj = kit.obj()
    st = record_at(obj, index)["record"]["statement"]
    if field == "actions":
        st["actions"][0]["params"]["left"] = 0
    elif field == "claims":
        st["claims"]["author"] = "Mallory"
    else:
        st["key"]["name"] = "desk"
    out = verify_bundle(run_cli, kit, tmp_path, obj)
    assert (out.code, out.verdict) == (1, "tampered")
    assert out.failed() == expected


def test_attack_altered_proof_hash_in_bundle(kit: Kit, run_cli: Any, tmp_path: Path) -> None:
    obj = kit.obj()
    rec = record_at(obj, CROP)
    lines = rec["tlog_proof"].split("\n")
    assert lines[1] == f"index {CROP}"
    lines[2] = flip_b64(lines[2])
    rec["tlog_proof"] = "\n".join(lines)
    out = verify_bundle(run_cli, kit, tmp_path, obj)
    assert (out.code, out.failed()) == (1, {3: "log.inclusion.mismatch"})
    assert out.codes(3) == {"log.inclusion.mismatch"}


def _other_origin_note() -> str:
    key = SigningKey.from_seed(b"O" * 32)
    return sign_checkpoint(
        Checkpoint("other.example/log", SIZE, b"\x01" * 32), NoteSigner("other.example/log", key)
    )


@pytest.mark.parametrize(
    "how",
    ["another log, same origin", "another origin", "bad signature", "root changed, signature kept"],
)
def test_attack_checkpoint_from_another_log_or_badly_signed(
    kit: Kit, run_cli: Any, tmp_path: Path, how: str
) -> None:
    text = kit.text()
    note = kit.obj()["checkpoint"]
    if how == "another log, same origin":
        new = kit.forged_checkpoint
    elif how == "another origin":
        new = _other_origin_note()
    elif how == "bad signature":
        head, sig = note.rsplit(" ", 1)
        new = head + " " + flip_b64(sig, 8)
    else:
        lines = note.split("\n")
        lines[2] = flip_b64(lines[2])
        new = "\n".join(lines)
    if how in ("bad signature", "root changed, signature kept"):
        text = with_checkpoint(text, note, new)
    else:  # a different tree size: the tlog-proofs cannot name it, only the field changes
        obj = json.loads(text)
        obj["checkpoint"] = new
        text = json.dumps(obj)
    out = verify_bundle(run_cli, kit, tmp_path, text)
    assert (out.code, out.verdict) == (1, "tampered")
    assert out.failed()[4] == "checkpoint.signature.mismatch"


def test_attack_bundle_with_the_subject_missing(kit: Kit, run_cli: Any, tmp_path: Path) -> None:
    """Before a fix in the bundle matching (now ``bundle.verify_offline``) this was
    ``unknown`` (exit 4): the image matched nothing because its record had been removed,
    and nothing said the bundle was damaged."""
    obj = kit.obj()
    obj["records"] = [r for r in obj["records"] if r["index"] != CROP]
    out = verify_bundle(run_cli, kit, tmp_path, obj)
    assert out.code == 3 and "subject" in out.stderr
    # The parent image still matches a record in the damaged bundle and is judged on it.
    parent = verify_bundle(
        run_cli, kit, tmp_path, obj, image=kit.root / "photos" / CAPTURES["rocket"]
    )
    assert (parent.code, parent.verdict) == (0, "verified")


def test_attack_subject_record_altered_so_image_no_longer_matches(
    kit: Kit, run_cli: Any, tmp_path: Path
) -> None:
    obj = kit.obj()
    asset = record_at(obj, CROP)["record"]["statement"]["asset"]
    asset["sha256"] = asset["sha256"][::-1]
    asset["content"] = asset["content"][::-1]
    asset["phash64"], asset["phash256"], asset["pdq"] = "0" * 16, "0" * 64, "0" * 64
    out = verify_bundle(run_cli, kit, tmp_path, obj)
    assert out.code == 3 and "subject" in out.stderr


def key_hex(vkey: str) -> str:
    return NoteVerifier.parse_vkey(vkey).key_id.hex()


def test_attack_trust_log_key_pins_a_different_vkey(kit: Kit, run_cli: Any, tmp_path: Path) -> None:
    """A --trust-log-key of another log (same origin name, another key) is a wrong trust
    anchor: exit 3 naming both log keys (it used to be ``tampered``, exit 1, branding a
    genuine bundle as forged)."""
    out = verify_bundle(run_cli, kit, tmp_path, None, "--trust-log-key", kit.forged_vkey)
    assert (out.code, out.verdict) == (3, "error")
    assert out.report is not None and out.report["error"] == "TrustAnchorError"
    assert key_hex(kit.vkey) in out.stderr and key_hex(kit.forged_vkey) in out.stderr
    assert "hint:" in out.stderr
    ok = verify_bundle(run_cli, kit, tmp_path, None, "--trust-log-key", kit.vkey)
    assert ok.code == 0
    for bad_key in ("not-a-vkey", ""):  # "" used to fall back to the bundle's own key
        bad = verify_bundle(run_cli, kit, tmp_path, None, "--trust-log-key", bad_key)
        assert bad.code == 3 and "vkey" in bad.stderr


def test_attack_bundle_from_a_forged_log_needs_a_pinned_log_key(
    kit: Kit, run_cli: Any, tmp_path: Path
) -> None:
    """A forger builds a whole log of their own (same origin name, own log key, a signer
    registered as "alice") and exports a bundle: it is self-consistent, so without a trust
    anchor it is refused (exit 3). With the real log key or a checkpoint of the real log
    pinned, the bundle is of another log than the anchor: exit 3 naming both keys (it was
    ``tampered``, exit 1, before anchors of another log became usage errors). Never 0."""
    forged = kit.forged_bundle.read_text()
    # Without any trust anchor the bundle is not judged at all: a bundle alone proves
    # nothing about who kept the log (it used to verify, exit 0, on its own say-so).
    plain = verify_bundle(run_cli, kit, tmp_path, forged, anchor=False)
    assert plain.code == 3 and "no trust anchor" in plain.stderr
    pinned = verify_bundle(run_cli, kit, tmp_path, forged, "--trust-log-key", kit.vkey)
    assert (pinned.code, pinned.verdict) == (3, "error")
    assert key_hex(kit.vkey) in pinned.stderr and key_hex(kit.forged_vkey) in pinned.stderr
    # A checkpoint pinned from the real log catches it too, even without the vkey.
    cp = verify_bundle(run_cli, kit, tmp_path, forged, "--checkpoint", kit.pins[8])
    assert (cp.code, cp.verdict) == (3, "error")
    assert key_hex(kit.vkey) in cp.stderr and key_hex(kit.forged_vkey) in cp.stderr
    # The library says the same.
    b = bundle_mod.loads(forged)
    image = kit.crop_png.read_bytes()
    with pytest.raises(TrustAnchorError):
        bundle_mod.verify_offline(image, b, trust_log_key=kit.vkey)
    with pytest.raises(TrustAnchorError):
        bundle_mod.verify_offline(image, b, pinned=[kit.pins[8].read_text()])
    with pytest.raises(BundleError, match="no trust anchor"):
        bundle_mod.verify_offline(image, b)


# --- pinned checkpoints through the bundle's consistency proofs ------------------------------
@pytest.mark.parametrize("size", [2, 8, 10])
def test_pinned_checkpoint_verifies_through_consistency_proofs(
    kit: Kit, run_cli: Any, tmp_path: Path, size: int
) -> None:
    out = cli_verify(
        run_cli,
        tmp_path / "no.db",
        kit.crop_png,
        "--bundle",
        kit.since,
        "--checkpoint",
        kit.pins[size],
    )
    assert (out.code, out.verdict) == (0, "verified")


def test_pinned_checkpoint_without_a_consistency_proof_fails(
    kit: Kit, run_cli: Any, tmp_path: Path
) -> None:
    out = verify_bundle(run_cli, kit, tmp_path, None, "--checkpoint", kit.pins[8])
    assert out.failed() == {4: "checkpoint.inconsistent"}
    # Equal sizes need no proof.
    assert verify_bundle(run_cli, kit, tmp_path, None, "--checkpoint", kit.pins[10]).code == 0


def test_attack_altered_consistency_proof(kit: Kit, run_cli: Any, tmp_path: Path) -> None:
    obj = json.loads(kit.since.read_text())
    [entry] = [c for c in obj["consistency"] if c["size"] == 8]
    entry["proof"][0] = flip_b64(entry["proof"][0])
    out = verify_bundle(run_cli, kit, tmp_path, obj, "--checkpoint", kit.pins[8])
    assert (out.code, out.failed()) == (1, {4: "checkpoint.inconsistent"})


@pytest.mark.parametrize("which", ["another key", "another origin"])
def test_attack_pinned_checkpoint_from_another_log(
    kit: Kit, run_cli: Any, tmp_path: Path, which: str
) -> None:
    """A checkpoint of another log pinned against a genuine bundle: exit 3 naming both logs
    (it used to be ``tampered`` with checkpoint.pinned.invalid)."""
    other = tmp_path / "other.checkpoint"
    other.write_text(kit.forged_checkpoint if which == "another key" else _other_origin_note())
    out = cli_verify(
        run_cli, tmp_path / "no.db", kit.crop_png, "--bundle", kit.since, "--checkpoint", other
    )
    assert (out.code, out.verdict) == (3, "error")
    assert ORIGIN in out.stderr
    if which == "another origin":
        assert "other.example/log" in out.stderr
    else:
        assert key_hex(kit.forged_vkey) in out.stderr


def test_attack_pinned_checkpoint_of_this_log_with_a_corrupted_signature(
    kit: Kit, run_cli: Any, tmp_path: Path
) -> None:
    """A pin naming this log and its key whose signature does not verify is evidence
    (tampered, checkpoint.pinned.invalid), not a wrong anchor."""
    head, sig = kit.pins[8].read_text().rstrip("\n").rsplit(" ", 1)
    bad = tmp_path / "bad.checkpoint"
    bad.write_text(head + " " + flip_b64(sig, 10) + "\n")
    out = cli_verify(
        run_cli, tmp_path / "no.db", kit.crop_png, "--bundle", kit.since, "--checkpoint", bad
    )
    assert (out.code, out.verdict) == (1, "tampered")
    assert out.failed() == {4: "checkpoint.pinned.invalid"}


# --- strict parsing -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "",
        "{}",
        "[]",
        "null",
        '{"format": "provenance-bundle/v2"}',
        '{"format": 1' + "1" * 5000 + "}",  # int beyond Python's conversion limit (was ValueError)
        "[" * 100_000,
        b"\xff\xfe\x00",
    ],
)
def test_loads_rejects_garbage_with_bundle_error(text: str | bytes) -> None:
    with pytest.raises(BundleError):
        bundle_mod.loads(text)


def test_loads_roundtrips_a_genuine_bundle(kit: Kit) -> None:
    b = bundle_mod.loads(kit.text())
    assert b.dumps() == kit.text()
    assert [r.index for r in b.records if record_id(r.body) == b.subject] == [CROP]
    assert sorted(r.index for r in b.records) == [0, 1, ROCKET, CROP]


@pytest.mark.parametrize(
    "mutate",
    [
        lambda o: o.pop("consistency"),
        lambda o: o.update(extra=1),
        lambda o: o["log"].update(vkey=7),
        lambda o: o.update(records=[]),
        lambda o: o["records"][0].update(index=-1),
        lambda o: o["records"][0].update(index=True),
        lambda o: o["records"][1].update(index=0),  # tlog-proof says 1
        lambda o: o["records"][0].update(tlog_proof="c2sp.org/tlog-proof@v1\n"),
        lambda o: o["records"][0].update(record=float("nan")),
        lambda o: o.update(consistency=[{"size": 8, "proof": ["AAAA"]}]),
        lambda o: o.update(consistency={}),
    ],
)
def test_loads_is_strict(kit: Kit, mutate: Any) -> None:
    obj = kit.obj()
    mutate(obj)
    with pytest.raises(BundleError):
        bundle_mod.loads(json.dumps(obj))


# --- fuzzing --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Genuine:
    text: str
    obj: dict[str, Any]
    image: bytes
    vkey: str
    fingerprint: tuple[Any, ...]


def _fingerprint(b: Bundle) -> tuple[Any, ...]:
    return (b.checkpoint, frozenset((r.index, r.body, r.proof, r.checkpoint) for r in b.records))


@pytest.fixture(scope="module")
def genuine(kit: Kit) -> Genuine:
    text = kit.text()
    return Genuine(
        text,
        json.loads(text),
        kit.crop_png.read_bytes(),
        kit.vkey,
        _fingerprint(bundle_mod.loads(text)),
    )


def judge(g: Genuine, text: str | bytes) -> str | None:
    """The offline verification pipeline of ``verify --bundle --trust-log-key``
    (:func:`provenance.bundle.verify_offline`): the verdict, or None when the bundle is
    rejected (BundleError) or names another log than the trusted key (TrustAnchorError).
    Any other exception fails the test. A verdict of ``verified`` is only allowed for a
    bundle whose contents equal the genuine one's."""
    try:
        b = bundle_mod.loads(text)
        report = bundle_mod.verify_offline(g.image, b, name="rocket-crop.png", trust_log_key=g.vkey)
    except (BundleError, TrustAnchorError):
        return None
    if report.verdict == "verified":
        assert _fingerprint(b) == g.fingerprint, "an altered bundle verified"
    return report.verdict


def test_judge_accepts_the_genuine_bundle(genuine: Genuine) -> None:
    assert judge(genuine, genuine.text) == "verified"
    assert judge(genuine, json.dumps(genuine.obj)) == "verified"  # formatting is free


@FUZZ
@given(data=st.data())
def test_fuzz_truncated_bundle_never_parses(genuine: Genuine, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(genuine.text.rstrip()) - 1))
    as_bytes = data.draw(st.booleans())
    text = genuine.text[:cut]
    with pytest.raises(BundleError):
        bundle_mod.loads(text.encode() if as_bytes else text)


_ALPHABET = 'AB09+/=\\"{}[],: \n-azé\u2014'


@settings(FUZZ, max_examples=300)
@given(data=st.data())
def test_fuzz_byte_mutations_never_verify(genuine: Genuine, data: st.DataObject) -> None:
    text = genuine.text
    n = data.draw(st.integers(1, 4), label="mutations")
    for _ in range(n):
        op = data.draw(st.sampled_from(["replace", "delete", "insert"]))
        pos = data.draw(st.integers(0, len(text) - 1))
        if op == "replace":
            # Mostly keep the character class (hex, base64, digits) so the result often
            # still parses and reaches the verifier.
            pool = (
                _ALPHABET
                if not text[pos].isalnum() or data.draw(st.booleans())
                else ("0123456789abcdef" if text[pos] in "0123456789abcdef" else "AZaz09")
            )
            text = text[:pos] + data.draw(st.sampled_from(pool)) + text[pos + 1 :]
        elif op == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 8)) :]
        else:
            text = text[:pos] + data.draw(st.text(_ALPHABET, min_size=1, max_size=4)) + text[pos:]
    event(f"verdict: {judge(genuine, text)}")


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _tweak_string(s: str, data: st.DataObject) -> str:
    if not s:
        return "x"
    pos = data.draw(st.integers(0, len(s) - 1))
    return s[:pos] + data.draw(st.sampled_from(_ALPHABET)) + s[pos + 1 :]


@FUZZ
@given(data=st.data())
def test_fuzz_structural_mutations_never_verify(genuine: Genuine, data: st.DataObject) -> None:
    obj = copy.deepcopy(genuine.obj)
    paths = _paths(obj)
    for _ in range(data.draw(st.integers(1, 3), label="mutations")):
        op = data.draw(st.sampled_from(["set", "tweak", "delete", "records"]))
        if op == "records":
            recs = obj["records"] if isinstance(obj.get("records"), list) else []
            action = data.draw(st.sampled_from(["drop", "duplicate", "swap", "reverse"]))
            if recs and action == "drop":
                recs.pop(data.draw(st.integers(0, len(recs) - 1)))
            elif recs and action == "duplicate":
                recs.append(copy.deepcopy(recs[data.draw(st.integers(0, len(recs) - 1))]))
            elif len(recs) > 1 and action == "swap":
                i, j = (
                    data.draw(st.integers(0, len(recs) - 1)),
                    data.draw(st.integers(0, len(recs) - 1)),
                )
                recs[i]["record"], recs[j]["record"] = recs[j]["record"], recs[i]["record"]
            else:
                recs.reverse()
            continue
        path = data.draw(st.sampled_from(paths[1:]))
        try:
            parent = obj
            for step in path[:-1]:
                parent = parent[step]
            current = parent[path[-1]]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed it
        if op == "set":
            parent[path[-1]] = copy.deepcopy(data.draw(_json))  # never mutate a drawn value
        elif op == "tweak" and isinstance(current, str):
            parent[path[-1]] = _tweak_string(current, data)
        elif op == "tweak" and isinstance(current, int) and not isinstance(current, bool):
            parent[path[-1]] = current + data.draw(st.sampled_from([-1, 1, 2**32]))
        elif op == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
    event(f"verdict: {judge(genuine, json.dumps(obj, ensure_ascii=data.draw(st.booleans())))}")


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        st.text(max_size=200),
        _json.map(json.dumps),
        st.dictionaries(
            st.sampled_from(["format", "log", "checkpoint", "subject", "records", "consistency"]),
            _json,
        ).map(json.dumps),
    )
)
def test_fuzz_loads_raises_only_bundle_error(text: str | bytes) -> None:
    with contextlib.suppress(BundleError):
        bundle_mod.loads(text)


@FUZZ
@given(
    vkey=st.text(max_size=120)
    | st.binary(min_size=33, max_size=33).map(
        lambda raw: "name+00000000+" + base64.b64encode(raw).decode()
    )
    | st.binary(min_size=32, max_size=32).map(
        lambda raw: NoteVerifier(ORIGIN, SigningKey.from_seed(raw).public).vkey()
    )
)
def test_fuzz_trust_log_key_is_the_bundles_or_an_error(kit: Kit, vkey: str) -> None:
    """Whatever is passed as --trust-log-key: a malformed key is a CheckpointError, another
    log's key a TrustAnchorError (both exit 3); a key that is accepted is the bundle's own."""
    b = bundle_mod.loads(kit.text())
    try:
        verifier = bundle_mod.trusted_verifier(b, vkey)
    except (CheckpointError, TrustAnchorError) as exc:
        assert exc.exit_code == 3
        return
    assert verifier.vkey() == b.vkey == kit.vkey


def test_bundle_evidence_drops_proofs_naming_another_checkpoint(kit: Kit) -> None:
    """A record whose tlog-proof carries another checkpoint is judged with no proof."""
    b = bundle_mod.loads(kit.text())
    verifier = bundle_mod.trusted_verifier(b, kit.vkey)
    ev = bundle_mod.evidence(b, subject=CROP, match=None, image=None, verifier=verifier)
    assert all(r.proof for r in ev.records)
    assert check_chain(ev).verdict == "verified"
    changed = Bundle(
        b.origin,
        b.vkey,
        b.checkpoint,
        b.subject,
        tuple(
            bundle_mod.BundleRecord(r.index, r.body, r.proof, kit.pins[8].read_text())
            if r.index == CROP
            else r
            for r in b.records
        ),
        b.consistency,
    )
    ev2 = bundle_mod.evidence(changed, subject=CROP, match=None, image=None, verifier=verifier)
    assert [r.proof for r in ev2.records if r.index == CROP] == [()]
    report = check_chain(ev2)
    assert [(c.number, c.code) for c in report.failures] == [(3, "log.inclusion.mismatch")]


def test_bundle_from_another_log_with_the_same_name_is_an_error(
    tmp_path: Path, photos: list[Path], run_cli: Any
) -> None:
    """With no --trust-log-key, the local ledger (--db) of the bundle's log name is the
    anchor: a bundle of another log with that name is an error naming the local key."""
    for name in ("mine", "theirs"):
        led = Ledger.init(str(tmp_path / f"{name}.db"), origin="same.name/log")
        k = SigningKey.from_seed((name.encode() * 8)[:32])
        led.register_key(k.public, name)
        led.sign(photos[:1], k)
        led.close()
    bundle = tmp_path / "theirs.json"
    assert run_cli("--db", tmp_path / "theirs.db", "export", photos[0], "-o", bundle).exit_code == 0
    r = run_cli("--db", tmp_path / "mine.db", "verify", photos[0], "--bundle", bundle)
    assert r.exit_code == 3 and "not the local ledger's" in r.stderr
    # Its own log's ledger anchors it.
    r = run_cli("--db", tmp_path / "theirs.db", "verify", photos[0], "--bundle", bundle)
    assert r.exit_code == 0, r.output


def test_parent_image_with_bundle_is_a_usage_error(
    lenv: Any, photos: list[Path], run_cli: Any
) -> None:
    lenv.ledger.sign(photos[:1], lenv.alice)
    b = lenv.tmp / "b.json"
    assert run_cli("--db", lenv.db, "export", photos[0], "-o", b).exit_code == 0
    assert oct(b.stat().st_mode & 0o777) in ("0o644", "0o640", "0o600", "0o664")
    r = run_cli("--db", lenv.db, "verify", photos[0], "--bundle", b, "--parent-image", photos[0])
    assert r.exit_code == 2


def test_another_keys_self_revocation_does_not_disturb_verification(
    lenv: Any, photos: list[Path], run_cli: Any
) -> None:
    """Every key event goes into the evidence (the checkpoint commits to all of them), not
    only those of the chain's signers: desk revoking itself leaves alice's photo verified,
    from the ledger and from a bundle."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    lenv.ledger.revoke_key(lenv.desk.key_id, by=lenv.desk, now=FIXED_NOW)
    lenv.ledger.close()
    r = run_cli("--db", lenv.db, "verify", photos[0])
    assert r.exit_code == 0, r.stdout
    b = lenv.tmp / "b.json"
    assert run_cli("--db", lenv.db, "export", photos[0], "-o", b).exit_code == 0
    assert run_cli("--db", lenv.db, "verify", photos[0], "--bundle", b).exit_code == 0


def test_attack_revocation_stripped_from_bundle(
    tmp_path: Path, photos: list[Path], run_cli: Any
) -> None:
    """Whoever passes a bundle along deletes the revoke record from it: the bundle's own
    checkpoint commits to every key event, so the stripped bundle is tampered."""
    from conftest import FIXED_NOW
    from tamper_helpers import append_raw, capture_record

    from provenance.keys import SigningKey

    ledger = Ledger.init(str(tmp_path / "l.db"), origin="strip.test/log")
    bob = SigningKey.from_seed(b"b" * 32)
    ledger.register_key(bob.public, "bob", now=FIXED_NOW)
    ledger.sign(photos[:1], bob, now=FIXED_NOW)
    ledger.revoke_key(bob.key_id, now=FIXED_NOW)
    append_raw(ledger, [capture_record(photos[1], bob)])
    vkey = ledger.log_verifier.vkey()
    ledger.close()
    db = tmp_path / "l.db"
    out = tmp_path / "b.json"
    assert run_cli("--db", db, "export", photos[1], "-o", out).exit_code == 0
    obj = json.loads(out.read_text())
    assert any(r["record"]["statement"]["type"] == "revoke" for r in obj["records"])
    obj["records"] = [r for r in obj["records"] if r["record"]["statement"]["type"] != "revoke"]
    stripped = tmp_path / "stripped.json"
    stripped.write_text(json.dumps(obj))
    genuine = cli_verify(
        run_cli, tmp_path / "none.db", photos[1], "--bundle", out, "--trust-log-key", vkey
    )
    assert genuine.failed() == {2: "signingCredential.revoked"}
    forged = cli_verify(
        run_cli, tmp_path / "none.db", photos[1], "--bundle", stripped, "--trust-log-key", vkey
    )
    assert forged.failed() == {2: "keyEvents.incomplete"}
