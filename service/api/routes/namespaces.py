from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from service.api.access import PrincipalDep
from service.api.deps import ContainerDep
from service.api.schemas import (
    ErrorResponse,
    NamespaceCreateRequest,
    NamespaceListResponse,
    NamespaceResponse,
    StatsResponse,
)
from service.auth.principal import Scope
from service.errors import Forbidden

router = APIRouter(prefix="/v1/namespaces", tags=["namespaces"])
E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


@router.post(
    "",
    operation_id="createNamespace",
    status_code=status.HTTP_201_CREATED,
    response_model=NamespaceResponse,
    responses={409: {"model": ErrorResponse}, 422: {"model": ErrorResponse}},
)
def create_namespace(
    body: NamespaceCreateRequest, c: ContainerDep, principal: PrincipalDep
) -> NamespaceResponse:
    """Needs the admin key, or a key with scope ``admin`` bound to this name (403 otherwise,
    whether or not the namespace exists)."""
    if not principal.sees(body.name):
        raise Forbidden(f"this key may not create namespace {body.name!r}")
    principal.require(Scope.ADMIN, body.name)
    return NamespaceResponse.model_validate(c.documents.create_namespace(body.name), from_attributes=True)


@router.get("", operation_id="listNamespaces", response_model=NamespaceListResponse)
def list_namespaces(c: ContainerDep, principal: PrincipalDep) -> NamespaceListResponse:
    """The namespaces the key may see."""
    return NamespaceListResponse(
        namespaces=[
            NamespaceResponse.model_validate(n, from_attributes=True)
            for n in c.documents.list_namespaces()
            if principal.sees(n.name)
        ]
    )


@router.get("/{namespace}", operation_id="getNamespace", response_model=NamespaceResponse, responses=E404)
def get_namespace(namespace: str, c: ContainerDep) -> NamespaceResponse:
    return NamespaceResponse.model_validate(c.documents.get_namespace(namespace), from_attributes=True)


@router.delete(
    "/{namespace}",
    operation_id="deleteNamespace",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**E404, 409: {"model": ErrorResponse}},
)
def remove_namespace(namespace: str, c: ContainerDep) -> Response:
    """Deletes the namespace with its documents, jobs, graph and vectors. Queued jobs are
    cancelled; while one of its jobs is running the answer is 409 and that job is asked to
    cancel: delete again once it has stopped."""
    c.delete_namespace(namespace)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/{namespace}/stats", operation_id="getNamespaceStats", response_model=StatsResponse, responses=E404
)
def stats(namespace: str, c: ContainerDep) -> StatsResponse:
    return StatsResponse.model_validate(c.stats(namespace), from_attributes=True)
