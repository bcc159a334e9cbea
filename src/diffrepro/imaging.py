"""Generated images as the pipeline stores them: network outputs in [-1, 1] quantised to uint8 exactly like the
real images' inverse mapping, real uint8 images brought into the networks' range, and samples of a model trained
below the data resolution brought up to it."""

from __future__ import annotations

import torch

from .data.processed import resize_images

__all__ = ["to_data_resolution", "to_model_range", "to_uint8"]


def to_model_range(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 [0, 255] -> float32 [-1, 1] (the networks' range)."""
    return images_u8.to(torch.float32).div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> uint8, quantised exactly like the real images' inverse mapping."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def to_data_resolution(samples: torch.Tensor, meta: dict[str, str]) -> torch.Tensor:
    """Samples of a model trained at a lower ``resolution`` (DDPM-16) upsampled bilinearly to the data
    resolution recorded in its weights (``data_image_size``); other samples unchanged."""
    target = int(meta.get("data_image_size", samples.shape[-1]))
    if target == samples.shape[-1]:
        return samples
    return torch.from_numpy(resize_images(samples.numpy(), target))
