"""Tests for provenance.checkpoint: signed notes, checkpoints, cosignatures, tlog-proofs.

Vectors: the C2SP signed-note worked example (tests/vectors, vendored from ../shared/vectors, from
C2SP/C2SP signed-note.md), the example checkpoint and cosignature lines from
tlog-checkpoint.md / tlog-cosignature.md, and golden files made by
tests/golden/make_checkpoint_golden.py from fixed seeds, compared byte for byte.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import json
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from provenance.checkpoint import (
    MAX_SIGNATURES,
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    TlogProof,
    _inclusion_proof_size,
    cosign,
    format_tlog_proof,
    note_key_id,
    open_checkpoint,
    parse_note,
    parse_tlog_proof,
    sign_checkpoint,
    sign_note,
    verify_cosignature,
    verify_note,
)
from provenance.errors import CheckpointError
from provenance.keys import SigningKey

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
# Vendored from ../shared/vectors (tests/vectors/README.md): a missing file fails, never skips.
VECTOR = HERE / "vectors" / "signed_note_example.json"
SHARED_VECTOR = HERE.parent.parent / "shared" / "vectors" / VECTOR.name
# The C2SP signed-note worked example, inlined so the test runs without ../shared.
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n\u2014 example.com/foo "
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
ORIGIN = "example.com/provenance/test-log"
LOG = NoteSigner(ORIGIN, SigningKey.from_seed(bytes(range(32))))
OTHER = NoteSigner(ORIGIN, SigningKey.from_seed(bytes(range(1, 33))))
WITNESS = NoteSigner("witness.example/w1", SigningKey.from_seed(bytes(range(32, 64))))
ROOT = hashlib.sha256(b"root").digest()


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "make_checkpoint_golden", GOLDEN / "make_checkpoint_golden.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def signed(size: int = 10, extensions: tuple[str, ...] = ()) -> str:
    return sign_checkpoint(Checkpoint(ORIGIN, size, ROOT, extensions), LOG)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- the C2SP signed-note vector -------------------------------------------------------------


def test_vendored_vector_equals_the_published_copy() -> None:
    if not SHARED_VECTOR.is_file():
        pytest.skip(f"no published copy at {SHARED_VECTOR} to compare with")
    assert VECTOR.read_bytes() == SHARED_VECTOR.read_bytes()


def test_c2sp_vector_file_matches_inlined_copy() -> None:
    vector = json.loads(VECTOR.read_text())
    assert vector["vkey"] == C2SP_VKEY
    assert vector["note"] == C2SP_NOTE
    assert vector["key_id_hex"] == "530d903a"


def test_c2sp_signed_note_vector() -> None:
    verifier = NoteVerifier.parse_vkey(C2SP_VKEY)
    assert verifier.name == "example.com/foo"
    assert verifier.sig_type == SIG_ED25519
    assert verifier.key_id.hex() == "530d903a"
    assert note_key_id("example.com/foo", verifier.public).hex() == "530d903a"
    assert verifier.vkey() == C2SP_VKEY
    text, signatures = parse_note(C2SP_NOTE)
    assert text == "This is an example message.\n"
    assert len(signatures) == 1
    assert signatures[0].name == "example.com/foo"
    assert signatures[0].key_id.hex() == "530d903a"
    assert len(signatures[0].signature) == 64
    assert verify_note(C2SP_NOTE, [verifier]) == text
    assert verify_note(C2SP_NOTE.encode("utf-8"), [verifier]) == text
    # The signature covers the text: any change to it fails.
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_note(C2SP_NOTE.replace("example message", "example massage"), [verifier])


def test_c2sp_checkpoint_and_cosignature_examples_parse() -> None:
    """The example checkpoint of tlog-checkpoint.md with the cosignature line of
    tlog-cosignature.md, whose timestamp is the spec's 'time 1679315147'."""
    note = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "\u2014 example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URY"
        "N7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZC"
        "B9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    text, signatures = parse_note(note)
    checkpoint = Checkpoint.parse(text)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.size == 20852163
    assert checkpoint.body() == text
    assert [s.name for s in signatures] == ["example.com/behind-the-sofa", "witness.example.com/w1"]
    cosignature = signatures[1].signature
    assert len(cosignature) == 8 + 64
    assert int.from_bytes(cosignature[:8], "big") == 1679315147


