"""Diffusion processes: beta schedules and the DDPM Gaussian diffusion."""

from .gaussian_diffusion import VARIANCE_TYPES, GaussianDiffusion
from .schedules import SCHEDULES, alphas_cumprod, get_beta_schedule, register_schedule

__all__ = [
    "GaussianDiffusion",
    "VARIANCE_TYPES",
    "SCHEDULES",
    "alphas_cumprod",
    "get_beta_schedule",
    "register_schedule",
]
