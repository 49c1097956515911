"""A C2SP tlog-witness: cosign a log's checkpoints only if each extends the last one.

Implements ``add-checkpoint`` of c2sp.org/tlog-witness (v1.0.0 status codes) as pure logic
over a durable state, with no HTTP: :class:`Witness` (the server side; the ASGI app is
:mod:`provenance.server.witness_app`), and the client side the log server uses to ask a
witness, :func:`format_add_checkpoint` and :func:`request_cosignature`.

A request body is ``old <size>\\n``, up to 63 consistency proof lines (canonical base64 of
32 bytes each), an empty line and a signed checkpoint note. :meth:`Witness.add_checkpoint`
checks, in the spec's order, and refuses with :class:`WitnessRefusal` (HTTP status,
message, and for a stale old size the witness's size):

=====  ==================================================================================
400    malformed body or checkpoint note (also: more than 63 proof lines, non-canonical
       base64, a size line with a sign or a leading zero); old size > checkpoint size
404    the checkpoint's origin is not a configured log
403    no signature by the log's trusted key, or one naming that key that fails to verify
409    old size is not the size this witness last cosigned for the origin (0 if never):
       ``Content-Type: text/x.tlog.size``, body ``<size>\\n``
422    a size-0 checkpoint whose root is not the empty tree's (editor's draft rule)
409    old size == checkpoint size but the root differs from the cosigned one (plain text;
       the editor's draft moved this to 422, v1.0.0 and Tessera's client say 409)
422    a bad consistency proof, or a non-empty one where none is due (from size 0, or to
       the same size)
413    body larger than the limit (16 KiB, as transparency-dev/witness)
=====  ==================================================================================

A rollback is refused: a smaller checkpoint either names the witness's size as its old
size (400, old size > checkpoint size) or another one (409 with the witness's size).

State. One SQLite file, one row per origin (size, root, the cosigned note with the log's
verified signature and the witness's cosignature), in WAL mode with ``synchronous=FULL``:
a commit is on disk before :meth:`Witness.add_checkpoint` returns, so a cosignature is
never handed out for a state that a crash could forget. The check of the old size and the
write of the new checkpoint run in one ``BEGIN IMMEDIATE`` transaction (the spec's race:
two requests must never both pass the check against the same stored size), which also
holds between processes sharing the file. SQLite was chosen over a JSON file written with
``write_atomic`` under a lock file because it gives that cross-process read-check-write
atomicity and durability (fsync of the WAL at commit) without a hand-made lock protocol
or stale lock files after a crash. The file must be on a local file system (WAL needs
shared memory). Sizes are stored as decimal text: tree sizes are uint64, SQLite integers
are signed.

Client. :func:`request_cosignature` posts one request and, on a 409 naming another size,
retries once from that size with a proof from ``proof_from``; a witness that is ahead of
the checkpoint, or still disagrees, gives a :class:`WitnessConflict`. Every other failure
(no answer in time, a refusal, a malformed answer) raises :class:`WitnessError`. It needs
``httpx`` (imported when called).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from provenance.checkpoint import (
    SIG_COSIGNATURE_V1,
    SIG_ED25519,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    cosign,
    parse_note,
    verify_cosignature,
    verify_note,
)
from provenance.errors import CheckpointError, MerkleError, ProvenanceError, StoreError
from provenance.merkle import EMPTY_ROOT, verify_consistency

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAX_BODY",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpointRequest",
    "Witness",
    "WitnessConflict",
    "WitnessError",
    "WitnessRefusal",
    "WitnessState",
    "WitnessStateError",
    "WitnessedCheckpoint",
    "format_add_checkpoint",
    "parse_add_checkpoint",
    "request_cosignature",
]

#: Largest add-checkpoint request body accepted (and sent), in bytes.
MAX_BODY: Final = 16 * 1024
#: A client must not send more consistency proof lines (tlog-witness).
MAX_PROOF_LINES: Final = 63
#: Content type of the body of a 409 that names the witness's latest size.
SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
#: Largest witness answer the client reads, in bytes.
MAX_RESPONSE: Final = 64 * 1024

_MAX_UINT64: Final = (1 << 64) - 1
_MAX_TIMESTAMP: Final = (1 << 63) - 1
_SIZE_LINE: Final = re.compile(rb"old (0|[1-9][0-9]{0,19})")
_HASH_LINE: Final = re.compile(rb"[A-Za-z0-9+/]{43}=")
_SIZE_BODY: Final = re.compile(r"(0|[1-9][0-9]{0,19})\n", re.ASCII)
_DECIMAL: Final = re.compile(r"0|[1-9][0-9]{0,19}", re.ASCII)


# --- errors and results -------------------------------------------------------------------
class WitnessRefusal(ProvenanceError):
    """The witness refuses a request: the HTTP status to answer, a message, and for a 409
    on a stale old size the size of the latest checkpoint it cosigned (else None)."""

    def __init__(self, status: int, message: str, size: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.size = size


class WitnessStateError(StoreError):
    """The witness state file cannot be opened, read or written, or holds a corrupt row."""


class WitnessError(ProvenanceError):
    """A witness did not cosign: no answer in time, a refusal, or a malformed answer.

    ``status`` is the HTTP status of the answer, None when there was none.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class WitnessConflict:
    """The witness's latest cosigned size, when it cannot be brought to the checkpoint."""

    size: int


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A parsed add-checkpoint body; the checkpoint's signatures are not verified yet."""

    old_size: int
    proof: tuple[bytes, ...]
    note: str
    checkpoint: Checkpoint


