"""The one door to c2pa-python: settings, reading, signing (the only importer of ``c2pa``).

c2pa-python is pinned to :data:`SDK_VERSION_PIN` (0.38.1, bundling c2pa-rs 0.91.3): its API
changes between minor versions (0.33 removed functions, 0.38 introduced ``Context``), so
every call goes through this module, and it imports the SDK lazily, inside the functions
that need it. ``import provenance.c2pa`` costs nothing, and a file without Content
Credentials never loads the 23 MB native library (about 56 ms): callers pre-scan with
:func:`provenance.c2pa_scan.scan` first.

Settings (:func:`settings`, :func:`context`) are always set, never the SDK defaults:

* ``verify.remote_manifest_fetch = false``: the default fetches a URL taken from the
  image's XMP, a server-side request forgery on a server that ingests uploads;
* ``verify.ocsp_fetch = false``: no network at run time;
* ``trust.trust_config`` = the C2PA extended key usages (:data:`EKU_TRUST_CONFIG`):
  c2pa-rs 0.91.3 otherwise accepts only ``emailProtection`` leaves and marks
  conformance-program certificates (c2pa-kp-claimSigning, documentSigning) invalid;
* trust anchors only from files the operator gives (:class:`TrustConfig`);
* thumbnails off (+139 KB and up to 290 ms each).

Signing (:func:`sign_manifest`) goes through ``Signer.from_info`` with an in-memory PKCS#8
key (:class:`provenance.c2pa_certs.C2paSigner`): c2pa-python 0.38.1's ``from_callback``
reserves 10,000 zero bytes of signature space in every manifest, ``from_info`` about 1,600.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import io
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from provenance.errors import ProvenanceError

if TYPE_CHECKING:
    from provenance.c2pa_certs import C2paSigner

__all__ = [
    "EKU_TRUST_CONFIG",
    "INSTALL_HINT",
    "SDK_VERSION_PIN",
    "BundleOriginMismatch",
    "C2paReading",
    "C2paUnavailable",
    "ContentCredentialsError",
    "InvalidCredentialsError",
    "TrustConfig",
    "available",
    "context",
    "ingredient_archive",
    "read",
    "read_store",
    "sdk_version",
    "settings",
    "sign_manifest",
]

SDK_VERSION_PIN: Final = "0.38.1"
INSTALL_HINT: Final = f"pip install 'c2pa-python=={SDK_VERSION_PIN}'"

#: ``trust.trust_config``: the EKUs a C2PA signer certificate may carry (c2pa-kp-claimSigning,
#: MS C2PA signing, emailProtection, Microsoft document signing, time-stamping, OCSP signing).
EKU_TRUST_CONFIG: Final = (
    "1.3.6.1.4.1.62558.2.1\n"
    "1.3.6.1.5.5.7.3.36\n"
    "1.3.6.1.5.5.7.3.4\n"
    "1.3.6.1.4.1.311.76.59.1.9\n"
    "1.3.6.1.5.5.7.3.8\n"
    "1.3.6.1.5.5.7.3.9\n"
)
_PEM_CERT = re.compile(r"-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----")


# --- errors ---------------------------------------------------------------------------------
class ContentCredentialsError(ProvenanceError):
    """Content Credentials could not be written or used (bad input, a signing failure, a
    misconfigured trust list). Reading a bad manifest is not an error: it is a state."""


class C2paUnavailable(ContentCredentialsError):
    """c2pa-python is not installed, so Content Credentials could not be read or written."""

    default_hint = INSTALL_HINT


class InvalidCredentialsError(ContentCredentialsError):
    """``--c2pa require-valid``: the file's Content Credentials are not valid (``Invalid``,
    unreadable, or a remote manifest that cannot be checked offline). Nothing was signed."""

    default_hint = "sign with --c2pa record to log the file and its failed validation anyway"


class BundleOriginMismatch(ContentCredentialsError):
    """An embedded ``<ns>.bundle`` assertion's namespace does not belong to the bundle's own
    log origin (a bundle relabelled to borrow another operator's name)."""

    exit_code = 1


# --- availability ---------------------------------------------------------------------------
def available() -> bool:
    """Whether c2pa-python can be imported (checked without importing it)."""
    try:
        return importlib.util.find_spec("c2pa") is not None
    except (ImportError, ValueError):
        return False


def _sdk(what: str) -> Any:
    try:
        import c2pa as sdk  # the only import of c2pa-python in the project
    except ImportError as exc:
        raise C2paUnavailable(
            f"c2pa-python is not installed: {what} skipped; install it with {INSTALL_HINT}"
        ) from exc
    return sdk


def sdk_version() -> str:
    """``c2pa-rs/<version>`` of the installed native library.

    Raises:
        C2paUnavailable: c2pa-python is not installed.
    """
    return "c2pa-rs/" + str(_sdk("Content Credentials").sdk_version())


# --- trust and context ----------------------------------------------------------------------
@dataclass(frozen=True)
class TrustConfig:
    """The trust anchors a C2PA reading is judged under (operator-supplied PEM files; no
    network at run time).

    Attributes:
        trust_anchors: PEM certificates for ``trust.trust_anchors`` (the C2PA Trust List, the
            TSA trust list, a frozen interim list): they also anchor time-stamp authorities.
        user_anchors: PEM certificates for ``trust.user_anchors`` (the operator's own roots).
        sources: where they were read from (for messages; not part of equality).
    """

    trust_anchors: str = ""
    user_anchors: str = ""
    sources: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for text, what in ((self.trust_anchors, "trust"), (self.user_anchors, "user")):
            if text and not _PEM_CERT.search(text):
                raise ContentCredentialsError(f"the {what} anchors hold no PEM certificate")

    @classmethod
    def from_files(
        cls,
        trust_files: Sequence[str | Path] = (),
        user_files: Sequence[str | Path] = (),
    ) -> TrustConfig:
        """Read anchor files (each one or more PEM certificates), in the order given.

        Raises:
            ContentCredentialsError: a file is missing, unreadable, or holds no certificate.
        """
        texts: list[str] = []
        for group in (trust_files, user_files):
            parts = []
            for path in group:
                try:
                    raw = Path(path).read_bytes()
                except OSError as exc:
                    raise ContentCredentialsError(
                        f"cannot read C2PA trust anchors {path}: {exc.strerror or exc}"
                    ) from exc
                text = raw.decode("ascii", "replace")
                if not _PEM_CERT.search(text):
                    raise ContentCredentialsError(f"{path} holds no PEM certificate")
                parts.append(text if text.endswith("\n") else text + "\n")
            texts.append("".join(parts))
        return cls(
            trust_anchors=texts[0],
            user_anchors=texts[1],
            sources=tuple(str(p) for p in (*trust_files, *user_files)),
        )

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the anchors (trust, then user, as concatenated text: with one
        file this equals ``sha256sum`` of that file), or ``none`` without anchors."""
        if not self.trust_anchors and not self.user_anchors:
            return "none"
        digest = hashlib.sha256((self.trust_anchors + self.user_anchors).encode("ascii", "replace"))
        return "sha256:" + digest.hexdigest()


def settings(trust: TrustConfig) -> dict[str, Any]:
    """The c2pa settings we always use (see the module docstring)."""
    trust_section: dict[str, Any] = {"trust_config": EKU_TRUST_CONFIG}
    if trust.trust_anchors:
        trust_section["trust_anchors"] = trust.trust_anchors
    if trust.user_anchors:
        trust_section["user_anchors"] = trust.user_anchors
    return {
        "verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
        "trust": trust_section,
        "builder": {"thumbnail": {"enabled": False}},
    }


@functools.lru_cache(maxsize=16)
def context(trust: TrustConfig) -> Any:
    """A ``c2pa.Context`` with our settings and ``trust``'s anchors (cached per config).

    Raises:
        C2paUnavailable: c2pa-python is not installed.
        ContentCredentialsError: the SDK refused the settings (e.g. a malformed anchor).
    """
    sdk = _sdk("Content Credentials")
    try:
        return sdk.Context.from_dict(settings(trust))
    except sdk.C2paError as exc:
        raise ContentCredentialsError(f"c2pa refused the trust settings: {exc}") from exc


# --- reading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class C2paReading:
    """What a file's embedded Content Credentials say, as flat ``c2pa.*`` claims (in
    :data:`provenance.c2pa_claims.CLAIM_ORDER`)."""

    claims: dict[str, str]

    @property
    def state(self) -> str:
        return self.claims.get("c2pa.state", "error")

    def summary(self) -> str:
        """One human line (:func:`provenance.c2pa_claims.summarize`)."""
        from provenance.c2pa_claims import summarize

        return summarize(self.claims)


class _NoManifest(Exception):
    """try_create found no manifest although the pre-scan did."""


def read(data: bytes, mime: str, trust: TrustConfig) -> C2paReading | None:
    """Read and validate a file's embedded Content Credentials.

    Returns None, without importing c2pa, when the file embeds no manifest store
    (:func:`provenance.c2pa_scan.scan`; a remote-only reference in XMP is the caller's:
    :mod:`provenance.c2pa_ingest`). Otherwise the claims: ``c2pa.state`` is ``Trusted``,
    ``Valid``, ``Invalid`` or ``error`` (``c2pa.error`` says why). Never raises for a bad
    manifest.

    Raises:
        C2paUnavailable: the file embeds a manifest store and c2pa-python is missing.
    """
    import provenance.c2pa_claims as claims_mod
    from provenance.c2pa_scan import raw_store, scan

    data = bytes(data)
    if not scan(data):
        return None
    sdk = _sdk("reading Content Credentials")
    store = raw_store(data)
    claims: dict[str, Any]
    try:
        reader = sdk.Reader.try_create(mime, io.BytesIO(data), None, context(trust))
        if reader is None:
            raise _NoManifest("ManifestNotFound: the manifest store could not be read")
        with reader:
            store_json = json.loads(reader.json())
            cr_json = _loads_or_none(reader.crjson())
        claims = claims_mod.reading_claims(store_json, cr_json)
    except (_NoManifest, sdk.C2paError, ValueError, KeyError, TypeError, UnicodeError) as exc:
        message = str(exc)
        if message.startswith(("Remote:", "RemoteManifest:")):
            match = re.search(r"https?://\S+", message)
            claims = {
                "c2pa.state": "remote",
                "c2pa.remote": match.group(0).rstrip(".,;)") if match else "",
            }
        else:
            claims = {"c2pa.state": "error", "c2pa.error": claims_mod.error_text(exc)}
    if store is not None:
        claims["c2pa.store"] = "sha256:" + hashlib.sha256(store).hexdigest()
    claims["c2pa.trust"] = trust.fingerprint
    claims["c2pa.sdk"] = "c2pa-rs/" + str(sdk.sdk_version())
    return C2paReading(claims_mod.ordered(claims))


def _loads_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def read_store(store: bytes, trust: TrustConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a standalone manifest store (``application/c2pa``, no asset): its
    ``Reader.json()`` and ``Reader.crjson()``. Hard-binding checks fail without the asset
    (``assertion.dataHash.mismatch``); everything else (claim signature, hashed assertion
    links, certificate) is judged as usual.

    Raises:
        ContentCredentialsError: the bytes are not a manifest store c2pa can read.
        C2paUnavailable: c2pa-python is not installed.
    """
    from provenance.c2pa_claims import error_text

    sdk = _sdk("reading a manifest store")
    try:
        with sdk.Reader("application/c2pa", io.BytesIO(bytes(store)), None, context(trust)) as r:
            store_json = json.loads(r.json())
            cr_json = json.loads(r.crjson())
    except (sdk.C2paError, ValueError, UnicodeError) as exc:
        raise ContentCredentialsError(
            f"not a readable C2PA manifest store: {error_text(exc)}"
        ) from exc
    if not isinstance(store_json, dict) or not isinstance(cr_json, dict):
        raise ContentCredentialsError("not a readable C2PA manifest store: no manifest")
    return store_json, cr_json


