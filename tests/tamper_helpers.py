"""Shared helpers for the tamper suite and the verifier/audit/bundle unit tests.

* :func:`build_chain` builds a small real ledger from corpus photographs (captures by
  ``alice``, edits and a declared derivation by ``desk``) and :class:`Chain` reopens a copy
  of it, so each test tampers with its own database without paying for the digests again;
* :func:`raw_db` and friends rewrite the SQLite file directly with :mod:`sqlite3`, dropping
  the append-only triggers where an attack needs UPDATE or DELETE;
* :class:`ToyLog` builds hand-made evidence for :func:`provenance.verify.check_chain`:
  records signed with fixed keys, an in-memory RFC 9162 tree (computed from the RFC text,
  not with :mod:`provenance.merkle`) and a checkpoint signed by a fixed log key.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import sqlite3
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from provenance.checkpoint import Checkpoint, NoteSigner, NoteVerifier, sign_checkpoint
from provenance.edits import Crop, Resize
from provenance.imaging import digest_file
from provenance.keys import SigningKey, save_signing_key
from provenance.ledger import Ledger, new_record
from provenance.records import Action, Asset, KeyRef, Record, Statement, sign_statement
from provenance.store import CheckpointSigner
from provenance.store.schema import prefix_key
from provenance.verify import Evidence, ImageDigests, PinnedCheckpoint, ProvenRecord

FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
ORIGIN = "test.provenance.local/log"
LOG_TABLES = ("records", "assets", "parents", "nodes", "checkpoints", "keys", "revocations")

ALICE_SEED = bytes(range(32))
DESK_SEED = bytes(range(1, 33))
MALLORY_SEED = bytes(range(7, 39))

# name in the chain -> corpus file; the captures are signed by alice in one batch.
CAPTURES = {
    "rocket": "skimage__rocket.jpg",
    "apple": "opencv-doc__apple.jpg",
    "baboon": "opencv-doc__baboon.jpg",
    "hopper": "matplotlib__grace_hopper.jpg",
    "chelsea": "skimage__chelsea.png",
}
DERIVED = "opencv-doc__fruits.jpg"  # declared as derived from apple
STRANGERS = (
    "opencv-doc__orange.jpg",
    "opencv-doc__home.jpg",
    "opencv-doc__stuff.jpg",
    "opencv-doc__left.jpg",
    "mahotas__luispedro.jpg",
)

# log layout built by build_chain
LAYOUT = {
    "alice": 0,
    "desk": 1,
    "rocket": 2,
    "apple": 3,
    "baboon": 4,
    "hopper": 5,
    "chelsea": 6,
    "crop": 7,
    "fruits": 8,
    "crop2": 9,
}
SIZE = 10
CHECKPOINT_SIZES = (1, 2, 7, 8, 9, 10)


# --- the real chain -------------------------------------------------------------------------
def build_chain(root: Path, corpus: Path) -> None:
    """Build the template ledger in ``root`` (closed when this returns).

    Log: 0 key alice, 1 key desk, 2-6 captures by alice (rocket, apple, baboon, hopper,
    chelsea; one batch), 7 rocket-crop.png = edit of rocket (crop + resize) by desk,
    8 fruits.jpg declared derived from apple by desk, 9 rocket-crop2.png = crop of 7.
    """
    photos = root / "photos"
    photos.mkdir(parents=True)
    for name in (*CAPTURES.values(), DERIVED, *STRANGERS):
        shutil.copyfile(corpus / name, photos / name)
    ledger = Ledger.init(str(root / "ledger.db"), origin=ORIGIN)
    try:
        alice, desk = SigningKey.from_seed(ALICE_SEED), SigningKey.from_seed(DESK_SEED)
        save_signing_key(alice, root / "alice.key", None)
        save_signing_key(desk, root / "desk.key", None)
        ledger.register_key(alice.public, "alice", now=FIXED_NOW)
        ledger.register_key(desk.public, "desk", now=FIXED_NOW)
        res = ledger.sign(
            [photos / n for n in CAPTURES.values()],
            alice,
            now=FIXED_NOW,
            claims={"author": "Alice Example"},
        )
        assert [r.index for r in res] == [2, 3, 4, 5, 6], res
        crop = ledger.edit(
            photos / CAPTURES["rocket"],
            photos / "rocket-crop.png",
            [Crop(100, 40, 540, 400), Resize(220, 180)],
            desk,
            now=FIXED_NOW,
        )
        fruits = ledger.derive(
            [str(photos / CAPTURES["apple"])],
            photos / DERIVED,
            desk,
            [Action("c2pa.edited", {"note": "declared; nothing in the records can check it"})],
            now=FIXED_NOW,
        )
        crop2 = ledger.edit(
            photos / "rocket-crop.png",
            photos / "rocket-crop2.png",
            [Crop(20, 20, 200, 160)],
            desk,
            now=FIXED_NOW,
        )
        assert (crop.index, fruits.index, crop2.index) == (7, 8, 9)
        assert ledger.size() == SIZE
    finally:
        ledger.close()


@dataclass
class Chain:
    """An open copy of the template ledger."""

    root: Path
    ledger: Ledger
    alice: SigningKey = field(default_factory=lambda: SigningKey.from_seed(ALICE_SEED))
    desk: SigningKey = field(default_factory=lambda: SigningKey.from_seed(DESK_SEED))

    @classmethod
    def copy_of(cls, template: Path, dst: Path) -> Chain:
        shutil.copytree(template, dst)
        return cls(dst, Ledger.open(str(dst / "ledger.db")))

    @property
    def db(self) -> Path:
        return self.root / "ledger.db"

    def photo(self, name: str) -> Path:
        """A chain member by short name (rocket, crop, fruits...) or a corpus file name."""
        special = {"crop": "rocket-crop.png", "crop2": "rocket-crop2.png", "fruits": DERIVED}
        return self.root / "photos" / special.get(name, CAPTURES.get(name, name))

    def rid(self, name: str) -> str:
        return self.ledger.record(LAYOUT[name])[1].record_id

    def body(self, idx: int) -> bytes:
        return self.ledger.store.record_at(idx).body

    def reopen(self) -> Ledger:
        self.ledger.close()
        self.ledger = Ledger.open(str(self.db))
        return self.ledger

    @contextmanager
    def raw(self, *drop: str) -> Iterator[sqlite3.Connection]:
        """Close the ledger, open the file with sqlite3 (dropping triggers), reopen after."""
        self.ledger.close()
        try:
            with raw_db(self.db, *drop) as con:
                yield con
        finally:
            self.ledger = Ledger.open(str(self.db))


@contextmanager
def raw_db(db: Path, *drop: str) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to a ledger file, committed on exit.

    ``drop`` names tables whose append-only triggers are dropped first (``"*"``: all).
    """
    con = sqlite3.connect(db)
    try:
        for table in LOG_TABLES if "*" in drop else drop:
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        yield con
        con.commit()
    finally:
        con.close()