@dataclass(frozen=True)
class WitnessedCheckpoint:
    """The latest checkpoint cosigned for an origin, as stored."""

    origin: str
    size: int
    root: bytes
    note: str


# --- the wire format ----------------------------------------------------------------------
def parse_add_checkpoint(body: bytes, *, max_size: int = MAX_BODY) -> AddCheckpointRequest:
    """Parse an add-checkpoint request body strictly (no signature is checked).

    Raises:
        WitnessRefusal: 413 if larger than ``max_size`` bytes, 400 if malformed.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        raise TypeError("body must be bytes")
    raw = bytes(body)
    if len(raw) > max_size:
        raise WitnessRefusal(413, f"request body larger than {max_size} bytes")
    head, blank, note_bytes = raw.partition(b"\n\n")
    if not blank:
        raise WitnessRefusal(400, "malformed body: no empty line before the checkpoint")
    lines = head.split(b"\n")
    match = _SIZE_LINE.fullmatch(lines[0])
    if match is None or int(match.group(1)) > _MAX_UINT64:
        raise WitnessRefusal(400, "malformed body: the first line must be 'old <size>'")
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessRefusal(400, f"malformed body: more than {MAX_PROOF_LINES} proof lines")
    proof = []
    for line in lines[1:]:
        digest = _hash_from_line(line)
        if digest is None:
            raise WitnessRefusal(400, "malformed body: a proof line is not base64 of 32 bytes")
        proof.append(digest)
    try:
        text, _ = parse_note(note_bytes)
        checkpoint = Checkpoint.parse(text)
    except CheckpointError as exc:
        raise WitnessRefusal(400, f"bad checkpoint note: {exc.message}") from exc
    return AddCheckpointRequest(
        int(match.group(1)), tuple(proof), note_bytes.decode("utf-8"), checkpoint
    )


def format_add_checkpoint(old_size: int, proof: Sequence[bytes], note: str | bytes) -> bytes:
    """Return the add-checkpoint body for a signed checkpoint note (the client side).

    Raises:
        ValueError: old size above the checkpoint size or out of range, a proof hash not
            32 bytes, more than 63 of them, or a body over :data:`MAX_BODY` bytes.
        CheckpointError: the note or its checkpoint is malformed.
    """
    if isinstance(old_size, bool) or not isinstance(old_size, int):
        raise TypeError("old_size must be an int")
    if isinstance(note, bytes | bytearray | memoryview):
        note = bytes(note).decode("utf-8")
    if not isinstance(note, str):
        raise TypeError("note must be str or bytes")
    hashes = [bytes(h) for h in proof]
    if any(len(h) != 32 for h in hashes):
        raise ValueError("each proof hash must be 32 bytes")
    if len(hashes) > MAX_PROOF_LINES:
        raise ValueError(f"at most {MAX_PROOF_LINES} proof hashes may be sent")
    text, _ = parse_note(note)
    size = Checkpoint.parse(text).size
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is not between 0 and the checkpoint size {size}")
    lines = [f"old {old_size}", *(base64.b64encode(h).decode("ascii") for h in hashes)]
    body = ("".join(line + "\n" for line in lines) + "\n" + note).encode("utf-8")
    if len(body) > MAX_BODY:
        raise ValueError(f"the request would be larger than {MAX_BODY} bytes")
    return body


# --- durable state ------------------------------------------------------------------------
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS witness_checkpoint (
    origin TEXT PRIMARY KEY NOT NULL,
    size TEXT NOT NULL,
    root BLOB NOT NULL CHECK (length(root) = 32),
    note TEXT NOT NULL
)
"""


