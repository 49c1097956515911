"""Exporting an image with Content Credentials that point back to the ledger.

:func:`export_credentials` takes the offline bundle of a record (what ``provenance export``
writes) and the image the record describes, and returns a copy of the image carrying:

1. an XMP hint (:func:`provenance.xmp.hint_packet`: record id, log origin, ledger URL),
   written first by a segment/chunk writer that never re-encodes pixels;
2. then a C2PA manifest (:func:`provenance.c2pa_manifest.build_manifest`) signed over the
   result: actions mapped from the record, the parents as ingredients (a parent's own C2PA
   chain carried along when its original file is given), a ``c2pa.soft-binding`` with the
   registered ``io.iscc.v0`` algorithm (:mod:`provenance.iscc`), and ``<ns>.bundle``
   carrying the bundle verbatim, so the file verifies offline with only the log's key.

The order matters: XMP written after signing breaks the hard binding
(``assertion.dataHash.mismatch``). The ledger's own digests are unaffected: the content
digest ignores XMP (without an orientation), JPEG APP11 and the PNG ``caBX`` chunk, so the
export verifies against the same record.

With ``remote_url`` the file embeds no store, only the XMP reference (``dcterms:provenance``,
+ about 100 bytes); the store comes back for the caller to serve
(``POST /v1/manifests``).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import provenance.xmp as xmp
from provenance.c2pa import ContentCredentialsError, ingredient_archive, sign_manifest
from provenance.c2pa_certs import C2paSigner, EcP256Key, load_signer
from provenance.c2pa_manifest import (
    LABEL_SUFFIX,
    ParentRef,
    assertion_namespace,
    build_manifest,
    generator_info,
    self_ingredient_json,
)
from provenance.c2pa_scan import scan, sniff_mime

if TYPE_CHECKING:
    from provenance.bundle import Bundle
    from provenance.imaging import ImageProbe
    from provenance.keys import PassphraseSource, SigningKey
    from provenance.records import Asset

__all__ = ["ExportResult", "export_credentials", "export_image"]

EXPORT_FORMATS: Final = ("image/jpeg", "image/png")
_RECORD_ID = re.compile(r"sha256:[0-9a-f]{64}")
_URL = re.compile(r"https?://[^\s\"<>\\^`{|}]{1,2000}")
_MIME: Final = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
    "HEIF": "image/heif",
    "AVIF": "image/avif",
}


@dataclass(frozen=True)
class ExportResult:
    """An exported file and what was signed into it.

    Attributes:
        data: the image with the XMP hint and (unless remote) the embedded manifest store.
        manifest_id: the active manifest's label, ``urn:c2pa:<uuid>:provenance``.
        store: the manifest store bytes (``application/c2pa``): the sidecar in remote mode,
            what ``POST /v1/manifests`` deposits.
        iscc: the 34-byte ISCC-UNIT in the ``c2pa.soft-binding`` assertion.
        record_id: the exported record.
        remote_url: where the store must be served (remote mode), else None.
        growth: bytes added to the image.
    """

    data: bytes = field(repr=False)
    manifest_id: str
    store: bytes = field(repr=False)
    iscc: bytes
    record_id: str
    remote_url: str | None = None
    growth: int = 0


def export_credentials(
    bundle: Bundle,
    image: bytes,
    *,
    cert_chain: str | os.PathLike[str],
    key: str | os.PathLike[str] | SigningKey | EcP256Key,
    ledger_url: str | None = None,
    parent_images: Sequence[bytes | str | os.PathLike[str]] = (),
    remote_url: str | None = None,
    passphrase: PassphraseSource | bytes | None = None,
    title: str = "image",
    now: datetime | None = None,
) -> ExportResult:
    """A copy of ``image`` with Content Credentials for the bundle's subject record.

    Args:
        bundle: the record's offline bundle (:func:`provenance.export_bundle`).
        image: the image file's bytes: the file the record describes (same SHA-256 or same
            content digest: a copy with other metadata is fine); JPEG or PNG.
        cert_chain: the signer's certificate chain, PEM, leaf first (``provenance c2pa
            certs`` writes ``chain.pem``).
        key: the signer's key: a key object or file (an OpenSSH Ed25519 ledger key, or a
            PKCS#8 Ed25519 / ECDSA P-256 PEM).
        ledger_url: the ledger's public base URL (``https://ledger.example``), written into
            the XMP hint and the ingredients' ``informational_URI``; None for none.
        parent_images: original files of the parents (or of the record itself): those
            carrying Content Credentials have their manifest chain carried into the export.
        remote_url: embed no store: the file references ``<remote_url>/v1/manifests/<id>``
            (or ``remote_url`` itself with ``{manifest_id}`` replaced) and the store comes
            back in :attr:`ExportResult.store` to be served there.
        passphrase: for an encrypted key file.
        title: the exported file's name (the manifest's title).
        now: the signing time the certificate must be valid at (default: now).

    Raises:
        ContentCredentialsError: the image is not the record's, not JPEG/PNG, the origin
            names no domain, a parent image matches no parent, or signing failed.
        CertificateError, KeyFileError, PassphraseError: the chain or key cannot be used.
        C2paUnavailable: c2pa-python is not installed.
        ImageError: the image cannot be decoded.
    """
    from provenance.imaging import ImageProbe, read_image_bytes

    image = bytes(image)
    records = bundle.parsed_records()
    by_id = {rec.record_id: (idx, rec) for idx, rec in records.items()}
    if bundle.subject not in by_id:
        raise ContentCredentialsError(f"the bundle's subject {bundle.subject[:80]} is missing")
    _, subject = by_id[bundle.subject]
    st = subject.statement
    if st.asset is None:
        raise ContentCredentialsError(f"record {bundle.subject} is a {st.type} record, no image")
    probe = ImageProbe(image, name=title)
    if not _same_image(probe, st.asset):
        raise ContentCredentialsError(
            f"{title} is not the image record {bundle.subject} describes (neither its SHA-256 "
            "nor its content digest matches)",
            hint="export the file that was signed, or a copy differing only in metadata",
        )
    signer = load_signer(cert_chain, key, passphrase, now=now)
    parents: list[ParentRef] = []
    for parent_id in st.parents:
        found = by_id.get(parent_id)
        if found is None:
            raise ContentCredentialsError(f"the bundle lacks parent record {parent_id}")
        asset = found[1].statement.asset
        fmt = _MIME.get(asset.format, "application/octet-stream") if asset else "image/jpeg"
        parents.append(ParentRef(parent_id, f"ledger record {found[0]}", fmt))
    self_archive: bytes | None = None
    for item in parent_images:
        data = bytes(item) if isinstance(item, bytes) else read_image_bytes(item)
        name = "<parent image>" if isinstance(item, bytes) else Path(item).name
        other = ImageProbe(data, name=name)
        matched = [
            i
            for i, p in enumerate(parents)
            if _same_image(other, by_id[p.record_id][1].statement.asset)
        ]
        is_self = not matched and _same_image(other, st.asset)
        if not matched and not is_self:
            raise ContentCredentialsError(
                f"{name} is the image of no parent of record {bundle.subject}",
                hint="--parent-image takes an original a parent record describes",
            )
        mime = sniff_mime(data)
        if mime is None or not scan(data):
            continue  # nothing to carry
        label = parents[matched[0]].record_id if matched else bundle.subject
        archive = ingredient_archive(
            data, mime, label=label, title=name, generator=generator_info()
        )
        if matched:
            parents[matched[0]] = ParentRef(label, name, mime, archive=archive)
        else:
            self_archive = archive
    return export_image(
        image,
        sniff_mime(image) or "application/octet-stream",
        bundle=bundle.to_json(),
        record_id=bundle.subject,
        origin=bundle.origin,
        ledger_url=ledger_url,
        actions=[a.to_json() for a in st.actions],
        parents=parents,
        source_type=_source_type(st.claims) if st.type == "capture" else None,
        signer=signer,
        remote_url=remote_url,
        title=title,
        self_archive=self_archive,
    )


def _same_image(probe: ImageProbe, asset: Asset | None) -> bool:
    """Whether ``probe`` is the image ``asset`` describes (same bytes or same content)."""
    if asset is None:
        return False
    if probe.sha256 == asset.sha256:
        return True
    return asset.binding is not None and probe.content() == asset.binding


def _source_type(claims: Mapping[str, str]) -> str | None:
    """The digital source type the capture's own (valid) Content Credentials declared."""
    value = claims.get("c2pa.source_type")
    if claims.get("c2pa.state") in ("Trusted", "Valid") and value and "," not in value:
        return value
    return None


