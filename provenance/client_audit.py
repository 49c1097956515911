"""Auditing a served log from its C2SP tiles: what remote ``log verify`` checks.

Pure apart from the ``fetch`` it is handed (:class:`provenance.client.RemoteLedger` passes
its HTTP GET): the entry bundles (``/tile/entries/<N>[.p/<W>]``, C2SP tlog-tiles) are read
in log order and every record is parsed strictly, its signature checked under the key the
log had registered for it at that position (:class:`provenance.trust.KeyBook`), its parents
looked for earlier in the log; the tree is rebuilt leaf by leaf (a compact range, constant
memory but for the record ids kept for parent links), its root compared with the verified
checkpoint's, the key events with the checkpoint's commitment, and the root at each pinned
size with the pinned checkpoint's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import provenance.merkle as merkle
from provenance.checkpoint import Checkpoint, NoteVerifier, open_checkpoint
from provenance.errors import CheckpointError, LogIntegrityError, RecordError, TrustAnchorError
from provenance.records import parse_record

if TYPE_CHECKING:
    from provenance.audit import AuditResult

TILE = 256


def audit_tiles(
    fetch: Callable[[str], bytes],
    verifier: NoteVerifier,
    cp: Checkpoint,
    *,
    pinned: Sequence[str] = (),
    progress: Callable[[int], object] | None = None,
) -> AuditResult:
    """Audit the log of the verified checkpoint ``cp`` from its entry bundles (module
    docstring). ``fetch(path)`` returns the body at a server path.

    Raises:
        TrustAnchorError: a pinned checkpoint of another log.
    """
    from provenance.audit import AuditResult
    from provenance.keys import PublicKey
    from provenance.records import KEY_EVENTS_START, fold_key_event, parse_key_events_line
    from provenance.trust import FAILURE_CODES, KeyBook
    from provenance.verify import anchor_mismatch, checkpoint_size_unverified

    pins: dict[int, list[str]] = {}
    for note in pinned:
        try:
            why = anchor_mismatch(note, verifier)
            size = checkpoint_size_unverified(note)
        except CheckpointError:
            size, why = -1, None  # malformed: reported below
        if why is not None:
            raise TrustAnchorError(why, hint=f"this log is {verifier.name}; pin a checkpoint of it")
        pins.setdefault(size, []).append(note)
    result = AuditResult()
    compact = merkle.CompactRange()
    book = KeyBook(verifier.public)
    events = (0, KEY_EVENTS_START)
    kinds: dict[str, tuple[int, str]] = {}
    roots: dict[int, bytes] = {0: compact.root()}
    for tile in range(-(-cp.size // TILE)):
        width = min(TILE, cp.size - tile * TILE)
        path = f"/tile/entries/{tile_path(tile)}" + ("" if width == TILE else f".p/{width}")
        try:
            bodies = entries(fetch(path), width)
        except LogIntegrityError as exc:
            result.add(tile * TILE, "log.entries.malformed", f"entry bundle {tile}: {exc}")
            return result
        for offset, body in enumerate(bodies):
            idx = tile * TILE + offset
            compact.append(merkle.leaf_hash(body))
            if idx + 1 in pins:
                roots[idx + 1] = compact.root()
            result.records += 1
            try:
                rec = parse_record(body)
            except RecordError as exc:
                result.add(idx, "record.malformed", f"record {idx}: {exc}")
                continue
            expected = book.expected_signer(idx, rec)
            if not isinstance(expected, PublicKey):
                result.add(idx, FAILURE_CODES[expected[0]], f"record {idx}: {expected[1]}")
            elif not expected.verify(rec.sig, rec.statement.canonical()):
                result.add(idx, "claimSignature.mismatch", f"record {idx}: bad signature")
            book.observe(idx, rec)
            for parent in rec.statement.parents:
                seen = kinds.get(parent)
                if seen is None:
                    result.add(
                        idx, "ingredient.missing", f"record {idx}: parent {parent} not before it"
                    )
                elif seen[1] not in ("capture", "edit"):
                    result.add(
                        idx, "ingredient.notAsset", f"record {idx}: parent #{seen[0]} is no image"
                    )
            kinds.setdefault(rec.record_id, (idx, rec.statement.type))
            if rec.statement.type in ("key", "revoke"):
                events = (events[0] + 1, fold_key_event(events[1], idx, rec.record_id))
        if progress is not None:
            progress(width)
    result.root_hex = compact.root().hex()
    result.nodes = 2 * cp.size - bin(cp.size).count("1") if cp.size else 0
    result.checkpoints = 1
    if compact.root() != cp.root:
        result.add(
            None,
            "checkpoint.rootMismatch",
            "the entries served do not hash to the checkpoint's root",
        )
    try:
        committed = parse_key_events_line(cp.extensions)
    except RecordError as exc:
        result.add(None, "keyEvents.incomplete", f"the checkpoint's key events line: {exc}")
        committed = None
    if committed is not None and committed != events:
        result.add(
            None,
            "keyEvents.incomplete",
            "the key events served do not match the checkpoint's commitment",
        )
    _check_pins(pins, roots, verifier, cp, result)
    return result


def _check_pins(
    pins: dict[int, list[str]],
    roots: dict[int, bytes],
    verifier: NoteVerifier,
    cp: Checkpoint,
    result: AuditResult,
) -> None:
    """Each pinned checkpoint against the root the rebuilt tree had at its size."""
    for size, notes in sorted(pins.items()):
        for note in notes:
            try:
                pin = open_checkpoint(note, verifier)
            except CheckpointError as exc:
                result.add(
                    None, "checkpoint.pinned.invalid", f"pinned checkpoint does not verify: {exc}"
                )
                continue
            if size > cp.size:
                result.add(
                    None,
                    "checkpoint.inconsistent",
                    f"the log shrank: pinned size {size} > {cp.size}",
                )
            elif roots.get(size) != pin.root:
                result.add(
                    None,
                    "checkpoint.inconsistent",
                    f"the log is not consistent with the pinned checkpoint (size {size})",
                )
            result.checkpoints += 1


def tile_path(index: int) -> str:
    """C2SP tile index path: 3-digit groups, all but the last prefixed with ``x``."""
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def entries(data: bytes, width: int) -> list[bytes]:
    """The records of an entry bundle (uint16 length-prefixed).

    Raises:
        LogIntegrityError: truncated, or not ``width`` entries.
    """
    out, pos = [], 0
    while pos < len(data):
        if pos + 2 > len(data):
            raise LogIntegrityError("a truncated entry bundle")
        length = int.from_bytes(data[pos : pos + 2], "big")
        if pos + 2 + length > len(data):
            raise LogIntegrityError("a truncated entry bundle")
        out.append(data[pos + 2 : pos + 2 + length])
        pos += 2 + length
    if len(out) != width:
        raise LogIntegrityError(f"an entry bundle of {len(out)} entries, expected {width}")
    return out
