"""``hippograph eval``: ingest a HippoRAG-format dataset and measure retrieval (and QA) per mode.

Everything goes through the service's own use cases, configured by the service's own settings:
the corpus is submitted with ``submit_documents`` (or ``submit_openie_import`` with
``--openie``) and indexed by the job ``Worker``; every question is answered by
``pipeline.query.query`` (and, when an LLM is configured, ``pipeline.answer.answer``). There
are no evaluation-only retrieval parameters.

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
import json
import logging
import re
import shlex
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.container import Container
from service.domain import ids
from service.errors import HippographError, InvalidInput, LLMError, NamespaceNotFound
from service.evaluation.datasets import Dataset, PassageKey, load_dataset, passage_key
from service.evaluation.metrics import exact_match, percentile, recall_at_k, token_f1
from service.settings import Settings

logger = logging.getLogger(__name__)

MODES = ("dense", "bm25", "graph")
RECALL_KS = (1, 2, 5, 10, 20)
TOP_K = 20


@dataclass
class ModeResult:
    recall: dict[int, float]  # percent
    em: float | None  # percent
    f1: float | None  # percent
    latency_p50_ms: float
    latency_p95_ms: float
    fallbacks: int = 0
    llm_errors: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "recall": {str(k): v for k, v in self.recall.items()},
            "em": self.em,
            "f1": self.f1,
            "latency_ms": {"p50": self.latency_p50_ms, "p95": self.latency_p95_ms},
        }


@dataclass
class Report:
    dataset: str
    questions: int
    results: dict[str, ModeResult]
    namespace: str
    config: dict[str, Any] = field(default_factory=dict)
    ingest: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    per_question: list[dict[str, Any]] = field(default_factory=list)

    @staticmethod
    def _diagnostics(mode: str, r: ModeResult) -> dict[str, int]:
        # graph mode answers with dense ranking when no fact links to the question
        return (
            {"dense_fallbacks": r.fallbacks, "llm_errors": r.llm_errors}
            if mode == "graph"
            else {"llm_errors": r.llm_errors}
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "questions": self.questions,
            "results": {mode: r.to_json() for mode, r in self.results.items()},
            "diagnostics": {mode: self._diagnostics(mode, r) for mode, r in self.results.items()},
            "namespace": self.namespace,
            "config": self.config,
            "ingest": self.ingest,
            "command": self.command,
        }


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
    from service.pipeline.documents import delete_namespace

    try:
        delete_namespace(c, namespace)
        logger.info("deleted the previous evaluation namespace %s", namespace)
    except NamespaceNotFound:
        pass
    c.documents.create_namespace(namespace)


def _drain(c: Container, job_id: str, total: int, progress: bool) -> None:
    """Run the worker until the queue is empty, showing the job's progress."""
    from tqdm import tqdm

    from service.jobs.worker import Worker

    failure: list[BaseException] = []

    def run() -> None:
        try:
            Worker(c).drain()
        except BaseException as exc:  # surfaced in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="eval-ingest", daemon=True)
    thread.start()
    with tqdm(total=total, unit="doc", desc="ingest", disable=not progress, file=sys.stderr) as bar:
        while thread.is_alive():
            thread.join(0.5)
            bar.n = c.jobs.get(job_id).done
            bar.refresh()
    if failure:
        raise failure[0]
    job = c.jobs.get(job_id)
    if job.status != "succeeded":
        raise RuntimeError(f"ingestion job {job_id} ended {job.status}: {job.last_error or job.errors[:3]}")


def ingest_dataset(
    c: Container, dataset: Dataset, namespace: str, openie_path: Path | None, *, progress: bool
) -> tuple[dict[str, Any], dict[str, PassageKey]]:
    """Index the corpus (or the OpenIE file's passages) into ``namespace`` through the job queue.

    Returns the ingestion summary and, for every submitted document id, its passage key."""
    from service.extraction.hipporag_import import parse_openie
    from service.pipeline.documents import NewDocument, submit_documents, submit_openie_import

    started = time.perf_counter()
    _fresh_namespace(c, namespace)
    doc_keys: dict[str, PassageKey] = {}
    summary: dict[str, Any] = {}
    if openie_path is not None:
        openie = parse_openie(openie_path.read_bytes())
        for p in openie.passages:
            doc_keys.setdefault(ids.document_id(namespace, p.title, p.text), passage_key(p.title, p.text))
        sub = submit_openie_import(c, namespace, openie)
        summary["extractor"] = f"imported:{openie_path.name}"
        summary["dropped_triples"] = openie.dropped_triples
    else:
        docs: list[NewDocument] = []
        for p in dataset.corpus:
            doc_id = ids.document_id(namespace, p.title or None, p.text)
            if doc_id in doc_keys:  # equal up to case/Unicode normalization: one document
                continue
            doc_keys[doc_id] = p.key
            docs.append(NewDocument(text=p.text, title=p.title or None, metadata={"source": "eval"}))
        sub = submit_documents(c, namespace, docs, bulk=True)
        summary["extractor"] = c.extractor_name
    not_indexed = len({p.key for p in dataset.corpus} - set(doc_keys.values()))
    if not_indexed:
        logger.warning("%d corpus passage(s) are not among the indexed documents", not_indexed)
    _drain(c, sub.job_id, len(sub.document_ids), progress)
    stats = c.graph.stats(namespace)
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


