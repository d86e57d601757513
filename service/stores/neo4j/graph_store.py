"""The Neo4j graph backend: the same contract as ``SqlGraphStore``, on a Neo4j 5 (Community) server.

Data model (Cypher in ``cypher.py``, constraints and indexes in ``schema.py``):

* ``:Passage`` and ``:Entity`` nodes carry their vector in ``embedding``; ``:MENTIONS`` links a
  passage to the entities it mentions; ``:SYNONYM`` links two entities once (``entity_a <
  entity_b``) with the cosine in ``score``.
* A fact is stored as ONE ``:FACT`` relationship from subject to object PER SUPPORTING PASSAGE
  (``{id, passage_id, relation, embedding}``), the graph twin of the SQL ``fact_passages`` rows:
  the relationship is the support record. So a fact lives exactly while one of its
  relationships does, deleting a passage's support is ``DELETE`` of the relationships carrying its
  id (no list to rewrite, nothing that can be left half-updated), and the export weight of an
  entity pair is the plain count of its ``:FACT`` relationships. Every relationship of one fact id
  carries the same relation text and vector (the first writer's; see ``MERGE_FACTS``), so any of
  them can answer for the fact; stats count distinct ids.
* ``(:GraphMeta {namespace, version})`` holds ``graph_version``. Every write transaction bumps it
  FIRST, which takes an exclusive lock on it: writers of one namespace are serialized, like the
  single SQLite writer, and the version a writer moved from is exactly ``version - 1``.
* Every node and every ``:FACT``/``:SYNONYM`` relationship carries ``namespace``; every statement
  filters on it.

Writes and deletes run in ``writes.py``; this module opens their sessions and holds the reads.
Vector search uses the native vector indexes (one per kind, global across namespaces) to pick
candidates and scores them exactly as the SQL backend does (``vector_search.py``).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import neo4j
import numpy as np
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired, TransientError

from service.domain.models import (
    GraphExport,
    GraphStats,
    GraphWriteBatch,
    StoredFact,
    StoredPassage,
    VectorKind,
)
from service.errors import GraphStoreUnavailable
from service.settings import GraphSettings
from service.stores.batching import chunks
from service.stores.export import build_export
from service.stores.neo4j import cypher, schema, vector_search, writes
from service.stores.neo4j.writes import DanglingReference
from service.stores.vector_cache import VectorCache, top_k_search

__all__ = ["DanglingReference", "Neo4jGraphStore"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Lookups by id inside a vector search read at least this many ids per statement.
_MIN_READ_CHUNK = 1_000


class _NotCached(Exception):
    pass


def _translate_errors(fn: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        try:
            return fn(*args, **kwargs)
        except (ServiceUnavailable, SessionExpired, AuthError, TransientError) as exc:
            raise GraphStoreUnavailable(f"Neo4j is unavailable: {exc.__class__.__name__}: {exc}") from exc

    return wrapper


def _matrix(rows: list[list[float]]) -> np.ndarray:
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    return np.asarray(rows, dtype=np.float32)


class Neo4jGraphStore:
    def __init__(
        self,
        driver: neo4j.Driver,
        *,
        database: str = "neo4j",
        batch_rows: int = 2_000,
        owns_driver: bool = True,
        load_vectors_below: int = 200_000,
    ) -> None:
        if batch_rows <= 0:
            raise ValueError("batch_rows must be positive")
        # A cold search loads the namespace's vectors of that kind into memory when it has at
        # most this many (a 384-dimension float32 row is 1.5 kB), else asks the vector index.
        self._load_below = load_vectors_below
        self._driver = driver
        self._database = database
        self._batch = batch_rows
        self._owns_driver = owns_driver
        self._vectors = VectorCache()
        self._online: set[str] = set()

    @classmethod
    def connect(cls, settings: GraphSettings) -> Neo4jGraphStore:
        password = settings.neo4j_password.get_secret_value()
        auth = (settings.neo4j_user, password) if password else None
        driver = neo4j.GraphDatabase.driver(settings.neo4j_uri, auth=auth)
        try:  # one attempt each (execute_query would retry for 30 s before giving up)
            driver.verify_connectivity()
            with driver.session(database=settings.neo4j_database) as session:
                session.run("RETURN 1").consume()
        except (ServiceUnavailable, SessionExpired, AuthError, TransientError) as exc:
            driver.close()
            raise GraphStoreUnavailable(
                f"cannot reach Neo4j at {settings.neo4j_uri}: {exc.__class__.__name__}: {exc}"
            ) from exc
        except BaseException:
            driver.close()
            raise
        return cls(
            driver,
            database=settings.neo4j_database,
            batch_rows=settings.neo4j_batch_rows,
            load_vectors_below=settings.neo4j_load_vectors_below,
        )

    # --- plumbing ---------------------------------------------------------------------------

    def _session(self) -> neo4j.Session:
        return self._driver.session(database=self._database)

    def _read(self, query: str, params: dict[str, Any]) -> list[neo4j.Record]:
        records, _, _ = self._driver.execute_query(
            query, params, database_=self._database, routing_=neo4j.RoutingControl.READ
        )
        return records

    def _read_chunked(self, query: str, namespace: str, ids: Iterable[str]) -> list[neo4j.Record]:
        unique = list(dict.fromkeys(ids))
        out: list[neo4j.Record] = []
        for chunk in chunks(unique, self._batch):
            out += self._read(query, {"namespace": namespace, "ids": list(chunk)})
        return out

    # --- schema -----------------------------------------------------------------------------

    @_translate_errors
    def ensure_schema(self, embedding_dim: int) -> None:
        schema.ensure_schema(self._driver, self._database, embedding_dim)

    # --- writes -----------------------------------------------------------------------------

    @_translate_errors
    def write(self, batch: GraphWriteBatch) -> int:
        work = writes.write_work(batch, self._batch)
        with self._session() as session:
            after = session.execute_write(work)
        self._vectors.follow_write(batch, after - 1, after)
        return after

    @_translate_errors
    def delete_documents(self, namespace: str, document_ids: Sequence[str]) -> None:
        if not document_ids:
            return
        work = writes.delete_documents_work(namespace, document_ids, self._batch)
        with self._session() as session:
            session.execute_write(work)
        self._vectors.invalidate(namespace)

    @_translate_errors
    def delete_namespace(self, namespace: str) -> None:
        """In transactions of at most ``batch_rows`` elements; see ``writes.delete_namespace``."""
        with self._session() as session:
            writes.delete_namespace(session, namespace, self._batch)
        self._vectors.invalidate(namespace)

    # --- reads ------------------------------------------------------------------------------

    @_translate_errors
    def graph_version(self, namespace: str) -> int:
        records = self._read(cypher.GRAPH_VERSION, {"namespace": namespace})
        return int(records[0]["version"]) if records else 0

    @_translate_errors
    def export_graph(self, namespace: str) -> GraphExport:
        params = {"namespace": namespace}

        def work(tx: neo4j.ManagedTransaction):
            passage_ids = sorted(r["id"] for r in tx.run(cypher.PASSAGE_IDS, params))
            entity_ids = sorted(r["id"] for r in tx.run(cypher.ENTITY_IDS, params))
            fact_pairs = [
                (r["subject_id"], r["object_id"], int(r["n"])) for r in tx.run(cypher.FACT_PAIRS, params)
            ]
            mention_pairs = [(r["passage_id"], r["entity_id"]) for r in tx.run(cypher.MENTION_PAIRS, params)]
            synonym_pairs = [
                (r["entity_a"], r["entity_b"], float(r["score"]))
                for r in tx.run(cypher.SYNONYM_PAIRS, params)
            ]
            return passage_ids, entity_ids, fact_pairs, mention_pairs, synonym_pairs

        with self._session() as session:
            passage_ids, entity_ids, fact_pairs, mention_pairs, synonym_pairs = session.execute_read(work)
        return build_export(passage_ids, entity_ids, fact_pairs, mention_pairs, synonym_pairs)

    @_translate_errors
    def fact_sources(self, namespace: str) -> list[tuple[str, str]]:
        return sorted(
            (r["fact_id"], r["passage_id"]) for r in self._read(cypher.FACT_SOURCES, {"namespace": namespace})
        )

    def _load_vectors(self, namespace: str, kind: VectorKind) -> tuple[list[str], np.ndarray]:
        rows = sorted(
            (r["id"], r["embedding"]) for r in self._read(cypher.VECTORS[kind], {"namespace": namespace})
        )
        return [r[0] for r in rows], _matrix([r[1] for r in rows])

    @_translate_errors
    def export_vectors(self, namespace: str, kind: VectorKind) -> tuple[list[str], np.ndarray]:
        version = self.graph_version(namespace)
        return self._vectors.get(namespace, kind, version, lambda: self._load_vectors(namespace, kind))

    @_translate_errors
    def search_vectors(
        self, namespace: str, kind: VectorKind, queries: np.ndarray, top_k: int, min_score: float = -1.0
    ) -> list[list[tuple[str, float]]]:
        """Exact search from memory when the namespace's vectors are cached at the current
        version (as after a snapshot build); otherwise candidates from the native vector index,
        scored exactly (see ``vector_search.search``)."""
        q = np.asarray(queries, dtype=np.float32)
        if q.ndim == 1:
            q = q.reshape(1, -1)
        if top_k <= 0 or len(q) == 0:
            return [[] for _ in range(len(q))]

        def exact(rows: list[int]) -> list[list[tuple[str, float]]]:
            ids, matrix = self.export_vectors(namespace, kind)
            return top_k_search(ids, matrix, q[rows], top_k, min_score)

        warm = self._cached_vectors(namespace, kind)
        if warm is not None:  # already in memory at the current version: exact and no round trip
            return top_k_search(warm[0], warm[1], q, top_k, min_score)
        if not self._index_online(kind) or self._vector_count(namespace, kind) <= self._load_below:
            # Loaded once and then kept in step by this process's writes (VectorCache): an
            # ingesting worker searches each group's new entities in memory, as the SQL store
            # does, instead of one index round trip per entity (part e of hippograph bench).
            return exact(list(range(len(q))))
        return vector_search.search(
            self._read, namespace, kind, q, top_k, min_score, exact, max(self._batch, _MIN_READ_CHUNK)
        )

    def _vector_count(self, namespace: str, kind: VectorKind) -> int:
        return int(self._read(cypher.VECTOR_COUNTS[kind], {"namespace": namespace})[0]["n"])

    def _cached_vectors(self, namespace: str, kind: VectorKind) -> tuple[list[str], np.ndarray] | None:
        """The namespace's vectors of a kind when the cache holds them at the current version."""

        def cold() -> tuple[list[str], np.ndarray]:
            raise _NotCached

        try:
            return self._vectors.get(namespace, kind, self.graph_version(namespace), cold)
        except _NotCached:
            return None

    def _index_online(self, kind: VectorKind) -> bool:
        """Whether the kind's vector index exists and is online (remembered once it is): a store
        whose ``ensure_schema`` never ran still answers, by exact search."""
        if kind in self._online:
            return True
        name = schema.VECTOR_INDEXES[kind]
        records = self._read(schema.VECTOR_INDEX_STATE, {"name": name})
        if records and records[0]["state"] == "ONLINE":
            self._online.add(kind)
            return True
        logger.warning("Neo4j vector index %s is not online; searching %s vectors exactly", name, kind)
        return False

    @_translate_errors
    def existing_entity_ids(self, namespace: str, ids: Iterable[str]) -> set[str]:
        return {r["id"] for r in self._read_chunked(cypher.GET_ENTITY_NAMES, namespace, ids)}

    @_translate_errors
    def get_passages(self, namespace: str, ids: Iterable[str]) -> dict[str, StoredPassage]:
        return {
            r["id"]: StoredPassage(r["id"], r["document_id"], r["title"], r["text"])
            for r in self._read_chunked(cypher.GET_PASSAGES, namespace, ids)
        }

    @_translate_errors
    def get_facts(self, namespace: str, ids: Iterable[str]) -> dict[str, StoredFact]:
        return {
            r["id"]: StoredFact(
                r["id"], r["subject_id"], r["subject"], r["relation"], r["object_id"], r["object"]
            )
            for r in self._read_chunked(cypher.GET_FACTS, namespace, ids)
        }

    @_translate_errors
    def get_entity_names(self, namespace: str, ids: Iterable[str]) -> dict[str, str]:
        return {r["id"]: r["name"] for r in self._read_chunked(cypher.GET_ENTITY_NAMES, namespace, ids)}

    @_translate_errors
    def stats(self, namespace: str) -> GraphStats:
        r = self._read(cypher.STATS, {"namespace": namespace})[0]
        return GraphStats(
            passages=int(r["passages"]),
            entities=int(r["entities"]),
            facts=int(r["facts"]),
            synonym_edges=int(r["synonym_edges"]),
        )

    def close(self) -> None:
        if self._owns_driver:
            self._driver.close()
