"""Domain objects. Plain frozen dataclasses: no I/O, no framework types.

Vectors are float32 numpy arrays, L2-normalized by the embedder, so cosine similarity is a dot
product everywhere in the code base.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

NodeKind = Literal["passage", "entity"]
VectorKind = Literal["passage", "entity", "fact"]


@dataclass(frozen=True)
class Triple:
    subject: str
    relation: str
    object: str
    # The sentence that states the fact, when the extractor keeps it (the offline extractor
    # does): then the fact is embedded as its evidence rather than as the terse triple.
    evidence: str | None = None


@dataclass(frozen=True)
class Extraction:
    """What an extractor found in one passage: named entities and (s, r, o) facts."""

    entities: tuple[str, ...]
    triples: tuple[Triple, ...]


@dataclass(frozen=True)
class PassageText:
    """A chunk of a document, before extraction."""

    document_id: str
    index: int
    title: str | None
    text: str
    namespace: str = ""  # whose passage it is: an extractor's LLM cache is per namespace

    @property
    def content(self) -> str:
        """What is embedded and shown to extractors: the title (when any) and the text."""
        return f"{self.title}\n{self.text}" if self.title else self.text


@dataclass(frozen=True)
class Passage:
    id: str
    document_id: str
    index: int
    title: str | None
    text: str
    embedding: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    embedding: np.ndarray = field(repr=False, compare=False)


@dataclass(frozen=True)
class Fact:
    """A (subject, relation, object) edge between two entities, supported by a passage."""

    id: str
    subject_id: str
    relation: str
    object_id: str
    subject: str
    object: str
    passage_id: str
    embedding: np.ndarray = field(repr=False, compare=False)

    @property
    def text(self) -> str:
        return fact_text(self.subject, self.relation, self.object)


def fact_text(subject: str, relation: str, obj: str) -> str:
    """The string a fact is embedded as (stable: changing it changes every fact vector).

    The tuple form of the normalized parts, as HippoRAG embeds facts; on MuSiQue it linked
    better than plain "s r o" text (docs/retrieval.md).
    """
    from service.domain.normalize import normalize_name, normalize_relation

    return str((normalize_name(subject), normalize_relation(relation), normalize_name(obj)))


def fact_embedding_text(triple: Triple, title: str | None) -> str:
    """What a fact's vector is computed from: its evidence sentence (with the passage title,
    which names what the sentence is about) when the extractor kept one, else ``fact_text``."""
    if triple.evidence:
        return f"{title}\n{triple.evidence}" if title else triple.evidence
    return fact_text(triple.subject, triple.relation, triple.object)


@dataclass(frozen=True)
class Mention:
    passage_id: str
    entity_id: str


@dataclass(frozen=True)
class SynonymEdge:
    """Undirected; stored with ``entity_a < entity_b``."""

    entity_a: str
    entity_b: str
    score: float

    @staticmethod
    def of(a: str, b: str, score: float) -> SynonymEdge:
        lo, hi = (a, b) if a < b else (b, a)
        return SynonymEdge(lo, hi, float(score))


@dataclass(frozen=True)
class GraphWriteBatch:
    """Everything one or more documents add to the graph, written atomically and idempotently.
    ``entities`` are the nodes it creates; a mention, fact or synonym edge may also name an
    entity that is already stored."""

    namespace: str
    document_ids: tuple[str, ...]
    passages: tuple[Passage, ...]
    entities: tuple[Entity, ...]
    facts: tuple[Fact, ...]
    mentions: tuple[Mention, ...]
    synonyms: tuple[SynonymEdge, ...] = ()


@dataclass(frozen=True)
class GraphExport:
    """A namespace's graph for the PPR snapshot.

    ``node_ids[i]`` has kind ``node_kinds[i]``; ``edges`` are undirected ``(i, j, weight)`` over
    node indexes, each unordered pair at most once (weights of parallel edges are summed).
    """

    node_ids: list[str]
    node_kinds: list[NodeKind]
    edges: list[tuple[int, int, float]]


@dataclass(frozen=True)
class StoredPassage:
    id: str
    document_id: str
    title: str | None
    text: str


@dataclass(frozen=True)
class StoredFact:
    id: str
    subject_id: str
    subject: str
    relation: str
    object_id: str
    object: str


@dataclass(frozen=True)
class GraphStats:
    passages: int
    entities: int
    facts: int
    synonym_edges: int


@dataclass(frozen=True)
class RankedPassage:
    passage_id: str
    document_id: str
    title: str | None
    text: str
    score: float
