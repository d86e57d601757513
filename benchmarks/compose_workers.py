"""Ingestion throughput of the compose topology with 1, 2, 3... workers (issue #11).

    python benchmarks/compose_workers.py [--documents 2000] [--workers 1,2,3] [--per-job 100]
                                         [--postgres-url postgresql+psycopg://postgres@host:port/postgres]
                                         [--out compose_workers.json]

For each worker count, the services of `docker-compose.yml` run as processes
(``benchmarks/compose_topology.py``: the file's commands and environment; PostgreSQL and Neo4j
stand in for compose's `postgres` and `neo4j` services) on fresh, empty stores: migrate, the API,
N workers. The first ``--documents`` 2Wiki documents (../shared/data/2wiki-corpus, read in place)
are posted through the API in jobs of ``--per-job``, and the clock runs from the first POST to
the last job's end; offline extractor (compose runs without an LLM endpoint here). PostgreSQL is
a throwaway cluster (tests/support/postgres_server.py) unless ``--postgres-url`` names an admin
URL; Neo4j is started from the Maven jars (tools/neo4j) with compose's credentials.

Reports documents per second per worker count and the speed-up over one worker, with the load
average, as JSON (``--out``) and a markdown table, with the command that made it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.compose_topology import Deployment, compose_config, reset_stores  # noqa: E402

logger = logging.getLogger("compose_workers")
CORPUS = REPO.parent / "shared" / "data" / "2wiki-corpus" / "corpus.json"


def run_once(
    root: Path, config: dict, pg_url: str, neo, secrets_: dict, docs: list[dict], workers: int, per_job: int
) -> dict:
    reset_stores(pg_url, neo.uri, secrets_)
    dep = Deployment(root, config, pg_url, neo.port)
    try:
        dep.up(workers)
        headers = {"Authorization": f"Bearer {secrets_['HIPPOGRAPH_AUTH__ADMIN_KEY']}"}
        with httpx.Client(base_url=dep.api_url, headers=headers, timeout=120) as http:
            http.post("/v1/namespaces", json={"name": "bench"}).raise_for_status()
            load_before = os.getloadavg()[0]
            started = time.perf_counter()
            job_ids = []
            for start in range(0, len(docs), per_job):
                r = http.post(
                    "/v1/namespaces/bench/documents", json={"documents": docs[start : start + per_job]}
                )
                r.raise_for_status()
                job_ids.append(r.json()["job_id"])
            while True:  # one listing a second: well under the key's rate limit
                listing = http.get("/v1/jobs", params={"namespace": "bench", "limit": 1000})
                listing.raise_for_status()
                jobs = listing.json()["jobs"]
                if len(jobs) == len(job_ids) and all(j["status"] not in ("queued", "running") for j in jobs):
                    break
                time.sleep(1.0)
            elapsed = time.perf_counter() - started
            stats = http.get("/v1/namespaces/bench/stats").json()
    finally:
        dep.stop_all()
    failed = [j["id"] for j in jobs if j["status"] != "succeeded"]
    if failed:
        raise RuntimeError(f"jobs did not succeed: {failed}\n{dep.logs()}")
    return {
        "workers": workers,
        "seconds": round(elapsed, 1),
        "documents_per_s": round(len(docs) / elapsed, 2),
        "load_average_at_start": round(load_before, 2),
        "load_average_at_end": round(os.getloadavg()[0], 2),
        "stats": stats,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,3")
    parser.add_argument("--per-job", type=int, default=100)
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--out", default="compose_workers.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = "python benchmarks/compose_workers.py " + " ".join(argv if argv is not None else sys.argv[1:])

    from tests.support.neo4j_server import ensure_jars, start_neo4j
    from tests.support.postgres_server import start_postgres

    docs = [
        {"title": r["title"], "text": r["text"]} for r in json.loads(CORPUS.read_text())[: args.documents]
    ]
    secrets_ = {
        "POSTGRES_PASSWORD": "pg-" + secrets.token_hex(8),
        "NEO4J_PASSWORD": "neo4j-" + secrets.token_hex(8),
        "HIPPOGRAPH_AUTH__ADMIN_KEY": "admin-" + secrets.token_hex(16),
    }
    base = Path(tempfile.mkdtemp(prefix="hippograph-compose-bench-"))
    pg = None
    ensure_jars()
    neo = start_neo4j(base / "neo4j", auth=f"neo4j:{secrets_['NEO4J_PASSWORD']}")
    try:
        pg_url = args.postgres_url
        if pg_url is None:
            # Its own folder, as the tests do: the server runs as the postgres user.
            pg_base = Path(tempfile.mkdtemp(prefix="hippograph-pg-"))
            pg = start_postgres(pg_base)
            pg_url = pg.admin_url
        config = compose_config(secrets_)
        results = []
        for n in [int(w) for w in args.workers.split(",")]:
            logger.info("%d worker(s): %d documents", n, len(docs))
            results.append(run_once(base / f"w{n}", config, pg_url, neo, secrets_, docs, n, args.per_job))
            logger.info("%d worker(s): %.2f documents/s", n, results[-1]["documents_per_s"])
    finally:
        neo.stop()
        if pg is not None:
            pg.stop()
            shutil.rmtree(pg_base, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)
    one = results[0]["documents_per_s"]
    for r in results:
        r["speedup"] = round(r["documents_per_s"] / one, 2)
    report = {"command": command, "documents": len(docs), "cores": os.cpu_count(), "results": results}
    Path(args.out).write_text(json.dumps(report, indent=2))
    lines = [
        f"$ {command}",
        "",
        "| workers | seconds | documents/s | speed-up | load avg start → end |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['workers']} | {r['seconds']} | {r['documents_per_s']} | {r['speedup']}× | "
            f"{r['load_average_at_start']} → {r['load_average_at_end']} |"
        )
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
