"""The one mapping from domain errors (and framework errors) to HTTP ``{"code", "detail"}`` bodies."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import get_route_path

from service import errors
from service.api.route_table import api_routes

logger = logging.getLogger(__name__)

STATUS = {
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.TooManyRequests: 429,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PayloadTooLarge: 413,
    errors.InvalidInput: 422,
    # The deployment has no LLM: asking again will not help (not a 503, which says "retry"),
    # like a top_k over the configured maximum.
    errors.LLMNotConfigured: 422,
    errors.LLMError: 502,
    errors.GraphStoreUnavailable: 503,
}


def _status_for(exc: errors.HippographError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def _describe(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 (byte {exc.start})"
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    return str(exc)[:200]


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (Starlette's own 405 names only the
    first route that matched the path, e.g. GET but not DELETE for a namespace)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in api_routes(request.app):
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


# The challenge every 401 carries (here and in api/body_limit.py, which refuses before routing).
BEARER_CHALLENGE = 'Bearer realm="hippograph"'


def error_body(code: str, detail) -> dict:
    return {"code": code, "detail": detail}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(errors.HippographError)
    async def _domain(_: Request, exc: errors.HippographError) -> JSONResponse:
        headers = {}
        if isinstance(exc, errors.Unauthorized):
            headers["WWW-Authenticate"] = BEARER_CHALLENGE
        if isinstance(exc, errors.TooManyRequests) and exc.retry_after_s is not None:
            headers["Retry-After"] = str(exc.retry_after_s)
        return JSONResponse(error_body(exc.code, exc.detail), status_code=_status_for(exc), headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        malformed = any(p["type"] == "json_invalid" for p in problems)
        return JSONResponse(
            error_body("malformed_json" if malformed else "validation_error", problems),
            status_code=400 if malformed else 422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail
        # FastAPI reports only JSONDecodeError as invalid JSON; a body that is not UTF-8, nests too
        # deep for the parser or holds an over-long integer surfaces as a bare 400 "error parsing
        # the body" raised from the parser's exception.
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            code = "malformed_json"
            detail = f"request body is not valid JSON: {_describe(exc.__cause__)}"
        headers = dict(exc.headers or {})  # e.g. Allow on a 405 (RFC 9110), which was dropped here
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
        return JSONResponse(error_body(code, detail), status_code=exc.status_code, headers=headers)

    @app.exception_handler(OperationalError)
    async def _database_unavailable(_: Request, exc: OperationalError) -> JSONResponse:
        # Lost connection, or the write lock not granted within the busy timeout.
        logger.warning("database unavailable: %s", exc.orig or exc)
        return JSONResponse(
            error_body("database_unavailable", "the database is unavailable or busy; retry shortly"),
            status_code=503,
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        # A concurrent request changed the same rows first (e.g. two creates of one namespace).
        logger.info("integrity conflict: %s", exc.orig or exc)
        return JSONResponse(
            error_body("conflict", "a concurrent request changed the same data; retry"), status_code=409
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)
