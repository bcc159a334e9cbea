"""Network arithmetic precision for inference: fp32, or bf16 autocast around the network call only.

The diffusion arithmetic (means, variances, noise) stays in float32 whatever the network runs in:
:func:`with_precision` wraps a network so that it computes under ``torch.autocast(bfloat16)``
and hands back float32. On a CPU with AVX512-BF16 the default preset's U-Net runs about 1.8x
faster this way (measured: 0.244 s -> 0.135 s per call for a batch of 500 16x16 images on one
thread); on CUDA, bf16 autocast uses the tensor cores.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["PRECISIONS", "with_precision"]

PRECISIONS = ("fp32", "bf16")


def with_precision(
    model: Callable[[Tensor, Tensor], Tensor], precision: str, device: torch.device | str
) -> Callable[[Tensor, Tensor], Tensor]:
    """``model`` itself for ``"fp32"``; for ``"bf16"`` a function running it under bf16 autocast on
    ``device``'s type and returning float32 outputs."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return model
    device_type = torch.device(device).type

    def bf16_model(x: Tensor, t: Tensor, **kwargs: Tensor) -> Tensor:
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = model(x, t, **kwargs)
        return out.float()

    return bf16_model
