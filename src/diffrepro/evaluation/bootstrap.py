"""Seeded bootstrap replicates and percentile intervals of the sample-quality metrics of
:func:`~diffrepro.evaluation.metrics.metrics_from_features`, from the features already extracted (no network pass).

**What an interval means.** The spread of a metric over resamples of the finite generated set and of the finite
reference set: the sampling uncertainty of evaluating *this trained model* with ``n_gen`` generated images against
``n_ref`` reference images (and, for PRD, with the k-means clusterings fixed at the point estimate). It is not the
uncertainty over training seeds: another training run gives another model, which only several trained models show.

**Resampling and pairing.** Replicate ``b`` draws ``n_gen`` generated and ``n_ref`` reference rows with replacement
(:func:`bootstrap_indices`), the generated rows from the stream ``"generated"`` and the reference rows from the stream
``"reference"`` of the same seed. Two evaluations with the same seed, replicate count and reference set therefore
resample the reference identically in every replicate, and the per-replicate difference of their stored values is
a paired bootstrap of the difference of the two models (:func:`paired_difference`).

**Per metric.** Each replicate applies the point estimate's formula to the resampled sets, computed from each original
point's multiplicity in the resample and from quantities computed once (Gram matrices, pairwise distances, labels):

* ``fid`` (``pool``), ``sfid`` (``spatial``): the Fréchet distance with the unbiased covariances (n - 1, as
  torch-fidelity), from the float64 Gram matrices ``F1 F1^T``, ``F2 F2^T``, ``F1 F2^T``: ``tr sqrt(S1 S2)`` is the
  nuclear norm of ``X1 X2^T / sqrt((n1 - 1)(n2 - 1))`` (``X`` the centred resampled rows; the square roots of
  the eigenvalues of an at most ``n_gen x n_gen`` symmetric product), no D x D square root;
* ``kid``: the unbiased MMD^2 with torch-fidelity's kernel ``(x.y / D + 1)^3`` on the whole resampled sets. Pairs of
  copies of one original point are left out of the within-set sums (as they are of the k-NN radii): they would add
  the kernel's diagonal and shift every replicate up by about ``(mean k(x, x) - mean k(x, y)) / n``, often more than
  KID itself; so a replicate's expectation is the full-set estimate, which is also the expectation of
  torch-fidelity's subset average;
* ``precision``, ``recall``: k-NN precision/recall (Kynkäänniemi et al. 2019), torch-fidelity's conventions
  (``generated`` is its input1, float32 ``torch.cdist``, a point's radius is the distance to its k-th nearest
  *other* point, "inside" is ``distance <= radius``); in a resample a point's radius counts the resampled points
  with their multiplicity and never copies of the point itself, so a duplicate cannot give a radius of 0;
* ``prd_precision``, ``prd_recall``: the distribution PRD (:mod:`~diffrepro.evaluation.prd`) from the histograms of
  the resampled points over the clusters fixed at the point estimate (:class:`PrdLabels`), averaged over runs;
* ``score``: the Inception-style score of the resampled generated ``logits``, split into ``isc_splits`` parts in the
  drawn order as torch-fidelity splits (the draw is already in random order), averaged over the parts.

With identity indices (:func:`metrics_at_indices`) every value equals the point estimate of
:func:`~diffrepro.evaluation.metrics.metrics_from_features`, except ``kid`` (the full-set estimate, not an average
over random subsets) and ``score`` (torch-fidelity's with ``shuffle=False``). A replicate that the resample makes
undefined (a point without k other points, an empty PRD subsample) is NaN; the intervals refuse metrics with more
than a small share of NaN replicates.

**Location.** A resample holds about 63 % distinct points, and FID and k-NN precision/recall depend on the number of
points: their replicates sit above (FID) or below (precision, recall) the point estimate, on 250 x 1000 2048-D
features by 10-35 % of FID and 0.05-0.08 in precision/recall, so that a percentile interval can miss the point
estimate. The spread is the information; the paired difference of two models at equal set sizes is shifted much
less. KID's replicates are centred on its point estimate by construction. The intervals the pipeline reports are
therefore *re-centred* percentile intervals (:func:`centred_interval`): the spread of the replicates about their
median, placed around the point estimate. They state the sampling variability of the evaluation, not the
finite-sample bias of FID itself (which a larger sample set reduces).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .prd import mean_prd_curve, prd_summary

__all__ = [
    "PrdLabels",
    "centred_interval",
    "bootstrap_indices",
    "frechet_distance",
    "bootstrap_metrics",
    "bootstrap_statistic",
    "metrics_at_indices",
    "paired_difference",
    "percentile_interval",
]

#: the most elements a vectorised intermediate holds at once (replicates are processed in chunks below it)
_CHUNK_ELEMENTS = 1 << 24
#: torch-fidelity's default ``prc_batch_size``: the blocks its pairwise distances are computed in
_PRC_BATCH = 10000


@dataclass(frozen=True)
class PrdLabels:
    """The k-means labels of the PRD point estimate (:func:`~diffrepro.evaluation.prd.cluster_labels`).

    ``generated`` [runs, m_gen] and ``reference`` [runs, m_ref] label the rows ``generated_rows`` and
    ``reference_rows`` of the full feature sets (default: all rows, in order; ``metrics_from_features`` clusters a
    subsample). A replicate's histograms count each labelled row with its multiplicity in the resample.
    """

    generated: np.ndarray
    reference: np.ndarray
    clusters: int
    angles: int = 1001
    generated_rows: np.ndarray | None = None
    reference_rows: np.ndarray | None = None


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def bootstrap_indices(n: int, replicates: int, seed: int, stream: str) -> np.ndarray:
    """Rows drawn with replacement, [replicates, n] int64: a function of (n, replicates, seed, stream) only."""
    n, replicates = _positive_int("n", n), _positive_int("replicates", replicates)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    rng = np.random.default_rng([int(seed), zlib.crc32(stream.encode("utf-8"))])
    return rng.integers(0, n, size=(replicates, n), dtype=np.int64)


def bootstrap_statistic(
    values: Any, statistic: Callable[[np.ndarray], float], *, replicates: int, seed: int, stream: str = "values"
) -> np.ndarray:
    """``statistic`` of each resample of ``values`` (rows drawn with :func:`bootstrap_indices`), [replicates]."""
    values = np.asarray(values)
    indices = bootstrap_indices(len(values), replicates, seed, stream)
    return np.array([statistic(values[i]) for i in indices], dtype=np.float64)


def _counts(indices: np.ndarray, n: int) -> np.ndarray:
    """Each original row's multiplicity in each replicate, [replicates, n] int64."""
    offsets = indices + n * np.arange(len(indices))[:, None]
    return np.bincount(offsets.ravel(), minlength=len(indices) * n).reshape(len(indices), n)


