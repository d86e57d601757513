"""The whole service on the Neo4j backend: API round trip, and data that survives restarting
both the service and Neo4j itself (same Neo4j home dir, same SQLite file)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container
from tests.conftest import drain, make_settings
from tests.support.neo4j_server import ensure_jars, start_neo4j

pytestmark = pytest.mark.neo4j

DOCS = [
    {"id": "warsaw", "title": "Warsaw", "text": "Warsaw is the capital of Poland. Chopin lived in Warsaw."},
    {"id": "chopin", "title": "Chopin", "text": "Frederic Chopin was born in Zelazowa Wola near Warsaw."},
]


def test_neo4j_backend_round_trip_and_restart(tmp_path, embedder):
    ensure_jars()
    home = Path(tempfile.mkdtemp(prefix="hippograph-neo4j-restart-")) / "home"
    server = start_neo4j(home)  # raises (test fails) when Neo4j cannot start
    try:
        settings = make_settings(tmp_path, graph={"backend": "neo4j", "neo4j_uri": server.uri})
        container = Container.from_settings(settings, embedder=embedder)
        container.migrate()
        with TestClient(create_app(container, run_worker=False, migrate=False)) as client:
            client.post("/v1/namespaces", json={"name": "n4"})
            client.post("/v1/namespaces/n4/documents", json={"documents": [DOCS[0]]})
            drain(container)
            before = client.get("/v1/namespaces/n4/stats").json()
            client.post("/v1/namespaces/n4/documents", json={"documents": [DOCS[1]]})
            drain(container)
            hits = client.post("/v1/namespaces/n4/query", json={"query": "Where was Chopin born?"}).json()
            assert hits["passages"][0]["document_id"] == "chopin"
            stats = client.get("/v1/namespaces/n4/stats").json()
            assert stats["passages"] == 2 and stats["facts"] > before["facts"]
            assert client.get("/readyz").json()["checks"]["graph"] == "ok"

        server.stop()
        server = start_neo4j(home)  # same home dir: the graph must still be there
        settings = make_settings(tmp_path, graph={"backend": "neo4j", "neo4j_uri": server.uri})
        container = Container.from_settings(settings, embedder=embedder)
        with TestClient(create_app(container, run_worker=False, migrate=True)) as client:
            assert client.get("/v1/namespaces/n4/stats").json() == stats
            again = client.post("/v1/namespaces/n4/query", json={"query": "Where was Chopin born?"}).json()
            assert [p["passage_id"] for p in again["passages"]] == [p["passage_id"] for p in hits["passages"]]
            assert client.delete("/v1/namespaces/n4/documents/chopin").status_code == 204
            assert client.get("/v1/namespaces/n4/stats").json() == before
    finally:
        server.stop()
        shutil.rmtree(home.parent, ignore_errors=True)
