"""Logging: text lines by default, JSON lines when ``HIPPOGRAPH_LOG_FORMAT=json``, with the ids of
what is being done in context.

``request_id`` is set by the API for each request (``X-Request-ID`` when the caller sent a sane
one, else a fresh one, echoed in the response); ``job_id`` and ``document_id`` by the worker while
it processes a job or a document. They live in context variables, which FastAPI copies into the
thread that runs a sync route, so every record a request or a job causes carries them. JSON
formatting is ``python-json-logger``'s.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from pythonjsonlogger.json import JsonFormatter

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id: ContextVar[str | None] = ContextVar("job_id", default=None)
document_id: ContextVar[str | None] = ContextVar("document_id", default=None)

_CONTEXT = {"request_id": request_id, "job_id": job_id, "document_id": document_id}
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_NOISY = ("httpx", "sentence_transformers", "neo4j", "urllib3", "filelock")


class ContextFilter(logging.Filter):
    """Adds the context ids that are set to each record (as attributes)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, var in _CONTEXT.items():
            value = var.get()
            if value is not None and not hasattr(record, name):
                setattr(record, name, value)
        return True


def setup_logging(level: str, fmt: str = "text") -> None:
    """Configure the root logger once per process (``hippograph`` commands call it first)."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def incoming_request_id(header: str | None) -> str:
    """The caller's ``X-Request-ID`` when it is a short plain token, else a new id (a header is
    user input: it never reaches a log line unchecked)."""
    if header and _SANE_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


@contextmanager
def log_context(**ids: str | None) -> Iterator[None]:
    """Set ``job_id`` / ``document_id`` / ``request_id`` for the records logged inside."""
    tokens = [(_CONTEXT[name], _CONTEXT[name].set(value)) for name, value in ids.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
