"""Build networks and diffusion processes from a model's parameter section."""

from __future__ import annotations

from typing import Any

from .diffusion.gaussian_diffusion import GaussianDiffusion
from .diffusion.schedules import get_beta_schedule
from .models.unet import UNet


def build_diffusion(model_cfg: dict[str, Any]) -> GaussianDiffusion:
    return GaussianDiffusion(get_beta_schedule(model_cfg["schedule"], model_cfg["timesteps"]))


def build_unet(model_cfg: dict[str, Any], *, image_size: int, channels: int) -> UNet:
    u = model_cfg["unet"]
    return UNet(
        image_size=image_size,
        in_channels=channels,
        out_channels=channels,
        base_channels=u["base_channels"],
        channel_mult=tuple(u["channel_mult"]),
        num_res_blocks=u["num_res_blocks"],
        attention_resolutions=tuple(u["attention_resolutions"]),
        num_heads=u["num_heads"],
        dropout=u["dropout"],
    )
