"""When a worker id certainly names a dead worker (service/jobs/liveness.py), and when it must
be left to the heartbeat timeout."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

from service.jobs.liveness import _host, certainly_dead, new_worker_id


def test_a_finished_process_of_this_host_is_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert certainly_dead(f"{_host()}:{proc.pid}:abcdef")


def test_a_zombie_is_dead():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(200):  # exited but not waited for: a zombie
            with open(f"/proc/{proc.pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    break
            time.sleep(0.02)
        assert certainly_dead(f"{_host()}:{proc.pid}:abcdef")
    finally:
        proc.wait()


def test_live_processes_and_this_process_s_own_workers_are_not():
    assert not certainly_dead(f"{_host()}:{os.getppid()}:abcdef")
    assert not certainly_dead(new_worker_id())


def test_this_pid_with_a_nonce_it_never_issued_is_an_earlier_program():
    assert certainly_dead(f"{_host()}:{os.getpid()}:ffffff")


def test_other_hosts_other_pid_namespaces_and_odd_ids_are_left_to_the_timeout():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    assert not certainly_dead(f"elsewhere:{proc.pid}:abcdef")
    # Same host name, another PID namespace (a container sharing the host's network name).
    assert not certainly_dead(f"{socket.gethostname()}#1:{proc.pid}:abcdef")
    assert not certainly_dead(f"{_host()}:notapid:abcdef")
    assert not certainly_dead("worker-a")
