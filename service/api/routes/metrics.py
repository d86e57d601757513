"""``GET /metrics``: the API process's Prometheus metrics and the queue's state
(``service/observability/metrics.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from service.api.deps import ContainerDep
from service.observability.metrics import CONTENT_TYPE_LATEST, job_metrics, process_metrics

router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    operation_id="metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
)
def metrics(c: ContainerDep) -> Response:
    """Prometheus metrics in the text exposition format: request latency per route, query stage
    timings, jobs by status and the oldest queued job's age, documents indexed, LLM calls and
    tokens, snapshot builds (this API process's; each worker serves its own). Needs the admin
    key when keys are on, unless ``HIPPOGRAPH_METRICS__PUBLIC=true``."""
    counts, oldest = c.jobs.queue_state()
    body = process_metrics() + job_metrics(counts, oldest)
    return Response(content=body, media_type=CONTENT_TYPE_LATEST)
