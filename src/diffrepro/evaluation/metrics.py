"""Sample-quality metrics through torch-fidelity 0.4.0.

:func:`compute_metrics` computes FID, KID, k-NN precision/recall (Kynkäänniemi et
al. 2019; ``input1`` = generated, ``input2`` = reference) and optionally an
Inception-style score, all on one feature extractor:

* ``extractor="classifier"``: the project's :class:`SmallClassifier` from
  ``extractor_weights`` (safetensors), registered with torch-fidelity by
  :func:`~diffrepro.evaluation.feature_extractors.register_classifier_extractor`;
  FID/KID/PRC use its penultimate features and the score uses its logits, so the
  score is a *classifier-logit Inception-style score, not the Inception Score*;
* any other name registered with torch-fidelity (e.g. ``"inception-v3-compat"``) is
  passed through, with ``feature_extractor_weights_path=extractor_weights``, and the
  extractor's default feature layers.

torch-fidelity's on-disk cache is disabled (``cache=False``), data loading runs in
the main process (``save_cpu_ram=True``) and KID subsets / score splits are seeded
with ``rng_seed``.

:func:`frechet_distance` is an independent numpy/scipy implementation of the Fréchet
distance between two Gaussians, for cross-checking.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["compute_metrics", "frechet_distance", "UInt8ImageDataset", "CLASSIFIER_EXTRACTOR", "SCORE_DEFINITION"]

#: ``extractor`` value selecting the project's SmallClassifier.
CLASSIFIER_EXTRACTOR = "classifier"
SCORE_DEFINITION = "classifier-logit Inception-style score (not the Inception Score)"


class UInt8ImageDataset(Dataset):
    """Dataset over a uint8 ``[N, C, H, W]`` tensor (C in {1, 3}) yielding uint8 ``3 x H x W``.

    Grey images are replicated to three channels (the format torch-fidelity expects).
    """

    def __init__(self, images: torch.Tensor, name: str = "images") -> None:
        if not torch.is_tensor(images) or images.dtype != torch.uint8 or images.dim() != 4:
            desc = f"{images.dtype} {tuple(images.shape)}" if torch.is_tensor(images) else type(images).__name__
            raise ValueError(f"{name} must be a uint8 tensor [N, C, H, W], got {desc}")
        if images.shape[1] not in (1, 3):
            raise ValueError(f"{name} must have 1 or 3 channels, got {images.shape[1]}")
        self.images = images.detach().to("cpu").contiguous()

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        img = self.images[index]
        if img.shape[0] == 1:
            img = img.expand(3, -1, -1)
        return img.contiguous()


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))`` (numpy/scipy, float64).

    Uses :func:`scipy.linalg.sqrtm`; when the product is singular enough for the square
    root to be non-finite, ``eps * I`` is added to both covariances (scipy's warning about
    singular matrices is silenced: zero-variance features make them common). Only the real part
    of the trace of the square root is kept (imaginary parts are numerical noise for a
    product of two PSD matrices).
    """
    from scipy import linalg

    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors must be 1-D of equal length, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise ValueError(f"covariances must be {d}x{d}, got {sigma1.shape} and {sigma2.shape}")

    def _sqrtm(a: np.ndarray) -> np.ndarray:
        with warnings.catch_warnings():
            # singular products are common (dead ReLU units give zero-variance features)
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            out = linalg.sqrtm(a)
        return out[0] if isinstance(out, tuple) else out

    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(d) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    tr_covmean = float(np.real(np.trace(covmean)))
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _resolve_extractor(extractor: Any, extractor_weights: str | None) -> tuple[str, bool]:
    """Return ``(registered torch-fidelity name, is_classifier)``; raise ValueError when invalid."""
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    from diffrepro.evaluation.feature_extractors import is_classifier_extractor, register_classifier_extractor

    if not isinstance(extractor, str) or not extractor:
        raise ValueError(f"extractor must be a non-empty string, got {extractor!r}")
    if extractor == CLASSIFIER_EXTRACTOR:
        if extractor_weights is None:
            raise ValueError("extractor 'classifier' needs extractor_weights (a classifier safetensors file)")
        if not os.path.isfile(os.fspath(extractor_weights)):
            raise ValueError(f"extractor 'classifier': weights file not found: {os.fspath(extractor_weights)!r}")
        return register_classifier_extractor(extractor_weights), True
    if extractor not in FEATURE_EXTRACTORS_REGISTRY:
        known = ", ".join([CLASSIFIER_EXTRACTOR, *sorted(FEATURE_EXTRACTORS_REGISTRY)])
        raise ValueError(f"unknown feature extractor {extractor!r}; expected one of: {known}")
    return extractor, is_classifier_extractor(extractor)


