"""Inputs of the benchmarks: photographs, distinct JPEG sets, keys and synthetic ledgers.

Everything slow to make is cached under the cache folder (``$PROVENANCE_BENCH_CACHE``,
default ``/tmp/provenance-bench``), keyed by size and by :data:`CACHE_VERSION` plus the
ledger schema revision, and published with an atomic rename so an interrupted build is
never reused.

Synthetic ledgers: record 0 registers the bench signer key (signed by the log key); then
``n - 6`` capture records with random digests, each really signed by the bench key
(Ed25519 over its canonical statement), appended with :meth:`Store.append` in batches;
then a real chain of depth 5 (a capture and four declared edits of real 12 MP JPEGs, the
last being the baseline 12 MP JPEG), so a ledger of size n has exactly n records. The
canonical bytes come from a fixed template checked byte for byte against the library
(:func:`check_template`) and every build is spot-checked by ``parse_record``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import Ctx

CACHE_VERSION = 3  # ledgers and pymerkle trees (3: digest set 2, tone-edit chain)
IMAGES_VERSION = 2  # generated photographs and image sets (2: tone-edit chain)
CHAIN_LEN = 5
KEY_SEED = bytes(range(7, 39))
ORIGIN = "bench.provenance.local/log"
FIXED_TIME = "2026-11-26T12:00:00Z"
DRAGONFLY = "lomiri-wallpapers-16.04__Dragonfly_by_Bolly.jpg"
KLEIBER = "lomiri-wallpapers-20.04__Kleiber_by_Lukas_Baubkus.jpg"
SMALL_SOURCES = (
    "mate-backgrounds__Aqua.jpg",
    "mate-backgrounds__Garden.jpg",
    "mate-backgrounds__LadyBird.jpg",
    "mate-backgrounds__TwoWings.jpg",
    "mate-backgrounds__YellowFlower.jpg",
    "mate-backgrounds__Wood.jpg",
)

STATEMENT_TEMPLATE = (
    '{"actions":[],"asset":{"content":"%s","digests":2,"format":"JPEG","frames":1,'
    '"height":3000,"pdq":"%s","phash256":"%s","phash64":"%s","sha256":"%s","width":4000},'
    '"claims":{},"parents":[],"time":"' + FIXED_TIME + '","type":"capture","v":1}'
)
RECORD_TEMPLATE = '{"sig":"%s","signer":"%s","statement":%s}'

# body, record id, sha256, content, signed pHash-64, PDQ
RawRecord = tuple[bytes, bytes, bytes, bytes, int, bytes]


def cache_tag() -> str:
    from provenance.store.schema import HEAD_REVISION

    return f"v{CACHE_VERSION}-s{HEAD_REVISION}"


def images_tag() -> str:
    return f"v{IMAGES_VERSION}"


def publish(tmp: Path, final: Path) -> None:
    """Atomically move a finished build into place (another process may have won)."""
    try:
        os.replace(tmp, final)
    except OSError:
        if not (final / "done.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


# --- keys and records ----------------------------------------------------------------------
def bench_key() -> Any:
    from provenance.keys import SigningKey

    return SigningKey.from_seed(KEY_SEED)


_KEYS: dict[bytes, Any] = {}


def synth_records(args: tuple[int, int]) -> list[RawRecord]:
    """``count`` pre-signed capture records with random digests (deterministic per seed)."""
    seed, count = args
    key = _KEYS.get(KEY_SEED)
    if key is None:
        key = _KEYS[KEY_SEED] = bench_key()
    kid = key.key_id
    rng = random.Random(seed)
    out: list[RawRecord] = []
    for _ in range(count):
        r = rng.randbytes(136)
        sha, content, p256, pdq, p64 = r[:32], r[32:64], r[64:96], r[96:128], r[128:136]
        st = STATEMENT_TEMPLATE % (content.hex(), pdq.hex(), p256.hex(), p64.hex(), sha.hex())
        sig = base64.b64encode(key.sign(st.encode())).decode()
        body = (RECORD_TEMPLATE % (sig, kid, st)).encode()
        ph = int.from_bytes(p64, "big")
        out.append(
            (
                body,
                hashlib.sha256(body).digest(),
                sha,
                content,
                ph - (1 << 64) if ph >= 1 << 63 else ph,
                pdq,
            )
        )
    return out


def to_new_records(raw: Sequence[RawRecord]) -> list[Any]:
    from provenance.store import AssetIndex, NewRecord

    kid = bench_key().key_id
    return [
        NewRecord(
            body=b,
            rid=rid,
            kind="capture",
            signer=kid,
            asset=AssetIndex(sha256=sha, content=content, phash64=p64, pdq=pdq),
        )
        for b, rid, sha, content, p64, pdq in raw
    ]


def check_template() -> None:
    """The template must produce exactly the library's canonical record bytes."""
    from provenance.records import Asset, Statement, parse_record, sign_statement

    key = bench_key()
    [(body, rid, sha, content, p64, pdq)] = synth_records((12345, 1))
    start = body.index(b'"phash256":"') + len(b'"phash256":"')
    p256 = body[start : start + 64].decode()
    st = Statement(
        type="capture",
        time=FIXED_TIME,
        claims={},
        asset=Asset(
            sha256=sha.hex(),
            content=content.hex(),
            phash64=format(p64 & (2**64 - 1), "016x"),
            phash256=p256,
            pdq=pdq.hex(),
            width=4000,
            height=3000,
            format="JPEG",
        ),
    )

    class _Signer:
        key_id = key.key_id

        @staticmethod
        def sign(message: bytes) -> bytes:
            return bytes(key.sign(message))

    lib = sign_statement(st, _Signer())
    if lib.canonical() != body or hashlib.sha256(body).digest() != rid:
        raise RuntimeError("synthetic record template differs from the library's canonical form")
    parse_record(body)


