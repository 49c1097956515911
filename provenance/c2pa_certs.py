"""X.509 certificates for signing Content Credentials (C2PA) exports, and the keys behind them.

A C2PA manifest is signed with an X.509 certificate, never with a bare key. This module
makes the small PKI an operator needs (``provenance c2pa certs``), loads the key a C2PA
export is signed with, and checks that a certificate chain and a key belong together. It
owns the ``cryptography`` X.509 code; :mod:`provenance.c2pa` never touches a certificate.

The profile follows C2PA 2.2 section 14.5.1, what c2pa-rs 0.91.3 enforces, and the
conformance program's claim-signing leaf profile:

* **root**: self-signed; BasicConstraints ``CA:true, pathlen:0`` (critical); KeyUsage
  ``keyCertSign, cRLSign`` (critical); SubjectKeyIdentifier; 10 years. Keep ``root.key``
  offline: it only issues leaves.
* **leaf** (the signer): BasicConstraints ``CA:false`` (critical); KeyUsage
  ``digitalSignature, contentCommitment`` (critical); ExtendedKeyUsage
  ``c2pa-kp-claimSigning`` (1.3.6.1.4.1.62558.2.1) and ``emailProtection``;
  CertificatePolicies 1.3.6.1.4.1.62558.1.1; SubjectKeyIdentifier; AuthorityKeyIdentifier;
  subject ``C, O, CN``; 366 days. ``chain.pem`` holds the leaf only (the root never goes in
  the x5chain, C2PA section 14.5).

``emailProtection`` is there because c2pa-rs 0.91.3, when a reader has not configured
``trust.trust_config``, accepts only that EKU; ``c2pa-kp-claimSigning`` is the C2PA one.

A self-issued root is never on the C2PA Trust List: other validators report such a file
``Valid`` with ``signingCredential.untrusted`` until they add ``root.pem`` to their anchors.

Keys: Ed25519 (``alg="ed25519"``; the leaf may certify an existing ledger signer key, so the
ledger record and the C2PA manifest are signed by the same key) or ECDSA P-256
(``alg="es256"``, the widest-supported C2PA algorithm). Private keys are written as
unencrypted PKCS#8 PEM files with mode 0600.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final, Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

import provenance.keys as keys
from provenance.errors import KeyFileError, PassphraseError, ProvenanceError
from provenance.files import write_atomic

__all__ = [
    "C2PA_CLAIM_SIGNING_EKU",
    "C2PA_POLICY_OID",
    "C2paSigner",
    "CertificateError",
    "EcP256Key",
    "Pki",
    "check_chain",
    "load_c2pa_key",
    "load_signer",
    "make_c2pa_certs",
    "make_operator_pki",
    "read_chain_file",
    "write_pki",
]

Alg = Literal["ed25519", "es256"]

#: id-kp-c2pa-claimSigning (C2PA section 14.5.1.2).
C2PA_CLAIM_SIGNING_EKU: Final = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
#: The C2PA conformance program's certificate policy for claim signers.
C2PA_POLICY_OID: Final = ObjectIdentifier("1.3.6.1.4.1.62558.1.1")
ROOT_VALIDITY: Final = timedelta(days=3652)
LEAF_VALIDITY: Final = timedelta(days=366)
#: Certificates start this long before ``now`` so a signer whose clock is a little behind
#: does not sign outside the validity window.
BACKDATE: Final = timedelta(minutes=5)
MAX_CHAIN_BYTES: Final = 1 << 20

_COUNTRY = re.compile(r"[A-Z]{2}")
_URL = re.compile(r"https?://[^\s\"<>\\^`{|}]{1,2000}")
_PEM_CERT = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?"
)


class CertificateError(ProvenanceError):
    """A certificate or chain is malformed, does not fit the C2PA profile, or does not
    match the key it is used with."""

    default_hint = "make a profile-correct chain with `provenance c2pa certs`"


class EcP256Key:
    """An ECDSA P-256 private key that signs C2PA claims (``ES256``).

    :meth:`sign` returns the raw ``r || s`` form (64 bytes) that COSE uses, not DER.
    """

    __slots__ = ("_key",)

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, ec.SECP256R1
        ):
            raise TypeError("EcP256Key wraps a P-256 private key")
        self._key = key

    @classmethod
    def generate(cls) -> EcP256Key:
        return cls(ec.generate_private_key(ec.SECP256R1()))

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte ``r || s`` ECDSA-SHA256 signature of ``message``."""
        der = self._key.sign(bytes(message), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def public_der(self) -> bytes:
        """The SubjectPublicKeyInfo DER of the public key."""
        return self._key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def pkcs8_pem(self) -> str:
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def __repr__(self) -> str:
        return "EcP256Key(P-256)"


@dataclass(frozen=True)
class Pki:
    """An operator root and one signer (leaf) certificate, all as PEM text.

    Attributes:
        alg: the signature algorithm of both certificates and of the leaf key.
        root_cert_pem: the self-signed root (give it to readers as a trust anchor).
        root_key_pem: the root's PKCS#8 private key (keep offline).
        cert_pem: the leaf certificate.
        key_pem: the leaf's PKCS#8 private key, or None when the leaf certifies an existing
            ledger key (``for_key``), which then signs through a callback.
    """

    alg: Alg
    root_cert_pem: str
    root_key_pem: str = field(repr=False)
    cert_pem: str
    key_pem: str | None = field(default=None, repr=False)

    @property
    def chain_pem(self) -> str:
        """What a signer sends in the COSE x5chain: the leaf only (two-level PKI)."""
        return self.cert_pem


def make_operator_pki(
    org: str,
    origin: str,
    alg: Alg = "ed25519",
    *,
    for_key: keys.PublicKey | None = None,
    now: datetime | None = None,
    country: str = "XX",
) -> Pki:
    """Make a self-issued root CA and a C2PA claim-signing leaf under it.

    Args:
        org: the operator's organisation (subject O of both certificates; 1-64 chars).
        origin: the ledger's log origin (``newsroom.example/photos``); the leaf's CN is
            ``<origin> C2PA export signer``, shortened to 64 characters.
        alg: ``"ed25519"`` or ``"es256"`` (ECDSA P-256, SHA-256).
        for_key: certify this existing Ed25519 ledger key instead of making a new leaf key
            (``alg`` must be ``"ed25519"``); the returned :class:`Pki` then has no
            ``key_pem``.
        now: the issuing time (default: the current time, UTC).
        country: the subject C, an ISO 3166 two-letter code; the default ``XX`` is the
            user-assigned "unknown" code.

    Raises:
        CertificateError: a bad name, country or algorithm, or ``for_key`` with ES256.
    """
    if alg not in ("ed25519", "es256"):
        raise CertificateError(f"unsupported C2PA signing algorithm {alg!r}")
    if for_key is not None and alg != "ed25519":
        raise CertificateError("for_key certifies an Ed25519 ledger key; use alg='ed25519'")
    org = _name_part(org, "organisation")
    origin = _name_part(origin, "origin", limit=200)
    if _COUNTRY.fullmatch(country) is None:
        raise CertificateError(f"country must be two capital letters, got {country[:10]!r}")
    when = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0) - BACKDATE

    root_key = _new_private_key(alg)
    root_name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, _cn(f"{org} C2PA root CA")),
        ]
    )
    root_ski = x509.SubjectKeyIdentifier.from_public_key(root_key.public_key())
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(when)
        .not_valid_after(when + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(root_ski, critical=False)
        .sign(root_key, _hash_for(alg))
    )

    leaf_key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey | None = None
    if for_key is not None:
        leaf_public: ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey = (
            ed25519.Ed25519PublicKey.from_public_bytes(for_key.raw)
        )
    else:
        leaf_key = _new_private_key(alg)
        leaf_public = leaf_key.public_key()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                    x509.NameAttribute(NameOID.COMMON_NAME, _cn(f"{origin} C2PA export signer")),
                ]
            )
        )
        .issuer_name(root_name)
        .public_key(leaf_public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(when)
        .not_valid_after(when + LEAF_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([C2PA_CLAIM_SIGNING_EKU, ExtendedKeyUsageOID.EMAIL_PROTECTION]),
            critical=False,
        )
        .add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(C2PA_POLICY_OID, None)]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(root_ski),
            critical=False,
        )
        .sign(root_key, _hash_for(alg))
    )
    return Pki(
        alg=alg,
        root_cert_pem=_cert_pem(root),
        root_key_pem=_key_pem(root_key),
        cert_pem=_cert_pem(leaf),
        key_pem=_key_pem(leaf_key) if leaf_key is not None else None,
    )


