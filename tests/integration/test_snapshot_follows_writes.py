"""A write extends the cached query snapshot; the result equals a snapshot built from the store,
and a query never waits for a rebuild after a change it did not make."""

from __future__ import annotations

import time

import numpy as np

from service.pipeline.documents import NewDocument
from service.retrieval.snapshot import Snapshot, build_snapshot
from tests.conftest import drain

DOCS = [
    NewDocument(title="Warsaw", text="Warsaw is the capital of Poland. The Vistula flows through Warsaw."),
    NewDocument(title="Marie Curie", text="Marie Curie was born in Warsaw. She moved to Paris in 1891."),
    NewDocument(title="Paris", text="Paris is the capital of France. The Seine flows through Paris."),
    NewDocument(title="Krakow", text="Krakow lies on the Vistula in southern Poland."),
    NewDocument(title="Pierre Curie", text="Pierre Curie was born in Paris. He married Marie Curie."),
]


def _canonical(s: Snapshot) -> dict:
    """The snapshot by ids, whatever the order of its rows and nodes."""
    node = s.node_ids
    adjacency = s.transitions.adjacency.tocoo()
    edges = sorted(
        (node[i], node[j], round(float(w), 6))
        for i, j, w in zip(adjacency.row, adjacency.col, adjacency.data, strict=True)
    )
    starts = s.fact_source_start
    return {
        "passages": {p: s.passage_matrix[r].round(6).tolist() for r, p in enumerate(s.passage_ids)},
        "passage_nodes": {p: node[s.passage_nodes[r]] for r, p in enumerate(s.passage_ids)},
        "facts": {
            f: (
                node[s.fact_subject_nodes[r]],
                node[s.fact_object_nodes[r]],
                s.fact_texts[r],
                s.fact_matrix[r].round(6).tolist(),
                sorted(s.passage_ids[x] for x in s.fact_source_rows[starts[r] : starts[r + 1]]),
            )
            for r, f in enumerate(s.fact_ids)
        },
        "edges": edges,
        "counts": {node[i]: c for i, c in enumerate(s.entity_passage_counts) if c},
        "names": {node[i]: n for i, n in s.entity_names.items()},
        "name_index": {k: sorted(node[i] for i in v) for k, v in s.name_index.items()},
        "version": s.version,
    }


def test_writes_extend_the_snapshot_to_what_a_rebuild_gives(container):
    container.documents.create_namespace("ns")
    container.submit_documents("ns", DOCS[:2])
    drain(container)
    first = container.snapshots.get("ns")  # built once, from the store
    for doc in DOCS[2:]:  # one job per document, each write extending the cached snapshot
        container.submit_documents("ns", [doc])
        drain(container)
        extended = container.snapshots.get("ns")
        assert extended.version == container.graph.graph_version("ns")
        assert _canonical(extended) == _canonical(build_snapshot(container.graph, "ns"))
    assert extended is not first and len(extended.passage_ids) == len(DOCS)
    container.submit_documents("ns", DOCS)  # nothing new: the snapshot stays as it is
    drain(container)
    assert _canonical(container.snapshots.get("ns")) == _canonical(extended)


def test_queries_rank_the_same_on_the_extended_and_the_rebuilt_snapshot(container):
    container.documents.create_namespace("ns")
    container.submit_documents("ns", DOCS[:1])
    drain(container)
    container.query("ns", "Warsaw", top_k=5)  # the snapshot now exists and will be extended
    container.submit_documents("ns", DOCS[1:])
    drain(container)
    question = "Which river flows through the city where Marie Curie was born?"
    extended = container.query("ns", question, top_k=5)
    container.snapshots.drop("ns")
    rebuilt = container.query("ns", question, top_k=5)
    assert [p.passage_id for p in extended.passages] == [p.passage_id for p in rebuilt.passages]
    assert np.allclose([p.score for p in extended.passages], [p.score for p in rebuilt.passages])


def test_a_change_made_elsewhere_is_rebuilt_in_the_background(container, monkeypatch):
    container.documents.create_namespace("ns")
    container.submit_documents("ns", DOCS[:3])
    drain(container)
    before = container.snapshots.get("ns")
    gone = container.documents.list("ns", limit=1, offset=0)[0][0].id
    container.graph.delete_documents("ns", [gone])  # as another process's delete would
    builds: list[int] = []
    real = build_snapshot

    def counted(store, namespace, **kwargs):
        builds.append(1)
        return real(store, namespace, **kwargs)

    monkeypatch.setattr("service.retrieval.snapshot.build_snapshot", counted)
    stale = container.snapshots.get("ns")  # answers at once with what it has
    assert stale is before
    deadline = time.monotonic() + 30
    while container.snapshots.get("ns").version != container.graph.graph_version("ns"):
        assert time.monotonic() < deadline, "the background rebuild never landed"
        time.sleep(0.01)
    assert builds == [1] and len(container.snapshots.get("ns").passage_ids) == 2


def test_an_empty_namespace_snapshot_is_extended_by_its_first_write(container):
    container.documents.create_namespace("ns")
    empty = container.snapshots.get("ns")
    assert empty.empty and empty.version == 0
    container.submit_documents("ns", DOCS[:1])
    drain(container)
    snapshot = container.snapshots.get("ns")
    assert _canonical(snapshot) == _canonical(build_snapshot(container.graph, "ns"))


def test_a_delete_made_here_is_not_seen_by_any_later_query(container):
    container.documents.create_namespace("ns")
    container.submit_documents(
        "ns", [*DOCS[:2], NewDocument(id="x", title="Smith", text="Agent Smith secretly owns Warsaw.")]
    )
    drain(container)
    question = "Who owns Warsaw?"
    assert any("Smith" in f.text for f in container.query("ns", question, top_k=3).facts)
    container.delete_document("ns", "x")
    after = container.query("ns", question, top_k=3)  # the very next query
    assert all("Smith" not in f.text for f in after.facts)
    assert all("Smith" not in e.name for e in after.entities)
    assert "x" not in {p.document_id for p in after.passages}
