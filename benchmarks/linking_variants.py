"""Research prototype: graph-mode variants on the sample question and on MuSiQue-100 (offline).

    hippograph eval ../shared/data/musique-100 --modes graph --out /tmp/eval-offline   # once
    python benchmarks/linking_variants.py --musique-data /tmp/eval-offline/data \
        --sample ../shared/data/sample

Why it exists: issue #2 asks that the sample question ("Which Stanford University professor
works on Alzheimer's?") rank its gold passage (Thomas C. Sudhof) first on the offline default.
Nothing in that passage mentions Alzheimer's. This script checks whether any reasonable change
to how facts are embedded, linked or seeded ranks it first *without* losing recall on
MuSiQue-100, the benchmark the defaults were chosen on. Each variant reuses the service's query
code (``pipeline.query.Query.rank``); the ones that change a stage swap exactly that stage in,
for the duration of the variant. Prints one JSON object per variant and a markdown table
(docs/retrieval.md, "The sample question").

``--sample`` is optional and has no default: nothing here depends on ``../shared/data/sample``
unless it is asked for. Without it the script runs the variants on MuSiQue-100 only and the
table has no sample column. The table in docs/retrieval.md was made with ``--sample
../shared/data/sample`` (the Sudhof question above). Any small dataset in the same format works
(e.g. ``../shared/data/sample-multihop``); the sample column gives the rank of each gold passage
of its first question, ``/``-separated where it has several.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import service.pipeline.query as query_module  # noqa: E402
from service.container import Container  # noqa: E402
from service.domain import ids  # noqa: E402
from service.domain.models import PassageText  # noqa: E402
from service.domain.records import QueryMode  # noqa: E402
from service.evaluation.datasets import Dataset, load_dataset, passage_key  # noqa: E402
from service.evaluation.harness import eval_namespace  # noqa: E402
from service.extraction.offline import OfflineExtractor  # noqa: E402
from service.pipeline.documents import NewDocument  # noqa: E402
from service.retrieval import linking  # noqa: E402
from service.retrieval.lexical import LexicalIndex  # noqa: E402
from service.retrieval.snapshot import Snapshot  # noqa: E402
from service.settings import Settings  # noqa: E402

KS = (1, 2, 5, 10)
_LEADING_PRONOUN = re.compile(r"^(.{0,25}?)\b(he|she|it|they)\b", re.IGNORECASE)


@dataclasses.dataclass
class Corpus:
    """One indexed dataset: its container, namespace, snapshot and gold keys per snapshot row."""

    tag: str
    container: Container
    namespace: str
    dataset: Dataset
    snapshot: Snapshot
    row_keys: list
    evidence: dict[str, tuple[str, str]]  # fact id -> (passage title, evidence sentence)
    lexical: LexicalIndex


def _open(tag: str, container: Container, namespace: str, dataset: Dataset) -> Corpus:
    snapshot = container.snapshots.get(namespace)
    stored = container.graph.get_passages(namespace, snapshot.passage_ids)
    doc_keys = {ids.document_id(namespace, p.title or None, p.text): p.key for p in dataset.corpus}
    row_keys = [
        doc_keys.get(stored[pid].document_id) or passage_key(stored[pid].title, stored[pid].text)
        for pid in snapshot.passage_ids
    ]
    # The offline extractor is deterministic: re-running it recovers each fact's evidence sentence.
    extractor, evidence = OfflineExtractor(), {}
    for p in dataset.corpus:
        doc = ids.document_id(namespace, p.title or None, p.text)
        for t in extractor.extract(PassageText(doc, 0, p.title or None, p.text)).triples:
            evidence.setdefault(
                ids.fact_id(namespace, t.subject, t.relation, t.object), (p.title, t.evidence)
            )
    texts = [
        f"{stored[p].title}\n{stored[p].text}" if stored[p].title else stored[p].text
        for p in snapshot.passage_ids
    ]
    lexical = LexicalIndex(namespace, snapshot.version, texts)
    return Corpus(tag, container, namespace, dataset, snapshot, row_keys, evidence, lexical)


def sample_corpus(data: Path, work: Path) -> Corpus:
    dataset = load_dataset(data)
    container = Container.from_settings(Settings(data_dir=work, extraction={"extractor": "offline"}))
    container.migrate()
    container.documents.create_namespace("sample")
    container.submit_documents("sample", [NewDocument(text=p.text, title=p.title) for p in dataset.corpus])
    container.worker().drain()
    return _open("sample", container, "sample", dataset)


def musique_corpus(data: Path, eval_data_dir: Path) -> Corpus:
    dataset = load_dataset(data)
    settings = Settings(data_dir=eval_data_dir, extraction={"extractor": "offline"})
    return _open("musique", Container.from_settings(settings), eval_namespace(dataset, None), dataset)


# ------------------------------------------------------------------------------------ variants


def fact_vectors(corpus: Corpus, rewrite: Callable[[str, str], str]) -> np.ndarray:
    """The fact matrix re-embedded from each fact's (title, evidence) through ``rewrite``."""
    snap = corpus.snapshot
    texts = [rewrite(*corpus.evidence[f]) if f in corpus.evidence else None for f in snap.fact_ids]
    unique = sorted({t for t in texts if t})
    vectors = corpus.container.embedder.embed(unique)
    row = {t: i for i, t in enumerate(unique)}
    matrix = snap.fact_matrix.copy()
    for r, t in enumerate(texts):
        if t:
            matrix[r] = vectors[row[t]]
    return matrix


