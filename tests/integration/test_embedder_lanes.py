"""Queries first (service/llm/lane.py), the ONNX backends, and how the container wires them.

Real models throughout: the session's torch embedder, a second torch instance for ingestion,
and ONNX exports written into a temporary cache folder.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from service.container import Container
from service.llm.embedder import Embedder, SentenceTransformerEmbedder, available_cores, resolve_threads
from service.llm.lane import IngestEmbedder, QueryEmbedder, QueryLane
from service.pipeline.documents import NewDocument
from service.settings import EmbeddingSettings
from service.stores.sql.db import migrate
from tests.conftest import make_settings

TEXTS = [
    "The Eiffel Tower was completed in 1889 for the World's Fair in Paris.",
    "Who is the mother of the director of the film Polish-Russian War?",
    "Xawery Żuławski",
    "(Xawery Żuławski, directed, Polish-Russian War)",
    "word " * 400,  # longer than the model's 256 tokens: truncated by both backends
]


class Recording:
    """Wraps an embedder; records when each call starts and ends, and can hold a call at its start."""

    def __init__(self, inner: Embedder, *, hold_first_until: threading.Event | None = None) -> None:
        self.inner, self.dim, self.name = inner, inner.dim, inner.name
        self.events: list[tuple[str, float]] = []
        self.started = threading.Event()
        self._hold = hold_first_until

    def embed(self, texts: list[str]) -> np.ndarray:
        self.events.append(("start", time.perf_counter()))
        self.started.set()
        if self._hold is not None:
            hold, self._hold = self._hold, None
            assert hold.wait(60), "the query never started"
        try:
            return self.inner.embed(texts)
        finally:
            self.events.append(("end", time.perf_counter()))


def test_a_query_started_during_a_long_ingestion_embedding_finishes_first(embedder) -> None:
    lane = QueryLane()
    query_running = threading.Event()

    class MarksRunning(Recording):
        def embed(self, texts: list[str]) -> np.ndarray:
            query_running.set()  # inside lane.query(): the query now counts as in progress
            return super().embed(texts)

    query_side = MarksRunning(embedder)
    ingest_inner = Recording(SentenceTransformerEmbedder(), hold_first_until=query_running)
    query = QueryEmbedder(query_side, lane)
    ingest = IngestEmbedder(ingest_inner, lane, chunk=4)
    passages = [f"Passage {i} about the history of {i % 7} rivers and their bridges." for i in range(60)]

    done: dict[str, float] = {}
    vectors: dict[str, np.ndarray] = {}

    def ingestion() -> None:
        vectors["ingest"] = ingest.embed(passages)
        done["ingest"] = time.perf_counter()

    worker = threading.Thread(target=ingestion)
    worker.start()
    assert ingest_inner.started.wait(60)  # the ingestion embedding is under way (its first chunk)
    vectors["query"] = query.embed(["Which river has the most bridges?"])
    done["query"] = time.perf_counter()
    worker.join(120)
    assert not worker.is_alive()

    assert done["query"] < done["ingest"]
    query_end = query_side.events[-1][1]
    # Ingestion waited: no chunk of it started while the query's embedding ran, and most of its
    # chunks (15 in all) started only after the query had finished.
    starts = [t for kind, t in ingest_inner.events if kind == "start"]
    query_start = query_side.events[0][1]
    assert not [t for t in starts if query_start < t < query_end]
    assert len([t for t in starts if t > query_end]) >= 13
    # Chunking changes nothing in the vectors.
    np.testing.assert_allclose(vectors["ingest"], embedder.embed(passages), atol=1e-5)
    assert vectors["query"].shape == (1, embedder.dim)
    assert lane.queries_in_progress == 0


def test_ingestion_waits_while_a_query_is_in_progress() -> None:
    lane = QueryLane()
    waited = threading.Event()

    def wait() -> None:
        lane.wait_for_queries()
        waited.set()

    with lane.query():
        t = threading.Thread(target=wait)
        t.start()
        assert not waited.wait(0.2)
    assert waited.wait(5)
    t.join()


def test_defaults_onnx_with_the_cores_available() -> None:
    assert EmbeddingSettings().threads == 0
    assert EmbeddingSettings().backend == "onnx"
    assert resolve_threads(0) == available_cores() >= 1
    assert resolve_threads(3) == 3


@pytest.mark.parametrize(("backend", "least_cosine"), [("onnx", 0.99999), ("onnx-int8", 0.97)])
def test_onnx_backends_match_torch(tmp_path, embedder, backend, least_cosine) -> None:
    from service.llm.embedder import make_embedder

    settings = EmbeddingSettings(backend=backend, threads=1, batch_size=2)
    onnx = make_embedder(settings, tmp_path / "models")
    assert onnx.dim == embedder.dim and backend in onnx.name
    reference = embedder.embed(TEXTS)
    got = onnx.embed(TEXTS)
    assert got.dtype == np.float32 and got.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert (got * reference).sum(axis=1).min() >= least_cosine
    one = onnx.embed(TEXTS[1:2])  # a batch of one, no padding
    assert float(one[0] @ reference[1]) >= least_cosine
    assert onnx.embed([]).shape == (0, embedder.dim)
    # The export is written once and reused.
    exported = sorted(p.name for p in (tmp_path / "models").rglob("*.onnx"))
    assert exported == (["model.onnx"] if backend == "onnx" else ["model.onnx", "model_int8.onnx"])
    again = make_embedder(settings, tmp_path / "models")
    np.testing.assert_array_equal(again.embed(TEXTS), got)


def test_releasing_memory_after_each_batch_gives_the_same_vectors(tmp_path) -> None:
    """HIPPOGRAPH_EMBEDDING__RELEASE_MEMORY: ONNX Runtime checks the run option only when a
    batch runs, so run batches with it, and they must embed exactly as without it."""
    from service.llm.embedder import make_embedder

    plain = make_embedder(EmbeddingSettings(threads=1, batch_size=2), tmp_path / "models")
    released = make_embedder(
        EmbeddingSettings(threads=1, batch_size=2, release_memory=True), tmp_path / "models"
    )
    np.testing.assert_array_equal(released.embed(TEXTS), plain.embed(TEXTS))
    np.testing.assert_array_equal(released.embed(TEXTS[:1]), plain.embed(TEXTS[:1]))


def test_container_gives_queries_and_ingestion_their_own_instances(tmp_path) -> None:
    cache = tmp_path / "models"
    settings = make_settings(tmp_path, embedding={"backend": "onnx", "threads": 1, "cache_dir": str(cache)})
    c = Container.from_settings(settings)
    try:
        assert isinstance(c.query_embedder, QueryEmbedder)
        assert isinstance(c.ingest_embedder, IngestEmbedder)
        assert c.query_embedder.lane is c.ingest_embedder.lane
        assert c.query_embedder.inner is not c.ingest_embedder.inner
        assert c.query.embedder is c.query_embedder and c.ingest.embedder is c.ingest_embedder
        assert c.embedder is c.query_embedder
        assert list(cache.rglob("model.onnx"))  # exported into the configured cache folder
    finally:
        c.close()


def test_each_instance_is_loaded_only_by_the_process_that_uses_it(tmp_path) -> None:
    """A standalone worker never loads the query model, an API without a worker never loads
    the ingestion one (each is ~110 MB of RSS)."""
    settings = make_settings(tmp_path, embedding={"backend": "onnx", "threads": 1})
    c = Container.from_settings(settings)
    try:
        migrate(c.engine)  # the relational schema alone, as the compose file's migrate service did
        c.documents.create_namespace("n")
        c.submit_documents("n", [NewDocument(text="Warsaw is on the Vistula.")])
        assert c.worker().drain() == 1 and c.stats("n").passages == 1
        assert c.loaded_embedders() == {"ingest"}
    finally:
        c.close()
    c = Container.from_settings(settings)
    try:
        assert c.query("n", "Which river?", top_k=3).passages
        assert c.submit_documents("n", [NewDocument(text="Paris is on the Seine.")]).job_id
        assert c.loaded_embedders() == {"query"}
    finally:
        c.close()


def test_an_embedder_override_is_shared(tmp_path, embedder) -> None:
    c = Container.from_settings(make_settings(tmp_path), embedder=embedder)
    try:
        assert c.query_embedder is embedder and c.ingest_embedder is embedder
        assert c.lane is None and c.loaded_embedders() == set()
        assert c.query.embedder is embedder and c.ingest.embedder is embedder
    finally:
        c.close()
