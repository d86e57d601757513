"""``ingest``: the one use case that turns documents into graph writes.

Run by the job worker for every ingestion job, whoever queued it (API, CLI ``import-openie``,
the evaluation harness). Work is done per group of documents so that embedding runs in large
batches (ingestion at embedding speed), while each document is still written in its own atomic, idempotent
transaction: a document either lands whole or not at all.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from service.domain import ids
from service.domain.models import (
    Entity,
    Extraction,
    GraphWriteBatch,
    PassageText,
    SynonymEdge,
    fact_embedding_text,
)
from service.domain.records import PassageExtraction
from service.errors import ExtractionFailed, GraphStoreUnavailable, LLMUnavailable
from service.extraction.base import Extractor
from service.llm.embedder import Embedder
from service.llm.lane import QueryLane
from service.observability.logs import log_context
from service.pipeline.batch import build_write_batch, entity_names, merge_batches
from service.pipeline.chunking import split_document
from service.retrieval.snapshot import SnapshotCache
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
    # The passages as they were indexed elsewhere (an import of an export file): used as they
    # are, whatever this deployment's passage size.
    passages: tuple[str, ...] | None = None


@dataclass
class DocumentOutcome:
    document_id: str
    ok: bool
    error: str | None = None
    deleted: bool = False  # deleted before its write: nothing of it was written
    # A written document's extraction, passage by passage, and who made it: recorded with its
    # status so that an export carries it (no extractor runs again on import).
    extraction: tuple[PassageExtraction, ...] | None = None
    extractor: str | None = None


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

    ``before_write`` may raise to stop the group: the exception propagates out of
    ``Ingest.__call__`` and nothing more is written (the job worker raises ``JobStopped`` when
    its job was cancelled or taken from it). Documents already written stay written."""

    def before_write(self, document_ids: Sequence[str]) -> Collection[str]:
        """Called right before a graph write of these documents (the group, or one document
        when a group write failed and its documents are written one by one), under the
        namespace's write lock. The place to stop. Returns the ids still to write: a document
        deleted since it was read is left out (its outcome is ``deleted``)."""

    def document_done(self, outcome: DocumentOutcome) -> None:
        """Called once per document, as soon as it was written or failed. It should not raise
        to stop: the documents written with it in one transaction must all be recorded."""


@dataclass
class _Prepared:
    doc: DocumentInput
    passages: list[PassageText]
    extractions: list[Extraction] = field(default_factory=list)
    error: str | None = None
    extractor: str = ""

    def written(self) -> DocumentOutcome:
        """The outcome of this document once written, with the extraction to record."""
        record = tuple(
            PassageExtraction.of(p.text, x) for p, x in zip(self.passages, self.extractions, strict=True)
        )
        return DocumentOutcome(self.doc.id, True, None, extraction=record, extractor=self.extractor)


