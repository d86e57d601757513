from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from service.api.deps import ContainerDep
from service.api.schemas import HealthResponse, ReadyResponse
from service.stores.sql.db import reader

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="health", response_model=HealthResponse)
def health() -> HealthResponse:
    """Liveness: the process answers."""
    return HealthResponse(status="ok")


@router.get(
    "/readyz", operation_id="ready", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}}
)
def ready(c: ContainerDep):
    """Readiness: the relational store and the graph store answer."""
    from fastapi.responses import JSONResponse

    checks: dict[str, str] = {}
    try:
        with reader(c.engine) as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        c.graph.graph_version("__readyz__")
        checks["graph"] = "ok"
    except Exception as exc:
        checks["graph"] = f"error: {exc.__class__.__name__}"
    ok = all(v == "ok" for v in checks.values())
    body = ReadyResponse(status="ready" if ok else "not_ready", checks=checks)
    return body if ok else JSONResponse(body.model_dump(), status_code=503)
