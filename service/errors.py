"""Domain errors. Each carries a stable machine-readable ``code``; the HTTP edge maps them once."""

from __future__ import annotations


class HippographError(Exception):
    """Base of every error the service raises on purpose."""

    code = "internal_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotFound(HippographError):
    code = "not_found"


class NamespaceNotFound(NotFound):
    code = "namespace_not_found"


class DocumentNotFound(NotFound):
    code = "document_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"


class Conflict(HippographError):
    code = "conflict"


class InvalidInput(HippographError):
    code = "invalid_input"


class PayloadTooLarge(InvalidInput):
    code = "payload_too_large"


class LLMNotConfigured(HippographError):
    code = "llm_not_configured"

    @classmethod
    def for_request(cls) -> LLMNotConfigured:
        return cls(
            "this request needs an LLM, and none is configured (set HIPPOGRAPH_LLM__BASE_URL "
            "and HIPPOGRAPH_LLM__MODEL)"
        )


class LLMError(HippographError):
    """The LLM endpoint failed, timed out, or returned output we could not validate."""

    code = "llm_error"


class ExtractionFailed(HippographError):
    code = "extraction_failed"


class GraphStoreUnavailable(HippographError):
    code = "graph_store_unavailable"