def checkpoint_signer(ledger: Any) -> Any:
    """The ledger's own checkpoint signer, as ``Ledger.sign`` passes it to ``Store.append``.

    There is no public API to append pre-signed records, so this reaches for the ledger's
    (private) signer rather than re-implementing the checkpoint format, which evolves
    (extension lines, key-event state...).
    """
    return ledger._checkpoint_signer()


def presigned_batches(total: int, batch: int, seed: int) -> Iterator[list[RawRecord]]:
    """Pre-signed records in batches, made in a second process while the caller appends."""
    sizes = [min(batch, total - i) for i in range(0, total, batch)]
    if total < 20_000:
        for j, n in enumerate(sizes):
            yield synth_records((seed + j, n))
        return
    with ProcessPoolExecutor(max_workers=1) as pool:
        pending: list[Future[list[RawRecord]]] = []
        jobs = iter(enumerate(sizes))
        for j, n in jobs:  # keep at most three batches in flight: bounded memory
            pending.append(pool.submit(synth_records, (seed + j, n)))
            if len(pending) >= 3:
                yield pending.pop(0).result()
        while pending:
            yield pending.pop(0).result()


# --- images ----------------------------------------------------------------------------------
def add_comment(data: bytes, text: str) -> bytes:
    """The same JPEG with a COM segment after the APPn segments: new bytes, same pixels."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF and 0xE0 <= data[pos + 1] <= 0xEF:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    payload = text.encode("ascii")
    seg = b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload
    return data[:pos] + seg + data[pos:]


def vary_content(data: bytes, n: int) -> bytes:
    """The same JPEG with the last two entries of its first quantisation table set from
    ``n``: new bytes *and* a new content digest (the tables are image data), the same
    decode cost, a picture that differs invisibly. Digest set 2 deduplicates by content,
    so a comment alone no longer makes a new image to sign."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            raise ValueError("malformed JPEG segment list")
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if marker == 0xDB:
            if data[pos + 4] >> 4:
                raise ValueError("16-bit quantisation tables are not supported here")
            last = pos + 4 + 1 + 63  # entries 62 and 63 of the first table (zigzag order)
            if not 0 <= n < 200 * 200:
                raise ValueError("n out of range")
            entries = bytes((40 + n // 200, 40 + n % 200))
            return data[: last - 1] + entries + data[last + 1 :]
        if marker == 0xDA:
            break
        pos += 2 + length
    raise ValueError("no quantisation table before the first scan")


@dataclass(frozen=True)
class Photos:
    """The photographs of row 1 and the chain of depth 5."""

    progressive: Path  # the corpus Dragonfly: 13.4 MP progressive JPEG
    baseline: Path  # Dragonfly resized to 4000x3000, quality 90, baseline (12.0 MP)
    large: Path  # the corpus Kleiber: 20.4 MP baseline JPEG
    chain: tuple[Path, ...]  # chain[-1] is ``baseline``
    reencoded: Path  # baseline resized to 2000x1500 at quality 75: a perceptual-only copy


def photos(ctx: Ctx) -> Photos:
    from PIL import Image

    root = ctx.cache / f"images-{images_tag()}" / "photos"
    if not (root / "done.json").exists():
        ctx.log(f"[fixtures] making the 12 MP baseline JPEG and the chain images in {root}")
        tmp = root.with_name(f".photos-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        with Image.open(ctx.corpus / DRAGONFLY) as src:
            src.load()
            full = src.convert("RGB")
        base = full.resize((4000, 3000), Image.Resampling.LANCZOS)
        for i in range(CHAIN_LEN - 1):
            # slight tone changes (2..8 % brighter): distinct bytes and pixels, same size,
            # within the plausibility bounds of the declared colour adjustments
            gain = 1.08 - 0.02 * i
            base.point(lambda v, g=gain: min(255, round(v * g))).save(
                tmp / f"chain{i}.jpg", quality=90, progressive=False
            )
        base.save(tmp / "baseline-12mp.jpg", quality=90, progressive=False)
        base.resize((2000, 1500), Image.Resampling.LANCZOS).save(
            tmp / "reencoded-2000x1500-q75.jpg", quality=75
        )
        (tmp / "done.json").write_text("{}")
        root.parent.mkdir(parents=True, exist_ok=True)
        publish(tmp, root)
    chain = (*(root / f"chain{i}.jpg" for i in range(CHAIN_LEN - 1)), root / "baseline-12mp.jpg")
    return Photos(
        progressive=ctx.corpus / DRAGONFLY,
        baseline=root / "baseline-12mp.jpg",
        large=ctx.corpus / KLEIBER,
        chain=chain,
        reencoded=root / "reencoded-2000x1500-q75.jpg",
    )


_SOURCES: dict[str, Any] = {}


def _make_image(args: tuple[str, str, int, int, int, str]) -> None:
    """One distinct JPEG: a random crop of a corpus photo, resized, a few random pixels."""
    from PIL import Image

    src_path, out, width, height, seed, _ = args
    src = _SOURCES.get(src_path)
    if src is None:
        with Image.open(src_path) as im:
            im.load()
            src = _SOURCES[src_path] = im.convert("RGB")
    rng = random.Random(seed)
    w, h = src.size
    target = width / height
    cw, ch = (round(h * target), h) if w / h > target else (w, round(w / target))
    cw, ch = round(cw * rng.uniform(0.95, 1.0)), round(ch * rng.uniform(0.95, 1.0))
    x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
    img = src.crop((x, y, x + cw, y + ch))
    if img.size != (width, height):
        img = img.resize((width, height), Image.Resampling.BILINEAR)
    for _ in range(16):
        img.putpixel(
            (rng.randrange(width), rng.randrange(height)),
            (rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        )
    img.save(out, quality=rng.choice((85, 88, 90, 92, 95)), progressive=False)


def image_set(
    ctx: Ctx, name: str, count: int, size: tuple[int, int], sources: Sequence[str]
) -> Path:
    """A folder of ``count`` distinct JPEGs of ``size`` made from corpus photos (cached)."""
    root = ctx.cache / f"images-{images_tag()}" / f"{name}-{count}-{size[0]}x{size[1]}"
    if (root / "done.json").exists():
        return root
    ctx.log(f"[fixtures] making {count} distinct {size[0]}x{size[1]} JPEGs in {root}")
    tmp = root.with_name(f".{root.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    jobs = [
        (
            str(ctx.corpus / sources[i % len(sources)]),
            str(tmp / f"img{i:05d}.jpg"),
            size[0],
            size[1],
            1000 * count + i,
            name,
        )
        for i in range(count)
    ]
    t0 = time.perf_counter()
    if count >= 50:
        with ProcessPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            list(pool.map(_make_image, jobs, chunksize=4))
    else:
        for job in jobs:
            _make_image(job)
    (tmp / "done.json").write_text(json.dumps({"seconds": time.perf_counter() - t0}))
    publish(tmp, root)
    return root


def _reencode(args: tuple[str, str, int]) -> None:
    """One re-encoded copy of a photo: same size, another quality, a few random pixels."""
    from PIL import Image

    src_path, out, seed = args
    rng = random.Random(seed)
    with Image.open(src_path) as im:
        img = im.convert("RGB")
    w, h = img.size
    for _ in range(16):
        img.putpixel(
            (rng.randrange(w), rng.randrange(h)),
            (rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        )
    img.save(out, quality=70 + seed % 25, progressive=False)


def reencoded_copies(ctx: Ctx, src: Path, count: int) -> Path:
    """A folder of ``count`` distinct re-encodings of ``src`` at its own size (cached):
    copies a fact-checker downloads, each found by perceptual hash only."""
    root = ctx.cache / f"images-{images_tag()}" / f"reencoded-{src.stem}-{count}"
    if (root / "done.json").exists():
        return root
    ctx.log(f"[fixtures] making {count} re-encoded copies of {src.name} in {root}")
    tmp = root.with_name(f".{root.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    jobs = [(str(src), str(tmp / f"copy{i:04d}.jpg"), i) for i in range(count)]
    if count >= 20:
        with ProcessPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            list(pool.map(_reencode, jobs, chunksize=4))
    else:
        for job in jobs:
            _reencode(job)
    (tmp / "done.json").write_text("{}")
    publish(tmp, root)
    return root


def subset_dir(ctx: Ctx, src: Path, count: int) -> Path:
    """A folder of symlinks to the first ``count`` JPEGs of ``src``."""
    out = ctx.scratch(f"subset{count}")
    files = sorted(p for p in src.iterdir() if p.suffix == ".jpg")[:count]
    if len(files) < count:
        raise RuntimeError(f"{src} has only {len(files)} images")
    for f in files:
        (out / f.name).symlink_to(f)
    return out


# --- ledgers ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class BenchLedger:
    """A ledger folder: database, log key beside it, the bench signer key file."""

    root: Path
    size: int
    info: dict[str, Any]

    @property
    def db(self) -> Path:
        return self.root / "ledger.db"

    @property
    def key_file(self) -> Path:
        return self.root / "signer.key"

    def open(self) -> Any:
        from provenance.ledger import Ledger

        return Ledger.open(str(self.db))


def _wal_checkpoint(db: Path) -> None:
    con = sqlite3.connect(db)
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    finally:
        con.close()


def build_ledger(ctx: Ctx, n: int, *, chain: bool) -> BenchLedger:
    """The cached synthetic ledger of exactly ``n`` records (see the module docstring)."""
    from provenance.keys import save_signing_key
    from provenance.ledger import Ledger
    from provenance.records import Action

    name = f"ledger-{cache_tag()}-{n}{'-chain' if chain else ''}"
    root = ctx.cache / name
    if (root / "done.json").exists():
        cached = BenchLedger(root, n, json.loads((root / "done.json").read_text()))
        problem = _cache_problem(cached)
        if problem is None:
            return cached
        ctx.log(
            f"[fixtures] cached ledger {root} is not accepted by this version of the "
            f"library ({problem}); rebuilding it"
        )
        shutil.rmtree(root, ignore_errors=True)
    extra = CHAIN_LEN if chain else 0
    if n < 1 + extra:
        raise ValueError(f"a ledger with the chain needs at least {1 + extra} records")
    pics = photos(ctx) if chain else None
    ctx.log(f"[fixtures] building a {n:,}-record ledger in {root} (cached for later runs)")
    check_template()
    tmp = ctx.cache / f".{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    t_start = time.perf_counter()
    ledger = Ledger.init(str(tmp / "ledger.db"), origin=ORIGIN)
    from benchmarks.common import git_revision

    info: dict[str, Any] = {"size": n, "chain": chain, "revision": git_revision()}
    try:
        key = bench_key()
        save_signing_key(key, tmp / "signer.key", None)
        ledger.register_key(key.public, "bench")
        sign_cp = checkpoint_signer(ledger)
        synthetic = n - 1 - extra
        batch = 10_000 if synthetic >= 50_000 else max(1, min(2_000, synthetic))
        appended = 0
        append_s = 0.0
        last_log = time.perf_counter()
        for raw in presigned_batches(synthetic, batch, seed=n * 7919):
            recs = to_new_records(raw)
            t0 = time.perf_counter()
            # Synthetic digests are random and unique: skip the per-record digest dedupe
            # (see row 5 for what it costs).
            ledger.store.append(recs, sign_cp, dedupe=False)
            append_s += time.perf_counter() - t0
            appended += len(recs)
            if time.perf_counter() - last_log > 30:
                ctx.log(
                    f"[fixtures]   {appended:,}/{synthetic:,} appended "
                    f"({appended / append_s:,.0f} rec/s in Store.append)"
                )
                last_log = time.perf_counter()
        info.update(
            synthetic=synthetic,
            batch=batch,
            append_seconds=append_s,
            append_rate=appended / append_s if append_s else None,
        )
        if chain and pics is not None:
            res = ledger.sign([pics.chain[0]], key, claims={"author": "bench"})
            if res[0].status != "signed" or res[0].record_id is None:
                raise RuntimeError(f"chain capture not signed: {res[0]}")
            rids = [res[0].record_id]
            for i, img in enumerate(pics.chain[1:], start=1):
                r = ledger.derive(
                    [rids[-1]],
                    img,
                    key,
                    [Action("c2pa.color_adjustments", {"step": i})],
                    claims={"author": "bench"},
                )
                if r.status != "signed" or r.record_id is None:
                    raise RuntimeError(f"chain step {i} not signed: {r}")
                rids.append(r.record_id)
            info["chain_record_ids"] = rids
        size = ledger.size()
        if size != n:
            raise RuntimeError(f"built {size} records, wanted {n}")
    finally:
        ledger.close()
    info["build_seconds"] = time.perf_counter() - t_start
    _wal_checkpoint(tmp / "ledger.db")
    (tmp / "done.json").write_text(json.dumps(info, indent=2))
    publish(tmp, root)
    ctx.log(
        f"[fixtures] built {n:,} records in {info['build_seconds']:.1f} s "
        f"(Store.append {info.get('append_rate') or 0:,.0f} rec/s)"
    )
    return BenchLedger(root, n, info)


def _cache_problem(ledger: BenchLedger) -> str | None:
    """Why a cached ledger cannot be reused with the library as it is now, or None.

    The record and checkpoint formats evolve while the library is developed: the newest
    record must still verify, and the log's checkpoint signer must accept the stored
    checkpoint as the previous one (a note is signed and thrown away; nothing is written).
    """
    try:
        with ledger.open() as led:
            if led.size() != ledger.size:
                return f"size {led.size()} instead of {ledger.size}"
            report = led.evidence().verify_record(ledger.size - 1)
            if report.verdict != "verified":
                failed = [c.code for c in report.checks if c.status == "fail"]
                return f"its last record is {report.verdict}: {', '.join(failed)}"
            cp = led.store.latest_checkpoint()
            if cp is None:
                return "no checkpoint"
            sign = checkpoint_signer(led)
            try:
                sign(cp.size, cp.root, cp.note, [])
            except TypeError:
                sign(cp.size, cp.root)  # older two-argument checkpoint signers
    except Exception as exc:  # noqa: BLE001 - any failure means "rebuild"
        return f"{type(exc).__name__}: {exc}"
    return None


def copy_ledger(ctx: Ctx, src: BenchLedger, label: str) -> BenchLedger:
    """A private copy of a cached ledger, for benchmarks that append to it."""
    _wal_checkpoint(src.db)
    dst = ctx.scratch(label)
    for f in src.root.iterdir():
        if f.is_file() and not f.name.endswith((".npz", "-wal", "-shm")):
            shutil.copy2(f, dst / f.name)
    return BenchLedger(dst, src.size, dict(src.info))


def remove_ledger_copy(ledger: BenchLedger) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(ledger.root)


def new_ledger(ctx: Ctx, label: str) -> BenchLedger:
    """A fresh, empty ledger with the bench signer key registered."""
    from provenance.keys import save_signing_key
    from provenance.ledger import Ledger

    dst = ctx.scratch(label)
    ledger = Ledger.init(str(dst / "ledger.db"), origin=ORIGIN)
    try:
        key = bench_key()
        save_signing_key(key, dst / "signer.key", None)
        ledger.register_key(key.public, "bench")
    finally:
        ledger.close()
    return BenchLedger(dst, 1, {})


def jpeg_bytes(img: Any, **kw: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()
