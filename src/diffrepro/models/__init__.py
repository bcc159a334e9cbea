"""Neural networks used by the pipeline."""

from .unet import UNet, count_parameters

__all__ = ["UNet", "count_parameters"]
