"""Independent computations the metric tests compare the pipeline's metrics against (not part of the package).

* :func:`frechet_distance`: the Fréchet distance between two Gaussians in numpy/scipy (float64);
* :func:`torch_fidelity_metrics`: torch-fidelity's own end-to-end ``calculate_metrics`` (its data loading, its
  feature extraction and its metrics) on uint8 images with the in-pipeline classifier as the extractor.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from diffrepro.evaluation.feature_extractors import FEATURE_LAYER, LOGITS_LAYER, ClassifierFeatureExtractor

#: the name the classifier extractor is registered under in torch-fidelity's registry
CLASSIFIER_EXTRACTOR = "diffrepro-test-classifier"


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """Fréchet distance ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 sqrtm(S1 S2))`` (numpy/scipy, float64).

    Uses :func:`scipy.linalg.sqrtm`; when the product is singular enough for the square root to be non-finite,
    ``eps * I`` is added to both covariances. Only the real part of the trace of the square root is kept
    (imaginary parts are numerical noise for a product of two PSD matrices).
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


class UInt8Images(Dataset):
    """uint8 ``[N, C, H, W]`` images (C = 1 or 3) as torch-fidelity reads them: uint8 ``3 x H x W`` items."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index].expand(3, -1, -1).contiguous()


def torch_fidelity_metrics(
    generated: torch.Tensor,
    reference: torch.Tensor,
    weights: str,
    *,
    kid_subset_size: int,
    kid_subsets: int,
    rng_seed: int,
    batch_size: int,
    prc_neighborhood: int = 3,
    isc_splits: int = 10,
) -> dict[str, float]:
    """FID, KID, k-NN precision/recall and the score of ``generated`` (torch-fidelity's input1) against
    ``reference`` on the classifier in ``weights`` (penultimate features; logits for the score), all computed by
    torch-fidelity's ``calculate_metrics``."""
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if CLASSIFIER_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(CLASSIFIER_EXTRACTOR, ClassifierFeatureExtractor)
    raw = torch_fidelity.calculate_metrics(
        input1=UInt8Images(generated),
        input2=UInt8Images(reference),
        cuda=False,
        batch_size=batch_size,
        isc=True,
        fid=True,
        kid=True,
        prc=True,
        feature_extractor=CLASSIFIER_EXTRACTOR,
        feature_layer_fid=FEATURE_LAYER,
        feature_layer_kid=FEATURE_LAYER,
        feature_layer_prc=FEATURE_LAYER,
        feature_layer_isc=LOGITS_LAYER,
        feature_extractor_weights_path=weights,
        kid_subsets=kid_subsets,
        kid_subset_size=min(kid_subset_size, len(generated), len(reference)),
        prc_neighborhood=prc_neighborhood,
        isc_splits=min(isc_splits, len(generated)),
        cache=False,
        rng_seed=rng_seed,
        save_cpu_ram=True,
        verbose=False,
    )
    return {
        "fid": float(raw[torch_fidelity.KEY_METRIC_FID]),
        "kid_mean": float(raw[torch_fidelity.KEY_METRIC_KID_MEAN]),
        "kid_std": float(raw[torch_fidelity.KEY_METRIC_KID_STD]),
        "precision": float(raw[torch_fidelity.KEY_METRIC_PRECISION]),
        "recall": float(raw[torch_fidelity.KEY_METRIC_RECALL]),
        "f_score": float(raw[torch_fidelity.KEY_METRIC_F_SCORE]),
        "score_mean": float(raw[torch_fidelity.KEY_METRIC_ISC_MEAN]),
    }