def evidence_only(title: str, sentence: str) -> str:
    return sentence


def pronoun_to_title(title: str, sentence: str) -> str:
    m = _LEADING_PRONOUN.match(sentence)
    return sentence[: m.start(2)] + title + sentence[m.end(2) :] if m and title else sentence


def distinct_statement_linker(matrix: np.ndarray, split_weight: bool):
    """Link the top-k distinct *statements* (facts with identical vectors come from one evidence
    sentence) and seed from every fact of each; ``split_weight`` shares a statement's weight
    among its facts instead of giving each the full weight."""
    group_of: dict[bytes, int] = {}
    members: dict[int, list[int]] = defaultdict(list)
    groups = np.array([group_of.setdefault(v.tobytes(), len(group_of)) for v in matrix], dtype=np.int64)
    for r, g in enumerate(groups):
        members[int(g)].append(r)
    service_link = linking.link_facts

    def link(snapshot, query, dense, question, params):
        ranked = service_link(
            snapshot, query, dense, question, dataclasses.replace(params, top_k=len(groups))
        )
        out, seen = [], set()
        for fact in ranked:
            g = int(groups[fact.row])
            if g in seen:
                continue
            seen.add(g)
            share = 1 / len(members[g]) if split_weight else 1.0
            by_row = {f.row: f for f in ranked if int(groups[f.row]) == g}
            out.extend(dataclasses.replace(by_row[r], weight=by_row[r].weight * share) for r in members[g])
            if len(seen) == params.top_k:
                break
        return out

    return link


@contextmanager
def dense_blend(corpus: Corpus, weight: float, signal: str) -> Iterator[None]:
    """Replace the dense passage scores graph mode uses (passage bonus, passage seeds, ties) by
    ``dense + weight * signal``: ``bm25`` (max-normalized) or ``sentence`` (best evidence sentence
    of the passage, no title; ``dense`` itself where a passage has no fact)."""
    snap = corpus.snapshot
    original = query_module._graph_rank
    sentence_matrix = fact_vectors(corpus, evidence_only) if signal == "sentence" else None
    fact_of_source = np.repeat(np.arange(len(snap.fact_ids)), np.diff(snap.fact_source_start))

    def graph_rank(snapshot, question, q, dense, *args, **kwargs):
        if signal == "bm25":
            b = corpus.lexical.scores(question).astype(float)
            extra = b / b.max() if b.max() > 0 else b
            blended = dense + weight * extra
        else:
            best = np.full(len(snap.passage_ids), -np.inf)
            np.maximum.at(best, snap.fact_source_rows, (sentence_matrix @ q)[fact_of_source])
            best = np.where(np.isfinite(best), best, dense)
            blended = (1 - weight) * dense + weight * best
        return original(snapshot, question, q, blended, *args, **kwargs)

    with mock.patch.object(query_module, "_graph_rank", graph_rank):
        yield


