"""Figures: sample grids (PNG), written atomically."""

from __future__ import annotations

import math

import torch
from PIL import Image

from ..atomic import atomic_path


def image_grid(images_u8: torch.Tensor, nrow: int, padding: int = 1, pad_value: int = 255) -> torch.Tensor:
    """Tile uint8 images [N, C, H, W] into one [C, H', W'] grid of ``nrow`` columns, ``padding`` pixels
    of ``pad_value`` around every tile (the layout of torchvision's make_grid)."""
    n, c, h, w = images_u8.shape
    ncol = nrow
    nrows = int(math.ceil(n / ncol))
    hp, wp = h + padding, w + padding
    grid = torch.full((c, nrows * hp + padding, ncol * wp + padding), pad_value, dtype=images_u8.dtype)
    for k in range(n):
        r, q = divmod(k, ncol)
        grid[:, r * hp + padding : r * hp + padding + h, q * wp + padding : q * wp + padding + w] = images_u8[k]
    return grid


def save_sample_grid(
    images_u8: torch.Tensor, path: str, *, max_images: int = 100, scale: int = 4, nrow: int | None = None
) -> None:
    """Save up to ``max_images`` uint8 images [N, C, H, W] as a grid of ``nrow`` per row (default: square),
    upscaled ``scale`` x (nearest)."""
    if images_u8.dtype != torch.uint8 or images_u8.ndim != 4:
        raise ValueError(f"expected uint8 [N, C, H, W] images, got {images_u8.dtype} {tuple(images_u8.shape)}")
    imgs = images_u8[:max_images]
    nrow = nrow or max(1, int(math.ceil(math.sqrt(imgs.shape[0]))))
    grid = image_grid(imgs, nrow=nrow, padding=1, pad_value=255)  # uint8 [C, H, W]
    array = grid.permute(1, 2, 0).numpy()
    mode = "RGB"
    if imgs.shape[1] == 1:
        array, mode = array[..., 0], "L"
    img = Image.fromarray(array, mode=mode)
    img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    with atomic_path(path, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
