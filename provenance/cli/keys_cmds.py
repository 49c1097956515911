"""``init`` and ``keys``: create a ledger; generate, register, list, show and revoke keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

import provenance
import provenance.cli.render as render
from provenance.cli.base import (
    Env,
    Group,
    cli,
    err,
    json_option,
    load_key,
    out,
    out_json,
    pass_env,
    passphrase_file_option,
    passphrase_source,
    safe,
)


@cli.command()
@click.option("--origin", help="The log's name in checkpoints (default provenance.local/<db>).")
@click.option(
    "--kdf-rounds",
    type=click.IntRange(1, 1000),
    default=None,
    help="bcrypt-pbkdf rounds protecting the log key when it has a passphrase "
    f"(default {provenance.DEFAULT_KDF_ROUNDS}).",
)
@json_option
@pass_env
def init(env: Env, origin: str | None, kdf_rounds: int | None, as_json: bool) -> None:
    """Create a ledger and its log key.

    The log key is written beside a SQLite ledger as <db>.logkey (mode 0600), encrypted
    when PROVENANCE_LOG_PASSPHRASE or --log-passphrase-file is given. An existing ledger
    is never touched.

    \b
    Example:
      provenance --db newsroom.db init --origin newsroom.example/photos
    """
    ledger = provenance.Ledger.init(
        env.db,
        origin=origin,
        log_key=env.log_key,
        log_passphrase=env.log_passphrase(),
        kdf_rounds=kdf_rounds,
    )
    with ledger:
        info = ledger.info()
    if as_json:
        out_json(info.to_json())
        return
    out(f"created ledger {safe(info.db)}")
    out(f"  origin   {safe(info.origin)}")
    out(f"  log key  {safe(info.log_key_file)} ({info.log_key_id})")
    out(f"  vkey     {safe(info.vkey)}")
    if not info.log_key_encrypted:
        err(
            f"note: the log key {info.log_key_file} is not encrypted (mode 0600). To encrypt "
            "it, run init with PROVENANCE_LOG_PASSPHRASE set (or --log-passphrase-file); "
            "the same source then unlocks it for every write."
        )


@cli.group(cls=Group)
def keys() -> None:
    """Generate, register, list and revoke signer keys."""


@keys.command("generate")
@click.argument("name")
@click.option(
    "-o",
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Key file to write (default NAME.key; the public half goes to FILE.pub).",
)
@passphrase_file_option
@click.option(
    "--no-passphrase", is_flag=True, help="Write the private key unencrypted (mode 0600 still)."
)
@click.option(
    "--kdf-rounds",
    type=click.IntRange(1, 1000),
    default=None,
    help=f"bcrypt-pbkdf rounds (default {provenance.DEFAULT_KDF_ROUNDS}).",
)
@click.option(
    "--register/--no-register",
    default=True,
    show_default=True,
    help="Register the new key in the ledger (--no-register: a key for another ledger, a "
    "remote one, or a witness).",
)
@json_option
@pass_env
def keys_generate(
    env: Env,
    name: str,
    out_file: Path | None,
    passphrase_file: Path | None,
    no_passphrase: bool,
    kdf_rounds: int | None,
    register: bool,
    as_json: bool,
) -> None:
    """Generate an Ed25519 signing key, encrypted with a passphrase, and register it.

    \b
    Example:
      PROVENANCE_PASSPHRASE=... provenance keys generate alice
    """
    provenance.check_key_name(name)
    path = out_file or Path(f"{name}.key")
    passphrase: bytes | None = None
    if not no_passphrase:
        source = passphrase_source(passphrase_file, prompt_text=f"Passphrase for {path}")
        passphrase = source.get(confirm=True)
        if passphrase is None:
            raise provenance.PassphraseError(
                "no passphrase for the new key",
                hint="use --passphrase-file, PROVENANCE_PASSPHRASE, or --no-passphrase",
            )
    key = provenance.SigningKey.generate()
    kwargs: dict[str, Any] = {} if kdf_rounds is None else {"kdf_rounds": kdf_rounds}
    idx: int | None = None
    rid: str | None = None
    if register:
        try:
            ledger = env.ledger()  # before any file is written: a missing ledger fails first
        except provenance.LedgerNotFoundError as exc:
            raise provenance.LedgerNotFoundError(
                f"{exc.message}: the key was not written",
                hint="create the ledger first (provenance init), or pass --no-register to "
                "only write the key",
            ) from exc
        with ledger:
            provenance.save_signing_key(key, path, passphrase, **kwargs)
            try:
                idx, rid, _ = ledger.register_key(key.public, name)
            except provenance.ProvenanceError:
                path.unlink(missing_ok=True)
                path.with_name(path.name + ".pub").unlink(missing_ok=True)
                raise
    else:
        provenance.save_signing_key(key, path, passphrase, **kwargs)
    info = {
        "name": name,
        "key_id": key.public.key_id,
        "file": str(path),
        "public_file": str(path) + ".pub",
        "encrypted": passphrase is not None,
        "registered_record": rid,
        "index": idx,
    }
    if as_json:
        out_json(info)
        return
    out(f"wrote {safe(path)} and {safe(path)}.pub")
    out(f"  key id  {key.public.key_id}")
    if rid is not None:
        out(f"  registered in the ledger as record {idx} ({rid})")


@keys.command("register")
@click.argument("keyfile", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", help="A name for the key (default: the file name); unique per ledger.")
@json_option
@pass_env
def keys_register(env: Env, keyfile: Path, name: str | None, as_json: bool) -> None:
    """Register a signer's public key (an OpenSSH .pub line, a PEM public key, or a key file).

    Registering the same key under the same name again is reported, not an error.

    \b
    Example:
      provenance keys register ~/.ssh/id_ed25519.pub --name alice
    """
    # An encrypted PKCS#8 private key needs its passphrase (file, env, prompt) to yield its
    # public half; OpenSSH keys carry theirs in the clear.
    public = provenance.load_public_key_file(
        keyfile, passphrase_source(None, prompt_text=f"Passphrase for {keyfile}")
    )
    label = name or keyfile.name.removesuffix(".pub").removesuffix(".key")
    with env.ledger() as ledger:
        idx, rid, created = ledger.register_key(public, label)
    if as_json:
        out_json(
            {
                "key_id": public.key_id,
                "name": label,
                "record_id": rid,
                "index": idx,
                "status": "registered" if created else "exists",
            }
        )
        return
    word = "registered" if created else "already registered:"
    out(f"{word} {public.key_id} ({safe(label)}) as record {idx} ({rid})")


@keys.command("revoke")
@click.argument("key")
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
    key: str,
    reason: str | None,
    self_key: Path | None,
    passphrase_file: Path | None,
    as_json: bool,
) -> None:
    """Revoke a key (by key id, name or key file): records it signs after this point in the
    log are not trusted.

    \b
    Example:
      provenance keys revoke alice --reason "laptop stolen"
    """
    by = load_key(self_key, passphrase_file) if self_key else None
    with env.ledger() as ledger:
        key_id = ledger.key(key).key_id
        idx, rid = ledger.revoke_key(key_id, reason=reason, by=by)
    if as_json:
        out_json({"key_id": key_id, "record_id": rid, "index": idx})
        return
    out(f"revoked {key_id} at record {idx} ({rid})")


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
    if as_json:
        out_json([k.to_json() for k in rows])
        return
    for line in render.key_lines(rows):
        out(line)


@keys.command("show")
@click.argument("key")
@json_option
@pass_env
def keys_show(env: Env, key: str, as_json: bool) -> None:
    """Show one key, by key id, name or key file (its fingerprint equals ssh-keygen -lf).

    \b
    Example:
      provenance keys show alice
    """
    with env.ledger() as ledger:
        info = ledger.key(key)
    if as_json:
        out_json(info.to_json())
        return
    for k, v in info.to_json().items():
        out(f"{k:<14} {safe(v)}")
