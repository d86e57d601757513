"""The evaluation report: per-mode results, and the files ``hippograph eval`` writes
(``report.json``, ``report.md``, ``per_question.jsonl``, ``recall_at_k.png``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECALL_KS = (1, 2, 5, 10, 20)


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
