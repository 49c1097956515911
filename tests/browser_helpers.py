"""Helpers for the page's tests: ledgers built with the library, a live uvicorn server in a
thread, Debian's Chromium driven by Playwright, and screenshots.

Chromium is Debian's (``apt-get install -y chromium``), launched by Playwright with
``executable_path``: Playwright's own browser download is never used. Without either, the
browser tests skip with a reason (:func:`chromium_or_skip`).
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from provenance import Crop, Ledger, Operation, Resize, SigningKey

CHROMIUM = os.environ.get("PROVENANCE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS_ENV = "PROVENANCE_SCREENSHOTS"
ORIGIN = "test.provenance.local/log"
FIXED_NOW = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)
SCRIPT_NAME = '<script>alert("owned")</script><img src=x onerror=alert(1)>'
"""A signer name holding HTML: the page must show it as text."""

CORPUS_PHOTOS = {
    "rocket": "skimage__rocket.jpg",
    "apple": "opencv-doc__apple.jpg",
    "hopper": "matplotlib__grace_hopper.jpg",
    "stranger": "opencv-doc__orange.jpg",
}


def chromium_or_skip() -> None:
    """Skip the calling test module unless Playwright and Debian's Chromium are present; with
    ``PROVENANCE_REQUIRE_BROWSER=1`` (set by .ci/run) fail instead, so CI always runs them."""
    required = os.environ.get("PROVENANCE_REQUIRE_BROWSER") == "1"
    missing = None
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if missing is not None:
        if required:
            pytest.fail(f"PROVENANCE_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
        pytest.skip(missing, allow_module_level=True)


# --- ledgers ---------------------------------------------------------------------------------
@dataclass
class PageLedger:
    """A ledger built for the page's tests and the files signed into it."""

    root: Path
    db: Path
    photos: dict[str, Path]

    def open(self) -> Ledger:
        return Ledger.open(str(self.db))


def build_ledger(root: Path, corpus: Path, *, big: bool = False) -> PageLedger:
    """Keys alice, desk and one named :data:`SCRIPT_NAME`; captures of rocket and hopper by
    alice, apple by the HTML-named key; ``rocket-crop.png``, a replayable crop + resize of
    rocket by desk, and a retouched copy recorded as the same edit; a re-encoded copy of
    hopper (not signed); with ``big``, a 12 MP photo (:func:`twelve_mp_photo`) signed by
    alice and a re-encoded copy of it.

    Log: 0-2 keys, 3 rocket, 4 hopper, 5 apple, 6 rocket-crop, 7 a forged edit of rocket
    (:func:`forged_edit`), 8 the 12 MP photo."""
    root.mkdir(parents=True, exist_ok=True)
    photos: dict[str, Path] = {}
    for short, name in CORPUS_PHOTOS.items():
        photos[short] = root / name
        shutil.copyfile(corpus / name, photos[short])
    ledger = Ledger.init(str(root / "ledger.db"), origin=ORIGIN)
    try:
        alice = SigningKey.from_seed(bytes(range(32)))
        desk = SigningKey.from_seed(bytes(range(1, 33)))
        odd = SigningKey.from_seed(bytes(range(2, 34)))
        ledger.register_key(alice.public, "Alice Example", now=FIXED_NOW)
        ledger.register_key(desk.public, "News desk", now=FIXED_NOW)
        ledger.register_key(odd.public, SCRIPT_NAME, now=FIXED_NOW)
        ledger.sign(
            [photos["rocket"], photos["hopper"]],
            alice,
            now=FIXED_NOW,
            claims={"author": "Alice Example"},
        )
        ledger.sign([photos["apple"]], odd, now=FIXED_NOW)
        photos["crop"] = root / "rocket-crop.png"
        ledger.edit(
            photos["rocket"],
            photos["crop"],
            [Crop(100, 40, 540, 400), Resize(220, 180)],
            desk,
            now=FIXED_NOW,
        )
        photos["forged"] = root / "rocket-crop-retouched.png"
        forged_edit(ledger, photos["rocket"], photos["forged"], desk)
        photos["hopper-q70"] = root / "hopper-q70.jpg"
        reencode(photos["hopper"], photos["hopper-q70"], quality=70, scale=0.8)
        if big:
            photos["big"] = root / "big-12mp.jpg"
            twelve_mp_photo(corpus, photos["big"])
            ledger.sign([photos["big"]], alice, now=FIXED_NOW)
            photos["big-q80"] = root / "big-12mp-q80.jpg"
            reencode(photos["big"], photos["big-q80"], quality=80, scale=1.0)
    finally:
        ledger.close()
    return PageLedger(root, root / "ledger.db", photos)


