"""Shared fixtures: real SQLite per test, one real embedder per session, the fake LLM server,
and (for the contract suite) a real Neo4j started from Maven Central jars."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.container import Container
from service.llm.embedder import SentenceTransformerEmbedder
from service.settings import LLMSettings, Settings
from tests.fakes.llm_server import FakeLLM

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _no_hippograph_env(monkeypatch):
    """Tests build Settings explicitly; a developer's HIPPOGRAPH_* variables must not leak in."""
    for key in list(os.environ):
        if key.startswith("HIPPOGRAPH_") and not key.startswith("HIPPOGRAPH_TEST_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="session")
def fake_llm_server():
    server = FakeLLM().start()
    yield server
    server.stop()


@pytest.fixture
def fake_llm(fake_llm_server: FakeLLM) -> FakeLLM:
    fake_llm_server.canned.clear()
    fake_llm_server.answers.clear()
    fake_llm_server.requests.clear()
    fake_llm_server._seen.clear()
    return fake_llm_server


def make_settings(tmp_path: Path, **overrides) -> Settings:
    base = {"data_dir": tmp_path, "worker": {"in_process": False, "poll_interval_s": 0.05}}
    base.update(overrides)
    return Settings(**base)


def llm_settings(fake: FakeLLM, **overrides) -> LLMSettings:
    values = {
        "base_url": fake.base_url,
        "api_key": "test-key",
        "model": "fake-model",
        "timeout_s": 1.0,
        "max_retries": 1,
        "retry_backoff_s": 0.01,
        "max_concurrency": 2,
    }
    values.update(overrides)
    return LLMSettings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
def container(settings: Settings, embedder) -> Container:
    c = Container.from_settings(settings, embedder=embedder)
    c.migrate()
    yield c
    c.close()


@pytest.fixture
def llm_container(tmp_path: Path, embedder, fake_llm: FakeLLM) -> Container:
    c = Container.from_settings(make_settings(tmp_path, llm=llm_settings(fake_llm)), embedder=embedder)
    c.migrate()
    yield c
    c.close()


def drain(c: Container) -> int:
    return c.worker().drain()


def use_extractor(monkeypatch: pytest.MonkeyPatch, c: Container, extractor) -> None:
    """Jobs of ``c`` extract with ``extractor`` until ``monkeypatch.undo()``."""
    monkeypatch.setitem(c.__dict__, "extractor", extractor)


@pytest.fixture
def client(container: Container) -> TestClient:
    with TestClient(create_app(container, run_worker=False, migrate=False)) as cl:
        yield cl


@pytest.fixture
def llm_client(llm_container: Container) -> TestClient:
    with TestClient(create_app(llm_container, run_worker=False, migrate=False)) as cl:
        yield cl


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL for the session: HIPPOGRAPH_TEST_POSTGRES_URL (an admin URL) when set,
    else a throwaway cluster from Debian's server packages. Fails, never skips, when it cannot
    start: a PostgreSQL path that was never exercised does not count."""
    from tests.support.postgres_server import start_postgres

    url = os.environ.get("HIPPOGRAPH_TEST_POSTGRES_URL")
    if url:
        yield url
        return
    import shutil
    import tempfile

    # Not under pytest's 0700 basetemp: the server runs as the postgres user and must reach it.
    base = Path(tempfile.mkdtemp(prefix="hippograph-pg-"))
    server = start_postgres(base)
    yield server.admin_url
    server.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_settings(request) -> dict:
    """``Settings.database`` for each relational store a test must hold on: SQLite (the data
    dir's file) and a fresh PostgreSQL database."""
    return {"url": request.getfixturevalue("pg_url")} if request.param == "postgres" else {}


@pytest.fixture
def pg_url(postgres) -> str:
    """A fresh, empty database for one test."""
    import uuid

    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))  # name is ours, not user input
    admin.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + name


def shared_data(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"shared evaluation data not found at {path} (it lives beside the repo in ../shared/data)"
        )
    return path


def assert_utc(*stamps: str) -> None:
    """Every timestamp the API returns carries its offset, and it is UTC (on SQLite too)."""
    for stamp in stamps:
        parsed = datetime.fromisoformat(stamp)
        assert parsed.utcoffset() == timedelta(0), stamp
        assert abs(datetime.now(UTC) - parsed) < timedelta(minutes=5), stamp