class WitnessState:
    """The latest cosigned checkpoint per origin, in a SQLite file (module docstring).

    Each call opens its own connection, so one object may serve many threads, and several
    processes may share the file.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0) -> None:
        """Open (creating if needed) the state file.

        Raises:
            WitnessStateError: the file cannot be opened or is not a SQLite database.
        """
        self._path = os.fspath(path)
        if not self._path or self._path == ":memory:":
            raise ValueError("the witness state needs a file path (it must be durable)")
        self._timeout = float(busy_timeout_s)
        with self._connection() as conn:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            if mode is None or str(mode[0]).lower() != "wal":
                raise WitnessStateError(f"cannot put {self._path} in WAL mode")
            conn.execute(_SCHEMA)
        _fsync_folder(os.path.dirname(os.path.abspath(self._path)))

    @property
    def path(self) -> str:
        """The state file."""
        return self._path

    def latest(self, origin: str) -> WitnessedCheckpoint | None:
        """The latest checkpoint cosigned for ``origin``, or None if never."""
        with self._connection() as conn:
            return _read_row(conn, origin)

    def transact(
        self, origin: str, step: Callable[[WitnessedCheckpoint | None], WitnessedCheckpoint]
    ) -> WitnessedCheckpoint:
        """Atomically read the origin's row, pass it to ``step`` and store what it returns.

        Runs under ``BEGIN IMMEDIATE`` (the write lock is taken before the read), so no
        other connection, in this process or another, can change the row in between. The
        commit is durable when this returns; if ``step`` raises, nothing is stored and the
        exception propagates.

        Raises:
            WitnessStateError: the database is locked past the timeout, unwritable, or
                holds a corrupt row.
        """
        with self._connection() as conn:
            try:
                conn.execute("BEGIN IMMEDIATE")
                new = step(_read_row(conn, origin))
                if not isinstance(new, WitnessedCheckpoint) or new.origin != origin:
                    raise TypeError("step must return a WitnessedCheckpoint for the origin")
                _check_record(new)
                conn.execute(
                    "INSERT INTO witness_checkpoint (origin, size, root, note)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (origin) DO UPDATE SET"
                    " size = excluded.size, root = excluded.root, note = excluded.note",
                    (origin, str(new.size), new.root, new.note),
                )
                conn.execute("COMMIT")
            finally:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
        return new

    @contextlib.contextmanager
    def _connection(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(self._path, timeout=self._timeout, isolation_level=None)
        except sqlite3.Error as exc:
            raise WitnessStateError(f"cannot open the witness state {self._path}: {exc}") from exc
        try:
            conn.execute("PRAGMA synchronous=FULL")
            yield conn
        except sqlite3.Error as exc:
            raise WitnessStateError(f"witness state {self._path}: {exc}") from exc
        finally:
            conn.close()


def _fsync_folder(folder: str) -> None:
    """Make the state file's directory entry durable (SQLite syncs only its journals')."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_row(conn: sqlite3.Connection, origin: str) -> WitnessedCheckpoint | None:
    row = conn.execute(
        "SELECT size, root, note FROM witness_checkpoint WHERE origin = ?", (origin,)
    ).fetchone()
    if row is None:
        return None
    size, root, note = row
    if not isinstance(size, str) or not _DECIMAL.fullmatch(size) or int(size) > _MAX_UINT64:
        raise WitnessStateError(f"corrupt witness state for {_show(origin)}: bad size")
    if not isinstance(root, bytes) or not isinstance(note, str):
        raise WitnessStateError(f"corrupt witness state for {_show(origin)}: bad root or note")
    record = WitnessedCheckpoint(origin, int(size), root, note)
    _check_record(record)
    return record