_README: Final = """\
Content Credentials (C2PA) signing certificates
===============================================
Operator: {org}

root.pem     the operator's root certificate (self-issued CA, valid 10 years).
             Give it to everyone who should see your exports as "Trusted": c2patool
             `--trust_anchors root.pem`, `provenance --c2pa-trust root.pem`, or the
             trust settings of another C2PA validator.
root.key     the root's private key. It is needed only to issue a new signer
             certificate. Keep it OFFLINE (a removable disk or a safe), never on the
             server that signs exports.
signer.pem   the signing (leaf) certificate: C2PA claim-signing profile, {alg},
             valid 366 days from {not_before}.
{signer_key}chain.pem    what `provenance export --c2pa --c2pa-cert chain.pem` sends with every
             signature: the signer certificate only (the root never goes in a chain).

What other tools will show
--------------------------
This root is yours, not a member of the C2PA Trust List. Until a reader adds
root.pem to its trust anchors, Content Credentials validators (contentcredentials.org/
verify, c2patool, Adobe's tools) report your exports as "Valid" with
"signingCredential.untrusted" (an untrusted signer): the signature and the hashes check
out, but the tool does not know who you are. After a reader trusts root.pem they show
"Trusted". The provenance ledger itself does not depend on this: its own verdict comes
from the ledger records, proofs and checkpoints embedded in the file.

Renew signer.pem before it expires (`provenance c2pa certs` again, or re-issue with the
same root): manifests signed without a time-stamp stop validating when their signing
certificate expires.
"""


