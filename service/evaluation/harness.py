"""``hippograph eval``: ingest a HippoRAG-format dataset and measure retrieval (and QA) per mode.

Everything goes through the service's own use cases, configured by the service's own settings:
the corpus is submitted with ``SubmitDocuments`` (or ``ImportOpenIE`` with ``--openie``) and
indexed by the job ``Worker``; every question goes to the ``Query`` use case (which, when an
LLM is configured, also asks the reader for the answer). There are no evaluation-only retrieval
parameters.

Per mode the report gives Recall@1/2/5/10/20 (percent, averaged over the questions that have
gold passages), EM and F1 (percent; null without an LLM) and the p50/p95 wall time of the
``query`` call (query embedding included). Latency excludes the one-off building of the
snapshot and BM25 index after ingestion: one untimed warm-up query runs per mode first.

Without ``HIPPOGRAPH_DATA_DIR`` or ``HIPPOGRAPH_DATABASE__URL`` the CLI keeps its database in
``<out>/data`` so that an evaluation never writes into the service's own database. The
evaluation namespace (``eval-<dataset>-<hash of the inputs>``) is deleted and rebuilt each run.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.container import Container
from service.domain import ids
from service.domain.records import JobStatus, QueryMode
from service.errors import HippographError, InvalidInput, LLMError, NamespaceNotFound
from service.evaluation.datasets import Dataset, PassageKey, load_dataset, passage_key
from service.evaluation.metrics import exact_match, percentile, recall_at_k, token_f1
from service.evaluation.report import RECALL_KS, ModeResult, Report, summary_table, write_report
from service.jobs.drain import drain_showing
from service.pipeline.query import QueryResult
from service.progress import Progress
from service.settings import Settings

logger = logging.getLogger(__name__)

MODES = (QueryMode.DENSE, QueryMode.BM25, QueryMode.GRAPH)
TOP_K = 20


# ---------------------------------------------------------------------------------------- ingest


def eval_namespace(dataset: Dataset, openie_bytes: bytes | None) -> str:
    """``eval-<dataset>-<8 hex>``: stable for the same corpus and OpenIE file."""
    h = hashlib.sha256()
    for p in dataset.corpus:
        h.update(p.title.encode() + b"\x1f" + p.text.encode() + b"\x1e")
    h.update(b"openie:" + (hashlib.sha256(openie_bytes).digest() if openie_bytes else b"-"))
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset.name).strip("-.") or "dataset"
    return f"eval-{slug[:44]}-{h.hexdigest()[:8]}"


def _fresh_namespace(c: Container, namespace: str) -> None:
    try:
        c.delete_namespace(namespace)
        logger.info("deleted the previous evaluation namespace %s", namespace)
    except NamespaceNotFound:
        pass
    c.documents.create_namespace(namespace)


def _drain(c: Container, job_id: str, total: int, progress: bool) -> None:
    """Run the worker until the queue is empty, showing the job's progress."""
    bar = Progress(total, "ingest", "doc", enabled=progress)
    job = drain_showing(c.worker(), c.jobs, job_id, bar)
    if job.status != JobStatus.SUCCEEDED:
        raise RuntimeError(f"ingestion job {job_id} ended {job.status}: {job.last_error or job.errors[:3]}")


