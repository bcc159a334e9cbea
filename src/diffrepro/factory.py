"""Build networks, diffusion processes and timestep samplers from a model's (normalised) parameter section.

A model section's ``kind`` picks the network: ``ddgm`` (the default) is one U-Net for every step;
``daed`` is a joint DAED (Deja et al. 2022, Sec. 4), two U-Nets with the same ``unet`` settings,
independently initialised, behind one ``model(x, t)`` (:class:`~diffrepro.models.joint_daed.JointDAED`).
"""

from __future__ import annotations

from typing import Any

from .diffusion.gaussian_diffusion import GaussianDiffusion
from .diffusion.resample import TimestepSampler, build_timestep_sampler
from .diffusion.schedules import get_beta_schedule
from .models.joint_daed import JointDAED
from .models.unet import UNet

#: Values of a model section's ``kind``.
MODEL_KINDS: tuple[str, ...] = ("ddgm", "daed")


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


def model_kind(model_cfg: dict[str, Any]) -> str:
    """``model_cfg["kind"]`` (``"ddgm"`` when absent), validated."""
    kind = model_cfg.get("kind", "ddgm")
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}")
    return kind


def build_unet(model_cfg: dict[str, Any], *, image_size: int, channels: int) -> UNet | JointDAED:
    """The model's network: a :class:`UNet` for ``kind: ddgm``, a :class:`JointDAED` for ``kind: daed``.

    A joint DAED's two U-Nets are both built from ``model_cfg["unet"]`` exactly like a DDGM's, the
    generator first and then the DAE, each drawing its initial weights from the global RNG (so they
    differ, and seeding the global RNG first makes both reproducible).
    """
    if model_kind(model_cfg) == "daed":
        generator = _build_single_unet(model_cfg, image_size=image_size, channels=channels)
        dae = _build_single_unet(model_cfg, image_size=image_size, channels=channels)
        return JointDAED(generator, dae)
    return _build_single_unet(model_cfg, image_size=image_size, channels=channels)


def _build_single_unet(model_cfg: dict[str, Any], *, image_size: int, channels: int) -> UNet:
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
