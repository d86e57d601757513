"""``ingest``: the one use case that turns documents into graph writes.

Run by the job worker for every ingestion job, whoever queued it (API, CLI ``import-openie``,
the evaluation harness). Work is done per group of documents so that embedding runs in large
batches (ingestion at embedding speed), while each document is still written in its own atomic, idempotent
transaction: a document either lands whole or not at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from service.domain import ids
from service.domain.models import Extraction, PassageText, SynonymEdge, fact_embedding_text
from service.errors import ExtractionFailed, GraphStoreUnavailable
from service.extraction.base import Extractor
from service.llm.embedder import Embedder
from service.pipeline.batch import build_write_batch, entity_names
from service.pipeline.chunking import split_document
from service.settings import ExtractionSettings
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


@dataclass(frozen=True)
class IngestOptions:
    """Ingestion parameters; ``from_settings`` is the only place they are filled from."""

    max_passage_words: int
    synonym_threshold: float
    synonym_top_k: int
    extraction_workers: int  # concurrent extractor calls (LLM requests) per group

    @classmethod
    def from_settings(cls, extraction: ExtractionSettings, *, extraction_workers: int) -> IngestOptions:
        return cls(
            max_passage_words=extraction.max_passage_words,
            synonym_threshold=extraction.synonym_threshold,
            synonym_top_k=extraction.synonym_top_k,
            extraction_workers=extraction_workers,
        )


class IngestObserver(Protocol):
    """What ``Ingest`` tells its caller while it works through a group.

    Either method may raise to stop the group at once: the exception propagates out of
    ``Ingest.__call__`` and nothing more is written (the job worker raises ``JobStopped`` when
    its job was cancelled or taken from it). Documents already written stay written."""

    def before_write(self, document_id: str) -> None:
        """Called right before the document's graph write."""

    def document_done(self, outcome: DocumentOutcome) -> None:
        """Called once per document, as soon as it was written or failed."""


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


@dataclass(frozen=True)
class Ingest:
    """The ingestion use case: extract, embed and write one group of documents."""

    store: GraphStore
    embedder: Embedder
    extractor: Extractor
    options: IngestOptions

    def __call__(
        self,
        namespace: str,
        documents: Sequence[DocumentInput],
        observer: IngestObserver,
        *,
        extractor: Extractor | None = None,
    ) -> list[DocumentOutcome]:
        """Returns one outcome per document, in order. ``extractor`` replaces the configured one
        for this group (an OpenIE import serves its file's extractions)."""
        options = self.options
        prepared = [
            _Prepared(
                d,
                split_document(d.id, d.title, d.text, options.max_passage_words)
                if d.split
                else [PassageText(d.id, 0, d.title, d.text.strip())],
            )
            for d in documents
        ]
        use = extractor or self.extractor
        workers = max(1, min(options.extraction_workers, len(prepared)))
        if workers == 1:
            prepared = [_extract_document(use, p) for p in prepared]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="extract") as pool:
                prepared = list(pool.map(lambda p: _extract_document(use, p), prepared))

        ok = [p for p in prepared if p.error is None]
        outcomes: dict[str, DocumentOutcome] = {
            p.doc.id: DocumentOutcome(p.doc.id, False, p.error) for p in prepared if p.error is not None
        }
        if ok:
            _embed_and_write(namespace, ok, self.store, self.embedder, options, outcomes, observer)
        for p in prepared:
            if p.error is not None:
                observer.document_done(outcomes[p.doc.id])
        return [outcomes[p.doc.id] for p in prepared]


def _embed_and_write(
    namespace: str,
    docs: list[_Prepared],
    store: GraphStore,
    embedder: Embedder,
    options: IngestOptions,
    outcomes: dict[str, DocumentOutcome],
    observer: IngestObserver,
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
        observer.before_write(d.doc.id)
        try:
            store.write(batch)
        except GraphStoreUnavailable:
            raise  # the store is down, not the document wrong: the worker retries the job later
        except Exception as exc:
            logger.exception("graph write failed for document %s", d.doc.id)
            outcome = DocumentOutcome(d.doc.id, False, f"graph write failed: {exc.__class__.__name__}: {exc}")
        else:
            available |= doc_entities
            outcome = DocumentOutcome(d.doc.id, True, None)
        outcomes[d.doc.id] = outcome
        observer.document_done(outcome)


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
