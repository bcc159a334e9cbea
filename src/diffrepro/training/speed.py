"""Speed switches: how a network runs, never what it computes (the params file's optional ``speed`` section).

``speed: {channels_last: false, fused_adamw: false, compile: false, attention: sdpa}`` (absent keys,
or an absent section, take these defaults):

* ``channels_last``: the network's 4-D weights and its image inputs in ``torch.channels_last``
  (NHWC) memory format, which cuDNN and oneDNN convolutions prefer (tensor cores on CUDA);
* ``fused_adamw``: the single-kernel ``fused=True`` implementation of the Adam/AdamW optimisers
  (CUDA, and CPU since PyTorch 2.4; :func:`check_fused` raises a clear error where it is missing);
* ``compile``: :meth:`torch.nn.Module.compile` (``torch.compile`` in place, so state-dict keys do
  not change) of every U-Net (DDGM, joint DAED, post-hoc DAE, DDDM). The SNGAN stays eager: its
  spectral-norm power iteration updates buffers in place, which compiled autograd rejects when the
  discriminator runs twice before one backward (measured: "a variable needed for gradient computation
  has been modified by an inplace operation");
* ``attention``: ``sdpa`` (:func:`torch.nn.functional.scaled_dot_product_attention`) or ``math``
  (the explicit ``softmax(Q K^T / sqrt(d)) V``, :func:`diffrepro.models.layers.math_attention`).

Each switch leaves the arithmetic the same up to float rounding (tests/test_bench.py checks the
losses and outputs against the plain path), so none of them enters a training fingerprint: toggling
one resumes the existing checkpoints, and neither DAG tracks the section (a toggle reruns nothing).
Arithmetic precision, which does change results, is a model's own ``train.precision`` /
``sample.precision`` (:mod:`diffrepro.models.precision`).

The training loops call three functions: :func:`prepare_model` right after building the network
(attention, channels-last weights, compilation, all in place), :func:`make_adam` for the optimiser
and :func:`speed_network` for the callable the loss runs (channels-last inputs); sampling steps call
:func:`speed_network` alone (it applies :func:`prepare_model` too). The GAN loop needs no input
conversion: a convolution with channels-last weights returns channels-last outputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import Tensor, nn

from ..errors import DiffreproError
from ..models.layers import ATTENTION_IMPLS, set_attention
from ..models.unet import UNet
from ..schema import property_defaults

__all__ = [
    "SPEED_DEFAULTS",
    "SpeedError",
    "speed_settings",
    "check_fused",
    "prepare_model",
    "speed_network",
    "make_adam",
    "to_channels_last",
]

#: The switches and their defaults (the plain PyTorch path).
#: every switch at its default: the ``default`` keywords of the schema's ``speed`` section (their one place)
SPEED_DEFAULTS: dict[str, Any] = property_defaults("speed")


class SpeedError(DiffreproError, ValueError):
    """A speed switch is unknown, malformed or unsupported on this machine."""


def speed_settings(speed: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Every switch, from a ``speed`` section (``None``: all defaults); also accepts a whole params dict."""
    if speed is None:
        return dict(SPEED_DEFAULTS)
    if "speed" in speed or "models" in speed:  # a whole parameter file
        speed = speed.get("speed") or {}
    unknown = sorted(set(speed) - set(SPEED_DEFAULTS))
    if unknown:
        raise SpeedError(f"unknown speed switch(es) {', '.join(unknown)}; known: {', '.join(SPEED_DEFAULTS)}")
    out = {**SPEED_DEFAULTS, **speed}
    for key in ("channels_last", "fused_adamw", "compile"):
        if not isinstance(out[key], bool):
            raise SpeedError(f"speed.{key} must be true or false, got {out[key]!r}")
    if out["attention"] not in ATTENTION_IMPLS:
        raise SpeedError(f"speed.attention must be one of {', '.join(ATTENTION_IMPLS)}, got {out['attention']!r}")
    return out


def check_fused(device: torch.device | str) -> None:
    """Raise :class:`SpeedError` unless this PyTorch has a fused Adam/AdamW for ``device``'s type."""
    kind = torch.device(device).type
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

        supported = _get_fused_kernels_supported_devices()
    except ImportError:  # pragma: no cover - older or newer private API: try a real step instead
        supported = None
    if supported is not None:
        if kind not in supported:
            raise SpeedError(
                f"speed.fused_adamw: PyTorch {torch.__version__} has no fused AdamW for {kind!r} "
                f"(it has one for {', '.join(supported)}); set speed.fused_adamw: false"
            )
        return
    p = nn.Parameter(torch.zeros(1, device=device))
    p.grad = torch.ones_like(p)
    try:
        torch.optim.AdamW([p], fused=True).step()
    except (RuntimeError, ValueError) as exc:  # pragma: no cover - depends on the PyTorch build
        raise SpeedError(
            f"speed.fused_adamw: PyTorch {torch.__version__} cannot run a fused AdamW on {kind!r} "
            f"({exc}); set speed.fused_adamw: false"
        ) from exc


def to_channels_last(x: Tensor) -> Tensor:
    """A 4-D tensor in channels-last memory format (others unchanged)."""
    return x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x


def prepare_model(model: nn.Module, speed: Mapping[str, Any] | None = None) -> nn.Module:
    """Apply the in-place switches to ``model``; returns it (idempotent).

    The attention implementation; with ``channels_last`` the weights' memory format; with ``compile``
    :meth:`nn.Module.compile` of every U-Net inside (a joint DAED's two, whose routing by ``t`` stays
    eager), in place, so state-dict keys do not change; other networks (the SNGAN) stay eager. Call it
    before the optimiser and the EMA are built, so their state takes the weights' memory format.
    """
    s = speed_settings(speed)
    set_attention(model, s["attention"])
    if s["channels_last"]:
        model.to(memory_format=torch.channels_last)
    if s["compile"]:
        for m in model.modules():
            if isinstance(m, UNet) and getattr(m, "_compiled_call_impl", None) is None:
                m.compile()
    return model


def speed_network(model: nn.Module, speed: Mapping[str, Any] | None = None) -> Callable[..., Tensor]:
    """The callable to run ``model`` with, after :func:`prepare_model`: ``model`` itself, or with
    ``channels_last`` a function converting its 4-D input to channels-last first."""
    s = speed_settings(speed)
    prepare_model(model, s)
    if not s["channels_last"]:
        return model

    def channels_last_model(x: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        return model(to_channels_last(x), *args, **kwargs)

    return channels_last_model


def make_adam(
    params: Iterable[nn.Parameter],
    speed: Mapping[str, Any] | None = None,
    *,
    decoupled: bool = True,
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> torch.optim.Optimizer:
    """``torch.optim.AdamW`` (``decoupled=True``) or ``torch.optim.Adam`` with ``kwargs``, fused when
    ``speed.fused_adamw`` is on (checked against ``device``, default: the parameters' device)."""
    params = list(params)
    s = speed_settings(speed)
    cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    if not s["fused_adamw"]:
        return cls(params, **kwargs)
    first = params[0]["params"][0] if params and isinstance(params[0], dict) else (params[0] if params else None)
    check_fused(device if device is not None else (first.device if first is not None else "cpu"))
    return cls(params, fused=True, **kwargs)
