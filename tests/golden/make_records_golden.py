"""Regenerate the golden record files: fixed Ed25519 seeds, a fixed clock, fixed digests.

Run from the repository root: ``python tests/golden/make_records_golden.py``. The test
``tests/test_records.py::test_golden_records`` rebuilds the same records and compares them
byte for byte with these files, so any change to canonical bytes, signing or ids shows up.
"""

from __future__ import annotations

from pathlib import Path

from provenance.keys import SigningKey
from provenance.records import (
    Action,
    Asset,
    KeyRef,
    Record,
    Statement,
    sign_statement,
)

HERE = Path(__file__).resolve().parent
LOG_SEED = bytes(range(100, 132))
ALICE_SEED = bytes(range(32))
TIME = "2026-11-26T12:00:00Z"
ASSET = Asset(
    sha256="11" * 32,
    pixels="22" * 32,
    phash64="c3d4e5f6a7b8c9d0",
    phash256="33" * 32,
    width=4224,
    height=3168,
    format="JPEG",
)


def golden_records() -> dict[str, Record]:
    """The records whose canonical bytes are pinned, by file stem."""
    log = SigningKey.from_seed(LOG_SEED)
    alice = SigningKey.from_seed(ALICE_SEED)
    key = sign_statement(
        Statement(
            type="key",
            time=TIME,
            key=KeyRef(id=alice.public.key_id, public=alice.public.openssh(), name="alice"),
        ),
        log,
    )
    capture = sign_statement(
        Statement(
            type="capture",
            time=TIME,
            asset=ASSET,
            claims={"author": "Alice Example", "caption": "Zürich, dawn — ✓"},
        ),
        alice,
    )
    edit = sign_statement(
        Statement(
            type="edit",
            time=TIME,
            asset=Asset(
                sha256="44" * 32,
                pixels="55" * 32,
                phash64="0123456789abcdef",
                phash256="66" * 32,
                width=1500,
                height=1000,
                format="PNG",
            ),
            parents=(capture.record_id,),
            actions=(
                Action("c2pa.cropped", {"left": 0, "top": 0, "right": 3000, "bottom": 2000}),
                Action("c2pa.color_adjustments", {"brightness": 1.1, "curve": [0, 0.5, 1e-7]}),
            ),
        ),
        alice,
    )
    revoke = sign_statement(
        Statement(
            type="revoke", time=TIME, key=KeyRef(id=alice.public.key_id), claims={"reason": "x"}
        ),
        log,
    )
    return {
        "records_key": key,
        "records_capture": capture,
        "records_edit": edit,
        "records_revoke": revoke,
    }


def main() -> None:
    for stem, rec in golden_records().items():
        (HERE / f"{stem}.json").write_bytes(rec.canonical())
        (HERE / f"{stem}.id").write_text(rec.record_id + "\n")


if __name__ == "__main__":
    main()
