"""``provenance serve`` (the ledger as an HTTP service) and ``provenance witness serve|vkey``.

The operator's commands (DESIGN section 10, docs/api.md). ``serve`` opens the ledger and
unlocks its log key before it listens (a wrong passphrase or a missing database fails at
once, with the usual exit code), then runs the ASGI app of :mod:`provenance.server` on
uvicorn and prints one line on stdout: ``serving <origin> at <url> vkey <vkey>``. With
``--port 0`` the system picks a free port and the line names it. ``--workers N`` (N > 1)
runs N uvicorn worker processes on one listening socket; each imports the app factory
``provenance.server:app_from_env`` and reads the settings from the environment
(``PROVENANCE_SERVE_SETTINGS``). SIGINT and SIGTERM stop the server cleanly: requests in
flight are answered, the group committer drains its queue, the ledger is closed, exit 0.

``witness serve`` runs a C2SP tlog-witness (:mod:`provenance.server.witness_app`) for the
logs named by their vkeys; ``witness vkey`` prints the verifier key a witness publishes.

The server package is imported inside the command functions, so ``provenance --help`` and
every other command never load Starlette or uvicorn.
"""

from __future__ import annotations

import signal
import socket
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import click

import provenance
from provenance.cli.base import (
    Env,
    cli,
    err,
    fail,
    json_option,
    load_key,
    out,
    out_json,
    pass_env,
    passphrase_file_option,
)

if TYPE_CHECKING:
    import uvicorn

    from provenance.server import ServeSettings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
F = TypeVar("F", bound=Callable[..., Any])


# --- helpers -------------------------------------------------------------------------------
def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@contextmanager
def _clean_stop() -> Iterator[None]:
    """Make SIGINT and SIGTERM a clean stop (exit 0) rather than an exception or a kill.

    uvicorn handles both signals while it runs and re-raises the one it caught once it has
    shut down, to the handler that was there before: these harmless ones.
    """

    def ignore(signum: int, frame: FrameType | None) -> None:
        return None

    saved: dict[int, Any] = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        saved[sig] = signal.signal(sig, ignore)
    try:
        yield
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)


def _announce(line: str, obj: dict[str, Any], as_json: bool) -> None:
    if as_json:
        out_json(obj, indent=None)
    else:
        out(line)
    sys.stdout.flush()


def _uvicorn_server(config: uvicorn.Config, on_started: Callable[[], None]) -> uvicorn.Server:
    """A uvicorn server that calls ``on_started`` once it listens and its app has started."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.should_exit:
                on_started()

    return Server(config)


def _log_config() -> dict[str, Any]:
    """uvicorn's logging, all of it on stderr (stdout carries only the start-up line)."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    for handler in config["handlers"].values():
        handler["stream"] = "ext://sys.stderr"
    return config


def _bind(config: uvicorn.Config) -> socket.socket:
    try:
        sock = config.bind_socket()
    except SystemExit as exc:  # uvicorn exits when the address is in use
        raise provenance.ProvenanceError(
            f"cannot listen on {_url(config.host, config.port)}",
            hint="is another server running there? Choose another --port (0 picks a free one)",
        ) from exc
    # listen at once: a client that comes while the workers start waits instead of being
    # refused (the start-up line says the URL can be used)
    sock.listen(config.backlog)
    return sock


