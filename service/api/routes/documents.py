from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from service.api.deps import ContainerDep
from service.api.schemas import (
    MAX_OFFSET,
    NOT_BLANK_PATTERN,
    DocumentListResponse,
    DocumentResponse,
    DocumentsCreateRequest,
    ErrorResponse,
    JobAcceptedResponse,
)
from service.domain.records import Document, DocumentStatus
from service.pipeline.documents import NewDocument

router = APIRouter(prefix="/v1/namespaces/{namespace}", tags=["documents"])
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse},
    409: {"model": ErrorResponse},
    422: {"model": ErrorResponse},
}


def _document(d: Document) -> DocumentResponse:
    return DocumentResponse.model_validate(d, from_attributes=True)


@router.post(
    "/documents",
    operation_id="addDocuments",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAcceptedResponse,
    responses=ERRORS,
)
def add_documents(namespace: str, body: DocumentsCreateRequest, c: ContainerDep) -> JobAcceptedResponse:
    """Stores the documents and queues one ingestion job, in one transaction. Poll the job.
    Identical content is recognised: re-posting it creates nothing and returns the same ids."""
    sub = c.submit_documents(
        namespace,
        [NewDocument(text=d.text, id=d.id, title=d.title, metadata=d.metadata) for d in body.documents],
    )
    return JobAcceptedResponse(job_id=sub.job_id, document_ids=sub.document_ids)


OPENIE_FILE_SCHEMA = {
    "type": "object",
    "required": ["docs"],
    "description": "A HippoRAG OpenIE results file (openie_*_results_ner_*.json).",
    "properties": {
        "docs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                # extraction/hipporag_import.py: a passage is its non-blank 'text', else its
                # non-blank 'passage' (HippoRAG 1 writes "title\ntext" there). The reader is
                # lenient with the rest, as HippoRAG's files need: items of the lists that are not
                # what they should be are ignored (malformed triples are counted), never refused.
                "anyOf": [
                    {
                        "required": ["text"],
                        "properties": {"text": {"type": "string", "pattern": NOT_BLANK_PATTERN}},
                    },
                    {
                        "required": ["passage"],
                        "properties": {"passage": {"type": "string", "pattern": NOT_BLANK_PATTERN}},
                    },
                ],
                "properties": {
                    "title": {"type": ["string", "null"]},
                    "text": {"description": "The passage's text (without its title)."},
                    "passage": {"description": "Read when 'text' is not a non-blank string."},
                    "extracted_entities": {
                        "type": ["array", "null"],
                        "description": "Entity names (strings; other items are ignored).",
                    },
                    "extracted_triples": {
                        "type": ["array", "null"],
                        "description": "[subject, relation, object] strings; other items are dropped.",
                    },
                },
            },
        }
    },
    "example": {
        "docs": [
            {
                "title": "Warsaw",
                "text": "Warsaw is the capital of Poland.",
                "extracted_entities": ["Warsaw", "Poland"],
                "extracted_triples": [["Warsaw", "is capital of", "Poland"]],
            }
        ]
    },
}


@router.post(
    "/imports/openie",
    operation_id="importOpenIE",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAcceptedResponse,
    responses={**ERRORS, 413: {"model": ErrorResponse}},
    openapi_extra={
        "requestBody": {"required": True, "content": {"application/json": {"schema": OPENIE_FILE_SCHEMA}}}
    },
)
async def import_openie(namespace: str, request: Request, c: ContainerDep) -> JobAcceptedResponse:
    """Imports precomputed OpenIE in HippoRAG's file format: one document per passage, with the
    file's entities and triples instead of running an extractor."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        c.import_openie.check_size(int(declared))  # before reading a body that is too large
    sub = c.import_openie(namespace, await request.body()).submission
    return JobAcceptedResponse(job_id=sub.job_id, document_ids=sub.document_ids)


@router.get(
    "/documents",
    operation_id="listDocuments",
    response_model=DocumentListResponse,
    responses={404: {"model": ErrorResponse}},
)
def list_documents(
    namespace: str,
    c: ContainerDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    status_: Annotated[DocumentStatus | None, Query(alias="status")] = None,
) -> DocumentListResponse:
    docs, total = c.documents.list(namespace, limit=limit, offset=offset, status=status_)
    return DocumentListResponse(
        documents=[_document(d) for d in docs], total=total, limit=limit, offset=offset
    )


@router.get(
    "/documents/{document_id:path}",
    operation_id="getDocument",
    response_model=DocumentResponse,
    responses={404: {"model": ErrorResponse}},
)
def get_document(namespace: str, document_id: str, c: ContainerDep) -> DocumentResponse:
    return _document(c.documents.get(namespace, document_id))


@router.delete(
    "/documents/{document_id:path}",
    operation_id="deleteDocument",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"model": ErrorResponse}, 409: {"model": ErrorResponse}},
)
def remove_document(namespace: str, document_id: str, c: ContainerDep) -> Response:
    """Removes the document, its passages and everything only they support (facts, entities,
    synonym edges, vectors)."""
    c.delete_document(namespace, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