def _extract_document(extractor: Extractor, prepared: _Prepared) -> _Prepared:
    prepared.extractor = extractor.name
    with log_context(document_id=prepared.doc.id):
        try:
            prepared.extractions = [extractor.extract(p) for p in prepared.passages]
        except ExtractionFailed as exc:
            prepared.error = exc.detail
        except LLMUnavailable:
            raise  # an outage: nothing of the group is written, and the worker retries the job
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
    # This process's query snapshots: each write extends them (queries see it at once).
    snapshots: SnapshotCache | None = None
    lane: QueryLane | None = None  # queries in progress in this process go first (llm/lane.py)
    # One graph writer per namespace across the deployment (stores/sql/write_lock.py): held
    # from the synonym search through the write. None: no other writer to fear (tests).
    write_lock: WriteLock | None = None

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
                [
                    replace(p, namespace=namespace)
                    for p in (
                        [PassageText(d.id, i, d.title, text) for i, text in enumerate(d.passages)]
                        if d.passages is not None
                        else split_document(d.id, d.title, d.text, options.max_passage_words)
                        if d.split
                        else [PassageText(d.id, 0, d.title, d.text.strip())]
                    )
                ],
            )
            for d in documents
        ]
        use = extractor or self.extractor
        workers = max(1, min(options.extraction_workers, len(prepared)))
        if workers == 1:
            prepared = [_extract_document(use, p) for p in prepared]
        else:
            # Each extraction runs in a copy of this context: its log records keep the job id.
            context = contextvars.copy_context()
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="extract") as pool:
                prepared = list(pool.map(lambda p: context.copy().run(_extract_document, use, p), prepared))

        ok = [p for p in prepared if p.error is None]
        outcomes: dict[str, DocumentOutcome] = {
            p.doc.id: DocumentOutcome(p.doc.id, False, p.error) for p in prepared if p.error is not None
        }
        if ok:
            # Embedded outside the lock; the synonym search and the write under it, so that
            # groups written by concurrent workers link to each other's entities.
            vectors, new_ids = _embed_group(namespace, ok, self.store, self.embedder)
            with self.write_lock(namespace) if self.write_lock is not None else nullcontext():
                _write_group(
                    namespace,
                    ok,
                    self.store,
                    self._write,
                    self.embedder,
                    options,
                    outcomes,
                    observer,
                    vectors,
                    new_ids,
                )
        for p in prepared:
            if p.error is not None:
                observer.document_done(outcomes[p.doc.id])
        return [outcomes[p.doc.id] for p in prepared]

    def _write(self, batch: GraphWriteBatch) -> int:
        if self.lane is not None:
            self.lane.wait_for_queries()
        version = self.store.write(batch)
        if self.snapshots is not None:
            try:
                self.snapshots.follow_write(batch, version)
            except Exception:  # the write happened: a snapshot problem must not undo its outcome
                logger.exception("snapshot update after a write to %s failed", batch.namespace)
                self.snapshots.drop(batch.namespace)
        return version


Write = Callable[[GraphWriteBatch], int]
WriteLock = Callable[[str], AbstractContextManager[None]]


@dataclass
class _GroupVectors:
    """The group's embeddings: passages in document order, NEW entities by id (entities already
    stored keep the vector they have and are not embedded again), facts by embedding text."""

    passages: np.ndarray
    entities: dict[str, np.ndarray]
    facts: dict[str, np.ndarray]


def _embed_group(
    namespace: str, docs: list[_Prepared], store: GraphStore, embedder: Embedder
) -> tuple[_GroupVectors, list[str]]:
    """One embedding pass per kind over the group's texts; returns the vectors and the ids of
    the entities new to the store, in first-seen order."""
    passage_matrix = embedder.embed([p.content for d in docs for p in d.passages])
    names: dict[str, str] = {}
    facts: dict[str, None] = {}
    for d in docs:
        for passage, extraction in zip(d.passages, d.extractions, strict=True):
            for name in entity_names(extraction):
                names.setdefault(ids.entity_id(namespace, name), name)
            for t in extraction.triples:
                facts.setdefault(fact_embedding_text(t, passage.title))
    existing = store.existing_entity_ids(namespace, list(names))
    new_ids = [e for e in names if e not in existing]
    entity_matrix = embedder.embed([names[e] for e in new_ids])
    fact_keys = list(facts)
    fact_matrix = embedder.embed(fact_keys)
    vectors = _GroupVectors(
        passage_matrix,
        dict(zip(new_ids, entity_matrix, strict=True)),
        dict(zip(fact_keys, fact_matrix, strict=True)),
    )
    return vectors, new_ids


def _doc_entities(namespace: str, d: _Prepared) -> set[str]:
    return {ids.entity_id(namespace, name) for x in d.extractions for name in entity_names(x)}