def _chunks(replicates: int, per_replicate: int) -> list[slice]:
    step = max(1, _CHUNK_ELEMENTS // max(1, per_replicate))
    return [slice(s, s + step) for s in range(0, replicates, step)]


# --- FID and KID from Gram matrices -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Grams:
    k11: np.ndarray
    k22: np.ndarray
    k12: np.ndarray


def _grams(a: torch.Tensor, b: torch.Tensor) -> _Grams:
    x, y = a.double().numpy(), b.double().numpy()
    return _Grams(x @ x.T, y @ y.T, x @ y.T)


def _quadratic(k: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    """``w1[b]^T k w2[b]`` for every replicate b."""
    return np.einsum("bi,bi->b", w1 @ k, w2)


def _cross_nuclear_norm(k12: np.ndarray, w1: np.ndarray, w2: np.ndarray) -> float:
    """The nuclear norm of ``X1 X2^T`` (centred resampled rows) from the Gram ``F1 F2^T`` and multiplicities."""
    rows, cols = np.flatnonzero(w1), np.flatnonzero(w2)
    g, a, b = k12[np.ix_(rows, cols)], w1[rows], w2[cols]
    gb, ag = g @ b / b.sum(), a @ g / a.sum()
    centred = g - gb[:, None] - ag[None, :] + (a @ gb) / a.sum()
    m = np.sqrt(a)[:, None] * centred * np.sqrt(b)[None, :]
    # the singular values of m are the square roots of the eigenvalues of the smaller of m m^T and m^T m: one
    # symmetric eigensolve of (at most) n_gen x n_gen, several times cheaper than the SVD of the rectangular m.
    # Eigenvalues at rounding level (below numpy's matrix_rank tolerance) are 0: their square roots would add
    # about 1e-8 of the largest singular value each (the centring leaves at least one such direction)
    gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    eigenvalues = np.linalg.eigvalsh(gram)
    tolerance = eigenvalues[-1] * max(m.shape) * np.finfo(np.float64).eps
    return float(np.sqrt(eigenvalues[eigenvalues > tolerance]).sum())


def _fid_replicates(grams: _Grams, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    n1, n2 = w1.shape[1], w2.shape[1]
    sq1, sq2 = _quadratic(grams.k11, w1, w1) / n1**2, _quadratic(grams.k22, w2, w2) / n2**2
    mean_term = sq1 + sq2 - 2 * _quadratic(grams.k12, w1, w2) / (n1 * n2)
    trace1 = (w1 @ np.diag(grams.k11) - n1 * sq1) / (n1 - 1)
    trace2 = (w2 @ np.diag(grams.k22) - n2 * sq2) / (n2 - 1)
    # one LAPACK thread: on these small eigensolves OpenBLAS threads cost more than they give (x10-x20, busy machine)
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    with threadpool_limits(limits=1, user_api="blas"):
        nuclear = np.array([_cross_nuclear_norm(grams.k12, a, b) for a, b in zip(w1, w2)])
    return mean_term + trace1 + trace2 - 2 * nuclear / np.sqrt((n1 - 1) * (n2 - 1))


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """The Fréchet distance between the Gaussians of the rows of ``a`` [n1, D] and ``b`` [n2, D] (means and
    unbiased covariances, as torch-fidelity's ``fid_features_to_statistics``), computed exactly in float64 through
    the Gram matrices (the identity resample of :func:`_fid_replicates`): no D x D matrix square root, so on
    2048-D features it is about 10-30x faster than scipy's ``sqrtm`` and has no ``sqrtm`` rounding to correct."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"frechet_distance: need [n, D] features of one width, got {tuple(a.shape)}, {tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"frechet_distance: need at least 2 rows per set, got {len(a)} and {len(b)}")
    return float(_fid_replicates(_grams(a, b), np.ones((1, len(a))), np.ones((1, len(b))))[0])


def _within_mean(kernel: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Mean kernel over ordered pairs of resampled points that are not copies of one original point."""
    pairs = w.shape[1] ** 2 - (w**2).sum(axis=1)
    total = _quadratic(kernel, w, w) - (w**2) @ np.diag(kernel)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pairs > 0, total / np.maximum(pairs, 1), np.nan)


def _kid_replicates(grams: _Grams, dim: int, w1: np.ndarray, w2: np.ndarray) -> np.ndarray:
    def kernel(k: np.ndarray) -> np.ndarray:
        return (k / dim + 1.0) ** 3

    cross = _quadratic(kernel(grams.k12), w1, w2) / (w1.shape[1] * w2.shape[1])
    return _within_mean(kernel(grams.k11), w1) + _within_mean(kernel(grams.k22), w2) - 2 * cross


# --- k-NN precision and recall ------------------------------------------------------------------------------------


def _cdist(a: torch.Tensor, b: torch.Tensor) -> np.ndarray:
    """Pairwise distances in torch-fidelity's blocks (so that the float32 values are its values)."""
    rows = [torch.cat([torch.cdist(x, y) for y in b.split(_PRC_BATCH)], dim=1) for x in a.split(_PRC_BATCH)]
    return torch.cat(rows).numpy()


def _radius_from_row(dist_row: np.ndarray, weights: np.ndarray, k: int) -> float:
    """The distance at which the multiplicities of the nearest other points first add up to k (NaN if never)."""
    order = np.argsort(dist_row, kind="stable")
    position = int(np.searchsorted(np.cumsum(weights[order]), k))
    if position == len(order) or not np.isfinite(dist_row[order[position]]):
        return np.nan
    return float(dist_row[order[position]])


def _radii(dist: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Each original point's k-NN radius within each resample, [replicates, n]: -inf for points not drawn, NaN for
    a drawn point without k other drawn points. The ``near`` nearest others are searched first, then a whole row."""
    n = len(dist)
    others = dist.astype(np.float64)
    np.fill_diagonal(others, np.inf)
    near = min(n - 1, 4 * k + 28)
    nearest = np.argpartition(others, near - 1, axis=1)[:, :near]
    nearest = np.take_along_axis(nearest, np.argsort(np.take_along_axis(others, nearest, 1), 1, kind="stable"), 1)
    nearest_dist = np.take_along_axis(others, nearest, 1)
    radii = np.empty(counts.shape)
    for part in _chunks(len(counts), n * near):
        reached = np.cumsum(counts[part][:, nearest], axis=2) >= k
        r = nearest_dist[np.arange(n)[None, :], reached.argmax(axis=2)]
        radii[part] = np.where(reached.any(axis=2), r, np.nan)
    for b, a in zip(*np.nonzero(np.isnan(radii) & (counts > 0))):
        weights = counts[b].copy()
        weights[a] = 0
        radii[b, a] = _radius_from_row(others[a], weights, k)
    radii[counts == 0] = -np.inf
    return radii


def _coverage(dist: np.ndarray, radii: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Share of resampled query points (rows of ``dist``) within some resampled centre's (columns) radius."""
    out = np.empty(len(counts))
    for part in _chunks(len(counts), dist.size):
        inside = (dist[None, :, :] <= radii[part][:, None, :]).any(axis=2)
        out[part] = (inside * counts[part]).sum(axis=1) / counts.shape[1]
    out[np.isnan(radii).any(axis=1)] = np.nan
    return out


def _prc_replicates(
    gen: torch.Tensor, ref: torch.Tensor, c_gen: np.ndarray, c_ref: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    radii_gen, radii_ref = _radii(_cdist(gen, gen), c_gen, k), _radii(_cdist(ref, ref), c_ref, k)
    precision = _coverage(_cdist(gen, ref), radii_ref, c_gen)
    recall = _coverage(_cdist(ref, gen), radii_gen, c_ref)
    return precision, recall


# --- PRD and score ------------------------------------------------------------------------------------------------


def _prd_histograms(labels: np.ndarray, rows: np.ndarray | None, counts: np.ndarray, clusters: int) -> np.ndarray:
    """Per run and replicate the share of the resampled labelled rows in each cluster, [runs, replicates, clusters]
    (NaN where no labelled row was drawn)."""
    labels = np.asarray(labels)
    weights = (counts if rows is None else counts[:, np.asarray(rows)]).astype(np.float64)
    if labels.ndim != 2 or labels.shape[1] != weights.shape[1]:
        raise ValueError(f"PRD labels must be [runs, {weights.shape[1]}] for these rows, got {labels.shape}")
    if labels.min() < 0 or labels.max() >= clusters:
        raise ValueError(f"PRD labels must be in [0, {clusters}), got [{labels.min()}, {labels.max()}]")
    totals = weights.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.stack([(weights @ np.eye(clusters)[run]) / totals for run in labels])


def _prd_replicates(labels: PrdLabels, c_gen: np.ndarray, c_ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h_gen = _prd_histograms(labels.generated, labels.generated_rows, c_gen, labels.clusters)
    h_ref = _prd_histograms(labels.reference, labels.reference_rows, c_ref, labels.clusters)
    if len(h_gen) != len(h_ref):
        raise ValueError(f"PRD labels cover {len(h_gen)} generated and {len(h_ref)} reference runs")
    out = np.full((2, len(c_gen)), np.nan)
    for b in range(len(c_gen)):
        if np.isfinite(h_gen[:, b]).all() and np.isfinite(h_ref[:, b]).all():
            values = prd_summary(*mean_prd_curve(list(zip(h_gen[:, b], h_ref[:, b])), angles=labels.angles))
            out[:, b] = values["prd_precision"], values["prd_recall"]
    return out[0], out[1]


def _score_replicates(logits: torch.Tensor, indices: np.ndarray, splits: int) -> np.ndarray:
    """torch-fidelity's Inception Score formula on each resample, split in the drawn order, mean over splits."""
    x = logits.double()
    p = x.softmax(dim=1).numpy()
    neg_entropy = (p * x.log_softmax(dim=1).numpy()).sum(axis=1)
    n = indices.shape[1]
    splits = min(splits, n)
    scores = np.empty((len(indices), splits))
    for s in range(splits):
        block = indices[:, s * n // splits : (s + 1) * n // splits]
        weights = _counts(block, len(p)).astype(np.float64) / block.shape[1]
        q = weights @ p
        q_log_q = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0)), 0.0).sum(axis=1)
        scores[:, s] = np.exp(weights @ neg_entropy - q_log_q)
    return scores.mean(axis=1)


# --- the metrics --------------------------------------------------------------------------------------------------


def _checked_features(generated: Mapping[str, Any], reference: Mapping[str, Any]) -> tuple[dict, dict]:
    gen = {role: torch.as_tensor(v) for role, v in generated.items()}
    ref = {role: torch.as_tensor(v) for role, v in reference.items()}
    gen["pool"], ref["pool"] = gen["pool"].float(), ref["pool"].float()
    for name, features in (("generated", gen), ("reference", ref)):
        n = len(features["pool"])
        for role, v in features.items():
            if v.dim() != 2 or len(v) != n:
                raise ValueError(f"{name} {role!r} features must be [{n}, D] like its pool, got {tuple(v.shape)}")
    if gen["pool"].shape[1] != ref["pool"].shape[1]:
        raise ValueError(
            f"generated and reference features differ in width: {gen['pool'].shape[1]} vs {ref['pool'].shape[1]}"
        )
    return gen, ref


def _checked_indices(indices: Any, n: int, name: str) -> np.ndarray:
    indices = np.asarray(indices)
    if indices.ndim != 2 or indices.shape[1] != n or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{name} indices must be integer [replicates, {n}], got {indices.dtype} {indices.shape}")
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"{name} indices must be in [0, {n})")
    return indices.astype(np.int64)


def metrics_at_indices(
    generated: Mapping[str, Any],
    reference: Mapping[str, Any],
    generated_indices: Any,
    reference_indices: Any,
    *,
    prc_neighborhood: int,
    prd_labels: PrdLabels | None = None,
    isc_splits: int = 10,
) -> dict[str, np.ndarray]:
    """Every metric on the resamples given by index arrays [replicates, n_gen] and [replicates, n_ref], each as
    an array [replicates] (see the module docstring); identity rows give the point estimates."""
    gen, ref = _checked_features(generated, reference)
    n_gen, n_ref = len(gen["pool"]), len(ref["pool"])
    if n_gen < 2 or n_ref < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {n_gen} and {n_ref}")
    k = _positive_int("prc_neighborhood", prc_neighborhood)
    if k >= min(n_gen, n_ref):
        raise ValueError(f"prc_neighborhood ({k}) must be smaller than both set sizes ({n_gen}, {n_ref})")
    gen_idx = _checked_indices(generated_indices, n_gen, "generated")
    ref_idx = _checked_indices(reference_indices, n_ref, "reference")
    if len(gen_idx) != len(ref_idx):
        raise ValueError(f"{len(gen_idx)} generated but {len(ref_idx)} reference replicates")
    c_gen, c_ref = _counts(gen_idx, n_gen), _counts(ref_idx, n_ref)
    w_gen, w_ref = c_gen.astype(np.float64), c_ref.astype(np.float64)

    grams = _grams(gen["pool"], ref["pool"])
    out = {
        "fid": _fid_replicates(grams, w_gen, w_ref),
        "kid": _kid_replicates(grams, gen["pool"].shape[1], w_gen, w_ref),
    }
    del grams
    out["precision"], out["recall"] = _prc_replicates(gen["pool"], ref["pool"], c_gen, c_ref, k)
    if "spatial" in gen and "spatial" in ref:
        out["sfid"] = _fid_replicates(_grams(gen["spatial"], ref["spatial"]), w_gen, w_ref)
    if prd_labels is not None:
        out["prd_precision"], out["prd_recall"] = _prd_replicates(prd_labels, c_gen, c_ref)
    if "logits" in gen:
        out["score"] = _score_replicates(gen["logits"], gen_idx, _positive_int("isc_splits", isc_splits))
    return out


def bootstrap_metrics(
    generated: Mapping[str, Any],
    reference: Mapping[str, Any],
    *,
    replicates: int,
    seed: int,
    prc_neighborhood: int,
    prd_labels: PrdLabels | None = None,
    isc_splits: int = 10,
) -> dict[str, np.ndarray]:
    """``replicates`` bootstrap values of every metric (features by role as for ``metrics_from_features``): the
    generated rows drawn from the stream ``"generated"``, the reference rows from ``"reference"`` of ``seed``."""
    n_gen, n_ref = len(generated["pool"]), len(reference["pool"])
    return metrics_at_indices(
        generated,
        reference,
        bootstrap_indices(n_gen, replicates, seed, "generated"),
        bootstrap_indices(n_ref, replicates, seed, "reference"),
        prc_neighborhood=prc_neighborhood,
        prd_labels=prd_labels,
        isc_splits=isc_splits,
    )


# --- intervals ----------------------------------------------------------------------------------------------------


def _finite(values: Any, name: str, max_nan_share: float) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"{name}: replicates must be a non-empty 1-D array, got shape {values.shape}")
    bad = int((~np.isfinite(values)).sum())
    if bad > max_nan_share * len(values):
        raise ValueError(
            f"{name}: {bad} of {len(values)} bootstrap replicates are NaN or infinite "
            f"(more than {max_nan_share:.1%}); the resamples are too degenerate for an interval"
        )
    return values[np.isfinite(values)]


def _bounds(values: np.ndarray, level: float) -> tuple[float, float]:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    lo, hi = np.percentile(values, [50.0 * (1.0 - level), 50.0 * (1.0 + level)])
    return float(lo), float(hi)


def centred_interval(
    point: float, values: Any, level: float = 0.95, *, name: str = "metric", max_nan_share: float = 0.01
) -> tuple[float, float]:
    """The re-centred percentile interval at ``level``: ``(point - (median - q_lo), point + (q_hi - median))``
    of the finite replicates ``values`` (see the module docstring, "Location"); more than ``max_nan_share``
    non-finite replicates is a ValueError naming ``name``."""
    finite = _finite(values, name, max_nan_share)
    lo, hi = _bounds(finite, level)
    median = float(np.median(finite))
    return float(point) - (median - lo), float(point) + (hi - median)


def percentile_interval(
    values: Any, level: float = 0.95, *, name: str = "metric", max_nan_share: float = 0.01
) -> tuple[float, float]:
    """The percentile interval (lo, hi) of bootstrap replicates at ``level``; non-finite replicates are left out,
    and more than ``max_nan_share`` of them is a ValueError naming ``name``."""
    return _bounds(_finite(values, name, max_nan_share), level)


def paired_difference(
    a_reps: Any, b_reps: Any, level: float = 0.95, *, name: str = "metric", max_nan_share: float = 0.01
) -> dict[str, float]:
    """The per-replicate difference ``a - b`` of two evaluations drawn with the same seed and reference set:
    ``{"mean_diff", "lo", "hi", "replicates"}`` (the percentile interval at ``level``; ``replicates`` counts the
    finite differences used)."""
    a, b = np.atleast_1d(np.asarray(a_reps, dtype=np.float64)), np.atleast_1d(np.asarray(b_reps, dtype=np.float64))
    if len(a) != len(b):
        raise ValueError(f"{name}: paired replicates must have equal length, got {len(a)} and {len(b)}")
    diff = _finite(a - b, name, max_nan_share)
    lo, hi = _bounds(diff, level)
    return {"mean_diff": float(diff.mean()), "lo": lo, "hi": hi, "replicates": len(diff)}
