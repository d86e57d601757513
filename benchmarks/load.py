"""Load: N concurrent clients for a while against one live ``hippograph serve`` (issue #10).

    python benchmarks/load.py [--clients 20] [--duration 60] [--databases sqlite,postgres]
                              [--postgres-url postgresql+psycopg://postgres@host:port/postgres]
                              [--out load.json]

For each database the script starts its own server (``benchmarks/live_server.py``: API keys on,
in-process worker on, offline extractor) on a fresh data dir; PostgreSQL is a throwaway cluster
(``tests/support/postgres_server.py``, as the tests start it) unless ``--postgres-url`` names an
admin URL, on which a fresh database is created. First, untimed, ``--seed-documents``
passages (200) are indexed, so queries rank a real graph and deletes find indexed documents
(shared out among the clients). Then every client uses one namespace key (scope write,
``requests_per_minute`` 0: rate limits are not what is measured) and loops with no pause, each
step picking one of:

- ``ingest``: POST 1-3 short documents (2Wiki passages, read in place from
  ../shared/data/2wiki-corpus/corpus.json, under ids of its own); at most one job per client
  in flight (meanwhile an ingest step queries instead), so the namespace never reaches its
  queued-jobs quota;
- ``poll``: GET its job until it ends;
- ``query``: a graph-mode query about a passage title;
- ``delete``: DELETE one of its documents, indexed or still pending (the delete wins: issue
  #11); any answer but 204 is an error. ``conflicts`` counts 409s (also among the errors).

Per operation it reports requests, errors (any other unexpected answer or a failed request),
timeouts, 5xx and p50/p95 latency in ms. Expected under load: zero 5xx and zero timeouts. The
report is JSON (``--out``) and a markdown table, with the command that made it.
"""

from __future__ import annotations

import argparse
import json
import random
import shlex
import shutil
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.live_server import LiveServer  # noqa: E402

CORPUS = REPO.parent / "shared/data/2wiki-corpus/corpus.json"
OPERATIONS = ("ingest", "poll", "query", "delete")
WEIGHTS = {"ingest": 3, "poll": 3, "query": 4, "delete": 2}
NAMESPACE = "load"
# When the 2Wiki corpus is not beside the repository (the CI smoke test still runs).
FALLBACK_PASSAGES = [
    {"title": "Marie Curie", "text": "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics."},
    {"title": "Warsaw", "text": "Warsaw is the capital of Poland, on the Vistula river."},
    {"title": "Pierre Curie", "text": "Pierre Curie married Marie Curie in 1895 in Sceaux."},
    {"title": "Vistula", "text": "The Vistula is the longest river in Poland."},
    {"title": "Sceaux", "text": "Sceaux is a commune in the southern suburbs of Paris."},
    {"title": "Paris", "text": "Paris is the capital of France, on the Seine."},
]


def load_passages(path: Path = CORPUS) -> list[dict]:
    if not path.exists():
        return FALLBACK_PASSAGES
    corpus = json.loads(path.read_text())
    return [{"title": p.get("title"), "text": p["text"]} for p in corpus if p.get("text")]


@dataclass
class OpStats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    conflicts: int = 0
    timeouts: int = 0
    server_errors: int = 0
    samples: list[str] = field(default_factory=list)  # a few unexpected answers, for the report

    def summary(self) -> dict:
        lat = np.array(self.latencies_ms) if self.latencies_ms else np.zeros(1)
        return {
            "requests": len(self.latencies_ms) + self.timeouts,
            "errors": self.errors,
            "conflicts": self.conflicts,
            "timeouts": self.timeouts,
            "5xx": self.server_errors,
            "p50_ms": round(float(np.percentile(lat, 50)), 1),
            "p95_ms": round(float(np.percentile(lat, 95)), 1),
            "samples": self.samples[:5],
        }


class Recorder:
    """Thread-safe per-operation counters."""

    def __init__(self) -> None:
        self.ops = {op: OpStats() for op in OPERATIONS}
        self.lock = threading.Lock()

    def call(self, op: str, client: httpx.Client, method: str, url: str, ok: tuple[int, ...], **kw):
        """One request; returns the response when its status is in ``ok``, else None. Every
        outcome is counted."""
        started = time.perf_counter()
        try:
            r = client.request(method, url, **kw)
        except httpx.TimeoutException:
            with self.lock:
                self.ops[op].timeouts += 1
            return None
        except httpx.HTTPError as exc:
            with self.lock:
                self.ops[op].errors += 1
                self.ops[op].samples.append(f"{method} {url}: {exc!r}")
            return None
        ms = (time.perf_counter() - started) * 1000
        with self.lock:
            stats = self.ops[op]
            stats.latencies_ms.append(ms)
            if r.status_code in ok:
                return r
            stats.conflicts += r.status_code == 409
            stats.errors += 1
            stats.server_errors += r.status_code >= 500
            stats.samples.append(f"{method} {url}: {r.status_code} {r.text[:200]}")
        return None


