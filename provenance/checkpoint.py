"""C2SP signed notes, log checkpoints, witness cosignatures and offline proofs.

Implements, from the C2SP texts:

* ``signed-note`` (c2sp.org/signed-note): :func:`sign_note`, :func:`parse_note`,
  :func:`verify_note`, key ids (:func:`note_key_id`) and verifier keys (``vkey``,
  :meth:`NoteVerifier.vkey` / :meth:`NoteVerifier.parse_vkey`) for Ed25519 (type 0x01);
* ``tlog-checkpoint`` (c2sp.org/tlog-checkpoint): :class:`Checkpoint`,
  :func:`sign_checkpoint`, :func:`open_checkpoint`;
* ``tlog-cosignature`` (c2sp.org/tlog-cosignature), the Ed25519 ``cosignature/v1`` type
  (0x04): :func:`cosign`, :func:`verify_cosignature`;
* ``tlog-proof`` (c2sp.org/tlog-proof@v1): :func:`format_tlog_proof`,
  :func:`parse_tlog_proof`.

Every parser takes untrusted input and raises only :class:`CheckpointError` for anything
malformed. Functions that build notes from the program's own values raise
TypeError/ValueError on misuse. All cryptography goes through :mod:`provenance.keys`.

Choices the specifications leave open, made strict here:

* base64 must be canonical (padded, no stray characters, zero trailing bits);
* a note holds at most :data:`MAX_SIGNATURES` signatures and :data:`MAX_NOTE_SIZE` bytes;
* two signature lines with the same key name and key id make the note malformed (Go's
  ``x/mod/sumdb/note`` silently skips the repeat);
* :func:`open_checkpoint` requires the checkpoint origin to equal the log key's name unless
  told which origin to expect (the spec says the name SHOULD match the origin);
* a tlog-proof whose index is not below the tree size, or whose number of proof hashes is
  not the RFC 9162 inclusion proof length for (index, size), is malformed; ``extra``, when
  present, must not be empty.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from provenance.errors import CheckpointError
from provenance.keys import PublicKey, SigningKey

__all__ = [
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "SIG_COSIGNATURE_V1",
    "SIG_ED25519",
    "TLOG_PROOF_HEADER",
    "Checkpoint",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "TlogProof",
    "cosign",
    "format_tlog_proof",
    "note_key_id",
    "open_checkpoint",
    "parse_note",
    "parse_tlog_proof",
    "sign_checkpoint",
    "sign_note",
    "verify_cosignature",
    "verify_note",
]

#: Signature type byte for plain Ed25519 note signatures (signed-note).
SIG_ED25519: Final = 0x01
#: Signature type byte for timestamped Ed25519 cosignatures (tlog-cosignature v1).
SIG_COSIGNATURE_V1: Final = 0x04
#: A note with more signature lines is malformed (the spec asks for at least 16).
MAX_SIGNATURES: Final = 100
#: A note larger than this many UTF-8 bytes is malformed.
MAX_NOTE_SIZE: Final = 1 << 20
#: First line of a tlog-proof.
TLOG_PROOF_HEADER: Final = "c2sp.org/tlog-proof@v1"
#: A tlog-proof larger than this many UTF-8 bytes is malformed.
MAX_TLOG_PROOF_SIZE: Final = 2 * MAX_NOTE_SIZE

_SIG_PREFIX: Final = "\u2014 "  # em dash, space
_COSIGNATURE_HEADER: Final = "cosignature/v1\n"
_MAX_UINT64: Final = (1 << 64) - 1
_MAX_TIMESTAMP: Final = (1 << 63) - 1
_CONTROL: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")
_DECIMAL: Final = re.compile(r"(?:0|[1-9][0-9]{0,19})", re.ASCII)
_HEX8: Final = re.compile(r"[0-9a-fA-F]{8}", re.ASCII)
_SUPPORTED_TYPES: Final = (SIG_ED25519, SIG_COSIGNATURE_V1)


def note_key_id(name: str, public: PublicKey, sig_type: int = SIG_ED25519) -> bytes:
    """Return the 4-byte key id ``SHA-256(name || 0x0A || sig_type || public key)[:4]``."""
    _check_name(name)
    if not isinstance(public, PublicKey):
        raise TypeError("public must be a PublicKey")
    if isinstance(sig_type, bool) or not isinstance(sig_type, int) or not 0 <= sig_type <= 255:
        raise ValueError("sig_type is one byte")
    data = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public.raw
    return hashlib.sha256(data).digest()[:4]


@dataclass(frozen=True, eq=False)
class NoteSigner:
    """A named signing key: signs notes as ``— <name> base64(key id || signature)``."""

    name: str
    key: SigningKey

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.key, SigningKey):
            raise TypeError("key must be a SigningKey")

    @property
    def key_id(self) -> bytes:
        """The 4-byte Ed25519 (type 0x01) note key id."""
        return note_key_id(self.name, self.key.public, SIG_ED25519)

    def verifier(self, sig_type: int = SIG_ED25519) -> NoteVerifier:
        """The matching verifier, for plain signatures or (0x04) cosignatures."""
        return NoteVerifier(self.name, self.key.public, sig_type)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted (name, public key, signature type) tuple.

    ``sig_type`` is :data:`SIG_ED25519` (0x01) for log and note keys, or
    :data:`SIG_COSIGNATURE_V1` (0x04) for witness cosigners.
    """

    name: str
    public: PublicKey
    sig_type: int = SIG_ED25519

    def __post_init__(self) -> None:
        _check_name(self.name)
        if not isinstance(self.public, PublicKey):
            raise TypeError("public must be a PublicKey")
        if self.sig_type not in _SUPPORTED_TYPES or isinstance(self.sig_type, bool):
            raise ValueError("sig_type must be SIG_ED25519 (0x01) or SIG_COSIGNATURE_V1 (0x04)")

    @property
    def key_id(self) -> bytes:
        """The 4-byte note key id for this name, key and signature type."""
        return note_key_id(self.name, self.public, self.sig_type)

    def vkey(self) -> str:
        """Return the verifier key string ``name+hex8(key id)+base64(type || public key)``."""
        material = base64.b64encode(bytes([self.sig_type]) + self.public.raw).decode("ascii")
        return f"{self.name}+{self.key_id.hex()}+{material}"

    @classmethod
    def parse_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse a verifier key (signature type 0x01 or 0x04).

        Raises:
            CheckpointError: malformed, an unsupported type, or a key id that does not
                match the name and key.
        """
        if not isinstance(vkey, str):
            raise TypeError("vkey must be a str")
        parts = vkey.split("+", 2)
        if len(parts) != 3 or not _HEX8.fullmatch(parts[1]):
            raise CheckpointError("malformed vkey: expected name+keyid+key")
        name, hex_id, material_b64 = parts
        if not _valid_name(name) or not _valid_line(name):
            raise CheckpointError("malformed vkey: bad key name")
        material = _b64decode(material_b64, "vkey key")
        if len(material) != 33 or material[0] not in _SUPPORTED_TYPES:
            raise CheckpointError("unsupported vkey: expected an Ed25519 key of type 0x01 or 0x04")
        verifier = cls(name, PublicKey(material[1:]), material[0])
        if verifier.key_id != bytes.fromhex(hex_id):
            raise CheckpointError(f"vkey for {_show(name)}: key id does not match the key")
        return verifier


@dataclass(frozen=True)
class NoteSignature:
    """One parsed signature line: key name, 4-byte key id, and the signature bytes."""

    name: str
    key_id: bytes
    signature: bytes


def sign_note(text: str, signer: NoteSigner | Sequence[NoteSigner]) -> str:
    """Sign ``text`` and return the whole note.

    Args:
        text: the note text; must be non-empty, end with a newline, and hold no control
            characters other than newline.
        signer: one signer, or several (signature lines in the given order).

    Returns:
        ``text + "\\n" + "— <name> base64(key id || signature)\\n"`` per signer.
    """
    _check_text(text)
    signers = [signer] if isinstance(signer, NoteSigner) else list(signer)
    if not signers:
        raise ValueError("at least one signer is needed")
    message = text.encode("utf-8")
    lines = []
    for one in signers:
        if not isinstance(one, NoteSigner):
            raise TypeError("signers must be NoteSigner instances")
        lines.append(_signature_line(one.name, one.key_id + one.key.sign(message)))
    return text + "\n" + "".join(lines)


def parse_note(note: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, checking its form only.

    No signature is verified; use :func:`verify_note` before trusting the text.

    Returns:
        The text (with its final newline) and the signatures in order.

    Raises:
        CheckpointError: not valid UTF-8, a control character, no blank line before the
            signatures, a malformed or duplicated signature line, too many signatures, or
            too large.
    """
    note = _as_text(note, MAX_NOTE_SIZE, "note")
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise CheckpointError("malformed note: no signature lines, or no final newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    signatures: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError("malformed note: a signature line must start with '\u2014 '")
        name, space, encoded = line[len(_SIG_PREFIX) :].partition(" ")
        if not space or not _valid_name(name):
            raise CheckpointError("malformed note: bad key name in a signature line")
        blob = _b64decode(encoded, "signature")
        if len(blob) < 5:
            raise CheckpointError(f"malformed note: signature by {_show(name)} is too short")
        key = (name, blob[:4])
        if key in seen:
            raise CheckpointError(f"malformed note: two signatures by {_show(name)}")
        seen.add(key)
        signatures.append(NoteSignature(name, blob[:4], blob[4:]))
    return text, signatures


def verify_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> str:
    """Verify a signed note against trusted keys and return its text.

    Signatures whose (name, key id) matches no verifier are ignored. Every signature from
    a known key must verify; at least one must be present.

    Raises:
        CheckpointError: malformed, a known key's signature fails, or no known key signed.
    """
    if isinstance(verifiers, NoteVerifier):
        verifiers = [verifiers]
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for verifier in verifiers:
        if not isinstance(verifier, NoteVerifier):
            raise TypeError("verifiers must be NoteVerifier instances")
        known[(verifier.name, verifier.key_id)] = verifier
    text, signatures = parse_note(note)
    verified = False
    for signature in signatures:
        match = known.get((signature.name, signature.key_id))
        if match is None:
            continue
        if not _verify_one(match, text, signature.signature):
            raise CheckpointError(f"bad signature by {_show(signature.name)}")
        verified = True
    if not verified:
        names = ", ".join(sorted({_show(v.name) for v in known.values()})) or "(none)"
        raise CheckpointError(f"note not signed by a known key (known: {names})")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint note body: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str):
            raise TypeError("origin must be a str")
        if not self.origin or not _valid_line(self.origin):
            raise ValueError("origin must be a non-empty line without control characters")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise TypeError("size must be an int")
        if not 0 <= self.size <= _MAX_UINT64:
            raise ValueError("size must be between 0 and 2**64 - 1")
        if not isinstance(self.root, bytes | bytearray | memoryview):
            raise TypeError("root must be bytes")
        if len(self.root) != 32:
            raise ValueError(f"root must be 32 bytes, got {len(self.root)}")
        object.__setattr__(self, "root", bytes(self.root))
        given: object = self.extensions
        if isinstance(given, str):
            raise TypeError("extensions must be a sequence of lines, not a str")
        extensions = tuple(self.extensions)
        for line in extensions:
            if not isinstance(line, str):
                raise TypeError("extension lines must be str")
            if not line or not _valid_line(line):
                raise ValueError("extension lines must be non-empty, without control characters")
        object.__setattr__(self, "extensions", extensions)

    def body(self) -> str:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` then each extension line."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode("ascii")]
        return "".join(line + "\n" for line in (*lines, *self.extensions))

    @classmethod
    def parse(cls, text: str | bytes) -> Checkpoint:
        """Parse a checkpoint note text (the part before the blank line), strictly.

        Raises:
            CheckpointError: fewer than three lines, an empty line, a size that is not
                plain decimal (no sign, no leading zero) below 2**64, a root that is not
                canonical base64 of 32 bytes, or a control character.
        """
        text = _as_text(text, MAX_NOTE_SIZE, "checkpoint")
        if not text.endswith("\n"):
            raise CheckpointError("malformed checkpoint: no final newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError("malformed checkpoint: fewer than three lines")
        if any(not line for line in lines):
            raise CheckpointError("malformed checkpoint: empty line")
        origin, size_line, root_line, *extensions = lines
        size = _parse_decimal(size_line, "checkpoint size")
        root = _b64decode(root_line, "checkpoint root")
        if len(root) != 32:
            raise CheckpointError(f"malformed checkpoint: root is {len(root)} bytes, not 32")
        return cls(origin, size, root, tuple(extensions))


def sign_checkpoint(checkpoint: Checkpoint, signer: NoteSigner) -> str:
    """Return ``checkpoint`` as a signed note (the signer's name SHOULD equal the origin)."""
    if not isinstance(checkpoint, Checkpoint):
        raise TypeError("checkpoint must be a Checkpoint")
    return sign_note(checkpoint.body(), signer)


def open_checkpoint(
    note: str | bytes, verifier: NoteVerifier, *, origin: str | None = None
) -> Checkpoint:
    """Verify a checkpoint note's log signature, then parse it.

    Args:
        note: the signed checkpoint (cosignature lines from unknown keys are ignored).
        verifier: the log's key.
        origin: the origin the checkpoint must carry; by default the verifier's name.

    Raises:
        CheckpointError: malformed, not signed by ``verifier``, or another origin.
    """
    text = verify_note(note, [verifier])
    checkpoint = Checkpoint.parse(text)
    expected = verifier.name if origin is None else origin
    if checkpoint.origin != expected:
        raise CheckpointError(
            f"checkpoint origin {_show(checkpoint.origin)} is not {_show(expected)}"
        )
    return checkpoint


def cosign(checkpoint_note: str | bytes, witness: NoteSigner, timestamp: int) -> str:
    """Return a tlog-cosignature/v1 (Ed25519, type 0x04) signature line for a checkpoint.

    The witness signs ``"cosignature/v1\\ntime <timestamp>\\n" + checkpoint body``; the line
    is ``— <name> base64(key id || 8-byte big-endian timestamp || signature)\\n``, ready to
    append to the note. The log's signature is not checked here: a witness must verify it
    and the checkpoint's consistency before cosigning.

    Raises:
        CheckpointError: the note or its checkpoint body is malformed.
    """
    if not isinstance(witness, NoteSigner):
        raise TypeError("witness must be a NoteSigner")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int")
    if not 0 <= timestamp <= _MAX_TIMESTAMP:
        raise ValueError("timestamp must be between 0 and 2**63 - 1")
    text, _ = parse_note(checkpoint_note)
    Checkpoint.parse(text)
    signature = witness.key.sign(_cosigned_message(timestamp, text))
    key_id = note_key_id(witness.name, witness.key.public, SIG_COSIGNATURE_V1)
    return _signature_line(witness.name, key_id + timestamp.to_bytes(8, "big") + signature)


def verify_cosignature(checkpoint_note: str | bytes, witness: NoteVerifier) -> int:
    """Verify one witness's cosignature on a checkpoint note and return its timestamp.

    Only the cosignature is checked; verify the log's signature with
    :func:`open_checkpoint`.

    Args:
        checkpoint_note: the checkpoint with its signature lines.
        witness: the cosigner, with ``sig_type=SIG_COSIGNATURE_V1``.

    Raises:
        CheckpointError: malformed, no cosignature by ``witness``, or it does not verify.
    """
    if not isinstance(witness, NoteVerifier):
        raise TypeError("witness must be a NoteVerifier")
    if witness.sig_type != SIG_COSIGNATURE_V1:
        raise ValueError("witness verifier must have sig_type SIG_COSIGNATURE_V1 (0x04)")
    text, signatures = parse_note(checkpoint_note)
    Checkpoint.parse(text)
    key_id = witness.key_id
    for signature in signatures:
        if signature.name == witness.name and signature.key_id == key_id:
            if not _verify_one(witness, text, signature.signature):
                raise CheckpointError(f"bad cosignature by {_show(witness.name)}")
            return int.from_bytes(signature.signature[:8], "big")
    raise CheckpointError(f"no cosignature by {_show(witness.name)}")


@dataclass(frozen=True)
class TlogProof:
    """A c2sp.org/tlog-proof@v1: entry index, inclusion proof, checkpoint, optional extra.

    The checkpoint note is kept verbatim and is not verified by parsing; pass it to
    :func:`open_checkpoint` (and :func:`verify_cosignature`) before trusting it.
    """

    index: int
    proof: tuple[bytes, ...]
    checkpoint_note: str
    extra: bytes | None = None

    def format(self) -> str:
        """Return the text form (same as :func:`format_tlog_proof`)."""
        return format_tlog_proof(self.index, self.proof, self.checkpoint_note, self.extra)


def format_tlog_proof(
    index: int,
    proof: Sequence[bytes],
    checkpoint_note: str,
    extra: bytes | None = None,
) -> str:
    """Return a c2sp.org/tlog-proof@v1 text.

    Args:
        index: the zero-based leaf index.
        proof: the RFC 9162 inclusion proof, leaf sibling first, 32 bytes per hash.
        checkpoint_note: the signed checkpoint, included verbatim.
        extra: optional opaque bytes (not authenticated); must not be empty.

    Raises:
        CheckpointError: the checkpoint note is malformed.
        ValueError: the index is not below the tree size, or the proof length is wrong.
    """
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError("index must be an int")
    if not isinstance(checkpoint_note, str):
        raise TypeError("checkpoint_note must be a str")
    hashes = [bytes(h) for h in proof]
    if any(len(h) != 32 for h in hashes):
        raise ValueError("each proof hash must be 32 bytes")
    text, _ = parse_note(checkpoint_note)
    size = Checkpoint.parse(text).size
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not below the tree size {size}")
    expected = _inclusion_proof_size(index, size)
    if len(hashes) != expected:
        raise ValueError(
            f"inclusion proof has wrong length: expected {expected}, got {len(hashes)}"
        )
    lines = [TLOG_PROOF_HEADER]
    if extra is not None:
        if not isinstance(extra, bytes | bytearray | memoryview):
            raise TypeError("extra must be bytes or None")
        if not extra:
            raise ValueError("extra must not be empty; pass None for no extra data")
        lines.append("extra " + base64.b64encode(bytes(extra)).decode("ascii"))
    lines.append(f"index {index}")
    lines.extend(base64.b64encode(h).decode("ascii") for h in hashes)
    return "".join(line + "\n" for line in lines) + "\n" + checkpoint_note


def parse_tlog_proof(text: str | bytes) -> TlogProof:
    """Parse a c2sp.org/tlog-proof@v1 text strictly (signatures are not verified).

    Raises:
        CheckpointError: anything malformed, including the embedded checkpoint note, an
            index not below the tree size, or a proof of the wrong length.
    """
    text = _as_text(text, MAX_TLOG_PROOF_SIZE, "tlog proof")
    head, blank, note = text.partition("\n\n")
    if not blank:
        raise CheckpointError("malformed tlog proof: no blank line before the checkpoint")
    lines = head.split("\n")
    if lines[0] != TLOG_PROOF_HEADER:
        raise CheckpointError(f"malformed tlog proof: first line must be {TLOG_PROOF_HEADER}")
    position = 1
    extra = None
    if position < len(lines) and lines[position].startswith("extra "):
        extra = _b64decode(lines[position][len("extra ") :], "tlog proof extra")
        if not extra:
            raise CheckpointError("malformed tlog proof: empty extra data")
        position += 1
    if position >= len(lines) or not lines[position].startswith("index "):
        raise CheckpointError("malformed tlog proof: missing index line")
    index = _parse_decimal(lines[position][len("index ") :], "tlog proof index")
    hash_lines = lines[position + 1 :]
    if len(hash_lines) > 64:
        raise CheckpointError("malformed tlog proof: more than 64 proof hashes")
    proof = []
    for line in hash_lines:
        digest = _b64decode(line, "proof hash")
        if len(digest) != 32:
            raise CheckpointError(f"malformed tlog proof: proof hash is {len(digest)} bytes")
        proof.append(digest)
    note_text, _ = parse_note(note)
    size = Checkpoint.parse(note_text).size
    if index >= size:
        raise CheckpointError(f"malformed tlog proof: index {index} is not below size {size}")
    expected = _inclusion_proof_size(index, size)
    if len(proof) != expected:
        raise CheckpointError(
            f"inclusion proof has wrong length: expected {expected}, got {len(proof)}"
        )
    return TlogProof(index, tuple(proof), note, extra)


# --- private helpers ------------------------------------------------------------------------


def _show(value: str, limit: int = 64) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(ch.isspace() for ch in name)


def _check_name(name: str) -> None:
    if not isinstance(name, str):
        raise TypeError("key name must be a str")
    if not _valid_name(name) or not _valid_line(name):
        raise ValueError(f"bad key name {name!r}: non-empty, no spaces, no '+'")


def _valid_line(line: str) -> bool:
    if "\n" in line or _CONTROL.search(line):
        return False
    try:
        line.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise TypeError("note text must be a str")
    if not text.endswith("\n"):
        raise ValueError("note text must be non-empty and end with a newline")
    if _CONTROL.search(text):
        raise ValueError("note text must not contain control characters other than newline")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise ValueError("note text must be valid Unicode (no lone surrogates)") from exc
    if size > MAX_NOTE_SIZE // 2:
        raise ValueError("note text is too large")


def _as_text(data: str | bytes, limit: int, what: str) -> str:
    """Decode and check untrusted input: UTF-8, size limit, no control characters."""
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        if len(raw) > limit:
            raise CheckpointError(f"malformed {what}: larger than {limit} bytes")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointError(f"malformed {what}: not valid UTF-8") from exc
    elif isinstance(data, str):
        if len(data) > limit:
            raise CheckpointError(f"malformed {what}: larger than {limit} bytes")
        try:
            size = len(data.encode("utf-8"))
        except UnicodeEncodeError as exc:
            raise CheckpointError(f"malformed {what}: not valid UTF-8") from exc
        if size > limit:
            raise CheckpointError(f"malformed {what}: larger than {limit} bytes")
        text = data
    else:
        raise TypeError(f"{what} must be str or bytes")
    if _CONTROL.search(text):
        raise CheckpointError(f"malformed {what}: control character")
    return text


def _b64decode(encoded: str, what: str) -> bytes:
    """Decode canonical standard base64 (padded, zero trailing bits) or raise."""
    try:
        raw = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as exc:
        raise CheckpointError(f"malformed {what}: bad base64") from exc
    if not encoded or base64.b64encode(raw).decode("ascii") != encoded:
        raise CheckpointError(f"malformed {what}: bad base64")
    return raw


def _parse_decimal(value: str, what: str) -> int:
    if not _DECIMAL.fullmatch(value):
        raise CheckpointError(f"malformed {what}: not a plain decimal number")
    number = int(value)
    if number > _MAX_UINT64:
        raise CheckpointError(f"malformed {what}: too large")
    return number


def _signature_line(name: str, blob: bytes) -> str:
    return f"{_SIG_PREFIX}{name} {base64.b64encode(blob).decode('ascii')}\n"


def _cosigned_message(timestamp: int, text: str) -> bytes:
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{text}".encode()


def _verify_one(verifier: NoteVerifier, text: str, signature: bytes) -> bool:
    if verifier.sig_type == SIG_ED25519:
        return verifier.public.verify(signature, text.encode("utf-8"))
    # SIG_COSIGNATURE_V1: u64 timestamp || 64-byte Ed25519 signature.
    if len(signature) != 8 + 64:
        return False
    timestamp = int.from_bytes(signature[:8], "big")
    if timestamp > _MAX_TIMESTAMP:
        return False
    return verifier.public.verify(signature[8:], _cosigned_message(timestamp, text))


def _inclusion_proof_size(index: int, size: int) -> int:
    """Number of hashes in an RFC 9162 inclusion proof for leaf ``index`` of ``size``."""
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    return inner + border
