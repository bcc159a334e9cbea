"""Per-image reconstruction metrics: mean absolute error and MS-SSIM.

Image conventions
-----------------
Images are ``[N, C, H, W]`` tensors (``C = 1`` grayscale or ``C = 3`` RGB).

* :func:`mae` is the mean of ``|a - b|`` over all pixels and channels of each image, in the
  units of its inputs: the same pair of images gives twice the value in ``[-1, 1]`` that it
  gives in ``[0, 1]``. The analysis code (:mod:`diffrepro.analysis.reconstruction`) reports it
  on ``[0, 1]`` images, i.e. as a fraction of the intensity range.
* :func:`ms_ssim` needs ``data_range`` = the width of the value range (``1`` for ``[0, 1]``,
  ``255`` for ``[0, 255]``). SSIM's luminance term is *not* shift invariant, so images in
  ``[-1, 1]`` should be mapped to ``[0, 1]`` first (:func:`to_unit_range`) rather than passed
  with ``data_range=2``.

MS-SSIM (Wang, Simoncelli & Bovik 2003) is computed with the maintained ``pytorch_msssim``
package (pinned 1.0.0): Gaussian window with ``sigma = 1.5``, ``K = (0.01, 0.03)``, 2x2 average
pooling between scales, contrast-structure terms at scales ``0..k-2`` and the full SSIM at the
coarsest scale, each raised to its weight; negative terms are clipped to 0 (as the package does).

Small images
------------
``pytorch_msssim.ms_ssim`` uses 5 scales and an 11-pixel window and asserts
``min(H, W) > (win_size - 1) * 2**4`` (> 160 px), so 8x8 .. 32x32 images do not fit. For ``k``
scales and window ``w`` the coarsest scale has side ``ceil(min(H, W) / 2**(k-1))``, and the window
fits inside it (no skipped smoothing, at least one valid SSIM position) when

    ``min(H, W) > (w - 1) * 2**(k - 1)``          (the package's rule, with ``k`` scales).

:func:`ms_ssim_settings` picks, by this rule:

1. the largest number of scales ``k <= 5`` for which some window ``w`` in ``{11, 9, 7}`` fits;
2. for that ``k``, the largest such ``w`` (so the standard ``w = 11`` whenever it fits);
3. weights = the first ``k`` standard weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``
   renormalised to sum to 1. For ``k = 5`` the standard weights are used exactly as published
   (they sum to 1.0001 through rounding), so that for ``min(H, W) > 160`` the result equals
   ``pytorch_msssim.ms_ssim`` with its defaults;
4. if even one scale with a 7-pixel window does not fit (``min(H, W) <= 6``): one scale (plain
   SSIM) with the largest odd window ``w >= 3`` that fits; smaller images raise ``ValueError``.

The window is never narrower than 7 px (+-2 sigma) for images of at least 7 px, because narrower
truncations of the sigma = 1.5 Gaussian are closer to a box filter. Resulting settings:

=========  ====  ======  ==============================================
min side   win   scales  weights
=========  ====  ======  ==============================================
8          7     1       (1,)
12         11    1       (1,)
16         7     2       (0.1356, 0.8644)
28, 32     7     3       (0.0711, 0.4530, 0.4760)
48         11    3       (0.0711, 0.4530, 0.4760)
64         7     4       (0.0517, 0.3295, 0.3462, 0.2726)
128        7     5       standard
>= 161     11    5       standard (= ``pytorch_msssim.ms_ssim`` defaults)
=========  ====  ======  ==============================================

When the settings are the package defaults (5 standard weights, ``w = 11``) :func:`ms_ssim`
calls ``pytorch_msssim.ms_ssim`` directly; otherwise it runs the same multi-scale product with
the package's per-scale SSIM kernel (``pytorch_msssim.ssim._ssim``), because the public function
hard-codes the 4-downsampling size assertion whatever the number of weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytorch_msssim
import torch
import torch.nn.functional as F
from pytorch_msssim.ssim import _fspecial_gauss_1d, _ssim
from torch import Tensor

__all__ = [
    "STANDARD_MS_SSIM_WEIGHTS",
    "STANDARD_WIN_SIZE",
    "MIN_WIN_SIZE",
    "WIN_SIGMA",
    "mae",
    "ms_ssim",
    "ms_ssim_settings",
    "ms_ssim_fits",
    "to_unit_range",
]

#: Wang et al. (2003) scale weights, finest scale first (as in pytorch_msssim).
STANDARD_MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Standard Gaussian window (pixels) and its sigma.
STANDARD_WIN_SIZE = 11
WIN_SIGMA = 1.5
#: Narrowest window :func:`ms_ssim_settings` uses for images of at least 7 pixels.
MIN_WIN_SIZE = 7
_K = (0.01, 0.03)


def to_unit_range(x: Tensor) -> Tensor:
    """Map images from ``[-1, 1]`` (the diffusion model's range) to ``[0, 1]``."""
    return (x + 1.0) / 2.0


def _check_pair(a: Tensor, b: Tensor) -> None:
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError("images must be torch tensors")
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {tuple(a.shape)} vs {tuple(b.shape)}")
    if a.ndim != 4:
        raise ValueError(f"images must be [N, C, H, W], got shape {tuple(a.shape)}")


def mae(a: Tensor, b: Tensor) -> Tensor:
    """Per-image mean absolute error ``mean |a - b|`` over channels and pixels.

    ``a``, ``b``: ``[N, C, H, W]`` in the same value range (the result is in those units).
    Returns a float64 tensor ``[N]`` on the inputs' device.
    """
    _check_pair(a, b)
    return (a.to(torch.float64) - b.to(torch.float64)).abs().flatten(1).mean(dim=1)


def ms_ssim_fits(height: int, width: int, win_size: int, num_scales: int) -> bool:
    """The size rule ``min(H, W) > (win_size - 1) * 2**(num_scales - 1)``."""
    return min(int(height), int(width)) > (int(win_size) - 1) * 2 ** (int(num_scales) - 1)


def _weights(k: int) -> tuple[float, ...]:
    if k == len(STANDARD_MS_SSIM_WEIGHTS):
        return STANDARD_MS_SSIM_WEIGHTS
    first = STANDARD_MS_SSIM_WEIGHTS[:k]
    total = sum(first)
    return tuple(w / total for w in first)


def ms_ssim_settings(height: int, width: int) -> tuple[int, tuple[float, ...]]:
    """``(win_size, weights)`` for MS-SSIM on ``height x width`` images (rule: module docstring).

    ``len(weights)`` is the number of scales. Raises ``ValueError`` for ``min(H, W) < 3``.
    """
    height, width = int(height), int(width)
    side = min(height, width)
    for k in range(len(STANDARD_MS_SSIM_WEIGHTS), 0, -1):
        for win in range(STANDARD_WIN_SIZE, MIN_WIN_SIZE - 1, -2):
            if ms_ssim_fits(height, width, win, k):
                return win, _weights(k)
    win = side if side % 2 == 1 else side - 1
    if win < 3:
        raise ValueError(f"images of {height}x{width} are too small for SSIM (need min side >= 3)")
    return win, (1.0,)


def _multiscale(x: Tensor, y: Tensor, data_range: float, win_size: int, weights: Sequence[float]) -> Tensor:
    """MS-SSIM per image and channel averaged, mirroring ``pytorch_msssim.ms_ssim``
    (``size_average=False``) without its fixed 5-scale size assertion."""
    win = _fspecial_gauss_1d(win_size, WIN_SIGMA).repeat([x.shape[1], 1, 1, 1])
    w = x.new_tensor(list(weights))
    levels = len(weights)
    mcs = []
    ssim_pc = None
    for i in range(levels):
        ssim_pc, cs = _ssim(x, y, win=win, data_range=data_range, size_average=False, K=_K)
        if i < levels - 1:
            mcs.append(torch.relu(cs))
            padding = [s % 2 for s in x.shape[2:]]
            x = F.avg_pool2d(x, kernel_size=2, padding=padding)
            y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    assert ssim_pc is not None
    stacked = torch.stack(mcs + [torch.relu(ssim_pc)], dim=0)  # [level, N, C]
    return torch.prod(stacked ** w.view(-1, 1, 1), dim=0).mean(dim=1)


def ms_ssim(
    a: Tensor,
    b: Tensor,
    data_range: float = 1.0,
    *,
    win_size: int | None = None,
    weights: Sequence[float] | None = None,
) -> Tensor:
    """Per-image MS-SSIM of ``a`` against ``b`` (``[N, C, H, W]``, C = 1 or 3), a float64 ``[N]``.

    ``data_range`` is the width of the value range (1 for ``[0, 1]`` images). ``win_size`` and
    ``weights`` default to :func:`ms_ssim_settings` ``(H, W)``; explicit values must satisfy
    ``min(H, W) > (win_size - 1) * 2**(len(weights) - 1)`` and ``win_size`` must be odd.
    Computed in float64; channel values are averaged per image (``size_average=False``).
    """
    _check_pair(a, b)
    height, width = a.shape[-2:]
    auto_win, auto_weights = ms_ssim_settings(height, width)
    win_size = auto_win if win_size is None else int(win_size)
    weights = auto_weights if weights is None else tuple(float(v) for v in weights)
    if win_size < 1 or win_size % 2 != 1:
        raise ValueError(f"win_size must be a positive odd integer, got {win_size}")
    if len(weights) < 1:
        raise ValueError("weights must not be empty")
    if not ms_ssim_fits(height, width, win_size, len(weights)):
        raise ValueError(
            f"{height}x{width} images do not fit MS-SSIM with win_size={win_size} and "
            f"{len(weights)} scales: need min(H, W) > {(win_size - 1) * 2 ** (len(weights) - 1)}"
        )
    x = a.detach().to(torch.float64)
    y = b.detach().to(torch.float64)
    if tuple(weights) == STANDARD_MS_SSIM_WEIGHTS and win_size == STANDARD_WIN_SIZE:
        # the package's own function applies unchanged (its size assertion holds here)
        return pytorch_msssim.ms_ssim(x, y, data_range=data_range, size_average=False)
    return _multiscale(x, y, float(data_range), win_size, weights)
