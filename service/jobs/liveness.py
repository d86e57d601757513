"""Worker ids, and telling from one whether its worker is certainly dead.

A worker id is ``host:pid:nonce``, where ``host`` is the host name and the process's PID
namespace (containers sharing the host's network, and so its name, still have PID namespaces
of their own: a pid means nothing outside its namespace).

After ``kill -9`` and a restart, the dead worker's job is still ``running`` under its id; the
reaper would take it back only once its heartbeat is ``worker.stalled_after_s`` old (120 s by
default). A worker on the same host can tell sooner:

* another process id of its host and PID namespace that no longer exists (or is a zombie) is
  dead — the restart of ``hippograph serve`` or ``hippograph worker`` on the same machine;
* its own process id with a nonce this process never gave out is an earlier program this
  process replaced (an exec in place).

Anything else is left to the heartbeat timeout, because being wrong here runs one job twice at
once: another host; a live pid; a pid reused by an unrelated process; and a restarted container,
which starts in a new PID namespace — its predecessor cannot be told from a sibling container
that shares the host's network name (both may well be pid 1).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid

_issued: set[str] = set()  # the worker ids this process gave out
_lock = threading.Lock()


def _host() -> str:
    """This host's name, tagged with this boot of the kernel and this process's PID namespace
    (the host's own namespace has the same number on every Linux machine, so the boot id tells
    two machines of the same name apart). Untagged when either cannot be read: then no worker
    id is ever judged dead here (``certainly_dead``)."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")  # e.g. "pid:[4026531836]"
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            boot = f.read().strip().replace("-", "")[:12]
    except OSError:
        return socket.gethostname()
    digits = "".join(c for c in namespace if c.isdigit())
    if not digits or not boot.isalnum():
        return socket.gethostname()
    return f"{socket.gethostname()}#{boot}.{digits}"


def new_worker_id() -> str:
    worker_id = f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    with _lock:
        _issued.add(worker_id)
    return worker_id


def _process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by someone else
        return False
    try:  # a killed child not yet waited for is a zombie: it runs nothing any more
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            state = f.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state in ("Z", "X")


def certainly_dead(worker_id: str) -> bool:
    """True only when ``worker_id`` names a worker on this host, in this PID namespace, whose
    process is gone, or an earlier process with this process's id (see the module docstring)."""
    host, _, rest = worker_id.partition(":")
    pid_text, _, _nonce = rest.partition(":")
    mine = _host()
    if "#" not in mine or host != mine or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        with _lock:
            return worker_id not in _issued
    return _process_gone(pid)
