"""The Ledger facade and the store underneath: appends, lookups, frontier, atomicity."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXED_NOW, LedgerEnv
from sqlalchemy import event

from provenance import merkle
from provenance.errors import (
    KeyStateError,
    LedgerExistsError,
    LedgerNotFoundError,
    LogIntegrityError,
    NotFoundError,
)
from provenance.keys import SigningKey
from provenance.ledger import Ledger
from provenance.records import Action, parse_record
from provenance.store import Store


def test_sign_find_history(lenv: LedgerEnv, photos: list[Path]) -> None:
    res = lenv.ledger.sign(photos, lenv.alice, claims={"author": "A"}, now=FIXED_NOW)
    assert [r.status for r in res] == ["signed"] * len(photos)
    assert [r.index for r in res] == list(range(2, 2 + len(photos)))
    found = lenv.ledger.find(photos[2])
    assert [m.kind for m in found.matches] == ["sha256"]
    assert found.matches[0].record_id == res[2].record_id
    idx, rec = lenv.ledger.record(res[2].record_id)
    assert idx == res[2].index and rec.statement.claims == {"author": "A"}
    assert rec.statement.time == "2026-11-26T12:00:00Z"
    child = lenv.tmp / "child.png"
    from provenance.edits import Crop, Resize

    out = lenv.ledger.edit(
        photos[0], child, [Crop(0, 0, 200, 100), Resize(100, 50)], lenv.desk, now=FIXED_NOW
    )
    assert out.status == "signed" and child.exists()
    report = lenv.ledger.evidence().verify_record(str(child))
    assert [s.type for s in report.chain] == ["edit", "capture"]
    assert report.chain[1].record_id == res[0].record_id
    assert sorted(lenv.ledger.store.ancestry(out.index or 0)) == [res[0].index, out.index]


def test_dedupe_within_one_batch_and_across_batches(lenv: LedgerEnv, photos: list[Path]) -> None:
    twice = [photos[0], photos[1], photos[0]]
    res = lenv.ledger.sign(twice, lenv.alice, now=FIXED_NOW, batch_size=10)
    assert [r.status for r in res] == ["signed", "signed", "exists"]
    assert res[2].index == res[0].index
    size = lenv.ledger.size()
    res = lenv.ledger.sign(photos[:2], lenv.alice, now=FIXED_NOW)
    assert [r.status for r in res] == ["exists", "exists"]
    assert lenv.ledger.size() == size


def test_batches_write_one_checkpoint_each(lenv: LedgerEnv, photos: list[Path]) -> None:
    before = sum(1 for _ in lenv.ledger.store.iter_checkpoints())
    lenv.ledger.sign(photos, lenv.alice, now=FIXED_NOW, batch_size=2)
    after = list(lenv.ledger.store.iter_checkpoints())
    assert len(after) - before == (len(photos) + 1) // 2
    # every checkpoint is consistent with the next one
    for a, b in itertools.pairwise(after):
        proof = lenv.ledger.store.consistency_proof(a.size, b.size)
        merkle.verify_consistency(a.size, b.size, proof, a.root, b.root)


def test_unregistered_and_revoked_keys_cannot_sign(lenv: LedgerEnv, photos: list[Path]) -> None:
    stranger = SigningKey.from_seed(b"s" * 32)
    with pytest.raises(KeyStateError, match="not registered"):
        lenv.ledger.sign(photos[:1], stranger)
    lenv.ledger.revoke_key(lenv.alice.key_id, reason="test", now=FIXED_NOW)
    with pytest.raises(KeyStateError, match="revoked"):
        lenv.ledger.sign(photos[:1], lenv.alice)
    with pytest.raises(KeyStateError, match="already registered"):
        lenv.ledger.register_key(lenv.desk.public, "again")
    # the same key under the same name again is "already done", not an error
    assert lenv.ledger.register_key(lenv.desk.public, "desk")[2] is False
    with pytest.raises(KeyStateError, match="only revoke itself"):
        lenv.ledger.revoke_key(lenv.desk.key_id, by=stranger)
    idx, _ = lenv.ledger.revoke_key(lenv.desk.key_id, by=lenv.desk)
    assert lenv.ledger.key(lenv.desk.key_id).revoked_at == idx
    assert lenv.ledger.key("desk").revoked_at == idx  # by name too


def test_append_is_atomic_when_checkpoint_signing_fails(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    store = lenv.ledger.store
    counts = store.table_counts()

    def boom(size: int, root: bytes, previous: str | None, events: object) -> str:
        raise RuntimeError("signer died")

    from provenance.imaging import digest_file
    from provenance.ledger import new_record
    from provenance.records import Statement, sign_statement

    st = Statement(type="capture", time="2026-11-26T12:00:00Z", asset=digest_file(photos[0]))
    rec = sign_statement(st, lenv.alice)
    with pytest.raises(RuntimeError):
        store.append([new_record(rec)], boom)
    assert store.table_counts() == counts


def test_open_reads_only_the_frontier(lenv: LedgerEnv, photos: list[Path]) -> None:
    """Opening and appending never scan the log: node reads are O(log n) primary-key hits."""
    lenv.ledger.sign(photos, lenv.alice, now=FIXED_NOW, batch_size=1)
    n = lenv.ledger.size()
    lenv.ledger.close()
    statements: list[tuple[str, Any]] = []
    store = Store(str(lenv.db))

    @event.listens_for(store._reader, "before_cursor_execute")
    def capture(conn: Any, cursor: Any, sql: str, params: Any, context: Any, many: bool) -> None:
        statements.append((sql, params))

    cr = store.frontier()
    assert cr.root() == store.latest_checkpoint().root  # type: ignore[union-attr]
    node_queries = [(s, p) for s, p in statements if "FROM nodes" in s]
    assert len(node_queries) == 1
    assert len(node_queries[0][1]) == len(merkle.range_nodes(0, n)) <= n.bit_length()
    assert not any(
        "FROM records" in s and "WHERE" not in s and "max(" not in s for s, _ in statements
    )
    store.close()


def test_proofs_for_every_historic_size(lenv: LedgerEnv, photos: list[Path]) -> None:
    lenv.ledger.sign(photos, lenv.alice, now=FIXED_NOW, batch_size=1)
    n = lenv.ledger.size()
    store = lenv.ledger.store
    for size in range(1, n + 1):
        root = store.frontier(size).root()
        for i in range(size):
            body = store.record_at(i).body
            merkle.verify_inclusion(
                i, size, merkle.leaf_hash(body), store.inclusion_proof(i, size), root
            )
        for s1 in range(1, size):
            proof, r1, r2 = lenv.ledger.consistency(s1, size)
            assert r2 == root
            merkle.verify_consistency(s1, size, proof, r1, r2)
    with pytest.raises(NotFoundError):
        lenv.ledger.prove(2, size=2)  # record 2 is not in a tree of size 2


def test_init_refuses_existing_and_open_refuses_missing(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    Ledger.init(str(db)).close()
    with pytest.raises(LedgerExistsError):
        Ledger.init(str(db), log_key=str(tmp_path / "other.key"))
    with pytest.raises(LedgerNotFoundError):
        Ledger.open(str(tmp_path / "missing.db"))


def test_swapped_database_is_refused_by_the_log_key_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    Ledger.init(str(a)).close()
    Ledger.init(str(b)).close()
    shutil.copyfile(b, a)  # someone replaces ledger a with ledger b
    with pytest.raises(LogIntegrityError, match="replaced or rewritten"):
        Ledger.open(str(a))


def test_log_key_encrypted_with_env_passphrase(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROVENANCE_LOG_PASSPHRASE", "log secret")
    db = tmp_path / "enc.db"
    Ledger.init(str(db), kdf_rounds=1).close()
    assert b"aes256-ctr" in __import__("base64").b64decode(
        b"".join((tmp_path / "enc.db.logkey").read_bytes().splitlines()[1:-1])
    )
    with Ledger.open(str(db)) as led:
        led.register_key(SigningKey.from_seed(b"k" * 32).public, "k")
    monkeypatch.setenv("PROVENANCE_LOG_PASSPHRASE", "wrong")
    from provenance.errors import PassphraseError

    with Ledger.open(str(db)) as led, pytest.raises(PassphraseError):
        led.register_key(SigningKey.from_seed(b"j" * 32).public, "j")
    monkeypatch.delenv("PROVENANCE_LOG_PASSPHRASE")
    with Ledger.open(str(db)) as led:
        assert led.size() == 1  # readers need no passphrase


def test_perceptual_index_cache_is_incremental_and_self_checking(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    lenv.ledger.sign(photos[:3], lenv.alice, now=FIXED_NOW)
    from PIL import Image

    re = lenv.tmp / "re.jpg"
    Image.open(photos[1]).save(re, quality=60)
    found = lenv.ledger.find(re)
    assert found.matches and found.matches[0].kind == "perceptual"
    cache = lenv.db.with_name(lenv.db.name + ".phash.npz")
    assert cache.exists()
    lenv.ledger.sign(photos[3:], lenv.alice, now=FIXED_NOW)
    led = lenv.reopen()
    idx = led.perceptual_index()
    assert len(idx) == len(photos) and idx.covered == led.size()
    # a cache written by another ledger is detected (root mismatch) and rebuilt
    other = Ledger.init(str(lenv.tmp / "other.db"))
    other.register_key(lenv.alice.public, "alice")
    other.sign(photos[:1], lenv.alice)
    other.perceptual_index()
    other.close()
    shutil.copyfile(lenv.tmp / "other.db.phash.npz", cache)
    led = lenv.reopen()
    assert len(led.perceptual_index()) == len(photos)


def test_derive_requires_logged_parent(lenv: LedgerEnv, photos: list[Path]) -> None:
    with pytest.raises(NotFoundError, match="not in the log"):
        lenv.ledger.derive([str(photos[0])], photos[1], lenv.alice, [Action("c2pa.edited", {})])
    with pytest.raises(NotFoundError):
        lenv.ledger.derive(
            ["sha256:" + "0" * 64], photos[1], lenv.alice, [Action("c2pa.edited", {})]
        )


def test_verify_record_chain_through_ledger_verifier(lenv: LedgerEnv, photos: list[Path]) -> None:
    res = lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    child = lenv.tmp / "c.png"
    from provenance.edits import Rotate

    lenv.ledger.edit(photos[0], child, [Rotate(90)], lenv.desk, now=FIXED_NOW)
    rep = lenv.ledger.evidence().verify_record(str(child))
    assert rep.verdict == "verified"
    assert [s.index for s in rep.chain] == [res[0].index + 1, res[0].index]
    body = lenv.ledger.store.record_at(res[0].index).body
    assert parse_record(body).record_id == res[0].record_id


def test_another_signers_image_is_a_conflict_and_not_re_signed(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    first = lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)[0]
    size = lenv.ledger.size()
    again = lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)[0]
    assert (again.status, again.index) == ("exists", first.index)
    other = lenv.ledger.sign(photos[:1], lenv.desk, now=FIXED_NOW)[0]
    assert other.status == "conflict"
    assert other.signer == lenv.alice.key_id
    assert (other.signer_name, other.index) == ("alice", first.index)
    # the same picture with its metadata stripped (same displayed content) is a conflict too
    from tamper_helpers import strip_jpeg_metadata

    lenv.ledger.sign(photos[1:2], lenv.alice, now=FIXED_NOW)
    size = lenv.ledger.size()
    stripped = lenv.tmp / "stripped.jpg"  # apple.jpg has no colour profile: same display
    stripped.write_bytes(strip_jpeg_metadata(photos[1].read_bytes())[0])
    assert lenv.ledger.sign([stripped], lenv.desk, now=FIXED_NOW)[0].status == "conflict"
    assert lenv.ledger.sign([stripped], lenv.alice, now=FIXED_NOW)[0].status == "exists"
    assert lenv.ledger.size() == size
    # rocket.jpg carries Adobe RGB: without its profile it displays differently, a new image
    bare = lenv.tmp / "bare.jpg"
    bare.write_bytes(strip_jpeg_metadata(photos[0].read_bytes())[0])
    assert lenv.ledger.sign([bare], lenv.desk, now=FIXED_NOW)[0].status == "signed"


def test_key_names_are_unique_printable_and_the_log_key_never_signs(lenv: LedgerEnv) -> None:
    from provenance.errors import RecordError

    with pytest.raises(KeyStateError, match="already taken"):
        lenv.ledger.register_key(SigningKey.from_seed(b"n" * 32).public, "alice")
    for bad in ("", "x" * 65, "eve\n[ok ] #3 capture by alice", "\x1b[31mred", " pad"):
        with pytest.raises(RecordError, match="invalid key name"):
            lenv.ledger.register_key(SigningKey.from_seed(b"m" * 32).public, bad)
    with pytest.raises(KeyStateError, match="log key cannot be registered"):
        lenv.ledger.register_key(lenv.ledger.log_public, "operator")


def test_resolve_takes_an_index_a_record_id_or_an_image(
    lenv: LedgerEnv, photos: list[Path]
) -> None:
    res = lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)[0]
    assert res.index is not None and res.record_id is not None
    for ref in (str(res.index), res.record_id, str(photos[0])):
        assert lenv.ledger.resolve(ref) == res.index
    assert lenv.ledger.prove(str(res.index)).record_id == res.record_id
    with pytest.raises(NotFoundError):
        lenv.ledger.resolve("99")


def test_user_claims_cannot_use_the_reserved_prefix(lenv: LedgerEnv, photos: list[Path]) -> None:
    from provenance.errors import RecordError

    with pytest.raises(RecordError, match="reserved"):
        lenv.ledger.sign(photos[:1], lenv.alice, claims={"provenance.edit": "1"})
    lenv.ledger.sign(photos[:1], lenv.alice, now=FIXED_NOW)
    with pytest.raises(RecordError, match="reserved"):
        lenv.ledger.derive(
            [str(photos[0])],
            photos[1],
            lenv.desk,
            [Action("c2pa.cropped", {"left": 0, "top": 0, "right": 10, "bottom": 10})],
            claims={"provenance.edit": "1"},
        )