def export_image(
    image: bytes,
    mime: str,
    *,
    bundle: Mapping[str, Any] | str,
    record_id: str,
    origin: str,
    ledger_url: str | None,
    actions: Sequence[Mapping[str, Any]],
    parents: Sequence[ParentRef],
    source_type: str | None,
    signer: C2paSigner,
    title: str,
    remote_url: str | None = None,
    self_archive: bytes | None = None,
) -> ExportResult:
    """Write a copy of a JPEG or PNG image with Content Credentials (the steps of the
    module docstring), from parts: :func:`export_credentials` is the checked entry point.

    ``bundle`` is the ``provenance-bundle/v1`` document (parsed, or its JSON text): its
    ``log.origin`` must be ``origin`` and its ``subject`` ``record_id``. ``self_archive``:
    an ingredient archive of the record's own original (a capture whose camera credentials
    are carried).

    Raises:
        ContentCredentialsError: bad arguments, an image that embeds a manifest although
            its record has parents, or a signing failure.
        C2paUnavailable: c2pa-python is not installed.
        ImageError: the image cannot be decoded (for its ISCC).
    """
    import json

    import provenance.iscc as iscc

    if mime not in EXPORT_FORMATS:
        raise ContentCredentialsError(
            f"cannot export {mime!r} with Content Credentials (JPEG and PNG only)"
        )
    if _RECORD_ID.fullmatch(record_id) is None:
        raise ContentCredentialsError(f"malformed record id {record_id[:80]!r}")
    manifest_id = f"urn:c2pa:{uuid.uuid4()}:{LABEL_SUFFIX}"
    remote = None
    if remote_url is not None:
        template = (
            remote_url
            if "{manifest_id}" in remote_url
            else (remote_url.rstrip("/") + "/v1/manifests/{manifest_id}")
        )
        remote = template.replace("{manifest_id}", manifest_id)
    for url in (ledger_url, remote):
        if url is not None and _URL.fullmatch(url) is None:
            raise ContentCredentialsError(f"not an http(s) URL: {url[:80]!r}")
    if isinstance(bundle, str):
        try:
            bundle = json.loads(bundle)
        except ValueError as exc:
            raise ContentCredentialsError(f"the bundle is not valid JSON: {exc}") from exc
    bundle_obj = _check_bundle(bundle, origin=origin, record_id=record_id)
    ns = assertion_namespace(origin)
    image = bytes(image)
    self_c2pa = scan(image)
    if self_c2pa and parents:
        raise ContentCredentialsError(
            "the image already embeds Content Credentials although its record has parents",
            hint="export a copy of the image without its manifest (same pixels)",
        )
    unit = iscc.image_iscc(image)
    definition, archives = build_manifest(
        manifest_id=manifest_id,
        title=title,
        mime=mime,
        record_id=record_id,
        namespace=ns,
        actions=actions,
        parents=parents,
        source_type=source_type,
        iscc_unit=unit,
        bundle=bundle_obj,
        ledger_url=ledger_url,
        self_ingredient=self_c2pa or self_archive is not None,
    )
    hinted = xmp.write_xmp(image, mime, xmp.hint_packet(record_id, ledger_url, origin, remote))
    extra: list[tuple[dict[str, Any], str, bytes]] = []
    own = self_ingredient_json(record_id, title, mime)
    if self_archive is not None:
        extra.append((own, "application/c2pa", self_archive))
    elif self_c2pa:
        extra.append((own, mime, image))
    extra += [(ingredient, "application/c2pa", archive) for ingredient, archive in archives]
    data, store = sign_manifest(
        definition, mime, hinted, signer, ingredients=extra, remote_url=remote
    )
    return ExportResult(
        data=data,
        manifest_id=manifest_id,
        store=store,
        iscc=unit,
        record_id=record_id,
        remote_url=remote,
        growth=len(data) - len(image),
    )


def _check_bundle(obj: Any, *, origin: str, record_id: str) -> Mapping[str, Any]:
    if not isinstance(obj, Mapping) or obj.get("format") != "provenance-bundle/v1":
        raise ContentCredentialsError("the bundle is not a provenance-bundle/v1 object")
    log = obj.get("log")
    log_origin = log.get("origin") if isinstance(log, Mapping) else None
    if log_origin != origin:
        raise ContentCredentialsError(f"the bundle's log origin {log_origin!r} is not {origin!r}")
    if obj.get("subject") != record_id:
        raise ContentCredentialsError(
            f"the bundle's subject {str(obj.get('subject'))[:80]!r} is not {record_id}"
        )
    return obj
