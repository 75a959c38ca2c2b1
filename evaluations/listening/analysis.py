"""Broad-listening analysis: opinions grouped in two levels, labelled, placed and linked.

The shape follows kouchou-ai: fine clusters by k-means, coarse clusters by Ward agglomeration of
the fine centroids (so each fine cluster has exactly one coarse parent), each labelled by its
distinctive words (class-based TF-IDF) and the opinions nearest its centroid. Every opinion gets
2-D coordinates (the first two principal components of its LSA vector) and its most similar
initiatives, which the secretariat confirms. Same input and seed give the same result, byte for
byte: ties are broken by input order, and BLAS and OpenMP run on one thread (see `analyse`).
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import sparse
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

from evaluations.listening import ROOT
from evaluations.listening.links import best_initiatives
from evaluations.listening.tokenizer import dictionary_version, morphemes
from evaluations.listening.vectors import (
    Space,
    VectorSettings,
    build_space,
    tokenise_all,
    tokens,
)

__all__ = [
    "AnalysisResult",
    "ClusterResult",
    "InitiativeText",
    "OpinionText",
    "Placement",
    "analyse",
    "default_cluster_counts",
    "tokens",
]

MAX_TERMS = 8
MAX_REPRESENTATIVES = 5
MAX_FINE = 50
MAX_COARSE = 10
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class OpinionText:
    id: int
    text: str


@dataclass(frozen=True)
class InitiativeText:
    id: int
    text: str


@dataclass(frozen=True)
class ClusterResult:
    key: str
    level: int
    parent: str
    size: int
    terms: list[str]
    representative_ids: list[int]


@dataclass(frozen=True)
class Placement:
    opinion_id: int
    coarse: str
    fine: str
    x: float
    y: float
    links: list[tuple[int, float]]


@dataclass(frozen=True)
class AnalysisResult:
    clusters: list[ClusterResult]
    placements: list[Placement]
    parameters: dict[str, object]


def default_cluster_counts(n: int) -> tuple[int, int]:
    """(coarse, fine) for n opinions: fine ≈ √n, coarse ≈ √fine, so both levels stay readable."""
    if n <= 0:
        return 0, 0
    fine = max(1, min(MAX_FINE, round(math.sqrt(n))))
    coarse = max(1, min(MAX_COARSE, fine, round(math.sqrt(fine))))
    return coarse, fine


def _distinct_rows(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of each distinct row's first occurrence and, per row, its distinct row's number."""
    first: dict[bytes, int] = {}
    inverse = np.empty(len(vectors), dtype=np.int64)
    for index, row in enumerate(vectors):
        inverse[index] = first.setdefault(row.tobytes(), len(first))
    starts = np.empty(len(first), dtype=np.int64)
    starts[inverse[::-1]] = np.arange(len(vectors) - 1, -1, -1)
    return starts, inverse


def _fine_labels(vectors: np.ndarray, wanted: int, seed: int) -> np.ndarray:
    """k-means over the distinct vectors weighted by their counts; never more clusters than them."""
    starts, inverse = _distinct_rows(vectors)
    k = min(wanted, len(starts))
    if k <= 1:
        return np.zeros(len(vectors), dtype=np.int64)
    weights = np.bincount(inverse).astype(np.float32)
    model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    labels = model.fit_predict(vectors[starts], sample_weight=weights)
    return labels[inverse]


