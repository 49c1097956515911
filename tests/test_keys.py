"""Tests for provenance.keys: key ids, signing, key files, passphrase sources.

Golden fixtures under tests/golden/ (test-only keys, never used for anything else):

* ``keys_sshkeygen_*``: made once with OpenSSH 9.2 ``ssh-keygen -q -t ed25519 -N '' -C
  golden@provenance.test -f keys_sshkeygen_ed25519``, the same with ``-N secret`` for
  ``keys_sshkeygen_ed25519_secret``, and ``-t rsa -b 2048`` / ``-t ecdsa``;
  ``keys_sshkeygen_fingerprints.txt`` is ``ssh-keygen -lf`` of the two Ed25519 ``.pub``.
* ``keys_pkcs8_*``: OpenSSL 3 ``genpkey -algorithm ed25519`` (and ``RSA``, ``ed448``),
  ``pkcs8 -topk8 -v2 aes-256-cbc -passout pass:secret``, ``pkey -pubout``.
* ``keys_seed.pub``: ``SigningKey.from_seed(bytes(range(32)))``, and
  ``keys_seed_fingerprint.txt``: ``ssh-keygen -lf keys_seed.pub``.

Tests that run ``ssh-keygen`` live are skipped when it is not installed.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from provenance import keys
from provenance.errors import KeyFileError, PassphraseError
from provenance.files import write_atomic
from provenance.keys import (
    DEFAULT_KDF_ROUNDS,
    PassphraseSource,
    PublicKey,
    SigningKey,
    key_id,
    load_public_key_file,
    load_signing_key,
    save_signing_key,
)

GOLDEN = Path(__file__).parent / "golden"
SSH_KEYGEN = shutil.which("ssh-keygen")
needs_ssh_keygen = pytest.mark.skipif(SSH_KEYGEN is None, reason="ssh-keygen not installed")
SEED = bytes(range(32))
FAST = 1  # bcrypt-pbkdf rounds for tests that do not measure the default


def ssh_keygen(*args: str) -> str:
    assert SSH_KEYGEN is not None
    done = subprocess.run(
        [SSH_KEYGEN, *args], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def fingerprint(path: Path) -> str:
    """The SHA256:... field of ``ssh-keygen -lf``."""
    return ssh_keygen("-lf", str(path)).split()[1]


def kdf_rounds_of(path: Path) -> int:
    """Read the bcrypt rounds from an OpenSSH private key container."""
    lines = path.read_text().splitlines()
    blob = base64.b64decode("".join(lines[1:-1]))
    pos = len(b"openssh-key-v1\0")
    fields = []
    for _ in range(3):
        n = int.from_bytes(blob[pos : pos + 4], "big")
        fields.append(blob[pos + 4 : pos + 4 + n])
        pos += 4 + n
    kdf_options = fields[2]
    salt_len = int.from_bytes(kdf_options[:4], "big")
    return int.from_bytes(kdf_options[4 + salt_len : 8 + salt_len], "big")


def pem(label: bytes, body: bytes) -> bytes:
    return b"-----BEGIN %s-----\n%s\n-----END %s-----\n" % (label, body, label)


@pytest.fixture(autouse=True)
def _no_passphrase_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROVENANCE_PASSPHRASE", raising=False)


@pytest.fixture
def no_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    """stdin is not a terminal, and any attempt to prompt fails the test."""
    monkeypatch.setattr("sys.stdin", io.StringIO(""))

    def no_prompt(prompt: str = "") -> str:
        raise AssertionError("getpass must not be called when stdin is not a TTY")

    monkeypatch.setattr("getpass.getpass", no_prompt)


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- key ids ----------------------------------------------------------------------------------


def test_key_id_of_seed_key_matches_ssh_keygen_golden() -> None:
    key = SigningKey.from_seed(SEED)
    golden = (GOLDEN / "keys_seed_fingerprint.txt").read_text().split()
    assert key.public.key_id == golden[1]
    assert key.key_id == golden[1]
    assert key_id(key.public.raw) == golden[1]
    assert golden[-1] == "(ED25519)"
    line = (GOLDEN / "keys_seed.pub").read_text().strip()
    assert key.public.openssh("seed-0-31@provenance.test") == line


def test_key_ids_of_sshkeygen_golden_keys() -> None:
    lines = (GOLDEN / "keys_sshkeygen_fingerprints.txt").read_text().splitlines()
    expected = {line.split()[2]: line.split()[1] for line in lines}
    plain = load_signing_key(GOLDEN / "keys_sshkeygen_ed25519")
    secret = load_signing_key(GOLDEN / "keys_sshkeygen_ed25519_secret", b"secret")
    assert plain.key_id == expected["golden@provenance.test"]
    assert secret.key_id == expected["golden-secret@provenance.test"]
    for name, key in (("keys_sshkeygen_ed25519", plain), ("keys_sshkeygen_ed25519_secret", secret)):
        assert load_public_key_file(GOLDEN / f"{name}.pub") == key.public
        # The public key of an OpenSSH private key is readable without the passphrase.
        assert load_public_key_file(GOLDEN / name) == key.public


@needs_ssh_keygen
def test_key_id_of_generated_key_matches_ssh_keygen(tmp_path: Path) -> None:
    for _ in range(3):
        key = SigningKey.generate()
        path = tmp_path / f"k{key.public.raw[:4].hex()}"
        save_signing_key(key, path, None, comment="gen")
        assert fingerprint(Path(f"{path}.pub")) == key.public.key_id


@needs_ssh_keygen
@pytest.mark.parametrize("passphrase", ["", "secret"])
def test_loads_keys_made_by_ssh_keygen(tmp_path: Path, passphrase: str) -> None:
    path = tmp_path / "me.key"
    ssh_keygen("-q", "-t", "ed25519", "-N", passphrase, "-C", "me@host", "-f", str(path))
    pub = Path(f"{path}.pub")
    if passphrase:
        pw_file = tmp_path / "pw"
        pw_file.write_text(passphrase + "\n")
        key = load_signing_key(path, PassphraseSource(file=pw_file))
        with pytest.raises(PassphraseError, match="wrong passphrase for key file"):
            load_signing_key(path, b"not-" + passphrase.encode())
    else:
        key = load_signing_key(path)
    assert key.key_id == fingerprint(pub)
    assert load_public_key_file(pub) == key.public
    assert key.public.openssh("me@host") == pub.read_text().strip()
    assert key.public.verify(key.sign(b"hello"), b"hello")


@needs_ssh_keygen
@pytest.mark.parametrize(
    ("args", "type_name"),
    [
        (["-t", "rsa", "-b", "2048"], "an RSA key"),
        (["-t", "ecdsa"], "an ECDSA key"),
        (["-t", "rsa", "-b", "2048", "-m", "PEM"], "an RSA key"),
        (["-t", "ecdsa", "-m", "PEM"], "an ECDSA key"),
        (["-t", "ecdsa", "-m", "PKCS8"], "an ECDSA key"),
    ],
)
def test_ssh_keygen_non_ed25519_keys_are_rejected_by_type(
    tmp_path: Path, args: list[str], type_name: str
) -> None:
    path = tmp_path / "other.key"
    ssh_keygen("-q", *args, "-N", "", "-f", str(path))
    with pytest.raises(KeyFileError, match=f"not an Ed25519 key: {path} is {type_name}"):
        load_signing_key(path)
    with pytest.raises(KeyFileError, match=f"is {type_name}"):
        load_public_key_file(f"{path}.pub")


@needs_ssh_keygen
def test_ssh_keygen_reads_our_key_files(tmp_path: Path) -> None:
    key = SigningKey.generate()
    plain, secret = tmp_path / "plain.key", tmp_path / "secret.key"
    save_signing_key(key, plain, None, comment="plain@test")
    save_signing_key(key, secret, b"pw words", kdf_rounds=2, comment="secret@test")
    # -y derives the public key from the private file (decrypting it) and prints the
    # comment stored inside it.
    assert ssh_keygen("-y", "-f", str(plain)).strip() == key.public.openssh("plain@test")
    out = ssh_keygen("-y", "-P", "pw words", "-f", str(secret)).strip()
    assert out == key.public.openssh("secret@test")
    assert SSH_KEYGEN is not None
    wrong = subprocess.run(
        [SSH_KEYGEN, "-y", "-P", "wrong", "-f", str(secret)], capture_output=True, timeout=60
    )
    assert wrong.returncode != 0


# --- signing and verification ---------------------------------------------------------------


def test_rfc8032_test_vector_1() -> None:
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    key = SigningKey.from_seed(seed)
    assert key.public.raw.hex() == (
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    )
    signature = key.sign(b"")
    assert signature.hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    assert key.public.verify(signature, b"")


def test_verify_is_false_for_every_bad_signature() -> None:
    key, other = SigningKey.from_seed(SEED), SigningKey.generate()
    message = b"the message"
    signature = key.sign(message)
    assert key.public.verify(signature, message)
    for bit in (0, 7, 100, 511):
        flipped = bytearray(signature)
        flipped[bit // 8] ^= 1 << (bit % 8)
        assert key.public.verify(bytes(flipped), message) is False
    assert key.public.verify(signature[:-1], message) is False
    assert key.public.verify(signature + b"\0", message) is False
    assert key.public.verify(b"", message) is False
    assert key.public.verify(b"\xff" * 64, message) is False
    assert key.public.verify(signature, message + b"!") is False
    assert other.public.verify(signature, message) is False
    assert key.public.verify(other.sign(message), message) is False
    with pytest.raises(TypeError):
        key.public.verify("not bytes", message)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(signature=st.binary(max_size=80), message=st.binary(max_size=64))
def test_verify_never_raises_on_garbage(signature: bytes, message: bytes) -> None:
    assert SigningKey.from_seed(SEED).public.verify(signature, message) is False


def test_public_key_value_semantics_and_misuse() -> None:
    a = SigningKey.from_seed(SEED).public
    b = PublicKey.from_raw(bytearray(a.raw))
    assert a == b and hash(a) == hash(b) and isinstance(b.raw, bytes)
    assert len({a, b}) == 1
    assert repr(a) == f"PublicKey({a.key_id})"
    with pytest.raises(ValueError, match="32 bytes"):
        PublicKey(b"\0" * 31)
    with pytest.raises(TypeError):
        PublicKey("x" * 32)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="32 bytes"):
        SigningKey.from_seed(b"\0" * 33)
    with pytest.raises(TypeError):
        SigningKey("seed")  # type: ignore[arg-type]


def test_signing_key_repr_does_not_leak_the_secret() -> None:
    key = SigningKey.from_seed(SEED)
    assert repr(key) == f"SigningKey({key.key_id})"
    assert SEED.hex() not in repr(key)


# --- public key parsing ----------------------------------------------------------------------


def test_public_key_parse_accepts_the_documented_forms() -> None:
    public = SigningKey.from_seed(SEED).public
    forms: list[str | bytes] = [
        public.openssh(),
        public.openssh("with a comment") + "\n",
        public.openssh("c").encode(),
        public.pem(),
        base64.b64encode(public.raw).decode(),
        "  " + base64.b64encode(public.raw).decode() + "\n",
        (GOLDEN / "keys_seed.pub").read_bytes(),
    ]
    for form in forms:
        assert PublicKey.parse(form) == public
    pem_public = load_public_key_file(GOLDEN / "keys_pkcs8_ed25519_public.pem")
    assert PublicKey.parse(pem_public.pem()) == pem_public


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "exactly one key line"),
        ("ssh-ed25519", "not a public key"),
        ("ssh-ed25519 !!!!", "corrupt public key"),
        ("ssh-ed25519 AAAA", "corrupt public key"),
        ("AAAA", "decodes to 3 bytes"),
        ("a\nb", "exactly one key line"),
        ("ssh-rsa AAAAB3NzaC1yc2E= x", "not an Ed25519 key: the public key is an RSA key"),
        ("ecdsa-sha2-nistp256 AAAA x", "is an ECDSA key"),
        ("-----BEGIN PRIVATE KEY-----\n", "private key where a public key is expected"),
        ("-----BEGIN CERTIFICATE-----\n", "holds a CERTIFICATE block"),
        ("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "corrupt public key"),
    ],
)
def test_public_key_parse_rejects(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        PublicKey.parse(text)


def test_public_key_line_with_mismatched_blob_type_is_rejected() -> None:
    public = SigningKey.from_seed(SEED).public
    blob = base64.b64encode(public.ssh_blob()).decode()
    with pytest.raises(KeyFileError, match="is an RSA key"):
        PublicKey.parse(f"ssh-rsa {blob}")
    bad_blob = b"\0\0\0\x0bssh-ed25519\0\0\0\x1f" + bytes(31)
    with pytest.raises(KeyFileError, match="corrupt public key"):
        PublicKey.parse("ssh-ed25519 " + base64.b64encode(bad_blob).decode())
    trailing = base64.b64encode(public.ssh_blob() + b"x").decode()
    with pytest.raises(KeyFileError, match="corrupt public key"):
        PublicKey.parse("ssh-ed25519 " + trailing)


# --- saving and loading ------------------------------------------------------------------------


@pytest.mark.parametrize("passphrase", [None, b"correct horse", "h\u00e9llo w\u00f6rld".encode()])
def test_round_trip(tmp_path: Path, passphrase: bytes | None) -> None:
    key = SigningKey.generate()
    path = tmp_path / "me.key"
    save_signing_key(key, path, passphrase, kdf_rounds=FAST, comment="me@example")
    loaded = load_signing_key(path, passphrase)
    assert loaded.public == key.public
    assert key.public.verify(loaded.sign(b"m"), b"m")
    assert load_public_key_file(path) == key.public
    assert load_public_key_file(f"{path}.pub") == key.public
    assert Path(f"{path}.pub").read_text() == key.public.openssh("me@example") + "\n"
    text = path.read_text()
    assert text.startswith("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    assert text.endswith("-----END OPENSSH PRIVATE KEY-----\n")
    assert all(len(line) <= 70 for line in text.splitlines())


def test_round_trip_with_default_kdf_rounds(tmp_path: Path) -> None:
    key = SigningKey.generate()
    path = tmp_path / "default.key"
    save_signing_key(key, path, b"pass")
    assert kdf_rounds_of(path) == DEFAULT_KDF_ROUNDS == 64
    start = time.perf_counter()
    assert load_signing_key(path, b"pass").public == key.public
    assert time.perf_counter() - start < 10


def test_file_modes(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        save_signing_key(SigningKey.generate(), tmp_path / "k", b"pw", kdf_rounds=FAST)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k.pub").stat().st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "k.pub"]  # no temp files left


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    first, second = SigningKey.generate(), SigningKey.generate()
    path = tmp_path / "me.key"
    save_signing_key(first, path, None)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_signing_key(second, path, None)
    assert load_signing_key(path).public == first.public
    save_signing_key(second, path, None, overwrite=True)
    assert load_signing_key(path).public == second.public
    assert load_public_key_file(f"{path}.pub") == second.public
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A stray .pub alone also blocks a new key.
    lone = tmp_path / "lone.key"
    Path(f"{lone}.pub").write_text("x\n")
    with pytest.raises(KeyFileError, match=r"refusing to overwrite .*lone\.key\.pub"):
        save_signing_key(first, lone, None)
    assert not lone.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lone.key.pub", "me.key", "me.key.pub"]


def test_no_clobber_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(src: str, dst: str) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    key = SigningKey.generate()
    save_signing_key(key, tmp_path / "k", None)
    assert load_signing_key(tmp_path / "k").public == key.public
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        write_atomic(tmp_path / "k", b"x", mode=0o600, overwrite=False, error=KeyFileError)
    with pytest.raises(KeyFileError, match="refusing to overwrite"):
        save_signing_key(SigningKey.generate(), tmp_path / "k", None)
    assert load_signing_key(tmp_path / "k").public == key.public
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "k.pub"]


def test_unwritable_directory_is_a_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match=r"^cannot write .*missing-dir/k: No such file"):
        save_signing_key(SigningKey.generate(), tmp_path / "missing-dir" / "k", None)
    assert not (tmp_path / "missing-dir").exists()


def test_key_file_encrypted(tmp_path: Path) -> None:
    """Whether a private key file needs a passphrase, without asking for one."""
    assert keys.key_file_encrypted(GOLDEN / "keys_sshkeygen_ed25519") is False
    assert keys.key_file_encrypted(GOLDEN / "keys_sshkeygen_ed25519_secret") is True
    assert keys.key_file_encrypted(GOLDEN / "keys_pkcs8_ed25519.pem") is False
    assert keys.key_file_encrypted(GOLDEN / "keys_pkcs8_ed25519_encrypted.pem") is True
    key = SigningKey.generate()
    save_signing_key(key, tmp_path / "plain", None)
    save_signing_key(key, tmp_path / "locked", b"pw", kdf_rounds=FAST)
    assert keys.key_file_encrypted(tmp_path / "plain") is False
    assert keys.key_file_encrypted(str(tmp_path / "locked")) is True
    # not a readable private key file: None, never an exception
    (tmp_path / "junk").write_bytes(b"not a key\n")
    for path in (
        tmp_path / "plain.pub",
        GOLDEN / "keys_pkcs8_ed25519_public.pem",
        tmp_path / "junk",
        tmp_path / "missing",
        tmp_path,
    ):
        assert keys.key_file_encrypted(path) is None, path


def test_to_openssh_misuse() -> None:
    key = SigningKey.generate()
    with pytest.raises(ValueError, match="empty passphrase"):
        key.to_openssh(b"")
    with pytest.raises(ValueError, match="kdf_rounds"):
        key.to_openssh(b"pw", kdf_rounds=0)
    with pytest.raises(ValueError, match="kdf_rounds"):
        key.to_openssh(b"pw", kdf_rounds=keys.MAX_KDF_ROUNDS + 1)
    with pytest.raises(ValueError, match="control characters"):
        key.to_openssh(None, comment="two\nlines")
    with pytest.raises(TypeError):
        key.to_openssh("pw")  # type: ignore[arg-type]


def test_too_many_kdf_rounds_in_a_file_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k"
    path.write_bytes(SigningKey.generate().to_openssh(b"pw", kdf_rounds=5))
    monkeypatch.setattr(keys, "MAX_KDF_ROUNDS", 4)
    with pytest.raises(KeyFileError, match="asks for 5 KDF rounds"):
        load_signing_key(path, b"pw")


def test_pkcs8_keys() -> None:
    plain = load_signing_key(GOLDEN / "keys_pkcs8_ed25519.pem")
    encrypted = load_signing_key(GOLDEN / "keys_pkcs8_ed25519_encrypted.pem", b"secret")
    public = load_public_key_file(GOLDEN / "keys_pkcs8_ed25519_public.pem")
    assert plain.public == encrypted.public == public
    assert load_public_key_file(GOLDEN / "keys_pkcs8_ed25519.pem") == public
    assert load_public_key_file(GOLDEN / "keys_pkcs8_ed25519_encrypted.pem", b"secret") == public
    with pytest.raises(PassphraseError, match="wrong passphrase for key file"):
        load_signing_key(GOLDEN / "keys_pkcs8_ed25519_encrypted.pem", b"wrong")
    with pytest.raises(PassphraseError, match="no passphrase"):
        load_public_key_file(GOLDEN / "keys_pkcs8_ed25519_encrypted.pem")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("keys_sshkeygen_rsa", "is an RSA key"),
        ("keys_sshkeygen_ecdsa", "is an ECDSA key"),
        ("keys_pkcs8_rsa.pem", "is an RSA key"),
        ("keys_pkcs8_ed448.pem", "is an Ed448 key"),
    ],
)
def test_non_ed25519_golden_keys_are_rejected_by_type(name: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=f"not an Ed25519 key: .*{name} {message}"):
        load_signing_key(GOLDEN / name)
    with pytest.raises(KeyFileError, match=message):
        load_public_key_file(GOLDEN / name)


@pytest.mark.parametrize(
    "name",
    [
        "keys_sshkeygen_ed25519.pub",
        "keys_sshkeygen_rsa.pub",
        "keys_pkcs8_ed25519_public.pem",
        "keys_pkcs8_rsa_public.pem",
        "keys_seed.pub",
    ],
)
def test_public_key_where_private_is_needed(name: str) -> None:
    with pytest.raises(KeyFileError, match="is a public key; a private key is needed"):
        load_signing_key(GOLDEN / name)


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k"
    save_signing_key(SigningKey.generate(), path, b"right", kdf_rounds=FAST)
    with pytest.raises(PassphraseError, match=f"^wrong passphrase for key file {path}$"):
        load_signing_key(path, b"wrong")
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_signing_key(GOLDEN / "keys_sshkeygen_ed25519_secret", b"Secret")


def test_encrypted_key_without_passphrase_does_not_block(tmp_path: Path, no_tty: None) -> None:
    path = tmp_path / "k"
    save_signing_key(SigningKey.generate(), path, b"pw", kdf_rounds=FAST)
    with pytest.raises(PassphraseError, match="no passphrase"):
        load_signing_key(path)
    with pytest.raises(PassphraseError, match="no passphrase") as info:
        load_signing_key(path, PassphraseSource())
    assert "PROVENANCE_PASSPHRASE" in str(info.value)
    assert info.value.hint is not None


def test_passphrase_is_only_asked_for_when_encrypted(tmp_path: Path) -> None:
    path = tmp_path / "k"
    key = SigningKey.generate()
    save_signing_key(key, path, None)
    unreadable = PassphraseSource(file=tmp_path / "does-not-exist")
    assert load_signing_key(path, unreadable).public == key.public
    with pytest.raises(PassphraseError, match="cannot read passphrase file"):
        unreadable.get()


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"", "empty"),
        (b"   \n", "blank"),
        (b"garbage that is not a key\n", "garbage"),
        (b"\x00\xff\xfe binary", "binary"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\n", "no END line"),
        (b"-----BEGIN OPENSSH PRIVATE KEY-----\n!!!!\n-----END OPENSSH PRIVATE KEY-----\n", "b64"),
        (
            b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n",
            "magic",
        ),
        (b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "pkcs8"),
        (
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
            "enc",
        ),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "certificate"),
    ],
)
def test_corrupt_key_files(tmp_path: Path, content: bytes, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(KeyFileError):
        load_signing_key(path, b"pw")
    with pytest.raises(KeyFileError):
        load_public_key_file(path, b"pw")


@pytest.mark.parametrize(
    "source",
    [
        "keys_sshkeygen_ed25519",
        "keys_sshkeygen_ed25519_secret",
        "keys_pkcs8_ed25519.pem",
        "keys_pkcs8_ed25519_encrypted.pem",
    ],
)
def test_truncated_key_files(tmp_path: Path, source: str) -> None:
    data = (GOLDEN / source).read_bytes()
    path = tmp_path / "cut"
    for cut in (1, 10, len(data) // 3, len(data) // 2, len(data) - 40, len(data) - 5):
        path.write_bytes(data[:cut])
        with pytest.raises(KeyFileError):
            load_signing_key(path, b"secret")


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="no such key file"):
        load_signing_key(tmp_path / "nope")
    with pytest.raises(KeyFileError, match="no such key file"):
        load_public_key_file(tmp_path / "nope.pub")
    with pytest.raises(KeyFileError, match="cannot read key file"):
        load_signing_key(tmp_path)  # a directory
    big = tmp_path / "big"
    big.write_bytes(b"x" * (keys.MAX_KEY_FILE_SIZE + 1))
    with pytest.raises(KeyFileError, match="too large"):
        load_signing_key(big)


def test_public_and_private_parts_must_agree(tmp_path: Path) -> None:
    """An unencrypted OpenSSH file whose clear public key belongs to another key."""
    key, other = SigningKey.generate(), SigningKey.generate()
    lines = key.to_openssh(None).decode().splitlines()
    blob = base64.b64decode("".join(lines[1:-1]))
    blob = blob.replace(key.public.raw, other.public.raw, 1)  # only the clear copy
    armour = base64.b64encode(blob).decode()
    path = tmp_path / "mixed"
    path.write_text(f"{lines[0]}\n{armour}\n{lines[-1]}\n")
    with pytest.raises(KeyFileError, match="corrupt key file"):
        load_signing_key(path)


KEY_SOURCES = {
    "openssh": SigningKey.from_seed(SEED).to_openssh(None, comment="fuzz"),
    "openssh-encrypted": SigningKey.from_seed(SEED).to_openssh(b"pw", kdf_rounds=1),
    "pkcs8": (GOLDEN / "keys_pkcs8_ed25519.pem").read_bytes(),
    "pkcs8-encrypted": (GOLDEN / "keys_pkcs8_ed25519_encrypted.pem").read_bytes(),
    "public": (GOLDEN / "keys_seed.pub").read_bytes(),
}


@st.composite
def mutated_key_files(draw: st.DrawFn) -> bytes:
    data = bytearray(KEY_SOURCES[draw(st.sampled_from(sorted(KEY_SOURCES)))])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "delete", "insert", "truncate"]))
        if not data:
            break
        pos = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[pos] = draw(st.integers(0, 255))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 8))]
        elif kind == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        else:
            del data[pos:]
    return bytes(data)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=mutated_key_files())
def test_mutated_key_files_raise_only_key_file_errors(
    data: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Cap the rounds so that a mutated rounds field cannot make an example slow.
    monkeypatch.setattr(keys, "MAX_KDF_ROUNDS", 8)
    path = tmp_path / "mutated"
    path.write_bytes(data)
    for passphrase in (b"pw", b"secret"):
        try:
            key = load_signing_key(path, passphrase)
        except KeyFileError:  # PassphraseError is a KeyFileError
            pass
        else:
            assert isinstance(key, SigningKey)
    try:
        public = load_public_key_file(path, b"secret")
    except KeyFileError:
        pass
    else:
        assert isinstance(public, PublicKey)
    with contextlib.suppress(KeyFileError):
        PublicKey.parse(data)


# --- passphrase sources ----------------------------------------------------------------------


def test_passphrase_file_beats_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pw = tmp_path / "pw"
    pw.write_bytes(b"from file\nsecond line\n")
    monkeypatch.setenv("PROVENANCE_PASSPHRASE", "from env")
    assert PassphraseSource(file=pw).get() == b"from file"
    assert PassphraseSource().get() == b"from env"
    assert PassphraseSource(env_var="OTHER_VAR", prompt=False).get() is None
    monkeypatch.setenv("OTHER_VAR", "other")
    assert PassphraseSource(env_var="OTHER_VAR").get() == b"other"


def test_passphrase_file_edge_cases(tmp_path: Path) -> None:
    crlf = tmp_path / "crlf"
    crlf.write_bytes(b"windows\r\n")
    assert PassphraseSource(file=crlf).get() == b"windows"
    no_newline = tmp_path / "bare"
    no_newline.write_bytes(b"  spaces kept  ")
    assert PassphraseSource(file=no_newline).get() == b"  spaces kept  "
    empty = tmp_path / "empty"
    empty.write_bytes(b"\nsecond")
    with pytest.raises(PassphraseError, match="is empty"):
        PassphraseSource(file=empty).get()
    with pytest.raises(PassphraseError, match="cannot read passphrase file"):
        PassphraseSource(file=tmp_path / "missing").get()


def test_passphrase_from_file_unlocks_key(tmp_path: Path) -> None:
    path, pw = tmp_path / "k", tmp_path / "pw"
    pw.write_text("file secret\n")
    key = SigningKey.generate()
    source = PassphraseSource(file=pw)
    save_signing_key(key, path, source.require(), kdf_rounds=FAST)
    assert load_signing_key(path, source).public == key.public


def test_no_prompt_when_stdin_is_not_a_tty(no_tty: None) -> None:
    assert PassphraseSource().get() is None
    with pytest.raises(PassphraseError, match=r"^no passphrase: "):
        PassphraseSource().require()


def test_prompt_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["typed", "typed", "first", "second", ""])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr("sys.stdin", FakeTTY())
    monkeypatch.setattr("getpass.getpass", fake_getpass)
    source = PassphraseSource(prompt_text="Key passphrase")
    assert source.get(confirm=True) == b"typed"
    assert prompts == ["Key passphrase: ", "Key passphrase (again): "]
    with pytest.raises(PassphraseError, match="do not match"):
        source.get(confirm=True)
    assert source.get() is None  # empty answer
    assert PassphraseSource(prompt=False).get() is None


def test_prompt_eof_is_a_passphrase_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr("sys.stdin", FakeTTY())
    monkeypatch.setattr("getpass.getpass", eof)
    with pytest.raises(PassphraseError):
        PassphraseSource().get()
