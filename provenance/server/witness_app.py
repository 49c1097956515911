"""The ASGI app of a C2SP tlog-witness (Starlette): :func:`create_witness_app`.

Routes, under an optional ``prefix`` (the witness's submission and monitoring prefix):

* ``POST <prefix>/add-checkpoint`` — c2sp.org/tlog-witness: the body is ``old <size>``,
  consistency proof lines, an empty line and a signed checkpoint; 200 answers the
  cosignature line(s). Refusals (:mod:`provenance.witness`) answer their status with a
  one-line ``text/plain`` message, except a stale old size: 409 with
  ``Content-Type: text/x.tlog.size`` and ``<size>\\n``. A body over ``max_body`` bytes
  (16 KiB by default) is a 413, one that does not arrive within ``body_timeout_s`` a 408.
* ``GET <prefix>/checkpoint?origin=<origin>`` — read-back (not in the spec): the latest
  checkpoint this witness cosigned for a configured log, with the log's verified
  signature and the witness's cosignature, ``text/plain``; 404 if none, 400 without an
  origin.

Every answer is ``text/plain`` (or ``text/x.tlog.size``) with ``Cache-Control: no-store``;
a failure of the state (disk, lock timeout) is a 500 with a fixed message and is logged
here, and any other exception reaches Starlette's error middleware, which answers a plain
500 (never a traceback: the app is not in debug mode). The witness itself runs in a worker
thread (its SQLite commit waits for the disk).

:func:`witness_vkey` gives the verifier key a witness publishes (cosignature/v1, 0x04).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from provenance.checkpoint import SIG_COSIGNATURE_V1, NoteVerifier
from provenance.keys import PublicKey, SigningKey
from provenance.witness import (
    SIZE_CONTENT_TYPE,
    Witness,
    WitnessRefusal,
    WitnessStateError,
)

__all__ = ["create_witness_app", "witness_vkey"]

_log = logging.getLogger("provenance.witness")
_TEXT = "text/plain; charset=utf-8"
_NO_STORE = {"Cache-Control": "no-store"}


def witness_vkey(name: str, key: SigningKey | PublicKey) -> str:
    """The C2SP verifier key of a witness: ``name+keyid+base64(0x04 || public key)``."""
    public = key.public if isinstance(key, SigningKey) else key
    return NoteVerifier(name, public, SIG_COSIGNATURE_V1).vkey()


def create_witness_app(
    witness: Witness,
    *,
    prefix: str = "",
    body_timeout_s: float = 10.0,
    clock: Callable[[], float] = time.time,
) -> Starlette:
    """Return the ASGI app serving ``witness`` (module docstring).

    Args:
        witness: the witness (its ``max_body`` is the request size limit).
        prefix: a path prefix such as ``/witness`` (empty, or ``/`` then no trailing ``/``).
        body_timeout_s: how long a request body may take to arrive.
        clock: seconds since the epoch, for cosignature timestamps.
    """
    if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
        raise ValueError("prefix must be empty or start with '/' and not end with '/'")
    limit = witness.max_body

    async def add_checkpoint(request: Request) -> Response:
        body = await _read_body(request, limit, body_timeout_s)
        if isinstance(body, Response):
            return body
        now = int(clock())
        try:
            lines = await run_in_threadpool(witness.add_checkpoint, body, now)
        except WitnessRefusal as refusal:
            return _refusal(refusal)
        except WitnessStateError:
            _log.exception("witness state failure")
            return _text("internal error: the witness state is unavailable\n", 500)
        return _text(lines.decode("utf-8"), 200)

    async def latest(request: Request) -> Response:
        origin = request.query_params.get("origin")
        if not origin:
            return _text("missing ?origin=\n", 400)
        if not witness.knows(origin):
            return _text("unknown log\n", 404)
        try:
            record = await run_in_threadpool(witness.latest, origin)
        except WitnessStateError:
            _log.exception("witness state failure")
            return _text("internal error: the witness state is unavailable\n", 500)
        if record is None:
            return _text("no checkpoint cosigned for this log yet\n", 404)
        return _text(record.note, 200)

    routes = [
        Route(f"{prefix}/add-checkpoint", add_checkpoint, methods=["POST"]),
        Route(f"{prefix}/checkpoint", latest, methods=["GET"]),
    ]
    return Starlette(routes=routes, debug=False)


async def _read_body(request: Request, limit: int, timeout: float) -> bytes | Response:
    """The body, or the 413/408/400 answer: at most ``limit`` bytes within ``timeout`` s."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not (declared.isascii() and declared.isdigit()):
            return _text("malformed Content-Length\n", 400)
        if int(declared) > limit:
            return _text(f"request body larger than {limit} bytes\n", 413)

    async def gather() -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        body = await asyncio.wait_for(gather(), timeout)
    except TimeoutError:
        return _text(f"request body did not arrive within {timeout:g} s\n", 408)
    if body is None:
        return _text(f"request body larger than {limit} bytes\n", 413)
    return body


def _refusal(refusal: WitnessRefusal) -> Response:
    if refusal.status == 409 and refusal.size is not None:
        headers = {"Content-Type": SIZE_CONTENT_TYPE, **_NO_STORE}
        return Response(f"{refusal.size}\n", status_code=409, headers=headers)
    return _text(_one_line(refusal.message) + "\n", refusal.status)


def _text(body: str, status: int) -> Response:
    return Response(body, status_code=status, media_type=_TEXT, headers=_NO_STORE)


def _one_line(message: str, limit: int = 300) -> str:
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[:limit] + "..."
