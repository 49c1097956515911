"""How ``provenance serve`` is configured: every limit a documented setting.

Settings travel to worker processes as JSON in the ``PROVENANCE_SERVE_SETTINGS``
environment variable (uvicorn starts workers by importing an app factory).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Final

SETTINGS_ENV: Final = "PROVENANCE_SERVE_SETTINGS"


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """Everything a server process needs; defaults are what ``provenance serve`` uses.

    Attributes:
        db: the ledger (SQLite path or SQLAlchemy URL).
        log_key: the log key file (None: beside a SQLite ledger).
        log_passphrase_file: where the log key's passphrase is (else the env var).
        witnesses: witness URLs asked to cosign every new checkpoint.
        max_record_bytes: largest ``POST /v1/records`` body.
        max_upload_bytes: largest image uploaded to ``/v1/matches/byContent`` (413 above).
        max_upload_pixels: pixel limit of an uploaded image (a decompression bomb is 413).
        read_timeout_s: a request body must arrive within this (408 otherwise).
        batch_max: submissions appended in one transaction at most (group commit).
        batch_wait_s: how long the committer waits for more submissions to join a batch.
        max_results: look-up answers at most this many records.
        tile_cache_bytes: memory for full tiles and entry bundles (immutable) per process.
        public_url: the base URL printed and used in links (default from host and port).
    """

    db: str
    log_key: str | None = None
    log_passphrase_file: str | None = None
    witnesses: tuple[str, ...] = ()
    max_record_bytes: int = 65535
    max_upload_bytes: int = 25 * 1024 * 1024
    max_upload_pixels: int = 50_000_000
    read_timeout_s: float = 10.0
    batch_max: int = 512
    batch_wait_s: float = 0.002
    max_results: int = 10
    tile_cache_bytes: int = 64 * 1024 * 1024
    public_url: str = ""
    busy_timeout_s: float = 30.0
    extra: dict[str, str] = field(default_factory=dict)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServeSettings:
        raw = os.environ.get(SETTINGS_ENV)
        if not raw:
            raise RuntimeError(
                f"{SETTINGS_ENV} is not set: start the server with `provenance serve`"
            )
        values = json.loads(raw)
        values["witnesses"] = tuple(values.get("witnesses", ()))
        return cls(**values)