def forged_edit(ledger: Ledger, parent: Path, child: Path, key: SigningKey) -> None:
    """Record as a replayable crop + resize of ``parent`` an image that is that edit with a
    patch painted over: its record lies about what was done (replay shows where)."""
    import provenance.edits as edits

    ops: list[Operation] = [Crop(100, 40, 540, 400), Resize(220, 180)]
    honest = edits.apply(parent.read_bytes(), ops, out_format="PNG")
    with Image.open(io.BytesIO(honest)) as im:
        img = im.convert("RGB")
    img.paste((200, 40, 40), (150, 60, 172, 90))  # a red 22x30 patch
    buf = io.BytesIO()
    img.save(buf, "PNG")
    child.write_bytes(buf.getvalue())
    parent_id = ledger.record(ledger.resolve(str(parent)))[1].record_id
    ledger.derive(
        [parent_id],
        buf.getvalue(),
        key,
        [op.action() for op in ops],
        now=FIXED_NOW,
        child_name=str(child),
        _marker={edits.REPLAY_CLAIM: edits.REPLAY_VERSION},
    )


def twelve_mp_photo(corpus: Path, dst: Path) -> None:
    """A 4000x3000 JPEG like a phone's (about 4 MB: a corpus photo resized, with sensor-like
    noise, quality 95)."""
    import numpy as np

    with Image.open(corpus / "lomiri-wallpapers-20.04__Kleiber_by_Lukas_Baubkus.jpg") as im:
        img = im.convert("RGB").resize((4000, 3000), Image.Resampling.LANCZOS)
    noise = np.random.default_rng(7).normal(0, 4, (3000, 4000, 3))
    pixels = np.clip(np.asarray(img).astype(np.float32) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(dst, "JPEG", quality=95)


def reencode(src: Path, dst: Path, *, quality: int, scale: float) -> None:
    with Image.open(src) as im:
        img = im.convert("RGB")
    if scale != 1.0:
        img = img.resize((round(img.width * scale), round(img.height * scale)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    dst.write_bytes(buf.getvalue())


def copy_ledger(src: PageLedger, dst: Path) -> PageLedger:
    shutil.copytree(src.root, dst)
    return PageLedger(dst, dst / "ledger.db", {k: dst / p.name for k, p in src.photos.items()})


def tamper_signature(db: Path, index: int) -> None:
    """Change one character of the signature inside the stored record at ``index``."""
    con = sqlite3.connect(db)
    try:
        for table in ("records",):
            con.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
        (body,) = con.execute("SELECT body FROM records WHERE idx = ?", (index,)).fetchone()
        body = bytes(body)
        pos = body.index(b'"sig":"') + len(b'"sig":"') + 10
        swapped = b"B" if body[pos : pos + 1] != b"B" else b"C"
        forged = body[:pos] + swapped + body[pos + 1 :]
        con.execute("UPDATE records SET body = ? WHERE idx = ?", (forged, index))
        con.commit()
    finally:
        con.close()


# --- a live server ---------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def live_server(db: Path, **settings: Any) -> Iterator[str]:
    """``provenance serve``'s app on a free loopback port, in a thread: yields its URL."""
    import uvicorn

    from provenance.server import ServeSettings, create_app

    ledger = Ledger.open(str(db))
    app = create_app(ServeSettings(db=str(db), **settings), ledger=ledger)
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        ledger.close()


# --- screenshots -----------------------------------------------------------------------------
def screenshot(page: Any, folder: Path, name: str) -> Path:
    """A full-page screenshot in ``folder`` and, when PROVENANCE_SCREENSHOTS=DIR is set,
    a copy in DIR (for the README)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    extra = os.environ.get(SCREENSHOTS_ENV)
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(extra) / path.name)
    return path
