"""Diffusion processes: beta schedules, timestep samplers and the DDPM Gaussian diffusion."""

from .gaussian_diffusion import VARIANCE_TYPES, GaussianDiffusion
from .resample import TIMESTEP_SAMPLERS, TimestepSampler, build_timestep_sampler
from .schedules import (
    SCHEDULES,
    alphas_cumprod,
    get_beta_schedule,
    log_snr,
    log_snr_zero_crossing,
    register_schedule,
    snr,
    split_step,
)

__all__ = [
    "GaussianDiffusion",
    "VARIANCE_TYPES",
    "SCHEDULES",
    "alphas_cumprod",
    "get_beta_schedule",
    "register_schedule",
    "snr",
    "log_snr",
    "log_snr_zero_crossing",
    "split_step",
    "TIMESTEP_SAMPLERS",
    "TimestepSampler",
    "build_timestep_sampler",
]
