from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from service.api.access import PrincipalDep
from service.api.deps import ContainerDep
from service.api.schemas import (
    MAX_OFFSET,
    DocumentError,
    ErrorResponse,
    JobListResponse,
    JobProgress,
    JobResponse,
)
from service.domain.records import Job, JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


def job_response(j: Job) -> JobResponse:
    return JobResponse(
        id=j.id,
        namespace=j.namespace,
        kind=j.kind,
        status=j.status,
        progress=JobProgress(done=j.done, total=j.total, failed=len(j.errors)),
        errors=[DocumentError(**asdict(e)) for e in j.errors],
        attempts=j.attempts,
        cancel_requested=j.cancel_requested,
        last_error=j.last_error,
        created_at=j.created_at,
        started_at=j.started_at,
        finished_at=j.finished_at,
    )


@router.get("", operation_id="listJobs", response_model=JobListResponse)
def list_jobs(
    c: ContainerDep,
    principal: PrincipalDep,
    namespace: str | None = None,
    status: JobStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> JobListResponse:
    """Jobs newest first: only those of namespaces the key may see."""
    jobs, total = c.jobs.list(
        namespace=namespace, status=status, limit=limit, offset=offset, within=principal.namespaces
    )
    return JobListResponse(jobs=[job_response(j) for j in jobs], total=total, limit=limit, offset=offset)


@router.get(
    "/{job_id}", operation_id="getJob", response_model=JobResponse, responses={404: {"model": ErrorResponse}}
)
def get_job(job_id: str, c: ContainerDep) -> JobResponse:
    return job_response(c.jobs.get(job_id))


@router.post(
    "/{job_id}/cancel",
    operation_id="cancelJob",
    response_model=JobResponse,
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)
def cancel_job(job_id: str, c: ContainerDep) -> JobResponse:
    """A queued job is cancelled at once; a running one stops before its next graph write."""
    return job_response(c.jobs.cancel(job_id))
