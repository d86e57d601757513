"""Request bodies: no key, no reading; over the limit, 413 before the application reads them.

An ASGI middleware in front of the application:

- With keys on, a request that carries a body (POST, PUT, PATCH, DELETE) is authenticated from
  its ``Authorization`` header before one byte of the body is read: a stranger's upload costs
  no memory and no JSON parsing, it gets 401 at once. The principal is kept in the request
  state, so the access dependency (``api/access.py``) does not look the key up again.
- A declared ``Content-Length`` over the limit is refused at once; a body sent without one
  (chunked) is read here up to the limit, refused when it passes it, else handed on. OpenIE
  imports have their own, larger limit (``limits.max_import_bytes``).
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import BEARER_CHALLENGE, error_body
from service.auth.authenticate import bearer_token
from service.auth.principal import Principal
from service.errors import Unauthorized

IMPORT_SUFFIX = "/imports/openie"
WITH_BODY = {"POST", "PUT", "PATCH", "DELETE"}
Authenticate = Callable[[str | None], Principal]


class BodyLimit:
    def __init__(
        self, app: ASGIApp, *, max_bytes: int, max_import_bytes: int, authenticate: Authenticate | None = None
    ) -> None:
        self.app, self.max_bytes, self.max_import_bytes = app, max_bytes, max_import_bytes
        self.authenticate = authenticate  # None: keys are off

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if self.authenticate is not None and scope["method"] in WITH_BODY:
            try:
                raw = headers.get(b"authorization")
                token = bearer_token(raw.decode("latin-1") if raw is not None else None)
                principal = await run_in_threadpool(self.authenticate, token)
            except Unauthorized as exc:
                await _refuse(scope, receive, send, 401, exc.code, exc.detail, bearer=True)
                return
            scope.setdefault("state", {})["principal"] = principal
        limit = self.max_import_bytes if scope["path"].endswith(IMPORT_SUFFIX) else self.max_bytes
        if not limit:
            await self.app(scope, receive, send)
            return
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _refuse(scope, receive, send, 413, "payload_too_large", _detail(int(declared), limit))
            return
        if declared is not None:  # the server delivers no more than declared
            await self.app(scope, receive, send)
            return
        # No declared length (chunked): read up to the limit here, then replay it to the app.
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay(bytes(body), message), send)
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > limit:
                await _refuse(scope, receive, send, 413, "payload_too_large", _detail(len(body), limit))
                return
        data = bytes(body)
        del body  # one copy of the body in memory while the app reads it, not two
        await self.app(scope, _replay(data, None, receive), send)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, code: str, detail: str, *, bearer: bool = False
) -> None:
    headers = {"WWW-Authenticate": BEARER_CHALLENGE} if bearer else None
    await JSONResponse(error_body(code, detail), status_code=status, headers=headers)(scope, receive, send)


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
