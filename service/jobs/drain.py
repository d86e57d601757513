"""Run a worker until the queue is empty while showing one job's progress (CLI import, eval)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from service.domain.records import Job
from service.jobs.queue import JobQueue
from service.jobs.worker import Worker
from service.progress import Progress


def drain_showing(worker: Worker, jobs: JobQueue, job_id: str, progress: Progress) -> Job:
    """``worker.drain()`` in a thread; ``progress`` follows ``job_id``'s done count every half
    second. Returns the job as it ended; an exception of the worker is raised here."""
    return drain_showing_all(worker, jobs, [job_id], progress)[0]


def drain_showing_all(
    worker: Worker, jobs: JobQueue, job_ids: Sequence[str], progress: Progress
) -> list[Job]:
    """``drain_showing`` for several jobs: ``progress`` follows the sum of their done counts."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            worker.drain()
        except BaseException as exc:  # surfaced in the calling thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="drain", daemon=True)
    thread.start()
    with progress:
        while thread.is_alive():
            thread.join(0.5)
            progress.update(jobs.done_count(job_ids))
    if failure:
        raise failure[0]
    return [jobs.get(j) for j in job_ids]
