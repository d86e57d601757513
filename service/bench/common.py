"""What every bench part shares: input locations and sizes, fresh settings, the figure recorder.

Contracts:

- ``Inputs.for_run`` is the one place sizes are chosen (full run, ``--quick``, hidden overrides).
- ``fresh_settings`` gives a part its own SQLite data directory, keeping the caller's embedding,
  retrieval and worker settings (so the bench measures what the service is configured to run).
- ``Recorder.figure`` prints each figure as it is measured, with the command that measures it,
  and keeps it for the report; ``Recorder.check`` records an acceptance ratio and its mark.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TypeVar

import numpy as np

from service.settings import DatabaseSettings, GraphSettings, Settings

logger = logging.getLogger("hippograph.bench")
T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
PARTS = ("a", "b", "c", "d", "e", "f")
TITLES = {
    "a": "MuSiQue-100 OpenIE import against the embedding floor",
    "b": "Query latency per mode (MuSiQue-100 questions)",
    "c": "Freshness on the 2Wiki corpus",
    "d": "The walk at scale (synthetic snapshots)",
    "e": "Neo4j ingest rate against SQL's (2Wiki)",
    "f": "Query latency in `hippograph serve` while an import runs",
}


@dataclass(frozen=True)
class Inputs:
    """Where the data comes from and how much of it each part uses (None = all)."""

    musique_dir: Path
    twowiki_corpus: Path
    musique_passages: int | None  # parts a, b and f: the first N passages of the OpenIE file
    questions: int | None  # parts b and f: the first N questions
    freshness_documents: int | None  # part c: the first N 2Wiki documents
    neo4j_documents: int  # part e: the first N 2Wiki documents, on each backend
    walk_args: tuple[str, ...]  # part d: arguments of benchmarks/walk_scale.py

    @classmethod
    def for_run(
        cls,
        *,
        quick: bool,
        musique_dir: str | None = None,
        twowiki_corpus: str | None = None,
        passages: int | None = None,
        questions: int | None = None,
    ) -> Inputs:
        """Full sizes, or small ones with ``quick``; ``passages``/``questions`` cap every part
        (the hidden options the smoke test uses)."""
        if quick:
            sizes: dict[str, Any] = {
                "musique_passages": 150,
                "questions": 30,
                "freshness_documents": 1_000,
                "neo4j_documents": 100,
                "walk_args": ("--sizes", "20000", "--queries", "20", "--exact-up-to", "20000"),
            }
        else:
            sizes = {
                "musique_passages": None,
                "questions": None,
                "freshness_documents": None,
                "neo4j_documents": 2_000,
                "walk_args": ("--sizes", "100000,1000000", "--exact-up-to", "100000"),
            }
        if passages is not None:
            sizes["musique_passages"] = min(passages, sizes["musique_passages"] or passages)
            sizes["freshness_documents"] = min(passages, sizes["freshness_documents"] or passages)
            sizes["neo4j_documents"] = min(passages, sizes["neo4j_documents"])
        if questions is not None:
            sizes["questions"] = min(questions, sizes["questions"] or questions)
        return cls(
            musique_dir=Path(musique_dir) if musique_dir else SHARED_DATA / "musique-100",
            twowiki_corpus=Path(twowiki_corpus)
            if twowiki_corpus
            else SHARED_DATA / "2wiki-corpus" / "corpus.json",
            **sizes,
        )

    @property
    def openie_file(self) -> Path:
        """The HippoRAG OpenIE file of the MuSiQue folder (``openie_*.json``)."""
        found = sorted(self.musique_dir.glob("openie_*.json"))
        if not found:
            raise FileNotFoundError(f"no openie_*.json in {self.musique_dir}")
        return found[0]

    @property
    def questions_file(self) -> Path:
        return self.musique_dir / "questions.json"


def fresh_settings(
    base: Settings,
    data_dir: Path,
    *,
    extractor: str | None = None,
    graph: GraphSettings | None = None,
) -> Settings:
    """``base`` with its own SQLite database in ``data_dir`` (created), the SQL graph store unless
    ``graph`` says otherwise, no in-process worker, and exported models kept where ``base``
    keeps them (a fresh data directory must not export the ONNX model again)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = base.embedding.cache_dir or str((base.data_dir / "models").resolve())
    updates: dict[str, Any] = {
        "data_dir": data_dir,
        "database": DatabaseSettings(sqlite_busy_timeout_ms=base.database.sqlite_busy_timeout_ms),
        "graph": graph or GraphSettings(),
        "worker": base.worker.model_copy(update={"in_process": False}),
        "embedding": base.embedding.model_copy(update={"cache_dir": cache_dir}),
    }
    if extractor is not None:
        updates["extraction"] = base.extraction.model_copy(update={"extractor": extractor})
    return base.model_copy(update=updates)


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def embedding_description(settings: Settings) -> str:
    """Model, backend, resolved threads and batch size of the configured embedder."""
    e = settings.embedding
    threads = int(getattr(e, "threads", 1))
    return (
        f"{e.model or 'all-MiniLM-L6-v2'}, backend {getattr(e, 'backend', 'torch')}, "
        f"{threads if threads > 0 else available_cores()} threads, batch {e.batch_size}"
    )


