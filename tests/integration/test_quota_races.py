"""Namespace quotas hold under concurrent submissions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading

from service.container import Container
from service.errors import TooManyRequests
from service.pipeline.documents import NewDocument
from tests.conftest import make_settings


def test_concurrent_submissions_cannot_all_pass_the_same_quota_check(tmp_path, database_settings):
    settings = make_settings(
        tmp_path,
        database=database_settings,
        limits={"max_documents_per_namespace": 5, "max_queued_jobs_per_namespace": 1},
    )
    c = Container.from_settings(settings)
    c.migrate()
    c.documents.create_namespace("q")
    accepted: list[str] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def submit(i: int) -> None:
        docs = [NewDocument(text=f"Submission {i}, document {j}.") for j in range(5)]
        start.wait()
        try:
            accepted.append(c.submit_documents("q", docs).job_id)
        except TooManyRequests as exc:
            refused.append(exc.code)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    try:
        assert len(accepted) == 1 and len(refused) == 7
        assert c.documents.count_documents("q") == 5
        _, total = c.jobs.list(namespace="q", status=None, limit=10, offset=0)
        assert total == 1
    finally:
        c.close()


def test_the_byte_quota_counts_title_metadata_and_imported_extractions(tmp_path):
    c = Container.from_settings(make_settings(tmp_path, limits={"max_bytes_per_namespace": 200}))
    c.migrate()
    c.documents.create_namespace("q")
    try:
        big_title = NewDocument(text="x", title="t" * 180, metadata={"k": "v" * 40})
        try:
            c.submit_documents("q", [big_title])
            raise AssertionError("a 1-byte text with 200+ bytes of title and metadata passed the quota")
        except TooManyRequests as exc:
            assert exc.code == "namespace_full"
        triples = [["Warsaw", "is the capital of", "Poland"]] * 10  # ~300 bytes of extraction
        openie = {
            "docs": [{"title": "W", "text": "W.", "extracted_entities": [], "extracted_triples": triples}]
        }
        import json

        try:
            c.import_openie("q", json.dumps(openie).encode())
            raise AssertionError("an import's extraction was not counted")
        except TooManyRequests as exc:
            assert exc.code == "namespace_full"
        assert c.submit_documents("q", [NewDocument(text="small", title="T")]).job_id
    finally:
        c.close()
