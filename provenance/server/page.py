"""The verification page at ``/`` and its JSON twins under ``/v1`` (DESIGN section 11).

The page is a client of the API, as datasette's pages are of theirs: the server renders a
small HTML shell (Jinja2, autoescaped) and one vanilla JavaScript file renders what these
routes return, building the DOM with ``textContent`` only. Every report is computed here
by the pure verifier; the browser never judges anything.

* ``GET /``: the page (strict Content-Security-Policy: scripts and styles from this origin
  only, images also from ``data:`` and ``blob:`` URLs; nothing inline).
* ``GET /v1/verify?sha256=HEX``: the browser's WebCrypto digest of a file. An exact match
  gives the record's report with check (6) saying only the SHA-256 was compared and check
  (7) that the perceptual hashes were not recomputed (the image was not uploaded). No
  match: an ``unknown`` report with status 404 (the page then uploads the image).
* ``POST /v1/verify``: an image as the raw body (at most ``max_upload_bytes``, 413 above;
  ``max_upload_pixels``, 413 above; not an image: 415): the full report, as ``verify``.
* ``POST /v1/diff?original_bytes=N``: the raw body is ORIGINAL's N bytes followed by
  EDITED's. When EDITED's record is a replayable edit of ORIGINAL's, the server replays it,
  compares pixel by pixel and answers the counts, three preview PNGs as ``data:`` URLs
  (replayed, uploaded, difference map) and EDITED's report verified with ORIGINAL as its
  parent image (check 8). 404 ``diff.notLogged``, 422 for the other ``diff.*`` codes.

Verification answers share one shape::

    {"query": {"sha256", "uploaded"}, "summary": {"verdict", "title", "headline",
     "meaning"}, "report": <Report JSON>, "checkpoint": {"origin", "size", "root",
     "witnesses", "cosigned_by"}, "bundle": "/v1/evidence/<record id>" | null}

Uploads are held in memory for the request and never stored or written to disk; heavy
work (digests, replays) runs in the thread pool, at most :data:`HEAVY_SLOTS` verifications
and :data:`DIFF_SLOTS` diffs at a time.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

import provenance
from provenance.server.http import NO_STORE, HTTPError, read_body

if TYPE_CHECKING:
    from provenance import Ledger, Report
    from provenance.server.state import ServerState

HERE: Final = Path(__file__).resolve().parent
STATIC: Final = HERE / "static"
TEMPLATES: Final = HERE / "templates"

CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": NO_STORE,
}
HEAVY_SLOTS: Final = 4
"""Verifications of uploads computed at once per process (others wait)."""
DIFF_SLOTS: Final = 2
"""Diffs computed at once per process (each holds two decoded images)."""
PREVIEW_SIDE: Final = 960
"""Long side of the preview images ``/v1/diff`` returns (the counts are full size)."""

_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
T = TypeVar("T")

TITLES: Final = {
    "verified": "Verified",
    "tampered": "Tampered",
    "similar": "Similar",
    "unknown": "Unknown",
}
_MATCH_WORDS: Final = {
    "sha256": "This file is exactly the one that was signed",
    "content": "What a viewer shows is exactly what was signed (only metadata differs)",
}


def state(request: Request) -> ServerState:
    return request.app.state.provenance  # type: ignore[no-any-return]


# --- the page ------------------------------------------------------------------------------
@cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def _asset_version(name: str) -> str:
    """A short hash of a static file: its URL changes when it does (no stale caches)."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def _ledger_facts(ledger: Ledger) -> dict[str, Any]:
    """What the page says about the ledger; a damaged ledger still gets its page."""
    facts: dict[str, Any] = {"origin": ledger.origin, "error": None}
    try:
        info = ledger.info()
        facts.update(size=info.size, log_key_id=info.log_key_id, vkey=info.vkey)
        facts["signers"] = [
            {"name": k.name, "key_id": k.key_id, "revoked": k.revoked_at is not None}
            for k in ledger.list_keys()
        ]
    except provenance.ProvenanceError as exc:
        facts["error"] = exc.message
    return facts


def render_page(st: ServerState) -> str:
    settings = st.settings
    facts = _ledger_facts(st.ledger)
    return (
        _environment()
        .get_template("index.html")
        .render(
            ledger=facts,
            max_upload_bytes=settings.max_upload_bytes,
            max_upload_mb=f"{settings.max_upload_bytes / 1_048_576:.3g}",
            version=provenance.__version__,
            css=f"/static/page.css?v={_asset_version('page.css')}",
            js=f"/static/verify.js?v={_asset_version('verify.js')}",
        )
    )