def node_key(level: int, index: int) -> int:
    return level << 56 | index


def flip_bit(data: bytes, pos: int, bit: int = 0) -> bytes:
    b = bytearray(data)
    b[pos] ^= 1 << bit
    return bytes(b)


def set_body(con: sqlite3.Connection, idx: int, body: bytes, *, rid: bool = False) -> None:
    """Replace a stored record body (and, with ``rid``, its id key column to match)."""
    if rid:
        con.execute(
            "UPDATE records SET body = ?, rid_key = ? WHERE idx = ?",
            (body, prefix_key(hashlib.sha256(body).digest()), idx),
        )
    else:
        con.execute("UPDATE records SET body = ? WHERE idx = ?", (body, idx))


def get_body(con: sqlite3.Connection, idx: int) -> bytes:
    return bytes(con.execute("SELECT body FROM records WHERE idx = ?", (idx,)).fetchone()[0])


def checkpoint_signer(ledger: Ledger) -> CheckpointSigner:
    """Sign checkpoints with the ledger's real log key, as Store.append expects."""
    return ledger._checkpoint_signer()


def capture_record(
    path: Path, key: SigningKey, *, claims: dict[str, str] | None = None, now: datetime = FIXED_NOW
) -> Record:
    st = Statement(
        type="capture",
        time=_time(now),
        asset=digest_file(path),
        claims=claims or {},
    )
    return sign_statement(st, key)


def append_raw(ledger: Ledger, records: Sequence[Record]) -> list[int]:
    """Append through Store.append, bypassing every check Ledger makes about signers."""
    res = ledger.store.append(
        [new_record(r) for r in records], checkpoint_signer(ledger), require_signers=False
    )
    return res.indices


