"""Build networks, diffusion processes and timestep samplers from a model's parameter section.

A model section (a :class:`~diffrepro.sections.ModelConfig`, or a section as written, which is built into one)
picks the network by its ``kind``: ``ddgm`` (the schema's default) is one U-Net for every step;
``daed`` is a joint DAED (Deja et al. 2022, Sec. 4), two U-Nets with the same ``unet`` settings,
independently initialised, behind one ``model(x, t)`` (:class:`~diffrepro.models.joint_daed.JointDAED`).
"""

from __future__ import annotations

from .diffusion.gaussian_diffusion import GaussianDiffusion
from .diffusion.resample import TimestepSampler, build_timestep_sampler
from .diffusion.schedules import get_beta_schedule
from .models.joint_daed import JointDAED
from .models.unet import UNet
from .sections import ModelConfig, ModelSection, as_model

#: Values of a model section's ``kind``.
MODEL_KINDS: tuple[str, ...] = ("ddgm", "daed")


def build_betas(model_cfg: ModelSection):
    m = as_model(model_cfg)
    return get_beta_schedule(m.schedule.name, m.timesteps, **m.schedule.options)


def build_diffusion(model_cfg: ModelSection) -> GaussianDiffusion:
    return GaussianDiffusion(build_betas(model_cfg))


def build_timestep_sampler_for(model_cfg: ModelSection) -> TimestepSampler:
    m = as_model(model_cfg)
    return build_timestep_sampler(m.timestep_sampler.name, m.timesteps, **m.timestep_sampler.options)


def output_channels(model_cfg: ModelSection, channels: int) -> int:
    """A learned-variance model predicts eps and the interpolation v: twice the image channels."""
    return 2 * channels if as_model(model_cfg).variance == "learned_range" else channels


def model_kind(model_cfg: ModelSection) -> str:
    """The model's ``kind``, validated."""
    kind = as_model(model_cfg).kind
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; expected one of {', '.join(MODEL_KINDS)}")
    return kind


def build_unet(model_cfg: ModelSection, *, image_size: int, channels: int) -> UNet | JointDAED:
    """The model's network: a :class:`UNet` for ``kind: ddgm``, a :class:`JointDAED` for ``kind: daed``.

    A joint DAED's two U-Nets are both built from the model's ``unet`` settings exactly like a DDGM's, the
    generator first and then the DAE, each drawing its initial weights from the global RNG (so they
    differ, and seeding the global RNG first makes both reproducible).
    """
    m = as_model(model_cfg)
    if model_kind(m) == "daed":
        generator = _build_single_unet(m, image_size=image_size, channels=channels)
        dae = _build_single_unet(m, image_size=image_size, channels=channels)
        return JointDAED(generator, dae)
    return _build_single_unet(m, image_size=image_size, channels=channels)


def _build_single_unet(m: ModelConfig, *, image_size: int, channels: int) -> UNet:
    u = m.unet
    return UNet(
        image_size=image_size,
        in_channels=channels,
        out_channels=output_channels(m, channels),
        base_channels=u.base_channels,
        channel_mult=tuple(u.channel_mult),
        num_res_blocks=u.num_res_blocks,
        attention_resolutions=tuple(u.attention_resolutions),
        num_heads=u.num_heads,
        dropout=u.dropout,
        block=u.block,
        time_conditioning=u.time_conditioning,
    )