def _client_loop(
    n: int,
    base_url: str,
    key: str,
    passages: list[dict],
    until: float,
    rec: Recorder,
    timeout_s: float,
    owned: list[str],
    id_prefix: str = "c",
) -> dict:
    rnd = random.Random(n)
    job: str | None = None
    pending: list[str] = []  # documents of the job in flight
    docs: list[str] = list(owned)  # indexed documents this client may delete
    jobs = {"succeeded": 0, "failed": 0, "cancelled": 0}
    counter = 0
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=timeout_s) as client:
        while time.monotonic() < until:
            op = rnd.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
            if op == "ingest" and job is not None:
                op = "query"  # one job in flight per client: do something else meanwhile
            if op == "poll" and job is None:
                op = "query"
            # Mostly indexed documents; one in five deletes aims at the job in flight (the
            # delete must win over the pending ingestion).
            from_pending = op == "delete" and bool(pending) and rnd.random() < 0.2
            if op == "delete" and not docs and not from_pending:
                op = "query"
            if op == "ingest":
                batch = []
                for _ in range(rnd.randint(1, 3)):
                    counter += 1
                    p = rnd.choice(passages)
                    batch.append({"id": f"{id_prefix}{n}-{counter}", "title": p["title"], "text": p["text"]})
                r = rec.call(
                    "ingest",
                    client,
                    "POST",
                    f"/v1/namespaces/{NAMESPACE}/documents",
                    (202,),
                    json={"documents": batch},
                )
                if r is not None:
                    job, pending = r.json()["job_id"], r.json()["document_ids"]
            elif op == "poll":
                r = rec.call("poll", client, "GET", f"/v1/jobs/{job}", (200,))
                if r is not None and r.json()["status"] in jobs:
                    jobs[r.json()["status"]] += 1
                    docs.extend(d for d in pending if d not in docs)
                    job, pending = None, []
            elif op == "query":
                title = rnd.choice(passages)["title"] or "the river"
                rec.call(
                    "query",
                    client,
                    "POST",
                    f"/v1/namespaces/{NAMESPACE}/query",
                    (200,),
                    json={"query": f"What is known about {title}?", "top_k": 5, "mode": "graph"},
                )
            else:
                doc_id = rnd.choice(pending if from_pending else docs)
                r = rec.call(
                    "delete", client, "DELETE", f"/v1/namespaces/{NAMESPACE}/documents/{doc_id}", (204,)
                )
                if r is not None and r.status_code == 204:
                    (pending if from_pending else docs).remove(doc_id)
    return jobs


def seed(base_url: str, key: str, passages: list[dict], count: int, timeout_s: float = 600.0) -> list[str]:
    """Index ``count`` passages (ids ``seed-<i>``) before the clock starts, so that queries
    rank a real graph and deletes find indexed documents from the first second. Untimed."""
    ids: list[str] = []
    with httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        jobs = []
        for start in range(0, count, 100):
            chunk = range(start, min(count, start + 100))
            batch = [{"id": f"seed-{i}", **passages[i % len(passages)]} for i in chunk]
            r = client.post(f"/v1/namespaces/{NAMESPACE}/documents", json={"documents": batch})
            r.raise_for_status()
            jobs.append(r.json()["job_id"])
            ids.extend(r.json()["document_ids"])
        deadline = time.monotonic() + timeout_s
        for job in jobs:
            while (status := client.get(f"/v1/jobs/{job}").json()["status"]) in ("queued", "running"):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"seeding did not finish in {timeout_s} s")
                time.sleep(0.5)
            if status != "succeeded":
                raise RuntimeError(f"seed job {job} ended {status}")
    return ids


