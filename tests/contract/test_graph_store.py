"""The GraphStore contract (service/stores/base.py), run on every backend.

Each test gets a fresh store per backend (``graph_store``); ``both_stores`` feeds the same batches
to the SQL and the Neo4j store and checks that they answer identically.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from sqlalchemy.exc import IntegrityError

from service.domain import ids
from service.domain.models import (
    Entity,
    Extraction,
    Fact,
    GraphStats,
    GraphWriteBatch,
    Mention,
    Passage,
    PassageText,
    StoredFact,
    StoredPassage,
    SynonymEdge,
    Triple,
    fact_text,
)
from service.domain.normalize import normalize_name
from service.errors import GraphStoreUnavailable
from service.pipeline.batch import build_write_batch, entity_names
from service.settings import GraphSettings
from service.stores.neo4j import vector_search
from service.stores.neo4j.graph_store import DanglingReference, Neo4jGraphStore
from service.stores.vector_cache import top_k_search
from tests.contract.conftest import DIM, fake_vector
from tests.support.neo4j_server import free_port

NS = "main"
KINDS = ("passage", "entity", "fact")
EMPTY = GraphStats(passages=0, entities=0, facts=0, synonym_edges=0)

HOSTILE = [
    'O\'Brien "the `quoted`" name',
    "}) DETACH DELETE n //",
    "'; DROP TABLE entities; --",
    "東京",
    "Москва",
    "🦄 unicorn 🚀",
    "$namespace {rows} \\ back\\slash",
]


def eid(name: str, ns: str = NS) -> str:
    return ids.entity_id(ns, name)


def fid(s: str, r: str, o: str, ns: str = NS) -> str:
    return ids.fact_id(ns, s, r, o)


def make_batch(ns: str, doc_id: str, *passages, synonyms=()) -> GraphWriteBatch:
    """``passages``: ``(title, text, [(subject, relation, object), ...])``. Vectors depend on the
    content only (not the namespace), so namespace isolation cannot lean on them."""
    texts = [PassageText(doc_id, i, title, text) for i, (title, text, _) in enumerate(passages)]
    extractions = [Extraction((), tuple(Triple(*t) for t in triples)) for _, _, triples in passages]
    passage_vectors = np.vstack([fake_vector("passage", p.content) for p in texts])
    names = [n for x in extractions for n in entity_names(x)]
    entity_vectors = {ids.entity_id(ns, n): fake_vector("entity", normalize_name(n)) for n in names}
    fact_vectors = {
        fact_text(t.subject, t.relation, t.object): fake_vector(
            "fact", fact_text(t.subject, t.relation, t.object)
        )
        for x in extractions
        for t in x.triples
    }
    return build_write_batch(
        ns, doc_id, texts, extractions, passage_vectors, entity_vectors, fact_vectors, synonyms
    )


def doc_paris(ns: str = NS) -> GraphWriteBatch:
    return make_batch(
        ns,
        "doc-paris",
        ("Paris", "Paris is the capital of France.", [("Paris", "capital of", "France")]),
        (None, "Paris is twinned with Rome.", [("Paris", "twinned with", "Rome")]),
    )


def doc_france(ns: str = NS) -> GraphWriteBatch:
    return make_batch(
        ns,
        "doc-france",
        (
            "France",
            "France, whose capital is Paris, borders Spain.",
            [("Paris", "capital of", "France"), ("France", "borders", "Spain")],
        ),
    )


def doc_light(ns: str = NS) -> GraphWriteBatch:
    """Shares an entity and a fact with the two documents above, adds synonym edges to an old
    entity (Paris) and between two of its own."""
    return make_batch(
        ns,
        "doc-light",
        (
            "Light",
            "The City of Light is the capital of France; the Ville Lumière is Paris.",
            [
                ("City of Light", "nickname of", "Paris"),
                ("Paris", "capital of", "France"),
                ("Ville Lumière", "same as", "City of Light"),
            ],
        ),
        synonyms=(
            SynonymEdge.of(eid("City of Light", ns), eid("Paris", ns), 0.91),
            SynonymEdge.of(eid("City of Light", ns), eid("Ville Lumière", ns), 0.87),
        ),
    )


def vectors(store, ns: str, kind: str) -> dict[str, bytes]:
    ids_, matrix = store.export_vectors(ns, kind)
    assert len(ids_) == len(set(ids_)), f"duplicate {kind} ids"
    assert matrix.dtype == np.float32
    return {i: matrix[k].tobytes() for k, i in enumerate(ids_)}


def state(store, ns: str = NS):
    """Everything a namespace exposes, in a comparable form."""
    return (
        store.stats(ns),
        store.export_graph(ns),
        {kind: vectors(store, ns, kind) for kind in KINDS},
        store.fact_sources(ns),
    )


def assert_same_hits(got, expected) -> None:
    """Same ids in the same order; scores equal up to float32 rounding (a matrix product's
    summation order depends on its shape)."""
    assert [[i for i, _ in row] for row in got] == [[i for i, _ in row] for row in expected]
    for g_row, e_row in zip(got, expected, strict=True):
        assert [s for _, s in g_row] == pytest.approx([s for _, s in e_row], abs=1e-6)


def edge_weights(store, ns: str = NS) -> dict[tuple[str, str], float]:
    export = store.export_graph(ns)
    return {tuple(sorted((export.node_ids[i], export.node_ids[j]))): w for i, j, w in export.edges}


# --- basics --------------------------------------------------------------------------------


def test_untouched_namespace_is_empty(graph_store):
    assert graph_store.graph_version(NS) == 0
    assert graph_store.stats(NS) == EMPTY
    export = graph_store.export_graph(NS)
    assert (export.node_ids, export.node_kinds, export.edges) == ([], [], [])
    for kind in KINDS:
        ids_, matrix = graph_store.export_vectors(NS, kind)
        assert ids_ == [] and matrix.shape[0] == 0
        assert graph_store.search_vectors(NS, kind, fake_vector("q")[None, :], 5) == [[]]
    assert graph_store.get_passages(NS, ["passage-x"]) == {}
    assert graph_store.get_facts(NS, ["fact-x"]) == {}
    assert graph_store.get_entity_names(NS, ["entity-x"]) == {}
    assert graph_store.existing_entity_ids(NS, ["entity-x"]) == set()
    assert graph_store.fact_sources(NS) == []


def test_write_then_read(graph_store):
    batch = doc_paris()
    graph_store.write(batch)
    assert graph_store.graph_version(NS) == 1
    assert graph_store.stats(NS) == GraphStats(passages=2, entities=3, facts=2, synonym_edges=0)
    p0, p1 = batch.passages
    assert graph_store.get_passages(NS, [p0.id, p1.id, "passage-missing"]) == {
        p0.id: StoredPassage(p0.id, "doc-paris", "Paris", "Paris is the capital of France."),
        p1.id: StoredPassage(p1.id, "doc-paris", None, "Paris is twinned with Rome."),
    }
    capital = fid("Paris", "capital of", "France")
    assert graph_store.get_facts(NS, [capital, "fact-missing"]) == {
        capital: StoredFact(capital, eid("Paris"), "Paris", "capital of", eid("France"), "France")
    }
    names = graph_store.get_entity_names(NS, [eid("Paris"), eid("Rome"), eid("Berlin")])
    assert names == {eid("Paris"): "Paris", eid("Rome"): "Rome"}
    assert graph_store.existing_entity_ids(NS, [eid("Paris"), eid("Berlin")]) == {eid("Paris")}
    assert graph_store.fact_sources(NS) == sorted(
        [(capital, p0.id), (fid("Paris", "twinned with", "Rome"), p1.id)]
    )


def test_rewriting_a_batch_changes_nothing_but_the_version(graph_store):
    graph_store.write(doc_paris())
    graph_store.write(doc_light())
    before = state(graph_store)
    graph_store.write(doc_light())
    graph_store.write(doc_paris())
    assert state(graph_store) == before
    assert graph_store.graph_version(NS) == 4


def test_lookups_take_any_iterable_and_many_ids(graph_store):
    graph_store.write(doc_light())
    wanted = [eid(n) for n in ("Paris", "France", "City of Light")]
    lookups = (f"entity-{i:032x}" for i in range(50))  # more ids than one Neo4j chunk
    assert graph_store.existing_entity_ids(NS, iter([*lookups, *wanted])) == set(wanted)
    assert set(graph_store.get_entity_names(NS, tuple(wanted))) == set(wanted)


# --- sharing and deleting --------------------------------------------------------------------


def test_second_passage_shares_entities_and_facts(graph_store):
    graph_store.write(doc_paris())
    graph_store.write(doc_france())
    capital = fid("Paris", "capital of", "France")
    assert graph_store.stats(NS) == GraphStats(passages=3, entities=4, facts=3, synonym_edges=0)
    assert edge_weights(graph_store)[tuple(sorted((eid("Paris"), eid("France"))))] == 2.0
    assert [p for f, p in graph_store.fact_sources(NS) if f == capital] == sorted(
        [doc_paris().passages[0].id, doc_france().passages[0].id]
    )

    graph_store.delete_documents(NS, ["doc-paris"])
    assert graph_store.stats(NS) == GraphStats(passages=1, entities=3, facts=2, synonym_edges=0)
    assert graph_store.existing_entity_ids(NS, [eid(n) for n in ("Paris", "France", "Rome", "Spain")]) == {
        eid("Paris"),
        eid("France"),
        eid("Spain"),
    }
    assert set(graph_store.get_facts(NS, [capital, fid("Paris", "twinned with", "Rome")])) == {capital}
    assert edge_weights(graph_store)[tuple(sorted((eid("Paris"), eid("France"))))] == 1.0
    assert graph_store.fact_sources(NS) == sorted(
        (f, doc_france().passages[0].id) for f in (capital, fid("France", "borders", "Spain"))
    )

    graph_store.delete_documents(NS, ["doc-france"])
    assert graph_store.stats(NS) == EMPTY
    assert state(graph_store)[1:] == state(graph_store, "never-used")[1:]


def test_delete_restores_the_state_before_the_ingest(graph_store):
    graph_store.write(doc_paris())
    graph_store.write(doc_france())
    before = state(graph_store)
    graph_store.write(doc_light())
    after_write = state(graph_store)
    assert after_write[0] == GraphStats(passages=4, entities=6, facts=5, synonym_edges=2)

    graph_store.delete_documents(NS, ["doc-light"])
    assert state(graph_store) == before

    graph_store.write(doc_light())  # and back again
    assert state(graph_store) == after_write


def test_delete_of_nothing(graph_store):
    graph_store.write(doc_paris())
    before = state(graph_store)
    graph_store.delete_documents(NS, [])
    assert graph_store.graph_version(NS) == 1
    graph_store.delete_documents(NS, ["doc-unknown"])
    assert graph_store.graph_version(NS) == 2
    assert state(graph_store) == before


def test_delete_namespace(graph_store):
    for ns in ("gone", "kept"):
        graph_store.write(doc_paris(ns))
        graph_store.write(doc_light(ns))
    kept = state(graph_store, "kept")
    before = graph_store.graph_version("gone")
    graph_store.delete_namespace("gone")
    # The version moves on and is kept: a namespace re-created under the same name must never
    # reuse a version a cache may hold a snapshot of.
    deleted = graph_store.graph_version("gone")
    assert deleted > before == 2
    assert state(graph_store, "gone") == state(graph_store, "never-used")
    assert state(graph_store, "kept") == kept and graph_store.graph_version("kept") == 2
    graph_store.delete_namespace("gone")  # repeating it is harmless
    assert state(graph_store, "gone") == state(graph_store, "never-used")
    graph_store.write(doc_paris("gone"))
    assert graph_store.stats("gone") == GraphStats(passages=2, entities=3, facts=2, synonym_edges=0)
    assert graph_store.graph_version("gone") > deleted
    graph_store.delete_namespace("never-used")  # a namespace that never had a graph
    assert graph_store.stats("never-used") == GraphStats(passages=0, entities=0, facts=0, synonym_edges=0)


def test_batch_with_a_dangling_reference_is_rejected_whole(graph_store):
    graph_store.write(doc_paris())
    before = state(graph_store)
    bad = make_batch(
        NS,
        "doc-bad",
        ("Bad", "Berlin is the capital of Germany.", [("Berlin", "capital of", "Germany")]),
        synonyms=(SynonymEdge.of(eid("Berlin"), eid("Nowhere"), 0.95),),
    )
    with pytest.raises((IntegrityError, DanglingReference)):  # SQL: foreign key; Neo4j: checked
        graph_store.write(bad)
    assert state(graph_store) == before
    assert graph_store.graph_version(NS) == 1


# --- export ---------------------------------------------------------------------------------


def test_export_graph_nodes_and_edge_weights(graph_store):
    ns = NS
    batch = make_batch(
        ns,
        "doc-w",
        ("w1", "A and B.", [("A", "r1", "B"), ("A", "r2", "B"), ("B", "r3", "A")]),
        ("w2", "A, B, C and D.", [("A", "r1", "B"), ("C", "r4", "D")]),
        synonyms=(SynonymEdge.of(eid("A"), eid("C"), 0.85), SynonymEdge.of(eid("A"), eid("B"), 0.9)),
    )
    graph_store.write(batch)
    export = graph_store.export_graph(ns)
    p1, p2 = sorted(p.id for p in batch.passages)
    entities = sorted(eid(n) for n in "ABCD")
    assert export.node_ids == [p1, p2, *entities]
    assert export.node_kinds == ["passage", "passage", "entity", "entity", "entity", "entity"]
    assert all(i < j for i, j, _ in export.edges)
    assert [(i, j) for i, j, _ in export.edges] == sorted((i, j) for i, j, _ in export.edges)

    def pair(a, b):
        return tuple(sorted((a, b)))

    w1, w2 = (p.id for p in batch.passages)
    expected = {
        pair(eid("A"), eid("B")): 4 + 0.9,  # (r1, w1), (r2, w1), (r3, w1), (r1, w2) + synonym
        pair(eid("C"), eid("D")): 1.0,
        pair(eid("A"), eid("C")): 0.85,
        **{pair(w1, eid(n)): 1.0 for n in "AB"},
        **{pair(w2, eid(n)): 1.0 for n in "ABCD"},
    }
    got = edge_weights(graph_store, ns)
    assert got.keys() == expected.keys()
    for key, weight in expected.items():
        assert got[key] == pytest.approx(weight, abs=1e-12)


@pytest.mark.neo4j
def test_backends_agree_on_the_same_batches(both_stores, neo4j_settings):
    sql_store, neo_store = both_stores
    # never loads vectors: native index search (neo_store loads them: both paths against SQL)
    neo_reader = Neo4jGraphStore.connect(neo4j_settings.model_copy(update={"neo4j_load_vectors_below": 0}))
    batches = [
        doc_paris(),
        doc_france(),
        doc_light(),
        doc_paris("other"),
        hostile_batch(),
        make_batch(
            NS,
            "doc-w",
            ("w", "A, B, C.", [("A", "r1", "B"), ("A", "r2", "B"), ("B", "r3", "C")]),
            synonyms=(SynonymEdge.of(eid("A"), eid("Paris"), 0.8125),),
        ),
    ]
    for store in both_stores:
        for batch in batches:
            store.write(batch)

    def compare(search: bool = True):
        for ns in (NS, "other", HOSTILE_NS):
            assert state(sql_store, ns) == state(neo_store, ns)
            assert sql_store.graph_version(ns) == neo_store.graph_version(ns)
            entity_ids = sql_store.export_graph(ns).node_ids
            fact_ids = [f for f, _ in sql_store.fact_sources(ns)]
            for method in ("get_passages", "get_facts", "get_entity_names", "existing_entity_ids"):
                assert getattr(sql_store, method)(ns, entity_ids + fact_ids) == getattr(neo_store, method)(
                    ns, entity_ids + fact_ids
                )
            queries = np.vstack([fake_vector("query", str(i)) for i in range(6)])
            for kind in KINDS if search else ():
                for top_k, min_score in ((1, -1.0), (3, -1.0), (50, -1.0), (5, 0.2)):
                    expected = sql_store.search_vectors(ns, kind, queries, top_k, min_score)
                    assert_same_hits(neo_reader.search_vectors(ns, kind, queries, top_k, min_score), expected)
                    assert_same_hits(neo_store.search_vectors(ns, kind, queries, top_k, min_score), expected)

    compare()
    for store in both_stores:
        store.delete_documents(NS, ["doc-light", "doc-paris"])
    compare()
    for store in both_stores:
        store.delete_namespace("other")
    compare(search=False)
    neo_reader.close()


# --- vectors --------------------------------------------------------------------------------


def test_export_vectors_returns_what_was_written(graph_store):
    batch = doc_light()
    graph_store.write(batch)
    for kind, items in (("passage", batch.passages), ("entity", batch.entities), ("fact", batch.facts)):
        ids_, matrix = graph_store.export_vectors(NS, kind)
        assert ids_ == sorted({i.id for i in items})
        assert matrix.shape == (len(ids_), DIM) and matrix.dtype == np.float32
        written = {i.id: np.asarray(i.embedding, np.float32) for i in items}
        for k, id_ in enumerate(ids_):
            np.testing.assert_array_equal(matrix[k], written[id_])


def test_vectors_follow_later_writes_and_deletes(graph_store):
    graph_store.write(doc_paris())
    assert set(vectors(graph_store, NS, "entity")) == {eid(n) for n in ("Paris", "France", "Rome")}
    graph_store.write(doc_light())  # read once above: a cache, if any, must follow
    assert set(vectors(graph_store, NS, "entity")) == {
        eid(n) for n in ("Paris", "France", "Rome", "City of Light", "Ville Lumière")
    }
    assert len(vectors(graph_store, NS, "fact")) == 4
    graph_store.delete_documents(NS, ["doc-paris"])
    assert set(vectors(graph_store, NS, "entity")) == {
        eid(n) for n in ("Paris", "France", "City of Light", "Ville Lumière")
    }
    assert set(vectors(graph_store, NS, "passage")) == {p.id for p in doc_light().passages}


def test_a_fact_stated_twice_in_one_document_has_one_vector(graph_store):
    graph_store.write(doc_paris())
    vectors(graph_store, NS, "fact")  # warm any cache
    twice = make_batch(
        NS,
        "doc-twice",
        ("a", "Berlin is the capital of Germany.", [("Berlin", "capital of", "Germany")]),
        ("b", "Germany's capital: Berlin.", [("Berlin", "capital of", "Germany")]),
    )
    graph_store.write(twice)
    assert set(vectors(graph_store, NS, "fact")) == {f.id for f in doc_paris().facts} | {
        fid("Berlin", "capital of", "Germany")
    }


def test_search_vectors_ranking_k_and_min_score(graph_store):
    graph_store.write(doc_paris())
    graph_store.write(doc_light())
    names = ["Paris", "France", "Rome", "City of Light", "Ville Lumière"]
    ids_ = sorted(eid(n) for n in names)
    by_id = {eid(n): fake_vector("entity", normalize_name(n)) for n in names}
    matrix = np.vstack([by_id[i] for i in ids_])
    queries = np.vstack([by_id[eid("Rome")], fake_vector("query", "x"), fake_vector("query", "y")])

    hits = graph_store.search_vectors(NS, "entity", queries, 10)
    expected = top_k_search(ids_, matrix, queries, 10, -1.0)
    assert [[i for i, _ in row] for row in hits] == [[i for i, _ in row] for row in expected]
    assert hits[0][0][0] == eid("Rome") and hits[0][0][1] == pytest.approx(1.0, abs=1e-6)
    for row, e_row in zip(hits, expected, strict=True):
        assert len(row) == len(names)
        assert [s for _, s in row] == pytest.approx([s for _, s in e_row], abs=1e-6)
        assert [s for _, s in row] == sorted((s for _, s in row), reverse=True)

    assert [len(r) for r in graph_store.search_vectors(NS, "entity", queries, 2)] == [2, 2, 2]
    assert graph_store.search_vectors(NS, "entity", queries, 0) == [[], [], []]
    scores = [s for _, s in hits[1]]
    cut = (scores[1] + scores[2]) / 2
    narrowed = graph_store.search_vectors(NS, "entity", queries[1:2], 10, min_score=cut)
    assert narrowed == [hits[1][:2]] or [i for i, _ in narrowed[0]] == [i for i, _ in hits[1][:2]]
    assert graph_store.search_vectors(NS, "entity", queries, 10, min_score=1.01) == [[], [], []]

    light = doc_light().passages[0]
    found = graph_store.search_vectors(
        NS, "passage", fake_vector("passage", f"{light.title}\n{light.text}")[None, :], 1
    )
    assert found[0][0][0] == light.id
    key = fact_text("City of Light", "nickname of", "Paris")
    found = graph_store.search_vectors(NS, "fact", fake_vector("fact", key)[None, :], 2)
    assert found[0][0][0] == fid("City of Light", "nickname of", "Paris")
    assert len(found[0]) == 2


@pytest.mark.parametrize("max_fetch", [vector_search.MAX_FETCH, 64])
def test_search_vectors_in_a_small_namespace_beside_a_large_one(open_store, max_fetch, monkeypatch):
    """A vector index that spans namespaces must neither leak nor starve the small one. The
    searching instance never loads vectors, so a Neo4j store answers from its native index; with
    a small ``MAX_FETCH`` the small namespace needs the exact fallback."""
    monkeypatch.setattr(vector_search, "MAX_FETCH", max_fetch)
    writer = open_store()
    people = [f"Person {i}" for i in range(90)]
    triples = [(people[i], "knows", people[(i * 7 + 1) % len(people)]) for i in range(len(people))]
    writer.write(make_batch("big", "doc-big", ("Big", "Everyone knows someone.", triples)))
    writer.write(make_batch("small", "doc-small", ("Small", "Ann knows Bob.", [("Ann", "knows", "Bob")])))
    reader = open_store(index_only=True)
    queries = np.vstack([fake_vector("query", str(i)) for i in range(8)])
    for ns, kind in (("big", "entity"), ("big", "fact"), ("small", "entity"), ("small", "fact")):
        ids_, matrix = writer.export_vectors(ns, kind)
        for top_k, min_score in ((1, -1.0), (5, -1.0), (40, 0.1), (200, -1.0), (3, 0.5)):
            expected = top_k_search(ids_, matrix, queries, top_k, min_score)
            assert_same_hits(reader.search_vectors(ns, kind, queries, top_k, min_score), expected)


def test_another_instance_follows_writes_and_deletes(open_store):
    """Two instances over one database (an API process and a worker): caches follow the version."""
    writer, reader = open_store(), open_store()
    writer.write(doc_paris())
    assert set(vectors(reader, NS, "entity")) == {eid(n) for n in ("Paris", "France", "Rome")}
    writer.write(doc_light())
    assert eid("City of Light") in vectors(reader, NS, "entity")
    query = fake_vector("entity", normalize_name("City of Light"))[None, :]
    assert reader.search_vectors(NS, "entity", query, 1)[0][0][0] == eid("City of Light")
    writer.delete_documents(NS, ["doc-light"])
    assert eid("City of Light") not in vectors(reader, NS, "entity")
    assert reader.search_vectors(NS, "entity", query, 1)[0][0][0] != eid("City of Light")
    assert state(reader) == state(writer)


# --- versions and namespaces ----------------------------------------------------------------


def test_graph_version_is_monotonic_per_namespace(graph_store):
    seen = [graph_store.graph_version(NS)]
    for step in (
        lambda: graph_store.write(doc_paris()),
        lambda: graph_store.write(doc_paris()),
        lambda: graph_store.write(doc_light()),
        lambda: graph_store.delete_documents(NS, ["doc-paris"]),
        lambda: graph_store.delete_documents(NS, ["doc-unknown"]),
    ):
        step()
        seen.append(graph_store.graph_version(NS))
    assert seen == sorted(set(seen)) and seen[0] == 0
    assert graph_store.graph_version("other") == 0


def test_namespaces_with_the_same_content_are_isolated(graph_store):
    alpha, beta = doc_light("alpha"), doc_light("beta")
    graph_store.write(alpha)
    graph_store.write(beta)
    beta_state = state(graph_store, "beta")
    assert state(graph_store, "alpha")[0] == beta_state[0]
    beta_ids = [p.id for p in beta.passages] + [e.id for e in beta.entities] + [f.id for f in beta.facts]
    alpha_ids = [p.id for p in alpha.passages] + [e.id for e in alpha.entities] + [f.id for f in alpha.facts]
    assert not set(beta_ids) & set(alpha_ids)
    assert graph_store.get_passages("alpha", beta_ids) == {}
    assert graph_store.get_facts("alpha", beta_ids) == {}
    assert graph_store.get_entity_names("alpha", beta_ids) == {}
    assert graph_store.existing_entity_ids("alpha", beta_ids) == set()
    assert not set(graph_store.export_graph("alpha").node_ids) & set(beta_ids)
    # identical vectors live in both namespaces: only the namespace can tell them apart
    query = fake_vector("entity", normalize_name("Paris"))[None, :]
    for kind in KINDS:
        found = {i for i, _ in graph_store.search_vectors("alpha", kind, query, 100)[0]}
        assert found and not found & set(beta_ids)

    graph_store.delete_documents("alpha", ["doc-light"])
    assert graph_store.stats("alpha") == EMPTY
    assert state(graph_store, "beta") == beta_state


def test_concurrent_writers_of_one_namespace_lose_nothing(graph_store):
    batches = [
        make_batch(
            NS,
            f"doc-{i}",
            (
                f"t{i}",
                f"Hub and spoke {i}.",
                [("Hub", f"rel {i % 3}", f"Spoke {i % 4}"), (f"Spoke {i % 4}", "near", "Hub")],
            ),
        )
        for i in range(12)
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(graph_store.write, batches))
    assert graph_store.graph_version(NS) == 12
    # 12 distinct (Hub, rel i%3, Spoke i%4) facts + 4 (Spoke, near, Hub) facts
    assert graph_store.stats(NS) == GraphStats(passages=12, entities=5, facts=16, synonym_edges=0)
    weights = edge_weights(graph_store)
    for j in range(4):  # 3 passages per spoke, each with 2 facts between Hub and that spoke
        assert weights[tuple(sorted((eid("Hub"), eid(f"Spoke {j}"))))] == 6.0
    assert len(vectors(graph_store, NS, "fact")) == 16


def test_unreachable_neo4j_is_graph_store_unavailable():
    settings = GraphSettings(backend="neo4j", neo4j_uri=f"bolt://127.0.0.1:{free_port()}")
    with pytest.raises(GraphStoreUnavailable):
        Neo4jGraphStore.connect(settings)


# --- hostile input --------------------------------------------------------------------------

HOSTILE_NS = "ns'}) MATCH (n) DETACH DELETE n //"
HOSTILE_DOC = "doc\"}) DETACH DELETE n; '; DROP TABLE passages; --"


def hostile_batch() -> GraphWriteBatch:
    triples = [
        (HOSTILE[i], HOSTILE[-1 - i] + " rel`}", HOSTILE[(i + 1) % len(HOSTILE)]) for i in range(len(HOSTILE))
    ]
    return make_batch(
        HOSTILE_NS,
        HOSTILE_DOC,
        (HOSTILE[1], "Text with 'quotes', \"double\", `ticks`, }) DETACH DELETE n // and 東京.", triples),
        ("🦄", "'; DROP TABLE entities; -- Москва", [(HOSTILE[4], HOSTILE[2], HOSTILE[3])]),
        synonyms=(
            SynonymEdge.of(
                ids.entity_id(HOSTILE_NS, HOSTILE[3]), ids.entity_id(HOSTILE_NS, HOSTILE[4]), 0.83
            ),
        ),
    )


def test_hostile_strings_are_stored_verbatim_and_harm_nothing(graph_store):
    graph_store.write(doc_paris())
    control = state(graph_store)
    batch = hostile_batch()
    graph_store.write(batch)

    assert graph_store.get_passages(HOSTILE_NS, [p.id for p in batch.passages]) == {
        p.id: StoredPassage(p.id, HOSTILE_DOC, p.title, p.text) for p in batch.passages
    }
    assert graph_store.get_entity_names(HOSTILE_NS, [e.id for e in batch.entities]) == {
        e.id: e.name for e in batch.entities
    }
    assert sorted(e.name for e in batch.entities) == sorted(HOSTILE)
    assert graph_store.get_facts(HOSTILE_NS, [f.id for f in batch.facts]) == {
        f.id: StoredFact(f.id, f.subject_id, f.subject, f.relation, f.object_id, f.object)
        for f in batch.facts
    }
    assert graph_store.stats(HOSTILE_NS) == GraphStats(
        passages=2, entities=len(HOSTILE), facts=len(HOSTILE) + 1, synonym_edges=1
    )
    assert state(graph_store) == control

    graph_store.delete_documents(HOSTILE_NS, [HOSTILE_DOC])
    assert graph_store.stats(HOSTILE_NS) == EMPTY
    graph_store.write(batch)
    graph_store.delete_namespace(HOSTILE_NS)
    assert graph_store.stats(HOSTILE_NS) == EMPTY
    assert state(graph_store) == control


# --- first write wins -----------------------------------------------------------------------


def _single_fact_batch(doc_id: str, subject: str, relation: str, obj: str, seed: str) -> GraphWriteBatch:
    """A hand-built batch (no build_write_batch): surface forms and vectors chosen by the test."""
    pid = ids.passage_id(NS, doc_id, 0, f"{subject} {relation} {obj}")
    s, o = eid(subject), eid(obj)
    return GraphWriteBatch(
        namespace=NS,
        document_ids=(doc_id,),
        passages=(Passage(pid, doc_id, 0, None, f"{subject} {relation} {obj}", fake_vector("p", seed)),),
        entities=(
            Entity(s, subject, fake_vector("s", seed)),
            Entity(o, obj, fake_vector("o", seed)),
        ),
        facts=(Fact(fid(subject, relation, obj), s, relation, o, subject, obj, pid, fake_vector("f", seed)),),
        mentions=(Mention(pid, s), Mention(pid, o)),
    )


def test_first_write_wins_for_names_relations_and_vectors(graph_store):
    first = _single_fact_batch("doc-1", "Paris", "capital of", "France", "first")
    second = _single_fact_batch("doc-2", "PARIS", "Capital  Of", "france", "second")
    assert first.facts[0].id == second.facts[0].id and first.entities[0].id == second.entities[0].id
    graph_store.write(first)
    graph_store.write(second)
    fact = first.facts[0]

    def check() -> None:
        assert graph_store.get_facts(NS, [fact.id])[fact.id].relation == "capital of"
        assert graph_store.get_entity_names(NS, [fact.subject_id])[fact.subject_id] == "Paris"
        assert vectors(graph_store, NS, "fact")[fact.id] == fake_vector("f", "first").tobytes()
        assert vectors(graph_store, NS, "entity")[fact.subject_id] == fake_vector("s", "first").tobytes()

    check()
    assert graph_store.stats(NS) == GraphStats(passages=2, entities=2, facts=1, synonym_edges=0)
    assert edge_weights(graph_store)[tuple(sorted((fact.subject_id, fact.object_id)))] == 2.0
    graph_store.delete_documents(NS, ["doc-1"])  # the fact lives on through doc-2, unchanged
    check()
    assert graph_store.stats(NS) == GraphStats(passages=1, entities=2, facts=1, synonym_edges=0)
