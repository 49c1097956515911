"""``sign``, ``edit`` and ``derive``: put captures and edits into the log."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

import provenance
import provenance.cli.render as render
from provenance.cli.base import (
    INTERRUPT_HINT,
    Env,
    cli,
    err,
    json_option,
    load_key,
    out,
    out_json,
    parse_claims,
    pass_env,
    passphrase_file_option,
    progress,
    safe,
)
from provenance.cli.remote import open_ledger, trust_option

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance import SignResult

EXIT_CONFLICT = 6

key_option = click.option(
    "--key",
    "key_file",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The signer's private key file.",
)
claim_option = click.option(
    "--claim",
    "claims",
    multiple=True,
    metavar="K=V",
    help="A claim recorded in the statement (author, caption, device...); names starting "
    "with 'provenance.' are reserved.",
)


def c2pa_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--c2pa POLICY`` and ``--c2pa-trust FILE``: how Content Credentials in a file are read."""
    f = click.option(
        "--c2pa-trust",
        "c2pa_trust",
        multiple=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        metavar="FILE",
        help="PEM file of C2PA trust anchors (repeatable): the C2PA Trust List, an "
        "operator's root.pem. Without it, PROVENANCE_C2PA_TRUST (paths separated by ':'); "
        "else no anchors.",
    )(f)
    return click.option(
        "--c2pa",
        "c2pa_policy",
        type=click.Choice(["record", "require-valid", "ignore"]),
        default="record",
        show_default=True,
        help="Content Credentials (C2PA) in a file: record what they say as c2pa.* claims; "
        "require-valid: also refuse a file whose credentials do not validate (Invalid, "
        "unreadable, remote-only); ignore: do not read them.",
    )(f)


def c2pa_args(policy: str, trust: tuple[Path, ...]) -> dict[str, Any]:
    """Keyword arguments of Ledger.sign/derive/edit for the ``--c2pa`` options."""
    if policy == "ignore":
        return {"c2pa_policy": "ignore"}
    return {"c2pa_policy": policy, "c2pa_trust": provenance.load_c2pa_trust(trust)}


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@key_option
@passphrase_file_option
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-folders.")
@claim_option
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
@c2pa_options
@trust_option
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
    c2pa_policy: str,
    c2pa_trust: tuple[Path, ...],
    trust_log_key: str | None,
    as_json: bool,
) -> None:
    """Sign images at capture: files or folders.

    An image already logged is not signed again: "exists" when by your key (exit 0),
    CONFLICT naming the signer when by another key (exit 6: your signature was not
    recorded). With --json, one JSON object per image (JSON Lines). Exits 3 if any image
    could not be read (the others are still signed).

    \b
    Example:
      provenance sign DSC_0001.jpg --key alice.key --claim author="A. Photographer"
      provenance sign card/ --recursive --workers 2 --key alice.key
      provenance --ledger http://ledger.example:8000 sign DSC_0002.jpg --key alice.key \\
          --trust-log-key VKEY
    """
    claim_map = parse_claims(claims)
    c2pa = c2pa_args(c2pa_policy, c2pa_trust)
    key = load_key(key_file, passphrase_file)
    files = [str(p) for p in provenance.collect_images(paths, recursive=recursive)]
    if not files:
        hint = (
            "the folder holds only sub-folders: add --recursive"
            if not recursive and provenance.has_subfolders(paths)
            else "name image files (JPEG, PNG, WebP, TIFF, GIF, HEIF, AVIF) or folders of them"
        )
        raise click.UsageError(f"no images found in {', '.join(map(safe, paths))} ({hint})")
    done: list[SignResult] = []
    with open_ledger(env, trust_log_key) as ledger, progress(len(files), "signing") as tick:

        def report(res: SignResult) -> None:
            done.append(res)
            INTERRUPT_HINT[0] = (
                f"{sum(r.status == 'signed' for r in done)} image(s) were logged before the "
                "interruption; run the same command again to continue (logged images are "
                "skipped)"
            )
            if as_json:
                out(json.dumps(res.to_json(), ensure_ascii=False))
            elif res.status == "error":
                err(render.sign_line(res))
            else:
                out(render.sign_line(res))

        ledger.sign(
            files,
            key,
            claims=claim_map,
            workers=workers,
            batch_size=batch_size,
            on_result=report,
            on_progress=lambda _path: tick(),
            **c2pa,
        )
    failed = sum(r.status == "error" for r in done)
    conflicts = sum(r.status == "conflict" for r in done)
    signed = sum(r.status == "signed" for r in done)
    if not as_json or failed or conflicts:
        err(
            f"{signed} signed, {len(done) - signed - failed - conflicts} already logged, "
            f"{conflicts} logged by another signer, {failed} failed"
        )
    if failed:
        sys.exit(3)
    if conflicts:
        sys.exit(EXIT_CONFLICT)


