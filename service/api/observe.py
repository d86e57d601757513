"""The API's outermost middleware (pure ASGI, so it adds no task or thread hop): gives each request
its id (``X-Request-ID``, in the response and in every log record it causes) and records its
latency under its route template (``/v1/namespaces/{namespace}/query``, never the raw path: a
path holds tenant names and is unbounded)."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_body
from service.observability.logs import incoming_request_id, request_id
from service.observability.metrics import HTTP_LATENCY

logger = logging.getLogger(__name__)
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def _method(scope: Scope) -> str:
    """The request method, or ``other``: a label must not take whatever token a client sends."""
    method = scope.get("method", "")
    return method if method in _METHODS else "other"


def _route(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class Observe:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = dict(scope.get("headers") or []).get(b"x-request-id")
        rid = incoming_request_id(header.decode("latin-1") if header else None)
        token = request_id.set(rid)
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Starlette's own error middleware sits outside this one: answer the 500 here, so
            # that its log line and its response carry the request id.
            if started:
                raise
            logger.exception("unhandled error")
            status = 500
            body = json.dumps(error_body("internal_error", "internal server error")).encode()
            await send_with_id(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
        finally:
            HTTP_LATENCY.labels(_route(scope), _method(scope), str(status)).observe(
                time.perf_counter() - started
            )
            request_id.reset(token)
