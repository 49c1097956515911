"""The C2PA Soft Binding Resolution API's manifest routes, and ``io.iscc.v0`` look-ups.

Routes (mounted by :func:`provenance.server.create_app`; spec paths under ``/v1``):

* ``GET /v1/manifests/{manifestId}[?returnActiveManifest=true]``: a deposited manifest
  store, ``application/c2pa`` (400 for an id that is not a ``urn:c2pa`` URN, 404 unknown);
* ``POST /v1/manifests[?returnReceipt=true]``: deposit a store exported from a record of
  this log (body ``application/c2pa``; 415 for another type, 413 too large, 400 not a valid
  store, 422 not of this log, 409 another store under that id) -> ``{"manifestId"}``;
* ``DELETE /v1/manifests/{manifestId}``: 405, the log is append-only;
* ``GET|POST /v1/manifests/{manifestId}/receipts``: the SBR 2.4 receipt (its proof is the
  record's C2SP tlog-proof) / verify one a client holds;
* ``GET /v1/openapi.json``: :mod:`provenance.server.c2pa_openapi`.

``GET|POST /v1/matches/byBinding`` and ``/v1/services/supportedAlgorithms`` live in
:mod:`provenance.server.routes`, which calls :func:`iscc_matches` for ``alg=io.iscc.v0``
and lists :func:`supported_algorithms`; ``/v1/matches/byContent`` may add
:func:`content_matches`. Database work runs in the thread pool.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any, Final, Protocol, cast

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import provenance
import provenance.iscc as iscc
from provenance.c2pa import C2paUnavailable
from provenance.c2pa_ledger import DepositRefused
from provenance.c2pa_manifest import ISCC_ALG, MANIFEST_LABEL
from provenance.server.c2pa_openapi import openapi_document
from provenance.server.http import IMMUTABLE, NO_STORE, HTTPError, error_response, read_body

if TYPE_CHECKING:
    from provenance.c2pa_ledger import Deposit, IsccCandidate
    from provenance.server.state import ServerState

__all__ = [
    "ISCC_ALG",
    "ROUTES",
    "content_matches",
    "iscc_matches",
    "supported_algorithms",
]

MANIFEST_MEDIA_TYPE: Final = "application/c2pa"
MAX_MANIFEST_BYTES: Final = 16 * 1024 * 1024
MAX_RECEIPT_BYTES: Final = 256 * 1024


class ManifestLedger(Protocol):
    """What these routes need of a ledger (:class:`provenance.c2pa_ledger.C2paLedger`)."""

    def deposit_manifest(self, store: bytes) -> Deposit: ...

    def manifest_store(self, manifest_id: str, *, active_only: bool = False) -> bytes: ...

    def iscc_candidates(self, value: bytes, *, limit: int = 10) -> list[IsccCandidate]: ...

    def manifest_receipt(self, manifest_id: str, *, repository_uri: str) -> dict[str, Any]: ...

    def verify_manifest_receipt(self, receipt: Any, manifest_id: str) -> dict[str, Any]: ...


def _state(request: Request) -> ServerState:
    return cast("ServerState", request.app.state.provenance)


def _ledger(request: Request) -> ManifestLedger:
    return cast(ManifestLedger, _state(request).ledger)


# --- look-ups (called by routes.py) -----------------------------------------------------------
def supported_algorithms() -> list[dict[str, str]]:
    """The registered soft-binding algorithms this server answers, for the ``fingerprints``
    array of ``/v1/services/supportedAlgorithms``."""
    return [{"alg": ISCC_ALG}]


def similarity_score(distance: int) -> int:
    """SBR ``similarityScore`` of an ISCC match: 100 exact, at least 50 at the threshold
    (``100 - ceil(50 d / threshold)``)."""
    return max(0, 100 - math.ceil(50 * distance / iscc.MATCH_THRESHOLD))


def iscc_matches(ledger: Any, value: bytes, max_results: int) -> list[dict[str, Any]]:
    """``matches`` for ``byBinding`` with ``alg=io.iscc.v0``: deposited manifest stores whose
    ISCC Content-Code Image is within the threshold of the query's, nearest first
    (blocking: call it in the thread pool).

    Raises:
        HTTPError: 400 when the value is not an ISCC-SEQ with a 256-bit Image-Code unit.
    """
    try:
        found = cast(ManifestLedger, ledger).iscc_candidates(value, limit=max_results)
    except iscc.IsccError as exc:
        raise HTTPError(400, "binding.value", f"not an {ISCC_ALG} value: {exc}") from exc
    return [
        {"manifestId": c.manifest_id, "similarityScore": similarity_score(c.distance)}
        for c in found
    ]


def content_matches(ledger: Any, data: bytes, max_results: int) -> list[dict[str, Any]]:
    """``matches`` for ``byContent``: the ISCC of the uploaded image looked up as in
    :func:`iscc_matches` (blocking). Raises ImageError for an undecodable upload."""
    unit = iscc.image_iscc(data)
    return iscc_matches(ledger, unit, max_results)


# --- manifests ------------------------------------------------------------------------------
def _manifest_id(request: Request) -> str:
    manifest_id = str(request.path_params["manifest_id"])
    if len(manifest_id) > 200 or MANIFEST_LABEL.fullmatch(manifest_id) is None:
        raise HTTPError(400, "manifest.id", f"not a C2PA manifest identifier: {manifest_id[:80]!r}")
    return manifest_id


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise HTTPError(400, "request.parameter", f"{name} must be true or false")
    return raw in ("true", "1")


def _repository_uri(request: Request) -> str:
    base = _state(request).settings.public_url or str(request.base_url)
    return base.rstrip("/") + "/v1"


async def manifest(request: Request) -> Response:
    if request.method == "DELETE":
        response = error_response(
            HTTPError(
                405,
                "manifest.appendOnly",
                "manifest stores are never deleted: the log is append-only",
                "a manifest store stays beside the log record it was exported from",
            )
        )
        response.headers["Allow"] = "GET"
        return response
    manifest_id = _manifest_id(request)
    active = _flag(request, "returnActiveManifest")
    data = await run_in_threadpool(_ledger(request).manifest_store, manifest_id, active_only=active)
    return Response(data, media_type=MANIFEST_MEDIA_TYPE, headers={"Cache-Control": IMMUTABLE})


async def deposit(request: Request) -> Response:
    st = _state(request)
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != MANIFEST_MEDIA_TYPE:
        raise HTTPError(
            415, "request.mediaType", f"the body must be {MANIFEST_MEDIA_TYPE}, not {media!r}"
        )
    with_receipt = _flag(request, "returnReceipt")
    limit = min(MAX_MANIFEST_BYTES, st.settings.max_upload_bytes)
    body = await read_body(request, limit, st.settings.read_timeout_s)
    ledger = _ledger(request)
    try:
        kept = await run_in_threadpool(ledger.deposit_manifest, body)
    except DepositRefused as exc:
        raise HTTPError(exc.status, exc.code, exc.message, exc.hint) from exc
    except C2paUnavailable as exc:
        raise HTTPError(503, "c2pa.unavailable", exc.message, exc.hint) from exc
    except (provenance.ContentCredentialsError, provenance.BundleError) as exc:
        raise HTTPError(400, "manifest.invalid", exc.message, exc.hint) from exc
    out: dict[str, Any] = {"manifestId": kept.manifest_id}
    if with_receipt:
        out["receipt"] = await run_in_threadpool(
            ledger.manifest_receipt, kept.manifest_id, repository_uri=_repository_uri(request)
        )
    return JSONResponse(
        out, status_code=201 if kept.created else 200, headers={"Cache-Control": NO_STORE}
    )


async def receipts(request: Request) -> Response:
    manifest_id = _manifest_id(request)
    ledger = _ledger(request)
    if request.method == "GET":

        def make() -> dict[str, Any]:
            receipt = ledger.manifest_receipt(manifest_id, repository_uri=_repository_uri(request))
            return ledger.verify_manifest_receipt(receipt, manifest_id)

        return JSONResponse(await run_in_threadpool(make), headers={"Cache-Control": NO_STORE})
    st = _state(request)
    raw = await read_body(request, MAX_RECEIPT_BYTES, st.settings.read_timeout_s)
    try:
        receipt = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise HTTPError(400, "request.json", "the body is not JSON") from exc
    try:
        verified = await run_in_threadpool(ledger.verify_manifest_receipt, receipt, manifest_id)
    except DepositRefused as exc:
        raise HTTPError(exc.status, exc.code, exc.message) from exc
    return JSONResponse(verified, headers={"Cache-Control": NO_STORE})


async def openapi(request: Request) -> Response:
    return JSONResponse(
        openapi_document(_repository_uri(request)), headers={"Cache-Control": NO_STORE}
    )


ROUTES = [
    Route("/v1/openapi.json", openapi),
    Route("/v1/manifests", deposit, methods=["POST"]),
    Route("/v1/manifests/{manifest_id}", manifest, methods=["GET", "DELETE"]),
    Route("/v1/manifests/{manifest_id}/receipts", receipts, methods=["GET", "POST"]),
]
