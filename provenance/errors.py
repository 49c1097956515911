"""Exception hierarchy: every failure the library reports derives from ProvenanceError.

Each class carries the process exit code the CLI maps it to (DESIGN section 8) and an
optional one-line hint for the person at the terminal. Third-party exceptions are caught
at module boundaries and re-raised as one of these with ``raise ... from exc``.
"""

from __future__ import annotations


class ProvenanceError(Exception):
    """Root of every error the library raises on purpose."""

    exit_code: int = 3
    default_hint: str | None = None

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint

    def __str__(self) -> str:
        return self.message


# --- input that could not be read -------------------------------------------------------
class ImageError(ProvenanceError):
    """An image could not be read: missing, unsupported, corrupt, truncated."""

    default_hint = "check that the file is a complete JPEG, PNG, WebP, TIFF or GIF image"


class DecompressionBombError(ImageError):
    """The image declares more pixels than the configured limit."""

    default_hint = "raise PROVENANCE_MAX_PIXELS if the image is genuine"


class RecordError(ProvenanceError):
    """A statement or record is malformed or not in canonical form."""


class KeyFileError(ProvenanceError):
    """A key file is missing, corrupt, of the wrong type or cannot be written."""


class PassphraseError(KeyFileError):
    """No passphrase was available, or the passphrase is wrong."""

    default_hint = "use --passphrase-file FILE or set PROVENANCE_PASSPHRASE"


class MerkleError(ProvenanceError):
    """A Merkle proof is malformed (wrong length, index out of range)."""


class RootMismatchError(MerkleError):
    """A proof was well formed but led to a different root."""

    def __init__(self, expected_root: bytes, calculated_root: bytes) -> None:
        super().__init__(
            f"root mismatch: expected {expected_root.hex()}, calculated {calculated_root.hex()}"
        )
        self.expected_root = expected_root
        self.calculated_root = calculated_root


class CheckpointError(ProvenanceError):
    """A checkpoint or signed note is malformed or its signature does not verify."""


class BundleError(ProvenanceError):
    """An offline bundle is malformed or truncated."""


# --- the ledger ---------------------------------------------------------------------------
class StoreError(ProvenanceError):
    """The database could not be opened, read or written."""


class LedgerNotFoundError(StoreError):
    """No ledger exists at the given location."""

    default_hint = "create one with `provenance init` or point --db / PROVENANCE_DB at it"


class LedgerExistsError(StoreError):
    """``init`` was asked to create a ledger where one already exists."""


class ForeignDatabaseError(StoreError):
    """The database exists but is not a provenance ledger (or a newer schema)."""


class DatabaseLockedError(StoreError):
    """Another process holds the database lock for longer than the timeout."""

    default_hint = "another program is writing to the ledger; retry, or raise --busy-timeout"


class LogIntegrityError(StoreError):
    """The stored log contradicts itself while appending (a fork or a rewritten database)."""

    default_hint = "run `provenance log verify` to locate the damage"


class NotFoundError(ProvenanceError):
    """A record, key or image asked for is not in the ledger."""


class KeyStateError(ProvenanceError):
    """A key is not registered, already registered, or revoked."""


class TrustAnchorError(ProvenanceError):
    """A trust anchor (``--trust-log-key``, ``--checkpoint``, a witness key) belongs to
    another log than the evidence: a usage error, not evidence of tampering (exit 3)."""


class ConflictError(ProvenanceError):
    """The image is already logged, by another signer (exit 6: not re-signed)."""

    exit_code = 6


class VerificationError(ProvenanceError):
    """Raised by the raising twins of the verifier (``verify_chain``) when a check fails."""

    exit_code = 1