def ingest_dataset(
    c: Container, dataset: Dataset, namespace: str, openie_path: Path | None, *, progress: bool
) -> tuple[dict[str, Any], dict[str, PassageKey]]:
    """Index the corpus (or the OpenIE file's passages) into ``namespace`` through the job queue.

    Returns the ingestion summary and, for every submitted document id, its passage key."""
    from service.pipeline.documents import NewDocument

    started = time.perf_counter()
    _fresh_namespace(c, namespace)
    doc_keys: dict[str, PassageKey] = {}
    summary: dict[str, Any] = {}
    if openie_path is not None:
        imported = c.import_openie(namespace, openie_path.read_bytes())
        for title, text in imported.passages:
            doc_keys.setdefault(ids.document_id(namespace, title, text), passage_key(title, text))
        sub = imported.submission
        summary["extractor"] = f"imported:{openie_path.name}"
        summary["dropped_triples"] = imported.dropped_triples
    else:
        docs: list[NewDocument] = []
        for p in dataset.corpus:
            doc_id = ids.document_id(namespace, p.title or None, p.text)
            if doc_id in doc_keys:  # equal up to case/Unicode normalization: one document
                continue
            doc_keys[doc_id] = p.key
            docs.append(NewDocument(text=p.text, title=p.title or None, metadata={"source": "eval"}))
        sub = c.submit_documents(namespace, docs, bulk=True)
        summary["extractor"] = c.extractor_name
    not_indexed = len({p.key for p in dataset.corpus} - set(doc_keys.values()))
    if not_indexed:
        logger.warning("%d corpus passage(s) are not among the indexed documents", not_indexed)
    _drain(c, sub.job_id, len(sub.document_ids), progress)
    stats = c.stats(namespace)
    summary.update(
        {
            "documents": len(sub.document_ids),
            "passages": stats.passages,
            "entities": stats.entities,
            "facts": stats.facts,
            "synonym_edges": stats.synonym_edges,
            "corpus_passages_not_indexed": not_indexed,
            "seconds": round(time.perf_counter() - started, 1),
        }
    )
    return summary, doc_keys


# ---------------------------------------------------------------------------------------- query


def _ask(c: Container, namespace: str, text: str, mode: QueryMode, answer: bool) -> tuple[QueryResult, bool]:
    """The ``Query`` use case, as the API calls it; when the reader fails the question still
    counts for recall (ranked again without the answer) and the failure is reported."""
    try:
        return c.query(namespace, text, top_k=TOP_K, mode=mode, answer=answer), False
    except LLMError as exc:
        logger.warning("reader failed on %r: %s", text[:80], exc.detail)
        return c.query(namespace, text, top_k=TOP_K, mode=mode), True


def evaluate_mode(
    c: Container,
    dataset: Dataset,
    namespace: str,
    mode: QueryMode,
    doc_keys: dict[str, PassageKey],
    *,
    progress: bool,
    per_question: list[dict[str, Any]] | None = None,
) -> ModeResult:
    reading = c.llm is not None
    if dataset.questions:  # builds the snapshot / BM25 index outside the timed loop
        c.query(namespace, dataset.questions[0].question, top_k=TOP_K, mode=mode)
    recall_sums = dict.fromkeys(RECALL_KS, 0.0)
    with_gold = 0
    latencies: list[float] = []
    ems: list[float] = []
    f1s: list[float] = []
    fallbacks = llm_errors = 0
    bar = Progress(len(dataset.questions), str(mode), "q", enabled=progress)
    for q in dataset.questions:
        t0 = time.perf_counter()
        result, reader_failed = _ask(c, namespace, q.question, mode, reading)
        latencies.append((time.perf_counter() - t0) * 1000 - result.timings_ms.get("answer", 0.0))
        bar.advance()
        fallbacks += result.fallback is not None
        ranked = [doc_keys.get(p.document_id) or passage_key(p.title, p.text) for p in result.passages]
        row: dict[str, Any] = {"id": q.id, "mode": mode, "gold": len(q.gold)}
        if q.gold:
            with_gold += 1
            row["recall"] = {str(k): recall_at_k(q.gold, ranked, k) for k in RECALL_KS}
            for k in RECALL_KS:
                recall_sums[k] += row["recall"][str(k)]
        row["retrieved"] = [key[0] for key in ranked[:10]]
        row["gold_ranks"] = [ranked.index(g) + 1 if g in ranked else None for g in q.gold]
        if reading:
            llm_errors += reader_failed
            prediction = result.answer or ""
            ems.append(exact_match(prediction, q.answers))
            f1s.append(token_f1(prediction, q.answers))
            row.update(prediction=prediction, em=ems[-1], f1=f1s[-1])
        if per_question is not None:
            per_question.append(row)
    bar.close()

    def pct(total: float, n: int) -> float:
        return round(100 * total / n, 2) if n else 0.0

    return ModeResult(
        recall={k: pct(recall_sums[k], with_gold) for k in RECALL_KS},
        em=pct(sum(ems), len(ems)) if reading else None,
        f1=pct(sum(f1s), len(f1s)) if reading else None,
        latency_p50_ms=round(percentile(latencies, 50), 2) if latencies else 0.0,
        latency_p95_ms=round(percentile(latencies, 95), 2) if latencies else 0.0,
        fallbacks=fallbacks,
        llm_errors=llm_errors,
    )


