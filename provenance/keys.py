"""Ed25519 keys: generation, key ids, signing and verification, and key files at rest.

This is the only module that imports ``cryptography``; every other module signs and
verifies through :class:`SigningKey` and :class:`PublicKey`.

Key ids (DESIGN section 4) are ``SHA256:`` followed by the unpadded base64 of the SHA-256
of the public key in SSH wire format, so they equal what ``ssh-keygen -lf`` prints.

Files read:

* private keys in the OpenSSH format (``-----BEGIN OPENSSH PRIVATE KEY-----``), plain or
  encrypted with bcrypt-pbkdf, as written by ``ssh-keygen -t ed25519``;
* PKCS#8 PEM private keys (``BEGIN PRIVATE KEY`` / ``BEGIN ENCRYPTED PRIVATE KEY``);
* public keys as an OpenSSH ``.pub`` line, a PEM SubjectPublicKeyInfo block, or the bare
  base64 of the 32-byte key.

Files written: OpenSSH private keys only, encrypted with bcrypt-pbkdf (``aes256-ctr``) at
:data:`DEFAULT_KDF_ROUNDS` rounds unless told otherwise, and never PKCS#8
``BestAvailableEncryption`` (whose PBKDF2 uses only 2048 iterations). The container is
written here rather than by ``cryptography``'s serializer because that one always stores an
empty comment; the bytes are checked against ``ssh-keygen`` and ``cryptography`` in tests.

A passphrase comes from a file, then an environment variable, then a terminal prompt
(:class:`PassphraseSource`); never from a command-line argument. A wrong one typed at the
prompt may be typed again (:data:`PROMPT_ATTEMPTS` tries in all, as ssh and gpg allow); a
wrong one from a file or a variable fails at once, and the error names where it came from.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import os
import re
import secrets
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import bcrypt
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa, x448, x25519
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.utils import CryptographyDeprecationWarning

from provenance.errors import KeyFileError, PassphraseError
from provenance.files import write_atomic

__all__ = [
    "DEFAULT_KDF_ROUNDS",
    "MAX_KDF_ROUNDS",
    "PROMPT_ATTEMPTS",
    "PassphraseSource",
    "PublicKey",
    "SigningKey",
    "key_file_encrypted",
    "key_id",
    "load_public_key_file",
    "load_signing_key",
    "save_signing_key",
]

StrPath = str | os.PathLike[str]

#: bcrypt-pbkdf rounds for newly written keys. Measured on the 2-core AMD EPYC dev machine
#: (median of 5 loads): 16 rounds (ssh-keygen's default) 119 ms, 32 rounds 237 ms, 64 rounds
#: 474 ms; about 7.4 ms a round. A key is loaded once per command, so half a second is
#: affordable and makes each passphrase guess four times dearer than ssh-keygen's default.
DEFAULT_KDF_ROUNDS: Final = 64
#: Files asking for more rounds than this are refused (about 7 s here), so that a damaged
#: or hostile key file cannot stall a command for hours.
MAX_KDF_ROUNDS: Final = 1000
#: Key files larger than this are refused before parsing.
MAX_KEY_FILE_SIZE: Final = 1 << 20
#: Tries a person gets to type a key's passphrase at the prompt (ssh and gpg give three).
#: A passphrase from a file or an environment variable gets one: it would not change.
PROMPT_ATTEMPTS: Final = 3

# Where a passphrase came from, so that a wrong one can be blamed on its source.
_Origin = Literal["file", "env", "prompt"]

_ED25519: Final = b"ssh-ed25519"
_OPENSSH_MAGIC: Final = b"openssh-key-v1\x00"
_OPENSSH_BEGIN: Final = b"-----BEGIN OPENSSH PRIVATE KEY-----"
_OPENSSH_END: Final = b"-----END OPENSSH PRIVATE KEY-----"
# Ciphers cryptography's loader can decrypt, with the number of authentication tag bytes
# that follow the encrypted section.
_OPENSSH_CIPHERS: Final = {"aes256-ctr": 0, "aes256-cbc": 0, "aes256-gcm@openssh.com": 16}
_PEM_BEGIN: Final = re.compile(rb"-----BEGIN ([A-Z0-9 ]{1,40})-----")
_PRIVATE_PEM_TYPES: Final = {
    b"RSA PRIVATE KEY": "an RSA key",
    b"EC PRIVATE KEY": "an ECDSA key",
    b"DSA PRIVATE KEY": "a DSA key",
}
_PUBLIC_PEM_LABELS: Final = (b"PUBLIC KEY", b"RSA PUBLIC KEY")
_SSH_TYPE_NAMES: Final = {
    "ssh-rsa": "an RSA key",
    "ssh-dss": "a DSA key",
    "ecdsa-sha2-nistp256": "an ECDSA key",
    "ecdsa-sha2-nistp384": "an ECDSA key",
    "ecdsa-sha2-nistp521": "an ECDSA key",
    "sk-ssh-ed25519@openssh.com": "a FIDO security-key key",
    "sk-ecdsa-sha2-nistp256@openssh.com": "a FIDO security-key key",
    "ssh-ed448": "an Ed448 key",
}
_SSH_PUBLIC_LINE: Final = re.compile(rb"\A\s*(ssh-|ecdsa-|sk-)[a-z0-9@.-]+ ")


def key_id(raw: bytes) -> str:
    """Return the key id of a 32-byte Ed25519 public key, as ``ssh-keygen -lf`` shows it.

    Args:
        raw: the 32-byte public key.

    Returns:
        ``"SHA256:"`` followed by the unpadded base64 of SHA-256 of the SSH wire blob.
    """
    digest = hashlib.sha256(_ssh_public_blob(_check_raw(raw))).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


@dataclass(frozen=True)
class PublicKey:
    """An Ed25519 public key (32 raw bytes). Immutable and hashable."""

    raw: bytes

    def __post_init__(self) -> None:
        object.__setattr__(self, "raw", _check_raw(self.raw))

    @classmethod
    def from_raw(cls, raw: bytes | bytearray | memoryview) -> PublicKey:
        """Wrap 32 raw Ed25519 public key bytes (TypeError/ValueError on misuse)."""
        return cls(bytes(_check_raw(raw)))

    @classmethod
    def parse(cls, data: bytes | str) -> PublicKey:
        """Parse a public key in any of the accepted text forms.

        Accepted: one OpenSSH public key line (``ssh-ed25519 AAAA... comment``), a PEM
        ``PUBLIC KEY`` (SubjectPublicKeyInfo) block, or the standard padded base64 of the
        32 raw bytes. Surrounding whitespace is ignored.

        Raises:
            KeyFileError: malformed input, or a key that is not Ed25519 (the message names
                its type).
        """
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        return _parse_public(data, "the public key")

    @property
    def key_id(self) -> str:
        """The ``SHA256:...`` fingerprint, identical to ``ssh-keygen -lf``."""
        return key_id(self.raw)

    def ssh_blob(self) -> bytes:
        """The SSH wire-format public key blob (``string "ssh-ed25519" || string raw``)."""
        return _ssh_public_blob(self.raw)

    def openssh(self, comment: str = "") -> str:
        """Return the OpenSSH ``.pub`` line (without newline): ``ssh-ed25519 AAAA... comment``."""
        _check_comment(comment)
        line = "ssh-ed25519 " + base64.b64encode(self.ssh_blob()).decode("ascii")
        return f"{line} {comment}" if comment else line

    def pem(self) -> str:
        """Return the key as a PEM SubjectPublicKeyInfo block."""
        key = ed25519.Ed25519PublicKey.from_public_bytes(self.raw)
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Check an Ed25519 signature.

        Returns False, and never raises, for any signature that does not verify: a flipped
        bit, a wrong length, another key's signature, garbage.
        """
        if not isinstance(signature, bytes | bytearray | memoryview):
            raise TypeError("signature must be bytes")
        if not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError("message must be bytes")
        if len(signature) != 64:
            return False
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(self.raw).verify(
                bytes(signature), bytes(message)
            )
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        return f"PublicKey({self.key_id})"