def _check_record(record: WitnessedCheckpoint) -> None:
    """The stored note must be a checkpoint of exactly this origin, size and root."""
    try:
        text, _ = parse_note(record.note)
        checkpoint = Checkpoint.parse(text)
    except CheckpointError as exc:
        raise WitnessStateError(f"corrupt witness state for {_show(record.origin)}") from exc
    if (checkpoint.origin, checkpoint.size, checkpoint.root) != (
        record.origin,
        record.size,
        record.root,
    ):
        raise WitnessStateError(f"corrupt witness state for {_show(record.origin)}")


# --- the witness --------------------------------------------------------------------------
class Witness:
    """Cosigns checkpoints of the configured logs that extend what it cosigned before."""

    def __init__(
        self,
        signer: NoteSigner,
        logs: Mapping[str, NoteVerifier],
        state: WitnessState,
        *,
        max_body: int = MAX_BODY,
    ) -> None:
        """Configure the witness.

        Args:
            signer: the witness's name and key (it signs cosignature/v1, type 0x04).
            logs: origin -> the log's Ed25519 (type 0x01) verifier key.
            state: where the latest cosigned checkpoint per origin is kept.
            max_body: the largest request body accepted, in bytes.

        Raises:
            ValueError: a log key of another type, the witness's own key used as a log
                key, an origin that is not a valid checkpoint line, or max_body < 1.
        """
        if not isinstance(signer, NoteSigner):
            raise TypeError("signer must be a NoteSigner")
        if not isinstance(state, WitnessState):
            raise TypeError("state must be a WitnessState")
        checked: dict[str, NoteVerifier] = {}
        for origin, verifier in logs.items():
            Checkpoint(origin, 0, EMPTY_ROOT)  # a valid origin line, or ValueError
            if not isinstance(verifier, NoteVerifier) or verifier.sig_type != SIG_ED25519:
                raise ValueError(f"the key of log {_show(origin)} must be an Ed25519 verifier")
            if verifier.public == signer.key.public:
                raise ValueError("the witness key must not also be a log key")
            checked[origin] = verifier
        self._signer = signer
        self._logs = checked
        self._state = state
        if isinstance(max_body, bool) or not isinstance(max_body, int) or max_body < 1:
            raise ValueError("max_body must be a positive int")
        self._max_body = max_body

    @property
    def verifier(self) -> NoteVerifier:
        """The witness's cosignature/v1 verifier key (``.vkey()`` is what it publishes)."""
        return self._signer.verifier(SIG_COSIGNATURE_V1)

    @property
    def max_body(self) -> int:
        """The largest request body accepted, in bytes."""
        return self._max_body

    def knows(self, origin: str) -> bool:
        """Whether ``origin`` is a configured log."""
        return origin in self._logs

    def latest(self, origin: str) -> WitnessedCheckpoint | None:
        """The latest checkpoint cosigned for ``origin`` (its note carries the log's
        verified signature and this witness's cosignature), or None."""
        return self._state.latest(origin)

    def add_checkpoint(self, body: bytes, now: int) -> bytes:
        """Handle one add-checkpoint request body; return the cosignature line(s).

        The new checkpoint is durably stored before this returns.

        Args:
            body: the request body.
            now: the cosignature timestamp, in seconds since the epoch (> 0).

        Raises:
            WitnessRefusal: every refusal of the spec (module docstring).
            WitnessStateError: the state could not be read or written (nothing cosigned).
        """
        if isinstance(now, bool) or not isinstance(now, int):
            raise TypeError("now must be an int")
        if not 0 < now <= _MAX_TIMESTAMP:
            raise ValueError("now must be a positive timestamp below 2**63")
        request = parse_add_checkpoint(body, max_size=self._max_body)
        checkpoint = request.checkpoint
        verifier = self._logs.get(checkpoint.origin)
        if verifier is None:
            raise WitnessRefusal(404, f"unknown log {_show(checkpoint.origin)}")
        try:
            text = verify_note(request.note, [verifier])
        except CheckpointError as exc:
            raise WitnessRefusal(403, f"checkpoint not signed by the log: {exc.message}") from exc
        if request.old_size > checkpoint.size:
            raise WitnessRefusal(
                400, f"old size {request.old_size} > checkpoint size {checkpoint.size}"
            )
        signed_by_log = _signature_lines(request.note, verifier)
        cosignature = ""

        def step(current: WitnessedCheckpoint | None) -> WitnessedCheckpoint:
            nonlocal cosignature
            _check_extends(request, current)
            cosignature = cosign(request.note, self._signer, now)
            note = text + "\n" + signed_by_log + cosignature
            return WitnessedCheckpoint(checkpoint.origin, checkpoint.size, checkpoint.root, note)

        self._state.transact(checkpoint.origin, step)
        return cosignature.encode("utf-8")