def _config(c: Container) -> dict[str, Any]:
    s = c.settings
    return {
        "top_k": TOP_K,
        "graph_backend": s.graph.backend,
        "database": s.database_url.split(":", 1)[0],
        "embedding_model": c.embedder.name,
        "retrieval": s.retrieval.model_dump(),
        "extraction": s.extraction.model_dump(),
        "llm": (
            {"model": s.llm.model, "max_answer_passages": s.llm.max_answer_passages}
            if c.llm is not None
            else None
        ),
        "latency": "wall time of the Query use case (query embedding included, the reader's answer "
        "excluded), after one untimed warm-up query per mode",
    }


def evaluate(
    c: Container,
    dataset: Dataset,
    modes: Sequence[QueryMode | str],
    openie_path: str | Path | None = None,
    *,
    progress: bool = False,
    command: str | None = None,
) -> Report:
    """Ingest ``dataset`` into a fresh namespace and score every question in every mode."""
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise InvalidInput(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
    chosen = [QueryMode(m) for m in modes]
    openie = Path(openie_path) if openie_path is not None else None
    namespace = eval_namespace(dataset, openie.read_bytes() if openie is not None else None)
    ingest, doc_keys = ingest_dataset(c, dataset, namespace, openie, progress=progress)
    ingest["corpus_dropped"] = dataset.corpus_dropped
    ingest["gold_missing_from_corpus"] = dataset.gold_missing_from_corpus
    report = Report(
        dataset=dataset.name,
        questions=len(dataset.questions),
        results={},
        namespace=namespace,
        config=_config(c),
        ingest=ingest,
        command=command,
    )
    query_started = time.perf_counter()
    for mode in chosen:
        report.results[mode] = evaluate_mode(
            c, dataset, namespace, mode, doc_keys, progress=progress, per_question=report.per_question
        )
    report.ingest["query_seconds"] = round(time.perf_counter() - query_started, 1)
    return report


# ---------------------------------------------------------------------------------------- CLI


def _command_line(args: argparse.Namespace, modes: list[str], out: Path) -> str:
    parts = ["hippograph", "eval", str(args.dataset_dir)]
    if args.openie:
        parts += ["--openie", str(args.openie)]
    parts += ["--modes", ",".join(modes), "--out", str(out)]
    if args.limit is not None:
        parts += ["--limit", str(args.limit)]
    return shlex.join(parts)


def eval_settings(settings: Settings, out: Path) -> Settings:
    """The service's settings, with the database moved under ``<out>/data`` unless a data dir
    or database URL was given explicitly."""
    if "data_dir" in settings.model_fields_set or settings.database.url:
        return settings
    return settings.model_copy(update={"data_dir": out / "data"})


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    modes = [m.strip() for m in str(args.modes).split(",") if m.strip()]
    try:
        dataset = load_dataset(args.dataset_dir, limit=args.limit)
    except InvalidInput as exc:
        logger.error("%s", exc.detail)
        return 2
    out = Path(args.out) if args.out else Path("eval-out") / dataset.name
    settings = eval_settings(settings, out)
    if settings.is_sqlite:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    c = Container.from_settings(settings)
    try:
        c.migrate()
        report = evaluate(
            c,
            dataset,
            modes,
            args.openie,
            progress=True,
            command=_command_line(args, modes, out),
        )
    except HippographError as exc:
        logger.error("%s", exc.detail)
        return 2
    finally:
        c.close()
    write_report(report, out)
    sys.stdout.write(
        f"{report.dataset}: {report.questions} questions, {report.ingest['passages']} passages "
        f"(ingestion {report.ingest['seconds']} s, queries {report.ingest['query_seconds']} s)\n"
        f"{summary_table(report)}\nwritten to {out}/\n"
    )
    return 0