def _write_group(
    namespace: str,
    docs: list[_Prepared],
    store: GraphStore,
    write: Write,
    embedder: Embedder,
    options: IngestOptions,
    outcomes: dict[str, DocumentOutcome],
    observer: IngestObserver,
    vectors: _GroupVectors,
    new_ids: list[str],
) -> None:
    """Write the embedded group in ONE graph transaction, under the namespace's write lock. If
    that write fails for a reason other than an outage, each document is written on its own, so
    one bad document fails alone, with its reason."""
    # Asked first, under the lock: a document deleted (and perhaps posted again) since the
    # group was read is not written, so no stale copy of it can land after its delete.
    keep = set(observer.before_write([d.doc.id for d in docs]))
    starts = np.cumsum([0] + [len(d.passages) for d in docs])
    slices = {d.doc.id: vectors.passages[starts[i] : starts[i + 1]] for i, d in enumerate(docs)}
    for d in docs:
        if d.doc.id not in keep:
            outcomes[d.doc.id] = DocumentOutcome(d.doc.id, False, None, deleted=True)
            observer.document_done(outcomes[d.doc.id])
    docs = [d for d in docs if d.doc.id in keep]
    if not docs:
        return
    # New: mentioned by a document still written, and not stored by another worker since the
    # group was embedded (its synonyms were found when it was written; its name and vector win).
    wanted = set().union(*(_doc_entities(namespace, d) for d in docs))
    stored = store.existing_entity_ids(namespace, [e for e in new_ids if e in wanted])
    new_ids = [e for e in new_ids if e in wanted and e not in stored]
    candidates = _synonym_candidates(namespace, new_ids, vectors.entities, store, options)
    batches = [
        build_write_batch(
            namespace, d.doc.id, d.passages, d.extractions, slices[d.doc.id], vectors.entities, vectors.facts
        )
        for d in docs
    ]
    # In one transaction every synonym edge has both ends: the group's new entities and those
    # already stored. The graph therefore does not depend on how documents were grouped.
    try:
        write(merge_batches(batches, candidates))
    except GraphStoreUnavailable:
        raise  # the store is down, not a document wrong: the worker retries the job later
    except Exception:
        logger.warning("graph write of a group of %d documents failed; writing them one by one", len(docs))
        _write_one_by_one(namespace, docs, batches, candidates, store, write, embedder, outcomes, observer)
        return
    for d in docs:
        outcomes[d.doc.id] = d.written()
        observer.document_done(outcomes[d.doc.id])


def _write_one_by_one(
    namespace: str,
    docs: list[_Prepared],
    batches: list[GraphWriteBatch],
    candidates: list[SynonymEdge],
    store: GraphStore,
    write: Write,
    embedder: Embedder,
    outcomes: dict[str, DocumentOutcome],
    observer: IngestObserver,
) -> None:
    """The fallback of a failed group write: each document in its own transaction, with the
    vectors of entities that were stored when the group started but are gone now (a concurrent
    delete). Each synonym edge goes with the first write after which both its ends exist, once."""
    wanted = {e for d in docs for e in _doc_entities(namespace, d)}
    wanted |= {e for s in candidates for e in (s.entity_a, s.entity_b)}
    available = store.existing_entity_ids(namespace, wanted)
    pending = list(candidates)
    for d, batch in zip(docs, batches, strict=True):
        doc_entities = _doc_entities(namespace, d)
        reachable = available | doc_entities
        synonyms = tuple(s for s in pending if s.entity_a in reachable and s.entity_b in reachable)
        have = {e.id for e in batch.entities}
        missing = sorted(doc_entities - have - available)
        if missing:
            names: dict[str, str] = {}
            for x in d.extractions:
                for n in entity_names(x):
                    names.setdefault(ids.entity_id(namespace, n), n)
            found = embedder.embed([names[e] for e in missing])
            extra = tuple(Entity(e, names[e], v) for e, v in zip(missing, found, strict=True))
            batch = replace(batch, entities=batch.entities + extra)
        if d.doc.id not in observer.before_write([d.doc.id]):
            outcomes[d.doc.id] = DocumentOutcome(d.doc.id, False, None, deleted=True)
            observer.document_done(outcomes[d.doc.id])
            continue
        try:
            write(replace(batch, synonyms=synonyms))
        except GraphStoreUnavailable:
            raise
        except Exception as exc:
            with log_context(document_id=d.doc.id):
                logger.exception("graph write failed for document %s", d.doc.id)
            outcome = DocumentOutcome(d.doc.id, False, f"graph write failed: {exc.__class__.__name__}: {exc}")
        else:
            available |= doc_entities
            pending = [s for s in pending if s not in synonyms]
            outcome = d.written()
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
