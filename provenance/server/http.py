"""HTTP plumbing shared by the routes: JSON errors with stable codes, bounded bodies.

Every error leaves as ``{"error": {"code", "message", "hint"}}`` with a status the route
documents; nothing internal (a traceback, a SQL statement) ever does. Request bodies are
read with a size limit (413) and a deadline (408), so a client that sends too much, or
never finishes, costs the server nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=5"
NO_STORE = "no-store"


class HTTPError(Exception):
    """An error answer: status, stable code, message, optional hint."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint


def error_response(exc: HTTPError) -> JSONResponse:
    body: dict[str, Any] = {"code": exc.code, "message": exc.message}
    if exc.hint:
        body["hint"] = exc.hint
    return JSONResponse(
        {"error": body}, status_code=exc.status, headers={"Cache-Control": NO_STORE}
    )


async def read_body(request: Request, limit: int, timeout: float) -> bytes:
    """The request body, at most ``limit`` bytes, arriving within ``timeout`` seconds.

    Raises:
        HTTPError: 413 (too large), 408 (too slow).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, "request.tooLarge", f"the body is larger than {limit:,} bytes")

    async def gather() -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, "request.tooLarge", f"the body is larger than {limit:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    try:
        return await asyncio.wait_for(gather(), timeout)
    except TimeoutError as exc:
        raise HTTPError(
            408, "request.timeout", f"the body did not arrive within {timeout:g} s"
        ) from exc


def binary(data: bytes, cache: str, media_type: str = "application/octet-stream") -> Response:
    return Response(data, media_type=media_type, headers={"Cache-Control": cache})


def text(data: str, cache: str = NO_STORE) -> Response:
    return Response(data, media_type="text/plain; charset=utf-8", headers={"Cache-Control": cache})