def _centroids(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    indicator = sparse.csr_matrix(
        (np.ones(len(labels), dtype=np.float32), (labels, np.arange(len(labels)))),
        shape=(k, len(labels)),
    )
    sums = np.asarray(indicator @ vectors, dtype=np.float64)
    return normalize(sums)


def _coarse_of_fine(centroids: np.ndarray, wanted: int) -> np.ndarray:
    """Ward agglomeration of the fine centroids into at most `wanted` coarse clusters."""
    if wanted <= 1 or len(centroids) <= 1:
        return np.zeros(len(centroids), dtype=np.int64)
    tree = linkage(centroids, method="ward")
    return fcluster(tree, t=min(wanted, len(centroids)), criterion="maxclust") - 1


def _renumber_by_size(labels: np.ndarray) -> np.ndarray:
    """Labels numbered by size, largest first; equal sizes by their first opinion's position."""
    present, first, sizes = np.unique(labels, return_index=True, return_counts=True)
    order = np.lexsort((first, -sizes))
    new_number = np.empty(present.max() + 1, dtype=np.int64)
    new_number[present[order]] = np.arange(len(present))
    return new_number[labels]


def _nouns(vocabulary: list[str]) -> np.ndarray:
    """Which words of the vocabulary are nouns: a cluster is named by what it is about
    (除雪, 手続), not by the verbs every opinion shares (分かる, 減る)."""
    return np.array(
        [len(found := morphemes(word)) == 1 and found[0].pos[0] == "名詞" for word in vocabulary],
        dtype=bool,
    )


def _class_terms(words: sparse.csr_matrix, vocabulary: list[str], labels: np.ndarray, k: int):
    """Per cluster, its most distinctive nouns by class-based TF-IDF (as in BERTopic)."""
    if not vocabulary:
        return [[] for _ in range(k)]
    indicator = sparse.csr_matrix(
        (np.ones(len(labels)), (labels, np.arange(len(labels)))), shape=(k, len(labels))
    )
    counts = (indicator @ words).toarray().astype(np.float64)
    totals = counts.sum(axis=1, keepdims=True)
    frequency = counts.sum(axis=0)
    average = totals.mean()
    idf = np.log1p(average / np.maximum(frequency, 1))
    scores = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0) * idf
    scores[:, ~_nouns(vocabulary)] = 0
    names = np.array(vocabulary)
    result = []
    for row in scores:
        present = np.flatnonzero(row > 0)
        order = present[np.lexsort((names[present], -np.round(row[present], 12)))]
        result.append([str(term) for term in names[order[:MAX_TERMS]]])
    return result


def _representatives(
    vectors: np.ndarray, labels: np.ndarray, k: int, ids: np.ndarray
) -> list[list[int]]:
    """Per cluster, the opinions nearest its centroid (cosine), ties by input order."""
    centroids = _centroids(vectors, labels, k).astype(np.float32)
    similarity = np.einsum("ij,ij->i", vectors, centroids[labels])
    order = np.lexsort((np.arange(len(labels)), -np.round(similarity, 6), labels))
    result: list[list[int]] = [[] for _ in range(k)]
    for index in order:
        members = result[labels[index]]
        if len(members) < MAX_REPRESENTATIVES:
            members.append(int(ids[index]))
    return result


def _coordinates(vectors: np.ndarray) -> np.ndarray:
    """The first two principal components; each axis's largest loading made positive."""
    if len(vectors) < 2:
        return np.zeros((len(vectors), 2))
    centred = vectors - vectors.mean(axis=0, dtype=np.float64).astype(np.float32)
    covariance = np.asarray(centred.T @ centred, dtype=np.float64)
    _, eigenvectors = np.linalg.eigh(covariance)
    axes = eigenvectors[:, ::-1][:, :2]
    if axes.shape[1] < 2:
        axes = np.hstack([axes, np.zeros((len(axes), 2 - axes.shape[1]))])
    signs = np.sign(axes[np.abs(axes).argmax(axis=0), [0, 1]])
    axes = axes * np.where(signs == 0, 1, signs)
    return np.round(centred.astype(np.float64) @ axes, 6)


def _clusters(
    level: int,
    labels: np.ndarray,
    parents: list[str],
    terms: list[list[str]],
    representatives: list[list[int]],
) -> list[ClusterResult]:
    sizes = np.bincount(labels, minlength=len(parents))
    return [
        ClusterResult(
            key=f"{level}_{number}",
            level=level,
            parent=parents[number],
            size=int(sizes[number]),
            terms=terms[number],
            representative_ids=representatives[number],
        )
        for number in range(len(parents))
    ]


def _notify(progress: Progress | None, stage: str, done: int, total: int) -> None:
    if progress is not None:
        progress(stage, done, total)


def _tokenise(
    opinions: Sequence[OpinionText], initiatives: Sequence[InitiativeText], progress
) -> tuple[list[list[str]], list[list[str]]]:
    total = len(opinions)
    opinion_tokens = tokenise_all(
        [opinion.text for opinion in opinions],
        lambda done: _notify(progress, "tokenise", done, total),
    )
    _notify(progress, "tokenise", total, total)
    return opinion_tokens, tokenise_all([initiative.text for initiative in initiatives])


def _group(space: Space, n_coarse: int, n_fine: int, seed: int):
    """Fine labels, coarse labels per opinion and the coarse label of each fine cluster."""
    fine = _renumber_by_size(_fine_labels(space.opinions, n_fine, seed))
    k_fine = int(fine.max()) + 1
    coarse_of_fine = _coarse_of_fine(_centroids(space.opinions, fine, k_fine), n_coarse)
    coarse = _renumber_by_size(coarse_of_fine[fine])
    coarse_of_fine = np.empty(k_fine, dtype=np.int64)
    coarse_of_fine[fine] = coarse
    return fine, coarse, coarse_of_fine


