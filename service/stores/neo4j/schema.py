"""Constraints and indexes of the Neo4j graph store (Community edition: uniqueness constraints,
range indexes and vector indexes only). Every statement is idempotent (``IF NOT EXISTS``)."""

from __future__ import annotations

import neo4j

from service.domain.models import VectorKind

# Vector index per vector kind. Names are constants (never user input).
VECTOR_INDEXES: dict[VectorKind, str] = {
    "passage": "hippograph_passage_embedding",
    "entity": "hippograph_entity_embedding",
    "fact": "hippograph_fact_embedding",
}

CONSTRAINTS = (
    "CREATE CONSTRAINT hippograph_passage_id IF NOT EXISTS FOR (p:Passage) REQUIRE p.id IS UNIQUE",
    "CREATE CONSTRAINT hippograph_entity_id IF NOT EXISTS FOR (e:Entity) REQUIRE e.id IS UNIQUE",
    "CREATE CONSTRAINT hippograph_graph_meta_namespace IF NOT EXISTS "
    "FOR (m:GraphMeta) REQUIRE m.namespace IS UNIQUE",
    # One support relationship per (fact, passage): MERGE can never duplicate it.
    "CREATE CONSTRAINT hippograph_fact_support IF NOT EXISTS "
    "FOR ()-[f:FACT]-() REQUIRE (f.id, f.passage_id) IS UNIQUE",
)

INDEXES = (
    "CREATE INDEX hippograph_passage_namespace IF NOT EXISTS FOR (p:Passage) ON (p.namespace)",
    "CREATE INDEX hippograph_passage_document IF NOT EXISTS FOR (p:Passage) ON (p.document_id)",
    "CREATE INDEX hippograph_entity_namespace IF NOT EXISTS FOR (e:Entity) ON (e.namespace)",
    "CREATE INDEX hippograph_fact_id IF NOT EXISTS FOR ()-[f:FACT]-() ON (f.id)",
    "CREATE INDEX hippograph_fact_passage IF NOT EXISTS FOR ()-[f:FACT]-() ON (f.passage_id)",
    "CREATE INDEX hippograph_fact_namespace IF NOT EXISTS FOR ()-[f:FACT]-() ON (f.namespace)",
    "CREATE INDEX hippograph_synonym_namespace IF NOT EXISTS FOR ()-[r:SYNONYM]-() ON (r.namespace)",
)

VECTOR_INDEX_STATEMENTS: dict[VectorKind, str] = {
    "passage": "CREATE VECTOR INDEX hippograph_passage_embedding IF NOT EXISTS "
    "FOR (p:Passage) ON (p.embedding) OPTIONS $options",
    "entity": "CREATE VECTOR INDEX hippograph_entity_embedding IF NOT EXISTS "
    "FOR (e:Entity) ON (e.embedding) OPTIONS $options",
    "fact": "CREATE VECTOR INDEX hippograph_fact_embedding IF NOT EXISTS "
    "FOR ()-[f:FACT]-() ON (f.embedding) OPTIONS $options",
}

SHOW_VECTOR_INDEXES = """
SHOW VECTOR INDEXES YIELD name, options
WHERE name IN $names
RETURN name, options
"""

VECTOR_INDEX_STATE = "SHOW VECTOR INDEXES YIELD name, state WHERE name = $name RETURN state"

AWAIT_TIMEOUT_S = 300


def vector_index_options(dim: int) -> dict:
    # Quantization off: the index's candidate order then follows the true cosine closely, and
    # the store re-scores the candidates it keeps from the stored vectors anyway.
    return {
        "indexConfig": {
            "vector.dimensions": dim,
            "vector.similarity_function": "cosine",
            "vector.quantization.enabled": False,
        }
    }


def ensure_schema(driver: neo4j.Driver, database: str, dim: int) -> None:
    """Create constraints, range indexes and vector indexes of ``dim`` dimensions, then wait
    until every index is online. Raises ``ValueError`` when a vector index already exists with
    another dimension (the embedding model changed: the graph must be rebuilt)."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise ValueError(f"embedding dimension must be a positive int, got {dim!r}")
    for statement in (*CONSTRAINTS, *INDEXES):
        driver.execute_query(statement, database_=database)
    options = vector_index_options(dim)
    for statement in VECTOR_INDEX_STATEMENTS.values():
        driver.execute_query(statement, {"options": options}, database_=database)
    records, _, _ = driver.execute_query(
        SHOW_VECTOR_INDEXES, {"names": list(VECTOR_INDEXES.values())}, database_=database
    )
    for record in records:
        have = int(record["options"]["indexConfig"]["vector.dimensions"])
        if have != dim:
            raise ValueError(
                f"Neo4j vector index {record['name']} has {have} dimensions but the embedder has {dim}; "
                "drop the graph (or the index) and re-index"
            )
    driver.execute_query("CALL db.awaitIndexes($timeout)", {"timeout": AWAIT_TIMEOUT_S}, database_=database)
