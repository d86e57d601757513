from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import ContainerDep
from service.api.schemas import EntityHit, ErrorResponse, FactHit, PassageHit, QueryRequest, QueryResponse
from service.errors import InvalidInput
from service.pipeline.answer import answer

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
    c.documents.get_namespace(namespace)
    max_top_k = c.settings.retrieval.max_top_k
    if body.top_k > max_top_k:
        raise InvalidInput(f"top_k must be between 1 and {max_top_k}")
    llm = c.require_llm() if body.answer else None
    result = c.query(namespace, body.query, top_k=body.top_k, mode=body.mode or c.default_mode)
    reply = None
    if llm is not None:
        reply = answer(llm, body.query, result.passages, c.settings.llm.max_answer_passages)
    return QueryResponse(
        mode=result.mode,
        passages=[
            PassageHit(
                document_id=p.document_id, passage_id=p.passage_id, title=p.title, text=p.text, score=p.score
            )
            for p in result.passages
        ],
        facts=[FactHit(fact_id=f.fact_id, text=f.text, score=f.score) for f in result.facts],
        entities=[EntityHit(entity_id=e.entity_id, name=e.name, weight=e.weight) for e in result.entities],
        fallback=result.fallback,
        answer=reply,
        timings_ms=result.timings_ms,
    )
