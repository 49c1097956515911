"""Content Credentials on the way in (``sign``/``edit``/``derive``) and at ``verify``.

* :func:`ingest_claims`: what a file's Content Credentials say, as the ``c2pa.*`` claims a
  record carries (:mod:`provenance.c2pa_claims`), under a policy: ``record`` (default),
  ``require-valid`` (refuse a file whose credentials do not validate), ``ignore``. A plain
  file costs a byte pre-scan and an XMP look (microseconds) and never imports c2pa.
* :func:`credentials_note`: the one informational line ``verify`` prints for a file with
  Content Credentials (C2PA never changes a verdict).
* :func:`embedded_bundle_text`: the ``provenance-bundle/v1`` an export carries, for ``verify``
  to use like ``--bundle``. Read straight from the JUMBF bytes (no SDK: an export verifies
  offline even where c2pa-python is not installed). The bundle is evidence whatever the
  manifest's state: its own proofs and the trusted log key decide. Its label must name the
  bundle's own origin host (:class:`provenance.c2pa.BundleOriginMismatch` otherwise).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import provenance.xmp as xmp
from provenance.c2pa import (
    BundleOriginMismatch,
    C2paUnavailable,
    ContentCredentialsError,
    InvalidCredentialsError,
    TrustConfig,
    read,
)
from provenance.c2pa_claims import ordered, summarize, xmp_claims
from provenance.c2pa_manifest import BUNDLE_LABEL, assertion_namespace, namespace_host
from provenance.c2pa_scan import assertion_box, manifest_labels, raw_store, scan, sniff_mime

__all__ = [
    "TRUST_ENV",
    "C2paIngest",
    "EmbeddedBundle",
    "Policy",
    "credentials_note",
    "embedded_bundle",
    "embedded_bundle_text",
    "ingest_claims",
    "load_trust",
    "store_bundle",
]

Policy = Literal["record", "require-valid", "ignore"]
POLICIES: tuple[Policy, ...] = ("record", "require-valid", "ignore")
#: Environment variable naming trust-anchor PEM files (``os.pathsep``-separated).
TRUST_ENV = "PROVENANCE_C2PA_TRUST"
NOT_INSTALLED = "c2pa not installed, credentials not read"


@dataclass(frozen=True)
class C2paIngest:
    """What ingest found in one file.

    Attributes:
        claims: the ``c2pa.*`` claims to record (empty for a plain file).
        summary: one human line, or None when the file carries nothing to say.
        skipped: why the credentials were not read (c2pa-python missing), else None.
    """

    claims: dict[str, str] = field(default_factory=dict)
    summary: str | None = None
    skipped: str | None = None


def ingest_claims(data: bytes, *, policy: Policy, trust: TrustConfig) -> C2paIngest:
    """Read a file's Content Credentials for its record.

    A file without an embedded manifest store never imports c2pa: it records a remote-only
    manifest's URL (``c2pa.state=remote``, never fetched) and an XMP
    ``Iptc4xmpExt:DigitalSourceType`` (``c2pa.xmp_source_type``) when it has them.

    Raises:
        InvalidCredentialsError: ``require-valid`` and the credentials are ``Invalid``,
            unreadable, or remote (cannot be checked offline).
        C2paUnavailable: ``require-valid``, the file embeds a manifest and c2pa-python is
            missing (with ``record`` that is ``skipped`` instead).
        ValueError: an unknown policy.
    """
    if policy not in POLICIES:
        raise ValueError(f"unknown C2PA policy {policy!r}")
    if policy == "ignore":
        return C2paIngest()
    if scan(data):
        mime = sniff_mime(data)
        try:
            reading = read(data, mime or "application/octet-stream", trust)
        except C2paUnavailable as exc:
            if policy == "require-valid":
                raise
            return C2paIngest(skipped=f"{NOT_INSTALLED} ({exc.hint})")
        found = reading.claims if reading is not None else {}
    else:
        extra, remote = xmp_claims(xmp.read_xmp(data))
        if remote is None:
            return C2paIngest(extra, summarize(extra) if extra else None)
        found = ordered(
            {"c2pa.state": "remote", "c2pa.remote": remote, "c2pa.trust": trust.fingerprint} | extra
        )
    state = found.get("c2pa.state")
    if policy == "require-valid" and state not in ("Trusted", "Valid"):
        raise InvalidCredentialsError(
            f"Content Credentials do not validate: {summarize(found)}"
            if state != "remote"
            else f"Content Credentials are remote and cannot be checked: {summarize(found)}"
        )
    return C2paIngest(found, summarize(found))


def credentials_note(
    data: bytes, trust: TrustConfig, *, recorded: Mapping[str, str] | None = None
) -> str | None:
    """The informational line ``verify`` prints about a file's Content Credentials, or
    None when it has none.

    State, signer and AI flag (:func:`provenance.c2pa_claims.summarize`); with
    ``recorded`` (the matched record's claims), how the file's manifest store relates to
    the one recorded at ingest: the same, carrying it as an ingredient (an export), or not.
    ``"c2pa not installed, credentials not read"`` when the file embeds a manifest and
    c2pa-python is missing. Never raises for a bad manifest.
    """
    try:
        found = ingest_claims(data, policy="record", trust=trust)
    except ContentCredentialsError as exc:  # a malformed trust configuration
        return f"credentials not read: {exc}"
    if found.skipped is not None:
        return NOT_INSTALLED
    if found.summary is None:
        return None
    return found.summary + _against_ingest(data, found.claims, recorded or {})


def _against_ingest(data: bytes, now: Mapping[str, str], recorded: Mapping[str, str]) -> str:
    """How the file's manifest store relates to the one recorded at ingest."""
    if "c2pa.store" not in recorded and "c2pa.manifest" not in recorded:
        return ""
    if now.get("c2pa.store") is not None and now.get("c2pa.store") == recorded.get("c2pa.store"):
        return "; the manifest recorded at ingest"
    label = recorded.get("c2pa.manifest")
    store = raw_store(data)
    if label is not None and store is not None and label in manifest_labels(store):
        if now.get("c2pa.manifest") == label:
            return "; the manifest recorded at ingest, in another store"
        return "; carries the manifest recorded at ingest as an ingredient"
    return "; not the manifest recorded at ingest"


# --- the embedded bundle ----------------------------------------------------------------------
@dataclass(frozen=True)
class EmbeddedBundle:
    """A ``provenance-bundle/v1`` carried in a file's active C2PA manifest.

    Attributes:
        bundle_json: the bundle as ``Bundle.dumps()`` writes it (two-space indent, UTF-8,
            trailing newline): the exported text when that came from ``Bundle.dumps()``.
        label: the assertion label (``example.newsroom.provenance.bundle``).
        namespace: its namespace (``example.newsroom.provenance``).
        host: the origin host the namespace names (``newsroom.example``).
    """

    bundle_json: str
    label: str
    namespace: str
    host: str


def embedded_bundle(data: bytes) -> EmbeddedBundle | None:
    """The ``<ns>.bundle`` assertion of the file's embedded manifest store, or None (no
    store, no bundle assertion, or one that is not a JSON object). No SDK needed. The
    active manifest is searched first, then the others, newest first: a tool that signed
    the export again keeps ours as an ingredient, and the bundle verifies by itself.

    Raises:
        BundleOriginMismatch: the label's namespace is not
            ``assertion_namespace(bundle.log.origin)``.
    """
    store = raw_store(data)
    return None if store is None else store_bundle(store)


def store_bundle(store: bytes, *, active_only: bool = False) -> EmbeddedBundle | None:
    """:func:`embedded_bundle` of a manifest store itself (``application/c2pa``); with
    ``active_only``, only a bundle in the active manifest counts.

    Raises:
        BundleOriginMismatch: as :func:`embedded_bundle`.
    """
    found = assertion_box(store, BUNDLE_LABEL, active_only=active_only)
    if found is None or found[1] != b"json":
        return None
    label, _, raw = found
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    namespace = label.removesuffix(".bundle")
    log = value.get("log")
    origin = log.get("origin") if isinstance(log, dict) else None
    if not isinstance(origin, str):
        raise BundleOriginMismatch(f"the bundle in {label} names no log origin")
    try:
        expected = assertion_namespace(origin)
    except ContentCredentialsError as exc:
        raise BundleOriginMismatch(
            f"the bundle in {label} has log origin {origin[:80]!r}, which names no domain ({exc})"
        ) from exc
    host = namespace_host(namespace)
    if namespace != expected:
        raise BundleOriginMismatch(
            f"the Content Credentials label {label!r} names host {host!r}, but the bundle's "
            f"log origin is {origin!r} (expected {expected}.bundle)",
            hint="the bundle was relabelled; do not trust its origin claim",
        )
    text = json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    return EmbeddedBundle(text, label, namespace, host)


def embedded_bundle_text(data: bytes) -> str | None:
    """The offline bundle an exported file carries (text for ``provenance.load_bundle``),
    or None.

    Raises:
        BundleOriginMismatch: its label names another host than its log origin.
    """
    found = embedded_bundle(data)
    return None if found is None else found.bundle_json


def load_trust(
    trust_files: Sequence[str | os.PathLike[str]] = (),
    *,
    env: Mapping[str, str] | None = None,
) -> TrustConfig:
    """The trust anchors for reading Content Credentials: the files given (``--c2pa-trust``,
    repeatable), else those named by ``PROVENANCE_C2PA_TRUST`` (``os.pathsep``-separated),
    else none.

    Raises:
        ContentCredentialsError: a file is missing, unreadable or holds no certificate.
    """
    files = [os.fspath(f) for f in trust_files]
    if not files:
        source = os.environ if env is None else env
        files = [f for f in source.get(TRUST_ENV, "").split(os.pathsep) if f]
    return TrustConfig.from_files(files) if files else TrustConfig()
