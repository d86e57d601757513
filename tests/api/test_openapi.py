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


def test_every_documented_error_is_an_error_response():
    """Client generators read the error shapes from here: they must be the {"code", "detail"}
    body the service really sends, including for 422 and for malformed JSON (400)."""
    spec = yaml.safe_load((REPO / "openapi.yaml").read_text())
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for status, response in op["responses"].items():
                if int(status) >= 400 and path != "/readyz":  # readiness reports its checks
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path, status)
            if "requestBody" in op:
                assert "400" in op["responses"] and "422" in op["responses"], (method, path)
