"""``hippograph bench``: the service's performance figures, measured in one run on this machine.

Parts (each selectable with ``--only``; ``service/bench/runner.py`` runs them in order):

- ``a`` MuSiQue-100 OpenIE import wall time next to the embedding floor of the same texts
  (``musique.py``, ``floor.py``);
- ``b`` query p50/p95 per mode on that namespace (``musique.py``);
- ``c`` freshness on the 2Wiki corpus: snapshot update after a one-document write, and the
  first query after its job returns it (``freshness.py``);
- ``d`` the walk at scale, from ``benchmarks/walk_scale.py`` when it exists (``walk.py``);
- ``e`` Neo4j ingest rate against SQL's on the same 2Wiki documents (``neo4j_rate.py``);
- ``f`` query latency in a real ``hippograph serve`` while an import runs (``serve_load.py``).

``report.py`` writes ``bench.json``, ``bench.md`` and ``bench.png``. Acceptance limits are
checked and marked in the report; nothing here asserts them.
"""
