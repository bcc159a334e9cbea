"""Distribution precision and recall (PRD) of Sajjadi et al. 2018, "Assessing Generative Models via
Precision and Recall", the definition Deja et al. 2022 report.

The union of generated and reference features is clustered with k-means (``clusters`` centres); the two
cluster histograms P (reference) and Q (generated) give the PRD curve
``alpha(lambda) = sum_i min(lambda P_i, Q_i)``, ``beta(lambda) = alpha(lambda) / lambda`` over ``angles``
slopes ``lambda = tan(theta)``, averaged over ``runs`` clusterings.  The summary pair is
``F_8`` (recall) and ``F_1/8`` (precision), the maximum F_beta scores over the curve, as in the paper's
reference code (``prd_to_max_f_beta_pair``).  Sizes must be equal (the paper's ``enforce_balance``).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "cluster_labels",
    "histogram",
    "max_f_beta_pair",
    "mean_prd_curve",
    "prd_curve",
    "prd_from_features",
    "prd_from_histograms",
    "prd_summary",
]


def prd_from_histograms(
    eval_dist: np.ndarray, ref_dist: np.ndarray, angles: int = 1001, epsilon: float = 1e-10
) -> tuple[np.ndarray, np.ndarray]:
    """The PRD curve (precision, recall) of two distributions over the same bins."""
    eval_dist = np.asarray(eval_dist, dtype=np.float64)
    ref_dist = np.asarray(ref_dist, dtype=np.float64)
    if eval_dist.shape != ref_dist.shape or eval_dist.ndim != 1:
        raise ValueError(f"histograms must be 1-D of equal length, got {eval_dist.shape} and {ref_dist.shape}")
    if angles < 3:
        raise ValueError(f"angles must be >= 3, got {angles}")
    slopes = np.tan(np.linspace(epsilon, np.pi / 2 - epsilon, num=angles))[:, None]
    precision = np.minimum(ref_dist[None, :] * slopes, eval_dist[None, :]).sum(axis=1)
    recall = precision / slopes[:, 0]
    return np.clip(precision, 0, 1), np.clip(recall, 0, 1)


def cluster_labels(
    eval_data: np.ndarray, ref_data: np.ndarray, *, clusters: int = 20, runs: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The k-means cluster of every generated (``eval_data``) and reference feature [N, D] in each of ``runs``
    clusterings of their union seeded ``seed, seed + 1, ...``: labels [runs, N] of each set."""
    from sklearn.cluster import MiniBatchKMeans

    eval_data = np.asarray(eval_data)
    ref_data = np.asarray(ref_data)
    if eval_data.ndim != 2 or ref_data.ndim != 2 or eval_data.shape[1] != ref_data.shape[1]:
        raise ValueError(f"features must be [N, D] with equal D, got {eval_data.shape} and {ref_data.shape}")
    if len(eval_data) != len(ref_data):
        raise ValueError(
            f"PRD needs as many generated as reference features (enforce_balance), got "
            f"{len(eval_data)} and {len(ref_data)}"
        )
    if clusters < 2 or clusters > len(eval_data):
        raise ValueError(f"PRD clusters must be in [2, {len(eval_data)}], got {clusters}")
    if runs < 1:
        raise ValueError(f"PRD runs must be >= 1, got {runs}")
    data = np.concatenate([eval_data, ref_data]).astype(np.float64)
    labels = np.stack(
        [MiniBatchKMeans(n_clusters=clusters, n_init=10, random_state=seed + r).fit(data).labels_ for r in range(runs)]
    )
    return labels[:, : len(eval_data)], labels[:, len(eval_data) :]


def histogram(labels: np.ndarray, clusters: int) -> np.ndarray:
    """The share of ``labels`` in each of ``clusters`` bins."""
    return np.bincount(labels, minlength=clusters) / len(labels)


def prd_curve(
    eval_data: np.ndarray,
    ref_data: np.ndarray,
    *,
    clusters: int = 20,
    angles: int = 1001,
    runs: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """The PRD curve of generated (``eval_data``) against reference features [N, D], averaged over ``runs``
    k-means clusterings seeded ``seed, seed + 1, ...``."""
    eval_labels, ref_labels = cluster_labels(eval_data, ref_data, clusters=clusters, runs=runs, seed=seed)
    pairs = [(histogram(e, clusters), histogram(r, clusters)) for e, r in zip(eval_labels, ref_labels)]
    return mean_prd_curve(pairs, angles=angles)


def mean_prd_curve(
    histogram_pairs: list[tuple[np.ndarray, np.ndarray]], angles: int = 1001
) -> tuple[np.ndarray, np.ndarray]:
    """The PRD curve (precision, recall) averaged over (generated, reference) histogram pairs, one per run."""
    curves = [prd_from_histograms(e, r, angles=angles) for e, r in histogram_pairs]
    return np.mean([c[0] for c in curves], axis=0), np.mean([c[1] for c in curves], axis=0)


def _f_beta(precision: np.ndarray, recall: np.ndarray, beta: float, epsilon: float = 1e-10) -> np.ndarray:
    return (1 + beta**2) * (precision * recall) / ((beta**2 * precision) + recall + epsilon)


def max_f_beta_pair(precision: np.ndarray, recall: np.ndarray, beta: float = 8.0) -> tuple[float, float]:
    """``(F_beta, F_1/beta)``: with beta = 8 the PRD recall and precision summaries."""
    return float(np.max(_f_beta(precision, recall, beta))), float(np.max(_f_beta(precision, recall, 1.0 / beta)))


def prd_from_features(
    eval_data: np.ndarray,
    ref_data: np.ndarray,
    *,
    clusters: int = 20,
    angles: int = 1001,
    runs: int = 10,
    seed: int = 0,
) -> dict[str, float]:
    """``{"prd_precision": F_1/8, "prd_recall": F_8}`` of generated against reference features."""
    precision, recall = prd_curve(eval_data, ref_data, clusters=clusters, angles=angles, runs=runs, seed=seed)
    return prd_summary(precision, recall)


def prd_summary(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """``{"prd_precision": F_1/8, "prd_recall": F_8}`` of a PRD curve (averaged over runs)."""
    f8, f1_8 = max_f_beta_pair(precision, recall, 8.0)
    return {"prd_precision": f1_8, "prd_recall": f8}
