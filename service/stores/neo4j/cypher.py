"""Every Cypher statement of the Neo4j graph store.

Values only ever travel as ``$parameters``; no statement is built from user or LLM text. Every
statement is scoped to ``$namespace``.

Data model (see ``graph_store.py`` for the reasons)::

    (:Passage {id, namespace, document_id, idx, title, text, embedding})
    (:Entity  {id, namespace, name, embedding})
    (:Passage)-[:MENTIONS]->(:Entity)
    (:Entity)-[:FACT {id, passage_id, namespace, relation, embedding}]->(:Entity)
        one relationship per (fact, supporting passage) pair
    (:Entity)-[:SYNONYM {namespace, score}]->(:Entity)    stored once, entity_a < entity_b
    (:GraphMeta {namespace, version})

Embeddings are written with ``db.create.set*VectorProperty`` (stored as float32 arrays, which
also halves their size) and only when the element has none yet: first write wins, as in the SQL
backend's insert-or-ignore.
"""

from __future__ import annotations

# --- writes ------------------------------------------------------------------------------

# First statement of every write transaction: the exclusive lock it takes on the namespace's
# GraphMeta node serializes writers of one namespace (no lost updates, no interleaved deletes).
BUMP_VERSION = """
MERGE (m:GraphMeta {namespace: $namespace})
ON CREATE SET m.version = 0
SET m.version = m.version + 1
RETURN m.version AS version
"""

MERGE_PASSAGES = """
UNWIND $rows AS row
MERGE (p:Passage {id: row.id, namespace: $namespace})
ON CREATE SET p.document_id = row.document_id, p.idx = row.idx, p.title = row.title, p.text = row.text
WITH p, row WHERE p.embedding IS NULL
CALL db.create.setNodeVectorProperty(p, 'embedding', row.embedding)
"""

MERGE_ENTITIES = """
UNWIND $rows AS row
MERGE (e:Entity {id: row.id, namespace: $namespace})
ON CREATE SET e.name = row.name
WITH e, row WHERE e.embedding IS NULL
CALL db.create.setNodeVectorProperty(e, 'embedding', row.embedding)
"""

MISSING_ENTITIES = """
UNWIND $ids AS id
OPTIONAL MATCH (e:Entity {id: id}) WHERE e.namespace = $namespace
WITH id, e WHERE e IS NULL
RETURN id
"""

MISSING_PASSAGES = """
UNWIND $ids AS id
OPTIONAL MATCH (p:Passage {id: id}) WHERE p.namespace = $namespace
WITH id, p WHERE p IS NULL
RETURN id
"""

MERGE_MENTIONS = """
UNWIND $rows AS row
MATCH (p:Passage {id: row.passage_id}) WHERE p.namespace = $namespace
MATCH (e:Entity {id: row.entity_id}) WHERE e.namespace = $namespace
MERGE (p)-[:MENTIONS]->(e)
"""

# A new support relationship of a fact that already exists copies the fact's relation text and
# vector from a sibling, so that every relationship of one fact id carries the same values (the
# first writer's), whichever passages are later deleted.
MERGE_FACTS = """
UNWIND $rows AS row
MATCH (s:Entity {id: row.subject_id}) WHERE s.namespace = $namespace
MATCH (o:Entity {id: row.object_id}) WHERE o.namespace = $namespace
OPTIONAL MATCH (s)-[old:FACT {id: row.id}]->(o)
WITH s, o, row, head(collect(old)) AS old
MERGE (s)-[f:FACT {id: row.id, passage_id: row.passage_id}]->(o)
ON CREATE SET f.namespace = $namespace, f.relation = coalesce(old.relation, row.relation)
WITH f, row, old WHERE f.embedding IS NULL
CALL db.create.setRelationshipVectorProperty(f, 'embedding', coalesce(old.embedding, row.embedding))
"""