# --- signing --------------------------------------------------------------------------------
def sign_manifest(
    definition: dict[str, Any],
    mime: str,
    source: bytes,
    signer: C2paSigner,
    *,
    ingredients: Sequence[tuple[dict[str, Any], str, bytes]] = (),
    remote_url: str | None = None,
) -> tuple[bytes, bytes]:
    """Sign a manifest definition over ``source`` and return ``(signed file, store)``.

    Args:
        definition: the manifest definition (:func:`provenance.c2pa_manifest.build_manifest`).
        mime: the source's MIME type.
        source: the asset bytes (XMP already written: the hard binding covers every byte
            outside the manifest store).
        signer: certificate chain and key (:class:`provenance.c2pa_certs.C2paSigner`).
        ingredients: ``(ingredient JSON, format, bytes)`` added with
            ``Builder.add_ingredient``: an asset carrying its own manifest, or an ingredient
            archive (format ``application/c2pa``).
        remote_url: embed no store; the file carries only this reference (the store comes
            back for the caller to serve there).

    Raises:
        ContentCredentialsError: the SDK refused to sign.
        C2paUnavailable: c2pa-python is not installed.
    """
    from provenance.c2pa_claims import error_text

    sdk = _sdk("Content Credentials export")
    out = io.BytesIO()
    try:
        info = sdk.C2paSignerInfo(
            signer.alg.encode("ascii"),
            signer.chain_pem.encode("ascii"),
            signer.key_pem.encode("ascii"),
            signer.tsa_url.encode("ascii") if signer.tsa_url else None,
        )
        native = sdk.Signer.from_info(info)
        with native, sdk.Builder(definition, context(TrustConfig())) as builder:
            for ingredient_json, fmt, data in ingredients:
                builder.add_ingredient(ingredient_json, fmt, io.BytesIO(data))
            if remote_url is not None:
                builder.set_no_embed()
                builder.set_remote_url(remote_url)
            store = builder.sign(native, mime, io.BytesIO(source), out)
    except sdk.C2paError as exc:
        raise ContentCredentialsError(f"C2PA signing failed: {error_text(exc)}") from exc
    return out.getvalue(), bytes(store)


def ingredient_archive(
    data: bytes, mime: str, *, label: str, title: str, generator: dict[str, str]
) -> bytes:
    """Capture a file's Content Credentials as a c2pa ingredient archive, to carry its
    manifest chain into an export. It must be made while the original bytes are at hand: a
    raw manifest store is not accepted as an ingredient. Remote manifests are not fetched.

    Raises:
        ContentCredentialsError: c2pa refused the file.
        C2paUnavailable: c2pa-python is not installed.
    """
    from provenance.c2pa_claims import error_text

    sdk = _sdk("carrying Content Credentials")
    definition = {"title": title, "format": mime, "claim_generator_info": [generator]}
    out = io.BytesIO()
    try:
        with sdk.Builder(definition, context(TrustConfig())) as builder:
            builder.add_ingredient(
                {"title": title, "relationship": "parentOf", "label": label, "instance_id": label},
                mime,
                io.BytesIO(bytes(data)),
            )
            builder.write_ingredient_archive(label, out)
    except sdk.C2paError as exc:
        raise ContentCredentialsError(
            f"cannot carry the Content Credentials of {title}: {error_text(exc)}"
        ) from exc
    return out.getvalue()