class SigningKey:
    """An Ed25519 private key. Build one with :meth:`generate`, :meth:`from_seed` or
    :func:`load_signing_key`."""

    __slots__ = ("_key", "_public")

    def __init__(self, _key: ed25519.Ed25519PrivateKey) -> None:
        if not isinstance(_key, ed25519.Ed25519PrivateKey):
            raise TypeError(
                "SigningKey wraps an Ed25519 private key; use generate() or from_seed()"
            )
        self._key = _key
        self._public = PublicKey(
            _key.public_key().public_bytes(
                serialization.Encoding.Raw, serialization.PublicFormat.Raw
            )
        )

    @classmethod
    def generate(cls) -> SigningKey:
        """Return a new random key."""
        return cls(ed25519.Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        """Return the key with this 32-byte RFC 8032 seed (deterministic; for tests)."""
        if not isinstance(seed, bytes | bytearray | memoryview):
            raise TypeError("seed must be bytes")
        if len(seed) != 32:
            raise ValueError(f"an Ed25519 seed is 32 bytes, got {len(seed)}")
        return cls(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(seed)))

    @property
    def public(self) -> PublicKey:
        """The matching public key."""
        return self._public

    @property
    def key_id(self) -> str:
        """The public key's ``SHA256:...`` fingerprint."""
        return self._public.key_id

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        if not isinstance(message, bytes | bytearray | memoryview):
            raise TypeError("message must be bytes")
        return self._key.sign(bytes(message))

    def to_openssh(
        self,
        passphrase: bytes | None,
        *,
        kdf_rounds: int = DEFAULT_KDF_ROUNDS,
        comment: str = "",
    ) -> bytes:
        """Serialise in the OpenSSH private key format (what ``ssh-keygen`` writes).

        Args:
            passphrase: encrypt with bcrypt-pbkdf + aes256-ctr under this passphrase; None
                writes the key unencrypted. An empty passphrase is refused (ValueError).
            kdf_rounds: bcrypt-pbkdf rounds, 1 to :data:`MAX_KDF_ROUNDS`.
            comment: stored inside the key, as ``ssh-keygen -C`` does.

        Returns:
            The PEM-armoured file contents, ending in a newline.
        """
        if passphrase is not None:
            if not isinstance(passphrase, bytes):
                raise TypeError("passphrase must be bytes or None")
            if not passphrase:
                raise ValueError("empty passphrase: pass None to store the key unencrypted")
        if isinstance(kdf_rounds, bool) or not isinstance(kdf_rounds, int):
            raise TypeError("kdf_rounds must be an int")
        if not 1 <= kdf_rounds <= MAX_KDF_ROUNDS:
            raise ValueError(f"kdf_rounds must be between 1 and {MAX_KDF_ROUNDS}")
        _check_comment(comment)
        seed = self._key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        pub = self._public.raw
        check = secrets.token_bytes(4)
        section = (
            check
            + check
            + _ssh_string(_ED25519)
            + _ssh_string(pub)
            + _ssh_string(seed + pub)
            + _ssh_string(comment.encode("utf-8"))
        )
        if passphrase is None:
            cipher_name, kdf_name, kdf_options, block = b"none", b"none", b"", 8
        else:
            salt = secrets.token_bytes(16)
            cipher_name, kdf_name, block = b"aes256-ctr", b"bcrypt", 16
            kdf_options = _ssh_string(salt) + kdf_rounds.to_bytes(4, "big")
        # OpenSSH pads with 1, 2, 3, ... up to the cipher block size (none when aligned).
        section += bytes(range(1, 1 + (-len(section)) % block))
        if passphrase is not None:
            key_iv = bcrypt.kdf(passphrase, salt, 48, kdf_rounds, ignore_few_rounds=True)
            encryptor = Cipher(algorithms.AES(key_iv[:32]), modes.CTR(key_iv[32:])).encryptor()
            section = encryptor.update(section) + encryptor.finalize()
        blob = (
            _OPENSSH_MAGIC
            + _ssh_string(cipher_name)
            + _ssh_string(kdf_name)
            + _ssh_string(kdf_options)
            + (1).to_bytes(4, "big")
            + _ssh_string(self._public.ssh_blob())
            + _ssh_string(section)
        )
        b64 = base64.b64encode(blob)
        body = b"".join(b64[i : i + 70] + b"\n" for i in range(0, len(b64), 70))
        return _OPENSSH_BEGIN + b"\n" + body + _OPENSSH_END + b"\n"

    def __repr__(self) -> str:
        return f"SigningKey({self._public.key_id})"