MERGE_SYNONYMS = """
UNWIND $rows AS row
MATCH (a:Entity {id: row.entity_a}) WHERE a.namespace = $namespace
MATCH (b:Entity {id: row.entity_b}) WHERE b.namespace = $namespace
MERGE (a)-[r:SYNONYM]->(b)
ON CREATE SET r.namespace = $namespace, r.score = row.score
"""

# --- deletes -----------------------------------------------------------------------------

DOCUMENT_PASSAGES = """
MATCH (p:Passage) WHERE p.document_id IN $document_ids AND p.namespace = $namespace
RETURN p.id AS id
"""

DELETE_FACT_SUPPORT = """
MATCH ()-[f:FACT]->() WHERE f.passage_id IN $passage_ids AND f.namespace = $namespace
DELETE f
"""

MENTIONED_ENTITIES = """
MATCH (p:Passage)-[:MENTIONS]->(e:Entity) WHERE p.id IN $passage_ids AND p.namespace = $namespace
RETURN DISTINCT e.id AS id
"""

DELETE_PASSAGES = """
MATCH (p:Passage) WHERE p.id IN $passage_ids AND p.namespace = $namespace
DETACH DELETE p
"""

# DETACH also removes the entity's synonym edges (and any fact edge a malformed batch left
# without a mention of its endpoints, so nothing can dangle).
DELETE_UNMENTIONED_ENTITIES = """
MATCH (e:Entity) WHERE e.id IN $entity_ids AND e.namespace = $namespace
  AND NOT EXISTS { (:Passage)-[:MENTIONS]->(e) }
DETACH DELETE e
"""

DELETE_NAMESPACE_FACTS = """
MATCH ()-[f:FACT]->() WHERE f.namespace = $namespace
WITH f LIMIT $limit
DELETE f
RETURN count(*) AS n
"""

DELETE_NAMESPACE_PASSAGES = """
MATCH (p:Passage) WHERE p.namespace = $namespace
WITH p LIMIT $limit
DETACH DELETE p
RETURN count(*) AS n
"""

DELETE_NAMESPACE_ENTITIES = """
MATCH (e:Entity) WHERE e.namespace = $namespace
WITH e LIMIT $limit
DETACH DELETE e
RETURN count(*) AS n
"""

# --- reads -------------------------------------------------------------------------------

GRAPH_VERSION = """
MATCH (m:GraphMeta {namespace: $namespace})
RETURN m.version AS version
"""

PASSAGE_IDS = "MATCH (p:Passage) WHERE p.namespace = $namespace RETURN p.id AS id"

ENTITY_IDS = "MATCH (e:Entity) WHERE e.namespace = $namespace RETURN e.id AS id"

FACT_PAIRS = """
MATCH (s:Entity)-[f:FACT]->(o:Entity) WHERE f.namespace = $namespace
RETURN s.id AS subject_id, o.id AS object_id, count(f) AS n
"""

FACT_SOURCES = """
MATCH ()-[f:FACT]->() WHERE f.namespace = $namespace
RETURN f.id AS fact_id, f.passage_id AS passage_id
"""

MENTION_PAIRS = """
MATCH (p:Passage)-[:MENTIONS]->(e:Entity) WHERE p.namespace = $namespace
RETURN p.id AS passage_id, e.id AS entity_id
"""

SYNONYM_PAIRS = """
MATCH (a:Entity)-[r:SYNONYM]->(b:Entity) WHERE r.namespace = $namespace
RETURN a.id AS entity_a, b.id AS entity_b, r.score AS score
"""

STATS = """
RETURN
  COUNT { MATCH (p:Passage) WHERE p.namespace = $namespace } AS passages,
  COUNT { MATCH (e:Entity) WHERE e.namespace = $namespace } AS entities,
  size(COLLECT { MATCH ()-[f:FACT]->() WHERE f.namespace = $namespace RETURN DISTINCT f.id }) AS facts,
  COUNT { MATCH ()-[r:SYNONYM]->() WHERE r.namespace = $namespace } AS synonym_edges
"""

