"""Request bodies over their limit get 413 before the application reads them.

An ASGI middleware: a declared ``Content-Length`` over the limit is refused at once; a body sent
without one (chunked) is read here up to the limit and refused when it passes it. OpenIE
imports have their own, larger limit (``limits.max_import_bytes``)."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_body

IMPORT_SUFFIX = "/imports/openie"


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_bytes: int, max_import_bytes: int) -> None:
        self.app, self.max_bytes, self.max_import_bytes = app, max_bytes, max_import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_import_bytes if scope["path"].endswith(IMPORT_SUFFIX) else self.max_bytes
        if not limit:
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            response = JSONResponse(
                error_body("payload_too_large", _detail(int(declared), limit)), status_code=413
            )
            await response(scope, receive, send)
            return
        # No declared length (chunked): read up to the limit here, then replay it to the app.
        # Never more than ``limit`` bytes are held, which the app would have read anyway.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(bytes(body), message), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                response = JSONResponse(
                    error_body("payload_too_large", _detail(len(body), limit)), status_code=413
                )
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(bytes(body), None, receive), send)


def _replay(body: bytes, last: Message | None, rest: Receive | None = None) -> Receive:
    """A ``receive`` that yields ``body`` as one message, then ``last`` (a disconnect seen while
    reading) or whatever ``rest`` yields."""
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if last is not None:
            return last
        assert rest is not None
        return await rest()

    return receive


def _detail(size: int, limit: int) -> str:
    return f"the request body has {size}+ bytes; the limit is {limit} (HIPPOGRAPH_LIMITS__*_BYTES)"
