"""The embedding floor of an OpenIE import: the distinct texts ingestion embeds, embedded once.

``import_texts`` derives, from the parsed file and with the pipeline's own functions (document
ids, ``clean_extraction``, ``entity_names``, entity ids, ``fact_embedding_text``), exactly the
passage, entity and fact texts an import of that file into a fresh namespace embeds:

- passages: ``PassageText.content`` (title + "\\n" + text) of each distinct document;
- entities: the first-seen surface name of each distinct entity id (an entity already stored is
  never embedded again, so a fresh namespace embeds each once);
- facts: each distinct ``fact_embedding_text`` (ingestion may embed a fact text once per group
  that states it; the floor counts it once).

``embed_floor`` embeds them with the model ingestion uses (the raw model under the ingestion
lane: same backend, same threads), kind by kind, longest first, in batches of ``batch``, and
returns the wall time. It does not warm the model: the caller does, outside the timing.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from service.domain import ids
from service.domain.models import PassageText, fact_embedding_text
from service.extraction.base import clean_extraction
from service.extraction.hipporag_import import parse_openie
from service.llm.embedder import Embedder
from service.pipeline.batch import entity_names

FLOOR_BATCH = 128


@dataclass(frozen=True)
class ImportTexts:
    passages: list[str]
    entities: list[str]
    facts: list[str]

    @property
    def total(self) -> int:
        return len(self.passages) + len(self.entities) + len(self.facts)

    def counts(self) -> dict[str, int]:
        return {"passages": len(self.passages), "entities": len(self.entities), "facts": len(self.facts)}


def import_texts(namespace: str, raw: bytes) -> ImportTexts:
    """The distinct texts an import of ``raw`` into a fresh ``namespace`` embeds (see module)."""
    openie = parse_openie(raw)
    # As ImportOpenIE: a document per passage, the first copy's row; the extraction of the
    # LAST copy (a dict keyed by document id).
    extractions = {
        ids.document_id(namespace, p.title, p.text): (p.entities, p.triples) for p in openie.passages
    }
    passages: dict[str, PassageText] = {}
    for p in openie.passages:
        doc_id = ids.document_id(namespace, p.title, p.text)
        # The worker hands Ingest an unsplit document: one passage, the text stripped.
        passages.setdefault(doc_id, PassageText(doc_id, 0, p.title, p.text.strip()))
    passage_texts: dict[str, None] = {}
    entities: dict[str, str] = {}
    facts: dict[str, None] = {}
    for doc_id, passage in passages.items():
        passage_texts.setdefault(passage.content)
        found_entities, found_triples = extractions[doc_id]
        extraction = clean_extraction(found_entities, [tuple(t) for t in found_triples])
        for name in entity_names(extraction):
            entities.setdefault(ids.entity_id(namespace, name), name)
        for t in extraction.triples:
            facts.setdefault(fact_embedding_text(t, passage.title))
    return ImportTexts(list(passage_texts), list(entities.values()), list(facts))


def raw_model(embedder: Embedder) -> Embedder:
    """The model under a query/ingestion lane wrapper (``service/llm/lane.py``), or itself."""
    inner = getattr(embedder, "inner", None)
    return inner if inner is not None else embedder


def embed_floor(embedder: Embedder, texts: ImportTexts, batch: int = FLOOR_BATCH) -> dict[str, float]:
    """Seconds to embed each kind of ``texts`` once (keys: the kinds and ``total``)."""
    out: dict[str, float] = {}
    for kind, items in (("passages", texts.passages), ("entities", texts.entities), ("facts", texts.facts)):
        ordered = sorted(items, key=len, reverse=True)
        started = time.perf_counter()
        for i in range(0, len(ordered), batch):
            embedder.embed(ordered[i : i + batch])
        out[kind] = time.perf_counter() - started
    out["total"] = sum(out.values())
    return out
