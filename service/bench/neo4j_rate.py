"""Part e: Neo4j's ingest rate against SQL's on the same first 2Wiki documents.

Contract: the first ``inputs.neo4j_documents`` 2Wiki documents are ingested with the offline
extractor through the job worker twice, each into a fresh SQLite data directory: once with the
SQL graph store, once with the Neo4j graph store on a Neo4j started for this run
(``tests/support/neo4j_server.py``: the jars from ``tools/neo4j/pom.xml`` via Maven, then the
embedded launcher; stopped at the end). Each wall time runs from the first submission to the
last job's end, after an untimed warm-up: the next 16 documents ingested into another
namespace of the same store (the model loaded, Neo4j's query plans compiled). Reported:
documents/s per backend and Neo4j's rate / SQL's (acceptance >= 0.7).
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from types import ModuleType

from service.bench.common import REPO_ROOT, Inputs, PartResult, Recorder, fresh_settings
from service.bench.freshness import ingest_corpus, load_corpus
from service.container import Container
from service.settings import GraphSettings, Settings

logger = logging.getLogger("hippograph.bench")

NAMESPACE = "rate"
WARM_UP = 16  # documents after the measured ones, ingested untimed first (JIT, caches, model)
STARTER = REPO_ROOT / "tests" / "support" / "neo4j_server.py"


def neo4j_starter() -> ModuleType:
    """``tests/support/neo4j_server.py`` loaded by path (``tests`` is not an installed package)."""
    if not STARTER.exists():
        raise RuntimeError(f"{STARTER} is missing: part e needs the repository's Neo4j starter")
    spec = importlib.util.spec_from_file_location("hippograph_bench_neo4j_server", STARTER)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {STARTER}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rate(settings: Settings, docs: list, warm_up: list, desc: str) -> tuple[float, int]:
    """Seconds to ingest ``docs`` with ``settings``, and the passages written; ``warm_up``
    (other documents) is ingested first into another namespace, untimed."""
    container = Container.from_settings(settings)
    try:
        container.migrate()
        container.documents.create_namespace("warm-up")
        ingest_corpus(container, "warm-up", warm_up, f"{desc} (warm-up)")
        container.documents.create_namespace(NAMESPACE)
        seconds = ingest_corpus(container, NAMESPACE, docs, desc)
        return seconds, container.stats(NAMESPACE).passages
    finally:
        container.close()


def neo4j_against_sql(base: Settings, work: Path, inputs: Inputs, rec: Recorder, part: PartResult) -> None:
    # The server's notices about property keys a fresh database lacks are not news here.
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)
    corpus = load_corpus(inputs.twowiki_corpus, inputs.neo4j_documents + WARM_UP)
    docs, warm_up = corpus[: inputs.neo4j_documents], corpus[inputs.neo4j_documents :]
    rec.figure(part, "documents", len(docs))
    starter = neo4j_starter()
    starter.ensure_jars(REPO_ROOT)
    server = starter.start_neo4j(work / "neo4j-home")
    try:
        rec.figure(part, "neo4j_uri", server.uri)
        sql_s, sql_passages = _rate(
            fresh_settings(base, work / "rate-sql", extractor="offline"), docs, warm_up, "bench sql ingest"
        )
        sql_rate = len(docs) / sql_s
        rec.figure(part, "sql_s", round(sql_s, 1), "s")
        rec.figure(part, "sql_documents_per_s", round(sql_rate, 2), "docs/s")
        graph = GraphSettings(backend="neo4j", neo4j_uri=server.uri)
        neo_s, neo_passages = _rate(
            fresh_settings(base, work / "rate-neo4j", extractor="offline", graph=graph),
            docs,
            warm_up,
            "bench neo4j ingest",
        )
        neo_rate = len(docs) / neo_s
        rec.figure(part, "neo4j_s", round(neo_s, 1), "s")
        rec.figure(part, "neo4j_documents_per_s", round(neo_rate, 2), "docs/s")
        rec.figure(part, "passages", {"sql": sql_passages, "neo4j": neo_passages})
        ratio = round(neo_rate / sql_rate, 3)
        rec.figure(part, "neo4j_over_sql", ratio, "x")
        rec.check(part, "Neo4j ingest rate / SQL's", ratio, 0.7, ">=")
    finally:
        server.stop()