async def page(request: Request) -> Response:
    html = await run_in_threadpool(render_page, state(request))
    return HTMLResponse(html, headers=PAGE_HEADERS)


# --- verification --------------------------------------------------------------------------
def summary(report: dict[str, Any]) -> dict[str, str]:
    """The verdict in the CLI's words, and what it means, for a person."""
    verdict = report["verdict"]
    chain = report.get("chain", [])
    edits = sum(1 for s in chain if s["type"] == "edit")
    declared = int(report.get("declared_steps") or 0)
    headline, meaning = "", ""
    if verdict == "verified":
        if declared:
            headline = f"verified, but {declared} edit(s) declared by their signers, not replayed"
        elif edits:
            headline = f"every step checked: {edits} edit(s) replayed from their parent images"
        else:
            headline = "a signed capture, no edits since"
        meaning = (
            _MATCH_WORDS.get(report.get("match") or "", "It matches a record")
            + ", and its history back to capture checks out: signatures, the log and its "
            "signed checkpoint."
        )
        if declared:
            meaning += (
                f" For {declared} edit(s) the ledger has only the signer's word for what "
                "was done; given the original, a recorded edit can be replayed below."
            )
    elif verdict == "tampered":
        failed = [c for c in report.get("checks", []) if c["status"] == "fail"]
        headline = "a record matches, but its history fails a check"
        meaning = "Do not rely on what this ledger says about the photo."
        if failed:
            first = failed[0]
            meaning = (
                f"Check {first['number']} failed ({first['name']}: {first['code']}). " + meaning
            )
    elif verdict == "similar":
        d = report.get("distances", {})
        headline = "re-encoded or resized after it was logged"
        d64, d256 = d.get("phash64", "?"), d.get("phash256", "?")
        apart = (
            "their perceptual fingerprints are identical"
            if d64 == 0 and d256 == 0
            else "their perceptual fingerprints are close"
        )
        meaning = (
            f"No record has this exact file or picture, but record #{report.get('index')} "
            f"looks the same: {apart} ({d64} of 64 bits and {d256} of 256 differ; a "
            "re-encoded or resized copy differs in a few bits, two different photographs in "
            "14 of 64 or more). What happened to the photo after that record is unknown."
        )
    else:
        headline = "no record in this ledger matches this photo"
        meaning = (
            "This ledger knows nothing about the photo: it was never signed here, or it was "
            "changed too much to be recognised (cropped or rotated, for example). Unknown "
            "does not mean fake."
        )
    return {
        "verdict": verdict,
        "title": TITLES.get(verdict, verdict),
        "headline": headline,
        "meaning": meaning,
    }


def cosigners(note: str, origin: str) -> list[str]:
    """Names on the signature lines of a served checkpoint other than the log's own (the
    cosignatures the server kept; this page does not verify them against witness keys)."""
    _, sep, sigs = note.partition("\n\n")
    names = []
    for line in sigs.splitlines() if sep else ():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] != origin:
            names.append(parts[1])
    return names


def answer(st: ServerState, report: Report, sha256: str, *, uploaded: bool) -> dict[str, Any]:
    """A verification answer (module docstring) from a report."""
    rj = report.to_json()
    for check in rj["checks"]:
        if check["number"] == 8 and check["code"] == "replay.notRequested":
            check["detail"] = "no original image given (compare one under “What changed?” below)"
    cp = rj["checkpoint"]
    cosigned: list[str] = []
    if cp.get("size") is not None:
        try:
            served = st.ledger.checkpoint_note()
        except provenance.ProvenanceError:
            served = None
        if served is not None and served.size == cp["size"]:
            cosigned = cosigners(served.note, cp.get("origin") or "")
    return {
        "query": {"sha256": sha256, "uploaded": uploaded},
        "summary": summary(rj),
        "report": rj,
        "checkpoint": {
            "origin": cp.get("origin"),
            "size": cp.get("size"),
            "root": cp.get("root"),
            "witnesses": cp.get("witnesses", []),
            "cosigned_by": cosigned,
        },
        "bundle": f"/v1/evidence/{report.record_id}" if report.record_id else None,
    }


