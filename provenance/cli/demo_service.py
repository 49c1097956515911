"""The service act of ``provenance demo``: the ledger served over HTTP, with a witness.

Part of the command line, not of the library: it runs the server package's apps (as
``provenance serve`` does), which sit above the public API. Runs after the local acts
(:func:`provenance.run_demo` calls it back), on the demo's ledger: a witness and ``provenance
serve`` start in the background on free loopback ports; a signer in a folder with only her
private key signs a photograph through the server; a reader in a folder with only the log's
vkey (and the witness's) verifies it, requiring the witness's cosignature; and a compromised
server that alters its checkpoint is caught.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

WITNESS = "witness.demo.provenance.local/w1"
PHOTO = "camera.png"


@contextmanager
def _in(folder: Path) -> Iterator[None]:
    old = Path.cwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def service_act(
    work: Path,
    *,
    vkey: str,
    step: Callable[[str], None],
    run: Callable[..., None],
    echo: Callable[[str], object],
) -> None:
    """Run the act in ``work`` (which holds the demo's ledger, ``alice.key`` and the
    stranger photograph); ``run(args, expect=0)`` runs and checks one command line."""
    import provenance
    from provenance.server import (
        BackgroundServer,
        ServeSettings,
        create_app,
        witness_app,
        witness_vkey,
    )

    step("10. the ledger as a service: a witness, then the server (only it holds the log key)")
    run(["keys", "generate", "witness", "--no-register", "--no-passphrase", "-o", "w1.key"])
    run(["witness", "vkey", "--key", "w1.key", "--name", WITNESS])
    signer = provenance.NoteSigner(
        WITNESS, provenance.load_signing_key(work / "w1.key", provenance.PassphraseSource())
    )
    wvkey = witness_vkey(WITNESS, signer.key)
    logs = {provenance.NoteVerifier.parse_vkey(vkey).name: provenance.NoteVerifier.parse_vkey(vkey)}
    witness = witness_app(signer, logs, work / "witness.db")
    with BackgroundServer(witness, lifespan="off") as wurl:
        echo(f"$ provenance witness serve --key w1.key --name {WITNESS} --log VKEY   # {wurl}")
        settings = ServeSettings(db=str(work / "demo.db"), witnesses=(wurl,))
        app = create_app(settings)
        with BackgroundServer(app) as url:
            echo(f"$ provenance serve --witness {wurl}   # serving at {url}")
            _signer_and_reader(work, url, vkey, wvkey, run, echo)
            step("13. a compromised server alters its checkpoint: the reader catches it")
            with BackgroundServer(_altering_checkpoints(app), lifespan="off") as bad:
                echo(f"(a copy of the server that rewrites its checkpoint's root: {bad})")
                with _in(work / "reader"):
                    run(["--ledger", bad, "verify", PHOTO, "--trust-log-key", vkey], expect=3)


def _signer_and_reader(
    work: Path,
    url: str,
    vkey: str,
    wvkey: str,
    run: Callable[..., None],
    echo: Callable[[str], object],
) -> None:
    signer, reader = work / "signer", work / "reader"
    for folder in (signer, reader):
        folder.mkdir(exist_ok=True)
        shutil.copyfile(work / PHOTO, folder / PHOTO)
    for name in ("alice.key", "alice.key.pub"):
        shutil.copyfile(work / name, signer / name)
    step_echo = "11. a signer with only her private key signs through the server"
    echo("")
    echo(f"== {step_echo} (folder signer/: {', '.join(sorted(os.listdir(signer)))})")
    with _in(signer):
        run(["--ledger", url, "sign", PHOTO, "--key", "alice.key", "--trust-log-key", vkey])
    _wait_for_cosignature(url, vkey, echo)
    echo("")
    echo("== 12. a reader with only the log's vkey and the witness's verifies it")
    with _in(reader):
        run(
            [
                "--ledger",
                url,
                "verify",
                PHOTO,
                "--trust-log-key",
                vkey,
                "--witness-key",
                wvkey,
                "--min-witnesses",
                "1",
            ]
        )
        run(["--ledger", url, "log", "verify", "--trust-log-key", vkey])


def _wait_for_cosignature(url: str, vkey: str, echo: Callable[[str], object]) -> None:
    """The witness cosigns in the background after each commit: wait for it (10 s)."""
    import provenance

    deadline = time.monotonic() + 10
    with provenance.RemoteLedger(url, vkey) as remote:
        while time.monotonic() < deadline:
            _, note = remote.checkpoint()
            if f"— {WITNESS} " in note:
                echo(f"(the witness {WITNESS} cosigned the server's latest checkpoint)")
                return
            time.sleep(0.05)
    echo(f"(the witness {WITNESS} has not cosigned yet)")


def _altering_checkpoints(app: Any) -> Any:
    """``app`` behind a layer that changes one character of the root in ``/checkpoint``."""

    async def altered(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path") != "/checkpoint":
            await app(scope, receive, send)
            return

        async def forge(message: Any) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                lines = message["body"].split(b"\n")
                lines[2] = (b"B" if lines[2][:1] != b"B" else b"C") + lines[2][1:]
                message = {**message, "body": b"\n".join(lines)}
            await send(message)

        await app(scope, receive, forge)

    return altered
