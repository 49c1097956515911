"""Regenerate the checkpoint_* golden files from fixed keys, content and clock.

Ed25519 signatures are deterministic (RFC 8032), so the output is byte-for-byte stable;
tests/test_checkpoint.py compares :func:`golden_files` with the files on disk.

Run from the repository root::

    python tests/golden/make_checkpoint_golden.py

A change in any file means the signed-note, checkpoint, cosignature or tlog-proof bytes
changed: review the diff before committing it.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from provenance.checkpoint import (  # noqa: E402
    SIG_COSIGNATURE_V1,
    Checkpoint,
    NoteSigner,
    cosign,
    format_tlog_proof,
    sign_checkpoint,
)
from provenance.keys import SigningKey  # noqa: E402

LOG_NAME = "example.com/provenance/golden-log"
LOG_SEED = bytes(range(32))
WITNESS_NAME = "witness.example/golden-w1"
WITNESS_SEED = bytes(range(32, 64))
TIMESTAMP = 1_700_000_000
SIZE = 12345
INDEX = 5


def _h(label: str) -> bytes:
    return hashlib.sha256(label.encode()).digest()


def golden_files() -> dict[str, str]:
    """Return {file name: exact contents} for every checkpoint_* golden file."""
    log = NoteSigner(LOG_NAME, SigningKey.from_seed(LOG_SEED))
    witness = NoteSigner(WITNESS_NAME, SigningKey.from_seed(WITNESS_SEED))
    checkpoint = Checkpoint(LOG_NAME, SIZE, _h("provenance golden root"))
    signed = sign_checkpoint(checkpoint, log)
    cosigned = signed + cosign(signed, witness, TIMESTAMP)
    extended = sign_checkpoint(
        Checkpoint(LOG_NAME, SIZE, checkpoint.root, ("ext one", "ext-two 2")), log
    )
    empty = sign_checkpoint(Checkpoint(LOG_NAME, 0, hashlib.sha256(b"").digest()), log)
    proof = [_h(f"proof {i}") for i in range(14)]  # RFC 9162 length for leaf 5 of 12345
    return {
        "checkpoint_vkeys.txt": (
            log.verifier().vkey() + "\n" + witness.verifier(SIG_COSIGNATURE_V1).vkey() + "\n"
        ),
        "checkpoint_signed.txt": signed,
        "checkpoint_cosigned.txt": cosigned,
        "checkpoint_extensions.txt": extended,
        "checkpoint_empty.txt": empty,
        "checkpoint_tlog_proof.txt": format_tlog_proof(
            INDEX, proof, cosigned, extra=b"provenance golden extra"
        ),
    }


def main() -> None:
    for name, text in golden_files().items():
        (HERE / name).write_bytes(text.encode("utf-8"))
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