# --- golden files -----------------------------------------------------------------------------


def test_golden_files_are_reproduced_byte_for_byte() -> None:
    files = load_generator().golden_files()
    assert len(files) == 6
    for name, text in files.items():
        assert (GOLDEN / name).read_bytes() == text.encode("utf-8"), name


def test_golden_files_verify() -> None:
    gen = load_generator()
    log_vkey, witness_vkey = (GOLDEN / "checkpoint_vkeys.txt").read_text().splitlines()
    log = NoteVerifier.parse_vkey(log_vkey)
    witness = NoteVerifier.parse_vkey(witness_vkey)
    assert witness.sig_type == SIG_COSIGNATURE_V1
    assert log.public == SigningKey.from_seed(gen.LOG_SEED).public
    cosigned = (GOLDEN / "checkpoint_cosigned.txt").read_text()
    checkpoint = open_checkpoint(cosigned, log)
    assert (checkpoint.origin, checkpoint.size) == (gen.LOG_NAME, gen.SIZE)
    assert verify_cosignature(cosigned, witness) == gen.TIMESTAMP
    assert open_checkpoint((GOLDEN / "checkpoint_empty.txt").read_text(), log).size == 0
    extended = open_checkpoint((GOLDEN / "checkpoint_extensions.txt").read_text(), log)
    assert extended.extensions == ("ext one", "ext-two 2")
    proof = parse_tlog_proof((GOLDEN / "checkpoint_tlog_proof.txt").read_text())
    assert (proof.index, len(proof.proof), proof.extra) == (5, 14, b"provenance golden extra")
    assert proof.checkpoint_note == cosigned
    # The signed bytes are exactly the body, and the cosigned bytes are exactly the
    # tlog-cosignature/v1 message: check them with the raw keys.
    text, signatures = parse_note(cosigned)
    assert log.public.verify(signatures[0].signature, text.encode())
    message = f"cosignature/v1\ntime {gen.TIMESTAMP}\n".encode() + text.encode()
    assert signatures[1].signature[:8] == gen.TIMESTAMP.to_bytes(8, "big")
    assert witness.public.verify(signatures[1].signature[8:], message)


# --- signed notes -----------------------------------------------------------------------------


def test_sign_note_format() -> None:
    note = sign_note("hello\n", LOG)
    text, signatures = parse_note(note)
    assert text == "hello\n"
    assert note.startswith("hello\n\n\u2014 " + ORIGIN + " ")
    assert note.endswith("\n")
    assert signatures == [NoteSignature(ORIGIN, LOG.key_id, signatures[0].signature)]
    assert LOG.key_id == note_key_id(ORIGIN, LOG.key.public, SIG_ED25519)
    assert verify_note(note, [LOG.verifier()]) == "hello\n"


def test_note_text_may_contain_blank_lines() -> None:
    text = "first\n\nthird\n\n"
    note = sign_note(text, LOG)
    assert parse_note(note)[0] == text
    assert verify_note(note, [LOG.verifier()]) == text


def test_several_signers_and_unknown_keys() -> None:
    stranger = NoteSigner("stranger.example", SigningKey.generate())
    note = sign_note("text\n", [stranger, LOG, WITNESS])
    assert [s.name for s in parse_note(note)[1]] == ["stranger.example", ORIGIN, WITNESS.name]
    assert verify_note(note, [LOG.verifier()]) == "text\n"
    assert verify_note(note, [WITNESS.verifier(), LOG.verifier()]) == "text\n"
    # Same name, other key (so another key id): ignored, so nothing known verifies.
    with pytest.raises(CheckpointError, match="not signed by a known key"):
        verify_note(note, [OTHER.verifier()])
    with pytest.raises(CheckpointError, match="not signed by a known key"):
        verify_note(note, [])


