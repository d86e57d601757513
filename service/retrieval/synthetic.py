"""Synthetic snapshots shaped like 2WikiMultiHopQA read by the offline extractor: the walk at scale
measured without a corpus of that size (benchmarks/walk_scale.py, the unit tests).

The shape was measured with the service's own extractor (``OfflineExtractor``) on
``../shared/data/2wiki-corpus`` (benchmarks/walk_scale.py ``--measure`` prints it again):

- per passage, (entities, facts, distinct fact vectors) of 500 passages sampled with
  ``random.seed(0)``: 8.3 entities, 14.3 facts and 2.9 fact vectors on average (facts read from
  one sentence share its evidence vector). Generated passages draw their row from this sample.
- passages per entity, over the whole corpus (6,119 passages): 86% of entities are mentioned by
  one passage; the degrees >= 2 follow a power law of exponent 2.58 (discrete maximum
  likelihood). Distinct entities grow with the corpus as passages ** 0.91 (5.83 per passage at
  6,119, 7.32 at 500), so at 100k passages entities are shared more: the share of single-mention
  entities is lowered until the mean degree matches that growth.
- 0.76 synonym edges per passage (152 for 200 2Wiki documents, issue 9), weights 0.8-1.0.

Facts join two entities of their passage; each passage's facts are spread over its fact vectors.
Vectors are random unit vectors (``dim`` 384): passages and fact vectors; entity vectors are not
part of a snapshot. Ids have the product's length (``passage-`` + 32 hex digits) and entity
names and fact texts are filled in, so the snapshot's memory is the product's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from service.retrieval.ppr import TransitionMatrix
from service.retrieval.snapshot import Snapshot, name_key

# (entities, facts, fact vectors) per passage, 500 2Wiki passages (see the module docstring).
TWOWIKI_SAMPLE = (
    "3,5,1;3,5,1;4,4,2;26,57,6;5,11,1;6,12,1;19,28,7;5,7,2;10,11,7;9,11,6;4,4,2;4,6,1;9,15,2;13,24,4;"
    "22,29,10;3,5,1;6,5,3;16,34,5;7,11,3;4,5,2;3,3,2;16,28,4;2,2,1;7,12,2;13,22,5;24,39,16;2,1,1;9,18"
    ",2;3,5,1;27,54,12;4,6,1;10,9,4;4,8,1;5,4,2;4,6,1;2,2,1;6,7,4;6,15,2;5,9,1;7,15,1;5,6,2;10,22,2;3"
    ",5,1;13,15,5;3,5,1;5,9,1;8,15,2;5,9,1;5,9,1;7,12,2;9,16,4;8,12,2;8,13,3;8,15,3;12,20,5;30,50,11;"
    "4,8,1;2,2,1;26,51,9;3,3,1;6,7,2;3,5,1;13,16,4;14,15,6;6,10,2;7,12,2;8,13,2;7,5,3;6,9,2;3,3,1;2,2"
    ",1;4,6,1;4,5,2;5,11,2;4,9,2;3,3,1;3,5,1;10,21,3;8,18,2;7,14,3;4,8,1;7,10,2;6,9,2;6,8,2;5,9,1;2,2"
    ",1;33,52,9;6,14,1;5,7,2;28,42,12;6,10,2;23,39,3;7,13,2;6,8,3;7,12,3;6,12,2;4,4,2;7,10,2;4,8,1;6,"
    "12,1;4,9,1;6,11,2;9,13,3;4,6,1;3,3,1;5,11,1;6,9,2;12,16,7;28,50,14;2,2,1;4,8,1;10,16,3;7,15,2;4,"
    "8,1;3,5,1;11,14,3;7,13,2;16,35,6;6,9,2;7,9,3;8,15,2;7,13,2;11,14,4;3,5,1;4,9,2;7,15,1;7,15,2;5,8"
    ",2;4,5,1;3,3,1;8,15,3;3,3,1;17,24,6;5,9,1;3,3,1;4,7,1;4,8,1;8,15,2;4,8,1;11,15,4;5,9,1;8,17,3;8,"
    "12,2;4,4,2;4,6,2;6,5,3;4,6,2;6,8,3;4,8,1;3,3,1;8,8,3;29,44,15;31,52,10;7,10,5;14,36,4;4,9,1;6,7,"
    "2;0,0,0;5,9,1;3,3,2;5,9,2;3,5,2;8,18,2;5,9,1;3,5,1;4,8,1;6,14,1;3,5,1;5,6,2;0,0,0;7,11,2;11,27,2"
    ";7,15,2;9,14,3;16,27,4;5,9,2;5,9,1;25,50,11;7,8,2;8,8,3;3,3,1;8,9,3;5,9,1;4,6,1;6,9,2;25,41,8;8,"
    "20,1;27,39,11;7,11,4;12,29,2;3,3,2;7,14,2;10,13,4;18,27,8;38,67,12;4,8,1;12,22,5;4,6,1;2,2,1;6,1"
    "2,1;4,5,2;3,3,1;15,22,7;4,9,1;6,8,3;4,5,2;11,30,5;5,9,2;14,24,4;4,6,1;3,3,2;5,8,2;2,2,1;4,6,2;0,"
    "0,0;5,9,1;12,21,8;9,19,2;5,4,2;17,26,5;50,112,16;28,64,9;3,3,2;41,72,18;2,2,1;10,17,2;3,5,1;5,9,"
    "1;6,12,1;8,11,3;43,80,14;3,5,1;5,8,2;4,8,1;4,4,2;7,14,2;5,9,1;2,2,1;18,30,7;5,10,1;4,6,1;2,1,1;4"
    ",8,1;5,7,2;7,15,1;9,10,4;5,9,1;6,7,2;6,5,3;5,10,2;8,15,2;5,8,2;22,51,10;4,5,2;3,5,1;9,24,2;4,6,1"
    ";5,9,1;5,7,2;10,15,6;4,6,1;5,6,2;15,30,4;14,21,4;11,24,2;18,27,8;2,2,1;6,14,1;13,32,2;12,18,5;7,"
    "10,2;5,12,3;4,8,1;2,1,1;2,1,1;25,27,13;19,27,7;8,15,2;10,14,3;8,6,5;5,8,2;10,26,2;5,11,1;7,6,3;1"
    "9,37,6;10,18,3;2,2,1;3,3,2;3,3,1;5,8,2;20,35,6;20,38,10;4,8,1;7,17,3;2,2,1;8,13,3;5,10,4;5,9,1;0"
    ",0,0;6,11,2;2,2,1;9,18,2;15,30,3;8,13,2;6,9,2;4,6,1;3,3,1;5,7,2;6,14,1;26,41,9;4,6,2;2,2,1;21,32"
    ",9;26,47,9;7,7,3;7,9,3;4,6,1;4,6,2;5,8,2;24,35,8;9,14,2;10,9,5;5,9,1;9,20,2;7,10,2;7,12,2;3,3,1;"
    "5,9,1;5,9,1;2,2,1;19,43,4;9,16,3;19,41,9;4,6,2;10,21,2;2,2,1;18,36,7;9,15,4;29,69,18;14,24,5;4,6"
    ",1;4,5,2;3,5,1;5,11,1;9,13,4;35,71,15;6,9,2;6,12,1;0,0,0;6,12,2;10,11,5;4,6,1;11,19,4;5,9,1;9,12"
    ",5;8,13,2;6,12,1;8,16,2;7,11,2;16,25,6;22,43,8;19,50,8;4,4,2;3,3,1;6,12,1;2,2,1;21,33,6;9,11,3;3"
    "7,77,15;9,18,3;6,12,1;6,12,1;2,1,1;11,24,2;5,11,2;2,1,1;26,50,15;4,2,2;18,33,4;14,24,8;5,6,2;5,9"
    ",1;3,3,2;8,13,3;9,10,4;8,8,3;3,5,1;3,5,1;2,2,1;12,18,4;3,5,1;3,5,1;8,12,3;4,6,1;5,9,1;6,11,2;5,9"
    ",1;34,54,9;4,8,1;2,2,1;2,1,1;7,15,1;2,1,1;8,9,3;26,42,12;11,16,5;8,17,4;5,9,1;9,20,2;6,9,2;4,4,3"
    ";15,27,6;14,30,4;3,3,2;15,36,2;11,12,4;2,2,1;5,6,2;5,7,2;5,9,1;10,23,2;5,9,1;6,7,3;5,7,2;4,6,1;1"
    "3,25,4;5,6,2;5,9,1;0,0,0;5,9,1;3,5,1;10,20,3;17,27,6;6,10,3;19,26,9;5,7,2;14,23,4;6,11,2;14,25,6"
    ";7,12,2;6,10,2;15,29,3;12,19,4;3,3,2;5,4,2;4,6,1;6,5,3;11,17,3;5,9,1;6,7,2;9,18,2;12,17,6;4,10,2"
    ";19,51,4;0,0,0;10,19,2;4,8,1;2,2,1;2,2,1;7,15,1;5,9,1;2,1,1;11,27,4;6,6,2;9,23,3;10,19,2;24,46,6"
    ";13,22,3;4,7,1;2,2,1;15,23,3;19,33,6;7,12,2;12,15,4;2,1,1;8,18,1;15,23,6;3,3,1;3,5,1;9,15,4;6,12"
    ",1;8,18,1;9,20,2;2,2,1;8,18,2;4,8,1;8,17,2;5,5,2;5,7,2;16,32,6;5,11,1;4,6,1;3,3,1;6,12,1;52,95,2"
    "1;5,9,2;5,6,2;11,15,5;14,33,2;0,0,0"
)


@dataclass(frozen=True)
class Shape:
    profiles: np.ndarray  # (passages, 3): entities, facts, distinct fact vectors
    single_mention_share: float  # entities mentioned by one passage, at ``measured_at`` passages
    tail_exponent: float  # power law of the degrees >= 2
    entities_per_passage: float  # distinct entities per passage at ``measured_at`` passages
    heaps_exponent: float  # distinct entities grow as passages ** heaps_exponent
    measured_at: int
    synonyms_per_passage: float

    @classmethod
    def twowiki(cls) -> Shape:
        profiles = np.array([[int(v) for v in row.split(",")] for row in TWOWIKI_SAMPLE.split(";")])
        return cls(profiles, 0.860, 2.58, 5.83, 0.91, 6_119, 0.76)

    def entity_count(self, passages: int) -> float:
        growth = (passages / self.measured_at) ** self.heaps_exponent
        return self.entities_per_passage * self.measured_at * growth


def _tail_pmf(exponent: float, largest: int) -> np.ndarray:
    """P(degree = d) for d = 2..largest under a discrete power law."""
    d = np.arange(2, largest + 1, dtype=float)
    weights = d**-exponent
    return weights / weights.sum()


def _degrees(shape: Shape, mentions: int, passages: int, rng: np.random.Generator) -> np.ndarray:
    """Entity degrees summing to ``mentions``: one with some probability, else the power-law
    tail; the probability of one is set so that the mean degree gives ``entity_count``."""
    largest = max(2, passages)
    pmf = _tail_pmf(shape.tail_exponent, largest)
    tail_mean = float((np.arange(2, largest + 1) * pmf).sum())
    target_mean = mentions / max(1.0, shape.entity_count(passages))
    single = float(np.clip((tail_mean - target_mean) / (tail_mean - 1.0), 0.0, 1.0))
    cdf = np.cumsum(pmf)
    out: list[np.ndarray] = []
    total = 0
    while total < mentions:
        batch = max(1024, int((mentions - total) / max(target_mean, 1.0) * 1.1))
        draws = np.where(
            rng.random(batch) < single,
            1,
            2 + np.searchsorted(cdf, rng.random(batch) * cdf[-1]),
        )
        draws = np.minimum(draws, largest)
        out.append(draws)
        total += int(draws.sum())
    degrees = np.concatenate(out)
    ends = np.cumsum(degrees)
    last = int(np.searchsorted(ends, mentions))
    degrees = degrees[: last + 1].copy()
    degrees[-1] -= int(ends[last]) - mentions
    return degrees[degrees > 0]


def synthetic_snapshot(
    passages: int,
    *,
    dim: int = 384,
    seed: int = 0,
    shape: Shape | None = None,
    names: bool = True,
    namespace: str = "synthetic",
) -> Snapshot:
    """A snapshot of ``passages`` passages shaped like 2Wiki (see the module docstring)."""
    shape = shape or Shape.twowiki()
    rng = np.random.default_rng(seed)
    n_passages = passages
    profile = shape.profiles[rng.integers(0, len(shape.profiles), n_passages)]
    slots = profile[:, 0].astype(np.int64)

    # Mentions: a configuration model (entity stubs dealt to passage slots), repeats dropped.
    degrees = _degrees(shape, int(slots.sum()), n_passages, rng)
    stubs = np.repeat(np.arange(len(degrees), dtype=np.int64), degrees)
    rng.shuffle(stubs)
    owner = np.repeat(np.arange(n_passages, dtype=np.int64), slots)
    pairs = np.unique(owner * len(degrees) + stubs)
    mention_passage, mention_entity = pairs // len(degrees), pairs % len(degrees)
    used, mention_entity = np.unique(mention_entity, return_inverse=True)  # entities still mentioned
    n_entities = len(used)
    n_nodes = n_passages + n_entities
    entity_node = n_passages + mention_entity
    first = np.searchsorted(mention_passage, np.arange(n_passages + 1))
    held = np.diff(first)  # entities each passage mentions

    # Facts: between two distinct entities of their passage; passages with fewer than two have none.
    fact_count = np.where(held >= 2, profile[:, 1], 0)
    vector_count = np.where(fact_count > 0, np.maximum(1, np.minimum(profile[:, 2], fact_count)), 0)
    fact_passage = np.repeat(np.arange(n_passages, dtype=np.int64), fact_count)
    k = held[fact_passage]
    a = (rng.random(len(fact_passage)) * k).astype(np.int64)
    b = (rng.random(len(fact_passage)) * (k - 1)).astype(np.int64)
    b = b + (b >= a)
    subjects = entity_node[first[fact_passage] + a]
    objects = entity_node[first[fact_passage] + b]
    vector_start = np.concatenate([[0], np.cumsum(vector_count)])
    spread = (rng.random(len(fact_passage)) * vector_count[fact_passage]).astype(np.int64)
    fact_vector = vector_start[fact_passage] + spread
    n_facts, n_vectors = len(fact_passage), int(vector_start[-1])

    # Edges: mentions (weight 1), fact pairs (one per fact and passage), synonyms (0.8-1.0).
    n_synonyms = round(shape.synonyms_per_passage * n_passages) if n_entities > 1 else 0
    syn_a = rng.integers(0, n_entities, n_synonyms)
    syn_b = (syn_a + 1 + rng.integers(0, max(1, n_entities - 1), n_synonyms)) % n_entities
    rows = np.concatenate([mention_passage, subjects, n_passages + syn_a])
    cols = np.concatenate([entity_node, objects, n_passages + syn_b])
    weights = np.concatenate(
        [np.ones(len(mention_passage)), np.ones(n_facts), 0.8 + 0.2 * rng.random(n_synonyms)]
    )
    adjacency = sparse.coo_matrix(
        (np.concatenate([weights, weights]), (np.concatenate([rows, cols]), np.concatenate([cols, rows]))),
        shape=(n_nodes, n_nodes),
    ).tocsr()
    del rows, cols, weights
    adjacency.sum_duplicates()
    transitions = TransitionMatrix.from_adjacency(adjacency)
    del adjacency

    counts = np.zeros(n_nodes)
    counts[n_passages:] = np.bincount(mention_entity, minlength=n_entities)

    passage_ids = [f"passage-{i:032x}" for i in range(n_passages)]
    entity_ids = [f"entity-{i:032x}" for i in range(n_entities)]
    entity_names: dict[int, str] = {}
    name_index: dict[tuple[str, ...], list[int]] = {}
    if names:
        for e in range(n_entities):
            name = f"Entity {e}"
            entity_names[n_passages + e] = name
            name_index[name_key(name)] = [n_passages + e]

    return Snapshot(
        namespace=namespace,
        version=1,
        transitions=transitions,
        node_ids=passage_ids + entity_ids,
        passage_ids=passage_ids,
        passage_matrix=random_unit_vectors(n_passages, dim, rng),
        passage_nodes=np.arange(n_passages, dtype=np.int64),
        fact_ids=[f"fact-{i:032x}" for i in range(n_facts)],
        fact_matrix=random_unit_vectors(n_vectors, dim, rng),
        fact_subject_nodes=subjects,
        fact_object_nodes=objects,
        fact_texts=[
            f"Entity {s - n_passages} related in sentence {v} to Entity {o - n_passages}"
            for s, v, o in zip(subjects.tolist(), fact_vector.tolist(), objects.tolist(), strict=True)
        ],
        fact_source_rows=fact_passage,
        fact_source_start=np.arange(n_facts + 1, dtype=np.int64),
        entity_passage_counts=counts,
        entity_names=entity_names,
        name_index=name_index,
        max_name_tokens=max((len(key) for key in name_index), default=0),
        fact_vector_rows=fact_vector.astype(np.int32 if n_vectors < 2**31 else np.int64),
    )


def random_unit_vectors(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` float32 vectors uniform on the unit sphere (built in blocks to bound memory)."""
    out = np.empty((count, dim), dtype=np.float32)
    for start in range(0, count, 65_536):
        block = rng.standard_normal((min(65_536, count - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def planted_queries(
    snapshot: Snapshot, count: int, rng: np.random.Generator, cosine: float = 0.55
) -> np.ndarray:
    """Queries about one passage each, as a question is about its passage: a random passage's
    vector plus one of its facts' vector plus noise, at ``cosine`` to both (MuSiQue's questions
    have 0.56 on average with their best passage under the bundled MiniLM)."""
    dim = snapshot.passage_matrix.shape[1]
    stated = np.unique(snapshot.fact_source_rows)
    pool = stated if stated.size else np.arange(len(snapshot.passage_ids))
    targets = pool[rng.integers(0, len(pool), count)]
    noise = random_unit_vectors(count, dim, rng)
    out = np.empty((count, dim), dtype=np.float32)
    # |v_p + v_f + c g|^2 = 2 + c^2 for near-orthogonal unit vectors: cos = 1 / sqrt(2 + c^2).
    c = float(np.sqrt(max(0.0, 1.0 / cosine**2 - 2.0)))
    for i, passage in enumerate(targets):
        facts = np.flatnonzero(snapshot.fact_source_rows == passage)
        vector = snapshot.passage_matrix[passage].astype(np.float32)
        if facts.size:
            fact = int(facts[rng.integers(0, facts.size)])
            rows = snapshot.fact_vector_rows
            vector = vector + snapshot.fact_matrix[fact if rows is None else rows[fact]]
        q = vector + c * noise[i]
        out[i] = q / np.linalg.norm(q)
    return out


def random_queries(count: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    return random_unit_vectors(count, dim, rng)
