"""Click commands: parse arguments, call one Ledger/verify function, render text or JSON.

The CLI is a thin layer: no business logic lives here. Errors from the library
(:class:`~provenance.errors.ProvenanceError`) are turned into one line on stderr plus a
hint, with the exit code DESIGN section 8 assigns, in one place (:class:`_Group`). Payload
goes to stdout; progress and status go to stderr.

Exit codes: 0 success / verified, 1 tampered, 2 usage error, 3 could not run,
4 unknown (no record matches), 5 similar (perceptual match only).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from provenance import __version__
from provenance.errors import ProvenanceError

if TYPE_CHECKING:
    from provenance.keys import PassphraseSource, SigningKey
    from provenance.ledger import Ledger, SignResult
    from provenance.verify import Report

DEFAULT_DB = "provenance.db"
PROGRESS_THRESHOLD = 8  # show a progress bar when signing more files than this


# --- error handling in one place -----------------------------------------------------------
def _fail(message: str, hint: str | None, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(code)


class _Group(click.Group):
    """A click group that maps library errors to one stderr line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ProvenanceError as exc:
            _fail(exc.message, exc.hint, exc.exit_code)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # the last line of defence: a bug must not read as exit 1
            if os.environ.get("PROVENANCE_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {str(exc)[:200]}",
                "this is a bug in provenance; rerun with PROVENANCE_DEBUG=1 for the traceback "
                "and report it",
                3,
            )
        except KeyboardInterrupt:
            _fail("interrupted; nothing half-written (appends are atomic)", None, 130)


class Env:
    """Options shared by every command (the ledger location and its log key)."""

    def __init__(
        self, db: str, log_key: str | None, log_passphrase_file: Path | None, busy_timeout: float
    ) -> None:
        self.db = db
        self.log_key = log_key
        self.log_passphrase_file = log_passphrase_file
        self.busy_timeout = busy_timeout

    def log_passphrase(self) -> PassphraseSource:
        from provenance.logkey import log_passphrase_source

        return log_passphrase_source(self.log_passphrase_file)

    @contextmanager
    def ledger(self) -> Iterator[Ledger]:
        from provenance.ledger import Ledger

        ledger = Ledger.open(
            self.db,
            log_key=self.log_key,
            log_passphrase=self.log_passphrase(),
            busy_timeout_s=self.busy_timeout,
        )
        try:
            yield ledger
        finally:
            ledger.close()


pass_env = click.make_pass_decorator(Env)


def _emit_json(obj: Any) -> None:
    click.echo(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default))


def _json_default(o: Any) -> Any:
    if isinstance(o, bytes):
        return o.hex()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _passphrase_source(passphrase_file: Path | None, *, prompt_text: str) -> PassphraseSource:
    from provenance.keys import PassphraseSource

    return PassphraseSource(file=passphrase_file, prompt_text=prompt_text)


def _load_key(path: Path, passphrase_file: Path | None) -> SigningKey:
    from provenance.keys import load_signing_key

    return load_signing_key(
        path, _passphrase_source(passphrase_file, prompt_text=f"Passphrase for {path}")
    )


