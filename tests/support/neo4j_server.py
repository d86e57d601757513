"""Start and stop a real Neo4j 5.26 Community server for tests, without Docker.

The server is tools/neo4j/Launcher.java (an embedded DBMS with the Bolt
connector on 127.0.0.1) run in Java source-file mode against the jars that
tools/neo4j/pom.xml fetches into tools/neo4j/lib. Standard library only.

Typical use (a pytest fixture lives in conftest.py)::

    proc = start_neo4j(tmp_path / "neo4j")        # free port, auth off
    driver = neo4j.GraphDatabase.driver(proc.uri, auth=None)
    ...
    proc.stop()

The java command line here must stay in step with tools/neo4j/start.sh; the
fixed JVM flags are shared through tools/neo4j/jvm.args.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import selectors
import shutil
import socket
import subprocess
import time
from pathlib import Path

__all__ = [
    "REPO_ROOT",
    "Neo4jProcess",
    "ensure_jars",
    "free_port",
    "java_command",
    "start_neo4j",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_PREFIX = "NEO4J_READY "
DEFAULT_HEAP = ("-Xms512m", "-Xmx1g")
_LOG_TAIL_CHARS = 6000


def _tool_dir(repo_root: Path | str | None) -> Path:
    return Path(repo_root or REPO_ROOT).resolve() / "tools" / "neo4j"


def _pom_digest(pom: Path) -> str:
    return hashlib.sha256(pom.read_bytes()).hexdigest()


def ensure_jars(repo_root: Path | str | None = None) -> Path:
    """Return tools/neo4j/lib, fetching the jars with Maven first if needed.

    The jars are (re)fetched when lib/ is missing, holds no jar, or was fetched
    for a different pom.xml (tracked by lib/.pom.sha256, the same stamp that
    start.sh writes). Concurrent callers are serialised with a file lock.
    Raises RuntimeError with Maven's output if the fetch fails.
    """
    tool = _tool_dir(repo_root)
    pom = tool / "pom.xml"
    lib = tool / "lib"
    stamp = lib / ".pom.sha256"
    if not pom.is_file():
        raise RuntimeError(f"missing {pom}")
    want = _pom_digest(pom)

    def up_to_date() -> bool:
        try:
            have = stamp.read_text().strip()
        except OSError:
            return False
        return have == want and any(lib.glob("*.jar"))

    if up_to_date():
        return lib

    with open(tool / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if up_to_date():
            return lib
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("mvn not found on PATH; it is needed to fetch the Neo4j jars")
        shutil.rmtree(lib, ignore_errors=True)
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={lib}",
        ]
        res = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if res.returncode != 0 or not any(lib.glob("*.jar")):
            raise RuntimeError(
                f"fetching Neo4j jars failed (exit {res.returncode}): {' '.join(cmd)}\n"
                f"{res.stdout[-_LOG_TAIL_CHARS:]}"
            )
        stamp.write_text(want + "\n")
    return lib


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (small race accepted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _java_executable() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    java = shutil.which("java")
    if java is None:
        raise RuntimeError("java not found (set JAVA_HOME or put java on PATH); JDK 17+ is needed")
    return java


def java_command(
    home: Path | str,
    port: int,
    *,
    auth: str | None = None,
    heap: str | None = None,
    pagecache: str | None = None,
    watch_stdin: bool = False,
    repo_root: Path | str | None = None,
) -> list[str]:
    """Build the launcher's java command line (same shape as start.sh).

    heap: max heap such as "2g"; default from env NEO4J_HEAP, else -Xms512m -Xmx1g.
    auth: "user:password" to enable auth; None leaves auth off.
    """
    tool = _tool_dir(repo_root)
    heap = heap or os.environ.get("NEO4J_HEAP") or None
    heap_flags = [f"-Xmx{heap}"] if heap else list(DEFAULT_HEAP)
    cmd = [
        _java_executable(),
        *heap_flags,
        f"@{tool / 'jvm.args'}",
        "-cp",
        str(tool / "lib" / "*"),
        str(tool / "Launcher.java"),
        "--home",
        str(Path(home).resolve()),
        "--port",
        str(port),
    ]
    if auth:
        cmd += ["--auth", auth]
    if pagecache:
        cmd += ["--pagecache", pagecache]
    if watch_stdin:
        cmd.append("--watch-stdin")
    return cmd


def _tail(path: Path, limit: int = _LOG_TAIL_CHARS) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError as e:
        return f"<could not read {path}: {e}>"


class Neo4jProcess:
    """A running launcher. ``uri`` is the bolt:// address; ``stop()`` ends it."""

    def __init__(self, process: subprocess.Popen, uri: str, port: int, home: Path, log_path: Path):
        self.process = process
        self.uri = uri
        self.port = port
        self.home = home
        self.log_path = log_path

    @property
    def pid(self) -> int:
        return self.process.pid

    def is_running(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, limit: int = _LOG_TAIL_CHARS) -> str:
        return _tail(self.log_path, limit)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (clean shutdown via the JVM's shutdown hook), then SIGKILL
        after ``timeout`` seconds. Returns the exit status. Idempotent."""
        proc = self.process
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for stream in (proc.stdout, proc.stdin):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        return proc.returncode

    def __enter__(self) -> Neo4jProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.is_running() else f"exited {self.process.returncode}"
        return f"<Neo4jProcess {self.uri} pid={self.pid} {state} home={self.home}>"


def start_neo4j(
    home: Path | str,
    port: int | None = None,
    timeout: float = 180,
    *,
    auth: str | None = None,
    heap: str | None = None,
    pagecache: str | None = None,
    repo_root: Path | str | None = None,
) -> Neo4jProcess:
    """Start Neo4j with its home in ``home`` and wait until it is ready.

    port None picks a free port. The launcher's stderr goes to
    home/launcher.log (appended). The JVM also exits by itself when this
    Python process dies (its stdin pipe closes). Raises RuntimeError, with the
    log's tail, if the launcher exits or is not ready within ``timeout`` s.
    """
    home = Path(home).resolve()
    home.mkdir(parents=True, exist_ok=True)
    ensure_jars(repo_root)
    if port is None:
        port = free_port()
    cmd = java_command(
        home,
        port,
        auth=auth,
        heap=heap,
        pagecache=pagecache,
        watch_stdin=True,
        repo_root=repo_root,
    )
    log_path = home / "launcher.log"
    with open(log_path, "ab") as log:
        log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            cwd=str(home),
        )

    def fail(reason: str) -> RuntimeError:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for stream in (proc.stdout, proc.stdin):
            with contextlib.suppress(OSError):
                stream.close()
        return RuntimeError(
            f"Neo4j launcher {reason} (exit status {proc.returncode}); "
            f"command: {' '.join(cmd)}\n--- tail of {log_path} ---\n{_tail(log_path)}"
        )

    deadline = time.monotonic() + timeout
    buf = b""
    fd = proc.stdout.fileno()
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise fail(f"not ready after {timeout:g} s")
                if not sel.select(min(remaining, 1.0)):
                    if proc.poll() is not None:
                        raise fail("exited before it was ready")
                    continue
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise fail("closed stdout before it was ready")
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    text = line.decode("utf-8", "replace").strip()
                    if text.startswith(READY_PREFIX):
                        uri = text[len(READY_PREFIX) :].strip()
                        return Neo4jProcess(proc, uri, port, home, log_path)
    except BaseException:
        # Never leave a half-started JVM behind (timeout, Ctrl-C, ...).
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
