"""Parts a and b: the MuSiQue-100 OpenIE import against its embedding floor, then query latency
per mode on the namespace it filled.

Contracts:

- ``import_musique`` fills a fresh SQLite namespace through ``container.import_openie`` and the
  job worker, timed from the upload to the job's end (``ingest_s``). The model ingestion uses is
  loaded and run on real texts of each kind first, outside the timings. With a part to report
  to (a), it then measures the embedding floor of the same texts (``floor.py``) with that model,
  after the import (the model at its warmest: the floor is not flattered by a cold start), and
  the ratio ``ingest_over_floor`` (acceptance <= 1.3).
- ``query_latency`` (b) warms each mode once, then asks every question in every mode (the mode
  order rotates per question, so the modes share the machine's load alike) and reports the
  client-side wall time of ``container.query`` per mode, p50/p95, and graph p50 / dense p50
  (acceptance <= 1.4).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from service.bench.common import (
    Inputs,
    PartResult,
    Recorder,
    elapsed_ms,
    embedding_description,
    fresh_settings,
    percentiles_ms,
)
from service.bench.floor import embed_floor, import_texts, raw_model
from service.container import Container
from service.domain.records import JobStatus, QueryMode
from service.jobs.drain import drain_showing
from service.progress import Progress
from service.settings import Settings

logger = logging.getLogger("hippograph.bench")

NAMESPACE = "musique"
MODES = (QueryMode.DENSE, QueryMode.BM25, QueryMode.GRAPH)
TOP_K = 10
WARM_UP = 64  # texts of each kind embedded before anything is timed


@dataclass
class MusiqueNamespace:
    """A container whose namespace holds the (trimmed) MuSiQue import; the caller closes it."""

    container: Container
    namespace: str
    questions: list[str]


def openie_bytes(inputs: Inputs) -> bytes:
    """The OpenIE file, cut to its first ``inputs.musique_passages`` passages when set."""
    raw = inputs.openie_file.read_bytes()
    if inputs.musique_passages is None:
        return raw
    data = json.loads(raw)
    data["docs"] = data["docs"][: inputs.musique_passages]
    return json.dumps(data).encode()


def load_questions(inputs: Inputs) -> list[str]:
    items = json.loads(inputs.questions_file.read_text(encoding="utf-8"))
    questions = [str(q["question"]).strip() for q in items]
    return questions[: inputs.questions] if inputs.questions is not None else questions


def ingest_embedder(container: Container) -> Any:
    """The embedder ingestion uses (the container's ingestion lane when it has one)."""
    return getattr(container, "ingest_embedder", None) or container.embedder


def import_musique(
    base: Settings, work: Path, inputs: Inputs, rec: Recorder, part: PartResult | None
) -> MusiqueNamespace:
    """Fill a fresh namespace with the import; measure it against the floor when ``part``."""
    container = Container.from_settings(fresh_settings(base, work / "musique"))
    try:
        container.migrate()
        container.documents.create_namespace(NAMESPACE)
        raw = openie_bytes(inputs)
        model = raw_model(ingest_embedder(container))
        texts = import_texts(NAMESPACE, raw)
        # Loads the model and runs it on real texts of every kind, outside both timings.
        model.embed(texts.passages[:WARM_UP] + texts.entities[:WARM_UP] + texts.facts[:WARM_UP])
        started = time.perf_counter()
        imported = container.import_openie(NAMESPACE, raw)
        sub = imported.submission
        progress = Progress(len(set(sub.document_ids)), "bench import", "doc")
        job = drain_showing(container.worker(), container.jobs, sub.job_id, progress)
        ingest_s = time.perf_counter() - started
        if job.status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"MuSiQue import job ended {job.status}: {job.last_error}")
        if part is not None:
            stats = container.stats(NAMESPACE)
            rec.figure(part, "embedder", embedding_description(base))
            rec.figure(part, "ingest_s", round(ingest_s, 2), "s")
            rec.figure(
                part,
                "graph",
                {
                    "passages": stats.passages,
                    "entities": stats.entities,
                    "facts": stats.facts,
                    "synonym_edges": stats.synonym_edges,
                },
            )
            rec.figure(part, "passages_per_s", round(stats.passages / ingest_s, 2), "passages/s")
            # The floor after the import: the model is as warm as it gets (a conservative floor).
            rec.figure(part, "floor_texts", texts.counts())
            floor = embed_floor(model, texts)
            rec.figure(part, "floor_s", round(floor["total"], 2), "s")
            rec.figure(part, "floor_by_kind_s", {k: round(v, 2) for k, v in floor.items() if k != "total"})
            ratio = ingest_s / floor["total"] if floor["total"] > 0 else None
            rec.figure(part, "ingest_over_floor", _r(ratio), "x")
            rec.check(part, "MuSiQue import wall time / embedding floor", _r(ratio), 1.3, "<=")
        return MusiqueNamespace(container, NAMESPACE, load_questions(inputs))
    except BaseException:
        container.close()
        raise


def query_latency(ns: MusiqueNamespace, rec: Recorder, part: PartResult) -> None:
    """Part b on a filled namespace (see module)."""
    c, questions = ns.container, ns.questions
    if not questions:
        raise RuntimeError("no questions")
    for mode in MODES:  # warm-up: the snapshot, the BM25 index, the query model
        c.query(ns.namespace, questions[0], top_k=TOP_K, mode=mode)
    samples: dict[str, list[float]] = {m.value: [] for m in MODES}
    laps: dict[str, dict[str, list[float]]] = {m.value: {} for m in MODES}
    for i, question in enumerate(questions):
        for j in range(len(MODES)):
            mode = MODES[(i + j) % len(MODES)]
            started = time.perf_counter()
            result = c.query(ns.namespace, question, top_k=TOP_K, mode=mode)
            samples[mode.value].append(elapsed_ms(started))
            for lap, ms in result.timings_ms.items():
                laps[mode.value].setdefault(lap, []).append(ms)
    rec.figure(part, "questions", len(questions))
    for mode in MODES:
        rec.figure(part, f"{mode.value}_ms", percentiles_ms(samples[mode.value]), "")
        medians = {k: round(float(np.median(v)), 2) for k, v in laps[mode.value].items() if k != "total"}
        rec.figure(part, f"{mode.value}_laps_p50_ms", medians)
    part.samples = samples
    graph_p50 = float(np.percentile(samples["graph"], 50))
    dense_p50 = float(np.percentile(samples["dense"], 50))
    ratio = graph_p50 / dense_p50 if dense_p50 > 0 else None
    rec.figure(part, "graph_p50_over_dense_p50", _r(ratio), "x")
    rec.check(part, "graph p50 / dense p50", _r(ratio), 1.4, "<=")


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
