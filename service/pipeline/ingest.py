"""``ingest``: the one use case that turns documents into graph writes.

Called by the job worker (API and CLI ingestion), by ``import-openie`` and by the evaluation
harness. Work is done per group of documents so that embedding runs in large batches (ingestion
at embedding speed), while each document is still written in its own atomic, idempotent
transaction: a document either lands whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from service.domain import ids
from service.domain.models import Extraction, PassageText, SynonymEdge, fact_embedding_text
from service.errors import ExtractionFailed, GraphStoreUnavailable
from service.extraction.base import Extractor
from service.llm.embedder import Embedder
from service.pipeline.batch import build_write_batch, entity_names
from service.pipeline.chunking import split_document
from service.stores.base import GraphStore
from service.stores.vector_cache import top_k_search

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DocumentInput:
    id: str
    title: str | None
    text: str
    # Imported OpenIE passages must keep their identity: never re-split them.
    split: bool = True


@dataclass
class DocumentOutcome:
    document_id: str
    ok: bool
    error: str | None = None
    passages: int = 0


@dataclass
class IngestOptions:
    max_passage_words: int = 400
    synonym_threshold: float = 0.8
    synonym_top_k: int = 100
    extraction_workers: int = 1


@dataclass
class _Prepared:
    doc: DocumentInput
    passages: list[PassageText]
    extractions: list[Extraction] = field(default_factory=list)
    error: str | None = None


def _extract_document(extractor: Extractor, prepared: _Prepared) -> _Prepared:
    try:
        prepared.extractions = [extractor.extract(p) for p in prepared.passages]
    except ExtractionFailed as exc:
        prepared.error = exc.detail
    except Exception as exc:  # an extractor bug must fail the document, not the job
        logger.exception("extractor crashed on document %s", prepared.doc.id)
        prepared.error = f"extractor error: {exc.__class__.__name__}: {exc}"
    return prepared


def ingest(
    namespace: str,
    documents: Sequence[DocumentInput],
    *,
    store: GraphStore,
    embedder: Embedder,
    extractor: Extractor,
    options: IngestOptions,
    on_document: Callable[[DocumentOutcome], None] | None = None,
    before_write: Callable[[str], None] | None = None,
) -> list[DocumentOutcome]:
    """Extract, embed and write ``documents`` (one group). Returns one outcome per document, in
    order; ``on_document`` is called as each document is written or fails. ``before_write`` is
    called with each document id just before its graph write; an exception it raises stops the
    group there (the worker uses it to stop writing for a job it no longer holds)."""
    prepared = [
        _Prepared(
            d,
            split_document(d.id, d.title, d.text, options.max_passage_words)
            if d.split
            else [PassageText(d.id, 0, d.title, d.text.strip())],
        )
        for d in documents
    ]
    workers = max(1, min(options.extraction_workers, len(prepared)))
    if workers == 1:
        prepared = [_extract_document(extractor, p) for p in prepared]
    else:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="extract") as pool:
            prepared = list(pool.map(lambda p: _extract_document(extractor, p), prepared))

    ok = [p for p in prepared if p.error is None]
    outcomes: dict[str, DocumentOutcome] = {
        p.doc.id: DocumentOutcome(p.doc.id, False, p.error) for p in prepared if p.error is not None
    }
    if ok:
        _embed_and_write(namespace, ok, store, embedder, options, outcomes, on_document, before_write)
    for p in prepared:
        if p.error is not None and on_document is not None:
            on_document(outcomes[p.doc.id])
    return [outcomes[p.doc.id] for p in prepared]


def _embed_and_write(
    namespace: str,
    docs: list[_Prepared],
    store: GraphStore,
    embedder: Embedder,
    options: IngestOptions,
    outcomes: dict[str, DocumentOutcome],
    on_document: Callable[[DocumentOutcome], None] | None,
    before_write: Callable[[str], None] | None,
) -> None:
    # One embedding call per kind for the whole group.
    passage_texts = [p.content for d in docs for p in d.passages]
    passage_matrix = embedder.embed(passage_texts)
    names: dict[str, str] = {}
    facts: dict[str, None] = {}
    for d in docs:
        for passage, extraction in zip(d.passages, d.extractions, strict=True):
            for name in entity_names(extraction):
                names.setdefault(ids.entity_id(namespace, name), name)
            for t in extraction.triples:
                facts.setdefault(fact_embedding_text(t, passage.title))
    entity_ids = list(names)
    entity_matrix = embedder.embed([names[e] for e in entity_ids])
    fact_keys = list(facts)
    fact_matrix = embedder.embed(fact_keys)
    entity_vectors = dict(zip(entity_ids, entity_matrix, strict=True))
    fact_vectors = dict(zip(fact_keys, fact_matrix, strict=True))

    existing = store.existing_entity_ids(namespace, entity_ids)
    new_ids = [e for e in entity_ids if e not in existing]
    candidates = _synonym_candidates(namespace, new_ids, entity_vectors, store, options)

    available = set(existing)
    offset = 0
    for d in docs:
        n = len(d.passages)
        vectors = passage_matrix[offset : offset + n]
        offset += n
        doc_entities = {ids.entity_id(namespace, name) for x in d.extractions for name in entity_names(x)}
        reachable = available | doc_entities
        synonyms = [
            s
            for s in candidates
            if (s.entity_a in doc_entities or s.entity_b in doc_entities)
            and s.entity_a in reachable
            and s.entity_b in reachable
        ]
        batch = build_write_batch(
            namespace, d.doc.id, d.passages, d.extractions, vectors, entity_vectors, fact_vectors, synonyms
        )
        if before_write is not None:
            before_write(d.doc.id)
        try:
            store.write(batch)
        except GraphStoreUnavailable:
            raise  # the store is down, not the document wrong: the worker retries the job later
        except Exception as exc:
            logger.exception("graph write failed for document %s", d.doc.id)
            outcome = DocumentOutcome(d.doc.id, False, f"graph write failed: {exc.__class__.__name__}: {exc}")
        else:
            available |= doc_entities
            outcome = DocumentOutcome(d.doc.id, True, None, passages=n)
        outcomes[d.doc.id] = outcome
        if on_document is not None:
            on_document(outcome)


def _synonym_candidates(
    namespace: str,
    new_ids: list[str],
    entity_vectors: dict[str, np.ndarray],
    store: GraphStore,
    options: IngestOptions,
) -> list[SynonymEdge]:
    """Synonym edges for NEW entities only: kNN among stored entities and among the group's
    new entities, cosine >= threshold. Existing entities never gain edges to each other."""
    if not new_ids:
        return []
    queries = np.vstack([entity_vectors[e] for e in new_ids])
    edges: dict[tuple[str, str], SynonymEdge] = {}
    hits = store.search_vectors(
        namespace, "entity", queries, options.synonym_top_k, options.synonym_threshold
    )
    local = top_k_search(new_ids, queries, queries, options.synonym_top_k + 1, options.synonym_threshold)
    for neighbour_lists in (hits, local):
        for source, found in zip(new_ids, neighbour_lists, strict=True):
            for other, score in found:
                if other != source:
                    edge = SynonymEdge.of(source, other, score)
                    edges.setdefault((edge.entity_a, edge.entity_b), edge)
    return [edges[k] for k in sorted(edges)]