def _time(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- images ---------------------------------------------------------------------------------
def one_pixel_changed(src: Path, dst: Path) -> None:
    """Decode ``src``, change one pixel, save losslessly as PNG to ``dst``."""
    with Image.open(src) as im:
        img = im.convert("RGB")
    r, g, b = img.getpixel((10, 10))  # type: ignore[misc]
    img.putpixel((10, 10), ((r + 128) % 256, g, b))
    img.save(dst, format="PNG")


def reencoded(src: Path, dst: Path, quality: int = 85) -> None:
    with Image.open(src) as im:
        im.convert("RGB").save(dst, format="JPEG", quality=quality)


def strip_jpeg_metadata(data: bytes, *, keep: Sequence[int] = ()) -> tuple[bytes, list[int]]:
    """Remove every APPn (0xE0-0xEF) and COM (0xFE) segment at the byte level, except the
    markers in ``keep`` (``0xE2`` keeps the ICC profile).

    Returns the new bytes and the markers removed.
    """
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    out, removed, i = bytearray(b"\xff\xd8"), [], 2
    while True:
        assert data[i] == 0xFF, f"bad marker at {i}"
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: the rest is entropy-coded data
            out += data[i:]
            return bytes(out), removed
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        segment = data[i : i + 2 + length]
        if (0xE0 <= marker <= 0xEF or marker == 0xFE) and marker not in keep:
            removed.append(marker)
        else:
            out += segment
        i += 2 + length


# --- CLI ------------------------------------------------------------------------------------
@dataclass
class CliOutcome:
    code: int
    report: dict[str, Any] | None
    stderr: str

    @property
    def verdict(self) -> str | None:
        return None if self.report is None else self.report.get("verdict")

    def failed(self) -> dict[int, str]:
        """Failing check number -> its (first) reason code."""
        assert self.report is not None
        return {c["number"]: c["code"] for c in self.report["checks"] if c["status"] == "fail"}

    def codes(self, number: int) -> set[str]:
        """Every problem code reported under check ``number``."""
        assert self.report is not None
        [check] = [c for c in self.report["checks"] if c["number"] == number]
        return {p["code"] for p in check["problems"]}


def cli_verify(run_cli: Any, db: Path, image: Path, *extra: Any) -> CliOutcome:
    res = run_cli("--db", db, "verify", image, "--json", *extra)
    report = json.loads(res.stdout) if res.stdout.strip() else None
    if report is not None:
        assert report["exit_code"] == res.exit_code
    return CliOutcome(res.exit_code, report, res.stderr)


def cli_log_verify(run_cli: Any, db: Path, *extra: Any) -> CliOutcome:
    res = run_cli("--db", db, "log", "verify", "--json", *extra)
    report = json.loads(res.stdout) if res.stdout.strip() else None
    return CliOutcome(res.exit_code, report, res.stderr)


def damage_kinds(report: dict[str, Any]) -> set[str]:
    return {p["code"] for p in report["problems"]}


# --- hand-built evidence ----------------------------------------------------------------------
def mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH over leaf *inputs* (section 2.1.1)."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((n - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 PATH(m, D[n]) (section 2.1.3.1)."""
    n = len(leaves)
    if n == 1:
        return []
    k = 1 << ((n - 1).bit_length() - 1)
    if m < k:
        return [*path(m, leaves[:k]), mth(leaves[k:])]
    return [*path(m - k, leaves[k:]), mth(leaves[:k])]


def subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 9162 SUBPROOF(m, D[n], b) (section 2.1.4.1)."""
    n = len(leaves)
    if m == n:
        return [] if b else [mth(leaves)]
    k = 1 << ((n - 1).bit_length() - 1)
    if m <= k:
        return [*subproof(m, leaves[:k], b), mth(leaves[k:])]
    return [*subproof(m - k, leaves[k:], False), mth(leaves[:k])]


def toy_asset(
    tag: str,
    *,
    phash64: str = "0f0f0f0f0f0f0f0f",
    phash256: str | None = None,
    pdq: str = "5a" * 32,
    width: int = 64,
    height: int = 48,
    frames: int = 1,
    digests: int = 2,
) -> Asset:
    """A made-up asset; ``digests=1`` gives a digest-set-1 (legacy, ``pixels``) asset."""
    h = hashlib.sha256(tag.encode()).hexdigest()
    if digests == 1:
        return Asset(
            sha256=h,
            pixels=hashlib.sha256(b"px" + tag.encode()).hexdigest(),
            phash64=phash64,
            phash256=phash256 or "3c" * 32,
            width=width,
            height=height,
            format="PNG",
            digests=1,
        )
    return Asset(
        sha256=h,
        content=hashlib.sha256(b"content" + tag.encode()).hexdigest(),
        phash64=phash64,
        phash256=phash256 or "3c" * 32,
        pdq=pdq,
        width=width,
        height=height,
        frames=frames,
        format="PNG",
    )


def with_bits_flipped(hex_value: str, n: int) -> str:
    """``hex_value`` with its ``n`` lowest bits flipped (a Hamming distance of exactly n)."""
    bits = len(hex_value) * 4
    return format(int(hex_value, 16) ^ ((1 << n) - 1), f"0{bits // 4}x")


class ToyLog:
    """A hand-built log: records at chosen indices, proofs, a signed checkpoint.

    Fixed keys (seeded) and a fixed clock make every byte deterministic.
    """

    def __init__(self, origin: str = "toy.provenance.local/log") -> None:
        self.origin = origin
        self.log_key = SigningKey.from_seed(b"L" * 32)
        self.alice = SigningKey.from_seed(b"A" * 32)
        self.desk = SigningKey.from_seed(b"D" * 32)
        self.bodies: list[bytes] = []
        self.clock = 0

    # building records ---------------------------------------------------------------------
    def _now(self) -> str:
        self.clock += 1
        return f"2026-01-01T00:{self.clock // 60:02d}:{self.clock % 60:02d}Z"

    def append(self, body: bytes | Record) -> int:
        self.bodies.append(body.canonical() if isinstance(body, Record) else body)
        return len(self.bodies) - 1

    def key_record(self, key: SigningKey, name: str, *, signer: SigningKey | None = None) -> Record:
        st = Statement(
            type="key",
            time=self._now(),
            key=KeyRef(id=key.key_id, public=key.public.openssh(), name=name),
        )
        return sign_statement(st, signer or self.log_key)

    def revoke_record(self, key: SigningKey, *, signer: SigningKey | None = None) -> Record:
        st = Statement(
            type="revoke", time=self._now(), key=KeyRef(id=key.key_id), claims={"reason": "test"}
        )
        return sign_statement(st, signer or self.log_key)

    def capture(self, tag: str, key: SigningKey | None = None, **asset: Any) -> Record:
        st = Statement(type="capture", time=self._now(), asset=toy_asset(tag, **asset))
        return sign_statement(st, key or self.alice)

    def edit(
        self,
        tag: str,
        parents: Sequence[Record | str],
        key: SigningKey | None = None,
        *,
        actions: Sequence[Action] = (Action("c2pa.cropped", {"left": 1}),),
        claims: dict[str, str] | None = None,
        **asset: Any,
    ) -> Record:
        """An edit record; the default action is a crop without exact parameters (declared
        only: nothing in the records can check it)."""
        ids = tuple(p if isinstance(p, str) else p.record_id for p in parents)
        st = Statement(
            type="edit",
            time=self._now(),
            asset=toy_asset(tag, **asset),
            parents=ids,
            actions=tuple(actions),
            claims=claims or {},
        )
        return sign_statement(st, key or self.desk)

    def register_signers(self) -> None:
        self.append(self.key_record(self.alice, "alice"))
        self.append(self.key_record(self.desk, "desk"))

    # evidence -----------------------------------------------------------------------------
    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self.origin, self.log_key.public)

    def checkpoint(
        self, size: int | None = None, *, key: SigningKey | None = None, origin: str | None = None
    ) -> str:
        size = len(self.bodies) if size is None else size
        origin = origin or self.origin
        cp = Checkpoint(origin, size, mth(self.bodies[:size]))
        return sign_checkpoint(cp, NoteSigner(origin, key or self.log_key))

    def proven(self, idx: int, size: int | None = None) -> ProvenRecord:
        size = len(self.bodies) if size is None else size
        return ProvenRecord(idx, self.bodies[idx], tuple(path(idx, self.bodies[:size])))

    def pinned(self, size: int) -> PinnedCheckpoint:
        n = len(self.bodies)
        proof = tuple(subproof(size, self.bodies, True)) if 0 < size < n else ()
        return PinnedCheckpoint(self.checkpoint(size), proof)

    def image_of(self, rec: Record, **changes: Any) -> ImageDigests:
        asset = rec.statement.asset
        assert asset is not None
        values: dict[str, Any] = {
            "sha256": asset.sha256,
            "content": asset.binding,
            "phash64": asset.phash64,
            "phash256": asset.phash256,
            "pdq": asset.pdq,
        }
        values.update(changes)
        return ImageDigests(**values)

    def evidence(
        self,
        subject: int,
        *,
        match: str | None = "sha256",
        image: ImageDigests | None = None,
        indices: Sequence[int] | None = None,
        records: Sequence[ProvenRecord] | None = None,
        **kw: Any,
    ) -> Evidence:
        if records is None:
            wanted = range(len(self.bodies)) if indices is None else indices
            records = [self.proven(i) for i in wanted]
        kw.setdefault("checkpoint", self.checkpoint())
        kw.setdefault("log_key", self.verifier)
        return Evidence(
            subject=subject,
            match=match,  # type: ignore[arg-type]
            records=tuple(records),
            image=image,
            **kw,
        )


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (32, 24)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()
