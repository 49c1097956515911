"""The commands against a ledger served over HTTP (``provenance --ledger URL ...``).

``--ledger URL`` (PROVENANCE_LEDGER) on the group points sign, edit, derive, verify,
history, export and log at a server (:class:`provenance.RemoteLedger`); their
``--trust-log-key VKEY`` (else the group's, else PROVENANCE_LOG_VKEY) is the only thing
trusted: without it, or with the key of another log, they stop with exit 3 and a hint.
Digests and signatures are made here, evidence is judged here by the same pure verifier as
locally, and the output, JSON and exit codes are those of the local commands. This module
holds the shared options and the remote halves of ``log`` and ``history``; the rest of each
command is its family's module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

import provenance
from provenance.cli.base import Env, out, out_json, progress, safe

if TYPE_CHECKING:
    from provenance import Ledger, RemoteLedger

TRUST_HELP = (
    "With --ledger: the verifier key (vkey) of the server's log, the only thing trusted "
    "(else the group's --trust-log-key or PROVENANCE_LOG_VKEY)."
)


def trust_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--trust-log-key VKEY`` of a command that talks to a server."""
    return click.option("--trust-log-key", "trust_log_key", metavar="VKEY", help=TRUST_HELP)(f)


def witness_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--witness-key WVKEY`` (repeatable) and ``--min-witnesses K``."""
    f = click.option(
        "--min-witnesses",
        type=click.IntRange(0),
        default=None,
        metavar="K",
        help="How many of the --witness-key witnesses must have cosigned the checkpoint the "
        "verdict relies on (default: all of them).",
    )(f)
    return click.option(
        "--witness-key",
        "witness_keys",
        multiple=True,
        metavar="WVKEY",
        help="A witness's verifier key (`provenance witness vkey`), repeatable: its "
        "cosignature on the checkpoint counts towards --min-witnesses.",
    )(f)


def witnesses(
    keys: tuple[str, ...], minimum: int | None
) -> tuple[list[provenance.NoteVerifier], int]:
    """The witness verifiers and how many must cosign (a usage error when impossible)."""
    if minimum is not None and minimum > len(keys):
        raise click.UsageError(
            f"--min-witnesses {minimum} needs at least {minimum} --witness-key (got {len(keys)})"
        )
    verifiers = list(provenance.witness_verifiers(keys))
    return verifiers, len(verifiers) if minimum is None else minimum


def remote_or_none(env: Env, trust_log_key: str | None) -> RemoteLedger | None:
    """The server at ``--ledger`` (None: the command works on the local ledger).

    Raises:
        click.UsageError: ``--trust-log-key`` without ``--ledger``.
        TrustAnchorError: ``--ledger`` without a vkey, or a malformed one.
    """
    if env.ledger_url is not None:
        return env.remote(trust_log_key)
    if trust_log_key is not None:
        raise click.UsageError(
            "--trust-log-key is the anchor of a ledger served over HTTP: pass --ledger URL "
            "(or set PROVENANCE_LEDGER)"
        )
    return None


def open_ledger(env: Env, trust_log_key: str | None) -> Ledger | RemoteLedger:
    """The ledger a command works on: the server at ``--ledger``, else the local one."""
    return remote_or_none(env, trust_log_key) or env.ledger()


# --- log ------------------------------------------------------------------------------------
def show(remote: RemoteLedger, as_json: bool) -> None:
    with remote:
        info = remote.info()
    if as_json:
        out_json(info)
        return
    out(f"ledger   {safe(info['ledger'])}")
    out(f"origin   {safe(info.get('origin'))}")
    out(
        f"size     {info.get('size')} records ({safe(info.get('assets', 0))} images, "
        f"{safe(info.get('keys', 0))} keys, {safe(info.get('revocations', 0))} revocations)"
    )
    out(f"log key  {safe(info.get('log_key_id'))}")
    out(f"vkey     {safe(info.get('vkey'))}  (the key you trust)")
    for url in info.get("witnesses") or ():
        out(f"witness  {safe(url)}")
    cp = info.get("checkpoint")
    if cp is not None:
        out("latest checkpoint (verified):")
        for line in str(cp["note"]).rstrip("\n").split("\n"):
            out(safe(line))


def checkpoint(remote: RemoteLedger) -> tuple[int, bytes, str]:
    with remote:
        cp, note = remote.checkpoint()
    return cp.size, cp.root, note


def audit(remote: RemoteLedger, notes: list[str]) -> provenance.AuditResult:
    with remote:
        size = remote.checkpoint()[0].size
        with progress(size, "auditing") as tick:
            return remote.audit(pinned=notes, progress=lambda n: [tick() for _ in range(n)])
