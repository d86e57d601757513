"""``hippograph export`` / ``hippograph import`` on SQLite: a namespace moves to another
deployment with its documents, metadata, ids and extractions, and the destination builds the
same graph without running an extractor (its LLM is never called). Broken files are refused
whole, naming the line. The SQL → file → Neo4j move is tests/contract/test_export_import_backends.py.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest
import sqlalchemy as sa

from service.cli import main
from service.container import Container
from service.domain import ids
from service.domain.records import DocumentStatus
from service.errors import Conflict, InvalidInput, NamespaceNotFound, PayloadTooLarge, TooManyRequests
from service.pipeline.documents import NewDocument
from service.pipeline.transfer import ImportNamespace
from service.pipeline.transfer_format import open_for_writing
from service.stores.sql import tables as t
from tests.conftest import drain, llm_settings, make_settings, shared_data
from tests.contract.test_ingest_order import graph_digest

NS = "moved"
QUESTION = "Which river flows through the city where Marie Curie was born?"


def _corpus() -> list[NewDocument]:
    corpus = json.loads(shared_data("sample-multihop", "corpus.json").read_text())
    docs = [NewDocument(text=p["text"], title=p["title"], metadata={"n": i}) for i, p in enumerate(corpus)]
    return [
        *docs,
        NewDocument(text="Chopin was born in Zelazowa Wola.", id="my-own-id", metadata={"tag": "x"}),
    ]


def _open(path: Path, embedder, **settings) -> Container:
    path.mkdir(parents=True, exist_ok=True)
    c = Container.from_settings(make_settings(path, **settings), embedder=embedder)
    c.migrate()
    return c


@pytest.fixture
def source(tmp_path: Path, embedder):
    # Small passages: each document is several passages, which the destination must keep as
    # they are whatever its own passage size.
    c = _open(tmp_path / "source", embedder, extraction={"extractor": "offline", "max_passage_words": 20})
    c.documents.create_namespace(NS)
    c.submit_documents(NS, _corpus())
    drain(c)
    yield c
    c.close()


def _export(c: Container, path: Path, namespace: str = NS) -> dict:
    with open_for_writing(str(path)) as out:
        summary = c.export_namespace(namespace, out)
    return summary.__dict__


def _ranking(c: Container, namespace: str = NS) -> list[tuple[str, float]]:
    result = c.query(namespace, QUESTION, top_k=10)
    return [(p.passage_id, round(p.score, 5)) for p in result.passages]


def test_round_trip_rebuilds_the_same_graph_without_extracting(tmp_path, embedder, source, fake_llm):
    file = tmp_path / "backup.jsonl.gz"
    summary = _export(source, file)
    assert summary == {"namespace": NS, "documents": 9, "with_extraction": 9, "to_extract": 0}
    assert not (tmp_path / "backup.jsonl.gz.partial").exists()
    lines = [json.loads(line) for line in gzip.decompress(file.read_bytes()).decode().splitlines()]
    assert lines[0]["format"] == "hippograph-export"
    assert lines[-1] == {"end": "hippograph-export", "documents": 9}
    # The offline extractor's evidence sentences travel: facts are embedded as them.
    assert any(len(triple) == 4 for line in lines[1:-1] for p in line["passages"] for triple in p["triples"])

    # The destination would extract with an LLM (and splits passages differently): the import
    # must use neither.
    dest = _open(
        tmp_path / "dest",
        embedder,
        llm=llm_settings(fake_llm),
        extraction={"extractor": "llm", "max_passage_words": 400},
    )
    try:
        imported = dest.import_namespace(file)
        assert imported.namespace == NS and imported.documents == 9 and imported.to_extract == 0
        drain(dest)
        assert fake_llm.requests == []
        assert all(dest.jobs.get(j).status == "succeeded" for j in imported.job_ids)
        assert dest.stats(NS) == source.stats(NS)
        assert graph_digest(dest.graph, NS) == graph_digest(source.graph, NS)
        assert _ranking(dest) == _ranking(source)
        # Ids (generated and chosen) and metadata are kept.
        before = {d.id: d.metadata for d in source.documents.list(NS, limit=100, offset=0)[0]}
        after = {d.id: d.metadata for d in dest.documents.list(NS, limit=100, offset=0)[0]}
        assert after == before and after["my-own-id"] == {"tag": "x"}

        # Exported again, the destination's file carries the same documents and extractions.
        again = tmp_path / "again.jsonl"
        _export(dest, again)

        def content(path: Path) -> list[dict]:
            with open(path, "rb") as f:
                raw = gzip.decompress(f.read()) if path.suffix == ".gz" else f.read()
            rows = [json.loads(line) for line in raw.decode().splitlines()[1:-1]]
            return [{k: v for k, v in r.items() if k not in ("created_at", "extractor")} for r in rows]

        assert content(again) == content(file)

        # Importing the same file again indexes nothing more.
        version = dest.graph.graph_version(NS)
        repeat = dest.import_namespace(file)
        drain(dest)
        assert repeat.documents == 9 and dest.graph.graph_version(NS) == version
        assert dest.stats(NS) == source.stats(NS)
    finally:
        dest.close()


def test_documents_without_an_extraction_are_extracted_on_import(tmp_path, embedder, source):
    # One in the middle indexed before extractions were recorded (its row removed here), one
    # still pending at the end.
    order = [d.id for d in source.documents.list(NS, limit=100, offset=0)[0]]
    middle = order[3]
    with source.engine.begin() as conn:
        x = t.document_extractions
        conn.execute(x.delete().where(x.c.document_id == middle))
    pending = source.submit_documents(NS, [NewDocument(text="Paris is on the Seine.", id="later")])
    summary = _export(source, tmp_path / "mixed.jsonl")
    assert summary["to_extract"] == 2 and summary["with_extraction"] == 8
    lines = [json.loads(x) for x in (tmp_path / "mixed.jsonl").read_text().splitlines()]
    by_id = {x["id"]: x for x in lines[1:-1]}
    assert "passages" not in by_id[middle] and "passages" not in by_id["later"]
    assert by_id["later"]["status"] == "pending"
    assert source.jobs.get(pending.job_id).status == "queued"

    dest = _open(tmp_path / "dest", embedder, extraction={"extractor": "offline"})
    try:
        imported = dest.import_namespace(tmp_path / "mixed.jsonl", namespace="elsewhere")
        # Runs of the file, in its order: 3 with, 1 without, 5 with, 1 without.
        assert (imported.with_extraction, imported.to_extract, len(imported.job_ids)) == (8, 2, 4)
        drain(dest)
        docs, _ = dest.documents.list("elsewhere", limit=100, offset=0)
        assert all(d.status == DocumentStatus.INDEXED for d in docs) and len(docs) == 10
        # Generated ids are generated again for the new namespace (the same content posted
        # there finds the imported document); chosen ids are kept; the file's order is kept.
        corpus = _corpus()
        assert [d.id for d in docs] == [
            ids.document_id("elsewhere", c.title, c.text) if c.id is None else c.id for c in corpus
        ] + ["later"]
        again = dest.submit_documents("elsewhere", corpus[:1])
        assert again.job_id == imported.job_ids[0]
        # Extracted here, so recorded here: the next export carries them.
        assert _export(dest, tmp_path / "next.jsonl", "elsewhere")["with_extraction"] == 10
    finally:
        dest.close()


def test_an_import_is_not_held_to_the_queued_jobs_limit_but_to_the_quotas(tmp_path, embedder, source):
    file = tmp_path / "f.jsonl"
    _export(source, file)
    dest = _open(tmp_path / "dest", embedder, limits={"max_queued_jobs_per_namespace": 1})
    try:
        importer = ImportNamespace(dest.documents, dest.submit_documents, job_documents=2)
        assert len(importer(file).job_ids) == 5  # 9 documents, 2 per job, nothing refused
        drain(dest)
        assert dest.stats(NS) == source.stats(NS)
    finally:
        dest.close()
    full = _open(tmp_path / "full", embedder, limits={"max_documents_per_namespace": 5})
    try:
        with pytest.raises(TooManyRequests, match="would pass its limit of 5"):
            full.import_namespace(file)
        with pytest.raises(NamespaceNotFound):  # refused before anything was stored
            full.documents.get_namespace(NS)
    finally:
        full.close()


def test_the_extraction_goes_with_its_document(tmp_path, source):
    def recorded(namespace: str = NS) -> int:
        with source.engine.connect() as conn:
            return conn.execute(
                sa.select(sa.func.count())
                .select_from(t.document_extractions)
                .where(t.document_extractions.c.namespace == namespace)
            ).scalar_one()

    assert recorded() == 9
    source.delete_document(NS, "my-own-id")
    assert recorded() == 8
    source.delete_namespace(NS)
    assert recorded() == 0


def _valid_lines(source: Container, tmp_path: Path) -> list[str]:
    _export(source, tmp_path / "ok.jsonl")
    return (tmp_path / "ok.jsonl").read_text().splitlines(keepends=True)


def _edit(lines: list[str], change) -> list[str]:
    """The lines with the first document's object changed by ``change``."""
    doc = json.loads(lines[1])
    change(doc)
    return [lines[0], json.dumps(doc) + "\n", *lines[2:]]