def compute_metrics(
    generated: torch.Tensor,
    reference: torch.Tensor,
    *,
    extractor: str,
    extractor_weights: str | None,
    kid_subset_size: int,
    prc_neighborhood: int = 3,
    batch_size: int = 256,
    device: str = "cpu",
    classifier_score: bool = True,
    log: Callable[[str], None] | None = None,
    kid_subsets: int = 100,
    isc_splits: int = 10,
    rng_seed: int = 2020,
) -> dict[str, Any]:
    """FID, KID, k-NN precision/recall and (optionally) an Inception-style score.

    ``generated`` (uint8 ``[N, C, H, W]``) is torch-fidelity's ``input1`` and
    ``reference`` (uint8 ``[M, C, H, W]``) its ``input2``; C is 1 or 3. See the module
    docstring for ``extractor``. ``kid_subset_size`` is clipped to ``min(N, M)``;
    ``isc_splits`` to ``N``. Returns a flat dict with ``fid``, ``kid_mean``,
    ``kid_std``, ``precision``, ``recall``, ``f_score``, ``classifier_score_mean`` and
    ``classifier_score_std`` (``None`` when ``classifier_score`` is false),
    ``n_generated``, ``n_reference``, ``feature_extractor`` (as given),
    ``feature_extractor_name`` (the torch-fidelity registry name), ``feature_layers``,
    ``kid_subset_size``, ``kid_subsets``, ``prc_neighborhood``, ``rng_seed``,
    ``precision_recall_definition``, ``score_definition``, ``seconds`` and
    ``images_per_second`` (``(N + M) / seconds`` of the torch-fidelity call, feature
    extraction included).
    """
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

    from diffrepro.evaluation.feature_extractors import FEATURE_LAYER, LOGITS_LAYER

    emit = log if log is not None else (lambda _msg: None)
    gen_ds = UInt8ImageDataset(generated, "generated")
    ref_ds = UInt8ImageDataset(reference, "reference")
    n_gen, n_ref = len(gen_ds), len(ref_ds)
    if n_gen < 2 or n_ref < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {n_gen} and {n_ref}")
    kid_subset_size = _positive_int("kid_subset_size", kid_subset_size)
    prc_neighborhood = _positive_int("prc_neighborhood", prc_neighborhood)
    batch_size = _positive_int("batch_size", batch_size)
    kid_subsets = _positive_int("kid_subsets", kid_subsets)
    isc_splits = _positive_int("isc_splits", isc_splits)
    if prc_neighborhood >= min(n_gen, n_ref):
        raise ValueError(
            f"prc_neighborhood ({prc_neighborhood}) must be smaller than both set sizes ({n_gen}, {n_ref})"
        )
    if not isinstance(device, str) or not (device == "cpu" or device.startswith("cuda")):
        raise ValueError(f"device must be 'cpu' or 'cuda[:index]', got {device!r}")
    cuda = device.startswith("cuda")
    if cuda and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")

    fe_name, is_classifier = _resolve_extractor(extractor, extractor_weights)
    fe_cls = FEATURE_EXTRACTORS_REGISTRY[fe_name]
    if is_classifier:
        layers = {"fid": FEATURE_LAYER, "kid": FEATURE_LAYER, "prc": FEATURE_LAYER, "isc": LOGITS_LAYER}
    else:
        layers = {m: fe_cls.get_default_feature_layer_for_metric(m) for m in ("fid", "kid", "prc", "isc")}
    if not classifier_score:
        layers.pop("isc")
    kid_subset_size_used = min(kid_subset_size, n_gen, n_ref)
    if kid_subset_size_used < 2:  # pragma: no cover - guarded by n >= 2
        raise ValueError("KID needs subsets of at least 2 images")

    kwargs: dict[str, Any] = dict(
        input1=gen_ds,
        input2=ref_ds,
        cuda=cuda,
        batch_size=batch_size,
        isc=bool(classifier_score),
        fid=True,
        kid=True,
        prc=True,
        feature_extractor=fe_name,
        feature_layer_fid=layers["fid"],
        feature_layer_kid=layers["kid"],
        feature_layer_prc=layers["prc"],
        feature_extractor_weights_path=None if extractor_weights is None else os.fspath(extractor_weights),
        kid_subsets=kid_subsets,
        kid_subset_size=kid_subset_size_used,
        prc_neighborhood=prc_neighborhood,
        cache=False,
        rng_seed=int(rng_seed),
        save_cpu_ram=True,
        verbose=False,
    )
    if classifier_score:
        kwargs["feature_layer_isc"] = layers["isc"]
        kwargs["isc_splits"] = min(isc_splits, n_gen)

    emit(
        f"metrics: {n_gen} generated vs {n_ref} reference images, extractor {extractor!r} ({fe_name}), "
        f"layers {layers}, device {device}"
    )
    device_ctx = (
        torch.cuda.device(torch.device(device))
        if cuda and torch.device(device).index is not None
        else contextlib.nullcontext()
    )
    t0 = time.perf_counter()
    with device_ctx:
        raw = torch_fidelity.calculate_metrics(**kwargs)
    seconds = time.perf_counter() - t0

    if is_classifier:
        score_definition = SCORE_DEFINITION
    elif fe_name == "inception-v3-compat" and layers.get("isc", "logits_unbiased") == "logits_unbiased":
        score_definition = "Inception Score (torch-fidelity inception-v3-compat, logits_unbiased)"
    else:
        score_definition = (
            f"Inception-style score on {fe_name!r} layer {layers.get('isc', fe_cls.get_default_feature_layer_for_metric('isc'))!r} "
            "(not the Inception Score)"
        )
    out: dict[str, Any] = {
        "fid": float(raw[torch_fidelity.KEY_METRIC_FID]),
        "kid_mean": float(raw[torch_fidelity.KEY_METRIC_KID_MEAN]),
        "kid_std": float(raw[torch_fidelity.KEY_METRIC_KID_STD]),
        "precision": float(raw[torch_fidelity.KEY_METRIC_PRECISION]),
        "recall": float(raw[torch_fidelity.KEY_METRIC_RECALL]),
        "f_score": float(raw[torch_fidelity.KEY_METRIC_F_SCORE]),
        "classifier_score_mean": float(raw[torch_fidelity.KEY_METRIC_ISC_MEAN]) if classifier_score else None,
        "classifier_score_std": float(raw[torch_fidelity.KEY_METRIC_ISC_STD]) if classifier_score else None,
        "n_generated": n_gen,
        "n_reference": n_ref,
        "feature_extractor": extractor,
        "feature_extractor_name": fe_name,
        "feature_layers": layers,
        "kid_subset_size": kid_subset_size_used,
        "kid_subsets": kid_subsets,
        "prc_neighborhood": prc_neighborhood,
        "rng_seed": int(rng_seed),
        "precision_recall_definition": f"k-NN (Kynkaanniemi et al. 2019, k={prc_neighborhood})",
        "score_definition": score_definition,
        "seconds": float(seconds),
        "images_per_second": float((n_gen + n_ref) / max(seconds, 1e-9)),
    }
    emit(
        f"metrics: fid {out['fid']:.4f} kid {out['kid_mean']:.5f}±{out['kid_std']:.5f} "
        f"precision {out['precision']:.4f} recall {out['recall']:.4f}"
        + (
            f" score {out['classifier_score_mean']:.4f}±{out['classifier_score_std']:.4f}"
            if classifier_score
            else ""
        )
        + f" ({out['images_per_second']:.0f} img/s)"
    )
    return out


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
) -> dict[str, Any]:
    """Every metric from features by role (``pool`` [N, D] required; ``spatial`` and ``logits`` optional).

    FID (torch-fidelity's statistics and Fréchet distance), KID (torch-fidelity, polynomial kernel),
    k-NN precision/recall (torch-fidelity, ``generated`` is its input1) and the distribution
    precision/recall of Sajjadi et al. 2018 (:mod:`diffrepro.evaluation.prd`; the reference is subsampled
    with ``rng_seed`` to the generated count) on ``pool``; sFID (the Fréchet distance) on ``spatial``;
    the score (torch-fidelity's Inception Score formula) on the generated ``logits``.  Missing roles give
    ``None``.  ``kid_subset_size`` is clipped to the set sizes.
    """
    from torch_fidelity.metric_fid import fid_features_to_statistics, fid_statistics_to_metric
    from torch_fidelity.metric_isc import isc_features_to_metric
    from torch_fidelity.metric_kid import kid_features_to_metric
    from torch_fidelity.metric_prc import prc_features_to_metric
    import torch_fidelity

    from .prd import prd_from_features

    gen, ref = generated["pool"].float(), reference["pool"].float()
    n_gen, n_ref = int(gen.shape[0]), int(ref.shape[0])
    if n_gen < 2 or n_ref < 2:
        raise ValueError(f"need at least 2 generated and 2 reference images, got {n_gen} and {n_ref}")
    if gen.shape[1] != ref.shape[1]:
        raise ValueError(f"generated and reference features differ in width: {gen.shape[1]} vs {ref.shape[1]}")
    prc_neighborhood = _positive_int("prc_neighborhood", prc_neighborhood)
    if prc_neighborhood >= min(n_gen, n_ref):
        raise ValueError(f"prc_neighborhood ({prc_neighborhood}) must be smaller than both set sizes ({n_gen}, {n_ref})")
    kid_size = min(_positive_int("kid_subset_size", kid_subset_size), n_gen, n_ref)

    def fid_of(a: torch.Tensor, b: torch.Tensor) -> float:
        return float(fid_statistics_to_metric(fid_features_to_statistics(a.double()), fid_features_to_statistics(b.double()),
                                              verbose=False)[torch_fidelity.KEY_METRIC_FID])

    kid = kid_features_to_metric(gen, ref, kid_subsets=_positive_int("kid_subsets", kid_subsets),
                                 kid_subset_size=kid_size, rng_seed=int(rng_seed), verbose=False)
    prc = prc_features_to_metric(gen, ref, prc_neighborhood=prc_neighborhood, prc_batch_size=10000,
                                 save_cpu_ram=True, verbose=False)
    prd = dict(prd or {"clusters": 20, "angles": 1001, "runs": 10})
    m = min(n_gen, n_ref)
    rng = np.random.RandomState(int(rng_seed))
    gen_idx = np.sort(rng.choice(n_gen, m, replace=False)) if n_gen > m else np.arange(n_gen)
    ref_idx = np.sort(rng.choice(n_ref, m, replace=False)) if n_ref > m else np.arange(n_ref)
    clusters = min(int(prd["clusters"]), m)
    prd_values = prd_from_features(gen[gen_idx].numpy(), ref[ref_idx].numpy(), clusters=clusters,
                                   angles=int(prd["angles"]), runs=int(prd["runs"]), seed=int(rng_seed))
    out: dict[str, Any] = {
        "fid": fid_of(gen, ref),
        "kid_mean": float(kid[torch_fidelity.KEY_METRIC_KID_MEAN]),
        "kid_std": float(kid[torch_fidelity.KEY_METRIC_KID_STD]),
        "precision": float(prc[torch_fidelity.KEY_METRIC_PRECISION]),
        "recall": float(prc[torch_fidelity.KEY_METRIC_RECALL]),
        "f_score": float(prc[torch_fidelity.KEY_METRIC_F_SCORE]),
        **prd_values,
        "sfid": fid_of(generated["spatial"], reference["spatial"])
        if "spatial" in generated and "spatial" in reference else None,
        "score_mean": None,
        "score_std": None,
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
        "prd_definition": (f"distribution PRD (Sajjadi et al. 2018): precision F_1/8, recall F_8, {clusters} k-means "
                           f"clusters, {int(prd['runs'])} runs, {m} vs {m} images"),
    }
    if "logits" in generated:
        score = isc_features_to_metric(generated["logits"], splits=min(_positive_int("isc_splits", isc_splits), n_gen),
                                       shuffle=True, rng_seed=int(rng_seed))
        out["score_mean"] = float(score[torch_fidelity.KEY_METRIC_ISC_MEAN])
        out["score_std"] = float(score[torch_fidelity.KEY_METRIC_ISC_STD])
    return out
