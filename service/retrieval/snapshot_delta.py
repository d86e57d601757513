"""Extending a snapshot with one graph write, instead of rebuilding it from the store.

``extend_snapshot(snapshot, batch, version)`` returns the snapshot that ``build_snapshot`` would
return after the store wrote ``batch`` (moving ``graph_version`` to ``version``), up to the order
of rows and nodes: new passages, entities and facts are appended, new edges are added to the
transition matrix. It reads nothing from the store, so a write's snapshot update costs time in
proportion to the write, plus one pass over the matrix to renormalize it.

It follows the stores' rules: the first writer of an id wins (a passage, entity or fact already
in the snapshot keeps its row, name, text and vector), a passage already present brings nothing
new (its mentions and fact pairs were written with it), and parallel edges add up.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

import numpy as np

from service.domain.models import GraphWriteBatch
from service.domain.normalize import normalize_name
from service.retrieval.snapshot import MIN_NAME_CHARS, Snapshot, name_key


def _stack(matrix: np.ndarray, rows: list[np.ndarray]) -> np.ndarray:
    if not rows:
        return matrix
    new = np.vstack([np.asarray(r, dtype=np.float32) for r in rows])
    return np.vstack([matrix, new]) if matrix.size else new


def extend_snapshot(snapshot: Snapshot, batch: GraphWriteBatch, version: int) -> Snapshot:
    node_ids = list(snapshot.node_ids)
    index = {node: i for i, node in enumerate(node_ids)}
    counts = list(snapshot.entity_passage_counts)
    edges: dict[tuple[int, int], float] = defaultdict(float)

    def node(id_: str) -> int:
        i = index.get(id_)
        if i is None:
            i = index[id_] = len(node_ids)
            node_ids.append(id_)
            counts.append(0.0)
        return i

    def edge(a: int, b: int, weight: float) -> None:
        if a != b:
            edges[(a, b) if a < b else (b, a)] += weight

    # Passages: only those the snapshot does not hold yet bring mentions and fact pairs.
    passage_row = {p: r for r, p in enumerate(snapshot.passage_ids)}
    new_passages = [p for p in batch.passages if p.id not in passage_row and p.id not in index]
    fresh = {p.id for p in new_passages}
    passage_ids = list(snapshot.passage_ids)
    passage_nodes = list(snapshot.passage_nodes)
    for p in new_passages:
        passage_row[p.id] = len(passage_ids)
        passage_ids.append(p.id)
        passage_nodes.append(node(p.id))

    entity_names = dict(snapshot.entity_names)
    name_index = {k: list(v) for k, v in snapshot.name_index.items()}
    for e in batch.entities:
        if e.id in index:
            continue
        i = node(e.id)
        entity_names[i] = e.name
        if len(normalize_name(e.name)) >= MIN_NAME_CHARS and (key := name_key(e.name)):
            name_index.setdefault(key, []).append(i)

    for m in batch.mentions:
        if m.passage_id in fresh and m.entity_id in index:
            entity = index[m.entity_id]
            edge(index[m.passage_id], entity, 1.0)
            counts[entity] += 1

    # Facts: existing rows gain the new passages that state them; new facts are appended.
    fact_row = {f: r for r, f in enumerate(snapshot.fact_ids)}
    fact_ids, texts = list(snapshot.fact_ids), list(snapshot.fact_texts)
    subjects, objects = list(snapshot.fact_subject_nodes), list(snapshot.fact_object_nodes)
    new_vectors: list[np.ndarray] = []
    new_sources: list[tuple[int, int]] = []  # (fact row, passage row)
    for f in batch.facts:
        if f.passage_id not in fresh or f.subject_id not in index or f.object_id not in index:
            continue
        s, o = index[f.subject_id], index[f.object_id]
        edge(s, o, 1.0)
        row = fact_row.get(f.id)
        if row is None:
            row = fact_row[f.id] = len(fact_ids)
            fact_ids.append(f.id)
            # as a rebuild reads it: the entities' stored names (the first writer's spelling)
            texts.append(f"{entity_names[s]} {f.relation} {entity_names[o]}")
            subjects.append(s)
            objects.append(o)
            new_vectors.append(f.embedding)
        new_sources.append((row, passage_row[f.passage_id]))

    for syn in batch.synonyms:
        a, b = index.get(syn.entity_a), index.get(syn.entity_b)
        if a is not None and b is not None:
            edge(a, b, float(syn.score))

    source_rows, source_start = _merge_sources(snapshot, new_sources, len(fact_ids))
    vector_rows = snapshot.fact_vector_rows
    if vector_rows is not None:  # shared fact vectors: each new fact brings its own row
        first = len(snapshot.fact_matrix)
        added = np.arange(first, first + len(new_vectors), dtype=vector_rows.dtype)
        vector_rows = np.concatenate([vector_rows, added])
    return replace(
        snapshot,
        version=version,
        transitions=snapshot.transitions.extended(
            len(node_ids), [(a, b, w) for (a, b), w in edges.items()]
        ),
        node_ids=node_ids,
        passage_ids=passage_ids,
        passage_matrix=_stack(snapshot.passage_matrix, [p.embedding for p in new_passages]),
        passage_nodes=np.array(passage_nodes, dtype=np.int64),
        fact_ids=fact_ids,
        fact_matrix=_stack(snapshot.fact_matrix, new_vectors),
        fact_subject_nodes=np.array(subjects, dtype=np.int64),
        fact_object_nodes=np.array(objects, dtype=np.int64),
        fact_texts=texts,
        fact_source_rows=source_rows,
        fact_source_start=source_start,
        fact_vector_rows=vector_rows,
        entity_passage_counts=np.array(counts, dtype=float),
        entity_names=entity_names,
        name_index=name_index,
        max_name_tokens=max((len(k) for k in name_index), default=0),
    )


def _merge_sources(
    snapshot: Snapshot, added: list[tuple[int, int]], n_facts: int
) -> tuple[np.ndarray, np.ndarray]:
    """The flattened ``fact_source_rows``/``fact_source_start`` with ``added`` (fact row,
    passage row) pairs merged in: each fact's passage rows sorted, without repeats."""
    starts = snapshot.fact_source_start
    old_facts = np.repeat(np.arange(len(starts) - 1, dtype=np.int64), np.diff(starts))
    facts = np.concatenate([old_facts, np.array([f for f, _ in added], dtype=np.int64)])
    rows = np.concatenate([snapshot.fact_source_rows, np.array([r for _, r in added], dtype=np.int64)])
    pairs = np.unique(np.stack([facts, rows]), axis=1)  # sorted by fact, then passage row
    source_start = np.zeros(n_facts + 1, dtype=np.int64)
    source_start[1:] = np.cumsum(np.bincount(pairs[0], minlength=n_facts))
    return pairs[1].astype(np.int64), source_start
