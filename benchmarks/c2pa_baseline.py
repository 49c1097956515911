"""The C2PA baseline: c2pa-python signing and reading with a throwaway certificate chain.

The chain is made with ``cryptography``: an ECDSA P-256 root CA, an intermediate CA, and an
Ed25519 leaf (the algorithm our records use) with digitalSignature key usage, the
emailProtection extended key usage, and subject/authority key identifiers. The leaf and the
intermediate are the signing chain; the root is passed as a trust anchor when reading, so
c2pa reports ``Trusted`` (our ``verify`` likewise checks that the signer is trusted).

API as documented for c2pa-python 0.38 (docs/usage.md): ``C2paSignerInfo`` +
``Signer.from_info``; ``Builder(manifest_json[, context]).sign(signer, mime, source,
dest)``; ``Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})`` in a
``Context`` turns the thumbnail off; ``Reader(path, context=...)`` reads and validates.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

MANIFEST = {
    "claim_generator_info": [{"name": "provenance-bench", "version": "1"}],
    "title": "photo.jpg",
    "format": "image/jpeg",
    "assertions": [
        {
            "label": "c2pa.actions",
            "data": {
                "actions": [
                    {
                        "action": "c2pa.created",
                        "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
                    }
                ]
            },
        }
    ],
}


def make_chain(out: Path) -> tuple[bytes, bytes, bytes]:
    """(signing chain PEM: leaf + intermediate, leaf private key PEM, root PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(cn: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, cn),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "provenance bench"),
            ]
        )

    def usage(*, sign: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=not sign,
            crl_sign=not sign,
            encipher_only=False,
            decipher_only=False,
        )

    def cert(
        subject: str, issuer: str, pub: Any, issuer_key: Any, *, ca: bool, pathlen: int | None
    ) -> x509.Certificate:
        b = (
            x509.CertificateBuilder()
            .subject_name(name(subject))
            .issuer_name(name(issuer))
            .public_key(pub)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=pathlen), critical=True)
            .add_extension(usage(sign=not ca), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                critical=False,
            )
        )
        if not ca:
            b = b.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False
            )
        return b.sign(issuer_key, hashes.SHA256())

    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ed25519.Ed25519PrivateKey.generate()
    root = cert(
        "bench root CA", "bench root CA", root_key.public_key(), root_key, ca=True, pathlen=None
    )
    inter = cert(
        "bench intermediate CA",
        "bench root CA",
        inter_key.public_key(),
        root_key,
        ca=True,
        pathlen=0,
    )
    leaf = cert(
        "bench signer",
        "bench intermediate CA",
        leaf_key.public_key(),
        inter_key,
        ca=False,
        pathlen=None,
    )
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + inter.public_bytes(pem)
    key = leaf_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    root_pem = root.public_bytes(pem)
    out.mkdir(parents=True, exist_ok=True)
    (out / "chain.pem").write_bytes(chain)
    (out / "signer.key.pem").write_bytes(key)
    (out / "root.pem").write_bytes(root_pem)
    return chain, key, root_pem


class C2pa:
    """c2pa-python, if it imports and can sign; otherwise ``reason`` says why not."""

    def __init__(self, workdir: Path, probe_image: Path) -> None:
        self.workdir = workdir
        self.available = False
        self.reason = ""
        self.version = ""
        try:
            import c2pa
        except Exception as exc:  # noqa: BLE001 - any import failure makes the rows "unavailable"
            self.reason = f"c2pa-python does not import: {type(exc).__name__}: {exc}"
            return
        self._c2pa = c2pa
        try:
            from importlib.metadata import version

            self.version = f"{version('c2pa-python')} (c2pa-rs {c2pa.sdk_version()})"
            chain, key, root = make_chain(workdir)
            self.root_pem = workdir / "root.pem"
            info = c2pa.C2paSignerInfo(
                alg=c2pa.C2paSigningAlg.ED25519, sign_cert=chain, private_key=key, ta_url=None
            )
            self._signer = c2pa.Signer.from_info(info)
            self._manifest = json.dumps(MANIFEST)
            self._no_thumb = c2pa.Context(
                c2pa.Settings.from_dict({"builder": {"thumbnail": {"enabled": False}}})
            )
            self._trusting = c2pa.Context(
                c2pa.Settings.from_dict({"trust": {"trust_anchors": root.decode()}})
            )
            probe = workdir / "probe.jpg"
            self.sign(probe_image, probe, thumbnail=False)
            state = self.read(probe)
            if state not in ("Trusted", "Valid"):
                raise RuntimeError(f"c2pa reads its own output as {state!r}")
        except Exception as exc:  # noqa: BLE001 - report, do not crash the suite
            self.reason = f"c2pa-python failed: {type(exc).__name__}: {exc}"
            return
        self.available = True

    def sign(self, src: Path, dest: Path, *, thumbnail: bool) -> int:
        """Sign ``src`` into ``dest`` with default settings (``thumbnail``) or none."""
        c2pa = self._c2pa
        builder = (
            c2pa.Builder(self._manifest)
            if thumbnail
            else c2pa.Builder(self._manifest, self._no_thumb)
        )
        with builder, open(src, "rb") as s, open(dest, "w+b") as d:
            manifest = builder.sign(self._signer, "image/jpeg", s, d)
        return len(manifest)

    def read(self, path: Path) -> str | None:
        """Read and validate, trusting the bench root: the validation state."""
        with self._c2pa.Reader(str(path), context=self._trusting) as reader:
            state: str | None = reader.get_validation_state()
        return state
