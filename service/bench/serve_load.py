"""Part f: query latency in a real ``hippograph serve`` while an ingestion job runs in it.

Contract: a ``hippograph serve`` subprocess starts on a free port with a fresh SQLite data
directory and its in-process worker on (the caller's other settings come through the
environment). Over HTTP: the (trimmed) MuSiQue OpenIE file is imported into namespace ``idle``
and waited for; the questions are asked once in graph mode as a warm-up, then once more, one
after another (idle latency, client side, HTTP included). Then the same file is imported into a
second namespace and, while its job is ``running``, the same questions are sent to ``idle`` one
after another (cycling through them until the job ends); only queries sent while it ran count.
Reported: p50/p95 idle and during, the server's own lap medians, and p95 during / p95 idle
(acceptance <= 3). The server is stopped (SIGTERM, then SIGKILL) whatever happens.
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from service.bench.common import Inputs, PartResult, Recorder, elapsed_ms, percentiles_ms
from service.bench.musique import load_questions, openie_bytes
from service.settings import Settings

logger = logging.getLogger("hippograph.bench")

TERMINAL = {"succeeded", "failed", "cancelled"}
READY_TIMEOUT_S = 300.0
JOB_TIMEOUT_S = 4 * 3600.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(base: Settings, data_dir: Path, port: int) -> dict[str, str]:
    """The caller's environment with a fresh SQLite data dir, the SQL graph store, this port and
    the in-process worker on, and the caller's embedding settings; exported models are kept
    where the caller keeps them."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("HIPPOGRAPH_DATABASE__URL", "HIPPOGRAPH_GRAPH__", "HIPPOGRAPH_WORKER__IN_PROCESS")
        )
    }
    env.update(
        {
            "HIPPOGRAPH_DATA_DIR": str(data_dir),
            "HIPPOGRAPH_HOST": "127.0.0.1",
            "HIPPOGRAPH_PORT": str(port),
            "HIPPOGRAPH_WORKER__IN_PROCESS": "true",
            "HIPPOGRAPH_GRAPH__BACKEND": "sql",
            "HIPPOGRAPH_EMBEDDING__CACHE_DIR": base.embedding.cache_dir
            or str((base.data_dir / "models").resolve()),
        }
    )
    # The server embeds as this process does, even if the defaults change while the bench runs.
    for name in ("backend", "threads", "batch_size", "model"):
        value = getattr(base.embedding, name, None)
        if value is not None:
            env[f"HIPPOGRAPH_EMBEDDING__{name.upper()}"] = str(value)
    return env


@contextmanager
def running_server(base: Settings, work: Path) -> Iterator[tuple[str, Path]]:
    """A ``hippograph serve`` subprocess, ready; yields its base URL and its log file."""
    data_dir = work / "serve"
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = work / "serve.log"
    cmd = [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd, env=serve_env(base, data_dir, port), stdout=log, stderr=subprocess.STDOUT, cwd=work
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        with httpx.Client(base_url=url, timeout=5) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"hippograph serve exited {proc.returncode}: {_tail(log_path)}")
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"hippograph serve not ready after {READY_TIMEOUT_S:.0f} s")
                time.sleep(0.5)
        yield url, log_path
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-3000:]


def _import(client: httpx.Client, namespace: str, raw: bytes) -> str:
    client.post("/v1/namespaces", json={"name": namespace}).raise_for_status()
    r = client.post(
        f"/v1/namespaces/{namespace}/imports/openie",
        content=raw,
        headers={"content-type": "application/json"},
    )
    r.raise_for_status()
    return str(r.json()["job_id"])