# --- provenance serve ----------------------------------------------------------------------
def setting(name: str, kind: click.ParamType[Any], default: float, text: str) -> Callable[[F], F]:
    """A server limit (every one documented in docs/api.md)."""
    return click.option(name, type=kind, default=default, show_default=True, help=text)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: a free port, printed).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Worker processes (more than 1 suits PostgreSQL; on SQLite they share one writer).",
)
@click.option(
    "--witness",
    "witnesses",
    multiple=True,
    metavar="URL",
    help="A witness asked to cosign every new checkpoint (repeatable).",
)
@click.option(
    "--public-url",
    default="",
    help="The base URL clients use (behind a reverse proxy); default: the listening URL.",
)
@setting("--max-record-bytes", click.IntRange(256, 65535), 65535, "Largest record body.")
@setting("--max-upload-bytes", click.IntRange(1024), 25 << 20, "Largest byContent upload.")
@setting("--max-upload-pixels", click.IntRange(1), 50_000_000, "Pixel limit of an upload.")
@setting("--read-timeout", click.FloatRange(0.1), 10.0, "Seconds a body may take (408 after).")
@setting("--batch-max", click.IntRange(1, 10_000), 512, "Most submissions per transaction.")
@setting("--batch-wait", click.FloatRange(0, 1), 0.002, "Seconds a batch waits for more.")
@setting("--max-results", click.IntRange(1, 100), 10, "Default number of look-up results.")
@setting("--tile-cache-mb", click.IntRange(0, 65536), 64, "Memory for full tiles, per process.")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="Server log level (the log goes to stderr).",
)
@click.option(
    "--access-log/--no-access-log", default=True, show_default=True, help="Log every request."
)
@click.option(
    "--graceful-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="On SIGINT/SIGTERM, seconds to wait for requests in flight before closing them.",
)
@json_option
@pass_env
def serve(
    env: Env,
    host: str,
    port: int,
    workers: int,
    witnesses: tuple[str, ...],
    public_url: str,
    max_record_bytes: int,
    max_upload_bytes: int,
    max_upload_pixels: int,
    read_timeout: float,
    batch_max: int,
    batch_wait: float,
    max_results: int,
    tile_cache_mb: int,
    log_level: str,
    access_log: bool,
    graceful_timeout: float,
    as_json: bool,
) -> None:
    """Serve the ledger over HTTP: signers submit, anyone reads and verifies (docs/api.md).

    Holds the log key: only this host registers or revokes keys (`provenance keys ...`).
    Prints one line, `serving ORIGIN at URL vkey VKEY`; give readers the vkey. SIGINT or
    SIGTERM stops it cleanly. Put a reverse proxy with TLS in front of it on the internet.

    \b
    Example:
      provenance serve --port 8000
      provenance --db postgresql+psycopg://log@db/newsroom serve --workers 4 \\
          --host 0.0.0.0 --witness http://witness.example:8001
    """
    import uvicorn

    from provenance.server import SETTINGS_ENV, ServeSettings, create_app, open_ledger

    for url in witnesses:
        if not url.startswith(("http://", "https://")):
            raise click.BadParameter(f"not an http(s) URL: {url!r}", param_hint="--witness")
    settings = ServeSettings(
        db=env.db,
        log_key=env.log_key,
        log_passphrase_file=None
        if env.log_passphrase_file is None
        else str(env.log_passphrase_file),
        witnesses=tuple(url.rstrip("/") for url in witnesses),
        max_record_bytes=max_record_bytes,
        max_upload_bytes=max_upload_bytes,
        max_upload_pixels=max_upload_pixels,
        read_timeout_s=read_timeout,
        batch_max=batch_max,
        batch_wait_s=batch_wait,
        max_results=max_results,
        tile_cache_bytes=tile_cache_mb * 1024 * 1024,
        public_url=public_url.rstrip("/"),
        busy_timeout_s=env.busy_timeout,
    )
    ledger = open_ledger(settings)  # fails fast: no ledger, wrong passphrase, bad key
    origin, vkey = ledger.origin, ledger.log_verifier.vkey()
    common: dict[str, Any] = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "timeout_graceful_shutdown": graceful_timeout,
        "server_header": False,
        "proxy_headers": True,
        "lifespan": "on",
        "log_config": _log_config(),
    }

    def announce(bound: int) -> None:
        url = _url(host, bound)
        _announce(
            f"serving {origin} at {url} vkey {vkey}",
            {"origin": origin, "url": url, "vkey": vkey, "workers": workers},
            as_json,
        )

    if workers > 1:
        ledger.close()
        _serve_workers(settings, common, workers, announce, SETTINGS_ENV)
        err("stopped")
        return
    try:
        config = uvicorn.Config(create_app(settings, ledger=ledger), **common)
        sock = _bind(config)
        bound = sock.getsockname()[1]
        server = _uvicorn_server(config, lambda: announce(bound))
        with _clean_stop():
            server.run(sockets=[sock])
        started = server.started
    finally:
        ledger.close()
    if not started:
        fail("the server did not start (see the log above)", None, 3)
    err("stopped")


