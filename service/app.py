"""``create_app(container)``: the FastAPI application. The lifespan owns the container's life:
it migrates the embedded default, starts the in-process worker, and closes everything."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi

from service import __version__
from service.api.access import authorize, check_rules, secured
from service.api.body_limit import BodyLimit
from service.api.errors import install_error_handlers
from service.api.observe import Observe
from service.api.routes import documents, health, jobs, keys, metrics, namespaces, query
from service.container import Container

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "Long-term memory for LLM applications. Documents go in; open information extraction turns "
    "passages into entities and facts in a knowledge graph; queries are answered with "
    "Personalized PageRank over that graph (HippoRAG 2)."
)


def create_app(
    container: Container, *, run_worker: bool | None = None, migrate: bool | None = None
) -> FastAPI:
    settings = container.settings
    run_worker = settings.worker.in_process if run_worker is None else run_worker
    migrate = settings.is_sqlite if migrate is None else migrate

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        background = None
        try:  # a failed migration still closes the engine and the graph store's driver
            if migrate:
                container.migrate()
            if run_worker:
                background = container.start_background_worker()
            yield
        finally:
            if background is not None:
                background.shutdown(settings.worker.shutdown_grace_s)
            container.close()

    app = FastAPI(
        title="Hippograph",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(authorize)],  # every operation: its rule in api/access.py
    )
    app.state.container = container
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.limits.max_request_bytes,
        max_import_bytes=settings.limits.max_import_bytes,
        authenticate=container.authenticator if container.authenticator.enabled else None,
    )
    app.add_middleware(Observe)  # outermost: its latency and request id cover BodyLimit too
    install_error_handlers(app)
    for module in (health, namespaces, documents, jobs, query, keys, metrics):
        app.include_router(module.router)
    check_rules(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


AUTH_RESPONSES = {
    "401": "No key, or a key that is unknown, malformed or revoked (`unauthorized`)",
    "403": "The key's scope does not allow this operation (`forbidden`)",
    "429": "Too many requests for this key (`rate_limited`, with `Retry-After`) or a namespace quota",
}


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}},
    }


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema, with the error responses we really send: FastAPI documents 422 as its
    own ``HTTPValidationError``, but every error body here is ``ErrorResponse``
    (``{"code", "detail"}``), and a request body that is not JSON gets a 400."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for operation in (op for path in schema["paths"].values() for op in path.values()):
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "Invalid input (`validation_error`, `invalid_input`)",
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                    },
                }
            if "requestBody" in operation:
                responses.setdefault("400", _error("The body is not valid JSON (`malformed_json`)"))
                # Any body over limits.max_request_bytes (api/body_limit.py), a document over
                # limits.max_document_chars: documented where it can happen, not only on imports.
                responses.setdefault(
                    "413", _error("The body or a document in it is too large (`payload_too_large`)")
                )
            if secured(operation.get("operationId", "")):
                operation["security"] = [{"bearerAuth": []}]
                for code, text in AUTH_RESPONSES.items():
                    responses.setdefault(code, _error(text))
            operation["responses"] = dict(sorted(responses.items()))
        schema["components"]["securitySchemes"] = {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key (`hgk_...`) or the admin key; needed when the service "
                "runs with HIPPOGRAPH_AUTH__ADMIN_KEY set (docs/security.md).",
            }
        }
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema
