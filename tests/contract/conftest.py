"""Fixtures of the GraphStore contract suite: every test runs on each real backend.

``neo4j_uri`` is ``HIPPOGRAPH_TEST_NEO4J_URI`` when set, else a Neo4j 5.26 Community started for
the session from the Maven Central jars (tools/neo4j). When it cannot start, the Neo4j tests
FAIL: a backend that was never exercised does not count as passing.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import neo4j
import numpy as np
import pytest

from service.settings import GraphSettings
from service.stores.base import GraphStore
from service.stores.neo4j.graph_store import Neo4jGraphStore
from service.stores.sql.db import make_engine, migrate
from service.stores.sql.graph_store import SqlGraphStore
from tests.support.neo4j_server import ensure_jars, start_neo4j

logger = logging.getLogger(__name__)

DIM = 8
# Small on purpose: every multi-row statement of the Neo4j store runs in several chunks.
NEO4J_BATCH_ROWS = 3
BACKENDS = ["sql", pytest.param("neo4j", marks=pytest.mark.neo4j)]


def fake_vector(*parts: str) -> np.ndarray:
    """A deterministic, L2-normalized float32 vector of ``DIM`` dimensions for any text."""
    seed = int.from_bytes(hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


@pytest.fixture(scope="session")
def neo4j_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    uri = os.environ.get("HIPPOGRAPH_TEST_NEO4J_URI")
    if uri:
        yield uri
        return
    ensure_jars()
    started = time.monotonic()
    server = start_neo4j(tmp_path_factory.mktemp("neo4j") / "home")  # raises when it cannot start
    logger.warning("Neo4j ready at %s after %.1f s", server.uri, time.monotonic() - started)
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def neo4j_settings(neo4j_uri: str) -> GraphSettings:
    return GraphSettings(backend="neo4j", neo4j_uri=neo4j_uri, neo4j_batch_rows=NEO4J_BATCH_ROWS)


def _clean_neo4j(settings: GraphSettings) -> None:
    with neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=None) as driver:
        driver.execute_query("MATCH (n) DETACH DELETE n", database_=settings.neo4j_database)


def _sql_engine(path: Path):
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    return engine


def _neo4j_store(settings: GraphSettings) -> Neo4jGraphStore:
    store = Neo4jGraphStore.connect(settings)
    store.ensure_schema(DIM)
    return store


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., GraphStore]]:
    """Opens stores of one backend over one fresh, empty database. Each call is a new instance
    (its own caches), like another process of the same deployment; ``index_only=True`` opens a
    Neo4j store that answers vector searches from the native index (never loading vectors)."""
    opened: list[GraphStore] = []
    if request.param == "sql":
        engine = _sql_engine(tmp_path / "graph.db")

        def open_(index_only: bool = False) -> GraphStore:
            opened.append(SqlGraphStore(engine))
            return opened[-1]
    else:
        settings = request.getfixturevalue("neo4j_settings")
        _clean_neo4j(settings)
        engine = None

        def open_(index_only: bool = False) -> GraphStore:
            # index_only: a Neo4j store that never loads vectors, so it searches the native index
            own = settings.model_copy(update={"neo4j_load_vectors_below": 0}) if index_only else settings
            opened.append(_neo4j_store(own))
            return opened[-1]

    yield open_
    for store in opened:
        store.close()
    if engine is not None:
        engine.dispose()


@pytest.fixture
def graph_store(open_store: Callable[[], GraphStore]) -> GraphStore:
    """A fresh, empty store of each backend."""
    return open_store()


@pytest.fixture
def both_stores(tmp_path: Path, neo4j_settings: GraphSettings) -> Iterator[tuple[GraphStore, GraphStore]]:
    """One fresh store of each backend, to feed the same batches and compare what comes out."""
    engine = _sql_engine(tmp_path / "graph.db")
    sql_store = SqlGraphStore(engine)
    _clean_neo4j(neo4j_settings)
    neo_store = _neo4j_store(neo4j_settings)
    yield sql_store, neo_store
    neo_store.close()
    sql_store.close()
    engine.dispose()