def _wait(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in TERMINAL:
            return dict(job)
        time.sleep(1.0)
    raise RuntimeError(f"job {job_id} still not finished after {JOB_TIMEOUT_S:.0f} s")


def _ask(client: httpx.Client, namespace: str, question: str) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    r = client.post(
        f"/v1/namespaces/{namespace}/query", json={"query": question, "top_k": 10, "mode": "graph"}
    )
    ms = elapsed_ms(started)
    r.raise_for_status()
    return ms, dict(r.json().get("timings_ms", {}))


class JobWatch:
    """Polls a job's status from its own thread (its own client) until the job ends."""

    def __init__(self, url: str, job_id: str) -> None:
        self.status = "queued"
        self.ended = threading.Event()
        self._url, self._job_id = url, job_id
        self._thread = threading.Thread(target=self._run, name="bench-job-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(base_url=self._url, timeout=60) as client:
            while self.status not in TERMINAL:
                try:
                    self.status = client.get(f"/v1/jobs/{self._job_id}").json()["status"]
                except httpx.HTTPError:
                    logger.warning("job status poll failed", exc_info=True)
                if self.status not in TERMINAL:
                    time.sleep(0.25)
        self.ended.set()


def _laps(timings: list[dict[str, float]]) -> dict[str, float]:
    names = sorted({k for t in timings for k in t if k != "total"})
    return {k: round(float(np.median([t.get(k, 0.0) for t in timings])), 1) for k in names}


def serve_load(base: Settings, work: Path, inputs: Inputs, rec: Recorder, part: PartResult) -> None:
    raw = openie_bytes(inputs)
    questions = load_questions(inputs)
    if not questions:
        raise RuntimeError("no questions")
    with running_server(base, work) as (url, log_path), httpx.Client(base_url=url, timeout=600) as client:
        rec.figure(part, "server", f"{url} (log: {log_path})")
        started = time.perf_counter()
        job = _wait(client, _import(client, "idle", raw))
        if job["status"] != "succeeded":
            raise RuntimeError(f"import into 'idle' ended {job['status']}: {job.get('last_error')}")
        rec.figure(part, "idle_import_s", round(time.perf_counter() - started, 1), "s")
        for q in questions:  # a warm-up pass: the snapshot, the query model, pages of the passages
            _ask(client, "idle", q)
        idle = [_ask(client, "idle", q) for q in questions]
        rec.figure(part, "idle_ms", percentiles_ms([ms for ms, _ in idle]))
        rec.figure(part, "idle_server_laps_p50_ms", _laps([t for _, t in idle]))

        started = time.perf_counter()
        watch = JobWatch(url, _import(client, "busy", raw))
        while watch.status == "queued" and not watch.ended.is_set():
            time.sleep(0.05)
        busy: list[tuple[float, dict[str, float]]] = []
        i = 0
        while watch.status == "running":
            # Sent while the job ran (it may end during this query).
            busy.append(_ask(client, "idle", questions[i % len(questions)]))
            i += 1
        watch.ended.wait(JOB_TIMEOUT_S)
        rec.figure(part, "busy_import_s", round(time.perf_counter() - started, 1), "s")
        rec.figure(part, "busy_job_status", watch.status)
        if not busy:
            raise RuntimeError("the import job ended before any query was sent during it")
        rec.figure(part, "during_ms", percentiles_ms([ms for ms, _ in busy]))
        rec.figure(part, "during_server_laps_p50_ms", _laps([t for _, t in busy]))
        # Where the tail goes: the server's laps of the slowest 5% (a client time far above the
        # server's own total is time spent before the handler ran, or after it).
        cut = float(np.percentile([ms for ms, _ in busy], 95))
        slow = [(ms, t) for ms, t in busy if ms >= cut]
        rec.figure(part, "during_slowest5_client_p50_ms", round(float(np.median([ms for ms, _ in slow])), 1))
        rec.figure(part, "during_slowest5_server_laps_p50_ms", _laps([t for _, t in slow]))
        part.samples = {"idle": [ms for ms, _ in idle], "during ingest": [ms for ms, _ in busy]}
        idle_p95 = float(np.percentile(part.samples["idle"], 95))
        busy_p95 = float(np.percentile(part.samples["during ingest"], 95))
        ratio = round(busy_p95 / idle_p95, 3) if idle_p95 > 0 else None
        rec.figure(part, "during_p95_over_idle_p95", ratio, "x")
        rec.check(part, "graph query p95 during ingest / idle p95", ratio, 3.0, "<=")
