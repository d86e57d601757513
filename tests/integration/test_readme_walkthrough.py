"""The README's walk-through, run as written against a real `hippograph serve` process.

The bash block under "## Walk-through" is cut at its numbered comments; each step runs with
bash from the repository root (so `../shared/data/sample-multihop` resolves as it does for a
user), with only the port changed from 8000 to a free one. Step 3 is a single poll in the README;
here it is repeated until the job ends. The trimmed responses the README shows after the block
(one JSON block per mode) are held to what steps 4 (graph) and 5 (dense) really return.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.live_server import wait_ready
from tests.conftest import shared_data

REPO = Path(__file__).resolve().parents[2]


def _walkthrough_section() -> str:
    readme = (REPO / "README.md").read_text()
    return re.split(r"^##+ ", readme.split("## Walk-through", 1)[1], maxsplit=1, flags=re.M)[0]


def _walkthrough_steps() -> dict[int, str]:
    block = re.search(r"```bash\n(.*?)```", _walkthrough_section(), re.S)
    assert block, "README walk-through has no bash block"
    steps: dict[int, str] = {}
    for chunk in re.split(r"^# (?=\d+\. )", block.group(1), flags=re.M)[1:]:
        number = int(chunk.split(".", 1)[0])
        steps[number] = chunk.split("\n", 1)[1].strip()
    assert sorted(steps) == [1, 2, 3, 4, 5], steps
    return steps


def _shown_responses() -> dict[str, dict]:
    """The README's trimmed responses, by mode (each a ```json block that parses as JSON)."""
    shown = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", _walkthrough_section(), re.S)]
    by_mode = {r["mode"]: r for r in shown}
    assert sorted(by_mode) == ["dense", "graph"] and len(shown) == 2, shown
    return by_mode


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = _free_port()
    env = {**os.environ, "HIPPOGRAPH_DATA_DIR": str(tmp_path / "data")}
    env.pop("HIPPOGRAPH_LLM__BASE_URL", None)
    env.pop("HIPPOGRAPH_LLM__API_KEY", None)
    log = (tmp_path / "serve.log").open("w")
    # The console script the README's run command installs (pip install -e .), as a user runs it.
    hippograph = shutil.which("hippograph") or str(Path(sys.executable).with_name("hippograph"))
    proc = subprocess.Popen(
        [hippograph, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    if not wait_ready(f"http://127.0.0.1:{port}", proc, timeout_s=180, poll_s=0.5):
        proc.kill()
        raise AssertionError(
            f"hippograph serve did not become ready:\n{(tmp_path / 'serve.log').read_text()}"
        )
    yield port, tmp_path
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _bash(script: str, port: int, tmp_path: Path, extra_env: dict[str, str] | None = None) -> str:
    script = script.replace("localhost:8000", f"localhost:{port}").replace(
        "/tmp/demo-docs.json", str(tmp_path / "d.json")
    )
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=REPO,
        env={**os.environ, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, f"{script}\n--- stderr\n{done.stderr}"
    return done.stdout


def _assert_scores_match(shown: dict, got: dict) -> None:
    """The README rounds scores to 4 decimals; allow that and a little platform drift."""
    for key in ("passages", "facts"):
        want = [item["score"] for item in shown.get(key, [])]
        assert [item["score"] for item in got[key]][: len(want)] == pytest.approx(want, abs=1e-3), key


def test_readme_walkthrough_runs_as_written(served):
    shared_data("sample-multihop", "corpus.json")
    port, tmp_path = served
    steps = _walkthrough_steps()
    shown = _shown_responses()

    namespace = json.loads(_bash(steps[1], port, tmp_path))
    assert namespace["name"] == "demo"

    job_id = _bash(steps[2] + '\necho "$JOB"', port, tmp_path).strip()
    assert job_id

    deadline = time.monotonic() + 120
    while True:
        job = json.loads(_bash(steps[3], port, tmp_path, {"JOB": job_id}))
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job["status"] == "succeeded" and job["progress"] == {"done": 8, "total": 8, "failed": 0}

    # Step 4: the default mode (graph on the offline extractor) reaches the second hop.
    graph = json.loads(_bash(steps[4], port, tmp_path))
    titles = [p["title"] for p in graph["passages"]]
    assert graph["mode"] == "graph" and len(titles) == 3, graph
    assert {"Marie Curie", "Warsaw"} <= set(titles), titles  # both gold passages in the top 3
    facts = [f["text"] for f in graph["facts"]]
    assert "Marie Curie was born in Warsaw" in facts, facts
    assert graph["entities"] and graph["timings_ms"]["total"] > 0
    # What the README shows for graph mode is what it returns: titles in order, seed facts.
    assert [p["title"] for p in shown["graph"]["passages"]] == titles
    assert [f["text"] for f in shown["graph"]["facts"]] == facts
    _assert_scores_match(shown["graph"], graph)

    # Step 5: dense, for the same question; the README shows its top 3 as returned, in order.
    dense = json.loads(_bash(steps[5], port, tmp_path))
    dense_titles = [p["title"] for p in dense["passages"]]
    assert dense["mode"] == "dense" and not dense["facts"]
    assert [p["title"] for p in shown["dense"]["passages"]] == dense_titles
    _assert_scores_match(shown["dense"], dense)
    assert "Warsaw" not in dense_titles, dense_titles  # the README says dense misses the second hop
