"""Seed-local Personalized PageRank: forward push (Andersen, Chung and Lang, 2006).

The same walk as ``TransitionMatrix.personalized_pagerank`` — weighted undirected edges, restart
to the reset vector with probability ``1 - damping``, a vertex without edges giving its mass back
according to the reset vector — solved only around the seeds. Every vertex holds an estimate
``p`` and a residual ``r`` (mass not yet spread); pushing a vertex ``u`` moves
``(1 - damping) * r[u]`` into ``p[u]`` and spreads ``damping * r[u]`` over its neighbours in
proportion to edge weight (over the reset vector when ``u`` has no edges). The invariant

    exact = p + sum_u r[u] * (the walk restarted at u)

holds after every push. Vertices are pushed while ``r[u] >= epsilon * strength[u]`` (strength:
the sum of the vertex's edge weights, 1 for a vertex without edges); on an undirected graph that
bounds the error of every vertex by ``epsilon * strength[v]``. The work does not grow with the
graph: about ``1 / ((1 - damping) * epsilon)`` edge visits at most, whatever the number of
vertices. The answer is ``p + (1 - damping) * r`` (a walk restarted at u is at u with at least
that probability): never above the exact walk, and its L1 distance to it is exactly
``damping * r.sum()``, returned as ``residual``.

Pushes run in rounds: all vertices over the threshold at once (synchronous push), with numpy.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass

import numpy as np

from service.retrieval.ppr import TransitionMatrix


class _Workspace:
    """Per-vertex scratch arrays of one push. Kept for the next push on the same matrix and
    cleaned where the push wrote: fresh zeroed arrays would cost a page fault per vertex
    touched, which on a large graph is most of a push's time."""

    def __init__(self, n: int) -> None:
        self.p = np.zeros(n)
        self.r = np.zeros(n)
        self.stamp = np.zeros(n, dtype=np.int64)  # dedupes a round's frontier without sorting
        self.seen = np.zeros(n, dtype=bool)

    def clean(self, touched: np.ndarray) -> None:
        self.p[touched] = 0.0
        self.r[touched] = 0.0
        self.seen[touched] = False


class _PerMatrix:
    def __init__(self, transitions: TransitionMatrix) -> None:
        self.strength = np.asarray(transitions.adjacency.sum(axis=1)).ravel()
        # What a vertex's residual is compared with, per unit of epsilon (1 without edges).
        self.scale = np.where(self.strength > 0, self.strength, 1.0)
        self.idle: list[_Workspace] = []


_KEEP_IDLE = 4  # workspaces kept per matrix (one per concurrent query)
_per_matrix: weakref.WeakKeyDictionary[TransitionMatrix, _PerMatrix] = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def _state(transitions: TransitionMatrix) -> _PerMatrix:
    with _lock:
        state = _per_matrix.get(transitions)
        if state is None:
            state = _per_matrix[transitions] = _PerMatrix(transitions)
        return state


def _strength(transitions: TransitionMatrix) -> np.ndarray:
    """Per vertex, the sum of its edge weights (computed once per matrix)."""
    return _state(transitions).strength


@dataclass(frozen=True)
class PushResult:
    nodes: np.ndarray  # vertices with positive estimated mass, ascending
    mass: np.ndarray  # their estimate of the walk's stationary probability
    residual: float  # the L1 distance to the exact answer (damping * the residual mass left)
    pushes: int  # vertex pushes made (the work done)


def forward_push(
    transitions: TransitionMatrix,
    seed_nodes: np.ndarray,
    seed_weights: np.ndarray,
    damping: float,
    *,
    epsilon: float = 1e-6,
    max_rounds: int = 10_000,
) -> PushResult:
    """Personalized PageRank from a sparse reset vector (``seed_nodes`` with non-negative
    ``seed_weights`` of positive sum, normalized here; repeated nodes add up)."""
    nodes = np.asarray(seed_nodes, dtype=np.int64)
    weights = np.asarray(seed_weights, dtype=float)
    if nodes.shape != weights.shape or nodes.ndim != 1:
        raise ValueError("one weight per seed node")
    if nodes.size and (nodes.min() < 0 or nodes.max() >= transitions.n):
        raise ValueError("seed node out of range")
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError("seed weights must be non-negative with a positive sum")
    seeds, inverse = np.unique(nodes, return_inverse=True)
    reset = np.bincount(inverse, weights=weights) / weights.sum()

    state = _state(transitions)
    with _lock:
        work = state.idle.pop() if state.idle else _Workspace(transitions.n)
    result, touched = _push(transitions, state, work, seeds, reset, damping, epsilon, max_rounds)
    # Not reached if the push raised: a workspace that may be dirty is never reused.
    work.clean(touched)
    with _lock:
        if len(state.idle) < _KEEP_IDLE:
            state.idle.append(work)
    return result


def _push(
    transitions: TransitionMatrix,
    state: _PerMatrix,
    work: _Workspace,
    seeds: np.ndarray,
    reset: np.ndarray,
    damping: float,
    epsilon: float,
    max_rounds: int,
) -> tuple[PushResult, np.ndarray]:
    adjacency = transitions.adjacency
    indptr, indices, data = adjacency.indptr, adjacency.indices, adjacency.data
    strength, threshold_scale = state.strength, state.scale
    restart = 1.0 - damping
    p, r, stamp, seen = work.p, work.r, work.stamp, work.seen
    r[seeds] = reset
    seen[seeds] = True
    touched = [seeds]
    frontier = seeds[r[seeds] >= epsilon * threshold_scale[seeds]]
    pushes = 0
    for _ in range(max_rounds):
        if not frontier.size:
            break
        pushes += frontier.size
        mass = r[frontier]
        r[frontier] = 0.0
        p[frontier] += restart * mass
        spread = damping * mass
        starts, counts = indptr[frontier], indptr[frontier + 1] - indptr[frontier]
        total = int(counts.sum())
        reached = seeds[:0]
        if total:
            # Column u of the walk's matrix is row u of the (symmetric) adjacency / strength[u].
            offsets = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
            reached = indices[offsets]
            share = np.repeat(spread / np.where(counts > 0, strength[frontier], 1.0), counts)
            np.add.at(r, reached, share * data[offsets])
        lost = float(spread[counts == 0].sum())
        if lost > 0:  # vertices without edges give their mass back to the reset vector
            r[seeds] += lost * reset
            reached = np.concatenate([reached, seeds])
        if not reached.size:
            break
        new = reached[~seen[reached]]
        if new.size:
            new = _distinct(new, stamp)
            seen[new] = True
            touched.append(new)
        above = reached[r[reached] >= epsilon * threshold_scale[reached]]
        frontier = _distinct(above, stamp)
    everything = np.concatenate(touched)
    # The walk restarted at u stays at u with probability >= 1 - damping: each vertex's own
    # residual share is certain mass, the rest of the residual is the error.
    estimate = p[everything] + restart * r[everything]
    order = np.argsort(everything)
    nodes, estimate = everything[order], estimate[order]
    keep = estimate > 0
    residual = damping * float(r[everything].sum())
    return PushResult(nodes=nodes[keep], mass=estimate[keep], residual=residual, pushes=pushes), everything


def _distinct(values: np.ndarray, stamp: np.ndarray) -> np.ndarray:
    """``values`` without repeats (in no particular order), in time linear in their number:
    ``stamp`` is scratch space with one slot per vertex."""
    if values.size < 2:
        return values
    positions = np.arange(values.size)
    stamp[values] = positions
    return values[stamp[values] == positions]
