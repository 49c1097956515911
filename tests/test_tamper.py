"""The tamper suite (issue 3, item 7): every attack on a real ledger, and how it is caught.

Each test builds on a copy of one ledger of corpus photographs (see
:func:`tamper_helpers.build_chain`: captures by alice, a crop/resize edit and a crop of that
edit by desk, a declared derivation), attacks the SQLite file directly with :mod:`sqlite3`
(dropping the append-only triggers where the attack needs UPDATE or DELETE), and asserts:

* ``log verify`` finds the damage: :meth:`provenance.ledger.Ledger.audit` is not ok and the
  CLI exits 1 (with the problem codes named, in the verifier's vocabulary);
* ``verify`` on an image whose chain the attack touches says ``tampered`` (exit 1) and
  names the failing check number and reason code.

Attacks on the image instead of the log (one pixel, a stranger, a re-encode, stripped
metadata) assert the verdict each one actually gets; attacks through the front door (a
declared edit borrowing a capture's history, a key record as a parent, the log key as a
signer) assert what refuses them and what catches them when forced in.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tamper_helpers import (
    CAPTURES,
    FIXED_NOW,
    LAYOUT,
    MALLORY_SEED,
    ORIGIN,
    SIZE,
    STRANGERS,
    Chain,
    CliOutcome,
    append_raw,
    build_chain,
    capture_record,
    cli_log_verify,
    cli_verify,
    damage_kinds,
    get_body,
    node_key,
    one_pixel_changed,
    raw_db,
    reencoded,
    set_body,
    strip_jpeg_metadata,
)

from provenance.audit import AuditResult
from provenance.checkpoint import parse_note
from provenance.edits import Crop
from provenance.errors import KeyStateError, LogIntegrityError, NotFoundError, TrustAnchorError
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.records import Action, KeyRef, Statement, parse_record, sign_statement

ROCKET, APPLE, BABOON = LAYOUT["rocket"], LAYOUT["apple"], LAYOUT["baboon"]
CROP, FRUITS, CROP2 = LAYOUT["crop"], LAYOUT["fruits"], LAYOUT["crop2"]


@pytest.fixture(scope="module")
def template(corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tamper") / "chain"
    build_chain(root, corpus)
    return root


@pytest.fixture
def chain(template: Path, tmp_path: Path) -> Iterator[Chain]:
    c = Chain.copy_of(template, tmp_path / "chain")
    yield c
    c.ledger.close()


def log_damaged(chain: Chain, run_cli: Any, *pinned: Path) -> AuditResult:
    """Assert the whole-log audit finds damage, in the library and through the CLI."""
    result = chain.ledger.audit(pinned=[p.read_text() for p in pinned])
    assert result.ok is False, "the audit missed the damage"
    extra = [a for p in pinned for a in ("--checkpoint", p)]
    out = cli_log_verify(run_cli, chain.db, *extra)
    assert out.code == 1 and out.report is not None and out.report["ok"] is False
    assert damage_kinds(out.report) == {p.code for p in result.problems}
    assert out.report["code"] == result.code
    return result


def tampered(out: CliOutcome) -> dict[int, str]:
    assert out.code == 1, (out.code, out.stderr, out.report)
    assert out.verdict == "tampered"
    return out.failed()


def pin_checkpoint(chain: Chain, run_cli: Any) -> Path:
    pin = chain.root / "pinned.checkpoint"
    res = run_cli("--db", chain.db, "log", "checkpoint", "--out", pin)
    assert res.exit_code == 0, res.stderr
    return pin


# --- the untouched ledger -------------------------------------------------------------------
ASSURANCE = {
    "rocket": ("complete", ["capture"]),
    "apple": ("complete", ["capture"]),
    "baboon": ("complete", ["capture"]),
    "hopper": ("complete", ["capture"]),
    "chelsea": ("complete", ["capture"]),
    # crop + resize with exact parameters: the sizes add up, but without the parent image
    # nothing was replayed
    "crop": ("declared", ["declared, plausible", "capture"]),
    # c2pa.edited: nothing in the records can check it
    "fruits": ("declared", ["declared", "capture"]),
    "crop2": ("declared", ["declared, plausible", "declared, plausible", "capture"]),
}


def test_intact_chain_verifies(chain: Chain, run_cli: Any) -> None:
    """Baseline: before any attack every member verifies and the log audits clean; each
    verdict says whether every edit was checked (assurance) and each step how."""
    for name, (assurance, steps) in ASSURANCE.items():
        out = cli_verify(run_cli, chain.db, chain.photo(name))
        assert (out.code, out.verdict, out.failed()) == (0, "verified", {}), name
        assert out.report is not None and out.report["index"] == LAYOUT[name]
        assert out.report["match"] == "sha256"
        assert out.report["assurance"] == assurance, name
        assert [s["check"] for s in out.report["chain"]] == steps, name
        assert out.report["declared_steps"] == sum(s != "capture" for s in steps)
        assert all(s["signer"].startswith("SHA256:") for s in out.report["chain"])
    assert chain.ledger.audit().ok
    log = cli_log_verify(run_cli, chain.db)
    assert log.code == 0 and log.report is not None and log.report["records"] == SIZE


# --- records --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("where", "old", "new", "expected"),
    [
        (
            "time",
            b"T12:00:00Z",
            b"T13:00:00Z",
            {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch"},
        ),
        (
            "claim",
            b"Alice Example",
            b"Alice Exbmple",
            {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch"},
        ),
        # The file's SHA-256 index row now points at a record that does not carry it (the
        # body was changed under it): the lookup reports the row, and the record fails
        # dataHash.mismatch, with the broken signature and inclusion.
        (
            "asset digest",
            b'"sha256":"c',
            b'"sha256":"d',
            {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch", 6: "dataHash.mismatch"},
        ),
        (
            "json syntax",
            b'{"sig"',
            b'["sig"',
            {1: "record.malformed", 3: "log.inclusion.mismatch", 6: "record.missing"},
        ),
    ],
)
def test_attack_one_byte_changed_in_stored_record(
    chain: Chain, run_cli: Any, where: str, old: bytes, new: bytes, expected: dict[int, str]
) -> None:
    with chain.raw("records") as con:
        body = get_body(con, ROCKET)
        assert body.count(old) == 1, where
        forged = body.replace(old, new)
        assert sum(a != b for a, b in zip(body, forged, strict=True)) == 1
        set_body(con, ROCKET, forged)
    result = log_damaged(chain, run_cli)
    assert result.first_bad_index == ROCKET
    assert {"record.idMismatch", "leaf.mismatch"} <= damage_kinds(result.to_json())
    if where == "json syntax":
        assert "record.malformed" in damage_kinds(result.to_json())
    else:
        assert "claimSignature.mismatch" in damage_kinds(result.to_json())
    if where == "asset digest":
        assert "index.mismatch" in damage_kinds(result.to_json())  # sha_key vs the body
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert tampered(out) == expected
    assert out.report is not None
    assert out.report["match"] == "sha256"
    if where == "json syntax":
        # A malformed record never breaks a lookup (it used to be an internal error for the
        # perceptual candidates): a re-encoded copy is not matched to it.
        copy = chain.root / "rocket-q85.jpg"
        reencoded(chain.photo("rocket"), copy, quality=85)
        assert cli_verify(run_cli, chain.db, copy).code == 4


@pytest.mark.parametrize("victim", ["alice", "rocket"])
def test_attack_one_byte_changed_in_signature(chain: Chain, run_cli: Any, victim: str) -> None:
    """A byte of the base64 signature inside the body: the rocket capture's own, or the log
    key's signature on alice's registration (every chain signed by alice depends on it)."""
    idx = LAYOUT[victim]
    with chain.raw("records") as con:
        body = get_body(con, idx)
        pos = body.index(b'"sig":"') + len(b'"sig":"') + 10
        forged = body[:pos] + (b"B" if body[pos : pos + 1] != b"B" else b"C") + body[pos + 1 :]
        parse_record(forged)  # still a well-formed record: only the signature is wrong
        set_body(con, idx, forged)
    result = log_damaged(chain, run_cli)
    assert result.first_bad_index == idx
    assert {"claimSignature.mismatch", "leaf.mismatch"} <= damage_kinds(result.to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert tampered(out) == {2: "claimSignature.mismatch", 3: "log.inclusion.mismatch"}
    assert out.report is not None
    problems = [
        (p["index"], p["code"])
        for c in out.report["checks"]
        if c["number"] == 2
        for p in c["problems"]
    ]
    assert [i for i, code in problems if code != "keyEvents.incomplete"] == [idx]
    # alice's altered registration no longer matches the key events the checkpoint commits to
    assert ((None, "keyEvents.incomplete") in problems) == (victim == "alice")


@pytest.mark.parametrize(("node", "kind"), [((0, 3), "leaf.mismatch"), ((2, 1), "node.mismatch")])
def test_attack_one_byte_changed_in_stored_node_hash(
    chain: Chain, run_cli: Any, node: tuple[int, int], kind: str
) -> None:
    """(0, 3) is apple's leaf and (2, 1) the subtree of leaves 4-7: both are on the path of
    the rocket capture's inclusion proof (leaf 2 of 10)."""
    key = node_key(*node)
    with chain.raw("nodes") as con:
        (h,) = con.execute("SELECT hash FROM nodes WHERE key = ?", (key,)).fetchone()
        con.execute(
            "UPDATE nodes SET hash = ? WHERE key = ?", (bytes([h[0] ^ 1]) + bytes(h[1:]), key)
        )
    result = log_damaged(chain, run_cli)
    assert kind in damage_kinds(result.to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert tampered(out) == {3: "log.inclusion.mismatch"}
    assert out.report is not None
    [check3] = [c for c in out.report["checks"] if c["number"] == 3]
    assert ROCKET in {p["index"] for p in check3["problems"]}


def test_attack_one_byte_changed_in_checkpoint_note(chain: Chain, run_cli: Any) -> None:
    """The latest checkpoint's signed note: its root line, then its signature line."""
    with chain.raw("checkpoints") as con:
        (note,) = con.execute("SELECT note FROM checkpoints WHERE size = ?", (SIZE,)).fetchone()
        lines = note.split("\n")
        lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]  # the root line
        con.execute("UPDATE checkpoints SET note = ? WHERE size = ?", ("\n".join(lines), SIZE))
    result = log_damaged(chain, run_cli)
    assert "checkpoint.signature.mismatch" in damage_kinds(result.to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("crop"))
    assert tampered(out) == {4: "checkpoint.signature.mismatch"}
    assert out.report is not None and out.report["checks"][2]["status"] == "skip"