def verify_sha256(ledger: Ledger, sha256: str) -> Report:
    """The report for a file known only by its SHA-256 (the image was not uploaded)."""
    found = ledger.lookup("sha256", bytes.fromhex(sha256), limit=6)
    if not found:
        return provenance.Report(
            verdict="unknown",
            notes=[
                "no record has this file's exact bytes; the image was not uploaded, so it "
                "was not compared by content or appearance"
            ],
        )
    best = found[0]
    ev = ledger.evidence().evidence(
        best.index, match="sha256", image=provenance.ImageDigests(sha256=sha256)
    )
    report = provenance.check_chain(ev)
    for check in report.checks:
        if check.number == 6 and check.status == "pass" and check.code == "dataHash.match":
            check.detail = (
                "the SHA-256 your browser computed equals the signed file's; the image "
                "itself was not uploaded"
            )
        elif check.number == 7 and check.status == "skip":
            check.detail = "not recomputed: the image was not uploaded (only its SHA-256 was sent)"
    for other in found[1:]:
        report.notes.append(f"also matches record {other.index} ({other.kind})")
    return report


async def _heavy(st: ServerState, fn: Callable[[], T], kind: str = "verify") -> T:
    key = f"page.slots.{kind}"
    slots = st.extra.get(key)
    if slots is None:
        slots = st.extra[key] = asyncio.Semaphore(DIFF_SLOTS if kind == "diff" else HEAVY_SLOTS)
    async with slots:
        return await run_in_threadpool(fn)


def _respond(body: dict[str, Any]) -> JSONResponse:
    status = 404 if body["report"]["verdict"] == "unknown" else 200
    return JSONResponse(body, status_code=status, headers={"Cache-Control": NO_STORE})


async def verify_get(request: Request) -> Response:
    st = state(request)
    sha256 = request.query_params.get("sha256", "")
    if _SHA256.fullmatch(sha256) is None:
        raise HTTPError(
            400, "verify.sha256", "give sha256=<64 hex digits>", hint="or POST the image"
        )
    sha256 = sha256.lower()

    def work() -> dict[str, Any]:
        return answer(st, verify_sha256(st.ledger, sha256), sha256, uploaded=False)

    return _respond(await run_in_threadpool(work))


async def _upload(request: Request, limit: int, what: str) -> bytes:
    st = state(request)
    try:
        return await read_body(request, limit, st.settings.read_timeout_s)
    except HTTPError as exc:
        if exc.status == 413:
            raise HTTPError(
                413,
                "request.tooLarge",
                f"the {what} is larger than {_mb(limit)} ({limit:,} bytes), the most this "
                "server accepts",
                hint="the limit is the server's max_upload_bytes setting",
            ) from exc
        raise


def _image_errors(exc: provenance.ProvenanceError) -> HTTPError:
    if isinstance(exc, provenance.DecompressionBombError):
        return HTTPError(413, "image.tooLarge", exc.message, exc.hint)
    if isinstance(exc, provenance.ImageError):
        return HTTPError(415, "image.unsupported", exc.message, exc.hint)
    if isinstance(exc, provenance.DiffError):
        status = 404 if exc.code == "diff.notLogged" else 422
        return HTTPError(status, exc.code, exc.message, exc.hint)
    raise exc


async def verify_post(request: Request) -> Response:
    st = state(request)
    settings = st.settings
    body = await _upload(request, settings.max_upload_bytes, "photo")

    def work() -> dict[str, Any]:
        probe = provenance.ImageProbe(body, name="upload", max_pixels=settings.max_upload_pixels)
        report, _ = st.ledger.evidence().verify_image(probe)
        return answer(st, report, probe.sha256, uploaded=True)

    try:
        result = await _heavy(st, work)
    except (provenance.ImageError, provenance.DiffError) as exc:
        raise _image_errors(exc) from exc
    return _respond(result)


async def diff(request: Request) -> Response:
    st = state(request)
    settings = st.settings
    limit = settings.max_upload_bytes
    split_text = request.query_params.get("original_bytes", "")
    if not split_text.isdigit() or len(split_text) > 12:
        raise HTTPError(
            400,
            "diff.split",
            "give original_bytes=N: the body is ORIGINAL's N bytes followed by EDITED's",
        )
    split = int(split_text)
    body = await _upload(request, 2 * limit, "pair of photos")
    if not 0 < split < len(body):
        raise HTTPError(400, "diff.split", "original_bytes must lie inside the body")
    if split > limit or len(body) - split > limit:
        raise HTTPError(
            413,
            "request.tooLarge",
            f"each photo may be at most {_mb(limit)} ({limit:,} bytes)",
        )
    original, edited = body[:split], body[split:]

    def work() -> dict[str, Any]:
        px = settings.max_upload_pixels
        o = provenance.ImageProbe(original, name="original image", max_pixels=px)
        e = provenance.ImageProbe(edited, name="edited image", max_pixels=px)
        result = provenance.diff_edit(st.ledger, o, e, max_pixels=px, preview=PREVIEW_SIDE)
        report, _ = st.ledger.evidence().verify_image(e, parent_images=[o])
        out = answer(st, report, e.sha256, uploaded=True)
        out["diff"] = result.to_json()
        out["images"] = {
            "replayed": _data_url(result.diff.replayed_png),
            "edited": _data_url(result.diff.edited_png),
            "map": _data_url(result.diff.map_png),
        }
        return out

    try:
        result = await _heavy(st, work, "diff")
    except (provenance.ImageError, provenance.DiffError) as exc:
        raise _image_errors(exc) from exc
    return JSONResponse(result, headers={"Cache-Control": NO_STORE})


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _mb(n: int) -> str:
    return f"{n / 1_048_576:.3g} MB"