def analyse(
    opinions: Sequence[OpinionText],
    initiatives: Sequence[InitiativeText],
    *,
    seed: int = 0,
    n_coarse: int | None = None,
    n_fine: int | None = None,
    top_links: int = 3,
    progress: Progress | None = None,
    vector_settings: VectorSettings | None = None,
) -> AnalysisResult:
    """Group, label, place and link the opinions; deterministic for a given seed.

    BLAS and OpenMP run on one thread: their multi-threaded sums depend on how many threads a
    machine has, and so would the result's last bits (and, through k-means, its clusters).
    """
    with threadpool_limits(limits=1):
        return _analyse(
            opinions,
            initiatives,
            seed=seed,
            n_coarse=n_coarse,
            n_fine=n_fine,
            top_links=top_links,
            progress=progress,
            settings=vector_settings or VectorSettings(),
        )


def _analyse(
    opinions: Sequence[OpinionText],
    initiatives: Sequence[InitiativeText],
    *,
    seed: int,
    n_coarse: int | None,
    n_fine: int | None,
    top_links: int,
    progress: Progress | None,
    settings: VectorSettings,
) -> AnalysisResult:
    default_coarse, default_fine = default_cluster_counts(len(opinions))
    wanted_fine = max(1, n_fine or default_fine)
    wanted_coarse = max(1, n_coarse or default_coarse)
    parameters: dict[str, object] = {
        "seed": seed,
        "opinions": len(opinions),
        "initiatives": len(initiatives),
        "requested_coarse": n_coarse,
        "requested_fine": n_fine,
        "top_links": top_links,
        "tokenizer": dictionary_version(),
        "vectors": asdict(settings),
    }
    if not opinions:
        parameters |= {"n_coarse": 0, "n_fine": 0, "vocabulary": 0, "features": 0, "components": 0}
        return AnalysisResult(clusters=[], placements=[], parameters=parameters)

    opinion_tokens, initiative_tokens = _tokenise(opinions, initiatives, progress)
    _notify(progress, "vectorise", 0, 1)
    space = build_space(opinion_tokens, initiative_tokens, seed=seed, settings=settings)
    _notify(progress, "vectorise", 1, 1)

    _notify(progress, "cluster", 0, 1)
    fine, coarse, coarse_of_fine = _group(space, wanted_coarse, wanted_fine, seed)
    k_fine, k_coarse = int(fine.max()) + 1, int(coarse.max()) + 1
    _notify(progress, "cluster", 1, 1)

    _notify(progress, "label", 0, 1)
    ids = np.array([opinion.id for opinion in opinions], dtype=np.int64)
    coarse_keys = [f"1_{number}" for number in range(k_coarse)]
    fine_keys = [f"2_{number}" for number in range(k_fine)]
    clusters = _clusters(
        1,
        coarse,
        [ROOT] * k_coarse,
        _class_terms(space.words, space.vocabulary, coarse, k_coarse),
        _representatives(space.opinions, coarse, k_coarse, ids),
    ) + _clusters(
        2,
        fine,
        [coarse_keys[parent] for parent in coarse_of_fine],
        _class_terms(space.words, space.vocabulary, fine, k_fine),
        _representatives(space.opinions, fine, k_fine, ids),
    )
    _notify(progress, "label", 1, 1)

    _notify(progress, "place", 0, 1)
    coordinates = _coordinates(space.opinions)
    initiative_ids = [initiative.id for initiative in initiatives]
    links = best_initiatives(
        space.opinion_terms, space.initiative_terms, initiative_ids, top_links, settings
    )
    placements = [
        Placement(
            opinion_id=int(ids[index]),
            coarse=coarse_keys[coarse[index]],
            fine=fine_keys[fine[index]],
            x=float(coordinates[index, 0]),
            y=float(coordinates[index, 1]),
            links=links[index],
        )
        for index in range(len(opinions))
    ]
    _notify(progress, "place", 1, 1)

    parameters |= {
        "n_coarse": k_coarse,
        "n_fine": k_fine,
        "vocabulary": len(space.vocabulary),
        "features": space.features,
        "components": space.components,
    }
    return AnalysisResult(clusters=clusters, placements=placements, parameters=parameters)
