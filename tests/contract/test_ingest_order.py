"""The graph does not depend on how documents arrive: the same 2Wiki passages ingested as one
job, as jobs of 1-3 documents, and as one job whose worker process is killed (SIGKILL) midway
and resumed, give the same nodes and edges (synonym edges included), on both backends."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest

from service.container import Container
from service.domain.records import JobStatus
from service.pipeline.documents import NewDocument
from service.settings import GraphSettings
from service.stores.base import GraphStore
from service.stores.neo4j.schema import VECTOR_INDEXES
from tests.conftest import REPO_ROOT, make_settings, shared_data
from tests.contract.conftest import _clean_neo4j

pytestmark = [pytest.mark.data]

N_DOCS = 80
NS = "order"
GROUP = 8  # documents per group: several groups commit before the kill


def graph_digest(store: GraphStore, namespace: str) -> tuple[str, dict[str, int]]:
    """An order-independent digest of the namespace's graph (nodes with their kinds, weighted
    edges — fact, mention and synonym — and which passages state which fact), and counts."""
    export = store.export_graph(namespace)
    nodes = sorted(zip(export.node_ids, export.node_kinds, strict=True))
    edges = sorted(
        (*sorted((export.node_ids[i], export.node_ids[j])), round(w, 4)) for i, j, w in export.edges
    )
    sources = sorted(store.fact_sources(namespace))
    blob = json.dumps([nodes, edges, sources]).encode()
    stats = store.stats(namespace)
    counts = {
        "passages": stats.passages,
        "entities": stats.entities,
        "facts": stats.facts,
        "synonym_edges": stats.synonym_edges,
    }
    return hashlib.sha256(blob).hexdigest(), counts


def _documents() -> list[NewDocument]:
    corpus = json.loads(shared_data("2wiki-corpus", "corpus.json").read_text())[:N_DOCS]
    return [NewDocument(text=p["text"], title=p["title"]) for p in corpus]


def _drop_vector_indexes(settings: GraphSettings) -> None:
    """The contract suite's other tests index 8-dimensional fake vectors in the same Neo4j; this
    test uses the real 384-dimensional embedder, so each starts from no vector index."""
    with neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=None) as driver:
        for name in VECTOR_INDEXES.values():  # our own constant names, not user input
            driver.execute_query(f"DROP INDEX {name} IF EXISTS", database_=settings.neo4j_database)


@pytest.fixture(params=["sql", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def backend(request: pytest.FixtureRequest) -> Iterator[dict]:
    if request.param == "sql":
        yield {}
        return
    settings: GraphSettings = request.getfixturevalue("neo4j_settings")
    _drop_vector_indexes(settings)
    yield {"backend": "neo4j", "neo4j_uri": settings.neo4j_uri}
    _clean_neo4j(settings)
    _drop_vector_indexes(settings)


@pytest.fixture
def fresh(tmp_path: Path, embedder, backend: dict) -> Iterator:
    """Opens a container over an empty database (and an empty Neo4j) for each configuration."""
    opened: list[Container] = []

    def open_(name: str) -> Container:
        if backend:
            _clean_neo4j(GraphSettings(**backend))
        settings = make_settings(
            tmp_path / name,
            graph=backend,
            worker={"in_process": False, "poll_interval_s": 0.05, "group_size": GROUP},
        )
        settings.data_dir.mkdir(parents=True)
        c = Container.from_settings(settings, embedder=embedder)
        c.migrate()
        c.documents.create_namespace(NS)
        opened.append(c)
        return c

    yield open_
    for c in opened:
        c.close()


def _one_job(c: Container, docs: list[NewDocument]) -> None:
    c.submit_documents(NS, docs)
    c.worker().drain()


def _small_jobs(c: Container, docs: list[NewDocument]) -> None:
    start, sizes = 0, [1, 2, 3]
    while start < len(docs):
        size = sizes[start % 3]
        c.submit_documents(NS, docs[start : start + size])
        start += size
    assert c.worker().drain() > N_DOCS / 3


def _killed_mid_job(c: Container, docs: list[NewDocument]) -> None:
    job_id = c.submit_documents(NS, docs).job_id
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIPPOGRAPH_")}
    env["HIPPOGRAPH_DATA_DIR"] = str(c.settings.data_dir)
    env["HIPPOGRAPH_WORKER__GROUP_SIZE"] = str(GROUP)
    env["HIPPOGRAPH_WORKER__POLL_INTERVAL_S"] = "0.05"
    for key, value in c.settings.graph.model_dump(mode="json").items():
        if key in ("backend", "neo4j_uri"):
            env[f"HIPPOGRAPH_GRAPH__{key.upper()}"] = str(value)
    worker = subprocess.Popen(
        [sys.executable, "-m", "service", "worker"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while c.jobs.get(job_id).done < 2 * GROUP:  # some groups written, more to come
            assert worker.poll() is None, "the worker process died on its own"
            assert time.monotonic() < deadline, "the worker made no progress"
            time.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    assert c.jobs.get(job_id).done < len(docs)  # killed mid-job
    assert c.jobs.reap_stalled(stalled_after_s=-1) == 1  # its heartbeat stopped with it
    c.worker().drain()
    assert c.jobs.get(job_id).status == JobStatus.SUCCEEDED


def test_the_graph_does_not_depend_on_how_documents_arrive(fresh, backend):
    docs = _documents()
    digests = {}
    for name, ingest in (("one job", _one_job), ("jobs of 1-3", _small_jobs), ("killed", _killed_mid_job)):
        c = fresh(name.replace(" ", "-"))
        ingest(c, docs)
        digests[name] = graph_digest(c.graph, NS)
    counts = digests["one job"][1]
    assert counts["passages"] >= N_DOCS and counts["synonym_edges"] > 0
    assert digests["jobs of 1-3"] == digests["one job"]
    assert digests["killed"] == digests["one job"]
