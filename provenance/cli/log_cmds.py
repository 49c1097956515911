"""``log``: the Merkle log itself: show, checkpoint, prove, consistency, verify (audit)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

import provenance
import provenance.cli.remote as remote_cmds
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
from provenance.cli.remote import remote_or_none, trust_option


@cli.group(cls=Group)
def log() -> None:
    """Inspect and audit the Merkle log: checkpoints, proofs, full verification."""


@log.command("show")
@trust_option
@json_option
@pass_env
def log_show(env: Env, trust_log_key: str | None, as_json: bool) -> None:
    """Show the log's size, origin, log key, verifier key (vkey) and latest checkpoint.

    \b
    Example:
      provenance log show --json
      provenance --ledger http://ledger.example:8000 log show --trust-log-key VKEY
    """
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        remote_cmds.show(remote, as_json)
        return
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
@trust_option
@json_option
@pass_env
def log_checkpoint(
    env: Env, out_file: Path | None, trust_log_key: str | None, as_json: bool
) -> None:
    """Print the latest signed checkpoint (C2SP tlog-checkpoint signed note); from a
    server, verified under the trusted key first, with its witness cosignatures.

    \b
    Example:
      provenance log checkpoint --out today.checkpoint
      provenance verify photo.jpg --checkpoint today.checkpoint
    """
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        size, root, note = remote_cmds.checkpoint(remote)
    else:
        with env.ledger() as ledger:
            cp = ledger.checkpoint()
        if cp is None:
            raise provenance.NotFoundError("the log has no checkpoint yet (it is empty)")
        size, root, note = cp.size, cp.root, cp.note
    if out_file is not None:
        provenance.write_atomic(out_file, note)
    if as_json:
        out_json({"size": size, "root": root.hex(), "note": note})
    else:
        for line in note.rstrip("\n").split("\n"):
            out(safe(line))


@log.command("prove")
@click.argument("record")
@click.option("--size", type=click.IntRange(1), help="Tree size (default: latest checkpoint).")
@trust_option
@json_option
@pass_env
def log_prove(
    env: Env, record: str, size: int | None, trust_log_key: str | None, as_json: bool
) -> None:
    """Print the inclusion proof of a record (id, log index or image) in the tree.

    \b
    Example:
      provenance log prove sha256:3f2a... --size 10
    """
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        with remote:  # checked against the verified checkpoint
            p = remote.prove(record, size)
    else:
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
@trust_option
@json_option
@pass_env
def log_consistency(env: Env, old: int, new: int, trust_log_key: str | None, as_json: bool) -> None:
    """Print a consistency proof between two tree sizes (verified before printing).

    \b
    Example:
      provenance log consistency 10 25
    """
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        with remote:  # both roots anchored in the verified checkpoint
            proof, root1, root2 = remote.consistency(old, new)
    else:
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
    default=lambda: min(8, os.cpu_count() or 1),
    show_default="the number of CPU cores, at most 8",
    help="Processes checking signatures beside this one (0: all in this process).",
)
@trust_option
@json_option
@pass_env
def log_verify(
    env: Env, pinned: tuple[Path, ...], workers: int, trust_log_key: str | None, as_json: bool
) -> None:
    """Audit the whole log: every record, signature, node, parent link and checkpoint.

    Streams in constant memory with a progress bar on stderr; exits 1 when anything is
    damaged (the first damaged index and the reason are printed). With --ledger, the log
    is rebuilt here from the server's C2SP entry tiles and checked against its checkpoint
    verified under the trusted key.

    \b
    Example:
      provenance log verify --checkpoint yesterday.checkpoint
      provenance --ledger http://ledger.example:8000 log verify --trust-log-key VKEY
    """
    notes = read_checkpoints(pinned)
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        result = remote_cmds.audit(remote, notes)
    else:
        with env.ledger() as ledger, progress(ledger.size(), "auditing") as tick:
            result = ledger.audit(
                pinned=notes, progress=lambda n: [tick() for _ in range(n)], workers=workers
            )
    if as_json:
        out_json(result.to_json())
    elif result.ok:
        out(
            f"log verifies: {_count(result.records, 'record')}, {_count(result.nodes, 'node')}, "
            f"{_count(result.checkpoints, 'checkpoint')}, root {result.root_hex}"
        )
    else:
        out(f"LOG DAMAGED at index {result.first_bad_index}: {result.code}: {safe(result.detail)}")
        for p in result.ordered()[1:10]:
            out(f"  also: index {p.index}: {p.code}: {safe(p.detail)}")
    if not result.ok:
        sys.exit(1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