@dataclass
class PassphraseSource:
    """Where a passphrase comes from: a file, then an environment variable, then a prompt.

    Attributes:
        file: read the passphrase from the first line of this file (trailing newline
            stripped). A missing, unreadable or empty file is a PassphraseError.
        env_var: then this environment variable, if set and non-empty ("" skips it).
        prompt: then ask on the terminal, but only when stdin is a TTY.
        prompt_text: the prompt, without the trailing colon.
        file_option: the command-line option that names ``file``, for hints.
    """

    file: Path | None = None
    env_var: str = "PROVENANCE_PASSPHRASE"
    prompt: bool = True
    prompt_text: str = "Passphrase"
    file_option: str = "--passphrase-file"

    def get(self, *, confirm: bool = False) -> bytes | None:
        """Return the passphrase, or None when no source has one.

        Args:
            confirm: when prompting, ask twice and require both answers to match (for a
                new key).

        Raises:
            PassphraseError: the passphrase file cannot be read or is empty; the two
                prompted answers differ.
        """
        found = self._get_with_origin(confirm=confirm)
        return None if found is None else found[0]

    def _get_with_origin(self, *, confirm: bool = False) -> tuple[bytes, _Origin] | None:
        """:meth:`get`, and which source answered (so a wrong passphrase can name it)."""
        if self.file is not None:
            return _read_passphrase_file(Path(self.file)), "file"
        if self.env_var:
            value = os.environ.get(self.env_var)
            if value:
                return os.fsencode(value), "env"
        if self.prompt and _stdin_is_tty():
            typed = _prompt(self.prompt_text, confirm=confirm)
            return None if typed is None else (typed, "prompt")
        return None

    def require(self, *, confirm: bool = False, what: str = "the key") -> bytes:
        """Like :meth:`get`, but raise PassphraseError("no passphrase: ...") instead of
        returning None."""
        return self._require_with_origin(confirm=confirm, what=what)[0]

    def _require_with_origin(
        self, *, confirm: bool = False, what: str = "the key"
    ) -> tuple[bytes, _Origin]:
        found = self._get_with_origin(confirm=confirm)
        if found is None:
            sources = ["passphrase file"]
            sources += [f"${self.env_var}"] if self.env_var else []
            sources += ["terminal"] if self.prompt else []
            listed = ", ".join(sources[:-1]) + f" or {sources[-1]}" if len(sources) > 1 else ""
            hint = f"use {self.file_option} FILE" + (
                f" or set {self.env_var}" if self.env_var else ""
            )
            raise PassphraseError(
                f"no passphrase: {what} needs one and no {listed or sources[0]} is available",
                hint=hint,
            )
        return found

    def _wrong(self, what: str, origin: _Origin, tries: int) -> PassphraseError:
        """The error for a passphrase that does not unlock ``what``, naming its source."""
        if origin == "file":
            return PassphraseError(
                f"wrong passphrase for key file {what}: the passphrase file {self.file} "
                "holds a wrong passphrase",
                hint=f"put the key's passphrase on the first line of {self.file}",
            )
        if origin == "env":
            return PassphraseError(
                f"wrong passphrase for key file {what}: ${self.env_var} holds a wrong passphrase",
                hint=f"correct ${self.env_var}"
                + (", or unset it to be asked at the prompt" if self.prompt else ""),
            )
        return PassphraseError(
            f"wrong passphrase for key file {what} ({tries} {'try' if tries == 1 else 'tries'})",
            hint="check which passphrase protects this key and run the command again",
        )