def evaluate(corpus: Corpus, snapshot: Snapshot) -> tuple[dict[int, float], list]:
    sums = dict.fromkeys(KS, 0.0)
    gold_ranks = []

    class Fixed:  # the variant's snapshot, whatever the store's version says
        @staticmethod
        def get(namespace: str) -> Snapshot:
            return snapshot

    query = dataclasses.replace(corpus.container.query, snapshots=Fixed, fact_filter=None, reader=None)
    for q in corpus.dataset.questions:
        result = query.rank(corpus.namespace, q.question, top_k=max(KS), mode=QueryMode.GRAPH)
        rows = {pid: r for r, pid in enumerate(snapshot.passage_ids)}
        ranked = [corpus.row_keys[rows[p.passage_id]] for p in result.passages]
        for k in KS:
            sums[k] += len(set(q.gold) & set(ranked[:k])) / len(q.gold)
        gold_ranks.append([ranked.index(g) + 1 if g in ranked else None for g in q.gold])
    n = len(corpus.dataset.questions)
    return {k: round(100 * v / n, 1) for k, v in sums.items()}, gold_ranks


def variants(corpus: Corpus):
    """(name, snapshot, context manager) for every variant, the service default first."""
    snap = corpus.snapshot
    no_change = mock.patch.object(query_module, "_graph_rank", query_module._graph_rank)
    yield "service default (title + evidence)", snap, no_change
    for name, rewrite in [("evidence without title", evidence_only), ("pronoun -> title", pronoun_to_title)]:
        yield (
            f"fact vectors: {name}",
            dataclasses.replace(snap, fact_matrix=fact_vectors(corpus, rewrite)),
            no_change,
        )
    for split in (False, True):
        linker = distinct_statement_linker(snap.fact_matrix, split)
        label = "top-3 distinct statements" + (", weight shared" if split else "")
        yield label, snap, mock.patch.object(query_module, "link_facts", linker)
    for weight in (0.1, 0.3):
        yield f"dense + {weight}·bm25", snap, dense_blend(corpus, weight, "bm25")
    for weight in (0.25, 0.5):
        yield f"dense blended with best sentence ({weight})", snap, dense_blend(corpus, weight, "sentence")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--sample",
        default=None,
        help="small dataset whose first question's gold ranks form a table column, e.g. "
        "../shared/data/sample (docs/retrieval.md's table); skipped when not given",
    )
    parser.add_argument("--musique", default=str(REPO.parent / "shared/data/musique-100"))
    parser.add_argument(
        "--musique-data", required=True, help="data dir of `hippograph eval <musique> --out DIR` (offline)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="hippograph-variants-") as work:
        sample = sample_corpus(Path(args.sample), Path(work)) if args.sample else None
        musique = musique_corpus(Path(args.musique), Path(args.musique_data))
        rows = []
        for corpus in [c for c in (sample, musique) if c is not None]:
            for name, snapshot, context in variants(corpus):
                with context:
                    recall, gold_ranks = evaluate(corpus, snapshot)
                row = {"corpus": corpus.tag, "variant": name, "recall": recall}
                if corpus.tag == "sample":
                    row["gold_rank"] = gold_ranks[0]  # one rank per gold passage (None: not in top 10)
                print(json.dumps(row), flush=True)
                rows.append(row)
        if sample is not None:
            sample.container.close()
        musique.container.close()
    print(f"\nCommand: python {' '.join(sys.argv)}\n")
    sample_head = "sample: gold rank | " if sample is not None else ""
    print(f"| variant | {sample_head}MuSiQue R@2 | R@5 | R@10 |")
    print("|" + " --- |" * (5 if sample is not None else 4))
    by_variant = defaultdict(dict)
    for row in rows:
        by_variant[row["variant"]][row["corpus"]] = row
    for name, got in by_variant.items():
        r = got["musique"]["recall"]
        ranks = ""
        if sample is not None:
            ranks = "/".join(str(rank) for rank in got["sample"]["gold_rank"]) + " | "
        print(f"| {name} | {ranks}{r[2]} | {r[5]} | {r[10]} |")


if __name__ == "__main__":
    main()
