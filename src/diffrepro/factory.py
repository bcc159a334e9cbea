"""Build networks, diffusion processes and timestep samplers from a model's (normalised) parameter section."""

from __future__ import annotations

from typing import Any

from .diffusion.gaussian_diffusion import GaussianDiffusion
from .diffusion.resample import TimestepSampler, build_timestep_sampler
from .diffusion.schedules import get_beta_schedule
from .models.unet import UNet


def _options(spec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in spec.items() if k != "name"}


def build_betas(model_cfg: dict[str, Any]):
    sched = model_cfg["schedule"]
    return get_beta_schedule(sched["name"], model_cfg["timesteps"], **_options(sched))


def build_diffusion(model_cfg: dict[str, Any]) -> GaussianDiffusion:
    return GaussianDiffusion(build_betas(model_cfg))


def build_timestep_sampler_for(model_cfg: dict[str, Any]) -> TimestepSampler:
    spec = model_cfg["timestep_sampler"]
    return build_timestep_sampler(spec["name"], model_cfg["timesteps"], **_options(spec))


def output_channels(model_cfg: dict[str, Any], channels: int) -> int:
    """A learned-variance model predicts eps and the interpolation v: twice the image channels."""
    return 2 * channels if model_cfg["variance"] == "learned_range" else channels


def build_unet(model_cfg: dict[str, Any], *, image_size: int, channels: int) -> UNet:
    u = model_cfg["unet"]
    return UNet(
        image_size=image_size,
        in_channels=channels,
        out_channels=output_channels(model_cfg, channels),
        base_channels=u["base_channels"],
        channel_mult=tuple(u["channel_mult"]),
        num_res_blocks=u["num_res_blocks"],
        attention_resolutions=tuple(u["attention_resolutions"]),
        num_heads=u["num_heads"],
        dropout=u["dropout"],
        block=u.get("block", "resnet"),
        time_conditioning=u.get("time_conditioning", "scale_shift"),
    )