def run_load(
    base_url: str,
    key: str,
    *,
    clients: int,
    duration_s: float,
    passages: list[dict],
    timeout_s: float = 30.0,
    seeded: list[str] | None = None,
    id_prefix: str = "c",
) -> dict:
    """``clients`` threads for ``duration_s`` against a server whose namespace ``load`` the
    ``key`` may write; ``seeded`` documents are shared out among the clients to delete. Returns
    per-operation summaries and totals (documents are posted as ``<id_prefix><client>-<n>``:
    runs against one server need prefixes of their own) (a request still running at the end finishes first, so
    the run may last up to ``timeout_s`` longer)."""
    seeded = seeded or []
    rec = Recorder()
    until = time.monotonic() + duration_s
    results: list[dict] = []
    started = time.monotonic()

    def work(n: int) -> None:
        owned = seeded[n::clients]
        results.append(_client_loop(n, base_url, key, passages, until, rec, timeout_s, owned, id_prefix))

    threads = [threading.Thread(target=work, args=(n,), daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    ops = {op: rec.ops[op].summary() for op in OPERATIONS}
    counts = ("requests", "errors", "conflicts", "timeouts", "5xx")
    totals = {k: sum(o[k] for o in ops.values()) for k in counts}
    jobs = {k: sum(r[k] for r in results) for k in ("succeeded", "failed", "cancelled")}
    return {
        "clients": clients,
        "duration_s": round(elapsed, 1),
        "requests_per_s": round(totals["requests"] / elapsed, 1),
        "operations": ops,
        "totals": totals,
        "jobs_seen_ending": jobs,
    }


def fresh_database(admin_url: str) -> str:
    """A new, empty database on the PostgreSQL server that ``admin_url`` reaches."""
    import sqlalchemy as sa

    name = f"load_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # our own name, not input
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def bench_database(
    label: str,
    data_dir: Path,
    *,
    database_url: str | None = None,
    clients: int = 20,
    duration_s: float = 60.0,
    passages: list[dict] | None = None,
    timeout_s: float = 30.0,
    seed_documents: int = 200,
) -> dict:
    """Start a server on ``database_url`` (None: SQLite in ``data_dir``), index
    ``seed_documents`` passages, run the load, stop it. The result carries the server log's
    tail when anything unexpected was counted."""
    server = LiveServer(data_dir, database_url=database_url).start()
    try:
        key = server.namespace_key(NAMESPACE, scope="write", requests_per_minute=0)
        passages = passages or load_passages()
        started = time.monotonic()
        seeded = seed(server.base_url, key, passages, seed_documents)
        seeding_s = round(time.monotonic() - started, 1)
        result = run_load(
            server.base_url,
            key,
            clients=clients,
            duration_s=duration_s,
            passages=passages,
            timeout_s=timeout_s,
            seeded=seeded,
        )
        result["seed_documents"], result["seeding_s"] = len(seeded), seeding_s
        if result["totals"]["errors"] or result["totals"]["timeouts"]:
            result["server_log_tail"] = server.log_tail()
    finally:
        server.stop()
    return {"database": label, **result}


def markdown(results: list[dict], command: str) -> str:
    lines = [
        f"`{command}`",
        "",
        "| database | operation | requests | errors | conflicts (409) | timeouts | 5xx | p50 ms | p95 ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for res in results:
        for op, s in res["operations"].items():
            lines.append(
                f"| {res['database']} | {op} | {s['requests']} | {s['errors']} | {s['conflicts']} | "
                f"{s['timeouts']} | {s['5xx']} | {s['p50_ms']} | {s['p95_ms']} |"
            )
        t = res["totals"]
        lines.append(
            f"| {res['database']} | **all** ({res['requests_per_s']}/s over {res['duration_s']} s) | "
            f"{t['requests']} | {t['errors']} | {t['conflicts']} | {t['timeouts']} | {t['5xx']} | | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per database")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres-url", help="an admin URL; default: a throwaway cluster")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--timeout", type=float, default=30.0, help="per request, seconds")
    parser.add_argument("--seed-documents", type=int, default=200, help="indexed before the clock starts")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    command = "python " + shlex.join(["benchmarks/load.py", *(sys.argv[1:] if argv is None else argv)])
    if not args.corpus.exists():
        parser.error(f"corpus not found: {args.corpus}")
    passages = load_passages(args.corpus)
    results = []
    with tempfile.TemporaryDirectory(prefix="hippograph-load-") as tmp:
        for label in args.databases.split(","):
            url = None
            cluster, cluster_dir = None, None
            if label == "postgres":
                admin = args.postgres_url
                if admin is None:
                    from tests.support.postgres_server import start_postgres

                    # Not under a 0700 folder: the server runs as the postgres user.
                    cluster_dir = Path(tempfile.mkdtemp(prefix="hippograph-load-pg-"))
                    cluster = start_postgres(cluster_dir)
                    admin = cluster.admin_url
                url = fresh_database(admin)
            elif label != "sqlite":
                parser.error(f"unknown database {label!r}")
            try:
                res = bench_database(
                    label,
                    Path(tmp) / label,
                    database_url=url,
                    clients=args.clients,
                    duration_s=args.duration,
                    passages=passages,
                    timeout_s=args.timeout,
                    seed_documents=args.seed_documents,
                )
            finally:
                if cluster is not None:
                    cluster.stop()
                if cluster_dir is not None:
                    shutil.rmtree(cluster_dir, ignore_errors=True)
            results.append(res)
            print(json.dumps({k: v for k, v in res.items() if k != "server_log_tail"}), flush=True)
    report = {"command": command, "results": results}
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    print(markdown(results, command))
    bad = sum(r["totals"]["5xx"] + r["totals"]["timeouts"] for r in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
