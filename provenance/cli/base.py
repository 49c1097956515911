"""What every command shares: the group with its global options, error mapping, output.

Errors from the library (:class:`provenance.ProvenanceError`) become one line on stderr
plus a ``hint:`` line, with the exit code the error class carries, in one place
(:class:`Group`). Payload goes to stdout through :func:`out` / :func:`out_json`, status and
progress to stderr. A closed stdout (``provenance verify x | head -1``) never changes the
exit code: the first ``BrokenPipeError`` points stdout at /dev/null and the command runs to
its end. Everything a ledger or a user supplied is escaped before it reaches a terminal
(:func:`safe`): control, format and separator characters are shown as ``\\xNN`` /
``\\uNNNN``, never interpreted.

Exit codes: 0 success / verified, 1 tampered, 2 usage error, 3 could not run, 4 unknown,
5 similar, 6 conflict (already logged by another signer), 7 verified but not every edit
replayed (``verify --require-replayed``), 130 interrupted.
"""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

import provenance
from provenance import ProvenanceError

if TYPE_CHECKING:
    from provenance import Ledger, PassphraseSource, RemoteLedger, SigningKey

DEFAULT_DB = "provenance.db"
PROGRESS_THRESHOLD = 8  # show a progress bar when handling more files than this


# --- output --------------------------------------------------------------------------------
_stdout_closed = False


def _close_stdout() -> None:
    """stdout's reader went away: send the rest to /dev/null (keeps the exit code)."""
    global _stdout_closed
    _stdout_closed = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def out(text: str = "", *, nl: bool = True) -> None:
    """Print payload on stdout (quietly nothing once the reader has gone)."""
    if _stdout_closed:
        return
    try:
        click.echo(text, nl=nl)
    except BrokenPipeError:
        _close_stdout()


def err(text: str) -> None:
    """Print status on stderr (never fails the command)."""
    with suppress(BrokenPipeError, OSError):
        click.echo(text, err=True)


_UNSAFE = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs", "Cn"})


def safe(value: object) -> str:
    """``str(value)`` with every control, format or separator character escaped."""
    text = str(value)
    if text.isprintable():
        return text
    parts = []
    for ch in text:
        if unicodedata.category(ch) in _UNSAFE:
            code = ord(ch)
            parts.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            parts.append(ch)
    return "".join(parts)


def _escape_json(text: str) -> str:
    """JSON text with format and separator characters escaped too (json escapes only C0)."""
    if text.isprintable() or all(
        unicodedata.category(ch) not in _UNSAFE or ch in "\n" for ch in text
    ):
        return text
    return "".join(
        f"\\u{ord(ch):04x}" if ch != "\n" and unicodedata.category(ch) in _UNSAFE else ch
        for ch in text
    )


def to_json(obj: Any, *, indent: int | None = 2) -> str:
    return _escape_json(json.dumps(obj, indent=indent, ensure_ascii=False, default=_json_default))


def out_json(obj: Any, *, indent: int | None = 2) -> None:
    out(to_json(obj, indent=indent))


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_json"):
        return o.to_json()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# --- errors --------------------------------------------------------------------------------
INTERRUPT_HINT: list[str | None] = [None]
"""What a command wants said if Ctrl-C stops it (how much was done, how to continue)."""


def fail(message: str, hint: str | None, code: int) -> NoReturn:
    err(f"error: {safe(message)}")
    if hint:
        err(f"hint: {safe(hint)}")
    sys.exit(code)