def load_signing_key(
    path: StrPath, passphrase: PassphraseSource | bytes | None = None
) -> SigningKey:
    """Load an Ed25519 private key file.

    Reads OpenSSH private keys (plain or bcrypt-encrypted, as ``ssh-keygen`` writes them)
    and PKCS#8 PEM (plain or encrypted). The passphrase is asked for only when the key is
    encrypted.

    Args:
        path: the key file.
        passphrase: a source to ask, the passphrase itself, or None (the key must then be
            unencrypted).

    Raises:
        PassphraseError: the key is encrypted and no passphrase is available, or it is
            wrong.
        KeyFileError: the file is missing, unreadable, corrupt, truncated, a public key, or
            not Ed25519 (the message names the type).
    """
    what = os.fspath(path)
    data = _read_key_file(what)
    label = _pem_label(data)
    if label is None:
        if _SSH_PUBLIC_LINE.match(data):
            raise KeyFileError(f"{what} is a public key; a private key is needed")
        raise KeyFileError(f"not a private key file: {what}")
    if label == b"OPENSSH PRIVATE KEY":
        return _load_openssh_private(data, what, passphrase)
    if label in (b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"):
        return _load_pkcs8(data, what, passphrase, encrypted=label != b"PRIVATE KEY")
    if label in _PRIVATE_PEM_TYPES:
        raise KeyFileError(f"not an Ed25519 key: {what} is {_PRIVATE_PEM_TYPES[label]}")
    if label in _PUBLIC_PEM_LABELS:
        raise KeyFileError(f"{what} is a public key; a private key is needed")
    raise KeyFileError(f"not a private key file: {what} holds a {_printable(label)} block")


def load_public_key_file(
    path: StrPath, passphrase: PassphraseSource | bytes | None = None
) -> PublicKey:
    """Load a public key from a file.

    Accepts a ``.pub`` line, a PEM public key, the bare base64 of the 32 bytes, or a
    private key file: an OpenSSH private key carries its public key in the clear, so no
    passphrase is needed even when it is encrypted (the public part is taken as written,
    as ``ssh-keygen -l`` does); an encrypted PKCS#8 key needs ``passphrase``.

    Raises:
        KeyFileError: missing, unreadable, malformed, or not Ed25519.
        PassphraseError: an encrypted PKCS#8 key and no (or a wrong) passphrase.
    """
    what = os.fspath(path)
    data = _read_key_file(what)
    label = _pem_label(data)
    if label == b"OPENSSH PRIVATE KEY":
        return _openssh_header(data, what).public
    if label in (b"PRIVATE KEY", b"ENCRYPTED PRIVATE KEY"):
        return _load_pkcs8(data, what, passphrase, encrypted=label != b"PRIVATE KEY").public
    if label in _PRIVATE_PEM_TYPES:
        raise KeyFileError(f"not an Ed25519 key: {what} is {_PRIVATE_PEM_TYPES[label]}")
    return _parse_public(data, what)


def key_file_encrypted(path: StrPath) -> bool | None:
    """Whether a private key file is encrypted (None: not a readable private key file)."""
    what = os.fspath(path)
    try:
        data = _read_key_file(what)
        label = _pem_label(data)
        if label == b"OPENSSH PRIVATE KEY":
            return _openssh_header(data, what).encrypted
    except KeyFileError:
        return None
    if label == b"ENCRYPTED PRIVATE KEY":
        return True
    return False if label == b"PRIVATE KEY" else None


def save_signing_key(
    key: SigningKey,
    path: StrPath,
    passphrase: bytes | None,
    *,
    kdf_rounds: int = DEFAULT_KDF_ROUNDS,
    overwrite: bool = False,
    comment: str = "",
) -> None:
    """Write ``key`` to ``path`` (OpenSSH format, mode 0600) and ``path + ".pub"`` (0644).

    Each file is written to a temporary file in the same directory, fsynced, then moved
    into place, so a crash never leaves a half-written key.

    Args:
        key: the key to write.
        path: the private key file.
        passphrase: encrypt under this passphrase, or None for an unencrypted file.
        kdf_rounds: bcrypt-pbkdf rounds.
        overwrite: replace existing files; otherwise refuse (KeyFileError).
        comment: stored in both files (``ssh-keygen -C``).

    Raises:
        KeyFileError: a file exists and ``overwrite`` is False, or a file cannot be written.
    """
    if not isinstance(key, SigningKey):
        raise TypeError("key must be a SigningKey")
    private_path = Path(path)
    public_path = Path(os.fspath(path) + ".pub")
    private_bytes = key.to_openssh(passphrase, kdf_rounds=kdf_rounds, comment=comment)
    public_bytes = (key.public.openssh(comment) + "\n").encode("utf-8")
    if not overwrite:
        for target in (private_path, public_path):
            if os.path.lexists(target):
                raise KeyFileError(
                    f"refusing to overwrite {target}", hint="pass overwrite=True to replace it"
                )
    write_atomic(private_path, private_bytes, mode=0o600, overwrite=overwrite, error=KeyFileError)
    write_atomic(public_path, public_bytes, mode=0o644, overwrite=overwrite, error=KeyFileError)


# --- private helpers ------------------------------------------------------------------------


def _check_raw(raw: bytes | bytearray | memoryview) -> bytes:
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise TypeError("an Ed25519 public key is bytes")
    if len(raw) != 32:
        raise ValueError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return bytes(raw)


def _check_comment(comment: str) -> None:
    if not isinstance(comment, str):
        raise TypeError("comment must be a str")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in comment):
        raise ValueError("comment must not contain control characters")


