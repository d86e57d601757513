"""Memory of one long-lived ``hippograph serve`` under repeated mixed load (issue #11).

    python benchmarks/memory_soak.py [--rounds 4] [--duration 60] [--clients 20]
                                     [--env NAME=VALUE ...] [--out soak.json]

One server (SQLite, in-process worker, API keys on: ``benchmarks/live_server.py``) is seeded
with 200 passages, then runs ``--rounds`` rounds of ``benchmarks/load.py``'s mixed load (ingest,
poll, query, delete) against the same process. After each round, once its jobs are done, the
server's resident set (``/proc/<pid>/status`` VmRSS) is read, and the namespace's stats. A
process whose memory is bounded levels off after the first rounds; one that leaks keeps
climbing in step with the work done. ``--env`` sets variables of the server's environment
(for the comparisons in docs/benchmarks.md, e.g. ``MALLOC_ARENA_MAX=2``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.live_server import LiveServer  # noqa: E402
from benchmarks.load import NAMESPACE, load_passages, run_load, seed  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmRSS for process {pid}")


def wait_idle(server: LiveServer, timeout_s: float = 600.0) -> None:
    """Until the namespace has no queued or running job (the round's ingestions are indexed)."""
    deadline = time.monotonic() + timeout_s
    with httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=30) as http:
        while time.monotonic() < deadline:
            busy = sum(
                http.get("/v1/jobs", params={"namespace": NAMESPACE, "status": status, "limit": 1}).json()[
                    "total"
                ]
                for status in ("queued", "running")
            )
            if not busy:
                return
            time.sleep(1)
    raise RuntimeError("jobs still running after the round")


def soak(
    rounds: int, duration_s: float, clients: int, env: dict[str, str], seed_documents: int = 200
) -> dict:
    passages = load_passages()
    with tempfile.TemporaryDirectory(prefix="hippograph-soak-") as tmp:
        server = LiveServer(Path(tmp), extra_env=env).start()
        try:
            assert server.proc is not None
            pid = server.proc.pid
            key = server.namespace_key(NAMESPACE, scope="write", requests_per_minute=0)
            started_mb = rss_mb(pid)
            seeded = seed(server.base_url, key, passages, seed_documents)
            rows = [{"round": 0, "rss_mb": rss_mb(pid), "requests": 0, "stats": _stats(server)}]
            for n in range(1, rounds + 1):
                result = run_load(
                    server.base_url,
                    key,
                    clients=clients,
                    duration_s=duration_s,
                    passages=passages,
                    seeded=seeded,
                    id_prefix=f"r{n}c",
                )
                wait_idle(server)
                seeded = []  # deleted by the first round (or indexed documents the clients own)
                rows.append(
                    {
                        "round": n,
                        "rss_mb": rss_mb(pid),
                        "requests": result["totals"]["requests"],
                        "errors": result["totals"]["errors"],
                        "requests_by_operation": {
                            op: s["requests"] for op, s in result["operations"].items()
                        },
                        "errors_by_operation": {
                            op: s["errors"] for op, s in result["operations"].items() if s["errors"]
                        },
                        "server_log_tail": server.log_tail(1500) if result["totals"]["errors"] else "",
                        "stats": _stats(server),
                    }
                )
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            server.stop()
    return {
        "started_mb": started_mb,
        "rounds": rows,
        "env": env,
        "duration_s": duration_s,
        "clients": clients,
    }


def _stats(server: LiveServer) -> dict:
    with httpx.Client(base_url=server.base_url, headers=server.admin_headers(), timeout=30) as http:
        return http.get(f"/v1/namespaces/{NAMESPACE}/stats").json()


def markdown(result: dict, command: str) -> str:
    lines = [
        f"`{command}`",
        "",
        f"RSS after start-up: {result['started_mb']} MB",
        "",
        "| after round | RSS MB | requests | passages | entities |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in result["rounds"]:
        s = r["stats"]
        lines.append(
            f"| {r['round']} | {r['rss_mb']} | {r['requests']} | {s['passages']} | {s['entities']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per round")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--env", action="append", default=[], help="NAME=VALUE for the server")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    env = dict(item.split("=", 1) for item in args.env)
    result = soak(args.rounds, args.duration, args.clients, env)
    command = "python benchmarks/memory_soak.py " + shlex.join(argv if argv is not None else sys.argv[1:])
    result["command"] = command
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    print(markdown(result, command))
    return 0


if __name__ == "__main__":
    sys.exit(main())