def _triple(doc: dict) -> None:
    doc["passages"][0]["triples"][0] = ["only", "two"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda lines: lines[:-1], "without its end line: it was cut short"),
        (lambda lines: [*lines[:3], "{not json\n", *lines[3:]], "line 4: not valid JSON"),
        (lambda lines: ['{"format": "other"}\n', *lines[1:]], "line 1: not a Hippograph export"),
        (lambda lines: [*lines[:2], lines[1], *lines[2:]], "appears twice"),
        (lambda lines: [*lines[:-1], '{"end": "hippograph-export", "documents": 3}\n'], "counts 3 documents"),
        (
            lambda lines: _edit(lines, _triple),
            "line 2: passages[0].triples[0] must be [subject, relation, object(, evidence)]",
        ),
        (lambda lines: _edit(lines, lambda d: d.update(text="\u0000" + d["text"])), "NUL"),
        (lambda lines: _edit(lines, lambda d: d.update(text="\u200b ")), "line 2: 'text' is blank"),
        (lambda lines: _edit(lines, lambda d: d.update(id="a/../b")), "line 2: id cannot have '.' or '..'"),
        (
            lambda lines: _edit(lines, lambda d: d.update(metadata=[1])),
            "line 2: 'metadata' must be an object",
        ),
        (
            lambda lines: _edit(
                lines, lambda d: d["passages"][0].update(text="Injected text, not the document.")
            ),
            "line 2: its passages are not the document's text",
        ),
        (lambda lines: [], "the file is empty"),
    ],
)
def test_a_broken_file_is_refused_whole(tmp_path, embedder, source, damage, message):
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(damage(_valid_lines(source, tmp_path))))
    dest = _open(tmp_path / "dest", embedder)
    try:
        with pytest.raises(InvalidInput, match=re.escape(message)):
            dest.import_namespace(bad)
        with pytest.raises(NamespaceNotFound):  # nothing stored, not even the namespace
            dest.documents.get_namespace(NS)
    finally:
        dest.close()