class Group(click.Group):
    """A click group that maps library errors to one stderr line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProvenanceError as exc:
            fail(exc.message, exc.hint, exc.exit_code)
        except BrokenPipeError:
            _close_stdout()
            sys.exit(0)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # the last line of defence: a bug must not read as exit 1
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            fail(
                f"internal error: {type(exc).__name__}: {str(exc)[:200]}",
                "this is a bug in provenance; rerun with PROVENANCE_DEBUG=1 for the traceback "
                "and report it",
                3,
            )
        except KeyboardInterrupt:
            fail("interrupted", INTERRUPT_HINT[0], 130)


# --- the ledger and keys -------------------------------------------------------------------
class Env:
    """Options shared by every command (the ledger location and its log key)."""

    def __init__(
        self,
        db: str,
        log_key: str | None,
        log_passphrase_file: Path | None,
        busy_timeout: float,
        ledger_url: str | None = None,
        trust_log_key: str | None = None,
    ) -> None:
        self.db = db
        self.log_key = log_key
        self.log_passphrase_file = log_passphrase_file
        self.busy_timeout = busy_timeout
        self.ledger_url = ledger_url
        self.trust_log_key = trust_log_key

    def log_passphrase(self) -> PassphraseSource:
        return provenance.log_passphrase_source(self.log_passphrase_file)

    def ledger(self) -> Ledger:
        """The local ledger (a context manager: ``with env.ledger() as ledger``)."""
        return provenance.Ledger.open(
            self.db,
            log_key=self.log_key,
            log_passphrase=self.log_passphrase(),
            busy_timeout_s=self.busy_timeout,
        )

    def remote(self, trust_log_key: str | None = None) -> RemoteLedger:
        """The ledger served at ``--ledger URL``, trusted under ``trust_log_key`` (a
        command's ``--trust-log-key``), else the group's (or PROVENANCE_LOG_VKEY).

        Raises:
            TrustAnchorError: no vkey, or not a vkey (exit 3, with a hint).
        """
        assert self.ledger_url is not None
        return provenance.RemoteLedger(self.ledger_url, trust_log_key or self.trust_log_key)


pass_env = click.make_pass_decorator(Env)


def passphrase_source(passphrase_file: Path | None, *, prompt_text: str) -> PassphraseSource:
    return provenance.PassphraseSource(file=passphrase_file, prompt_text=prompt_text)


def load_key(path: Path, passphrase_file: Path | None) -> SigningKey:
    return provenance.load_signing_key(
        path, passphrase_source(passphrase_file, prompt_text=f"Passphrase for {path}")
    )


def parse_claims(items: Sequence[str]) -> dict[str, str]:
    """``--claim K=V`` options, validated like the records they go into."""
    result: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--claim")
        result[k] = v
    provenance.check_user_claims(result)
    return result


def read_checkpoints(paths: Sequence[Path]) -> list[str]:
    """Pinned checkpoint files, each checked to be a checkpoint (else an error, exit 3)."""
    notes = []
    for path in paths:
        note = provenance.read_text(path, "checkpoint", error=provenance.CheckpointError)
        try:
            provenance.checkpoint_size_unverified(note)
        except provenance.CheckpointError as exc:
            raise provenance.CheckpointError(
                f"{path} is not a checkpoint: {exc}",
                hint="pass a file written by `provenance log checkpoint --out FILE`",
            ) from exc
        notes.append(note)
    return notes


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
passphrase_file_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the key's passphrase from the first line of this file "
    "(else PROVENANCE_PASSPHRASE, else a prompt on a terminal).",
)


@contextmanager
def progress(total: int, label: str) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr (rich) when there are many items and stderr is a terminal."""
    if total <= PROGRESS_THRESHOLD or not sys.stderr.isatty():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


# --- the group -----------------------------------------------------------------------------
@click.group(
    cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--db",
    envvar="PROVENANCE_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="Ledger location: a SQLite path or any SQLAlchemy URL "
    "(postgresql+psycopg://...). Env: PROVENANCE_DB.",
)
@click.option(
    "--log-key",
    envvar="PROVENANCE_LOG_KEY",
    help="The ledger's log key file (default: <db>.logkey beside a SQLite ledger). "
    "Env: PROVENANCE_LOG_KEY.",
)
@click.option(
    "--log-passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Passphrase of the log key (else PROVENANCE_LOG_PASSPHRASE).",
)
@click.option(
    "--busy-timeout",
    type=click.FloatRange(0),
    default=30.0,
    show_default=True,
    help="Seconds to wait for another writer before giving up (exit 3).",
)
@click.option(
    "--ledger",
    "ledger_url",
    envvar="PROVENANCE_LEDGER",
    metavar="URL",
    help="A ledger served by `provenance serve` (http://HOST:PORT): sign, edit, derive, "
    "verify, history, export and log talk to it instead of --db, trusting nothing but "
    "--trust-log-key. Env: PROVENANCE_LEDGER.",
)
@click.option(
    "--trust-log-key",
    "trust_log_key",
    envvar="PROVENANCE_LOG_VKEY",
    metavar="VKEY",
    help="With --ledger: the verifier key of its log, as its operator publishes it (a "
    "command's own --trust-log-key wins). Env: PROVENANCE_LOG_VKEY.",
)
@click.version_option(provenance.__version__, prog_name="provenance")
@click.pass_context
def cli(
    ctx: click.Context,
    db: str,
    log_key: str | None,
    log_passphrase_file: Path | None,
    busy_timeout: float,
    ledger_url: str | None,
    trust_log_key: str | None,
) -> None:
    """Image provenance ledger: sign at capture, record edits, verify downloads.

    \b
    Example:
      provenance init
      provenance keys generate alice
      provenance sign photos/ --recursive --key alice.key
      provenance verify download.jpg
      provenance --ledger http://ledger.example:8000 verify download.jpg \\
          --trust-log-key VKEY
    """
    ctx.obj = Env(
        db, log_key, log_passphrase_file, busy_timeout, ledger_url or None, trust_log_key or None
    )
