from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ContainerDep
from service.api.schemas import EntityHit, ErrorResponse, FactHit, PassageHit, QueryRequest, QueryResponse

router = APIRouter(prefix="/v1/namespaces/{namespace}", tags=["query"])


@router.post(
    "/query",
    operation_id="query",
    response_model=QueryResponse,
    responses={
        404: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        502: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
)
def run_query(namespace: str, body: QueryRequest, c: ContainerDep) -> QueryResponse:
    """Ranks the namespace's passages for the query; optionally answers it with the reader LLM."""
    result = c.query(namespace, body.query, top_k=body.top_k, mode=body.mode, answer=body.answer)
    return QueryResponse(
        mode=result.mode,
        passages=[PassageHit.model_validate(p, from_attributes=True) for p in result.passages],
        facts=[FactHit.model_validate(f, from_attributes=True) for f in result.facts],
        entities=[EntityHit.model_validate(e, from_attributes=True) for e in result.entities],
        fallback=result.fallback,
        answer=result.answer,
        timings_ms=result.timings_ms,
    )
