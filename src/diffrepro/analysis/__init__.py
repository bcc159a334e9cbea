"""Analyses of Deja et al. 2022, Sec. 3: SNR of the forward process and DDGM reconstruction error.

Pure functions (no I/O, no DAG wiring):

* :mod:`.image_quality`: per-image :func:`mae` and :func:`ms_ssim` (pytorch_msssim, with a
  documented rule for small images, :func:`ms_ssim_settings`);
* :mod:`.snr`: :func:`snr_curve`, the data-set averaged SNR / log-SNR, its discrete derivative
  and zero crossing (Fig. 1, 8);
* :mod:`.reconstruction`: :func:`reconstruction_error` from step ``t`` and
  :func:`first_fraction_steps` (Fig. 2, 3).
"""

from .image_quality import (
    STANDARD_MS_SSIM_WEIGHTS,
    mae,
    ms_ssim,
    ms_ssim_fits,
    ms_ssim_settings,
    to_unit_range,
)
from .reconstruction import first_fraction_steps, reconstruction_error
from .snr import first_nonpositive, signal_power, snr_curve

__all__ = [
    "STANDARD_MS_SSIM_WEIGHTS",
    "mae",
    "ms_ssim",
    "ms_ssim_fits",
    "ms_ssim_settings",
    "to_unit_range",
    "first_fraction_steps",
    "reconstruction_error",
    "first_nonpositive",
    "signal_power",
    "snr_curve",
]
