"""service/pipeline/rebuilds.py: concurrent deletes share snapshot rebuilds, and each still
returns only after a rebuild that started after it was called."""

from __future__ import annotations

import threading
import time

from service.pipeline.rebuilds import Coalesced


def test_concurrent_callers_share_runs_that_start_after_them():
    runs: list[tuple[float, float]] = []

    def run(_key: str) -> None:
        started = time.monotonic()
        time.sleep(0.05)
        runs.append((started, time.monotonic()))

    coalesced = Coalesced(run)
    calls: list[tuple[float, float]] = []

    def caller() -> None:
        called = time.monotonic()
        coalesced("ns")
        calls.append((called, time.monotonic()))

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 12
    assert len(runs) <= 3, runs  # not one per caller
    for called, returned in calls:
        assert any(called <= start and end <= returned for start, end in runs), (called, returned, runs)


def test_a_failed_run_raises_in_its_caller_and_the_others_run_again():
    attempts = []

    def run(_key: str) -> None:
        attempts.append(1)
        time.sleep(0.05)
        if len(attempts) == 1:
            raise RuntimeError("store down")

    coalesced = Coalesced(run)
    errors: list[BaseException] = []

    def caller() -> None:
        try:
            coalesced("ns")
        except RuntimeError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for t in threads:
        t.start()
        time.sleep(0.005)
    for t in threads:
        t.join()
    assert len(errors) == 1 and len(attempts) >= 2


def test_keys_do_not_wait_for_each_other():
    gate = threading.Event()
    coalesced = Coalesced(lambda key: gate.wait(5) if key == "slow" else None)
    slow = threading.Thread(target=coalesced, args=("slow",))
    slow.start()
    started = time.monotonic()
    coalesced("fast")
    assert time.monotonic() - started < 1
    gate.set()
    slow.join()
