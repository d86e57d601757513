from pathlib import Path

import yaml

from service.api.openapi import openapi_yaml

REPO = Path(__file__).resolve().parents[2]


def test_committed_openapi_matches_the_served_schema(client):
    committed = (REPO / "openapi.yaml").read_text()
    assert committed == openapi_yaml(), "openapi.yaml is stale: python -m service.api.openapi > openapi.yaml"
    served = client.get("/openapi.json").json()
    assert served == yaml.safe_load(committed)


def test_operation_ids_are_stable_and_unique():
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    assert {
        "createNamespace",
        "addDocuments",
        "getJob",
        "query",
        "importOpenIE",
        "getNamespaceStats",
        "deleteDocument",
        "cancelJob",
        "listJobs",
        "listDocuments",
        "health",
        "ready",
    } <= set(ids)
