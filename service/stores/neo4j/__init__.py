"""The Neo4j graph backend (Neo4j 5 Community): ``Neo4jGraphStore``."""

from service.stores.neo4j.graph_store import Neo4jGraphStore

__all__ = ["Neo4jGraphStore"]
