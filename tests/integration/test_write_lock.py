"""The per-namespace graph-write lock (service/stores/sql/write_lock.py) excludes other threads and
other processes holding the same namespace's lock, and only those, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest
import sqlalchemy as sa

from service.stores.sql.db import make_engine
from service.stores.sql.write_lock import NamespaceWriteLock, lock_key
from tests.conftest import make_settings

HOLD_S = 0.6


def _engine(tmp_path, database_settings):
    return make_engine(make_settings(tmp_path, database=database_settings).database_url)


def test_a_thread_waits_for_the_same_namespace_only(tmp_path, database_settings):
    engine = _engine(tmp_path, database_settings)
    lock = NamespaceWriteLock(engine)
    held = threading.Event()

    def hold() -> None:
        with lock("ns"):
            held.set()
            time.sleep(HOLD_S)

    thread = threading.Thread(target=hold)
    thread.start()
    assert held.wait(10)
    started = time.monotonic()
    with lock("other"):
        assert time.monotonic() - started < HOLD_S / 2  # another namespace does not wait
    with lock("ns"):
        assert time.monotonic() - started >= HOLD_S * 0.8  # the same one does
    thread.join()
    engine.dispose()


def test_another_process_waits(tmp_path, database_settings):
    engine = _engine(tmp_path, database_settings)
    url = engine.url.render_as_string(hide_password=False)
    script = textwrap.dedent(
        f"""
        import sys, time
        from service.stores.sql.db import make_engine
        from service.stores.sql.write_lock import NamespaceWriteLock
        lock = NamespaceWriteLock(make_engine({url!r}))
        with lock("ns"):
            print("held", flush=True)
            time.sleep({HOLD_S * 2})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        started = time.monotonic()
        with NamespaceWriteLock(engine)("ns"):
            waited = time.monotonic() - started
        assert waited >= HOLD_S, waited
    finally:
        assert proc.wait(30) == 0
        engine.dispose()


def test_lock_keys_are_stable_signed_64_bit_and_distinct():
    assert lock_key("ns") == lock_key("ns")
    assert lock_key("ns") != lock_key("ns2")
    assert -(2**63) <= lock_key("ns") < 2**63


@pytest.mark.postgres
def test_a_postgres_wait_is_bounded(tmp_path, pg_url):
    """A holder that never lets go makes the waiter fail after ``wait_s`` (its group attempt is
    retried later) instead of blocking it forever."""
    engine = make_engine(pg_url)
    lock = NamespaceWriteLock(engine, wait_s=0.3)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock("ns"):
            held.set()
            release.wait(10)

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        assert held.wait(10)
        started = time.monotonic()
        waiter = NamespaceWriteLock(engine, wait_s=0.3)  # another process's lock object
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"), waiter("ns"):
            pass
        assert 0.25 <= time.monotonic() - started < 5
    finally:
        release.set()
        thread.join()
        engine.dispose()
