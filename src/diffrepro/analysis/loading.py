"""Loading the trained networks the DAED analyses compare, with the checks that make the
comparison valid (same image format, the DAE of the configured noise level).

* :func:`load_ddgm`: a DDGM's EMA weights (``train-ddgm``) for model ``name`` of the params,
  via :func:`diffrepro.artifacts.ddgm.build_model` (which rejects weights trained with another
  model section).
* :func:`load_posthoc_dae`: a post-hoc DAE (``train-dae``): the generator's U-Net with the
  generator's metadata (``config``, ``image_size``, ``channels``) plus ``split_step`` (0-based),
  ``split`` (label), ``beta_1`` and ``generator`` (the DDGM's model name). It is loaded with the
  generator's model section, and its ``beta_1`` and ``split_step`` must agree with the
  requested ``beta_1`` and with ``split_step(alpha_bar of the generator's schedule, beta_1)``
  (:func:`diffrepro.posthoc.ddgm_split_step`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .. import tensorfile
from ..artifacts.ddgm import build_model
from ..config import model_config
from ..diffusion.gaussian_diffusion import GaussianDiffusion
from ..errors import DiffreproError
from ..factory import build_diffusion
from ..posthoc import ddgm_split_step
from ..sections import ModelConfig

__all__ = ["AnalysisInputError", "LoadedModel", "load_ddgm", "load_posthoc_dae", "read_metadata"]

DAE_METADATA_KEYS = ("config", "image_size", "channels", "split_step", "split", "beta_1", "generator")


class AnalysisInputError(DiffreproError, ValueError):
    """A weights file does not fit the analysis (wrong model, noise level or image format)."""


@dataclass
class LoadedModel:
    """A network ready for :class:`~diffrepro.analysis.transferability.Denoiser`: ``model`` in eval
    mode on its device, its model section ``mcfg`` (the generator's for a DAE), its
    ``diffusion``, image format, and (DAE) ``split_step``; ``name`` is the model name (DAE: the
    generator's)."""

    name: str
    model: torch.nn.Module
    mcfg: ModelConfig
    diffusion: GaussianDiffusion
    image_size: int
    channels: int
    meta: dict[str, str]
    split_step: int | None = None


def read_metadata(path: str) -> dict[str, str]:
    try:
        return tensorfile.read_metadata(path)
    except FileNotFoundError:
        raise AnalysisInputError(f"weights file {path} does not exist") from None
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None


def _build(path: str, mcfg: ModelConfig, device: str):
    try:
        return build_model(path, mcfg, device)
    except ValueError as exc:
        raise AnalysisInputError(str(exc)) from None


def load_ddgm(path: str, config: dict[str, Any], name: str, device: str) -> LoadedModel:
    """EMA weights of DDGM ``name`` (a key of ``config["models"]``)."""
    read_metadata(path)  # clear error for a missing or broken file
    mcfg = model_config(config, name)
    model, image_size, channels, meta = _build(path, mcfg, device)
    if meta.get("model") not in (None, name):
        raise AnalysisInputError(f"{path} holds the weights of model {meta['model']!r}, not {name!r}")
    return LoadedModel(name, model, mcfg, build_diffusion(mcfg), image_size, channels, meta)


def load_posthoc_dae(path: str, config: dict[str, Any], device: str, *, beta_1: float) -> LoadedModel:
    """The post-hoc DAE of noise level ``beta_1`` (module docstring for the checks)."""
    meta = read_metadata(path)
    missing = [k for k in DAE_METADATA_KEYS if k not in meta]
    if missing:
        raise AnalysisInputError(f"{path}: metadata {missing} missing; not a post-hoc DAE written by train-dae")
    gen = meta["generator"]
    if gen not in config["models"]:
        raise AnalysisInputError(
            f"{path}: its generator {gen!r} is not a model of the params ({', '.join(sorted(config['models']))})"
        )
    try:
        dae_beta = float(meta["beta_1"])
        s = int(meta["split_step"])
    except ValueError:
        raise AnalysisInputError(
            f"{path}: beta_1={meta['beta_1']!r}, split_step={meta['split_step']!r}; "
            f"a numeric noise level and a 0-based step are needed here"
        ) from None
    if abs(dae_beta - float(beta_1)) > 1e-12:
        raise AnalysisInputError(f"{path} is the DAE of beta_1={dae_beta:g}, but the analysis asks for {beta_1:g}")
    mcfg = model_config(config, gen)
    expected = ddgm_split_step(mcfg, beta_1)
    if s != expected:
        raise AnalysisInputError(
            f"{path}: split_step {s}, but beta_1={beta_1:g} on {gen}'s schedule gives {expected}; retrain the DAE"
        )
    model, image_size, channels, meta = _build(path, mcfg, device)
    return LoadedModel(gen, model, mcfg, build_diffusion(mcfg), image_size, channels, meta, split_step=s)