GET_PASSAGES = """
MATCH (p:Passage) WHERE p.id IN $ids AND p.namespace = $namespace
RETURN p.id AS id, p.document_id AS document_id, p.title AS title, p.text AS text
"""

GET_FACTS = """
MATCH (s:Entity)-[f:FACT]->(o:Entity) WHERE f.id IN $ids AND f.namespace = $namespace
WITH f.id AS id, s, o, head(collect(f.relation)) AS relation
RETURN id, s.id AS subject_id, s.name AS subject, relation, o.id AS object_id, o.name AS object
"""

GET_ENTITY_NAMES = """
MATCH (e:Entity) WHERE e.id IN $ids AND e.namespace = $namespace
RETURN e.id AS id, e.name AS name
"""

# --- vectors -----------------------------------------------------------------------------

VECTORS = {
    "passage": """
MATCH (p:Passage) WHERE p.namespace = $namespace AND p.embedding IS NOT NULL
RETURN p.id AS id, p.embedding AS embedding
""",
    "entity": """
MATCH (e:Entity) WHERE e.namespace = $namespace AND e.embedding IS NOT NULL
RETURN e.id AS id, e.embedding AS embedding
""",
    "fact": """
MATCH ()-[f:FACT]->() WHERE f.namespace = $namespace AND f.embedding IS NOT NULL
WITH f.id AS id, head(collect(f.embedding)) AS embedding
RETURN id, embedding
""",
}

VECTOR_COUNTS = {
    "passage": "RETURN COUNT { MATCH (p:Passage) WHERE p.namespace = $namespace } AS n",
    "entity": "RETURN COUNT { MATCH (e:Entity) WHERE e.namespace = $namespace } AS n",
    # Rows, not distinct facts: a bound on what loading them would read.
    "fact": "RETURN COUNT { MATCH ()-[f:FACT]->() WHERE f.namespace = $namespace } AS n",
}

VECTORS_BY_ID = {
    "passage": """
MATCH (p:Passage) WHERE p.id IN $ids AND p.namespace = $namespace
RETURN p.id AS id, p.embedding AS embedding
""",
    "entity": """
MATCH (e:Entity) WHERE e.id IN $ids AND e.namespace = $namespace
RETURN e.id AS id, e.embedding AS embedding
""",
    "fact": """
MATCH ()-[f:FACT]->() WHERE f.id IN $ids AND f.namespace = $namespace
WITH f.id AS id, head(collect(f.embedding)) AS embedding
RETURN id, embedding
""",
}

# Nearest neighbours from the (global, all-namespace) vector index, one row per query: how many
# neighbours came back (``n``), the lowest index score among them (scores are (1 + cos) / 2),
# and this namespace's neighbours scoring at least ``$floor`` as ``[id, cosine]`` pairs, the
# cosine recomputed from the stored vector.
_SEARCH_TAIL = """
WITH q.i AS i, q.vector AS vector, item, score
WITH i, count(*) AS n, min(score) AS lowest,
     collect(CASE WHEN score >= $floor AND item.namespace = $namespace
             THEN [item.id, vector.similarity.cosine(item.embedding, vector)] END) AS mine
RETURN i, n, lowest, mine
"""

SEARCH = {
    "passage": """
UNWIND $queries AS q
CALL db.index.vector.queryNodes($index, $k, q.vector) YIELD node AS item, score
"""
    + _SEARCH_TAIL,
    "entity": """
UNWIND $queries AS q
CALL db.index.vector.queryNodes($index, $k, q.vector) YIELD node AS item, score
"""
    + _SEARCH_TAIL,
    "fact": """
UNWIND $queries AS q
CALL db.index.vector.queryRelationships($index, $k, q.vector) YIELD relationship AS item, score
"""
    + _SEARCH_TAIL,
}