# --- OpenAPI ---------------------------------------------------------------------------------
def openapi_paths() -> dict[str, Any]:
    """OpenAPI 3.0 path items of the ``/v1`` routes above (relative to ``/v1``), for the
    ledger's ``/v1/openapi.json``; errors refer to its ``provenance.error`` schema."""
    error = {"$ref": "#/components/schemas/provenance.error"}

    def js(schema: dict[str, Any], text: str) -> dict[str, Any]:
        return {"description": text, "content": {"application/json": {"schema": schema}}}

    def errors(*codes: int) -> dict[str, Any]:
        return {str(c): js(error, "Error (see error.code)") for c in codes}

    answer_schema: dict[str, Any] = {
        "type": "object",
        "required": ["query", "summary", "report", "checkpoint", "bundle"],
        "properties": {
            "query": {
                "type": "object",
                "required": ["sha256", "uploaded"],
                "properties": {"sha256": {"type": "string"}, "uploaded": {"type": "boolean"}},
            },
            "summary": {
                "type": "object",
                "required": ["verdict", "title", "headline", "meaning"],
                "properties": {
                    "verdict": {
                        "type": "string",
                        "enum": ["verified", "tampered", "similar", "unknown"],
                    }
                },
            },
            "report": {"type": "object", "description": "the verifier's report (verify --json)"},
            "checkpoint": {"type": "object"},
        },
    }
    diff_schema: dict[str, Any] = {
        "allOf": [answer_schema],
        "type": "object",
        "required": ["diff", "images"],
        "properties": {
            "diff": {
                "type": "object",
                "required": ["exact", "differing", "total", "max_delta"],
                "properties": {
                    "exact": {"type": "boolean"},
                    "differing": {"type": "integer", "minimum": 0},
                    "total": {"type": "integer", "minimum": 0},
                    "max_delta": {"type": "integer", "minimum": 0, "maximum": 255},
                },
            },
            "images": {
                "type": "object",
                "required": ["replayed", "edited", "map"],
                "description": "PNG previews as data: URLs",
            },
        },
    }
    image_body = {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
    return {
        "/verify": {
            "get": {
                "tags": ["page"],
                "summary": "Verify a file known by its SHA-256 (the page's WebCrypto digest): "
                "the image is not uploaded, so its perceptual hashes are not recomputed.",
                "operationId": "verifyBySha256",
                "parameters": [
                    {
                        "name": "sha256",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
                    }
                ],
                "responses": {
                    "200": js(answer_schema, "A report (verified, tampered)"),
                    "404": js(answer_schema, "An unknown report: no record has these bytes"),
                    **errors(400, 500),
                },
            },
            "post": {
                "tags": ["page"],
                "summary": "Verify an uploaded image (not stored): the full report.",
                "operationId": "verifyUpload",
                "requestBody": image_body,
                "responses": {
                    "200": js(answer_schema, "A report (verified, tampered, similar)"),
                    "404": js(answer_schema, "An unknown report: no record matches"),
                    **errors(408, 413, 415, 500),
                },
            },
        },
        "/diff": {
            "post": {
                "tags": ["page"],
                "summary": "Replay EDITED's recorded edit on ORIGINAL and compare pixel by "
                "pixel; the body is ORIGINAL's original_bytes bytes, then EDITED's.",
                "operationId": "diffEdit",
                "parameters": [
                    {
                        "name": "original_bytes",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 1},
                    }
                ],
                "requestBody": image_body,
                "responses": {
                    "200": js(
                        diff_schema,
                        "The comparison, and EDITED's report with ORIGINAL as its parent image",
                    ),
                    **errors(400, 404, 408, 413, 415, 422, 500),
                },
            }
        },
    }


ROUTES = [
    Route("/", page, methods=["GET"]),
    Route("/v1/verify", verify_get, methods=["GET"]),
    Route("/v1/verify", verify_post, methods=["POST"]),
    Route("/v1/diff", diff, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=str(STATIC)), name="static"),
]
