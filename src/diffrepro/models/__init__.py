"""Neural networks used by the pipeline."""

from .architectures import (
    ARCHITECTURE_INFO,
    ARCHITECTURES,
    PAPER_COMPOSITE_MODELS,
    PAPER_PARAMETER_COUNTS,
    architecture,
    build_architecture,
    parameter_count,
    parameter_count_table,
    scaled_architecture,
)
from .layers import TIME_CONDITIONING
from .mbconv import MBConvBlock, SqueezeExcitation
from .unet import BLOCK_TYPES, UNet, count_parameters

__all__ = [
    "ARCHITECTURES",
    "ARCHITECTURE_INFO",
    "BLOCK_TYPES",
    "PAPER_COMPOSITE_MODELS",
    "PAPER_PARAMETER_COUNTS",
    "TIME_CONDITIONING",
    "MBConvBlock",
    "SqueezeExcitation",
    "UNet",
    "architecture",
    "build_architecture",
    "count_parameters",
    "parameter_count",
    "parameter_count_table",
    "scaled_architecture",
]
