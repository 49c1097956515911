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
    passphrase_file_option,
    read_checkpoints,
    safe,
    to_json,
)
from provenance.cli.remote import remote_or_none, trust_option, witness_options, witnesses

if TYPE_CHECKING:
    from provenance import Bundle, C2paTrust, Ledger, NoteVerifier, RemoteLedger, Report

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
    help="The log's verifier key (C2SP vkey) to trust. With --bundle, the bundle's anchor "
    "(without it, a pinned --checkpoint or the local ledger of the same log is; a bundle is "
    "never trusted on its own say-so); with --ledger URL, the server's log key (else "
    "PROVENANCE_LOG_VKEY); else each image is verified offline against the bundle its "
    "Content Credentials embed (`export --c2pa`).",
)
@witness_options
@click.option(
    "--c2pa-trust",
    "c2pa_trust",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="PEM file of C2PA trust anchors (repeatable) for the informational line about an "
    "image's Content Credentials; default PROVENANCE_C2PA_TRUST, else none.",
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
    witness_keys: tuple[str, ...],
    min_witnesses: int | None,
    c2pa_trust: tuple[Path, ...],
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
      provenance verify exported.jpg --trust-log-key VKEY   # its embedded bundle, offline
      provenance --ledger http://ledger.example:8000 verify download.jpg \\
          --trust-log-key VKEY --witness-key WVKEY
    """
    remote = env.ledger_url is not None and bundle is None
    if (bundle is not None or remote) and parent_images:
        raise click.UsageError(
            "--parent-image works with the local ledger (--db), not with --bundle or --ledger"
        )
    many = len(images) > 1
    codes: list[int] = []
    try:
        notes = read_checkpoints(pinned)
        trust = provenance.load_c2pa_trust(c2pa_trust)
        cosigners = witnesses(witness_keys, min_witnesses)
        source = _Source(env, bundle, trust_log_key, notes, cosigners).open()
    except provenance.ProvenanceError as exc:
        if as_json:  # scripts parse every outcome: the error as a JSON object too
            for image in images:
                out(_error_json(image, exc, indent=None if many else 2))
        raise
    with source:
        for image in images:
            try:
                report, data = source.verify(image, parent_images)
                _credentials_note(report, data, trust)
            except provenance.ProvenanceError as exc:
                if not as_json and not many:
                    raise
                codes.append(exc.exit_code)
                if as_json:
                    out(_error_json(image, exc, indent=None if many else 2))
                named = "" if str(image) in exc.message else f"{safe(image)}: "
                err(f"error: {named}{safe(exc.message)}")
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


def _credentials_note(report: Report, data: bytes, trust: C2paTrust) -> None:
    """Add the informational ``c2pa:`` line about the image's Content Credentials (never
    part of the verdict: a manifest says what its signer claims, the log what was logged)."""
    recorded = report.chain[0].claims if report.chain else None
    note = provenance.credentials_note(data, trust, recorded=recorded)
    if note:
        report.notes.append(f"c2pa: {note}")


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
    """Where ``verify`` gets evidence: a bundle (no database), a server (``--ledger``) or
    the local ledger."""

    def __init__(
        self,
        env: Env,
        bundle: Path | None,
        trust_log_key: str | None,
        notes: list[str],
        cosigners: tuple[list[NoteVerifier], int],
    ) -> None:
        self.env, self.notes = env, notes
        self.trust_log_key = trust_log_key
        self.witnesses, self.min_witnesses = cosigners
        self.bundle: Bundle | None = None
        self.ledger: Ledger | None = None
        self.remote: RemoteLedger | None = None
        self.embedded = False
        if bundle is not None:
            text = provenance.read_text(bundle, "bundle", error=provenance.BundleError)
            self.bundle = provenance.load_bundle(text)

    def open(self) -> _Source:
        """Open the ledger (or find the bundle's trust anchor in the local one).

        ``--trust-log-key`` without ``--bundle`` verifies each image against the bundle
        its Content Credentials embed (an ``export --c2pa`` file): offline, no database."""
        if self.bundle is None and self.env.ledger_url is not None:
            self.remote = self.env.remote(self.trust_log_key)
            try:
                self.remote.checkpoint()  # unreachable, or not the trusted log: stop here
            except BaseException:
                self.remote.close()
                raise
        elif self.bundle is None and self.trust_log_key is not None:
            self.embedded = True
        elif self.bundle is None:
            self.ledger = self.env.ledger()
        elif self.trust_log_key is None and not self.notes:
            self.trust_log_key = _local_vkey(self.env, self.bundle)
        return self

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.ledger is not None:
            self.ledger.close()
        if self.remote is not None:
            self.remote.close()

    def verify(self, image: Path, parent_images: tuple[Path, ...]) -> tuple[Report, bytes]:
        """The image's report, and its bytes (read once, for the Content Credentials line)."""
        probe = provenance.ImageProbe.from_file(image)
        return self._judge(probe, parent_images), probe.data

    def _judge(self, probe: provenance.ImageProbe, parent_images: tuple[Path, ...]) -> Report:
        if self.remote is not None:
            return self.remote.verify_image(
                probe,
                pinned=self.notes,
                witnesses=self.witnesses,
                min_witnesses=self.min_witnesses,
            )
        if self.bundle is not None or self.embedded:
            bundle = self.bundle or _embedded_bundle(probe.name, probe.data)
            return provenance.verify_offline(
                probe,
                bundle,
                name=probe.name,
                trust_log_key=self.trust_log_key,
                pinned=self.notes,
                witnesses=self.witnesses,
                min_witnesses=self.min_witnesses,
            )
        assert self.ledger is not None
        evidence = (
            provenance.LocalEvidence(
                self.ledger, witnesses=self.witnesses, min_witnesses=self.min_witnesses
            )
            if self.witnesses
            else self.ledger.evidence()
        )
        report, _ = evidence.verify_image(probe, pinned=self.notes, parent_images=parent_images)
        return report


def _embedded_bundle(image: str, data: bytes) -> Bundle:
    """The offline bundle the image's Content Credentials carry.

    Raises:
        BundleError: the image carries none.
    """
    text = provenance.embedded_bundle_text(data)
    if text is None:
        raise provenance.BundleError(
            f"{image} carries no provenance bundle in Content Credentials",
            hint="pass --bundle FILE (written by `provenance export`), or verify against the "
            "ledger (--db, or --ledger URL)",
        )
    return provenance.load_bundle(text)


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
@trust_option
@json_option
@pass_env
def history(
    env: Env, target: str, pinned: tuple[Path, ...], trust_log_key: str | None, as_json: bool
) -> None:
    """Show the chain of an image, record id or log index back to capture, each step with
    how it was checked, who signed it (name and key id) and its claims.

    \b
    Example:
      provenance history edited.jpg
      provenance history 7
      provenance --ledger http://ledger.example:8000 history 7 --trust-log-key VKEY
    """
    notes = read_checkpoints(pinned)
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        with remote:
            report = remote.verify_record(target, pinned=notes)
    else:
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
    help="Bundle file to write (with --c2pa: the image with Content Credentials).",
)
@click.option(
    "--since",
    "since",
    multiple=True,
    type=click.IntRange(1),
    help="Include a consistency proof from this earlier tree size (repeatable).",
)
@click.option(
    "--c2pa",
    "c2pa",
    is_flag=True,
    help="Write TARGET (an image file, JPEG or PNG) with Content Credentials pointing to "
    "the ledger, the offline bundle embedded, signed with --c2pa-cert/--c2pa-key.",
)
@click.option(
    "--c2pa-cert",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The C2PA signer's certificate chain, PEM, leaf first (`c2pa certs` writes chain.pem).",
)
@click.option(
    "--c2pa-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The C2PA signer's key: a provenance key file or a PKCS#8 PEM.",
)
@passphrase_file_option
@click.option(
    "--c2pa-remote",
    metavar="BASEURL",
    help="Embed no manifest store: reference BASEURL/v1/manifests/<id> and write the store "
    "to OUT.c2pa for the server (POST /v1/manifests).",
)
@click.option(
    "--ledger-url",
    metavar="URL",
    help="The ledger's public URL, written into the credentials as where to look it up.",
)
@click.option(
    "--parent-image",
    "parent_images",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An original carrying Content Credentials (a camera's): its manifests are carried "
    "into the export as ingredients (repeatable).",
)
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
@trust_option
@pass_env
def export(
    env: Env,
    target: str,
    out_file: Path,
    since: tuple[int, ...],
    c2pa: bool,
    c2pa_cert: Path | None,
    c2pa_key: Path | None,
    passphrase_file: Path | None,
    c2pa_remote: str | None,
    ledger_url: str | None,
    parent_images: tuple[Path, ...],
    force: bool,
    trust_log_key: str | None,
) -> None:
    """Write a self-contained bundle to verify TARGET (image, record id or index) offline,
    or with --c2pa a copy of the image whose Content Credentials carry that bundle.

    \b
    Example:
      provenance export photo.jpg -o photo.provenance.json
      provenance verify photo.jpg --bundle photo.provenance.json --trust-log-key VKEY
      provenance export photo.jpg -o photo-cr.jpg --c2pa --c2pa-cert chain.pem \\
          --c2pa-key signer.key --ledger-url https://ledger.example
      provenance --ledger http://ledger.example:8000 export 7 -o 7.json --trust-log-key VKEY
    """
    if not c2pa and (c2pa_cert or c2pa_key or c2pa_remote or parent_images):
        raise click.UsageError(
            "--c2pa-cert, --c2pa-key, --c2pa-remote and --parent-image need --c2pa"
        )
    if c2pa and (c2pa_cert is None or c2pa_key is None):
        raise click.UsageError(
            "--c2pa needs --c2pa-cert CHAIN.pem and --c2pa-key KEY "
            "(`provenance c2pa certs` makes them)"
        )
    if out_file.exists() and not force and (c2pa or out_file.is_dir()):
        raise click.UsageError(f"{safe(out_file)} exists: pass --force to replace it")
    image = provenance.read_image_bytes(target) if c2pa else None
    remote = remote_or_none(env, trust_log_key)
    if remote is not None:
        with remote:  # the server's bundle, checked here before it is written
            b = remote.export(target, since=since)
        ledger_url = ledger_url or remote.url
    else:
        with env.ledger() as ledger:
            b = provenance.export_bundle(ledger, target, since=since)
    if image is None:
        provenance.write_atomic(out_file, b.dumps())
        cp_size = provenance.checkpoint_size_unverified(b.checkpoint)
        err(f"wrote {safe(out_file)}: {len(b.records)} records, checkpoint size {cp_size}")
        return
    assert c2pa_cert is not None and c2pa_key is not None
    result = provenance.export_credentials(
        b,
        image,
        cert_chain=c2pa_cert,
        key=c2pa_key,
        ledger_url=ledger_url,
        parent_images=list(parent_images),
        remote_url=c2pa_remote,
        passphrase=provenance.PassphraseSource(
            file=passphrase_file, prompt_text=f"Passphrase for {c2pa_key}"
        ),
        title=out_file.name,
    )
    provenance.write_atomic(out_file, result.data, overwrite=force)
    err(
        f"wrote {safe(out_file)}: record {result.record_id}, manifest {result.manifest_id} "
        f"(+{result.growth} bytes)"
    )
    if result.remote_url is not None:
        sidecar = out_file.with_name(out_file.name + ".c2pa")
        provenance.write_atomic(sidecar, result.store, overwrite=force)
        err(f"wrote {safe(sidecar)}: serve it at {safe(result.remote_url)}")
