"""``log``: the Merkle log itself: show, checkpoint, prove, consistency, verify (audit)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

import provenance
import provenance.cli.render as render
from provenance.cli.base import (
    Env,
    Group,
    cli,
    json_option,
    out,
    out_json,
    pass_env,
    progress,
    read_checkpoints,
    safe,
)


@cli.group(cls=Group)
def log() -> None:
    """Inspect and audit the Merkle log: checkpoints, proofs, full verification."""


@log.command("show")
@json_option
@pass_env
def log_show(env: Env, as_json: bool) -> None:
    """Show the log's size, origin, log key, verifier key (vkey) and latest checkpoint.

    \b
    Example:
      provenance log show --json
    """
    with env.ledger() as ledger:
        info = ledger.info()
    if as_json:
        out_json(info.to_json())
        return
    for line in render.info_lines(info):
        out(line)


@log.command("checkpoint")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the signed checkpoint to this file (to pin it later).",
)
@json_option
@pass_env
def log_checkpoint(env: Env, out_file: Path | None, as_json: bool) -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint signed note).

    \b
    Example:
      provenance log checkpoint --out today.checkpoint
      provenance verify photo.jpg --checkpoint today.checkpoint
    """
    with env.ledger() as ledger:
        cp = ledger.checkpoint()
    if cp is None:
        raise provenance.NotFoundError("the log has no checkpoint yet (it is empty)")
    if out_file is not None:
        provenance.write_atomic(out_file, cp.note)
    if as_json:
        out_json({"size": cp.size, "root": cp.root.hex(), "note": cp.note})
    else:
        for line in cp.note.rstrip("\n").split("\n"):
            out(safe(line))


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
    with env.ledger() as ledger:
        p = ledger.prove(record, size)
    if as_json:
        out_json(p.to_json())
        return
    for line in render.proof_lines(p):
        out(line)


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
        out_json(
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
    out(f"size {old} root {root1.hex()}")
    out(f"size {new} root {root2.hex()}")
    out(f"proof ({len(proof)} hashes, verified):")
    for h in proof:
        out(f"  {h.hex()}")


@log.command("verify")
@click.option(
    "--checkpoint",
    "pinned",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint saved earlier: the log must be consistent with it.",
)
@click.option(
    "--workers",
    type=click.IntRange(0, 64),
    default=1,
    show_default=True,
    help="Processes checking signatures beside this one (0: all in this process).",
)
@json_option
@pass_env
def log_verify(env: Env, pinned: tuple[Path, ...], workers: int, as_json: bool) -> None:
    """Audit the whole log: every record, signature, node, parent link and checkpoint.

    Streams in constant memory with a progress bar on stderr; exits 1 when anything is
    damaged (the first damaged index and the reason are printed).

    \b
    Example:
      provenance log verify --checkpoint yesterday.checkpoint
    """
    notes = read_checkpoints(pinned)
    with env.ledger() as ledger, progress(ledger.size(), "auditing") as tick:
        result = ledger.audit(
            pinned=notes, progress=lambda n: [tick() for _ in range(n)], workers=workers
        )
    if as_json:
        out_json(result.to_json())
    elif result.ok:
        out(
            f"log verifies: {result.records} records, {result.nodes} nodes, "
            f"{result.checkpoints} checkpoints, root {result.root_hex}"
        )
    else:
        out(f"LOG DAMAGED at index {result.first_bad_index}: {result.code}: {safe(result.detail)}")
        for p in result.ordered()[1:10]:
            out(f"  also: index {p.index}: {p.code}: {safe(p.detail)}")
    if not result.ok:
        sys.exit(1)
