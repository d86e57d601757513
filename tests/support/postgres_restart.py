"""Start a cluster of ``postgres_server.start_postgres`` again after ``PostgresProcess.stop()``:
same data dir, same port and socket folder, same options, so clients reconnect to the URL they
had. (``pg_ctl restart`` would do both halves at once; a fault test wants the outage between.)"""

from __future__ import annotations

import subprocess

from tests.support.postgres_server import PostgresProcess, _as_owner, _bin


def start_again(server: PostgresProcess, timeout: float = 60.0) -> None:
    base = server.data_dir.parent
    options = f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off"
    command = [_bin("pg_ctl"), "-D", str(server.data_dir), "-o", options]
    command += ["-l", str(base / "server.log"), "-w", "-t", str(int(timeout)), "start"]
    done = subprocess.run(
        _as_owner(command), capture_output=True, text=True, check=False, timeout=timeout + 30
    )
    if done.returncode != 0:
        log = (base / "server.log").read_text(errors="replace")[-2000:]
        raise RuntimeError(f"PostgreSQL did not start again: {done.stderr[-1000:]}\n{log}")