def test_what_the_api_would_refuse_is_refused_with_its_line(tmp_path, embedder, source):
    lines = _valid_lines(source, tmp_path)
    (tmp_path / "f.jsonl").write_text("".join(lines))
    dest = _open(tmp_path / "dest", embedder, limits={"max_document_chars": 100})
    try:
        with pytest.raises(PayloadTooLarge, match=r"^line 2: text has \d+ characters; the limit is 100"):
            dest.import_namespace(tmp_path / "f.jsonl")
        with pytest.raises(InvalidInput, match=r"cannot read .*missing\.jsonl: No such file"):
            dest.import_namespace(tmp_path / "missing.jsonl")
    finally:
        dest.close()


def test_a_gzip_file_cut_short_is_refused(tmp_path, embedder, source):
    _export(source, tmp_path / "ok.jsonl.gz")
    data = (tmp_path / "ok.jsonl.gz").read_bytes()
    (tmp_path / "cut.gz").write_bytes(data[: len(data) // 2])
    dest = _open(tmp_path / "dest", embedder)
    try:
        with pytest.raises(InvalidInput, match=r"unreadable|cut short"):
            dest.import_namespace(tmp_path / "cut.gz")
    finally:
        dest.close()


def test_an_id_taken_by_other_content_is_a_conflict(tmp_path, embedder, source):
    file = tmp_path / "f.jsonl"
    _export(source, file)
    dest = _open(tmp_path / "dest", embedder)
    try:
        dest.documents.create_namespace(NS)
        dest.submit_documents(NS, [NewDocument(text="Something else entirely.", id="my-own-id")])
        with pytest.raises(Conflict, match="my-own-id"):
            dest.import_namespace(file)
    finally:
        dest.close()


def test_the_commands(tmp_path, source, monkeypatch, capsys):
    """The CLI end to end: export from one data dir, import into another (the embedded default
    deployment of each), with its JSON summary; a missing namespace is an error, not a file."""
    monkeypatch.setenv("HIPPOGRAPH_DATA_DIR", str(source.settings.data_dir))
    with pytest.raises(SystemExit) as done:
        main(["export", NS, str(tmp_path / "cli.jsonl.gz")])
    assert done.value.code == 0
    with pytest.raises(SystemExit) as done:
        main(["export", "nope", str(tmp_path / "nope.jsonl")])
    assert done.value.code == 1 and not (tmp_path / "nope.jsonl").exists()
    assert not (tmp_path / "nope.jsonl.partial").exists()

    monkeypatch.setenv("HIPPOGRAPH_DATA_DIR", str(tmp_path / "elsewhere"))
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["import", str(tmp_path / "cli.jsonl.gz"), "--namespace", "copy"])
    assert done.value.code == 0
    out = json.loads(capsys.readouterr().out)
    stats = source.stats(NS)
    assert out["namespace"] == "copy" and out["failed"] == 0 and out["with_extraction"] == 9
    assert (out["passages"], out["entities"], out["facts"]) == (stats.passages, stats.entities, stats.facts)