def test_known_key_with_bad_signature_rejects_the_note() -> None:
    note = sign_note("text\n", [LOG, WITNESS])
    line = note.splitlines()[-1]
    prefix, encoded = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[10] ^= 0x01
    bad = note.replace(line, f"{prefix} {b64(bytes(blob))}")
    with pytest.raises(CheckpointError, match=r"bad signature by 'witness\.example/w1'"):
        verify_note(bad, [LOG.verifier(), WITNESS.verifier()])
    assert verify_note(bad, [LOG.verifier()]) == "text\n"  # the bad one is unknown here


def test_same_key_id_under_another_name_is_ignored() -> None:
    note = sign_note("text\n", LOG)
    renamed = note.replace(f"\u2014 {ORIGIN} ", "\u2014 example.com/renamed ")
    with pytest.raises(CheckpointError, match="not signed by a known key"):
        verify_note(renamed, [LOG.verifier()])


def test_sign_note_misuse() -> None:
    for text in ("", "no newline", "tab\there\n", "nul\0\n"):
        with pytest.raises(ValueError):
            sign_note(text, LOG)
    with pytest.raises(ValueError):
        sign_note("x\n", [])
    for name in ("", "has space", "has+plus", "tab\tname", "nbsp\u00a0name", "new\nline"):
        with pytest.raises(ValueError):
            NoteSigner(name, LOG.key)
    with pytest.raises(ValueError):
        NoteVerifier(ORIGIN, LOG.key.public, 0x02)
    with pytest.raises(TypeError):
        NoteVerifier(ORIGIN, b"\0" * 32)  # type: ignore[arg-type]


NOTE = sign_note("origin\n1\n" + b64(ROOT) + "\n", LOG)
SIG_LINE = NOTE.splitlines()[-1]
SIG_B64 = SIG_LINE.rsplit(" ", 1)[1]


@pytest.mark.parametrize(
    ("note", "message"),
    [
        ("", "no blank line"),
        ("text\n", "no blank line"),
        ("text\n\n", "no signature lines"),
        (NOTE[:-1], "no final newline"),
        (NOTE + "\n", "no signature lines"),
        (NOTE.replace("\n", "\r\n"), "control character"),
        (NOTE.replace("\u2014 ", "- "), "must start with"),
        (NOTE.replace("\u2014 ", "\u2014"), "must start with"),
        (NOTE.replace("\u2014 ", "\u2014  "), "bad key name"),
        (NOTE.replace(f" {SIG_B64}", f"  {SIG_B64}"), "bad base64"),
        (NOTE.replace(f" {SIG_B64}", ""), "bad key name"),
        (NOTE.replace(f" {SIG_B64}", " "), "bad base64"),
        (NOTE.replace(SIG_B64, SIG_B64.rstrip("=")), "bad base64"),
        (NOTE.replace(SIG_B64, SIG_B64 + "="), "bad base64"),
        (NOTE.replace(SIG_B64, SIG_B64[:-1] + "!"), "bad base64"),
        (NOTE.replace(SIG_B64, SIG_B64.replace("+", "-").replace("/", "_")), None),
        (NOTE.replace(SIG_B64, b64(b"abcd")), "too short"),
        (NOTE.replace(ORIGIN, "a+b"), "bad key name"),
        (NOTE + SIG_LINE + "\n", "two signatures"),
        (NOTE.replace("origin", "ori\x7fgin\x00"), "control character"),
        (NOTE.replace("origin", "\ud800"), "not valid UTF-8"),
        (NOTE + ("\u2014 x " + b64(bytes(68)) + "\n") * MAX_SIGNATURES, "more than 100"),
    ],
)
def test_parse_note_rejects(note: str, message: str | None) -> None:
    if message is None:  # the mutation may or may not be valid base64: never a crash
        with pytest.raises(CheckpointError):
            verify_note(note, [LOG.verifier()])
        return
    with pytest.raises(CheckpointError, match=message):
        parse_note(note)


