"""provenance: an image provenance ledger (the public API).

Sign images at capture, record every edit, and verify a downloaded copy against an
append-only RFC 9162 Merkle log with signed C2SP checkpoints. Everything a program needs is
importable from here; the CLI (``provenance.cli``) and the HTTP server
(``provenance.server``) use nothing else. Submodules not re-exported here are internal.

Names are imported on first use (PEP 562), so ``import provenance`` is cheap and a command
that needs no database never loads SQLAlchemy::

    from provenance import Ledger, verify_offline
    with Ledger.open("newsroom.db") as ledger:
        report, _ = ledger.evidence().verify_image("download.jpg")
    assert report.verdict in ("verified", "tampered", "unknown", "similar")
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.2.0"

_EXPORTS: dict[str, str] = {
    # errors (one root: ProvenanceError; each class has its exit code and hint)
    "ProvenanceError": "provenance.errors",
    "ImageError": "provenance.errors",
    "DecompressionBombError": "provenance.errors",
    "RecordError": "provenance.errors",
    "KeyFileError": "provenance.errors",
    "PassphraseError": "provenance.errors",
    "CheckpointError": "provenance.errors",
    "BundleError": "provenance.errors",
    "StoreError": "provenance.errors",
    "LedgerNotFoundError": "provenance.errors",
    "LogIntegrityError": "provenance.errors",
    "NotFoundError": "provenance.errors",
    "KeyStateError": "provenance.errors",
    "TrustAnchorError": "provenance.errors",
    "ConflictError": "provenance.errors",
    "VerificationError": "provenance.errors",
    "SubmissionError": "provenance.publishing",
    "Submitted": "provenance.publishing",
    # the ledger
    "Ledger": "provenance.ledger",
    "LedgerInfo": "provenance.receipts",
    "SignResult": "provenance.receipts",
    "KeyInfo": "provenance.receipts",
    "InclusionProof": "provenance.receipts",
    "check_origin": "provenance.receipts",
    "parse_index": "provenance.receipts",
    "export_bundle": "provenance.evidence",
    "LocalEvidence": "provenance.evidence",
    "collect_images": "provenance.ingest",
    "has_subfolders": "provenance.ingest",
    "audit_log": "provenance.audit",
    "AuditResult": "provenance.audit",
    "log_key_path": "provenance.logkey",
    "log_passphrase_source": "provenance.logkey",
    # keys
    "SigningKey": "provenance.keys",
    "PublicKey": "provenance.keys",
    "PassphraseSource": "provenance.keys",
    "DEFAULT_KDF_ROUNDS": "provenance.keys",
    "load_signing_key": "provenance.keys",
    "load_public_key_file": "provenance.keys",
    "save_signing_key": "provenance.keys",
    # records and edits
    "Action": "provenance.records",
    "Record": "provenance.records",
    "check_user_claims": "provenance.records",
    "check_key_name": "provenance.records",
    "Crop": "provenance.edits",
    "Resize": "provenance.edits",
    "Rotate": "provenance.edits",
    "Flip": "provenance.edits",
    "Operation": "provenance.edits",
    "parse_crop": "provenance.edits",
    "parse_resize": "provenance.edits",
    "parse_rotate": "provenance.edits",
    "apply_edits": "provenance.edits",
    "DiffError": "provenance.diffing",
    "DiffResult": "provenance.diffing",
    "EditDiff": "provenance.diffing",
    "diff_edit": "provenance.diffing",
    "diff_images": "provenance.diffing",
    # verification (no database needed)
    "Report": "provenance.report",
    "Check": "provenance.report",
    "ChainStep": "provenance.report",
    "EXIT_CODES": "provenance.report",
    "EXIT_DECLARED": "provenance.report",
    "REASONS": "provenance.report",
    "Bundle": "provenance.bundle",
    "load_bundle": "provenance.bundle",
    "verify_offline": "provenance.bundle",
    "witness_verifiers": "provenance.bundle",
    "checkpoint_size_unverified": "provenance.verify",
    "check_chain": "provenance.verify",
    "ImageDigests": "provenance.verify",
    "anchor_mismatch": "provenance.verify",
    "NoteVerifier": "provenance.checkpoint",
    "NoteSigner": "provenance.checkpoint",
    "ImageProbe": "provenance.imaging",
    "read_image_bytes": "provenance.imaging",
    "write_atomic": "provenance.files",
    "run_demo": "provenance.demo",
    # a ledger served over HTTP (`provenance serve`): its client trusts only the vkey
    "RemoteLedger": "provenance.client",
    "RemoteError": "provenance.client",
    "read_text": "provenance.files",
    # Content Credentials (C2PA)
    "ContentCredentialsError": "provenance.c2pa",
    "C2paTrust": "provenance.c2pa",
    "load_c2pa_trust": "provenance.c2pa_ingest",
    "credentials_note": "provenance.c2pa_ingest",
    "embedded_bundle_text": "provenance.c2pa_ingest",
    "export_credentials": "provenance.c2pa_export",
    "make_c2pa_certs": "provenance.c2pa_certs",
}

__all__ = [
    "DEFAULT_KDF_ROUNDS",
    "EXIT_CODES",
    "EXIT_DECLARED",
    "REASONS",
    "Action",
    "AuditResult",
    "Bundle",
    "BundleError",
    "C2paTrust",
    "ChainStep",
    "Check",
    "CheckpointError",
    "ConflictError",
    "ContentCredentialsError",
    "Crop",
    "DecompressionBombError",
    "DiffError",
    "DiffResult",
    "EditDiff",
    "Flip",
    "ImageDigests",
    "ImageError",
    "ImageProbe",
    "InclusionProof",
    "KeyFileError",
    "KeyInfo",
    "KeyStateError",
    "Ledger",
    "LedgerInfo",
    "LedgerNotFoundError",
    "LocalEvidence",
    "LogIntegrityError",
    "NotFoundError",
    "NoteSigner",
    "NoteVerifier",
    "Operation",
    "PassphraseError",
    "PassphraseSource",
    "ProvenanceError",
    "PublicKey",
    "Record",
    "RecordError",
    "RemoteError",
    "RemoteLedger",
    "Report",
    "Resize",
    "Rotate",
    "SignResult",
    "SigningKey",
    "StoreError",
    "SubmissionError",
    "Submitted",
    "TrustAnchorError",
    "VerificationError",
    "__version__",
    "anchor_mismatch",
    "apply_edits",
    "audit_log",
    "check_chain",
    "check_key_name",
    "check_origin",
    "check_user_claims",
    "checkpoint_size_unverified",
    "collect_images",
    "credentials_note",
    "diff_edit",
    "diff_images",
    "embedded_bundle_text",
    "export_bundle",
    "export_credentials",
    "has_subfolders",
    "load_bundle",
    "load_c2pa_trust",
    "load_public_key_file",
    "load_signing_key",
    "log_key_path",
    "log_passphrase_source",
    "make_c2pa_certs",
    "parse_crop",
    "parse_index",
    "parse_resize",
    "parse_rotate",
    "read_image_bytes",
    "read_text",
    "run_demo",
    "save_signing_key",
    "verify_offline",
    "witness_verifiers",
    "write_atomic",
]

_ALIASES = {
    "C2paTrust": "TrustConfig",
    "apply_edits": "apply",
    "load_bundle": "loads",
    "load_c2pa_trust": "load_trust",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'provenance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from provenance.audit import AuditResult, audit_log
    from provenance.bundle import Bundle, verify_offline, witness_verifiers
    from provenance.bundle import loads as load_bundle
    from provenance.c2pa import ContentCredentialsError
    from provenance.c2pa import TrustConfig as C2paTrust
    from provenance.c2pa_certs import make_c2pa_certs
    from provenance.c2pa_export import export_credentials
    from provenance.c2pa_ingest import credentials_note, embedded_bundle_text
    from provenance.c2pa_ingest import load_trust as load_c2pa_trust
    from provenance.checkpoint import NoteSigner, NoteVerifier
    from provenance.client import RemoteError, RemoteLedger
    from provenance.demo import run_demo
    from provenance.diffing import DiffError, DiffResult, EditDiff, diff_edit, diff_images
    from provenance.edits import (
        Crop,
        Flip,
        Operation,
        Resize,
        Rotate,
        parse_crop,
        parse_resize,
        parse_rotate,
    )
    from provenance.edits import apply as apply_edits
    from provenance.errors import (
        BundleError,
        CheckpointError,
        ConflictError,
        DecompressionBombError,
        ImageError,
        KeyFileError,
        KeyStateError,
        LedgerNotFoundError,
        LogIntegrityError,
        NotFoundError,
        PassphraseError,
        ProvenanceError,
        RecordError,
        StoreError,
        TrustAnchorError,
        VerificationError,
    )
    from provenance.evidence import LocalEvidence, export_bundle
    from provenance.files import read_text, write_atomic
    from provenance.imaging import ImageProbe, read_image_bytes
    from provenance.ingest import collect_images, has_subfolders
    from provenance.keys import (
        DEFAULT_KDF_ROUNDS,
        PassphraseSource,
        PublicKey,
        SigningKey,
        load_public_key_file,
        load_signing_key,
        save_signing_key,
    )
    from provenance.ledger import Ledger
    from provenance.logkey import log_key_path, log_passphrase_source
    from provenance.publishing import SubmissionError, Submitted
    from provenance.receipts import (
        InclusionProof,
        KeyInfo,
        LedgerInfo,
        SignResult,
        check_origin,
        parse_index,
    )
    from provenance.records import Action, Record, check_key_name, check_user_claims
    from provenance.report import (
        EXIT_CODES,
        EXIT_DECLARED,
        REASONS,
        ChainStep,
        Check,
        Report,
    )
    from provenance.verify import (
        ImageDigests,
        anchor_mismatch,
        check_chain,
        checkpoint_size_unverified,
    )