def _emit_edit_result(res: SignResult, as_json: bool, prefix: str = "") -> None:
    """Render the receipt of ``derive`` or ``edit``; a conflict exits 6."""
    if as_json:
        out_json(res.to_json())
    elif res.status == "conflict":
        out(render.sign_line(res))
    else:
        word = "recorded" if res.status == "signed" else "already logged"
        out(f"{prefix}{word} {safe(res.path)}  {res.record_id}  (log index {res.index})")
        if res.c2pa:
            out(f"  content credentials: {safe(res.c2pa)}")
    if res.status == "conflict":
        sys.exit(EXIT_CONFLICT)


def _parse_value(v: str) -> Any:
    """A --param value: JSON when it parses as JSON (numbers, true, lists...), else a string."""
    try:
        return json.loads(v)
    except json.JSONDecodeError:
        return v
    except (ValueError, RecursionError) as exc:  # absurd numbers or nesting
        raise click.BadParameter(f"unusable value {v[:40]!r}: {exc}", param_hint="--param") from exc


@cli.command()
@click.argument("parent", nargs=-1, required=True)
@click.argument("child", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@key_option
@passphrase_file_option
@click.option(
    "--action",
    "actions",
    multiple=True,
    required=True,
    metavar="ACTION",
    help="C2PA action name, e.g. c2pa.adjustedColor (repeatable).",
)
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="[N:]K=V",
    help="Parameter of action N (1-based; default the first). V is JSON if it "
    "parses as JSON, else a string.",
)
@claim_option
@c2pa_options
@trust_option
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
    c2pa_policy: str,
    c2pa_trust: tuple[Path, ...],
    trust_log_key: str | None,
    as_json: bool,
) -> None:
    """Record a declared edit: CHILD (an existing file) was made from PARENT(s) (logged
    images, record ids or log indexes) by the actions named.

    A declared edit cannot be replayed; verify shows it as "declared" with your key id, and
    checks what the records allow (a colour change keeps size and picture).

    \b
    Example:
      provenance derive original.jpg graded.jpg --key desk.key \\
          --action c2pa.adjustedColor --param brightness=1.1
    """
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
    try:
        action_objs = [
            provenance.Action.from_json({"action": a, "params": p})
            for a, p in zip(actions, per_action, strict=True)
        ]
    except provenance.RecordError as exc:
        raise click.BadParameter(str(exc), param_hint="--action/--param") from exc
    claim_map = parse_claims(claims)
    c2pa = c2pa_args(c2pa_policy, c2pa_trust)
    key = load_key(key_file, passphrase_file)
    with open_ledger(env, trust_log_key) as ledger:
        res = ledger.derive(list(parent), child, key, action_objs, claims=claim_map, **c2pa)
    _emit_edit_result(res, as_json)


@cli.command()
@click.argument("source")
@click.option(
    "-o",
    "--out",
    "out_file",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Edited image to write (.png/.webp replay exactly; .jpg/.tif allowed).",
)
@click.option("--crop", metavar="L,T,R,B", help="Crop box in pixels.")
@click.option("--resize", metavar="WxH", help="Resize (Lanczos) to WIDTHxHEIGHT.")
@click.option("--rotate", type=int, metavar="DEG", help="Rotate clockwise by 90, 180 or 270.")
@click.option("--flip", type=click.Choice(["horizontal", "vertical"]))
@key_option
@passphrase_file_option
@claim_option
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@c2pa_options
@trust_option
@json_option
@pass_env
def edit(
    env: Env,
    source: str,
    out_file: Path,
    crop: str | None,
    resize: str | None,
    rotate: int | None,
    flip: str | None,
    key_file: Path,
    passphrase_file: Path | None,
    claims: tuple[str, ...],
    force: bool,
    c2pa_policy: str,
    c2pa_trust: tuple[Path, ...],
    trust_log_key: str | None,
    as_json: bool,
) -> None:
    """Edit a logged image with replayable operations and record the edit.

    Operations apply in the order crop, resize, rotate, flip, to the image as a viewer
    shows it (orientation applied; its colour profile is kept). The record lists them as
    C2PA actions with their parameters, so a verifier holding the parent can replay them.

    \b
    Example:
      provenance edit photo.jpg -o photo-web.png --crop 0,0,3000,2000 --resize 1500x1000 \\
          --key desk.key
    """
    ops: list[provenance.Operation] = []
    if crop:
        ops.append(provenance.parse_crop(crop))
    if resize:
        ops.append(provenance.parse_resize(resize))
    if rotate is not None:
        ops.append(provenance.parse_rotate(rotate))
    if flip:
        ops.append(provenance.Flip(flip))
    if not ops:
        raise click.UsageError("give at least one of --crop, --resize, --rotate, --flip")
    claim_map = parse_claims(claims)
    c2pa = c2pa_args(c2pa_policy, c2pa_trust)
    key = load_key(key_file, passphrase_file)
    with open_ledger(env, trust_log_key) as ledger:
        res = ledger.edit(source, out_file, ops, key, claims=claim_map, overwrite=force, **c2pa)
    _emit_edit_result(res, as_json, prefix=f"wrote {safe(out_file)}; ")
