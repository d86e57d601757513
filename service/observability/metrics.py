"""The service's Prometheus metrics (``prometheus-client``), one definition each.

Process-wide metrics live in the client's default registry, so each process — ``hippograph
serve`` (with or without its in-process worker), each ``hippograph worker`` — reports what *it*
did; Prometheus sums across processes. What the database knows for everyone (jobs by status,
the age of the oldest queued job) is read at scrape time by the API alone
(``job_metrics``), so N workers do not report it N times.

Labels are bounded: route templates (never raw paths), query modes and stages, prompt versions,
job and document outcomes. No namespace names, document ids or texts: a scrape reveals nothing a
tenant wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)

__all__ = ["CONTENT_TYPE_LATEST"]

# Query stages are tens of milliseconds; HTTP requests include uploads and answers (seconds).
_FAST = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_LATENCY = Histogram(
    "hippograph_http_request_duration_seconds",
    "Time to answer an API request, by route template, method and status code.",
    ["route", "method", "status"],
    buckets=_SLOW,
)
QUERY_STAGE = Histogram(
    "hippograph_query_stage_seconds",
    "Time spent in each stage of a query (the laps of its timings_ms), by mode.",
    ["mode", "stage"],
    buckets=_FAST,
)
QUERIES = Counter("hippograph_queries_total", "Queries answered, by mode.", ["mode"])
DOCUMENTS = Counter(
    "hippograph_documents_total",
    "Documents settled by this process's workers, by outcome (indexed, failed, deleted: a delete "
    "that won over its pending ingestion). rate() of it is documents per second.",
    ["outcome"],
)
INGEST_GROUP = Histogram(
    "hippograph_ingest_group_seconds",
    "Time to extract, embed and write one group of documents.",
    buckets=_SLOW,
)
LLM_REQUESTS = Counter(
    "hippograph_llm_requests_total",
    "LLM chat-completion calls, by prompt version and outcome (ok, error, unavailable; cache "
    "hits are counted as outcome=cached and made no call).",
    ["prompt", "outcome"],
)
LLM_TOKENS = Counter(
    "hippograph_llm_tokens_total",
    "Tokens the LLM endpoint reported using, by prompt version and kind (prompt, completion).",
    ["prompt", "kind"],
)
SNAPSHOT_BUILDS = Counter(
    "hippograph_snapshot_builds_total",
    "Query snapshots built: kind=full (read from the graph store) or extend (a write appended).",
    ["kind"],
)
SNAPSHOT_SECONDS = Histogram(
    "hippograph_snapshot_build_seconds",
    "Time to build a query snapshot, by kind (full, extend).",
    ["kind"],
    buckets=_SLOW,
)


def observe_query(mode: str, laps_ms: Mapping[str, float]) -> None:
    """Record one answered query and its stage laps (milliseconds, as ``timings_ms``)."""
    QUERIES.labels(mode).inc()
    for stage, ms in laps_ms.items():
        if stage != "total":
            QUERY_STAGE.labels(mode, stage).observe(ms / 1000.0)


def job_metrics(counts: Mapping[str, int], oldest_queued_age_s: float | None) -> bytes:
    """The exposition text of the queue's state, read from the database at scrape time."""
    registry = CollectorRegistry()
    jobs = Gauge("hippograph_jobs", "Jobs in the queue, by status.", ["status"], registry=registry)
    for status, n in counts.items():
        jobs.labels(status).set(n)
    age = Gauge(
        "hippograph_job_queue_oldest_age_seconds",
        "How long the oldest job ready to run has waited (0 when none waits).",
        registry=registry,
    )
    age.set(oldest_queued_age_s or 0.0)
    return generate_latest(registry)


def process_metrics() -> bytes:
    """This process's metrics (the default registry: the ones above, plus the client's
    process_* and python_* collectors)."""
    return generate_latest(REGISTRY)


_served: dict[int, object] = {}
_serve_lock = threading.Lock()


def serve_process_metrics(port: int, host: str = "0.0.0.0") -> None:
    """Serve this process's metrics at ``http://host:port/metrics`` from a daemon thread (a
    ``hippograph worker``). Idempotent per port."""
    with _serve_lock:
        if port not in _served:
            _served[port] = start_http_server(port, addr=host)
