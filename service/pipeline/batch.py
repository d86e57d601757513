"""Pure assembly of graph writes: ``build_write_batch`` for one document from its extractions
and vectors, ``merge_batches`` for a group of documents written in one transaction.

Entity nodes are the subjects and objects of facts (as in HippoRAG); a passage mentions every
entity of its facts. Names keep their first-seen surface form; identity is the normalized name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from service.domain import ids
from service.domain.models import (
    Entity,
    Extraction,
    Fact,
    GraphWriteBatch,
    Mention,
    Passage,
    PassageText,
    SynonymEdge,
    fact_embedding_text,
)


def entity_names(extraction: Extraction) -> list[str]:
    """Entity surface forms of an extraction's facts, in first-seen order."""
    names: list[str] = []
    for t in extraction.triples:
        names.extend((t.subject, t.object))
    return names


def build_write_batch(
    namespace: str,
    document_id: str,
    passages: Sequence[PassageText],
    extractions: Sequence[Extraction],
    passage_vectors: np.ndarray,
    entity_vectors: Mapping[str, np.ndarray],
    fact_vectors: Mapping[str, np.ndarray],
    synonyms: Sequence[SynonymEdge] = (),
) -> GraphWriteBatch:
    """``entity_vectors`` is keyed by entity id and holds the entities NEW to the store: an entity
    without a vector is already stored, so the batch only mentions it (its node, name and
    vector stay as they are). ``fact_vectors`` is keyed by ``fact_embedding_text``."""
    if len(passages) != len(extractions) or len(passages) != len(passage_vectors):
        raise ValueError("passages, extractions and passage vectors must align")
    out_passages: list[Passage] = []
    out_entities: dict[str, Entity] = {}
    out_facts: dict[tuple[str, str], Fact] = {}
    out_mentions: dict[tuple[str, str], Mention] = {}
    for passage, extraction, vector in zip(passages, extractions, passage_vectors, strict=True):
        pid = ids.passage_id(namespace, document_id, passage.index, passage.text)
        out_passages.append(Passage(pid, document_id, passage.index, passage.title, passage.text, vector))
        for t in extraction.triples:
            sid = ids.entity_id(namespace, t.subject)
            oid = ids.entity_id(namespace, t.object)
            for eid, name in ((sid, t.subject), (oid, t.object)):
                if eid not in out_entities and eid in entity_vectors:
                    out_entities[eid] = Entity(eid, name, entity_vectors[eid])
                out_mentions.setdefault((pid, eid), Mention(pid, eid))
            fid = ids.fact_id(namespace, t.subject, t.relation, t.object)
            if (fid, pid) not in out_facts:
                out_facts[(fid, pid)] = Fact(
                    fid,
                    sid,
                    t.relation,
                    oid,
                    t.subject,
                    t.object,
                    pid,
                    fact_vectors[fact_embedding_text(t, passage.title)],
                )
    return GraphWriteBatch(
        namespace=namespace,
        document_ids=(document_id,),
        passages=tuple(out_passages),
        entities=tuple(out_entities.values()),
        facts=tuple(out_facts.values()),
        mentions=tuple(out_mentions.values()),
        synonyms=tuple(synonyms),
    )


def merge_batches(
    batches: Sequence[GraphWriteBatch], synonyms: Sequence[SynonymEdge] = ()
) -> GraphWriteBatch:
    """One write for several documents' batches (same namespace), with ``synonyms`` as its
    synonym edges. Rows shared by documents appear once: the first document's entity (its
    surface form and vector win, as they would written one by one), each mention and each
    (fact, passage) pair."""
    if not batches:
        raise ValueError("nothing to merge")
    entities: dict[str, Entity] = {}
    facts: dict[tuple[str, str], Fact] = {}
    mentions: dict[tuple[str, str], Mention] = {}
    for b in batches:
        for e in b.entities:
            entities.setdefault(e.id, e)
        for f in b.facts:
            facts.setdefault((f.id, f.passage_id), f)
        for m in b.mentions:
            mentions.setdefault((m.passage_id, m.entity_id), m)
    return GraphWriteBatch(
        namespace=batches[0].namespace,
        document_ids=tuple(d for b in batches for d in b.document_ids),
        passages=tuple(p for b in batches for p in b.passages),
        entities=tuple(entities.values()),
        facts=tuple(facts.values()),
        mentions=tuple(mentions.values()),
        synonyms=tuple(synonyms),
    )
