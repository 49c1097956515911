"""``provenance serve``: the ledger as an HTTP service (DESIGN section 10).

The operator runs it on the host that holds the log key; signers submit records signed with
their own keys; readers, monitors and witnesses read checkpoints, tiles, proofs and evidence
and trust nothing but the log's verifier key. An ASGI app (Starlette on uvicorn):

* :mod:`.routes` — the API (docs/api.md);
* :mod:`.committer` — group commit: one transaction and one checkpoint for many
  submissions, each answered after the commit is durable;
* :mod:`.cosigning` — asks the configured witnesses to cosign each new checkpoint;
* :mod:`.http` — JSON errors with stable codes, bounded bodies;
* :mod:`.settings` — every limit a setting;
* :mod:`.witness_app` — a C2SP tlog-witness (:func:`witness_app` builds one from its key,
  the logs it watches and its state file).

Routes call the public library API only (no SQL here).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

import provenance
from provenance.server.background import BackgroundServer
from provenance.server.committer import GroupCommitter
from provenance.server.http import HTTPError, error_response
from provenance.server.routes import ROUTES
from provenance.server.settings import SETTINGS_ENV, ServeSettings
from provenance.server.state import ServerState, TileCache
from provenance.server.witness_app import witness_vkey

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provenance import Ledger, NoteSigner, NoteVerifier

__all__ = [
    "SETTINGS_ENV",
    "BackgroundServer",
    "ServeSettings",
    "ServerState",
    "app_from_env",
    "create_app",
    "open_ledger",
    "witness_app",
    "witness_vkey",
]


def open_ledger(settings: ServeSettings) -> Ledger:
    """The ledger with its log key unlocked (at start: a wrong passphrase fails fast)."""
    from pathlib import Path

    passphrase = provenance.log_passphrase_source(
        Path(settings.log_passphrase_file) if settings.log_passphrase_file else None
    )
    ledger = provenance.Ledger.open(
        settings.db,
        log_key=settings.log_key,
        log_passphrase=passphrase,
        busy_timeout_s=settings.busy_timeout_s,
    )
    try:
        ledger.log_signer()
    except BaseException:
        ledger.close()
        raise
    return ledger


def create_app(settings: ServeSettings, ledger: Ledger | None = None) -> Starlette:
    """The ASGI app of a ledger server (opens the ledger at start-up unless given one)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        own = ledger is None
        led = open_ledger(settings) if ledger is None else ledger
        st = ServerState(
            settings,
            led,
            namespace=_namespace(led.origin),
            tiles=TileCache(settings.tile_cache_bytes),
        )
        try:  # from here on, whatever fails to start, what started is stopped
            if settings.witnesses:
                from provenance.server.cosigning import Cosigner

                st.cosigner = Cosigner(led, settings.witnesses)
            st.committer = GroupCommitter(
                led,
                batch_max=settings.batch_max,
                batch_wait_s=settings.batch_wait_s,
                on_commit=st.cosigner.wake if st.cosigner is not None else None,
            )
            app.state.provenance = st
            yield
        finally:
            if st.committer is not None:
                st.committer.stop()
            if st.cosigner is not None:
                st.cosigner.stop()
            if own:
                led.close()

    from provenance.server.c2pa_routes import ROUTES as C2PA_ROUTES
    from provenance.server.page import ROUTES as PAGE_ROUTES

    app = Starlette(routes=[*ROUTES, *C2PA_ROUTES, *PAGE_ROUTES], lifespan=lifespan)
    app.add_exception_handler(HTTPError, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _routing_error)  # type: ignore[arg-type]
    app.add_exception_handler(provenance.ProvenanceError, _library_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal_error)
    return app


def app_from_env() -> Starlette:
    """The app factory uvicorn workers import (settings from the environment)."""
    return create_app(ServeSettings.from_env())


def witness_app(
    signer: NoteSigner,
    logs: Mapping[str, NoteVerifier],
    state: str | os.PathLike[str],
    *,
    prefix: str = "",
) -> Starlette:
    """The ASGI app of a witness: ``signer`` cosigns checkpoints of ``logs`` (origin ->
    the log's vkey), remembering the latest of each in the SQLite file ``state``.

    Raises:
        ValueError: a log key of the wrong type, the witness's own key as a log key, a
            bad prefix.
        provenance.StoreError: the state file cannot be opened.
    """
    from provenance.server.witness_app import create_witness_app
    from provenance.witness import Witness, WitnessState

    return create_witness_app(Witness(signer, logs, WitnessState(state)), prefix=prefix)


def _namespace(origin: str) -> str:
    """Reverse domain of the origin's host + ``.provenance`` (C2PA label style)."""
    host = origin.split("/", 1)[0].split(":", 1)[0].lower()
    parts = [p for p in host.split(".") if p]
    return ".".join([*reversed(parts), "provenance"]) if parts else "provenance"


async def _http_error(request: Request, exc: HTTPError) -> Response:
    return error_response(exc)


_ROUTING_CODES = {404: "route.notFound", 405: "method.notAllowed"}


async def _routing_error(request: Request, exc: StarletteHTTPException) -> Response:
    """Starlette's own refusals (no such route, wrong method) as JSON errors too."""
    code = _ROUTING_CODES.get(exc.status_code, "request.refused")
    message = {
        404: f"no such route: {request.url.path[:200]}",
        405: f"{request.method} is not allowed on {request.url.path[:200]}",
    }.get(exc.status_code, str(exc.detail))
    response = error_response(HTTPError(exc.status_code, code, message))
    if exc.headers:
        response.headers.update(exc.headers)  # Allow: on a 405
    return response


_STATUS: dict[type[provenance.ProvenanceError], tuple[int, str]] = {}


async def _library_error(request: Request, exc: provenance.ProvenanceError) -> Response:
    status, code = 500, "internal"
    if isinstance(exc, provenance.NotFoundError):
        status, code = 404, "notFound"
    elif isinstance(exc, provenance.DecompressionBombError):
        status, code = 413, "image.tooLarge"
    elif isinstance(exc, provenance.ImageError):
        status, code = 415, "image.unsupported"
    elif isinstance(exc, provenance.LogIntegrityError):
        status, code = 500, "log.integrity"
    elif isinstance(exc, provenance.StoreError):
        status, code = 503, "store.unavailable"
    elif isinstance(exc, (provenance.RecordError, provenance.CheckpointError)):
        status, code = 400, "request.malformed"
    return error_response(HTTPError(status, code, exc.message, exc.hint))


async def _internal_error(request: Request, exc: Exception) -> Response:
    import logging

    logging.getLogger("provenance.server").exception("internal error on %s", request.url.path)
    return error_response(HTTPError(500, "internal", "internal error (see the server log)"))
