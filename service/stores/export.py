"""Backend-neutral assembly of ``GraphExport``: every graph store feeds its raw edge lists here,
so that the PPR input is identical whatever stores the graph."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from service.domain.models import GraphExport, NodeKind


def build_export(
    passage_ids: list[str],
    entity_ids: list[str],
    fact_pairs: Iterable[tuple[str, str, int]],
    mention_pairs: Iterable[tuple[str, str]],
    synonym_pairs: Iterable[tuple[str, str, float]],
) -> GraphExport:
    """Merge the three edge sources into unordered, summed ``(i, j, weight)`` edges.

    ``fact_pairs`` are ``(subject_id, object_id, n)`` with ``n`` the number of (fact, supporting
    passage) pairs; mention edges weigh 1; synonym edges weigh their cosine. Edges touching an id
    that is not among the nodes (passages first, then entities), and self loops, are dropped.
    """
    node_ids = [*passage_ids, *entity_ids]
    kinds: list[NodeKind] = ["passage" for _ in passage_ids]
    kinds.extend("entity" for _ in entity_ids)
    index = {id_: i for i, id_ in enumerate(node_ids)}
    weights: dict[tuple[int, int], float] = defaultdict(float)

    def add(a: str, b: str, w: float) -> None:
        ia, ib = index.get(a), index.get(b)
        if ia is None or ib is None or ia == ib:
            return
        key = (ia, ib) if ia < ib else (ib, ia)
        weights[key] += float(w)

    for s, o, n in fact_pairs:
        add(s, o, n)
    for p, e in mention_pairs:
        add(p, e, 1.0)
    for a, b, score in synonym_pairs:
        add(a, b, score)
    edges = [(i, j, w) for (i, j), w in sorted(weights.items())]
    return GraphExport(node_ids=node_ids, node_kinds=kinds, edges=edges)