def _ssh_string(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _ssh_public_blob(raw: bytes) -> bytes:
    return _ssh_string(_ED25519) + _ssh_string(raw)


class _SSHReader:
    """Reads SSH wire-format fields; raises ValueError on short data."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        if n > len(self._data) - self._pos:
            raise ValueError("short data")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def u32(self) -> int:
        return int.from_bytes(self.take(4), "big")

    def string(self) -> bytes:
        return self.take(self.u32())

    def rest(self) -> bytes:
        chunk = self._data[self._pos :]
        self._pos = len(self._data)
        return chunk


def _printable(data: bytes, limit: int = 40) -> str:
    text = data[:limit].decode("ascii", "replace")
    return "".join(ch if ch.isprintable() and ch != "\ufffd" else "?" for ch in text)


def _type_name(ssh_type: bytes) -> str:
    name = _printable(ssh_type)
    return _SSH_TYPE_NAMES.get(name, f"a {name!r} key")


def _b64decode_strict(data: bytes) -> bytes:
    """Standard padded base64 with no stray characters (binascii.Error otherwise)."""
    return base64.b64decode(data, validate=True)


@dataclass(frozen=True)
class _OpenSSHHeader:
    public: PublicKey
    encrypted: bool


def _openssh_header(data: bytes, what: str) -> _OpenSSHHeader:
    """Parse and check the clear parts of an OpenSSH private key container."""
    start = data.find(_OPENSSH_BEGIN)
    end = data.find(_OPENSSH_END, start)
    if end < 0:
        raise KeyFileError(f"truncated key file {what}: no END line")
    armour = data[start + len(_OPENSSH_BEGIN) : end]
    try:
        blob = _b64decode_strict(b"".join(armour.split()))
    except binascii.Error as exc:
        raise KeyFileError(f"corrupt key file {what}: bad base64") from exc
    if not blob.startswith(_OPENSSH_MAGIC):
        raise KeyFileError(f"corrupt key file {what}: not an openssh-key-v1 container")
    reader = _SSHReader(blob[len(_OPENSSH_MAGIC) :])
    try:
        cipher = reader.string()
        kdf = reader.string()
        kdf_options = reader.string()
        count = reader.u32()
        if count != 1:
            raise KeyFileError(f"corrupt key file {what}: holds {count} keys, expected 1")
        public_blob = _SSHReader(reader.string())
        key_type = public_blob.string()
        if key_type != _ED25519:
            raise KeyFileError(f"not an Ed25519 key: {what} is {_type_name(key_type)}")
        raw = public_blob.string()
        section = reader.string()
        trailer = reader.rest()
    except ValueError as exc:
        raise KeyFileError(f"truncated or corrupt key file {what}") from exc
    if len(raw) != 32 or public_blob.rest():
        raise KeyFileError(f"corrupt key file {what}: bad public key")
    if cipher == b"none" and kdf == b"none":
        if kdf_options or trailer or len(section) % 8:
            raise KeyFileError(f"corrupt key file {what}")
        return _OpenSSHHeader(PublicKey(raw), encrypted=False)
    cipher_name = _printable(cipher)
    if cipher_name not in _OPENSSH_CIPHERS or kdf != b"bcrypt":
        raise KeyFileError(
            f"unsupported encryption in key file {what}: {cipher_name} with {_printable(kdf)}"
        )
    options = _SSHReader(kdf_options)
    try:
        salt = options.string()
        rounds = options.u32()
    except ValueError as exc:
        raise KeyFileError(f"corrupt key file {what}: bad KDF options") from exc
    if (
        not salt
        or options.rest()
        or len(section) % 16
        or len(trailer) != _OPENSSH_CIPHERS[cipher_name]
    ):
        raise KeyFileError(f"corrupt key file {what}")
    if not 1 <= rounds <= MAX_KDF_ROUNDS:
        raise KeyFileError(
            f"key file {what} asks for {rounds} KDF rounds; 1 to {MAX_KDF_ROUNDS} are accepted"
        )
    return _OpenSSHHeader(PublicKey(raw), encrypted=True)


class _WrongPassphraseError(Exception):
    """Decryption failed: the passphrase tried does not unlock the key (internal)."""


def _unlock(
    source: PassphraseSource | bytes | None,
    what: str,
    open_with: Callable[[bytes], SigningKey],
) -> SigningKey:
    """Decrypt a key with the passphrase from ``source``.

    A passphrase typed at the prompt gets :data:`PROMPT_ATTEMPTS` tries, as ssh and gpg
    give; one from a file or an environment variable gets one, and the error names it.
    """
    if not isinstance(source, PassphraseSource):
        if isinstance(source, bytes) and source:
            try:
                return open_with(source)
            except _WrongPassphraseError as exc:
                raise PassphraseError(
                    f"wrong passphrase for key file {what}", hint="check the passphrase"
                ) from exc.__cause__
        if source is None or source == b"":
            raise PassphraseError(f"no passphrase: key file {what} is encrypted")
        raise TypeError("passphrase must be a PassphraseSource, bytes or None")
    password, origin = source._require_with_origin(what=f"key file {what}")
    tries = 1
    while True:
        try:
            return open_with(password)
        except _WrongPassphraseError as exc:
            if origin != "prompt" or tries >= PROMPT_ATTEMPTS:
                raise source._wrong(what, origin, tries) from exc.__cause__
            tries += 1
            again = _prompt(
                f"{source.prompt_text} (wrong passphrase; try {tries} of {PROMPT_ATTEMPTS})",
                confirm=False,
            )
            if again is None:  # an empty answer gives up
                raise source._wrong(what, origin, tries - 1) from exc.__cause__
            password = again


def _load_openssh_private(
    data: bytes, what: str, passphrase: PassphraseSource | bytes | None
) -> SigningKey:
    header = _openssh_header(data, what)

    def open_with(password: bytes | None) -> SigningKey:
        try:
            key = serialization.load_ssh_private_key(data, password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # The header was checked above, so with an encrypted key a failure here is the
            # check-integer test after decryption: a wrong passphrase (or damaged
            # ciphertext, which cannot be told apart from one).
            if header.encrypted:
                raise _WrongPassphraseError from exc
            raise KeyFileError(f"corrupt key file {what}") from exc
        return _as_signing_key(key, what, expected=header.public)

    return _unlock(passphrase, what, open_with) if header.encrypted else open_with(None)


def _load_pkcs8(
    data: bytes, what: str, passphrase: PassphraseSource | bytes | None, *, encrypted: bool
) -> SigningKey:

    def open_with(password: bytes | None) -> SigningKey:
        try:
            key = serialization.load_pem_private_key(data, password)
        except ValueError as exc:
            if encrypted and "incorrect password" in str(exc).lower():
                raise _WrongPassphraseError from exc
            raise KeyFileError(f"corrupt key file {what}") from exc
        except (TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"unsupported or corrupt key file {what}") from exc
        return _as_signing_key(key, what, expected=None)

    return _unlock(passphrase, what, open_with) if encrypted else open_with(None)


def _as_signing_key(key: object, what: str, *, expected: PublicKey | None) -> SigningKey:
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyFileError(f"not an Ed25519 key: {what} is {_crypto_type_name(key)}")
    signing_key = SigningKey(key)
    if expected is not None and signing_key.public != expected:
        raise KeyFileError(f"corrupt key file {what}: public and private parts differ")
    return signing_key


def _crypto_type_name(key: object) -> str:
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "an ECDSA key"
    if isinstance(key, ed448.Ed448PrivateKey | ed448.Ed448PublicKey):
        return "an Ed448 key"
    if isinstance(key, x25519.X25519PrivateKey | x25519.X25519PublicKey):
        return "an X25519 key"
    if isinstance(key, x448.X448PrivateKey | x448.X448PublicKey):
        return "an X448 key"
    with warnings.catch_warnings():  # cryptography >= 47 deprecates the DSA classes
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        if isinstance(key, dsa.DSAPrivateKey | dsa.DSAPublicKey):
            return "a DSA key"
    return f"a {type(key).__name__} key"


def _pem_label(data: bytes) -> bytes | None:
    match = _PEM_BEGIN.search(data)
    return match.group(1) if match else None


def _parse_public(data: bytes, what: str) -> PublicKey:
    label = _pem_label(data)
    if label is not None:
        if label != b"PUBLIC KEY":
            if label in _PRIVATE_PEM_TYPES or label.endswith(b"PRIVATE KEY"):
                raise KeyFileError(f"{what} is a private key where a public key is expected")
            raise KeyFileError(f"not a public key: {what} holds a {_printable(label)} block")
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"corrupt public key in {what}") from exc
        if not isinstance(key, ed25519.Ed25519PublicKey):
            raise KeyFileError(f"not an Ed25519 key: {what} is {_crypto_type_name(key)}")
        return PublicKey(
            key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        )
    lines = [line for line in data.splitlines() if line.strip()]
    if len(lines) != 1:
        raise KeyFileError(f"not a public key: {what} must hold exactly one key line")
    fields = lines[0].split(None, 2)
    if len(fields) == 1:
        try:
            raw = _b64decode_strict(fields[0])
        except binascii.Error as exc:
            raise KeyFileError(f"not a public key: {what}") from exc
        if len(raw) != 32:
            raise KeyFileError(f"not a public key: {what} decodes to {len(raw)} bytes, not 32")
        return PublicKey(raw)
    key_type = fields[0]
    if key_type != _ED25519:
        if _printable(key_type) in _SSH_TYPE_NAMES:
            raise KeyFileError(f"not an Ed25519 key: {what} is {_type_name(key_type)}")
        raise KeyFileError(f"not a public key: {what}")
    try:
        reader = _SSHReader(_b64decode_strict(fields[1]))
        blob_type = reader.string()
        raw = reader.string()
    except (binascii.Error, ValueError) as exc:
        raise KeyFileError(f"corrupt public key in {what}") from exc
    if blob_type != _ED25519 or len(raw) != 32 or reader.rest():
        raise KeyFileError(f"corrupt public key in {what}")
    return PublicKey(raw)


def _read_key_file(what: str) -> bytes:
    try:
        with open(what, "rb") as handle:
            data = handle.read(MAX_KEY_FILE_SIZE + 1)
    except FileNotFoundError as exc:
        raise KeyFileError(f"no such key file: {what}") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {what}: {exc.strerror}") from exc
    if len(data) > MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"{what} is too large to be a key file")
    if not data.strip():
        raise KeyFileError(f"key file {what} is empty")
    return data


def _read_passphrase_file(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(64 * 1024)
    except OSError as exc:
        raise PassphraseError(f"cannot read passphrase file {path}: {exc.strerror}") from exc
    passphrase = first.removesuffix(b"\n").removesuffix(b"\r")
    if not passphrase:
        raise PassphraseError(f"passphrase file {path} is empty")
    return passphrase


def _stdin_is_tty() -> bool:
    stdin = sys.stdin
    if stdin is None:
        return False
    try:
        return stdin.isatty()
    except ValueError:  # closed
        return False


def _prompt(text: str, *, confirm: bool) -> bytes | None:
    try:
        first = getpass.getpass(f"{text}: ")
        if confirm and first:
            second = getpass.getpass(f"{text} (again): ")
            if second != first:
                raise PassphraseError("passphrases do not match")
    except EOFError as exc:
        raise PassphraseError("no passphrase: end of input at the prompt") from exc
    return first.encode("utf-8") if first else None
