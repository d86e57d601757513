"""API keys, managed by the admin key only (``Target.SERVICE_ADMIN`` in ``api/access.py``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, status

from service.api.deps import ContainerDep
from service.api.schemas import (
    ErrorResponse,
    KeyCreatedResponse,
    KeyCreateRequest,
    KeyListResponse,
    KeyResponse,
)
from service.stores.sql.keys import ApiKey

router = APIRouter(prefix="/v1/keys", tags=["keys"])
E404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}


def key_response(k: ApiKey) -> KeyResponse:
    """The key as the API shows it (``KeyResponse`` declares no secret hash, so none leaves)."""
    return KeyResponse.model_validate(k, from_attributes=True)


@router.post(
    "",
    operation_id="createKey",
    status_code=status.HTTP_201_CREATED,
    response_model=KeyCreatedResponse,
    responses={422: {"model": ErrorResponse}},
)
def create_key(body: KeyCreateRequest, c: ContainerDep) -> KeyCreatedResponse:
    """Creates a key bound to namespaces with a scope. The answer holds the key itself: store
    it now, it is never shown again."""
    made = c.keys.create(body.name, body.scope, body.namespaces, body.requests_per_minute)
    return KeyCreatedResponse(**key_response(made.key).model_dump(), key=made.token)


@router.get("", operation_id="listKeys", response_model=KeyListResponse)
def list_keys(c: ContainerDep, include_revoked: bool = False) -> KeyListResponse:
    return KeyListResponse(keys=[key_response(k) for k in c.keys.list(include_revoked=include_revoked)])


@router.get("/{key_id}", operation_id="getKey", response_model=KeyResponse, responses=E404)
def get_key(key_id: str, c: ContainerDep) -> KeyResponse:
    return key_response(c.keys.get(key_id))


@router.delete("/{key_id}", operation_id="revokeKey", response_model=KeyResponse, responses=E404)
def revoke_key(key_id: str, c: ContainerDep) -> KeyResponse:
    """Revokes the key: from the next request on it authenticates nothing (idempotent)."""
    return key_response(c.keys.revoke(key_id))
