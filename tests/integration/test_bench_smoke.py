"""Smoke test of ``hippograph bench``: parts a and b on a tiny made-up OpenIE import.

Checks that the command runs end to end and writes bench.json / bench.md with the figures and
sane values. Speed goals are never asserted here: the acceptance marks are only recorded.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main

PASSAGES = [
    (
        "Marie Curie",
        "Marie Curie was born in Warsaw. She won the Nobel Prize in Physics.",
        [["Marie Curie", "born in", "Warsaw"], ["Marie Curie", "won", "Nobel Prize in Physics"]],
    ),
    (
        "Warsaw",
        "Warsaw is the capital of Poland, on the Vistula river.",
        [["Warsaw", "capital of", "Poland"], ["Warsaw", "on", "Vistula"]],
    ),
    (
        "Pierre Curie",
        "Pierre Curie married Marie Curie in 1895 in Sceaux.",
        [["Pierre Curie", "married", "Marie Curie"], ["Pierre Curie", "married in", "Sceaux"]],
    ),
    ("Vistula", "The Vistula is the longest river in Poland.", [["Vistula", "longest river in", "Poland"]]),
    (
        "Sceaux",
        "Sceaux is a commune in the southern suburbs of Paris.",
        [["Sceaux", "commune near", "Paris"]],
    ),
    ("Paris", "Paris is the capital of France.", [["Paris", "capital of", "France"]]),
]
QUESTIONS = [
    "Which river flows through the city where Marie Curie was born?",
    "Where did Pierre Curie marry?",
    "What is the capital of Poland?",
]


def _dataset(folder: Path) -> Path:
    folder.mkdir()
    docs = [
        {
            "title": title,
            "text": text,
            "passage": f"{title}\n{text}",
            "extracted_entities": sorted({x for t in triples for x in (t[0], t[2])}),
            "extracted_triples": triples,
        }
        for title, text, triples in PASSAGES
    ]
    (folder / "openie_test.json").write_text(json.dumps({"docs": docs}))
    (folder / "questions.json").write_text(
        json.dumps([{"id": str(i), "question": q} for i, q in enumerate(QUESTIONS)])
    )
    return folder


def test_bench_parts_a_and_b_write_the_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HIPPOGRAPH_DATA_DIR", str(tmp_path / "data"))
    out = tmp_path / "out"
    data = _dataset(tmp_path / "tiny")
    with pytest.raises(SystemExit) as exited:
        main(["bench", "--only", "a,b", "--quick", "--out", str(out), "--musique-dir", str(data)])
    assert exited.value.code == 0

    report = json.loads((out / "bench.json").read_text())
    assert report["quick"] is True
    assert set(report["parts"]) == {"a", "b"}
    a, b = report["parts"]["a"]["figures"], report["parts"]["b"]["figures"]
    assert report["parts"]["a"]["status"] == report["parts"]["b"]["status"] == "ok"

    # a: the floor embeds exactly the texts the import wrote (6 passages, their entities, facts).
    assert a["floor_texts"]["passages"] == a["graph"]["passages"] == len(PASSAGES)
    assert a["floor_texts"]["entities"] == a["graph"]["entities"]
    assert a["floor_texts"]["facts"] == a["graph"]["facts"]
    assert a["ingest_s"] > 0 and a["floor_s"] > 0 and a["ingest_over_floor"] > 0

    # b: every mode measured over every question, and the ratio.
    for mode in ("dense", "bm25", "graph"):
        assert b[f"{mode}_ms"]["n"] == len(QUESTIONS)
        assert 0 < b[f"{mode}_ms"]["p50_ms"] <= b[f"{mode}_ms"]["p95_ms"]
    assert b["graph_p50_over_dense_p50"] > 0

    names = {(c["part"], c["name"]) for c in report["acceptance"]}
    assert ("a", "MuSiQue import wall time / embedding floor") in names
    assert ("b", "graph p50 / dense p50") in names
    assert all(c["passed"] in (True, False) for c in report["acceptance"])
    markdown = (out / "bench.md").read_text()
    assert "## Acceptance" in markdown and ("PASS" in markdown or "FAIL" in markdown)
