"""The snapshot cache on the real SQL store: rebuilt (in the background) when the graph version
moves, bounded."""

from __future__ import annotations

import time

from service.pipeline.documents import NewDocument
from service.retrieval.snapshot import SnapshotCache
from tests.conftest import drain


def _fill(c, ns: str, text: str) -> None:
    c.documents.create_namespace(ns)
    c.submit_documents(ns, [NewDocument(text=text, title=ns)])
    drain(c)


def test_cache_follows_versions_and_holds_at_most_its_bound(container):
    for ns, text in [("a", "Ada lived in London."), ("b", "Bo lived in Oslo."), ("c", "Cy lived in Rome.")]:
        _fill(container, ns, text)
    cache = SnapshotCache(container.graph, max_namespaces=2)
    a = cache.get("a")
    assert cache.get("a") is a  # same version: the same object
    cache.get("b")
    cache.get("a")  # "a" is now the most recently used
    cache.get("c")  # evicts "b"
    assert cache.get("a") is a
    assert set(cache._snapshots) == {"a", "c"}
    container.submit_documents("a", [NewDocument(text="Ada met Babbage in London.", title="a2")])
    drain(container)
    assert cache.get("a") is a  # a write this cache did not see: served as it is, rebuilt aside
    deadline = time.monotonic() + 30
    while (fresh := cache.get("a")) is a:
        assert time.monotonic() < deadline, "the background rebuild never landed"
        time.sleep(0.01)
    assert fresh is not a and fresh.version > a.version and len(fresh.passage_ids) == 2
