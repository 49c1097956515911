"""Regenerate the golden record files: fixed Ed25519 seeds, a fixed clock, fixed digests.

Run from the repository root: ``python tests/golden/make_records_golden.py``. The test
``tests/test_records.py::test_golden_records`` rebuilds the same records and compares them
byte for byte with these files, so any change to canonical bytes, signing or ids shows up.

``records_capture`` and ``records_edit`` carry digest set 1 assets (``pixels``), as records
made before digest set 2 do: their bytes and ids must never change (set 1 is still read).
``records_capture_v2`` and ``records_edit_v2`` carry digest set 2 assets (``content``,
``frames``, ``pdq``); the v2 edit's parent is the set-1 capture (a chain across sets).
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
    digests=1,
    sha256="11" * 32,
    pixels="22" * 32,
    phash64="c3d4e5f6a7b8c9d0",
    phash256="33" * 32,
    width=4224,
    height=3168,
    format="JPEG",
)
ASSET_V2 = Asset(
    digests=2,
    sha256="77" * 32,
    content="88" * 32,
    phash64="c3d4e5f6a7b8c9d1",
    phash256="99" * 32,
    pdq="aa" * 32,
    frames=1,
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
                digests=1,
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
    capture_v2 = sign_statement(
        Statement(type="capture", time=TIME, asset=ASSET_V2, claims={"author": "Alice Example"}),
        alice,
    )
    edit_v2 = sign_statement(
        Statement(
            type="edit",
            time=TIME,
            asset=Asset(
                digests=2,
                sha256="bb" * 32,
                content="cc" * 32,
                phash64="fedcba9876543210",
                phash256="dd" * 32,
                pdq="ee" * 32,
                frames=3,
                width=3000,
                height=2000,
                format="PNG",
            ),
            parents=(capture.record_id,),
            actions=(Action("c2pa.cropped", {"left": 0, "top": 0, "right": 3000, "bottom": 2000}),),
            claims={"provenance.edit": "1"},
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
        "records_capture_v2": capture_v2,
        "records_edit_v2": edit_v2,
    }


def main() -> None:
    for stem, rec in golden_records().items():
        (HERE / f"{stem}.json").write_bytes(rec.canonical())
        (HERE / f"{stem}.id").write_text(rec.record_id + "\n")


if __name__ == "__main__":
    main()