def _parse_claims(items: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        k, sep, v = item.partition("=")
        if not sep or not k:
            raise click.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--claim")
        out[k] = v
    return out


def _parse_value(v: str) -> Any:
    """A --param value: JSON when it parses as JSON (numbers, true, lists...), else a string."""
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v
    except (ValueError, RecursionError) as exc:  # absurd numbers or nesting
        raise click.BadParameter(f"unusable value {v[:40]!r}: {exc}", param_hint="--param") from exc


json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON on stdout.")
passphrase_file_option = click.option(
    "--passphrase-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the key's passphrase from the first line of this file "
    "(else PROVENANCE_PASSPHRASE, else a prompt on a terminal).",
)


# --- the group -----------------------------------------------------------------------------
@click.group(
    cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
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
@click.version_option(__version__, prog_name="provenance")
@click.pass_context
def cli(
    ctx: click.Context,
    db: str,
    log_key: str | None,
    log_passphrase_file: Path | None,
    busy_timeout: float,
) -> None:
    """Image provenance ledger: sign at capture, record edits, verify downloads.

    \b
    Example:
      provenance init
      provenance keys generate alice
      provenance sign photos/ --recursive --key alice.key
      provenance verify download.jpg
    """
    ctx.obj = Env(db, log_key, log_passphrase_file, busy_timeout)


def main(argv: Sequence[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="provenance")


# --- init ----------------------------------------------------------------------------------
@cli.command()
@click.option("--origin", help="The log's name in checkpoints (default provenance.local/<db>).")
@click.option(
    "--kdf-rounds",
    type=click.IntRange(1, 1000),
    default=None,
    help="bcrypt-pbkdf rounds protecting the log key when it has a passphrase.",
)
@json_option
@pass_env
def init(env: Env, origin: str | None, kdf_rounds: int | None, as_json: bool) -> None:
    """Create a ledger and its log key.

    The log key is written beside a SQLite ledger as <db>.logkey (mode 0600), encrypted
    when PROVENANCE_LOG_PASSPHRASE or --log-passphrase-file is given.

    \b
    Example:
      provenance --db newsroom.db init --origin newsroom.example/photos
    """
    from provenance.ledger import Ledger

    ledger = Ledger.init(
        env.db,
        origin=origin,
        log_key=env.log_key,
        log_passphrase=env.log_passphrase(),
        kdf_rounds=kdf_rounds,
    )
    try:
        info = {
            "db": ledger.store.display_url,
            "origin": ledger.origin,
            "log_key": str(ledger._log_key_file),
            "log_key_id": ledger.log_public.key_id,
            "vkey": ledger.log_verifier.vkey(),
        }
    finally:
        ledger.close()
    if as_json:
        _emit_json(info)
        return
    click.echo(f"created ledger {info['db']}")
    click.echo(f"  origin   {info['origin']}")
    click.echo(f"  log key  {info['log_key']} ({info['log_key_id']})")
    click.echo(f"  vkey     {info['vkey']}")


# --- keys ----------------------------------------------------------------------------------
@cli.group(cls=_Group)
def keys() -> None:
    """Generate, register, list and revoke signer keys."""


@keys.command("generate")
@click.argument("name")
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key file to write (default NAME.key; the public half goes to FILE.pub).",
)
@passphrase_file_option
@click.option(
    "--no-passphrase",
    is_flag=True,
    help="Write the private key unencrypted (mode 0600 still applies).",
)
@click.option(
    "--kdf-rounds",
    type=click.IntRange(1, 1000),
    default=None,
    help="bcrypt-pbkdf rounds (default: keys.DEFAULT_KDF_ROUNDS).",
)
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="Register the new key in the ledger (when one exists).",
)
@json_option
@pass_env
def keys_generate(
    env: Env,
    name: str,
    out: Path | None,
    passphrase_file: Path | None,
    no_passphrase: bool,
    kdf_rounds: int | None,
    register: bool,
    as_json: bool,
) -> None:
    """Generate an Ed25519 signing key, encrypted with a passphrase.

    \b
    Example:
      PROVENANCE_PASSPHRASE=... provenance keys generate alice
    """
    from provenance.errors import PassphraseError
    from provenance.keys import SigningKey, save_signing_key

    path = out or Path(f"{name}.key")
    passphrase: bytes | None = None
    if not no_passphrase:
        passphrase = _passphrase_source(passphrase_file, prompt_text=f"Passphrase for {path}").get(
            confirm=True
        )
        if passphrase is None:
            raise PassphraseError(
                "no passphrase for the new key",
                hint="use --passphrase-file, PROVENANCE_PASSPHRASE, or --no-passphrase",
            )
    key = SigningKey.generate()
    kwargs: dict[str, Any] = {} if kdf_rounds is None else {"kdf_rounds": kdf_rounds}
    if register:
        # Open the ledger first so a missing ledger fails before any file is written.
        with env.ledger() as ledger:
            save_signing_key(key, path, passphrase, **kwargs)
            try:
                idx, rid = ledger.register_key(key.public, name)
            except ProvenanceError:
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".pub").unlink(missing_ok=True)
                raise
    else:
        save_signing_key(key, path, passphrase, **kwargs)
        idx, rid = None, None
    info = {
        "name": name,
        "key_id": key.public.key_id,
        "file": str(path),
        "public_file": str(path) + ".pub",
        "registered_record": rid,
        "index": idx,
    }
    if as_json:
        _emit_json(info)
        return
    click.echo(f"wrote {path} and {path}.pub")
    click.echo(f"  key id  {key.public.key_id}")
    if rid is not None:
        click.echo(f"  registered in the ledger as record {idx} ({rid})")


