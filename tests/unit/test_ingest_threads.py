"""How many threads ingestion embeds with: a core stays free for queries in ``hippograph serve``."""

from __future__ import annotations

from service.llm.embedder import available_cores, ingest_threads
from service.settings import EmbeddingSettings


def test_ingestion_inside_the_api_process_leaves_a_core_to_queries():
    assert ingest_threads(EmbeddingSettings(threads=4), shares_cores_with_queries=True) == 3
    assert ingest_threads(EmbeddingSettings(threads=1), shares_cores_with_queries=True) == 1
    assert ingest_threads(EmbeddingSettings(threads=4), shares_cores_with_queries=False) == 4
    cores = available_cores()
    assert ingest_threads(EmbeddingSettings(), shares_cores_with_queries=True) == max(1, cores - 1)


def test_an_explicit_figure_wins():
    settings = EmbeddingSettings(threads=4, ingest_threads=2)
    assert ingest_threads(settings, shares_cores_with_queries=True) == 2
    assert ingest_threads(settings, shares_cores_with_queries=False) == 2


def test_the_api_process_with_its_worker_marks_the_container(tmp_path):
    from service.app import create_app
    from service.container import Container
    from tests.conftest import make_settings

    with_worker = Container.from_settings(make_settings(tmp_path))
    create_app(with_worker, run_worker=True, migrate=False)
    without = Container.from_settings(make_settings(tmp_path))
    create_app(without, run_worker=False, migrate=False)
    assert with_worker.queries_share_cores and not without.queries_share_cores
    with_worker.close()
    without.close()
