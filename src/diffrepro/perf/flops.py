"""Model FLOPs (counted by PyTorch) and the dense peak throughput of known GPUs.

:func:`count_flops` runs a function under :class:`torch.utils.flop_counter.FlopCounterMode`, which counts
``2 * M * N * K`` per matrix product and the equivalent for every convolution, forward and backward
(only those: normalisation, activations and the optimiser's elementwise updates are not counted, as in
the usual "model FLOPs" of MFU). PyTorch has no FLOP formula for the CPU kernel of
``scaled_dot_product_attention`` (it counts 0), so the attention blocks are counted on the explicit
``math`` path, which performs the same products.

:data:`PEAK_TFLOPS` holds NVIDIA's dense (no 2:4 sparsity) tensor-core peaks in TFLOP/s: bf16, tf32 and
plain fp32 (CUDA cores), from the product datasheets (the "with sparsity" figures halved);
:func:`peak_for` finds a device by the name ``torch.cuda.get_device_name`` reports.
"""

from __future__ import annotations

from collections.abc import Callable

from torch.utils.flop_counter import FlopCounterMode

__all__ = ["PEAK_TFLOPS", "count_flops", "peak_for", "H100_SXM"]

#: Dense peak TFLOP/s by product, from NVIDIA's datasheets (sparse figures / 2).
PEAK_TFLOPS: dict[str, dict[str, float]] = {
    "NVIDIA H100 SXM": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "NVIDIA H100 PCIe": {"bf16": 756.0, "tf32": 378.0, "fp32": 51.2},
    "NVIDIA H100 NVL": {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0},
    "NVIDIA H200 SXM": {"bf16": 989.4, "tf32": 494.7, "fp32": 66.9},
    "NVIDIA H200 NVL": {"bf16": 835.5, "tf32": 417.5, "fp32": 60.0},
    "NVIDIA A100": {"bf16": 312.0, "tf32": 156.0, "fp32": 19.5},
}
#: The reference GPU of the GPU-hours table.
H100_SXM = "NVIDIA H100 SXM"

# (substring of the lower-cased device name, product); the first match wins, so the specific names come first
_NAME_RULES: tuple[tuple[str, str], ...] = (
    ("h100 pcie", "NVIDIA H100 PCIe"),
    ("h100 nvl", "NVIDIA H100 NVL"),
    ("h200 nvl", "NVIDIA H200 NVL"),
    ("h200", "NVIDIA H200 SXM"),
    ("h100", "NVIDIA H100 SXM"),  # "NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 ..."
    ("a100", "NVIDIA A100"),
)


def peak_for(device_name: str | None) -> tuple[str, dict[str, float]] | None:
    """``(product, {"bf16", "tf32", "fp32": TFLOP/s})`` for a CUDA device name, or None when unknown."""
    if not device_name:
        return None
    low = device_name.lower()
    for pattern, product in _NAME_RULES:
        if pattern in low:
            return product, dict(PEAK_TFLOPS[product])
    return None


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs that ``fn()`` performs in matrix products and convolutions (forward and backward)."""
    mode = FlopCounterMode(display=False)
    with mode:
        fn()
    return int(mode.get_total_flops())
