"""``provenance demo``: the whole story, run as real CLI commands in a scratch folder.

Each step prints the command a person would type and then runs exactly that command
in-process, so the demo doubles as an end-to-end smoke test: create a ledger and keys, sign
a photograph, record an edited copy, show its history, the signed checkpoint and an
inclusion proof, then verify the photo, a re-encoded copy (``similar``), a stranger
photograph (``unknown``), a tampered copy of the ledger (``tampered``), and an offline
bundle; then, given by the CLI, the service act: the ledger served over HTTP with a
witness, a signer and a reader who hold no database.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path

Echo = Callable[[str], object]
Invoke = Callable[[list[str]], int]
"""Runs one command line (without the program name) and returns its exit code."""
ServiceAct = Callable[..., None]
"""``act(work, *, vkey, step, run, echo)``: a last act, in the demo's folder."""

PHOTO = "rocket.jpg"
STRANGER = "camera.png"
DEMO_PASSPHRASE = "correct horse battery staple"


@contextmanager
def _env(**values: str | None) -> Iterator[None]:
    """Set (or, for None, unset) environment variables for the demo, restoring them after:
    the user's own ledger settings must not leak into the scratch ledger."""
    old = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def run_demo(
    keep: Path | None, *, echo: Echo, invoke: Invoke, service: ServiceAct | None = None
) -> int:
    """Run the demo through ``invoke`` (the CLI); 0 when every step gave the expected exit
    code. ``keep``: run in this folder (relative paths are taken from the current folder)
    and keep the files. ``service``: a last act run in the same folder and environment
    (the CLI's service act, :mod:`provenance.cli.demo_service`)."""
    if keep is not None:
        keep = keep.expanduser().absolute()
        keep.mkdir(parents=True, exist_ok=True)
        return _run(keep, echo, invoke, service)
    with tempfile.TemporaryDirectory(prefix="provenance-demo-") as tmp:
        return _run(Path(tmp), echo, invoke, service)


def _run(work: Path, echo: Echo, invoke: Invoke, service: ServiceAct | None) -> int:
    failures: list[str] = []

    def step(title: str) -> None:
        echo("")
        echo(f"== {title}")

    def run(args: list[str], expect: int = 0) -> None:
        echo("$ provenance " + " ".join(shlex.quote(a) for a in args))
        code = invoke(args)
        if code != expect:
            failures.append(f"`provenance {' '.join(args)}` exited {code}, expected {expect}")
            echo(f"   !! exit code {code}, expected {expect}")
        else:
            echo(f"   (exit code {code})")

    with (
        _cwd(work),
        _env(
            PROVENANCE_DB=str(work / "demo.db"),
            PROVENANCE_PASSPHRASE=DEMO_PASSPHRASE,
            PROVENANCE_LOG_KEY=None,
            PROVENANCE_LOG_PASSPHRASE=None,
        ),
    ):
        for name in (PHOTO, STRANGER):
            with as_file(files("provenance.data") / name) as src:
                shutil.copyfile(src, work / name)
        echo(f"working in {work}")
        echo("sample photograph: rocket.jpg (SpaceX, public domain; via scikit-image)")

        step("1. create a ledger and its log key")
        run(["init", "--origin", "demo.provenance.local/log"])
        step(
            "2. generate signer keys for a photographer and an editing desk "
            "(passphrase from PROVENANCE_PASSPHRASE)"
        )
        run(["keys", "generate", "alice", "--kdf-rounds", "16"])
        run(["keys", "generate", "desk", "--kdf-rounds", "16"])
        run(["keys", "list"])
        step("3. sign the photograph at capture")
        run(
            [
                "sign",
                PHOTO,
                "--key",
                "alice.key",
                "--claim",
                "author=Alice Example",
                "--claim",
                "caption=Launch at dawn",
            ]
        )
        run(["sign", PHOTO, "--key", "alice.key"])  # already logged: reported, not re-signed
        step("4. make an edited copy (crop + resize) and record the edit, replayably")
        run(
            [
                "edit",
                PHOTO,
                "-o",
                "rocket-crop.png",
                "--crop",
                "100,40,540,400",
                "--resize",
                "330x270",
                "--key",
                "desk.key",
            ]
        )
        step("5. the history of the edited copy, back to capture")
        run(["history", "rocket-crop.png"])
        step("6. the log's signed checkpoint and an inclusion proof")
        run(["log", "checkpoint", "--out", "pinned.checkpoint"])
        run(["log", "prove", "rocket-crop.png"])
        step(
            "7. verify: the original, the edited copy (replaying the edit on the original), "
            "a re-encoded copy, a stranger"
        )
        run(["verify", PHOTO])
        run(["verify", "rocket-crop.png", "--parent-image", PHOTO])
        _reencode(work / PHOTO, work / "rocket-reencoded.jpg")
        run(["verify", "rocket-reencoded.jpg"], expect=5)
        run(["verify", STRANGER], expect=4)
        step("8. offline: export a bundle and verify without the database")
        run(["export", "rocket-crop.png", "-o", "rocket-crop.provenance.json"])
        vkey = _vkey(work / "demo.db")
        echo(f"(the log's verifier key, published by its operator: {vkey})")
        run(
            [
                "--db",
                "elsewhere.db",
                "verify",
                "rocket-crop.png",
                "--bundle",
                "rocket-crop.provenance.json",
                "--trust-log-key",
                vkey,
            ]
        )
        step("9. audit the whole log, and catch a tampered copy of it")
        run(["log", "verify", "--checkpoint", "pinned.checkpoint"])
        _tamper(work / "demo.db", work / "tampered.db")
        shutil.copyfile(work / "demo.db.logkey", work / "tampered.db.logkey")
        shutil.copyfile(work / "demo.db.logkey.pub", work / "tampered.db.logkey.pub")
        run(["--db", "tampered.db", "verify", PHOTO], expect=1)
        run(["--db", "tampered.db", "log", "verify"], expect=1)
        if service is not None:
            service(work, vkey=vkey, step=step, run=run, echo=echo)

    echo("")
    if failures:
        echo("demo FAILED:")
        for f in failures:
            echo(f"  {f}")
        return 1
    echo("demo finished: every step gave the expected result")
    return 0


def _vkey(db: Path) -> str:
    from provenance.ledger import Ledger

    with Ledger.open(str(db)) as ledger:
        return ledger.log_verifier.vkey()


def _reencode(src: Path, dst: Path) -> None:
    """Re-encode at a lower quality and a smaller size, as a social network would."""
    from provenance.edits import Resize, apply
    from provenance.imaging import digest_file

    d = digest_file(src)
    dst.write_bytes(
        apply(
            src.read_bytes(),
            [Resize(d.width * 3 // 4, d.height * 3 // 4)],
            out_format="JPEG",
            quality=80,
        )
    )


def _tamper(src: Path, dst: Path) -> None:
    """Copy the ledger and rewrite one byte of the first record's caption, past the triggers."""
    shutil.copyfile(src, dst)
    con = sqlite3.connect(dst)
    try:
        con.execute("DROP TRIGGER records_no_update")
        idx, body = con.execute(
            "SELECT idx, body FROM records WHERE instr(body, ?) > 0 ORDER BY idx LIMIT 1",
            (b"Launch at dawn",),
        ).fetchone()
        forged = bytes(body).replace(b"Launch at dawn", b"Launch at dusk")
        con.execute("UPDATE records SET body = ? WHERE idx = ?", (forged, idx))
        con.commit()
    finally:
        con.close()