def run_in_thread(fn: Callable[[], T], name: str) -> T:
    """``fn()`` on a thread of its own; its result returned, its exception raised here.

    Every part runs this way because the service embeds on threads other than the one that
    built the model (the worker thread, the API's request threads), and torch's intra-op
    threading is set up per calling thread: probes on this machine under load timed the same
    embedding 2-4x slower, at times, on the thread that built the model than on another one."""
    result: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(fn())
        except BaseException as exc:  # raised in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def percentiles_ms(samples_ms: Sequence[float]) -> dict[str, float]:
    """p50, p95 and max of latencies in ms (rounded to 0.1 ms); empty for no samples."""
    if not samples_ms:
        return {}
    a = np.asarray(samples_ms, dtype=float)
    return {
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
        "max_ms": round(float(a.max()), 1),
        "n": len(a),
    }


def elapsed_ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


@dataclass
class Check:
    """One acceptance criterion: ``value op limit`` (op ``<=`` or ``>=``), or a yes/no (``is``)."""

    name: str
    value: float | bool | None
    limit: float | bool
    op: str  # "<=", ">=" or "is"

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        if self.op == "is":
            return bool(self.value) == bool(self.limit)
        value, limit = float(self.value), float(self.limit)
        return value <= limit if self.op == "<=" else value >= limit

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": self.value,
            "limit": self.limit,
            "op": self.op,
            "passed": self.passed,
        }


@dataclass
class PartResult:
    """A part's outcome: ``status`` is ``ok``, ``error`` (``error`` says why) or ``not measured``
    (``note`` says why); ``samples`` keeps raw latencies for the plot."""

    key: str
    title: str
    command: str
    status: str = "ok"
    figures: dict[str, Any] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    samples: dict[str, list[float]] = field(default_factory=dict)
    table: str | None = None  # a Markdown table carried into bench.md as is
    note: str | None = None
    error: str | None = None
    seconds: float = 0.0
    load: str = ""  # the 1-minute load average when the part started and ended

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "command": self.command,
            "status": self.status,
            "seconds": round(self.seconds, 1),
            "load": self.load,
            "figures": self.figures,
            "acceptance": [c.to_json() for c in self.checks],
            "samples_ms": {k: [round(v, 2) for v in s] for k, s in self.samples.items()},
            **({"note": self.note} if self.note else {}),
            **({"error": self.error} if self.error else {}),
            **({"table": self.table} if self.table else {}),
        }


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    return str(value)


class Recorder:
    """Prints figures as they are measured (``stream``, stdout by default) and keeps them."""

    def __init__(self, command_for: Callable[[str], str], stream: IO[str] | None = None) -> None:
        self._command_for = command_for
        self._stream = stream or sys.stdout
        self.parts: dict[str, PartResult] = {}

    def start(self, key: str) -> PartResult:
        part = PartResult(key, TITLES[key], self._command_for(key))
        self.parts[key] = part
        self._write(f"\n[{key}] {part.title}\n    $ {part.command}\n")
        return part

    def figure(self, part: PartResult, name: str, value: Any, unit: str = "") -> None:
        part.figures[name] = value
        self._write(f"[{part.key}] {name} = {_show(value)}{' ' + unit if unit else ''}    $ {part.command}\n")

    def check(
        self, part: PartResult, name: str, value: float | bool | None, limit: float | bool, op: str
    ) -> None:
        c = Check(name, value, limit, op)
        part.checks.append(c)
        mark = {True: "PASS", False: "FAIL", None: "not measured"}[c.passed]
        shown = "n/a" if value is None else _show(value)
        self._write(f"[{part.key}] acceptance: {name} = {shown} ({op} {_show(limit)}): {mark}\n")

    def note(self, part: PartResult, text: str) -> None:
        """A remark kept in the report (and printed)."""
        part.note = text
        self.say(part, text)

    def say(self, part: PartResult, text: str) -> None:
        """A line printed only."""
        self._write(f"[{part.key}] {text}\n")

    def _write(self, text: str) -> None:
        self._stream.write(text)
        self._stream.flush()