def _serve_workers(
    settings: ServeSettings,
    common: dict[str, Any],
    workers: int,
    announce: Callable[[int], None],
    settings_env: str,
) -> None:
    """N uvicorn worker processes on one socket, each building the app from the env."""
    import os

    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ[settings_env] = settings.to_env()
    config = uvicorn.Config(
        "provenance.server:app_from_env", factory=True, workers=workers, **common
    )
    sock = _bind(config)
    announce(sock.getsockname()[1])
    supervisor = Multiprocess(config, sockets=[sock])  # installs its own signal handlers
    supervisor.run()
    sock.close()
    if any(w.process.exitcode == 3 for w in supervisor.processes):  # uvicorn: startup failed
        fail("a worker could not start (see the log above)", None, 3)


# --- provenance witness ----------------------------------------------------------------------
@cli.group("witness")
def witness() -> None:
    """Run a C2SP tlog-witness that cosigns a log's checkpoints (docs/api.md).

    \b
    Example:
      provenance keys generate w1 --no-register
      provenance witness vkey --key w1.key --name witness.example/w1
      provenance witness serve --key w1.key --name witness.example/w1 --log VKEY
    """


def _witness_signer(key: Path, name: str, passphrase_file: Path | None) -> provenance.NoteSigner:
    signing_key = load_key(key, passphrase_file)
    try:
        return provenance.NoteSigner(name, signing_key)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from exc


key_option = click.option(
    "--key",
    "key",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The witness's private key (`provenance keys generate NAME --no-register`).",
)
name_option = click.option(
    "--name", required=True, help="The witness's name, as in its vkey (e.g. witness.example/w1)."
)


@witness.command("vkey")
@key_option
@name_option
@passphrase_file_option
@json_option
def witness_vkey_cmd(key: Path, name: str, passphrase_file: Path | None, as_json: bool) -> None:
    """Print the witness's verifier key (give it to readers: `verify --witness-key`).

    \b
    Example:
      provenance witness vkey --key w1.key --name witness.example/w1
    """
    from provenance.server import witness_vkey

    signer = _witness_signer(key, name, passphrase_file)
    vkey = witness_vkey(signer.name, signer.key)
    if as_json:
        out_json({"name": signer.name, "vkey": vkey})
    else:
        out(vkey)


@witness.command("serve")
@key_option
@name_option
@click.option(
    "--log",
    "logs",
    multiple=True,
    required=True,
    metavar="VKEY",
    help="The vkey of a log to witness (`provenance log show`); repeatable.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8001,
    show_default=True,
    help="Port to listen on (0: a free port, printed).",
)
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("witness.db"),
    show_default=True,
    help="Where the witness remembers the latest checkpoint of each log (SQLite, local disk).",
)
@click.option("--prefix", default="", help="URL path prefix of the witness, e.g. /witness.")
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS),
    default="info",
    show_default=True,
    help="Server log level (the log goes to stderr).",
)
@passphrase_file_option
@json_option
def witness_serve(
    key: Path,
    name: str,
    logs: tuple[str, ...],
    host: str,
    port: int,
    state: Path,
    prefix: str,
    log_level: str,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Serve a witness: cosign each checkpoint of the logs that extends the last one.

    Prints one line, `witness NAME at URL vkey VKEY`. SIGINT or SIGTERM stops it.

    \b
    Example:
      provenance witness serve --key w1.key --name witness.example/w1 --log VKEY --port 8001
    """
    import uvicorn

    from provenance.server import witness_app, witness_vkey

    signer = _witness_signer(key, name, passphrase_file)
    verifiers: dict[str, provenance.NoteVerifier] = {}
    for text in logs:
        try:
            verifier = provenance.NoteVerifier.parse_vkey(text)
        except provenance.CheckpointError as exc:
            raise click.BadParameter(exc.message, param_hint="--log") from exc
        verifiers[verifier.name] = verifier
    try:
        app = witness_app(signer, verifiers, state, prefix=prefix.rstrip("/"))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        log_config=_log_config(),
        server_header=False,
        lifespan="off",
    )
    sock = _bind(config)
    url = _url(host, sock.getsockname()[1]) + prefix.rstrip("/")
    wvkey = witness_vkey(signer.name, signer.key)

    def started() -> None:
        _announce(
            f"witness {signer.name} at {url} vkey {wvkey}",
            {"name": signer.name, "url": url, "vkey": wvkey, "logs": sorted(verifiers)},
            as_json,
        )

    server = _uvicorn_server(config, started)
    with _clean_stop():
        server.run(sockets=[sock])
    if not server.started:
        fail("the witness did not start (see the log above)", None, 3)
    err("stopped")