def _check_extends(request: AddCheckpointRequest, current: WitnessedCheckpoint | None) -> None:
    """Refuse unless the checkpoint extends the latest one cosigned (spec order)."""
    size, root = (0, EMPTY_ROOT) if current is None else (current.size, current.root)
    new = request.checkpoint
    if request.old_size != size:
        raise WitnessRefusal(409, f"old size {request.old_size} is not {size}", size)
    if new.size == 0 and new.root != EMPTY_ROOT:
        raise WitnessRefusal(422, "a checkpoint of size 0 must carry the empty tree's root")
    if new.size == size:
        if new.root != root:
            raise WitnessRefusal(409, f"a different root was cosigned for size {size}")
        if request.proof:
            raise WitnessRefusal(422, "the proof must be empty for the same size")
        return
    if size == 0:
        if request.proof:
            raise WitnessRefusal(422, "the proof must be empty from size 0")
        return
    try:
        verify_consistency(size, new.size, request.proof, root, new.root)
    except MerkleError as exc:
        raise WitnessRefusal(
            422, f"consistency proof from {size} to {new.size} does not verify"
        ) from exc


def _signature_lines(note: str, verifier: NoteVerifier) -> str:
    """The note's signature lines by ``verifier`` (already verified), as text."""
    _, signatures = parse_note(note)
    key_id = verifier.key_id
    return "".join(
        f"\u2014 {s.name} {base64.b64encode(s.key_id + s.signature).decode('ascii')}\n"
        for s in signatures
        if s.name == verifier.name and s.key_id == key_id
    )


def _hash_from_line(line: bytes) -> bytes | None:
    """Decode canonical base64 of exactly 32 bytes, else None."""
    if not _HASH_LINE.fullmatch(line):
        return None
    try:
        digest = base64.b64decode(line, validate=True)
    except binascii.Error:
        return None
    return digest if base64.b64encode(digest) == line else None


def _show(value: str, limit: int = 64) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


