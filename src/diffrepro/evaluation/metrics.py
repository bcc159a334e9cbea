"""Sample-quality metrics from features (:func:`metrics_from_features`), the computation every evaluation runs on
each metric backend's features (:class:`~diffrepro.evaluation.evaluator.Evaluator`): FID and sFID (the Fréchet
distance of torch-fidelity's statistics, computed exactly through Gram matrices:
:func:`~diffrepro.evaluation.bootstrap.frechet_distance`), KID and k-NN precision/recall through torch-fidelity
0.4.0's functions on features, the distribution precision/recall of Sajjadi et al. 2018
(:mod:`diffrepro.evaluation.prd`) and the Inception-style score on the logits. KID subsets, the score's splits and
the PRD subsampling are seeded with ``rng_seed``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["metrics_from_features"]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def metrics_from_features(
    generated: dict[str, torch.Tensor],
    reference: dict[str, torch.Tensor],
    *,
    kid_subset_size: int,
    kid_subsets: int = 100,
    prc_neighborhood: int = 3,
    prd: dict[str, int] | None = None,
    isc_splits: int = 10,
    rng_seed: int = 2020,
    bootstrap: int = 0,
) -> dict[str, Any]:
    """Every metric from features by role (``pool`` [N, D] required; ``spatial`` and ``logits`` optional).

    FID (the Fréchet distance of torch-fidelity's statistics, :func:`.bootstrap.frechet_distance`), KID
    (torch-fidelity, polynomial kernel), k-NN precision/recall (torch-fidelity, ``generated`` is its input1) and
    the distribution precision/recall of Sajjadi et al. 2018 (:mod:`diffrepro.evaluation.prd`; the reference is
    subsampled with ``rng_seed`` to the generated count) on ``pool``; sFID (the Fréchet distance) on ``spatial``;
    the score on the generated ``logits``: torch-fidelity's Inception Score (``isc_features_to_metric``: softmax of
    the logits, ``exp(E[KL(p(y|x) || p(y))])`` in each of ``isc_splits`` splits of the shuffled set, mean and std
    over the splits; ``isc_splits`` records the splits used).  Missing roles give ``None``.  ``kid_subset_size``
    and ``isc_splits`` are clipped to the set sizes.

    ``bootstrap`` > 0: also ``"replicates"``, that many seeded bootstrap replicates of each metric
    (:func:`~diffrepro.evaluation.bootstrap.bootstrap_metrics`, seed ``rng_seed``; the PRD's with the clusters
    of its point estimate), from the same features.
    """
    import torch_fidelity
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric

    from .bootstrap import frechet_distance
    from .prd import cluster_labels, histogram, mean_prd_curve, prd_summary

    gen, ref = generated["pool"].float(), reference["pool"].float()
    n_gen, n_ref = int(gen.shape[0]), int(ref.shape[0])
    if n_gen < 2 or n_ref < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {n_gen} and {n_ref}")
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(f"generated and reference features differ in width: {gen.shape[1]} vs {ref.shape[1]}")
    prc_neighborhood = _positive_int("prc_neighborhood", prc_neighborhood)
    if prc_neighborhood >= min(n_gen, n_ref):
        raise ValueError(
            f"prc_neighborhood ({prc_neighborhood}) must be smaller than both set sizes ({n_gen}, {n_ref})"
        )
    kid_size = min(_positive_int("kid_subset_size", kid_subset_size), n_gen, n_ref)

    kid = kid_features_to_metric(
        gen,
        ref,
        kid_subsets=_positive_int("kid_subsets", kid_subsets),
        kid_subset_size=kid_size,
        rng_seed=int(rng_seed),
        verbose=False,
    )
    prc = prc_features_to_metric(
        gen, ref, prc_neighborhood=prc_neighborhood, prc_batch_size=10000, save_cpu_ram=True, verbose=False
    )
    prd = dict(prd or {"clusters": 20, "angles": 1001, "runs": 10})
    m = min(n_gen, n_ref)
    rng = np.random.RandomState(int(rng_seed))
    gen_idx = np.sort(rng.choice(n_gen, m, replace=False)) if n_gen > m else np.arange(n_gen)
    ref_idx = np.sort(rng.choice(n_ref, m, replace=False)) if n_ref > m else np.arange(n_ref)
    clusters = min(int(prd["clusters"]), m)
    gen_labels, ref_labels = cluster_labels(
        gen[gen_idx].numpy(), ref[ref_idx].numpy(), clusters=clusters, runs=int(prd["runs"]), seed=int(rng_seed)
    )
    pairs = [(histogram(e, clusters), histogram(r, clusters)) for e, r in zip(gen_labels, ref_labels)]
    prd_values = prd_summary(*mean_prd_curve(pairs, angles=int(prd["angles"])))
    out: dict[str, Any] = {
        "fid": frechet_distance(gen, ref),
        "kid_mean": float(kid[torch_fidelity.KEY_METRIC_KID_MEAN]),
        "kid_std": float(kid[torch_fidelity.KEY_METRIC_KID_STD]),
        "precision": float(prc[torch_fidelity.KEY_METRIC_PRECISION]),
        "recall": float(prc[torch_fidelity.KEY_METRIC_RECALL]),
        "f_score": float(prc[torch_fidelity.KEY_METRIC_F_SCORE]),
        **prd_values,
        "sfid": frechet_distance(generated["spatial"], reference["spatial"])
        if "spatial" in generated and "spatial" in reference
        else None,
        "score_mean": None,
        "score_std": None,
        "isc_splits": None,
        "n_generated": n_gen,
        "n_reference": n_ref,
        "kid_subset_size": kid_size,
        "kid_subsets": int(kid_subsets),
        "prc_neighborhood": prc_neighborhood,
        "prd_clusters": clusters,
        "prd_angles": int(prd["angles"]),
        "prd_runs": int(prd["runs"]),
        "prd_samples": m,
        "rng_seed": int(rng_seed),
        "precision_recall_definition": f"k-NN (Kynkaanniemi et al. 2019, k={prc_neighborhood})",
        "prd_definition": (
            f"distribution PRD (Sajjadi et al. 2018): precision F_1/8, recall F_8, {clusters} k-means "
            f"clusters, {int(prd['runs'])} runs, {m} vs {m} images"
        ),
    }
    if "logits" in generated:
        splits = min(_positive_int("isc_splits", isc_splits), n_gen)
        score = isc_features_to_metric(generated["logits"], splits=splits, shuffle=True, rng_seed=int(rng_seed))
        out["score_mean"] = float(score[torch_fidelity.KEY_METRIC_ISC_MEAN])
        out["score_std"] = float(score[torch_fidelity.KEY_METRIC_ISC_STD])
        out["isc_splits"] = splits
    if bootstrap:
        from .bootstrap import PrdLabels, bootstrap_metrics

        labels = PrdLabels(
            gen_labels, ref_labels, clusters, int(prd["angles"]), generated_rows=gen_idx, reference_rows=ref_idx
        )
        out["replicates"] = bootstrap_metrics(
            generated,
            reference,
            replicates=_positive_int("bootstrap", bootstrap),
            seed=int(rng_seed),
            prc_neighborhood=prc_neighborhood,
            prd_labels=labels,
            isc_splits=isc_splits,
        )
    return out