def _run_query(c: Container, namespace: str, text: str, mode: str):
    return c.query(namespace, text, top_k=TOP_K, mode=mode)


def evaluate_mode(
    c: Container,
    dataset: Dataset,
    namespace: str,
    mode: str,
    doc_keys: dict[str, PassageKey],
    *,
    progress: bool,
    per_question: list[dict[str, Any]] | None = None,
) -> ModeResult:
    from tqdm import tqdm

    from service.pipeline.answer import answer

    llm = c.llm
    max_passages = c.settings.llm.max_answer_passages
    if dataset.questions:  # builds the snapshot / BM25 index outside the timed loop
        _run_query(c, namespace, dataset.questions[0].question, mode)
    recall_sums = dict.fromkeys(RECALL_KS, 0.0)
    with_gold = 0
    latencies: list[float] = []
    ems: list[float] = []
    f1s: list[float] = []
    fallbacks = llm_errors = 0
    for q in tqdm(dataset.questions, desc=mode, unit="q", disable=not progress, file=sys.stderr):
        t0 = time.perf_counter()
        result = _run_query(c, namespace, q.question, mode)
        latencies.append((time.perf_counter() - t0) * 1000)
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
        if llm is not None:
            try:
                prediction = answer(llm, q.question, result.passages, max_passages)
            except LLMError as exc:
                llm_errors += 1
                prediction = ""
                logger.warning("reader failed on question %s: %s", q.id, exc.detail)
            ems.append(exact_match(prediction, q.answers))
            f1s.append(token_f1(prediction, q.answers))
            row.update(prediction=prediction, em=ems[-1], f1=f1s[-1])
        if per_question is not None:
            per_question.append(row)

    def pct(total: float, n: int) -> float:
        return round(100 * total / n, 2) if n else 0.0

    return ModeResult(
        recall={k: pct(recall_sums[k], with_gold) for k in RECALL_KS},
        em=pct(sum(ems), len(ems)) if llm is not None else None,
        f1=pct(sum(f1s), len(f1s)) if llm is not None else None,
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
        "latency": "wall time of pipeline.query.query (query embedding included), after one "
        "untimed warm-up query per mode",
    }


def evaluate(
    c: Container,
    dataset: Dataset,
    modes: Sequence[str],
    openie_path: str | Path | None = None,
    *,
    progress: bool = False,
    command: str | None = None,
) -> Report:
    """Ingest ``dataset`` into a fresh namespace and score every question in every mode."""
    unknown = [m for m in modes if m not in MODES]
    if unknown or not modes:
        raise InvalidInput(f"unknown mode(s) {unknown}; choose from {', '.join(MODES)}")
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
    for mode in modes:
        report.results[mode] = evaluate_mode(
            c, dataset, namespace, mode, doc_keys, progress=progress, per_question=report.per_question
        )
    report.ingest["query_seconds"] = round(time.perf_counter() - query_started, 1)
    return report


# ---------------------------------------------------------------------------------------- output


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def summary_table(report: Report) -> str:
    head = "| mode | " + " | ".join(f"R@{k}" for k in RECALL_KS) + " | EM | F1 | p50 ms | p95 ms |"
    lines = [head, "|" + "---|" * (len(RECALL_KS) + 5)]
    for mode, r in report.results.items():
        cells = [_fmt(r.recall[k]) for k in RECALL_KS] + [_fmt(r.em), _fmt(r.f1)]
        cells += [_fmt(r.latency_p50_ms), _fmt(r.latency_p95_ms)]
        lines.append(f"| {mode} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(report: Report) -> str:
    ing = report.ingest
    cfg = report.config
    return "\n".join(
        [
            f"# Evaluation: {report.dataset}",
            "",
            f"{report.questions} questions; corpus indexed into namespace `{report.namespace}` "
            f"({ing.get('passages')} passages, {ing.get('entities')} entities, {ing.get('facts')} facts, "
            f"{ing.get('synonym_edges')} synonym edges; extractor `{ing.get('extractor')}`; "
            f"ingestion {ing.get('seconds')} s, queries {ing.get('query_seconds')} s).",
            f"Embedding model `{cfg.get('embedding_model')}`, graph backend `{cfg.get('graph_backend')}`, "
            f"top_k {cfg.get('top_k')}.",
            "",
            summary_table(report),
            "",
            "Recall@k, EM and F1 in percent (EM/F1 only with a configured LLM); latency in "
            "milliseconds per query, query embedding included. Exact figures: report.json.",
            "",
            "Produced by:",
            "",
            "```",
            report.command or "",
            "```",
            "",
        ]
    )


def _plot(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for mode, r in report.results.items():
        ax.plot(RECALL_KS, [r.recall[k] for k in RECALL_KS], marker="o", label=mode)
    ax.set_xticks(RECALL_KS)
    ax.set_xlabel("k")
    ax.set_ylabel("Recall@k (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, alpha=0.3)
    ax.set_title(f"{report.dataset} ({report.questions} questions)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(report: Report, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(report), encoding="utf-8")
    with (out / "per_question.jsonl").open("w", encoding="utf-8") as f:
        for row in report.per_question:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    _plot(report, out / "recall_at_k.png")


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