def test_attack_one_byte_changed_in_checkpoint_signature(chain: Chain, run_cli: Any) -> None:
    with chain.raw("checkpoints") as con:
        (note,) = con.execute("SELECT note FROM checkpoints WHERE size = ?", (SIZE,)).fetchone()
        sig_at = note.index("\u2014 ")
        pos = note.index(" ", sig_at + 2) + 12
        forged = note[:pos] + ("B" if note[pos] != "B" else "C") + note[pos + 1 :]
        con.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (forged, SIZE))
    assert "checkpoint.signature.mismatch" in damage_kinds(log_damaged(chain, run_cli).to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert tampered(out) == {4: "checkpoint.signature.mismatch"}


def test_attack_one_byte_changed_in_checkpoint_root_column(chain: Chain, run_cli: Any) -> None:
    """The root *column* is an index of the signed note: the verifier never trusts it (it
    reads the note), so images still verify; the audit and the next append catch it."""
    with chain.raw("checkpoints") as con:
        (root,) = con.execute("SELECT root FROM checkpoints WHERE size = ?", (SIZE,)).fetchone()
        con.execute(
            "UPDATE checkpoints SET root = ? WHERE size = ?",
            (bytes([root[0] ^ 1]) + bytes(root[1:]), SIZE),
        )
    kinds = damage_kinds(log_damaged(chain, run_cli).to_json())
    assert {"checkpoint.rowMismatch", "checkpoint.inconsistent"} <= kinds
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert (out.code, out.verdict) == (0, "verified")
    # ...and the writer refuses to extend a log whose head row does not match its tree.
    res = run_cli(
        "--db", chain.db, "sign", chain.photo(STRANGERS[0]), "--key", chain.root / "alice.key"
    )
    assert res.exit_code == 3 and "refusing to append" in res.stderr


def test_attack_checkpoint_note_rolled_back_to_an_older_genuine_note(
    chain: Chain, run_cli: Any
) -> None:
    """The head row (size 10) gets the genuinely signed note of size 9: the verifier judges
    the proofs (built for size 10) against the note's tree, and they fail."""
    with chain.raw("checkpoints") as con:
        (older,) = con.execute(
            "SELECT note FROM checkpoints WHERE size = ?", (SIZE - 1,)
        ).fetchone()
        con.execute("UPDATE checkpoints SET note = ? WHERE size = ?", (older, SIZE))
    assert "checkpoint.rowMismatch" in damage_kinds(log_damaged(chain, run_cli).to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert tampered(out) == {3: "log.inclusion.mismatch"}
    assert out.report is not None and out.report["checkpoint"]["size"] == SIZE - 1


@pytest.mark.parametrize("with_index_rows", [False, True], ids=["record-row", "all-rows"])
def test_attack_record_deleted(chain: Chain, run_cli: Any, with_index_rows: bool) -> None:
    """The rocket capture (index 2) is deleted; with ``all-rows`` its asset row too, so the
    photograph itself is no longer found (unknown), but its edited children no longer
    verify."""
    with chain.raw("*") as con:
        con.execute("DELETE FROM records WHERE idx = ?", (ROCKET,))
        if with_index_rows:
            con.execute("DELETE FROM assets WHERE idx = ?", (ROCKET,))
    result = log_damaged(chain, run_cli)
    assert result.first_bad_index == ROCKET
    assert {"record.missing", "leaf.mismatch"} <= damage_kinds(result.to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    if with_index_rows:
        assert (out.code, out.verdict) == (4, "unknown")
    else:
        # Lookup finds the dangling asset row: the record it points at is gone (tampered).
        assert tampered(out) == {6: "record.missing"}
    for child in ("crop", "crop2"):
        assert tampered(cli_verify(run_cli, chain.db, chain.photo(child))) == {
            5: "ingredient.missing"
        }


def test_attack_record_deleted_but_its_asset_row_kept_is_tampered(
    chain: Chain, run_cli: Any
) -> None:
    with chain.raw("*") as con:
        con.execute("DELETE FROM records WHERE idx = ?", (ROCKET,))
    assert tampered(cli_verify(run_cli, chain.db, chain.photo("rocket"))) == {6: "record.missing"}


def test_attack_last_record_deleted(chain: Chain, run_cli: Any) -> None:
    """The newest record (crop2) and its index rows are removed, but not its nodes or the
    checkpoint that covers it: the photograph is no longer found (unknown, never verified),
    the rest of the log still proves against the signed head, and the audit sees a log
    shorter than its checkpoint."""
    with chain.raw("*") as con:
        con.execute("DELETE FROM records WHERE idx = ?", (CROP2,))
        con.execute("DELETE FROM assets WHERE idx = ?", (CROP2,))
        con.execute("DELETE FROM parents WHERE child = ?", (CROP2,))
    kinds = damage_kinds(log_damaged(chain, run_cli).to_json())
    assert kinds == {"checkpoint.missing", "nodes.count"}
    out = cli_verify(run_cli, chain.db, chain.photo("crop2"))
    assert (out.code, out.verdict) == (4, "unknown")


def _swap_rows(con: Any, table: str, key: str, a: int, b: int, cols: list[str]) -> None:
    ra = con.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {key} = ?", (a,)).fetchone()
    rb = con.execute(f"SELECT {', '.join(cols)} FROM {table} WHERE {key} = ?", (b,)).fetchone()
    sets = ", ".join(f"{c} = ?" for c in cols)
    con.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*ra, b))
    con.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?", (*rb, a))


@pytest.mark.parametrize("with_index_rows", [False, True], ids=["records", "records+assets"])
def test_attack_two_records_swapped(chain: Chain, run_cli: Any, with_index_rows: bool) -> None:
    """Apple (3) and baboon (4) trade places (bodies and id keys); with ``records+assets``
    the digest index is swapped too, so lookup finds each photograph's own (genuine,
    well-signed) record, at the wrong log position. With the records alone, the digest
    index points at a record that does not carry the digest: lookups confirm against the
    body and report the row (``tampered``: the index was rewritten); never verified, and
    the audit names the damage."""
    with chain.raw("*") as con:
        _swap_rows(con, "records", "idx", APPLE, BABOON, ["rid_key", "body"])
        if with_index_rows:
            _swap_rows(
                con, "assets", "idx", APPLE, BABOON, ["sha_key", "content_key", "phash64", "pdq"]
            )
    result = log_damaged(chain, run_cli)
    assert result.first_bad_index == APPLE
    assert "leaf.mismatch" in damage_kinds(result.to_json())
    # fruits (8) names apple, now stored at 4, while its parents row says 3; with the
    # records alone, the digest rows of 3 and 4 no longer match their records either.
    mismatched = {p.index for p in result.problems if p.code == "index.mismatch"}
    assert mismatched == ({FRUITS} if with_index_rows else {APPLE, BABOON, FRUITS})
    out = cli_verify(run_cli, chain.db, chain.photo("apple"))
    if with_index_rows:
        assert tampered(out) == {3: "log.inclusion.mismatch"}
        assert out.report is not None and out.report["index"] == BABOON
    else:
        assert (out.code, out.verdict) == (1, "tampered")
    # fruits.jpg was derived from apple: the parents row still says index 3, which now holds
    # baboon's record, so apple's id is not among the evidence.
    assert tampered(cli_verify(run_cli, chain.db, chain.photo("fruits"))) == {
        3: "log.inclusion.mismatch",
        5: "ingredient.missing",
    }


def test_attack_digest_index_points_a_stranger_at_a_record(chain: Chain, run_cli: Any) -> None:
    """apple's assets row gets the digest keys (8-byte prefixes) of a stranger's file and
    content, so an index lookup for the stranger lands on apple's record. Lookups confirm
    against the signed body, which does not carry those digests: the stranger is judged
    against apple's record and fails (tampered, never verified as apple). apple itself is
    then only found perceptually (similar); the audit names the index row."""
    from provenance.imaging import ImageProbe
    from provenance.store.schema import prefix_key

    stranger = chain.photo(STRANGERS[0])
    probe = ImageProbe.from_file(stranger)
    with chain.raw("assets") as con:
        con.execute(
            "UPDATE assets SET sha_key = ?, content_key = ? WHERE idx = ?",
            (
                prefix_key(bytes.fromhex(probe.sha256)),
                prefix_key(bytes.fromhex(probe.content())),
                APPLE,
            ),
        )
    result = log_damaged(chain, run_cli)
    assert [(p.index, p.code) for p in result.problems] == [(APPLE, "index.mismatch")]
    out = cli_verify(run_cli, chain.db, stranger)
    assert (out.code, out.verdict) == (1, "tampered")
    out = cli_verify(run_cli, chain.db, chain.photo("apple"))
    assert (out.code, out.verdict) == (5, "similar")
    assert out.report is not None and out.report["index"] == APPLE


# --- rewriting history with the real log key, or replacing the ledger -------------------------
def _truncate(chain: Chain, size: int) -> None:
    with chain.raw("*") as con:
        con.execute("DELETE FROM records WHERE idx >= ?", (size,))
        for table in ("assets", "keys", "revocations"):
            con.execute(f"DELETE FROM {table} WHERE idx >= ?", (size,))
        con.execute("DELETE FROM parents WHERE child >= ?", (size,))
        con.execute("DELETE FROM checkpoints WHERE size > ?", (size,))
        con.execute(
            "DELETE FROM nodes WHERE (((key & ((1 << 56) - 1)) + 1) << (key >> 56)) > ?", (size,)
        )


@pytest.mark.parametrize("new_records", [1, 5], ids=["shorter", "longer"])
def test_attack_log_truncated_and_rebuilt_with_the_real_log_key(
    chain: Chain, run_cli: Any, new_records: int
) -> None:
    """An insider holding the log key cuts the log back to 7 records, appends others and
    signs fresh checkpoints. The rebuilt log is self-consistent: only a checkpoint pinned
    before the attack catches it (in ``log verify`` and in ``verify``)."""
    pin = pin_checkpoint(chain, run_cli)
    _truncate(chain, 7)
    res = chain.ledger.sign(
        [chain.photo(n) for n in STRANGERS[:new_records]], chain.alice, now=FIXED_NOW
    )
    assert [r.status for r in res] == ["signed"] * new_records
    assert chain.ledger.size() == 7 + new_records
    # Without the pin nothing is wrong: the new checkpoints are genuinely signed.
    assert chain.ledger.audit().ok
    assert cli_log_verify(run_cli, chain.db).code == 0
    plain = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert (plain.code, plain.verdict) == (0, "verified")
    # With it, both commands fail.
    result = log_damaged(chain, run_cli, pin)
    assert damage_kinds(result.to_json()) == {"checkpoint.inconsistent"}
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"), "--checkpoint", pin)
    assert tampered(out) == {4: "checkpoint.inconsistent"}
    # The erased edit is not found: without the pin it looks like a stranger (unknown);
    # with the pin the rewrite shows even though nothing matches (tampered, check 4).
    gone = cli_verify(run_cli, chain.db, chain.photo("crop"))
    assert (gone.code, gone.verdict) == (4, "unknown")
    gone = cli_verify(run_cli, chain.db, chain.photo("crop"), "--checkpoint", pin)
    assert tampered(gone) == {4: "checkpoint.inconsistent"}


def test_attack_log_wiped_is_tampered_against_a_pin(
    lenv: Any, photos: list[Path], run_cli: Any
) -> None:
    """Every log table emptied (meta kept): without a pin the photograph is a stranger
    (unknown); with a checkpoint pinned before, the wipe shows (tampered, check 4)."""
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    pin = lenv.tmp / "pin.cp"
    assert run_cli("--db", lenv.db, "log", "checkpoint", "--out", pin).exit_code == 0
    lenv.ledger.close()
    with raw_db(lenv.db, "*") as con:
        for table in (
            "records",
            "assets",
            "parents",
            "nodes",
            "checkpoints",
            "keys",
            "revocations",
        ):
            con.execute(f"DELETE FROM {table}")
    lenv.ledger = Ledger.open(str(lenv.db))
    out = cli_verify(run_cli, lenv.db, photos[0], "--checkpoint", pin)
    assert tampered(out) == {4: "checkpoint.inconsistent"}
    assert cli_verify(run_cli, lenv.db, photos[0]).code == 4  # no pin: a stranger


def test_checkpoint_that_does_not_verify_is_never_printed_or_pinned(
    lenv: Any, run_cli: Any
) -> None:
    """A head checkpoint whose note was replaced must never be printed, pinned or exported
    as if it were the log's."""
    lenv.ledger.close()
    with raw_db(lenv.db, "checkpoints") as con:
        con.execute("UPDATE checkpoints SET note = 'garbage\n' WHERE size = 2")
    lenv.ledger = Ledger.open(str(lenv.db))
    out = lenv.tmp / "pin.cp"
    r = run_cli("--db", lenv.db, "log", "checkpoint", "--out", out)
    assert r.exit_code == 3 and "does not verify" in r.stderr and not out.exists()


def _forged_ledger(chain: Chain, where: Path) -> Path:
    """A fresh ledger (new log key, same origin) with the same photos re-signed by a key the
    forger registered under the name alice."""
    where.mkdir()
    forged = Ledger.init(str(where / "ledger.db"), origin=ORIGIN)
    try:
        mallory = SigningKey.from_seed(MALLORY_SEED)
        forged.register_key(mallory.public, "alice", now=FIXED_NOW)
        forged.sign([chain.photo(n) for n in CAPTURES], mallory, now=FIXED_NOW)
    finally:
        forged.close()
    return where / "ledger.db"


def test_attack_database_replaced_by_a_fresh_ledger_with_a_new_log_key(
    chain: Chain, run_cli: Any
) -> None:
    """Only the database file is swapped: Ledger refuses to open it, because its log key is
    not the one in <db>.logkey.pub (exit 3, for both commands: never 0)."""
    pin = pin_checkpoint(chain, run_cli)
    forged = _forged_ledger(chain, chain.root / "forge")
    chain.ledger.close()
    shutil.copyfile(forged, chain.db)
    for suffix in ("-wal", "-shm"):
        Path(str(chain.db) + suffix).unlink(missing_ok=True)
    for args in (
        ["verify", chain.photo("rocket")],
        ["log", "verify"],
        ["verify", chain.photo("rocket"), "--checkpoint", pin],
    ):
        res = run_cli("--db", chain.db, *args)
        assert res.exit_code == 3, args
        assert "the database was replaced or rewritten" in res.stderr
    chain.ledger = Ledger.open(str(forged))  # for the fixture's teardown


def test_attack_database_and_log_key_files_replaced(chain: Chain, run_cli: Any) -> None:
    """The database and <db>.logkey(.pub) are all swapped: the forged ledger is consistent
    with itself, so only the checkpoint pinned before the attack (signed by the real log
    key) exposes it. Since the trust-anchor rework that pin reads as a checkpoint of
    *another log* (same origin, another key): both commands refuse to judge (exit 3,
    naming both log keys) instead of saying ``tampered`` (exit 1). Either way: never 0."""
    pin = pin_checkpoint(chain, run_cli)
    forged = _forged_ledger(chain, chain.root / "forge")
    chain.ledger.close()
    for suffix in ("", ".logkey", ".logkey.pub"):
        shutil.copyfile(str(forged) + suffix, str(chain.db) + suffix)
    for suffix in ("-wal", "-shm"):
        Path(str(chain.db) + suffix).unlink(missing_ok=True)
    chain.ledger = Ledger.open(str(chain.db))
    plain = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert (plain.code, plain.verdict) == (0, "verified")  # nothing pinned: indistinguishable
    [real_sig] = parse_note(pin.read_text())[1]
    real_key, forged_key = real_sig.key_id.hex(), chain.ledger.log_verifier.key_id.hex()
    for out in (
        cli_log_verify(run_cli, chain.db, "--checkpoint", pin),
        cli_verify(run_cli, chain.db, chain.photo("rocket"), "--checkpoint", pin),
    ):
        assert out.code == 3, (out.code, out.stderr)
        assert real_key in out.stderr and forged_key in out.stderr and ORIGIN in out.stderr
    # The library audit, handed the pin anyway, refuses it the same way.
    with pytest.raises(TrustAnchorError):
        chain.ledger.audit(pinned=[pin.read_text()])


# --- keys -----------------------------------------------------------------------------------
def test_attack_record_signed_by_an_unregistered_key(chain: Chain, run_cli: Any) -> None:
    """A capture signed by a key that was never registered, appended through Store.append
    (bypassing Ledger's signer checks): it is in the log, properly included, but untrusted."""
    mallory = SigningKey.from_seed(MALLORY_SEED)
    photo = chain.photo(STRANGERS[1])
    [idx] = append_raw(chain.ledger, [capture_record(photo, mallory)])
    assert idx == SIZE
    result = log_damaged(chain, run_cli)
    assert [(p.index, p.code) for p in result.problems] == [(idx, "signingCredential.untrusted")]
    out = cli_verify(run_cli, chain.db, photo)
    assert tampered(out) == {2: "signingCredential.untrusted"}


def test_attack_record_re_signed_by_an_unregistered_key(chain: Chain, run_cli: Any) -> None:
    """The rocket capture's statement, re-signed in place by another key (DB rewritten)."""
    mallory = SigningKey.from_seed(MALLORY_SEED)
    with chain.raw("records") as con:
        rec = parse_record(get_body(con, ROCKET))
        set_body(con, ROCKET, sign_statement(rec.statement, mallory).canonical(), rid=True)
    kinds = damage_kinds(log_damaged(chain, run_cli).to_json())
    assert {"signingCredential.untrusted", "leaf.mismatch"} <= kinds
    out = cli_verify(run_cli, chain.db, chain.photo("rocket"))
    assert tampered(out) == {2: "signingCredential.untrusted", 3: "log.inclusion.mismatch"}


def test_attack_record_signed_with_a_key_after_its_revocation(
    lenv: Any, photos: list[Path], run_cli: Any
) -> None:
    """alice is revoked through the Ledger; a capture she signs afterwards is appended via
    Store.append directly (Ledger would refuse). Her earlier capture still verifies."""
    ledger = lenv.ledger
    [before] = ledger.sign([photos[0]], lenv.alice, now=FIXED_NOW)
    rev, _ = ledger.revoke_key(lenv.alice.key_id, reason="laptop stolen", now=FIXED_NOW)
    [idx] = append_raw(ledger, [capture_record(photos[1], lenv.alice)])
    assert before.index < rev < idx
    result = ledger.audit()
    assert [(p.index, p.code) for p in result.problems] == [(idx, "signingCredential.revoked")]
    assert cli_log_verify(run_cli, lenv.db).code == 1
    out = cli_verify(run_cli, lenv.db, photos[1])
    assert tampered(out) == {2: "signingCredential.revoked"}
    ok = cli_verify(run_cli, lenv.db, photos[0])
    assert (ok.code, ok.verdict) == (0, "verified")


def test_attack_revocation_index_row_deleted(lenv: Any, photos: list[Path], run_cli: Any) -> None:
    ledger = lenv.ledger
    ledger.revoke_key(lenv.alice.key_id, now=FIXED_NOW)
    append_raw(ledger, [capture_record(photos[1], lenv.alice)])
    ledger.close()
    with raw_db(lenv.db, "revocations") as con:
        con.execute("DELETE FROM revocations")
    lenv.ledger = Ledger.open(str(lenv.db))
    assert "index.mismatch" in {p.code for p in lenv.ledger.audit().problems}
    out = cli_verify(run_cli, lenv.db, photos[1])
    assert tampered(out) == {2: "keyEvents.incomplete"}


# --- parent links ---------------------------------------------------------------------------
def test_attack_parent_link_rewritten_in_statement_and_re_signed(
    chain: Chain, run_cli: Any
) -> None:
    """desk re-signs the crop's statement naming baboon as its parent (a valid signature by
    a registered key, lying about its parent), and the attacker rewrites the record, its id
    key and the parents row consistently. Signatures pass (2); what fails is that this
    record is not the one in the log (3), and, from the records alone, that the recorded
    crop box does not fit the baboon photograph (5: edit.implausible; before plausibility
    checks, check 5 passed)."""
    baboon_rid = chain.rid("baboon")
    with chain.raw("records", "parents") as con:
        rec = parse_record(get_body(con, CROP))
        st = rec.statement
        lie = Statement(
            type=st.type,
            time=st.time,
            asset=st.asset,
            parents=(baboon_rid,),
            actions=st.actions,
            claims=st.claims,
        )
        set_body(con, CROP, sign_statement(lie, chain.desk).canonical(), rid=True)
        con.execute("UPDATE parents SET parent = ? WHERE child = ?", (BABOON, CROP))
    result = log_damaged(chain, run_cli)
    assert result.first_bad_index == CROP
    assert "leaf.mismatch" in damage_kinds(result.to_json())
    out = cli_verify(run_cli, chain.db, chain.photo("crop"))
    assert tampered(out) == {3: "log.inclusion.mismatch", 5: "edit.implausible"}
    assert out.report is not None and "does not fit" in out.report["checks"][4]["detail"]
    assert out.report is not None
    assert [s["index"] for s in out.report["chain"]] == [CROP, BABOON]
    # The crop's own child named the genuine crop record: it now dangles.
    assert tampered(cli_verify(run_cli, chain.db, chain.photo("crop2")))[5] == (
        "ingredient.missing"
    )


def test_attack_parent_link_changed_in_parents_table(chain: Chain, run_cli: Any) -> None:
    """Index damage only: the parents row says the crop came from baboon, the signed
    record still names the rocket capture."""
    with chain.raw("parents") as con:
        con.execute("UPDATE parents SET parent = ? WHERE child = ?", (BABOON, CROP))
    result = log_damaged(chain, run_cli)
    assert [(p.index, p.code) for p in result.problems] == [(CROP, "index.mismatch")]
    assert tampered(cli_verify(run_cli, chain.db, chain.photo("crop"))) == {5: "ingredient.missing"}


# --- the image presented --------------------------------------------------------------------
def test_attack_image_file_altered_by_one_pixel(chain: Chain, run_cli: Any) -> None:
    """chelsea.png with one pixel changed (saved losslessly): no file or pixel match, only a
    perceptual one, so at most ``similar``: never verified."""
    altered = chain.root / "chelsea-1px.png"
    one_pixel_changed(chain.photo("chelsea"), altered)
    out = cli_verify(run_cli, chain.db, altered)
    assert (out.code, out.verdict) == (5, "similar")
    assert out.report is not None and out.report["match"] == "perceptual"
    assert out.report["index"] == LAYOUT["chelsea"]
    assert cli_log_verify(run_cli, chain.db).code == 0  # the log itself was not touched


def test_attack_different_photograph_presented(chain: Chain, run_cli: Any) -> None:
    out = cli_verify(run_cli, chain.db, chain.photo(STRANGERS[0]))
    assert (out.code, out.verdict) == (4, "unknown")


def test_attack_same_photograph_reencoded_at_quality_85(chain: Chain, run_cli: Any) -> None:
    copy = chain.root / "rocket-q85.jpg"
    reencoded(chain.photo("rocket"), copy, quality=85)
    out = cli_verify(run_cli, chain.db, copy)
    assert (out.code, out.verdict) == (5, "similar")
    assert out.report is not None and out.report["match"] == "perceptual"
    assert out.report["index"] == ROCKET
    assert out.report["distances"]["phash64"] <= 10
    assert out.report["distances"]["phash256"] <= 40


@pytest.mark.parametrize(
    ("name", "keep", "removed"),
    [("rocket", (0xE2,), {0xE0, 0xFE}), ("apple", (), {0xE0, 0xE1})],
    ids=["rocket-keeps-icc", "apple-exif"],
)
def test_attack_metadata_stripped(
    chain: Chain, run_cli: Any, name: str, keep: tuple[int, ...], removed: set[int]
) -> None:
    """JFIF (APP0), EXIF (APP1) and COM removed at the byte level (the colour profile
    kept): the file hash changes, what a viewer displays does not, so the image still
    verifies, by its content digest (it was a ``pixels`` match before digest set 2)."""
    data, gone = strip_jpeg_metadata(chain.photo(name).read_bytes(), keep=keep)
    assert set(gone) == removed
    stripped = chain.root / f"{name}-stripped.jpg"
    stripped.write_bytes(data)
    out = cli_verify(run_cli, chain.db, stripped)
    assert (out.code, out.verdict) == (0, "verified")
    assert out.report is not None and out.report["match"] == "content"
    assert out.report["index"] == LAYOUT[name]
    assert out.report["checks"][5]["code"] == "content.match"
    assert out.report["checks"][6]["code"] == "softBinding.match"  # hashes recomputed: equal


def test_attack_colour_profile_stripped_is_at_best_similar(chain: Chain, run_cli: Any) -> None:
    """The rocket carries an Adobe RGB (1998) profile: without it a viewer shows other
    colours, so the copy is a display change, perceptual at best (``similar``, exit 5;
    before digest set 2 it verified by its pixels)."""
    data, removed = strip_jpeg_metadata(chain.photo("rocket").read_bytes())
    assert set(removed) == {0xE0, 0xE2, 0xFE}
    stripped = chain.root / "rocket-no-icc.jpg"
    stripped.write_bytes(data)
    out = cli_verify(run_cli, chain.db, stripped)
    assert (out.code, out.verdict) == (5, "similar")
    assert out.report is not None and out.report["match"] == "perceptual"
    assert out.report["index"] == ROCKET


# --- children of tampered parents -------------------------------------------------------------
def test_attack_child_recorded_on_top_of_a_tampered_parent(chain: Chain, run_cli: Any) -> None:
    """Unlike C2PA (child still Trusted), altering an ancestor fails every descendant, though
    the descendants' own records are untouched."""
    with chain.raw("records") as con:
        body = get_body(con, ROCKET)
        set_body(con, ROCKET, body.replace(b"Alice Example", b"Alice Exbmple"))
    log_damaged(chain, run_cli)
    for child in ("crop", "crop2"):
        out = cli_verify(run_cli, chain.db, chain.photo(child))
        failed = tampered(out)
        assert failed == {
            2: "claimSignature.mismatch",
            3: "log.inclusion.mismatch",
            5: "ingredient.missing",
        }
        assert out.report is not None
        assert {
            p["index"] for c in out.report["checks"] if c["number"] in (2, 3) for p in c["problems"]
        } == {ROCKET}
    # A sibling chain that does not descend from the rocket capture is unaffected.
    assert cli_verify(run_cli, chain.db, chain.photo("fruits")).code == 0


def test_attack_revocation_hidden_by_rewriting_its_index_rows(
    lenv: Any, photos: list[Path], run_cli: Any
) -> None:
    """The revoke record stays in the log, but its ``rid_key`` is rewritten (so no lookup by
    record id finds it) and the revocations row deleted, so no index leads to it. (The
    ``kind``/``signer`` columns this attack used to rewrite are gone: both are read from
    the body.) The key events the checkpoint commits to no longer match what the database
    hands the verifier: tampered."""
    ledger = lenv.ledger
    rev, rid = ledger.revoke_key(lenv.alice.key_id, now=FIXED_NOW)
    append_raw(ledger, [capture_record(photos[1], lenv.alice)])
    ledger.close()
    with raw_db(lenv.db, "records", "revocations") as con:
        con.execute("UPDATE records SET rid_key = ? WHERE idx = ?", (12345, rev))
        con.execute("DELETE FROM revocations")
    lenv.ledger = Ledger.open(str(lenv.db))
    with pytest.raises(NotFoundError):
        lenv.ledger.record(rid)
    codes = {p.code for p in lenv.ledger.audit().problems}
    # the audit reads the revoke record itself: the capture after it is still revoked
    assert codes == {"record.idMismatch", "index.mismatch", "signingCredential.revoked"}
    out = cli_verify(run_cli, lenv.db, photos[1])
    assert tampered(out) == {2: "keyEvents.incomplete"}


def test_ledger_refuses_to_append_for_a_key_revoked_meanwhile(
    lenv: Any, photos: list[Path]
) -> None:
    """A revocation that lands while a bulk sign is running stops the sign at the next batch
    (checked under the write lock) instead of leaving post-revocation records in the log."""
    ledger = lenv.ledger
    done: list[Any] = []

    def revoke_after_first(res: Any) -> None:
        done.append(res)
        if len(done) == 1:
            other = Ledger.open(str(lenv.db))
            try:
                other.revoke_key(lenv.alice.key_id, now=FIXED_NOW)
            finally:
                other.close()

    with pytest.raises(KeyStateError, match="revoked"):
        ledger.sign(photos[:3], lenv.alice, batch_size=1, on_result=revoke_after_first)
    assert [r.status for r in done] == ["signed"]
    assert ledger.audit().ok


# --- through the front door: declared edits, key roles ---------------------------------------
def _brighter(src: Path, dst: Path, factor: float = 1.1) -> None:
    from PIL import ImageEnhance

    with Image.open(src) as im:
        ImageEnhance.Brightness(im.convert("RGB")).enhance(factor).save(dst, quality=95)


@pytest.mark.parametrize("action", ["c2pa.adjustedColor", "c2pa.color_adjustments"])
def test_attack_declared_colour_edit_borrows_a_captures_history(
    chain: Chain, run_cli: Any, action: str
) -> None:
    """Any registered signer can ``derive`` an unrelated photograph from alice's capture
    with a photometric action (issue 8, class 4). The record is genuinely signed and in the
    log, but the records show the child is not a colour change of its parent: tampered (it
    used to verify), and the whole-log audit reports it too."""
    stranger = chain.photo(STRANGERS[1])
    key = chain.root / "desk.key"
    derive = ["derive", chain.photo("apple"), stranger, "--key", key, "--action", action]
    res = run_cli("--db", chain.db, *derive, "--param", "brightness=1.1")
    assert res.exit_code == 0, res.output
    out = cli_verify(run_cli, chain.db, stranger)
    assert tampered(out) == {5: "edit.implausible"}
    assert out.report is not None and out.report["index"] == SIZE
    assert [(s["index"], s["check"], s["ok"]) for s in out.report["chain"]] == [
        (SIZE, "declared", False),
        (APPLE, "capture", True),
    ]
    assert out.report["assurance"] is None
    assert [p.code for p in chain.ledger.audit().problems] == ["edit.implausible"]


def test_declared_colour_edit_of_the_parent_itself_is_plausible(chain: Chain, run_cli: Any) -> None:
    """The honest case: apple, brightened. The step says "declared, plausible" with desk's
    key id, the verdict is verified with assurance "declared", and ``--require-replayed``
    turns that into exit 7."""
    graded = chain.root / "apple-graded.jpg"
    _brighter(chain.photo("apple"), graded)
    res = chain.ledger.derive(
        [str(chain.photo("apple"))],
        graded,
        chain.desk,
        [Action("c2pa.adjustedColor", {"brightness": 1.1})],
        now=FIXED_NOW,
    )
    assert (res.status, res.index) == ("signed", SIZE)
    out = cli_verify(run_cli, chain.db, graded)
    assert (out.code, out.verdict) == (0, "verified")
    assert out.report is not None and out.report["assurance"] == "declared"
    step = out.report["chain"][0]
    assert (step["check"], step["signer"], step["signer_name"]) == (
        "declared, plausible",
        chain.desk.key_id,
        "desk",
    )
    assert "perceptual distance" in step["check_detail"]
    strict = cli_verify(run_cli, chain.db, graded, "--require-replayed")
    assert (strict.code, strict.verdict) == (7, "verified")


@pytest.mark.parametrize(
    ("name", "parent_images", "code"),
    [
        ("rocket", (), 0),  # a capture: nothing to replay
        ("fruits", (), 7),  # c2pa.edited: declared only
        ("crop", (), 7),  # replayable, but no parent image given
        ("crop", ("rocket",), 0),
        ("crop2", ("rocket",), 7),  # the second edit's parent is missing
        ("crop2", ("rocket", "crop"), 0),
    ],
)
def test_require_replayed(
    chain: Chain, run_cli: Any, name: str, parent_images: tuple[str, ...], code: int
) -> None:
    """``verify --require-replayed`` exits 7 unless every edit in the chain was replayed
    (exit 6 is sign's conflict)."""
    extra = [a for p in parent_images for a in ("--parent-image", chain.photo(p))]
    out = cli_verify(run_cli, chain.db, chain.photo(name), "--require-replayed", *extra)
    assert (out.code, out.verdict) == (code, "verified")
    assert out.report is not None
    assert out.report["assurance"] == ("declared" if code else "complete")
    edits = [s["check"] for s in out.report["chain"] if s["type"] == "edit"]
    assert all(c == "replayed" for c in edits) == (code == 0), edits
    assert out.report["declared_steps"] == sum(c != "replayed" for c in edits)


def test_attack_declared_crop_whose_size_does_not_add_up(chain: Chain, run_cli: Any) -> None:
    """A declared crop box of 300x200 from the rocket, whose "child" is another picture of
    another size: the records alone refute it."""
    stranger = chain.photo(STRANGERS[2])
    res = chain.ledger.derive(
        [str(chain.photo("rocket"))],
        stranger,
        chain.desk,
        [Crop(10, 10, 310, 210).action()],
        now=FIXED_NOW,
    )
    assert res.status == "signed"
    out = cli_verify(run_cli, chain.db, stranger)
    assert tampered(out) == {5: "edit.implausible"}
    assert out.report is not None and "300x200" in out.report["checks"][4]["detail"]


def _edit_of_a_key_record(chain: Chain) -> Any:
    st = Statement(
        type="edit",
        time="2026-11-26T12:00:00Z",
        asset=capture_record(chain.photo(STRANGERS[3]), chain.desk).statement.asset,
        parents=(chain.rid("alice"),),
        actions=(Action("c2pa.edited", {}),),
    )
    return sign_statement(st, chain.desk)


def test_attack_key_record_as_a_parent(
    chain: Chain, run_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An edit naming alice's key record as its parent: a chain with no capture at its root
    (issue 8, class 5). The ledger refuses the parent, the store refuses the record under
    its lock; forced into the log anyway, verify fails it (check 5) and so does the audit."""
    with pytest.raises(NotFoundError, match="not an image"):
        chain.ledger.derive(
            [chain.rid("alice")],
            chain.photo(STRANGERS[3]),
            chain.desk,
            [Action("c2pa.edited", {})],
        )
    forged = _edit_of_a_key_record(chain)
    with pytest.raises(LogIntegrityError, match="not an image"):
        append_raw(chain.ledger, [forged])
    assert chain.ledger.size() == SIZE
    # Forced: the store is made to believe every record is a capture.
    from provenance.store import append as append_mod

    with monkeypatch.context() as m:
        m.setattr(append_mod, "record_kind", lambda body: "capture")
        [idx] = append_raw(chain.ledger, [forged])
    assert idx == SIZE
    out = cli_verify(run_cli, chain.db, chain.photo(STRANGERS[3]))
    assert tampered(out) == {5: "ingredient.notAsset"}
    assert out.report is not None and [s["index"] for s in out.report["chain"]] == [SIZE]
    result = log_damaged(chain, run_cli)
    assert [(p.index, p.code) for p in result.problems] == [(SIZE, "ingredient.notAsset")]


def test_attack_log_key_registered_as_a_signer(chain: Chain, run_cli: Any) -> None:
    """The log key registered as a signer (after which it could sign images, and the log
    key's own records would read as a signer's): refused by register_key and by the store
    under its lock; forced in through a raw append, both the key record and every image it
    signs are role failures."""
    log_key = chain.ledger.log_signer()
    with pytest.raises(KeyStateError, match="log key"):
        chain.ledger.register_key(log_key.public, "operator")
    st = Statement(
        type="key",
        time="2026-11-26T12:00:00Z",
        key=KeyRef(id=log_key.key_id, public=log_key.public.openssh(), name="operator"),
    )
    registration = sign_statement(st, log_key)
    with pytest.raises(KeyStateError, match="log key"):
        chain.ledger.append_records([registration])
    assert chain.ledger.size() == SIZE
    photo = chain.photo(STRANGERS[4])
    [reg, idx] = append_raw(chain.ledger, [registration, capture_record(photo, log_key)])
    result = log_damaged(chain, run_cli)
    # ...and the keys table holds a registration the log's records do not grant
    assert [(p.index, p.code) for p in result.problems] == [
        (reg, "signingCredential.role"),
        (idx, "signingCredential.role"),
        (None, "index.mismatch"),
    ]
    out = cli_verify(run_cli, chain.db, photo)
    assert tampered(out) == {2: "signingCredential.role"}
    assert out.report is not None
    assert {p["index"] for c in out.report["checks"] for p in c["problems"]} == {reg, idx}