def test_parse_note_bytes_and_limits() -> None:
    assert parse_note(NOTE.encode()) == parse_note(NOTE)
    with pytest.raises(CheckpointError, match="not valid UTF-8"):
        parse_note(NOTE.encode().replace(b"origin", b"\xff\xfe"))
    with pytest.raises(CheckpointError, match="larger than"):
        parse_note("x" * (1 << 20) + NOTE)
    sixteen = sign_note("text\n", [NoteSigner(f"k{i}", LOG.key) for i in range(16)])
    assert len(parse_note(sixteen)[1]) == 16  # the spec's minimum


def test_non_canonical_base64_trailing_bits_are_rejected() -> None:
    # "AAAAAB==" decodes like "AAAAAA==" but has non-zero trailing bits.
    assert base64.b64decode("AAAAAB==") == base64.b64decode("AAAAAA==")
    with pytest.raises(CheckpointError, match="bad base64"):
        parse_note("t\n\n\u2014 name AAAAAB==\n")


# --- verifier keys -----------------------------------------------------------------------------


def test_vkey_round_trip_both_types() -> None:
    for verifier in (LOG.verifier(), WITNESS.verifier(SIG_COSIGNATURE_V1)):
        assert NoteVerifier.parse_vkey(verifier.vkey()) == verifier
    assert WITNESS.verifier(SIG_COSIGNATURE_V1).key_id != WITNESS.verifier().key_id
    upper = C2SP_VKEY.replace("530d903a", "530D903A")
    assert NoteVerifier.parse_vkey(upper).key_id.hex() == "530d903a"


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        ("", "malformed vkey"),
        ("example.com/foo", "malformed vkey"),
        ("example.com/foo+530d903a", "malformed vkey"),
        ("example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "malformed"),
        ("example.com/foo+530d903g+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "malformed"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "bad key name"),
        ("exa mple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "bad key name"),
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "does not match"),
        ("example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "unsupported"),
        ("example.com/foo+530d903a+" + b64(b"\x01" + bytes(31)), "unsupported"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", "bad base64"),
        ("example.com/foo+530d903a+", "bad base64"),
    ],
)
def test_parse_vkey_rejects(vkey: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        NoteVerifier.parse_vkey(vkey)


# --- checkpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "checkpoint",
    [
        Checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()),
        Checkpoint(ORIGIN, 1, ROOT),
        Checkpoint(ORIGIN, 2**64 - 1, ROOT),
        Checkpoint(ORIGIN, 7, ROOT, ("ext a", "\u00e9xt b")),
        Checkpoint("origin with spaces and + plus", 7, ROOT),
    ],
)
def test_checkpoint_round_trip(checkpoint: Checkpoint) -> None:
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    assert Checkpoint.parse(checkpoint.body().encode()) == checkpoint
    note = sign_checkpoint(checkpoint, LOG)
    assert open_checkpoint(note, LOG.verifier(), origin=checkpoint.origin) == checkpoint


def test_checkpoint_body_exact() -> None:
    checkpoint = Checkpoint("example.com/log", 20852163, ROOT, ("x",))
    assert checkpoint.body() == f"example.com/log\n20852163\n{b64(ROOT)}\nx\n"


def test_open_checkpoint_checks_origin() -> None:
    note = sign_checkpoint(Checkpoint("example.com/elsewhere", 3, ROOT), LOG)
    with pytest.raises(CheckpointError, match=r"origin 'example\.com/elsewhere' is not"):
        open_checkpoint(note, LOG.verifier())
    assert open_checkpoint(note, LOG.verifier(), origin="example.com/elsewhere").size == 3


def test_checkpoint_construction_misuse() -> None:
    bad: list[Callable[[], Checkpoint]] = [
        lambda: Checkpoint("", 1, ROOT),
        lambda: Checkpoint("a\nb", 1, ROOT),
        lambda: Checkpoint(ORIGIN, -1, ROOT),
        lambda: Checkpoint(ORIGIN, 2**64, ROOT),
        lambda: Checkpoint(ORIGIN, 1, ROOT[:31]),
        lambda: Checkpoint(ORIGIN, 1, ROOT, ("",)),
        lambda: Checkpoint(ORIGIN, 1, ROOT, ("a\nb",)),
    ]
    for make in bad:
        with pytest.raises(ValueError):
            make()
    with pytest.raises(TypeError):
        Checkpoint(ORIGIN, True, ROOT)
    with pytest.raises(TypeError):
        Checkpoint(ORIGIN, 1, ROOT, "ext")  # type: ignore[arg-type]
    assert Checkpoint(ORIGIN, 1, bytearray(ROOT)).root == ROOT  # type: ignore[arg-type]


def resign(body: str) -> str:
    """Sign a (possibly malformed) body with the log key, so the parser must catch it."""
    return sign_note(body, LOG)


GOOD_BODY = f"{ORIGIN}\n10\n{b64(ROOT)}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\nten\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n010\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n00\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n+10\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n-1\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n 10\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n10 \n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n1_0\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n0x10\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n\u0661\u0660\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n{2**64}\n{b64(ROOT)}\n", "too large"),
        (f"{ORIGIN}\n{'9' * 40}\n{b64(ROOT)}\n", "not a plain decimal"),
        (f"{ORIGIN}\n10\n{b64(ROOT[:31])}\n", "root is 31 bytes"),
        (f"{ORIGIN}\n10\n{b64(ROOT + b'x')}\n", "root is 33 bytes"),
        (f"{ORIGIN}\n10\n{b64(ROOT).rstrip('=')}\n", "bad base64"),
        (f"{ORIGIN}\n10\n{b64(ROOT).replace('=', '')}==\n", "bad base64"),
        (f"{ORIGIN}\n10\n {b64(ROOT)}\n", "bad base64"),
        (f"{ORIGIN}\n10\n{b64(b'x' * 32).replace('e', '-')}\n", "bad base64"),
        (f"{ORIGIN}\n10\n", "fewer than three lines"),
        (f"\n10\n{b64(ROOT)}\n", "empty line"),
        (f"{GOOD_BODY}\n", "empty line"),
        (f"{GOOD_BODY}ext\n\next\n", "empty line"),
    ],
)
def test_malformed_checkpoint_bodies_are_rejected_even_when_signed(body: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        Checkpoint.parse(body)
    note = resign(body)
    with pytest.raises(CheckpointError):
        open_checkpoint(note, LOG.verifier())


def test_checkpoint_parse_needs_final_newline_and_no_crlf() -> None:
    with pytest.raises(CheckpointError, match="no final newline"):
        Checkpoint.parse(GOOD_BODY[:-1])
    with pytest.raises(CheckpointError, match="control character"):
        Checkpoint.parse(GOOD_BODY.replace("\n", "\r\n"))


def flip_signature_bit(note: str, line_index: int = -1, byte: int = 20) -> str:
    lines = note.split("\n")[:-1]
    prefix, encoded = lines[line_index].rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[byte] ^= 0x80
    lines[line_index] = f"{prefix} {b64(bytes(blob))}"
    return "\n".join(lines) + "\n"


GOOD = sign_checkpoint(Checkpoint(ORIGIN, 10, ROOT), LOG)
MUTATIONS: dict[str, str] = {
    "flipped bit in signature": flip_signature_bit(GOOD),
    "flipped bit in key id": flip_signature_bit(GOOD, byte=0),
    "wrong key name": GOOD.replace(f"\u2014 {ORIGIN} ", "\u2014 example.com/impostor "),
    "extra blank line before signatures": GOOD.replace("\n\n", "\n\n\n"),
    "extra blank line at end": GOOD + "\n",
    "missing final newline": GOOD[:-1],
    "changed size": GOOD.replace("\n10\n", "\n11\n"),
    "non-decimal size": GOOD.replace("\n10\n", "\nten\n"),
    "leading zero": GOOD.replace("\n10\n", "\n010\n"),
    "31-byte root": GOOD.replace(b64(ROOT), b64(ROOT[:31])),
    "bad base64 root": GOOD.replace(b64(ROOT), b64(ROOT).rstrip("=")),
    "bad base64 signature": GOOD.replace("=\n", "\n"),
    "CRLF": GOOD.replace("\n", "\r\n"),
    "duplicate signature line": GOOD + GOOD.splitlines()[-1] + "\n",
    "signature only": GOOD.split("\n\n")[1],
    "text only": GOOD.split("\n\n")[0] + "\n",
    "other log key": sign_checkpoint(Checkpoint(ORIGIN, 10, ROOT), OTHER),
    "extension added": GOOD.replace("\n\n", "\nextra line\n\n"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_every_mutation_class_is_rejected(mutation: str) -> None:
    assert open_checkpoint(GOOD, LOG.verifier()) == Checkpoint(ORIGIN, 10, ROOT)
    with pytest.raises(CheckpointError):
        open_checkpoint(MUTATIONS[mutation], LOG.verifier())


# --- cosignatures -----------------------------------------------------------------------------


def test_cosignature_round_trip() -> None:
    note = signed()
    line = cosign(note, WITNESS, 1_700_000_123)
    assert line.startswith(f"\u2014 {WITNESS.name} ") and line.endswith("\n")
    cosigned = note + line
    witness = WITNESS.verifier(SIG_COSIGNATURE_V1)
    assert verify_cosignature(cosigned, witness) == 1_700_000_123
    assert open_checkpoint(cosigned, LOG.verifier()).size == 10  # the log ignores it
    # A policy may list the witness alongside the log in verify_note.
    assert verify_note(cosigned, [witness]) == Checkpoint(ORIGIN, 10, ROOT).body()
    blob = base64.b64decode(line.split()[-1])
    assert blob[:4] == note_key_id(WITNESS.name, WITNESS.key.public, 0x04)
    assert len(blob) == 4 + 8 + 64
    message = b"cosignature/v1\ntime 1700000123\n" + Checkpoint(ORIGIN, 10, ROOT).body().encode()
    assert WITNESS.key.public.verify(blob[12:], message)


def test_cosignature_covers_extension_lines_and_timestamp() -> None:
    note = signed(extensions=("ext",))
    cosigned = note + cosign(note, WITNESS, 5)
    witness = WITNESS.verifier(SIG_COSIGNATURE_V1)
    assert verify_cosignature(cosigned, witness) == 5
    line = cosigned.splitlines()[-1]
    prefix, encoded = line.rsplit(" ", 1)
    blob = bytearray(base64.b64decode(encoded))
    blob[11] ^= 1  # timestamp 5 -> 4
    tampered = cosigned.replace(line, f"{prefix} {b64(bytes(blob))}")
    with pytest.raises(CheckpointError, match="bad cosignature"):
        verify_cosignature(tampered, witness)
    with pytest.raises(CheckpointError, match="bad signature"):
        verify_note(tampered, [witness])
    blob[4] = 0x80  # timestamp >= 2**63
    huge = cosigned.replace(line, f"{prefix} {b64(bytes(blob))}")
    with pytest.raises(CheckpointError, match="bad cosignature"):
        verify_cosignature(huge, witness)


def test_cosignature_errors() -> None:
    note = signed()
    witness = WITNESS.verifier(SIG_COSIGNATURE_V1)
    with pytest.raises(CheckpointError, match="no cosignature by"):
        verify_cosignature(note, witness)
    # A plain (type 0x01) signature by the witness key is not a cosignature.
    plain = note + sign_note(Checkpoint(ORIGIN, 10, ROOT).body(), WITNESS).split("\n\n")[1]
    with pytest.raises(CheckpointError, match="no cosignature by"):
        verify_cosignature(plain, witness)
    with pytest.raises(ValueError, match="SIG_COSIGNATURE_V1"):
        verify_cosignature(note, WITNESS.verifier())
    with pytest.raises(ValueError):
        cosign(note, WITNESS, -1)
    with pytest.raises(ValueError):
        cosign(note, WITNESS, 2**63)
    with pytest.raises(CheckpointError):
        cosign(sign_note("not a checkpoint\n", LOG), WITNESS, 1)
    short = note + f"\u2014 {WITNESS.name} {b64(witness.key_id + bytes(64))}\n"
    with pytest.raises(CheckpointError, match="bad cosignature"):
        verify_cosignature(short, witness)


# --- tlog-proof -------------------------------------------------------------------------------


def reference_proof_size(index: int, size: int) -> int:
    """RFC 9162 section 2.1.3.1 PATH(m, D[n]) length, straight from the recursion."""
    if size <= 1:
        return 0
    k = 1 << ((size - 1).bit_length() - 1)
    if index < k:
        return 1 + reference_proof_size(index, k)
    return 1 + reference_proof_size(index - k, size - k)


def test_inclusion_proof_size_matches_the_rfc_recursion() -> None:
    for size in range(1, 70):
        for index in range(size):
            assert _inclusion_proof_size(index, size) == reference_proof_size(index, size)
    assert _inclusion_proof_size(5, 12345) == reference_proof_size(5, 12345) == 14


def proof_for(index: int, size: int) -> list[bytes]:
    return [hashlib.sha256(bytes([i])).digest() for i in range(reference_proof_size(index, size))]


@pytest.mark.parametrize(
    ("index", "size", "extra"),
    [
        (0, 1, None),
        (0, 2, b"x"),
        (6, 7, None),
        (5, 12345, b"\x00\xff" * 40),
        (2**63, 2**64 - 1, None),
    ],
)
def test_tlog_proof_round_trip(index: int, size: int, extra: bytes | None) -> None:
    note = signed(size)
    proof = proof_for(index, size)
    text = format_tlog_proof(index, proof, note, extra)
    parsed = parse_tlog_proof(text)
    assert parsed == TlogProof(index, tuple(proof), note, extra)
    assert parsed.format() == text
    assert parse_tlog_proof(text.encode()) == parsed
    lines = text.split("\n")
    assert lines[0] == "c2sp.org/tlog-proof@v1"
    assert lines[1 if extra is None else 2] == f"index {index}"
    assert text.endswith("\n\n" + note)


def test_tlog_proof_exact_layout() -> None:
    note = signed(3)
    text = format_tlog_proof(2, [ROOT], note, b"hi")
    assert text == f"c2sp.org/tlog-proof@v1\nextra aGk=\nindex 2\n{b64(ROOT)}\n\n{note}"


VALID_PROOF = format_tlog_proof(6, proof_for(6, 7), signed(7), b"extra")
PROOF_HEAD, PROOF_NOTE = VALID_PROOF.split("\n\n", 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no blank line"),
        (PROOF_HEAD + "\n" + PROOF_NOTE, "no blank line|proof hash|bad base64"),
        (VALID_PROOF.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"), "first line"),
        (VALID_PROOF.replace("\nindex 6\n", "\nindex 06\n"), "not a plain decimal"),
        (VALID_PROOF.replace("\nindex 6\n", "\nindex +6\n"), "not a plain decimal"),
        (VALID_PROOF.replace("\nindex 6\n", "\nindex  6\n"), "not a plain decimal"),
        (VALID_PROOF.replace("\nindex 6\n", "\nindex 7\n"), "not below size 7"),
        (VALID_PROOF.replace("\nindex 6\n", "\nindex 5\n"), "wrong length"),
        (VALID_PROOF.replace("\nindex 6\n", "\n"), "missing index"),
        (VALID_PROOF.replace("\nindex 6\n", "\nIndex 6\n"), "missing index"),
        (VALID_PROOF.replace("extra ZXh0cmE=\n", "extra \n"), "bad base64"),
        (VALID_PROOF.replace("extra ZXh0cmE=\n", "extra ZXh0cmE\n"), "bad base64"),
        (VALID_PROOF.replace("extra ZXh0cmE=\nindex 6\n", "index 6\nextra ZXh0cmE=\n"), "proof"),
        (VALID_PROOF.replace("\n", "\r\n"), "control character"),
        (VALID_PROOF.replace(b64(proof_for(6, 7)[0]), b64(b"\0" * 31)), "31 bytes"),
        (VALID_PROOF.replace(b64(proof_for(6, 7)[0]) + "\n", ""), "wrong length"),
        (VALID_PROOF.replace("\n\n", "\n" + b64(b"\0" * 32) + "\n\n", 1), "wrong length"),
        (VALID_PROOF[:-1], "no final newline"),
        (VALID_PROOF + "\n", "no signature lines"),
        (VALID_PROOF.replace("\n7\n", "\n07\n"), "not a plain decimal"),
        (PROOF_HEAD + "\n\n" + "not a note\n", "no blank line"),
    ],
)
def test_parse_tlog_proof_rejects(text: str, message: str) -> None:
    with pytest.raises(CheckpointError, match=message):
        parse_tlog_proof(text)


def test_format_tlog_proof_misuse() -> None:
    note = signed(7)
    with pytest.raises(ValueError, match="not below"):
        format_tlog_proof(7, [], note)
    with pytest.raises(ValueError, match="wrong length"):
        format_tlog_proof(6, [], note)
    with pytest.raises(ValueError, match="32 bytes"):
        format_tlog_proof(6, [b"x"], note)
    with pytest.raises(ValueError, match="empty"):
        format_tlog_proof(6, proof_for(6, 7), note, b"")
    with pytest.raises(CheckpointError):
        format_tlog_proof(0, [], "not a note")


# --- fuzzing: untrusted input raises CheckpointError and nothing else -------------------------

SEEDS = [
    C2SP_NOTE,
    GOOD,
    signed(7, ("ext",)) + cosign(signed(7, ("ext",)), WITNESS, 9),
    VALID_PROOF,
    format_tlog_proof(0, [], signed(1)),
]
ALPHABET = st.sampled_from(
    [*"\n\n\n \u2014+=/0123456789abcAB\r\t\x00\u00e9\ud800", "index ", "extra ", "\u2014 "]
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = list(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        if not text:
            break
        pos = draw(st.integers(0, len(text) - 1))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "truncate", "duplicate"]))
        if kind == "delete":
            del text[pos : pos + draw(st.integers(1, 4))]
        elif kind == "insert":
            text[pos:pos] = draw(st.lists(ALPHABET, min_size=1, max_size=3))
        elif kind == "replace":
            text[pos] = draw(ALPHABET)
        elif kind == "truncate":
            del text[pos:]
        else:
            end = min(len(text), pos + draw(st.integers(1, 80)))
            text[end:end] = text[pos:end]
    return "".join(text)


def only_checkpoint_errors(text: str | bytes) -> None:
    verifiers = [
        NoteVerifier.parse_vkey(C2SP_VKEY),
        LOG.verifier(),
        WITNESS.verifier(SIG_COSIGNATURE_V1),
    ]
    calls: list[Callable[[], object]] = [
        lambda: parse_note(text),
        lambda: Checkpoint.parse(text),
        lambda: parse_tlog_proof(text),
        lambda: verify_note(text, verifiers),
        lambda: open_checkpoint(text, LOG.verifier()),
        lambda: verify_cosignature(text, WITNESS.verifier(SIG_COSIGNATURE_V1)),
    ]
    for call in calls:
        with contextlib.suppress(CheckpointError):
            call()


@settings(max_examples=400, deadline=None)
@given(text=mutated())
def test_fuzz_mutated_inputs(text: str) -> None:
    only_checkpoint_errors(text)
    only_checkpoint_errors(text.encode("utf-8", "surrogatepass"))


@settings(max_examples=300, deadline=None)
@given(text=st.lists(ALPHABET, max_size=40).map("".join) | st.text(max_size=60))
def test_fuzz_arbitrary_text(text: str) -> None:
    only_checkpoint_errors(text)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_fuzz_arbitrary_bytes(data: bytes) -> None:
    only_checkpoint_errors(data)


@settings(max_examples=100, deadline=None)
@given(vkey=st.text(max_size=80) | mutated())
def test_fuzz_parse_vkey(vkey: str) -> None:
    with contextlib.suppress(CheckpointError):
        NoteVerifier.parse_vkey(vkey)


@settings(max_examples=100, deadline=None)
@given(
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1),
        max_size=3,
    ),
)
def test_checkpoint_round_trip_property(size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(ORIGIN, size, root, tuple(extensions))
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
