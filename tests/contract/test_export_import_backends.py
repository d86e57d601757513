"""The move an embedded deployment makes when it grows: a namespace on SQLite (the SQL graph
backend) exported to a file and imported into PostgreSQL + Neo4j gives the same stats, the same
graph (an order-independent digest of nodes and edges) and the same rankings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.container import Container
from service.pipeline.documents import NewDocument
from service.pipeline.transfer_format import open_for_writing
from service.settings import GraphSettings
from tests.conftest import drain, make_settings, shared_data
from tests.contract.conftest import _clean_neo4j
from tests.contract.test_ingest_order import _drop_vector_indexes, graph_digest

pytestmark = [pytest.mark.data, pytest.mark.neo4j, pytest.mark.postgres]

NS = "moving"
N_DOCS = 150


def _documents() -> list[NewDocument]:
    corpus = json.loads(shared_data("2wiki-corpus", "corpus.json").read_text())[:N_DOCS]
    docs = [NewDocument(text=p["text"], title=p["title"], metadata={"i": i}) for i, p in enumerate(corpus)]
    multihop = json.loads(shared_data("sample-multihop", "corpus.json").read_text())
    return docs + [NewDocument(text=p["text"], title=p["title"]) for p in multihop]


def _queries() -> list[str]:
    questions = json.loads(shared_data("sample-multihop", "questions.json").read_text())
    corpus = json.loads(shared_data("2wiki-corpus", "corpus.json").read_text())[:N_DOCS:15]
    return [q["question"] for q in questions] + [f"Who was {p['title']}?" for p in corpus]


def _rankings(c: Container) -> list[list[tuple[str, float]]]:
    return [
        [(p.passage_id, round(p.score, 4)) for p in c.query(NS, q, top_k=10).passages] for q in _queries()
    ]


def test_sqlite_to_postgres_and_neo4j(tmp_path: Path, embedder, pg_url: str, neo4j_settings: GraphSettings):
    source = Container.from_settings(
        make_settings(tmp_path / "sqlite", extraction={"extractor": "offline", "max_passage_words": 60}),
        embedder=embedder,
    )
    _clean_neo4j(neo4j_settings)
    _drop_vector_indexes(neo4j_settings)
    dest = Container.from_settings(
        make_settings(
            tmp_path / "server",
            database={"url": pg_url},
            graph={"backend": "neo4j", "neo4j_uri": neo4j_settings.neo4j_uri},
        ),
        embedder=embedder,
    )
    try:
        source.migrate()
        source.documents.create_namespace(NS)
        source.submit_documents(NS, _documents())
        drain(source)
        file = tmp_path / "moving.jsonl.gz"
        with open_for_writing(str(file)) as out:
            exported = source.export_namespace(NS, out)
        assert exported.documents == N_DOCS + 8 and exported.to_extract == 0

        dest.migrate()
        imported = dest.import_namespace(file)
        drain(dest)
        assert all(dest.jobs.get(j).status == "succeeded" for j in imported.job_ids)

        stats = source.stats(NS)
        assert stats.passages > stats.documents  # documents of several passages moved as they were
        assert dest.stats(NS) == stats
        assert graph_digest(dest.graph, NS) == graph_digest(source.graph, NS)
        assert _rankings(dest) == _rankings(source)
    finally:
        source.close()
        dest.close()
        # The session's Neo4j goes back as the contract suite's other tests expect it: empty,
        # with no 384-dimensional vector index (they index 8-dimensional fake vectors).
        _clean_neo4j(neo4j_settings)
        _drop_vector_indexes(neo4j_settings)
