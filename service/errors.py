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

    @classmethod
    def named(cls, namespace: str) -> NamespaceNotFound:
        """The one text of a missing namespace: a namespace a key may not see gets it too."""
        return cls(f"namespace {namespace!r} does not exist")


class DocumentNotFound(NotFound):
    code = "document_not_found"


class JobNotFound(NotFound):
    code = "job_not_found"

    @classmethod
    def for_id(cls, job_id: str) -> JobNotFound:
        """The one text of a missing job: a job a key may not see gets it too."""
        return cls(f"job {job_id!r} not found")


class Unauthorized(HippographError):
    """No credentials, or credentials that are not (or no longer) valid."""

    code = "unauthorized"


class Forbidden(HippographError):
    """Valid credentials without the scope the operation needs, on something they may see."""

    code = "forbidden"


class TooManyRequests(HippographError):
    """A rate or quota limit: ``retry_after_s`` says when trying again can succeed (None: not
    by waiting alone, e.g. a namespace holding its maximum of documents)."""

    code = "too_many_requests"

    def __init__(self, detail: str, *, retry_after_s: int | None = None, code: str | None = None) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
        if code is not None:
            self.code = code


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


class LLMUnavailable(LLMError):
    """The LLM endpoint could not be reached or did not answer (connection refused, timeout,
    HTTP 5xx, 408/409/429) after the client's retries: an outage, not a fault of the prompt.
    Ingestion retries the job (like a graph store outage) instead of failing the document."""


class ExtractionFailed(HippographError):
    code = "extraction_failed"


class GraphStoreUnavailable(HippographError):
    code = "graph_store_unavailable"