@keys.command("register")
@click.argument("keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="A name for the key (default: the file name).")
@json_option
@pass_env
def keys_register(env: Env, keyfile: Path, name: str | None, as_json: bool) -> None:
    """Register a signer's public key (an OpenSSH .pub line, a PEM public key, or a key file).

    \b
    Example:
      provenance keys register ~/.ssh/id_ed25519.pub --name alice
    """
    from provenance.keys import load_public_key_file

    # An encrypted PKCS#8 private key needs its passphrase (file, env, prompt) to yield its
    # public half; OpenSSH keys carry theirs in the clear.
    public = load_public_key_file(
        keyfile, _passphrase_source(None, prompt_text=f"Passphrase for {keyfile}")
    )
    label = name or keyfile.name.removesuffix(".pub").removesuffix(".key")
    with env.ledger() as ledger:
        idx, rid = ledger.register_key(public, label)
    if as_json:
        _emit_json({"key_id": public.key_id, "name": label, "record_id": rid, "index": idx})
        return
    click.echo(f"registered {public.key_id} ({label}) as record {idx} ({rid})")


@keys.command("revoke")
@click.argument("key_id")
@click.option("--reason", help="Why the key is revoked (recorded in the log).")
@click.option(
    "--key",
    "self_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Revoke with the key itself instead of the log key.",
)
@passphrase_file_option
@json_option
@pass_env
def keys_revoke(
    env: Env,
    key_id: str,
    reason: str | None,
    self_key: Path | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Revoke a key: records it signs after this point in the log are not trusted.

    \b
    Example:
      provenance keys revoke SHA256:abc... --reason "laptop stolen"
    """
    by = _load_key(self_key, passphrase_file) if self_key else None
    with env.ledger() as ledger:
        idx, rid = ledger.revoke_key(key_id, reason=reason, by=by)
    if as_json:
        _emit_json({"key_id": key_id, "record_id": rid, "index": idx})
        return
    click.echo(f"revoked {key_id} at record {idx} ({rid})")


@keys.command("list")
@json_option
@pass_env
def keys_list(env: Env, as_json: bool) -> None:
    """List registered keys.

    \b
    Example:
      provenance keys list --json
    """
    with env.ledger() as ledger:
        rows = ledger.list_keys()
    items = [
        {
            "key_id": k.key_id,
            "name": k.name,
            "registered_at": k.registered_at,
            "revoked_at": k.revoked_at,
            "public": k.public,
        }
        for k in rows
    ]
    if as_json:
        _emit_json(items)
        return
    if not items:
        click.echo("no keys registered")
    for k in rows:
        state = f"revoked at record {k.revoked_at}" if k.revoked_at is not None else "active"
        click.echo(f"{k.key_id}  {k.name:<20} registered at record {k.registered_at}, {state}")


@keys.command("show")
@click.argument("key")
@json_option
@pass_env
def keys_show(env: Env, key: str, as_json: bool) -> None:
    """Show one key, by key id or by key file (its fingerprint equals ssh-keygen -lf).

    \b
    Example:
      provenance keys show alice.key.pub
    """
    from provenance.keys import load_public_key_file

    key_id = key if key.startswith("SHA256:") else load_public_key_file(Path(key)).key_id
    with env.ledger() as ledger:
        info = ledger.key(key_id)
    obj = {
        "key_id": info.key_id,
        "name": info.name,
        "public": info.public,
        "registered_at": info.registered_at,
        "revoked_at": info.revoked_at,
    }
    if as_json:
        _emit_json(obj)
        return
    for k, v in obj.items():
        click.echo(f"{k:<14} {v}")


# --- sign / derive -------------------------------------------------------------------------
@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Signer's private key file.",
)
@passphrase_file_option
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@click.option(
    "--claim",
    "claims",
    multiple=True,
    metavar="K=V",
    help="A claim recorded in the statement (author, caption, device...).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Processes computing image digests.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 100_000),
    default=256,
    show_default=True,
    help="Records per append transaction (one checkpoint each).",
)
@json_option
@pass_env
def sign(
    env: Env,
    paths: tuple[str, ...],
    key_file: Path,
    passphrase_file: Path | None,
    recursive: bool,
    claims: tuple[str, ...],
    workers: int,
    batch_size: int,
    as_json: bool,
) -> None:
    """Sign images at capture: files or folders. Already-logged images are reported, not re-signed.

    With --json, one JSON object per image is printed on stdout (JSON Lines).
    Exits 3 if any image could not be signed (the others still are).

    \b
    Example:
      provenance sign DSC_0001.jpg --key alice.key --claim author="A. Photographer"
      provenance sign card/ --recursive --workers 2 --key alice.key
    """
    from provenance.ledger import collect_images

    claim_map = _parse_claims(claims)
    key = _load_key(key_file, passphrase_file)
    files = [str(p) for p in collect_images(paths, recursive=recursive)]
    if not files:
        raise click.UsageError("no images found in the given paths")
    with env.ledger() as ledger, _progress(len(files), "signing") as tick:

        def report(res: SignResult) -> None:
            tick()
            if as_json:
                click.echo(
                    json.dumps(
                        {
                            "path": res.path,
                            "status": res.status,
                            "record_id": res.record_id,
                            "index": res.index,
                            "sha256": res.sha256,
                            "error": res.error,
                        }
                    )
                )
            elif res.status == "error":
                click.echo(f"error   {res.path}: {res.error}", err=True)
            else:
                word = "signed " if res.status == "signed" else "exists "
                click.echo(f"{word} {res.path}  {res.record_id}  (log index {res.index})")

        results = ledger.sign(
            files, key, claims=claim_map, workers=workers, batch_size=batch_size, progress=report
        )
    failed = [r for r in results if r.status == "error"]
    signed = sum(r.status == "signed" for r in results)
    if not as_json or failed:
        click.echo(
            f"{signed} signed, {len(results) - signed - len(failed)} already logged, "
            f"{len(failed)} failed",
            err=True,
        )
    if failed:
        sys.exit(3)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[], None]]:
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


@cli.command()
@click.argument("parent", nargs=-1, required=True)
@click.argument("child", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@passphrase_file_option
@click.option(
    "--action",
    "actions",
    multiple=True,
    required=True,
    metavar="ACTION",
    help="C2PA action name, e.g. c2pa.color_adjustments (repeatable).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="[N:]K=V",
    help="Parameter of action N (1-based; default the first). V is JSON if it "
    "parses as JSON, else a string.",
)
@click.option("--claim", "claims", multiple=True, metavar="K=V")
@json_option
@pass_env
def derive(
    env: Env,
    parent: tuple[str, ...],
    child: Path,
    key_file: Path,
    passphrase_file: Path | None,
    actions: tuple[str, ...],
    params: tuple[str, ...],
    claims: tuple[str, ...],
    as_json: bool,
) -> None:
    """Record a declared edit: CHILD was made from PARENT(s) (image paths or record ids).

    \b
    Example:
      provenance derive original.jpg graded.jpg --key desk.key \\
          --action c2pa.color_adjustments --param brightness=1.1
    """
    from provenance.records import Action

    per_action: list[dict[str, Any]] = [{} for _ in actions]
    for item in params:
        num, colon, rest = item.partition(":")
        if colon and num.isascii() and num.isdigit() and len(num) < 6:
            n, kv = int(num), rest
        else:
            n, kv = 1, item
        k, sep, v = kv.partition("=")
        if not sep or not k or not 1 <= n <= len(actions):
            raise click.BadParameter(
                f"expected [N:]KEY=VALUE with 1 <= N <= {len(actions)}, got {item!r}",
                param_hint="--param",
            )
        per_action[n - 1][k] = _parse_value(v)
    action_objs = [Action(a, p) for a, p in zip(actions, per_action, strict=True)]
    for a in action_objs:
        a.from_json(a.to_json())  # validates the name and params
    key = _load_key(key_file, passphrase_file)
    with env.ledger() as ledger:
        res = ledger.derive(list(parent), child, key, action_objs, claims=_parse_claims(claims))
    _emit_edit_result(res, as_json)


def _emit_edit_result(res: SignResult, as_json: bool, prefix: str = "") -> None:
    """Render the receipt of ``derive`` or ``edit``."""
    if as_json:
        _emit_json(
            {
                "path": res.path,
                "status": res.status,
                "record_id": res.record_id,
                "index": res.index,
                "sha256": res.sha256,
            }
        )
        return
    word = "recorded" if res.status == "signed" else "already logged"
    click.echo(f"{prefix}{word} {res.path}  {res.record_id}  (log index {res.index})")


@cli.command()
@click.argument("source")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Edited image to write (.png/.webp replay exactly; .jpg/.tif allowed).",
)
@click.option("--crop", metavar="L,T,R,B", help="Crop box in pixels.")
@click.option("--resize", metavar="WxH", help="Resize (Lanczos) to WIDTHxHEIGHT.")
@click.option("--rotate", type=int, metavar="DEG", help="Rotate clockwise by 90, 180 or 270.")
@click.option("--flip", type=click.Choice(["horizontal", "vertical"]))
@click.option(
    "--key", "key_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@passphrase_file_option
@click.option("--claim", "claims", multiple=True, metavar="K=V")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@json_option
@pass_env
def edit(
    env: Env,
    source: str,
    out: Path,
    crop: str | None,
    resize: str | None,
    rotate: int | None,
    flip: str | None,
    key_file: Path,
    passphrase_file: Path | None,
    claims: tuple[str, ...],
    force: bool,
    as_json: bool,
) -> None:
    """Edit a logged image with replayable operations and record the edit.

    Operations apply in the order crop, resize, rotate, flip. The record lists them as
    C2PA actions with their parameters, so a verifier holding the parent can replay them.

    \b
    Example:
      provenance edit photo.jpg -o photo-web.png --crop 0,0,3000,2000 --resize 1500x1000 \\
          --key desk.key
    """
    from provenance import edits

    ops: list[edits.Operation] = []
    if crop:
        ops.append(edits.parse_crop(crop))
    if resize:
        ops.append(edits.parse_resize(resize))
    if rotate is not None:
        ops.append(edits.parse_rotate(rotate))
    if flip:
        ops.append(edits.Flip(flip))
    if not ops:
        raise click.UsageError("give at least one of --crop, --resize, --rotate, --flip")
    key = _load_key(key_file, passphrase_file)
    with env.ledger() as ledger:
        res = ledger.edit(source, out, ops, key, claims=_parse_claims(claims), overwrite=force)
    _emit_edit_result(res, as_json, prefix=f"wrote {out}; ")


# --- history / verify / export -------------------------------------------------------------
@cli.command()
@click.argument("target")
@json_option
@pass_env
def history(env: Env, target: str, as_json: bool) -> None:
    """Show the ancestry of an image or record back to capture, with verification status.

    \b
    Example:
      provenance history edited.jpg
      provenance history sha256:3f2a...
    """
    from provenance.ledger import LedgerVerifier

    with env.ledger() as ledger:
        report = LedgerVerifier(ledger).verify_record(target)
    if as_json:
        _emit_json(
            {
                "verdict": report.verdict,
                "root": report.index,
                "records": [step.to_json() for step in report.chain],
                "report": report.to_json(),
            }
        )
    else:
        click.echo(
            f"chain {'verifies' if report.verdict == 'verified' else 'FAILS'}: "
            f"{_verdict_word(report.verdict)}"
        )
        for c in report.failures:
            click.echo(f"  ({c.number}) FAIL {c.code}: {c.detail}")
        for line in _tree_lines(report):
            click.echo(line)
    if report.verdict != "verified":
        sys.exit(1)


def _verdict_word(verdict: str) -> str:
    return {
        "verified": "verified",
        "tampered": "TAMPERED",
        "unknown": "unknown",
        "similar": "similar",
    }[verdict]


def _tree_lines(report: Report) -> Iterator[str]:
    """The chain as an indented tree, child first (iterative: any depth)."""
    steps = {s.record_id: s for s in report.chain}
    if not report.chain:
        return
    # (step, prefix for its own line, prefix for its children, is root)
    stack: list[tuple[Any, str, str]] = [(report.chain[0], "", "")]
    while stack:
        step, head, pad = stack.pop()
        mark = "ok " if step.ok else "BAD"
        who = step.signer_name or step.signer
        acts = ", ".join(
            a["action"] + (json.dumps(a["params"], sort_keys=True) if a["params"] else "")
            for a in step.actions
        )
        yield (
            f"{head}[{mark}] #{step.index} {step.type:<7} {step.record_id[:19]}…  by {who}  "
            f"{step.time}" + (f"  {acts}" if acts else "")
        )
        for p in step.problems:
            yield f"{pad}      ! {p}"
        parents = [steps[p] for p in step.parents if p in steps]
        missing = [p for p in step.parents if p not in steps]
        for p in missing:
            yield f"{pad}└── [BAD] parent {p[:19]}… is missing"
        for n, parent in reversed(list(enumerate(parents))):
            last = n == len(parents) - 1
            stack.append((parent, pad + ("└── " if last else "├── "),
                          pad + ("    " if last else "│   ")))


@cli.command()
@click.argument("image", type=click.Path(path_type=Path))
@click.option(
    "--bundle",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Verify offline against this bundle instead of the database.",
)
@click.option(
    "--checkpoint",
    "pinned",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint saved earlier: the log must be consistent with it.",
)
@click.option(
    "--parent-image",
    "parent_images",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The original an edit was made from: replay the recorded edit on it and compare "
    "pixels (check 8).",
)
@click.option(
    "--trust-log-key",
    metavar="VKEY",
    help="With --bundle: the log's verifier key (C2SP vkey) to trust. Without it, a pinned "
    "--checkpoint or the local ledger (--db) of the same log is the trust anchor; a bundle "
    "is never trusted on its own say-so.",
)
@json_option
@pass_env
def verify(
    env: Env,
    image: Path,
    bundle: Path | None,
    pinned: tuple[Path, ...],
    parent_images: tuple[Path, ...],
    trust_log_key: str | None,
    as_json: bool,
) -> None:
    """Verify an image: find its record, check the chain back to capture, grade the result.

    Exit codes: 0 verified, 1 tampered, 3 could not check, 4 unknown, 5 similar.

    \b
    Example:
      provenance verify download.jpg
      provenance verify web.png --parent-image original.jpg
      provenance verify download.jpg --bundle photo.provenance.json
    """
    from provenance.ledger import _read

    notes = [_read_text(p, "checkpoint") for p in pinned]
    if bundle is not None:
        from provenance import bundle as bundle_mod
        from provenance.verify import check_chain, unknown_report

        if parent_images:
            raise click.UsageError("--parent-image works with the ledger, not with --bundle")
        b = bundle_mod.loads(_read_text(bundle, "bundle"))
        if trust_log_key is None and not notes:
            trust_log_key = _local_vkey(env, b.vkey, b.origin)
        if trust_log_key is None and not notes:
            from provenance.errors import BundleError

            raise BundleError(
                f"no trust anchor for the bundle's log {b.origin!r}: a bundle alone proves "
                "nothing about who kept the log",
                hint="pass --trust-log-key VKEY (published by the log's operator) or "
                "--checkpoint FILE (one you saved earlier)",
            )
        data = _read(image)
        subject, kind, digests = bundle_mod.match_image(b, data, str(image))
        if subject is None:
            report = unknown_report("no record in the bundle matches this image")
        else:
            report = check_chain(
                bundle_mod.evidence(
                    b,
                    subject=subject,
                    match=kind,
                    image=digests,
                    pinned=notes,
                    trusted_vkey=trust_log_key,
                )
            )
    else:
        from provenance.ledger import LedgerVerifier

        with env.ledger() as ledger:
            report, _ = LedgerVerifier(ledger).verify_image(
                image, pinned=notes, parent_images=parent_images
            )
    if as_json:
        _emit_json(report.to_json())
    else:
        _render_report(report, str(image))
    sys.exit(report.exit_code)


def _local_vkey(env: Env, bundle_vkey: str, origin: str) -> str | None:
    """The log key of the local ledger (--db) when it keeps the bundle's log, else None.

    Raises:
        BundleError: the local ledger has the bundle's log name but another log key.
    """
    from provenance.errors import BundleError, LedgerNotFoundError

    try:
        with env.ledger() as ledger:
            if ledger.origin != origin:
                return None
            local = ledger.log_verifier.vkey()
    except LedgerNotFoundError:
        return None
    if local != bundle_vkey:
        raise BundleError(
            f"the bundle names the log {origin!r}, but its log key is not the local ledger's",
            hint="a different log with the same name: pass --trust-log-key for the right one",
        )
    return local


def _read_text(path: Path, what: str) -> str:
    from provenance.errors import BundleError, CheckpointError

    err = BundleError if what == "bundle" else CheckpointError
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise err(f"cannot read {what} file {path}: {exc}") from exc


def _render_report(report: Report, name: str) -> None:
    verdict = report.verdict.upper()
    click.echo(f"{verdict}: {name}")
    if report.record_id:
        how = {
            "sha256": "exact file match",
            "pixels": "pixel match (metadata differs)",
            "perceptual": "perceptual match only",
            None: "record",
        }[report.match]
        click.echo(f"  matched record #{report.index} {report.record_id} by {how}")
    if report.checkpoint_size is not None:
        click.echo(f"  checkpoint: {report.origin} size {report.checkpoint_size}")
    for c in report.checks:
        mark = {"pass": "pass", "fail": "FAIL", "skip": "skip"}[c.status]
        detail = f" ({c.code}{': ' + c.detail if c.detail else ''})" if c.code != "ok" else ""
        click.echo(f"  ({c.number}) {mark}  {c.name}{detail}")
        for p in c.problems[1:5]:
            click.echo(f"           also {p.code}: {p.detail}")
    if report.chain:
        click.echo("  chain back to capture:")
        for s in report.chain:
            who = s.signer_name or s.signer
            acts = ", ".join(a["action"] for a in s.actions)
            mark = "ok " if s.ok else "BAD"
            click.echo(
                f"    [{mark}] #{s.index} {s.type:<7} by {who}  {s.time}"
                + (f"  {acts}" if acts else "")
            )
    for n in report.notes:
        click.echo(f"  note: {n}")


@cli.command()
@click.argument("target")
@click.option(
    "-o",
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bundle file to write.",
)
@click.option(
    "--since",
    "since",
    multiple=True,
    type=click.IntRange(1),
    help="Include a consistency proof from this earlier tree size (repeatable).",
)
@pass_env
def export(env: Env, target: str, out: Path, since: tuple[int, ...]) -> None:
    """Write a self-contained bundle to verify TARGET (image or record id) offline.

    \b
    Example:
      provenance export photo.jpg -o photo.provenance.json
      provenance verify photo.jpg --bundle photo.provenance.json
    """
    from provenance import bundle as bundle_mod
    from provenance.ledger import LedgerVerifier

    with env.ledger() as ledger:
        idx = ledger.resolve(target)
        ev = LedgerVerifier(ledger).evidence(idx, match=None)
        from provenance.errors import LogIntegrityError
        from provenance.verify import check_chain

        broken = [c for c in check_chain(ev).failures if c.number in (1, 3, 5)]
        if broken:
            # Records or proofs that cannot be served: the database is damaged, and a
            # bundle of it would not even be well formed. (A chain that merely fails its
            # signature checks is exported as it is: the bundle shows why.)
            raise LogIntegrityError(
                f"cannot export: the log is damaged ({broken[0].code}: {broken[0].detail})"
            )
        cp = ledger.checkpoint()
        assert cp is not None
        cons = {}
        for s in since:
            if s < cp.size:
                cons[s] = tuple(ledger.consistency(s, cp.size)[0])
        subject = next(r for r in ev.records if r.index == idx)
        from provenance.records import record_id

        b = bundle_mod.build(
            origin=ledger.origin,
            vkey=ledger.log_verifier.vkey(),
            checkpoint=cp.note,
            subject=record_id(subject.body),
            records=ev.records,
            consistency=cons,
        )
    _write_atomic(out, b.dumps())
    click.echo(f"wrote {out}: {len(b.records)} records, checkpoint size {cp.size}", err=True)


def _write_atomic(path: Path, text: str) -> None:
    """Write a file others will read (bundles, checkpoints): whole or not at all, mode 0644
    minus the umask, fsynced before it is renamed into place."""
    from provenance.errors import StoreError

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror or exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


# --- log -----------------------------------------------------------------------------------
@cli.group(cls=_Group)
def log() -> None:
    """Inspect and audit the Merkle log: checkpoints, proofs, full verification."""


@log.command("show")
@json_option
@pass_env
def log_show(env: Env, as_json: bool) -> None:
    """Show the log's size, origin, key and latest checkpoint.

    \b
    Example:
      provenance log show --json
    """
    with env.ledger() as ledger:
        cp = ledger.checkpoint()
        size = ledger.size()
        counts = ledger.store.table_counts()
        obj = {
            "db": ledger.store.display_url,
            "origin": ledger.origin,
            "size": size,
            "log_key_id": ledger.log_public.key_id,
            "vkey": ledger.log_verifier.vkey(),
            "keys": counts["keys"],
            "revocations": counts["revocations"],
            "assets": counts["assets"],
            "checkpoint": None
            if cp is None
            else {"size": cp.size, "root": cp.root.hex(), "note": cp.note},
        }
    if as_json:
        _emit_json(obj)
        return
    click.echo(f"ledger   {obj['db']}")
    click.echo(f"origin   {obj['origin']}")
    click.echo(
        f"size     {size} records ({obj['assets']} images, {obj['keys']} keys, "
        f"{obj['revocations']} revocations)"
    )
    click.echo(f"log key  {obj['log_key_id']}")
    if cp is not None:
        click.echo("latest checkpoint:")
        click.echo(cp.note.rstrip("\n"))


@log.command("checkpoint")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the signed checkpoint to this file (to pin it later).",
)
@json_option
@pass_env
def log_checkpoint(env: Env, out: Path | None, as_json: bool) -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint signed note).

    \b
    Example:
      provenance log checkpoint --out today.checkpoint
      provenance verify photo.jpg --checkpoint today.checkpoint
    """
    from provenance.errors import NotFoundError

    with env.ledger() as ledger:
        cp = ledger.checkpoint()
    if cp is None:
        raise NotFoundError("the log has no checkpoint yet (it is empty)")
    if out is not None:
        _write_atomic(out, cp.note)
    if as_json:
        _emit_json({"size": cp.size, "root": cp.root.hex(), "note": cp.note})
    else:
        click.echo(cp.note, nl=False)


@log.command("prove")
@click.argument("record")
@click.option("--size", type=click.IntRange(1), help="Tree size (default: latest checkpoint).")
@json_option
@pass_env
def log_prove(env: Env, record: str, size: int | None, as_json: bool) -> None:
    """Print the inclusion proof of a record (id, log index or image) in the tree.

    \b
    Example:
      provenance log prove sha256:3f2a... --size 10
    """
    import base64

    with env.ledger() as ledger:
        ref: str | int = (
            int(record)
            if record.isascii() and record.isdigit() and len(record) < 19
            else (record if record.startswith("sha256:") else ledger.resolve(record))
        )
        p = ledger.prove(ref, size)
    if as_json:
        _emit_json(
            {
                "index": p.index,
                "size": p.size,
                "record_id": p.record_id,
                "leaf_hash": p.leaf_hash.hex(),
                "root": p.root.hex(),
                "proof": [h.hex() for h in p.proof],
                "checkpoint": p.checkpoint,
                "verified": True,
            }
        )
        return
    click.echo(f"record     {p.record_id}")
    click.echo(f"index      {p.index}")
    click.echo(f"tree size  {p.size}")
    click.echo(f"leaf hash  {p.leaf_hash.hex()}")
    click.echo(f"root       {p.root.hex()}  ({base64.b64encode(p.root).decode()})")
    click.echo(f"proof ({len(p.proof)} hashes, checked against the root):")
    for h in p.proof:
        click.echo(f"  {h.hex()}")


@log.command("consistency")
@click.argument("old", type=click.IntRange(0))
@click.argument("new", type=click.IntRange(0))
@json_option
@pass_env
def log_consistency(env: Env, old: int, new: int, as_json: bool) -> None:
    """Print a consistency proof between two tree sizes (verified before printing).

    \b
    Example:
      provenance log consistency 10 25
    """
    with env.ledger() as ledger:
        proof, root1, root2 = ledger.consistency(old, new)
    if as_json:
        _emit_json(
            {
                "size1": old,
                "size2": new,
                "root1": root1.hex(),
                "root2": root2.hex(),
                "proof": [h.hex() for h in proof],
                "verified": True,
            }
        )
        return
    click.echo(f"size {old} root {root1.hex()}")
    click.echo(f"size {new} root {root2.hex()}")
    click.echo(f"proof ({len(proof)} hashes, verified):")
    for h in proof:
        click.echo(f"  {h.hex()}")


@log.command("verify")
@click.option(
    "--checkpoint",
    "pinned",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint saved earlier: the log must be consistent with it.",
)
@json_option
@pass_env
def log_verify(env: Env, pinned: tuple[Path, ...], as_json: bool) -> None:
    """Audit the whole log: every record, signature, node, parent link and checkpoint.

    Streams in constant memory with a progress bar on stderr; exits 1 at the first damage
    found (reported with its log index and kind).

    \b
    Example:
      provenance log verify --checkpoint yesterday.checkpoint
    """
    from provenance.audit import audit_log
    from provenance.verify import checkpoint_size_unverified

    notes = [_read_text(p, "checkpoint") for p in pinned]
    for note in notes:
        checkpoint_size_unverified(note)  # a malformed pin is an error (3), not log damage
    with env.ledger() as ledger:
        total = ledger.size()
        with _progress(total, "auditing") as tick:
            result = audit_log(ledger, pinned=notes, progress=lambda n: [tick() for _ in range(n)])
    if as_json:
        _emit_json(result.to_json())
    else:
        if result.ok:
            click.echo(
                f"log verifies: {result.records} records, {result.nodes} nodes, "
                f"{result.checkpoints} checkpoints, root {result.root_hex}"
            )
        else:
            click.echo(
                f"LOG DAMAGED at index {result.first_bad_index}: {result.kind}: {result.detail}"
            )
            for p in result.ordered()[1:10]:
                click.echo(f"  also: index {p.index}: {p.kind}: {p.detail}")
    if not result.ok:
        sys.exit(1)


# --- demo ----------------------------------------------------------------------------------
@cli.command()
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run in this folder and keep the files (default: a temporary folder).",
)
def demo(keep: Path | None) -> None:
    """Run the whole story on a sample photograph shipped with the package.

    \b
    Example:
      provenance demo
    """
    from provenance.demo import run_demo

    code = run_demo(keep, echo=click.echo)
    sys.exit(code)
