"""The load benchmark's CI variant (benchmarks/load.py, issue #10): a few clients for a few
seconds mixing ingest, job polling, graph queries and deletes against one live
``hippograph serve`` with keys, on SQLite and on PostgreSQL. Zero 5xx, zero timeouts, no other
unexpected answer (deleting a document still being indexed included: the delete wins), and every
operation exercised. Fails, never skips, when a server cannot start.
"""

from __future__ import annotations

import pytest

from benchmarks.load import bench_database, fresh_database, load_passages

CLIENTS = 5
DURATION_S = 8.0
SEED_DOCUMENTS = 20


def _check(result: dict) -> None:
    ops, totals = result["operations"], result["totals"]
    detail = {k: v for k, v in result.items() if k != "server_log_tail"}
    log = result.get("server_log_tail", "")
    assert totals["5xx"] == 0 and totals["timeouts"] == 0 and totals["errors"] == 0, f"{detail}\n{log}"
    for op in ("ingest", "poll", "query", "delete"):
        assert ops[op]["requests"] > 0, (op, detail)
    assert result["jobs_seen_ending"]["failed"] == 0, detail


def test_load_smoke_sqlite(tmp_path):
    _check(
        bench_database(
            "sqlite",
            tmp_path / "data",
            clients=CLIENTS,
            duration_s=DURATION_S,
            passages=load_passages(),
            seed_documents=SEED_DOCUMENTS,
        )
    )


@pytest.mark.postgres
def test_load_smoke_postgres(tmp_path, postgres):
    _check(
        bench_database(
            "postgres",
            tmp_path / "data",
            database_url=fresh_database(postgres),
            clients=CLIENTS,
            duration_s=DURATION_S,
            passages=load_passages(),
            seed_documents=SEED_DOCUMENTS,
        )
    )


def test_memory_soak_smoke(tmp_path):
    """benchmarks/memory_soak.py's rounds against one server run clean (each round posts under
    ids of its own) and read the server's memory after each."""
    from benchmarks.memory_soak import soak

    result = soak(rounds=2, duration_s=4.0, clients=3, env={}, seed_documents=10)
    rounds = result["rounds"]
    assert [r["round"] for r in rounds] == [0, 1, 2]
    assert all(r["rss_mb"] > 100 for r in rounds), rounds
    assert all(r["errors"] == 0 for r in rounds[1:]), rounds
    # Every round ingested (under ids of its own: no 409) and queried.
    assert all(r["requests_by_operation"]["ingest"] > 0 for r in rounds[1:]), rounds
    assert all(r["requests_by_operation"]["query"] > 0 for r in rounds[1:]), rounds
