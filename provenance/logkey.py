"""Where the ledger's own log key lives, and how it is loaded.

The log key signs checkpoints and key registration/revocation records. For a SQLite ledger
it is kept beside the database as ``<database>.logkey`` (OpenSSH format, mode 0600, with its
public half in ``<database>.logkey.pub``); for any other database URL its path comes from
``--log-key`` or ``PROVENANCE_LOG_KEY``. It is encrypted when ``PROVENANCE_LOG_PASSPHRASE``
(or ``--log-passphrase-file``) is set at ``init``, and loaded with the same source later.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Final

from provenance.dburl import sqlite_path
from provenance.errors import KeyFileError
from provenance.keys import PassphraseSource

LOG_KEY_ENV: Final = "PROVENANCE_LOG_KEY"
LOG_PASSPHRASE_ENV: Final = "PROVENANCE_LOG_PASSPHRASE"


def log_key_path(url: str, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The path of the log key for the ledger at ``url``.

    Raises:
        KeyFileError: the ledger is not a SQLite file and no path was given.
    """
    if explicit is not None:
        return Path(explicit)
    env = os.environ.get(LOG_KEY_ENV)
    if env:
        return Path(env)
    db = sqlite_path(url)
    if db is None:
        raise KeyFileError(
            "the log key path is needed for a non-SQLite ledger",
            hint=f"pass --log-key FILE or set {LOG_KEY_ENV}",
        )
    return db.with_name(db.name + ".logkey")


def log_passphrase_source(file: Path | None = None) -> PassphraseSource:
    """Passphrase source for the log key: ``--log-passphrase-file``, then the env var."""
    return PassphraseSource(
        file=file,
        env_var=LOG_PASSPHRASE_ENV,
        prompt=False,
        prompt_text="Log key passphrase",
        file_option="--log-passphrase-file",
    )
