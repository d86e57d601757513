"""The evaluation harness end to end: real SQLite, the real embedder, the real job worker.

The fixture datasets under tests/fixtures/eval are small and built so that some rankings are
unambiguous by hand: each question's rare words (``Zorbulan``, ``Velmora``, ``Quillon``...)
occur in its gold passages only, so BM25 puts a gold passage first, and the second gold
passage is the only other one sharing a question word. Every corpus has fewer than 10
passages, so Recall@10 and Recall@20 are 100 in every mode.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.cli import main
from service.container import Container
from service.errors import InvalidInput
from service.evaluation.datasets import join_sentences, load_dataset, passage_key
from service.evaluation.harness import eval_settings, evaluate, write_report
from service.pipeline.documents import NewDocument
from tests.conftest import drain, make_settings, shared_data

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "eval"
MUSIQUE = FIXTURES / "musique_style"
HOTPOT = FIXTURES / "hotpot_style"
MODES = ["dense", "bm25", "graph"]


def _per_question(report, mode: str) -> dict[str, dict]:
    return {row["id"]: row for row in report.per_question if row["mode"] == mode}


# ------------------------------------------------------------------------------------ datasets


def test_load_musique_style():
    ds = load_dataset(MUSIQUE)
    assert ds.name == "musique_style" and len(ds.corpus) == 8 and len(ds.questions) == 3
    q1, q2, q3 = ds.questions
    assert q1.answers == ("Moss Sea", "the Moss Sea") and q3.answers == ("Afrodisia", "Afrodisia Records")
    zorbulan = next(p for p in ds.corpus if p.title == "Zorbulan Glacier")
    # q2 lists the Zorbulan paragraph with different whitespace: it is still the corpus passage
    assert q1.gold == (zorbulan.key,) and zorbulan.key in q2.gold and len(q2.gold) == 2
    assert ds.gold_missing_from_corpus == 0 and ds.corpus_dropped == 0
    assert len(load_dataset(MUSIQUE, limit=2).questions) == 2


def test_load_hotpot_style():
    ds = load_dataset(HOTPOT)
    assert len(ds.corpus) == 6 and [q.id for q in ds.questions] == ["h1", "h2", "h3"]
    tarn = next(p for p in ds.corpus if p.title == "Tarn (river)")
    assert (
        tarn.text
        == "The Tarn is a river in southern France and a tributary of the Garonne. It flows through Albi."
    )
    h2 = ds.questions[1]
    # supporting titles in order, once each; the context's odd whitespace still matches the corpus
    assert [title for title, _ in h2.gold] == ["Velmora Abbey", "Aldric Fenwyck"]
    assert all(key in {p.key for p in ds.corpus} for q in ds.questions for key in q.gold)
    assert h2.answers == ("cathedral school of Chartres",)


def test_join_sentences_keeps_hotpot_spacing():
    assert join_sentences(["A b.", " C d.", " E."]) == "A b. C d. E."  # HippoRAG's ''.join
    assert join_sentences(["A b.", "C d."]) == "A b. C d."  # no separator on either side: one space
    assert passage_key("T", "x \n y") == passage_key(" T ", "x y")


def test_gold_falls_back_to_the_unique_corpus_title(tmp_path):
    (tmp_path / "corpus.json").write_text(
        json.dumps({"Alpha": ["Alpha is a letter."], "Beta": ["Beta too."]})
    )
    (tmp_path / "questions.json").write_text(
        json.dumps(
            [
                {
                    "_id": "q",
                    "question": "Which letter?",
                    "answer": ["a", "A"],
                    "supporting_facts": [["Alpha", 0], ["Gamma", 0]],
                    "context": [["Alpha", ["Alpha is a letter (older text)."]]],
                }
            ]
        )
    )
    ds = load_dataset(tmp_path)
    assert ds.questions[0].gold == (("Alpha", "Alpha is a letter."), ("Gamma", ""))
    assert ds.gold_missing_from_corpus == 1 and ds.questions[0].answers == ("a", "A")


def test_load_rejects_a_folder_without_the_files(tmp_path):
    with pytest.raises(InvalidInput):
        load_dataset(tmp_path)


@pytest.mark.data
def test_load_shared_sample_multihop():
    ds = load_dataset(shared_data("sample-multihop"))
    assert len(ds.corpus) == 8 and len(ds.questions) == 1
    q = ds.questions[0]
    assert q.question == "Which river flows through the city where Marie Curie was born?"
    assert [title for title, _ in q.gold] == ["Marie Curie", "Warsaw"]
    assert q.answers == ("Vistula", "Vistula River")
    assert ds.gold_missing_from_corpus == 0 and ds.corpus_dropped == 0


@pytest.mark.data
def test_evaluate_shared_sample_multihop_offline(container):
    # The README walk-through's question, through the harness: graph mode has both gold passages
    # (Marie Curie, then Warsaw via the seed fact "Marie Curie was born in Warsaw") in its top 5;
    # dense has only Marie Curie there (Warsaw is 7th of 8).
    report = evaluate(container, load_dataset(shared_data("sample-multihop")), MODES)
    assert report.questions == 1 and report.ingest["extractor"] == "offline"
    assert report.ingest["passages"] == 8 and report.ingest["corpus_passages_not_indexed"] == 0
    graph, dense = report.results["graph"], report.results["dense"]
    assert graph.recall[5] == 100.0 and graph.recall[1] == 50.0
    assert dense.recall[5] == 50.0 and dense.recall[10] == 100.0
    ranked = _per_question(report, "graph")["sample/river"]["retrieved"]
    assert ranked[0] == "Marie Curie" and ranked.index("Warsaw") < 3, ranked


# ------------------------------------------------------------------------------------ bm25 mode


def test_bm25_mode_follows_writes(container):
    ns = "lex"
    container.documents.create_namespace(ns)
    first = [
        NewDocument(title="Paris", text="Paris is the capital of France."),
        NewDocument(title="Rome", text="Rome is the capital of Italy."),
    ]
    container.submit_documents(ns, first)
    drain(container)

    def ask(text: str):
        return container.query(ns, text, top_k=5, mode="bm25")

    result = ask("capital of Italy")
    assert result.mode == "bm25" and [p.title for p in result.passages] == ["Rome", "Paris"]
    assert result.passages[0].score > 0 and "embed" not in result.timings_ms
    assert ask("Vienna Austria").passages == []  # no passage shares a word with the query

    container.submit_documents(ns, [NewDocument(title="Vienna", text="Vienna is the capital of Austria.")])
    drain(container)
    assert ask("Vienna Austria").passages[0].title == "Vienna"  # new graph_version, new index
    with pytest.raises(InvalidInput):  # the use case bounds top_k in every mode
        container.query(ns, "x", top_k=0, mode="bm25")


# ------------------------------------------------------------------------------------ evaluate


def test_evaluate_musique_style_with_openie(container, tmp_path):
    ds = load_dataset(MUSIQUE)
    report = evaluate(container, ds, MODES, MUSIQUE / "openie.json")

    assert report.ingest["passages"] == 8 and report.ingest["documents"] == 8
    assert report.ingest["extractor"] == "imported:openie.json" and report.ingest["facts"] == 21
    assert report.ingest["corpus_passages_not_indexed"] == 0
    for mode in MODES:
        r = report.results[mode]
        assert r.recall[10] == 100.0 and r.recall[20] == 100.0, mode
        assert r.em is None and r.f1 is None
        assert 0 < r.latency_p50_ms <= r.latency_p95_ms

    # BM25 by hand: q1's words point at the Zorbulan passage only; q2 and q3 have two gold
    # passages each, one first and the other second -> R@1 = (1 + 1/2 + 1/2) / 3, R@2 = 100.
    bm25 = report.results["bm25"]
    assert bm25.recall[1] == 66.67 and bm25.recall[2] == 100.0
    rows = _per_question(report, "bm25")
    assert rows["1hop__zorbulan"]["retrieved"][0] == "Zorbulan Glacier"
    assert rows["2hop__lindqvist"]["retrieved"][:2] == ["Zorbulan Glacier", "Edda Lindqvist"]
    assert rows["2hop__afrodisia"]["retrieved"][:2] == ["Tarquin Oyelaran", "Lagos Nights"]
    # dense: the one-hop question's passage is unambiguous too
    assert _per_question(report, "dense")["1hop__zorbulan"]["recall"]["1"] == 1.0

    # same inputs, same recall: a second run rebuilds the namespace from scratch
    again = evaluate(container, ds, MODES, MUSIQUE / "openie.json")
    assert again.namespace == report.namespace
    assert {m: r.recall for m, r in again.results.items()} == {m: r.recall for m, r in report.results.items()}

    out = tmp_path / "out"
    write_report(report, out)
    data = json.loads((out / "report.json").read_text())
    assert data["dataset"] == "musique_style" and data["questions"] == 3
    assert set(data["results"]) == set(MODES)
    for result in data["results"].values():
        assert set(result) == {"recall", "em", "f1", "latency_ms"}
        assert set(result["recall"]) == {"1", "2", "5", "10", "20"}
        assert set(result["latency_ms"]) == {"p50", "p95"} and result["em"] is None
    assert data["results"]["bm25"]["recall"]["1"] == 66.67
    md = (out / "report.md").read_text()
    assert "| mode | R@1 | R@2 | R@5 | R@10 | R@20 | EM | F1 | p50 ms | p95 ms |" in md
    assert "| bm25 | 66.7 | 100.0 | 100.0 | 100.0 | 100.0 | – | – |" in md
    assert (out / "recall_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len((out / "per_question.jsonl").read_text().splitlines()) == 9


def test_evaluate_hotpot_style_offline_extractor(container):
    report = evaluate(container, load_dataset(HOTPOT), MODES)
    assert report.ingest["extractor"] == "offline" and report.ingest["passages"] == 6
    for mode in MODES:
        assert report.results[mode].recall[10] == 100.0 and report.results[mode].recall[20] == 100.0
    # h1: only the Velmora passage has "Velmora"; h2: Velmora first, then the only passage with
    # "educated"; h3: the only two passages with "Quillon"/"bridge" and "river"/"tributary".
    bm25 = report.results["bm25"]
    assert bm25.recall[1] == 66.67 and bm25.recall[2] == 100.0
    assert _per_question(report, "dense")["h1"]["recall"]["1"] == 1.0


def test_evaluate_reports_em_and_f1_with_an_llm(llm_container, fake_llm):
    fake_llm.answers.update(
        {"Zorbulan Glacier flow": "the Moss Sea.", "explorer who charted": "Brevik, Norway"}
    )
    report = evaluate(llm_container, load_dataset(MUSIQUE), ["dense"], MUSIQUE / "openie.json")
    # EM: 1, 0, 0 ("unknown" for q3).  F1: 1, 2/3 (P 1/2, R 1), 0.
    assert report.results["dense"].em == 33.33 and report.results["dense"].f1 == 55.56
    assert fake_llm.count("ner") == 0  # the OpenIE file was imported, the LLM only reads


def test_evaluate_rejects_unknown_modes(container):
    with pytest.raises(InvalidInput):
        evaluate(container, load_dataset(HOTPOT), ["dense", "colbert"])


# ------------------------------------------------------------------------------------ CLI


def test_cli_eval_smoke(tmp_path, monkeypatch, capsys, embedder):
    original = Container.from_settings.__func__
    monkeypatch.setattr(  # reuse the session's embedder instead of loading the model again
        Container, "from_settings", classmethod(lambda cls, s: original(cls, s, embedder=embedder))
    )
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(HOTPOT), "--modes", "dense,bm25", "--out", str(out), "--limit", "2"])
    assert exit_info.value.code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["questions"] == 2 and set(report["results"]) == {"dense", "bm25"}
    assert report["command"] == f"hippograph eval {HOTPOT} --modes dense,bm25 --out {out} --limit 2"
    assert (out / "data" / "hippograph.db").exists()  # no HIPPOGRAPH_DATA_DIR: the DB lives in the out folder
    assert "| bm25 |" in capsys.readouterr().out


def test_cli_eval_bad_dataset(tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["eval", str(tmp_path / "missing"), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 2


def test_eval_settings_keep_an_explicit_database(tmp_path):
    explicit = make_settings(tmp_path)
    assert eval_settings(explicit, tmp_path / "out").data_dir == tmp_path
    implicit = eval_settings(type(explicit)(), tmp_path / "out")
    assert implicit.data_dir == tmp_path / "out" / "data"
