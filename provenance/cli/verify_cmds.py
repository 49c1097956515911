"""``verify``, ``history`` and ``export``: judge images and chains, offline or not."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

import provenance
import provenance.cli.render as render
from provenance.cli.base import (
    Env,
    cli,
    err,
    json_option,
    out,
    out_json,
    pass_env,
    read_checkpoints,
    safe,
    to_json,
)

if TYPE_CHECKING:
    from provenance import Bundle, Ledger, Report

_SEVERITY = {1: 0, 3: 1, 4: 2, 5: 3, 7: 4, 0: 5}
"""Which exit code wins when several images are verified: tampered first, verified last."""


def _worst(codes: list[int]) -> int:
    return min(codes, key=lambda c: _SEVERITY.get(c, 1)) if codes else 0


@cli.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
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
    "(check 8).",
)
@click.option(
    "--trust-log-key",
    metavar="VKEY",
    help="With --bundle: the log's verifier key (C2SP vkey) to trust. Without it, a pinned "
    "--checkpoint or the local ledger (--db) of the same log is the trust anchor; a bundle "
    "is never trusted on its own say-so.",
)
@click.option(
    "--require-replayed",
    is_flag=True,
    help="Exit 7 (not 0) for a verified image whose chain has edits that were only "
    "declared, not replayed.",
)
@json_option
@pass_env
def verify(
    env: Env,
    images: tuple[Path, ...],
    bundle: Path | None,
    pinned: tuple[Path, ...],
    parent_images: tuple[Path, ...],
    trust_log_key: str | None,
    require_replayed: bool,
    as_json: bool,
) -> None:
    """Verify images: find each one's record, check the chain back to capture, grade it.

    Exit codes: 0 verified, 1 tampered, 3 could not check, 4 unknown, 5 similar, 7 verified
    but some edits only declared (with --require-replayed). With several images, one result
    each (JSON Lines with --json) and the most severe exit code (1, 3, 4, 5, 7, 0).

    \b
    Example:
      provenance verify download.jpg
      provenance verify web.png --parent-image original.jpg
      provenance verify downloads/*.jpg --json
      provenance verify download.jpg --bundle photo.provenance.json --trust-log-key VKEY
    """
    if bundle is not None and parent_images:
        raise click.UsageError("--parent-image works with the ledger, not with --bundle")
    many = len(images) > 1
    codes: list[int] = []
    try:
        notes = read_checkpoints(pinned)
        source = _Source(env, bundle, trust_log_key, notes).open()
    except provenance.ProvenanceError as exc:
        if as_json:  # scripts parse every outcome: the error as a JSON object too
            for image in images:
                out(_error_json(image, exc, indent=None if many else 2))
        raise
    with source:
        for image in images:
            try:
                report = source.verify(image, parent_images)
            except provenance.ProvenanceError as exc:
                if not as_json and not many:
                    raise
                codes.append(exc.exit_code)
                if as_json:
                    out(_error_json(image, exc, indent=None if many else 2))
                err(f"error: {safe(image)}: {safe(exc.message)}")
                if exc.hint:
                    err(f"hint: {safe(exc.hint)}")
                continue
            code = report.exit_code
            if require_replayed and report.verdict == "verified" and report.declared_steps:
                code = provenance.EXIT_DECLARED
            codes.append(code)
            if as_json:
                payload = {"image": str(image), **report.to_json(), "exit_code": code}
                out(to_json(payload, indent=None if many else 2))
            else:
                for line in render.report_lines(report, str(image)):
                    out(line)
    sys.exit(_worst(codes))


def _error_json(image: Path, exc: provenance.ProvenanceError, *, indent: int | None) -> str:
    return to_json(
        {
            "image": str(image),
            "verdict": "error",
            "exit_code": exc.exit_code,
            "error": type(exc).__name__,
            "message": exc.message,
            "hint": exc.hint,
        },
        indent=indent,
    )


class _Source:
    """Where ``verify`` gets evidence: a bundle (no database) or the local ledger."""

    def __init__(
        self, env: Env, bundle: Path | None, trust_log_key: str | None, notes: list[str]
    ) -> None:
        self.env, self.notes = env, notes
        self.trust_log_key = trust_log_key
        self.bundle: Bundle | None = None
        self.ledger: Ledger | None = None
        if bundle is not None:
            text = provenance.read_text(bundle, "bundle", error=provenance.BundleError)
            self.bundle = provenance.load_bundle(text)

    def open(self) -> _Source:
        """Open the ledger (or find the bundle's trust anchor in the local one)."""
        if self.bundle is None:
            self.ledger = self.env.ledger()
        elif self.trust_log_key is None and not self.notes:
            self.trust_log_key = _local_vkey(self.env, self.bundle)
        return self

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ledger is not None:
            self.ledger.close()

    def verify(self, image: Path, parent_images: tuple[Path, ...]) -> Report:
        if self.bundle is not None:
            data = provenance.read_image_bytes(image)
            return provenance.verify_offline(
                data,
                self.bundle,
                name=str(image),
                trust_log_key=self.trust_log_key,
                pinned=self.notes,
            )
        assert self.ledger is not None
        report, _ = self.ledger.evidence().verify_image(
            image, pinned=self.notes, parent_images=parent_images
        )
        return report


def _local_vkey(env: Env, bundle: Bundle) -> str | None:
    """The log key of the local ledger (--db) when it keeps the bundle's log, else None.

    Raises:
        TrustAnchorError: the local ledger has the bundle's log name but another log key.
    """
    try:
        with env.ledger() as ledger:
            if ledger.origin != bundle.origin:
                return None
            local = ledger.log_verifier.vkey()
    except provenance.LedgerNotFoundError:
        return None
    if local != bundle.vkey:
        raise provenance.TrustAnchorError(
            f"the bundle names the log {bundle.origin!r}, but its log key is not the local "
            f"ledger's ({safe(local)})",
            hint="a different log with the same name: pass --trust-log-key for the right one",
        )
    return local


@cli.command()
@click.argument("target")
@click.option(
    "--checkpoint",
    "pinned",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A checkpoint saved earlier: the log must be consistent with it.",
)
@json_option
@pass_env
def history(env: Env, target: str, pinned: tuple[Path, ...], as_json: bool) -> None:
    """Show the chain of an image, record id or log index back to capture, each step with
    how it was checked, who signed it (name and key id) and its claims.

    \b
    Example:
      provenance history edited.jpg
      provenance history 7
    """
    notes = read_checkpoints(pinned)
    with env.ledger() as ledger:
        report = ledger.evidence().verify_record(target, pinned=notes)
    if as_json:
        out_json(
            {
                "verdict": report.verdict,
                "root": report.index,
                "records": [step.to_json() for step in report.chain],
                "report": report.to_json(),
            }
        )
    else:
        verdict = "verifies" if report.verdict == "verified" else "FAILS (tampered)"
        out(f"chain {verdict}")
        line = render.assurance_line(report)
        if line:
            out(f"  {line}")
        for c in report.failures:
            out(f"  ({c.number}) FAIL {c.code}: {safe(c.detail)}")
        for line in render.tree_lines(report):
            out(line)
    if report.verdict != "verified":
        sys.exit(1)


@cli.command()
@click.argument("target")
@click.option(
    "-o",
    "--out",
    "out_file",
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
def export(env: Env, target: str, out_file: Path, since: tuple[int, ...]) -> None:
    """Write a self-contained bundle to verify TARGET (image, record id or index) offline.

    \b
    Example:
      provenance export photo.jpg -o photo.provenance.json
      provenance verify photo.jpg --bundle photo.provenance.json --trust-log-key VKEY
    """
    with env.ledger() as ledger:
        b = provenance.export_bundle(ledger, target, since=since)
    provenance.write_atomic(out_file, b.dumps())
    cp_size = provenance.checkpoint_size_unverified(b.checkpoint)
    err(f"wrote {safe(out_file)}: {len(b.records)} records, checkpoint size {cp_size}")
