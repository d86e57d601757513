"""The only place that chooses a graph backend."""

from __future__ import annotations

from sqlalchemy import Engine

from service.settings import GraphSettings
from service.stores.base import GraphStore


def make_graph_store(settings: GraphSettings, engine: Engine) -> GraphStore:
    if settings.backend == "sql":
        from service.stores.sql.graph_store import SqlGraphStore

        return SqlGraphStore(engine)
    if settings.backend == "neo4j":
        from service.stores.neo4j.graph_store import Neo4jGraphStore

        return Neo4jGraphStore.connect(settings)
    raise ValueError(f"unknown graph backend {settings.backend!r}")
