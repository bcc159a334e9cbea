"""Labelled image panels (rows of images with row and column titles) as PNG and SVG, written atomically.

Used by the DAED analyses (Table 2's example grid, Fig. 6b's toy examples): each row is one
image's clean / noisy / reconstructed versions. Images are shown as they would be stored:
``[-1, 1]`` values clamped and quantised to uint8 like the data (:func:`to_display`), grey
images in grey, nearest-neighbour upscaling (no smoothing of small images).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from .figure_io import save_figure

__all__ = ["to_display", "save_image_panel"]


def to_display(x: Tensor) -> np.ndarray:
    """``[C, H, W]`` in ``[-1, 1]`` -> uint8 ``[H, W]`` (C = 1) or ``[H, W, 3]``."""
    if x.ndim != 3 or x.shape[0] not in (1, 3):
        raise ValueError(f"expected a [C, H, W] image with C in (1, 3), got {tuple(x.shape)}")
    u8 = ((x.detach().to(torch.float32).cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    arr = u8.permute(1, 2, 0).numpy()
    return arr[..., 0] if arr.shape[2] == 1 else arr


def save_image_panel(
    rows: Sequence[Sequence[Tensor]],
    path: str,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str | None = None,
    cell_inches: float = 1.3,
    svg_path: str | None = None,
) -> None:
    """A grid of ``len(rows) x len(col_labels)`` images (each ``[C, H, W]`` in ``[-1, 1]``), as PNG at ``path``
    and as SVG at ``svg_path`` (default: beside the PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nrows, ncols = len(rows), len(col_labels)
    if nrows < 1 or ncols < 1 or len(row_labels) != nrows or any(len(r) != ncols for r in rows):
        raise ValueError(f"need {len(row_labels)} rows of {ncols} images, got {[len(r) for r in rows]}")
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(cell_inches * ncols + 0.9, cell_inches * nrows + 0.5), squeeze=False
    )
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            ax = axes[i][j]
            arr = to_display(img)
            ax.imshow(arr, cmap="gray" if arr.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(col_labels[j], fontsize=8)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, svg_path)
    plt.close(fig)