# --- the client ---------------------------------------------------------------------------
def request_cosignature(
    url: str,
    old_size: int,
    proof: Sequence[bytes],
    note: str,
    *,
    timeout: float,
    proof_from: Callable[[int], Sequence[bytes]] | None = None,
    witness: NoteVerifier | None = None,
    client: httpx.Client | None = None,
) -> list[str] | WitnessConflict:
    """Ask a witness to cosign a checkpoint; return its signature lines, or its size.

    Args:
        url: the witness's submission prefix; the request goes to ``url/add-checkpoint``.
        old_size: the size of the latest checkpoint this witness is believed to have
            cosigned (0 if unknown), and ``proof`` the consistency proof from it to
            ``note``'s checkpoint.
        note: the signed checkpoint.
        timeout: seconds for each network operation, and for the whole answer.
        proof_from: ``size -> consistency proof from size to the checkpoint``; when
            given, a 409 naming another size smaller than the checkpoint's is retried
            once from that size.
        witness: the witness's cosignature/v1 key; when given, the answer must hold a
            valid cosignature by it and only its lines are returned.
        client: an ``httpx.Client`` to reuse (one is made for the call otherwise).

    Returns:
        The signature lines, each ending in a newline (ready to append to the note), or a
        :class:`WitnessConflict` with the witness's size when it is ahead of the
        checkpoint, no ``proof_from`` was given, or the retry still conflicted.

    Raises:
        WitnessError: no answer in time, a refusal (400, 403, 404, 413, 422, a 409 on a
            different root of the same size: a split view), or a malformed answer.
        ValueError, CheckpointError: the arguments themselves are malformed.
    """
    import httpx

    if witness is not None and witness.sig_type != SIG_COSIGNATURE_V1:
        raise ValueError("witness must be a cosignature/v1 (0x04) verifier")
    text, _ = parse_note(note)
    size = Checkpoint.parse(text).size
    body = format_add_checkpoint(old_size, proof, note)
    target = url.rstrip("/") + "/add-checkpoint"
    deadline = time.monotonic() + timeout
    own = client is None
    http = httpx.Client(timeout=timeout, follow_redirects=False) if client is None else client
    try:
        answer = _post(http, target, body, timeout, deadline)
        if isinstance(answer, WitnessConflict) and proof_from is not None:
            if answer.size == old_size:
                raise WitnessError(f"witness {target} refused old size {old_size} naming it")
            if answer.size <= size:
                retry = [] if answer.size in (0, size) else proof_from(answer.size)
                body = format_add_checkpoint(answer.size, retry, note)
                answer = _post(http, target, body, timeout, deadline)
    finally:
        if own:
            http.close()
    if isinstance(answer, WitnessConflict):
        return answer
    return _cosignature_lines(target, text, answer, witness)


def _post(
    http: httpx.Client, target: str, body: bytes, timeout: float, deadline: float
) -> bytes | WitnessConflict:
    """POST one request: the 200 body, the size of a 409, or WitnessError."""
    import httpx

    chunks: list[bytes] = []
    received = 0
    try:
        with http.stream("POST", target, content=body, timeout=timeout) as response:
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > MAX_RESPONSE:
                    raise WitnessError(f"witness {target}: answer larger than {MAX_RESPONSE} bytes")
                if time.monotonic() > deadline:
                    raise WitnessError(f"witness {target}: no complete answer within {timeout} s")
                chunks.append(chunk)
            status = response.status_code
            media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    except httpx.TimeoutException as exc:
        raise WitnessError(f"witness {target}: no answer within {timeout} s") from exc
    except httpx.HTTPError as exc:
        raise WitnessError(f"witness {target}: no answer ({type(exc).__name__})") from exc
    data = b"".join(chunks)
    if status == 200:
        return data
    if status == 409 and media == SIZE_CONTENT_TYPE:
        match = _SIZE_BODY.fullmatch(data.decode("ascii", "replace"))
        if match is None or int(match.group(1)) > _MAX_UINT64:
            raise WitnessError(f"witness {target}: malformed 409 size answer", status=409)
        return WitnessConflict(int(match.group(1)))
    detail = data[:200].decode("utf-8", "replace").strip()
    if status == 409:
        raise WitnessError(
            f"witness {target} cosigned a different root for this size (split view?): {detail}",
            status=409,
        )
    raise WitnessError(f"witness {target} refused ({status}): {detail}", status=status)


def _cosignature_lines(
    target: str, text: str, data: bytes, witness: NoteVerifier | None
) -> list[str]:
    """Check a 200 answer's form (and the witness's cosignature) and split it into lines."""
    try:
        answer = data.decode("utf-8")
        if not answer.endswith("\n"):
            raise CheckpointError("no final newline")
        _, signatures = parse_note(text + "\n" + answer)
        if witness is not None and verify_cosignature(text + "\n" + answer, witness) == 0:
            raise CheckpointError("a cosignature with timestamp 0")
    except (UnicodeDecodeError, CheckpointError) as exc:
        raise WitnessError(f"witness {target}: malformed cosignature answer ({exc})") from exc
    lines = [line + "\n" for line in answer[:-1].split("\n")]
    if witness is None:
        return lines
    key_id = witness.key_id
    return [
        line
        for line, sig in zip(lines, signatures, strict=True)
        if sig.name == witness.name and sig.key_id == key_id
    ]