def write_pki(pki: Pki, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write a :class:`Pki` to ``out_dir`` and return the paths written.

    Files: ``root.pem``, ``root.key`` (0600), ``signer.pem``, ``signer.key`` (0600, only
    when the PKI made a leaf key), ``chain.pem`` and ``README.txt``. The directory is
    created (0700) if missing. Each file is written atomically
    (:func:`provenance.files.write_atomic`); nothing is overwritten.

    Raises:
        CertificateError: a file exists already or cannot be written.
    """
    directory = Path(out_dir)
    not_before = x509.load_pem_x509_certificate(pki.cert_pem.encode()).not_valid_before_utc
    files: list[tuple[str, str, int]] = [
        ("root.pem", pki.root_cert_pem, 0o644),
        ("root.key", pki.root_key_pem, 0o600),
        ("signer.pem", pki.cert_pem, 0o644),
    ]
    if pki.key_pem is not None:
        files.append(("signer.key", pki.key_pem, 0o600))
    files.append(("chain.pem", pki.chain_pem, 0o644))
    signer_key = (
        "signer.key   the signer's private key (unencrypted PKCS#8; mode 0600).\n"
        if pki.key_pem is not None
        else "             (no signer.key: the signer certificate certifies your existing "
        "ledger key)\n"
    )
    org = x509.load_pem_x509_certificate(pki.root_cert_pem.encode()).subject
    org_names = org.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    files.append(
        (
            "README.txt",
            _README.format(
                org=str(org_names[0].value) if org_names else "the operator",
                alg="Ed25519" if pki.alg == "ed25519" else "ECDSA P-256 (ES256)",
                not_before=not_before.strftime("%Y-%m-%d"),
                signer_key=signer_key,
            ),
            0o644,
        )
    )
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise CertificateError(f"cannot create {directory}: {exc.strerror or exc}") from exc
    for name, _, _ in files:
        if os.path.lexists(directory / name):
            raise CertificateError(
                f"refusing to overwrite {directory / name}", hint="choose an empty directory"
            )
    written = []
    for name, text, mode in files:
        path = directory / name
        write_atomic(path, text, mode=mode, overwrite=False, error=CertificateError)
        written.append(path)
    return written


def make_c2pa_certs(
    org: str,
    origin: str,
    out_dir: str | os.PathLike[str],
    *,
    alg: Alg = "ed25519",
    for_key: keys.PublicKey | None = None,
    country: str = "XX",
    now: datetime | None = None,
) -> list[Path]:
    """``provenance c2pa certs``: make an operator root and a C2PA signer certificate
    (:func:`make_operator_pki`) and write them to ``out_dir`` (:func:`write_pki`).

    Returns:
        The files written: ``root.pem``, ``root.key``, ``signer.pem``, ``signer.key``
        (unless ``for_key``), ``chain.pem``, ``README.txt``.

    Raises:
        CertificateError: a bad name, country or algorithm, or a file already there.
    """
    pki = make_operator_pki(org, origin, alg, for_key=for_key, now=now, country=country)
    return write_pki(pki, out_dir)


def load_c2pa_key(
    path: str | os.PathLike[str], passphrase: keys.PassphraseSource | bytes | None = None
) -> keys.SigningKey | EcP256Key:
    """Load the private key a C2PA export is signed with.

    Accepts an OpenSSH Ed25519 key (a ledger signer key, via
    :func:`provenance.keys.load_signing_key`), or a PKCS#8 PEM (``BEGIN PRIVATE KEY`` or
    ``BEGIN ENCRYPTED PRIVATE KEY``) or SEC1 (``BEGIN EC PRIVATE KEY``) file holding an
    Ed25519 or ECDSA P-256 key.

    Raises:
        KeyFileError: missing, unreadable or corrupt file, or another key type.
        PassphraseError: an encrypted key and no (or a wrong) passphrase.
    """
    what = os.fspath(path)
    try:
        with open(what, "rb") as handle:
            data = handle.read(keys.MAX_KEY_FILE_SIZE + 1)
    except FileNotFoundError as exc:
        raise KeyFileError(f"no such key file: {what}") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {what}: {exc.strerror}") from exc
    if len(data) > keys.MAX_KEY_FILE_SIZE:
        raise KeyFileError(f"{what} is too large to be a key file")
    if b"-----BEGIN OPENSSH PRIVATE KEY-----" in data:
        return keys.load_signing_key(what, passphrase)
    if b"-----BEGIN EC PRIVATE KEY-----" not in data and not re.search(
        rb"-----BEGIN (ENCRYPTED )?PRIVATE KEY-----", data
    ):
        raise KeyFileError(
            f"not a private key file: {what}",
            hint="--c2pa-key takes an OpenSSH Ed25519 key or a PKCS#8 Ed25519/P-256 PEM",
        )
    password: bytes | None = None
    if b"-----BEGIN ENCRYPTED PRIVATE KEY-----" in data or b"Proc-Type: 4,ENCRYPTED" in data:
        if isinstance(passphrase, bytes):
            password = passphrase
        elif passphrase is not None:
            password = passphrase.require(what=what)
        else:
            raise PassphraseError(f"no passphrase: {what} is encrypted")
    try:
        key = serialization.load_pem_private_key(data, password)
    except ValueError as exc:
        if password is not None and "password" in str(exc).lower():
            raise PassphraseError(f"wrong passphrase for key file {what}") from exc
        raise KeyFileError(f"corrupt key file {what}") from exc
    except (TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileError(f"unsupported or corrupt key file {what}") from exc
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return keys.SigningKey(key)
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return EcP256Key(key)
    raise KeyFileError(
        f"unsupported key type in {what}: C2PA export keys are Ed25519 or ECDSA P-256"
    )


def check_chain(chain_pem: str, key: keys.SigningKey | EcP256Key, *, now: datetime) -> Alg:
    """Check a signer's certificate chain against its key before handing both to c2pa.

    The native signer reports a mismatched key only as an opaque validation failure, so the
    common mistakes are caught here with a clear message: no certificate, a leaf whose
    public key is not ``key``'s, a CA certificate as the leaf, a leaf without the
    ``digitalSignature`` key usage or an extended key usage, a leaf outside its validity
    period at ``now``.

    Returns:
        The C2PA algorithm name for ``key`` (``"ed25519"`` or ``"es256"``).

    Raises:
        CertificateError: any of the above.
    """
    certs = _parse_chain(chain_pem)
    leaf = certs[0]
    leaf_public = leaf.public_key()
    if isinstance(key, keys.SigningKey):
        alg: Alg = "ed25519"
        matches = isinstance(leaf_public, ed25519.Ed25519PublicKey) and (
            leaf_public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            == key.public.raw
        )
    else:
        alg = "es256"
        matches = isinstance(leaf_public, ec.EllipticCurvePublicKey) and (
            leaf_public.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            == key.public_der()
        )
    if not matches:
        raise CertificateError(
            "the C2PA signing key does not match the first certificate in the chain",
            hint="--c2pa-cert must start with the certificate issued for --c2pa-key",
        )
    try:
        basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        if basic.ca:
            raise CertificateError(
                "the first certificate in the chain is a CA certificate; C2PA signers "
                "need a leaf (CA:false) certificate"
            )
    except x509.ExtensionNotFound:
        pass
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise CertificateError("the signer certificate has no KeyUsage extension") from exc
    if not usage.digital_signature:
        raise CertificateError("the signer certificate lacks the digitalSignature key usage")
    try:
        leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound as exc:
        raise CertificateError(
            "the signer certificate has no ExtendedKeyUsage; C2PA needs "
            "c2pa-kp-claimSigning (1.3.6.1.4.1.62558.2.1) and/or emailProtection"
        ) from exc
    when = now.astimezone(UTC)
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        raise CertificateError(
            f"the signer certificate is not valid now (valid "
            f"{leaf.not_valid_before_utc:%Y-%m-%d} to {leaf.not_valid_after_utc:%Y-%m-%d})",
            hint="issue a new signer certificate",
        )
    return alg


@dataclass(frozen=True)
class C2paSigner:
    """What signs a C2PA manifest: a certificate chain (leaf first, PEM) and its key.

    The key travels to c2pa-rs as an in-memory PKCS#8 PEM through ``Signer.from_info``, for
    Ed25519 (an OpenSSH ledger key is converted in memory) as for ES256. The alternative,
    ``Signer.from_callback`` (signing in Python), makes c2pa-python 0.38.1 reserve 10,000
    zero bytes of signature space in every manifest (``reserve_size`` = chain + 10000, not
    configurable) instead of about 1,600: an export 9 KB larger (+15.6 KB instead of
    +6.4 KB, measured), over the 10 KB budget. The native library runs in this process and
    the key is already in its memory, so nothing leaves the process either way.
    """

    chain_pem: str
    alg: Alg
    key_pem: str = field(repr=False)
    tsa_url: str | None = None

    @classmethod
    def from_key(
        cls,
        chain_pem: str,
        key: keys.SigningKey | EcP256Key,
        *,
        now: datetime | None = None,
        tsa_url: str | None = None,
    ) -> C2paSigner:
        """Pair a chain with our Ed25519 :class:`~provenance.keys.SigningKey` or an
        :class:`EcP256Key`, checking that they match (:func:`check_chain`).

        Raises:
            CertificateError: the chain does not fit the key or the C2PA profile, or a
                time-stamp URL that is not http(s).
        """
        alg = check_chain(chain_pem, key, now=now or datetime.now(UTC))
        if tsa_url is not None and _URL.fullmatch(tsa_url) is None:
            raise CertificateError(f"not an http(s) time-stamp URL: {tsa_url[:80]!r}")
        return cls(chain_pem=chain_pem, alg=alg, key_pem=_pkcs8(key), tsa_url=tsa_url)


def load_signer(
    chain_path: str | os.PathLike[str],
    key: str | os.PathLike[str] | keys.SigningKey | EcP256Key,
    passphrase: keys.PassphraseSource | bytes | None = None,
    *,
    now: datetime | None = None,
) -> C2paSigner:
    """Load ``--c2pa-cert CHAIN --c2pa-key KEY``: the key is a key object, an OpenSSH
    Ed25519 key file (a ledger signer key) or a PKCS#8 Ed25519 / ECDSA P-256 PEM file.

    Raises:
        KeyFileError, PassphraseError: the key cannot be loaded.
        CertificateError: the chain is unreadable or does not match the key.
    """
    chain = read_chain_file(chain_path)
    if not isinstance(key, keys.SigningKey | EcP256Key):
        key = load_c2pa_key(key, passphrase)
    return C2paSigner.from_key(chain, key, now=now)


def _pkcs8(key: keys.SigningKey | EcP256Key) -> str:
    """The key as an unencrypted PKCS#8 PEM, in memory (an Ed25519 key through its public
    OpenSSH serialisation)."""
    if isinstance(key, EcP256Key):
        return key.pkcs8_pem()
    private = serialization.load_ssh_private_key(key.to_openssh(None), None)
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def read_chain_file(path: str | os.PathLike[str]) -> str:
    """Read a PEM certificate chain file (leaf first) and return its certificates as text.

    Raises:
        CertificateError: missing, unreadable, too large, or without a certificate.
    """
    what = os.fspath(path)
    try:
        with open(what, "rb") as handle:
            data = handle.read(MAX_CHAIN_BYTES + 1)
    except OSError as exc:
        raise CertificateError(f"cannot read certificate chain {what}: {exc.strerror}") from exc
    if len(data) > MAX_CHAIN_BYTES:
        raise CertificateError(f"{what} is too large to be a certificate chain")
    blocks = _PEM_CERT.findall(data)
    if not blocks:
        raise CertificateError(f"{what} holds no PEM certificate")
    text = b"".join(b if b.endswith(b"\n") else b + b"\n" for b in blocks).decode("ascii")
    _parse_chain(text)
    return text


def _parse_chain(chain_pem: str) -> Sequence[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(chain_pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise CertificateError(f"malformed certificate chain: {exc}") from exc
    if not certs:
        raise CertificateError("the certificate chain is empty")
    return certs


# --- private helpers ------------------------------------------------------------------------


def _name_part(value: str, what: str, *, limit: int = 64) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str")
    value = value.strip()
    if not value or len(value) > limit:
        raise CertificateError(f"the {what} must be 1 to {limit} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise CertificateError(f"the {what} must not contain control characters")
    return value


def _cn(text: str) -> str:
    """Shorten to the 64 UTF-8 bytes X.520 allows a common name (``...`` marks a cut)."""
    if len(text.encode("utf-8")) <= 64:
        return text
    while len(text.encode("utf-8")) > 61:
        text = text[:-1]
    return text + "..."


def _new_private_key(alg: Alg) -> ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey:
    if alg == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP256R1())


def _hash_for(alg: Alg) -> hashes.SHA256 | None:
    return None if alg == "ed25519" else hashes.SHA256()


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _key_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
