"""``c2pa ...``: Content Credentials (C2PA) helpers; ``c2pa certs`` makes signing certificates."""

from __future__ import annotations

from pathlib import Path

import click

import provenance
from provenance.cli.base import Env, cli, err, json_option, out, out_json, pass_env, safe

UNTRUSTED_NOTE = (
    'other tools (contentcredentials.org/verify, c2patool) will show "Valid, untrusted signer" '
    "for your exports until they trust {root}; provenance itself does not depend on it"
)


@cli.group("c2pa")
def c2pa_group() -> None:
    """Content Credentials (C2PA): certificates for exports with Content Credentials.

    \b
    Example:
      provenance c2pa certs --org "Newsroom Example" -o c2pa/
    """


@c2pa_group.command("certs")
@click.option("--org", required=True, help="Your organisation: the certificates' subject O.")
@click.option(
    "--alg",
    type=click.Choice(["ed25519", "es256"]),
    default="ed25519",
    show_default=True,
    help="Signature algorithm: Ed25519, or ECDSA P-256 (ES256, the most widely supported).",
)
@click.option(
    "--for-key",
    "for_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Certify this existing Ed25519 public key (a signer's KEY.pub) instead of making a "
    "new signer key: exports are then signed with the same key as its ledger records.",
)
@click.option(
    "--origin",
    help="The log origin named in the signer's common name (default: the ledger's, --db).",
)
@click.option(
    "--country",
    default="XX",
    show_default=True,
    metavar="CC",
    help="ISO 3166 country code of the subject (XX: unknown).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write root.pem, root.key, signer.pem, signer.key, chain.pem, README.txt "
    "(created; existing files are never overwritten).",
)
@json_option
@pass_env
def certs(
    env: Env,
    org: str,
    alg: str,
    for_key: Path | None,
    origin: str | None,
    country: str,
    out_dir: Path,
    as_json: bool,
) -> None:
    """Make an operator root CA and a C2PA signer certificate (the C2PA claim-signing
    profile) to sign exports with Content Credentials.

    Keep root.key offline: it is needed only to issue signer certificates. Give root.pem to
    whoever should see your exports as "Trusted" (provenance --c2pa-trust, c2patool
    --trust_anchors). Until then other tools report your exports as valid but signed by an
    untrusted signer.

    \b
    Example:
      provenance c2pa certs --org "Newsroom Example" -o c2pa/
      provenance c2pa certs --org "Newsroom Example" --for-key alice.key.pub -o c2pa-alice/
      provenance export web.jpg --c2pa --c2pa-cert c2pa/chain.pem --c2pa-key c2pa/signer.key \\
          -o web.cc.jpg
    """
    if for_key is not None and alg != "ed25519":
        raise click.UsageError("--for-key certifies an Ed25519 key: use --alg ed25519")
    public = provenance.load_public_key_file(for_key) if for_key is not None else None
    if origin is None:
        with env.ledger() as ledger:
            origin = ledger.origin
    written = provenance.make_c2pa_certs(
        org,
        origin,
        out_dir,
        alg="es256" if alg == "es256" else "ed25519",
        for_key=public,
        country=country,
    )
    root = out_dir / "root.pem"
    if as_json:
        out_json(
            {
                "files": [str(p) for p in written],
                "alg": alg,
                "origin": origin,
                "root": str(root),
                "chain": str(out_dir / "chain.pem"),
                "signer_key": None if public is not None else str(out_dir / "signer.key"),
            }
        )
    else:
        for path in written:
            out(f"wrote {safe(path)}")
    err(UNTRUSTED_NOTE.format(root=safe(root)))
