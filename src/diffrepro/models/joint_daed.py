"""The joint DAED network (Deja et al. 2022, Sec. 4; Table 1): two U-Nets behind one ``model(x, t)``.

A joint DAED is a DDGM whose first reverse step has its own parameterisation: a denoising
auto-encoder (DAE) models ``p(x_0 | x_1)`` (0-based index ``t == 0``, the schedule's first step,
whose noise level is the DAE's ``beta_1`` for the ``linear_combine`` schedule) and a separate U-Net,
the generator, models every other step. The paper: "two different parameterizations, namely, an
auto-encoder (e.g., a U-Net architecture) for [the first step] and a separate, shared U-Net for
modeling the DDGM from [x_1] to [x_T]", i.e. two objectives with disjoint parameters.

:class:`JointDAED` keeps the interface of :class:`~diffrepro.models.unet.UNet` - ``forward(x [B, C,
H, W], t [B]) -> [B, out_channels, H, W]`` with the eps parameterisation (``2C`` output channels for a
learned variance) - so every diffusion routine (training losses, ancestral / respaced / DDIM sampling,
the exact bound of :func:`~diffrepro.diffusion.losses.calc_bpd_loop`) runs a joint DAED unchanged:
each example is routed by its own ``t``, the rows with ``t == 0`` through :attr:`JointDAED.dae` and
the others through :attr:`JointDAED.generator`. Each network sees only its own rows (a network whose
subset is empty is not called at all), and the outputs are put back in the original batch order. The
networks hold no batch statistics (GroupNorm), so a row's output does not depend on which other rows
share its network's call.

The state dict has the keys ``generator.*`` and ``dae.*`` (each a complete U-Net state dict under its
prefix); loading the weights of a single U-Net (a ``kind: ddgm`` model) raises a :class:`ValueError`
that says so (:meth:`JointDAED.load_state_dict`). Both networks are built with the same settings and
initialised independently (the generator first, then the DAE, from the global RNG), see
:func:`diffrepro.factory.build_unet`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .unet import UNet

__all__ = ["JointDAED", "DAE_TIMESTEP"]

#: The (0-based) timestep handled by the DAE: the schedule's first step, ``p(x_0 | x_1)``.
DAE_TIMESTEP = 0

_PREFIXES = ("generator.", "dae.")


class JointDAED(nn.Module):
    """Generator U-Net for ``t > 0`` and DAE U-Net for ``t == 0``, one ``forward(x, t)``.

    Args:
        generator: the U-Net of the steps ``t = 1 .. T-1`` (0-based).
        dae: the U-Net of the first step ``t = 0``; same input and output channels as ``generator``.
    """

    def __init__(self, generator: UNet, dae: UNet) -> None:
        super().__init__()
        for name, net in (("generator", generator), ("dae", dae)):
            if not isinstance(net, nn.Module):
                raise TypeError(f"{name} must be an nn.Module, got {type(net).__name__}")
        g_io = (getattr(generator, "in_channels", None), getattr(generator, "out_channels", None))
        d_io = (getattr(dae, "in_channels", None), getattr(dae, "out_channels", None))
        if g_io != d_io:
            raise ValueError(f"generator and DAE must have the same (in, out) channels, got {g_io} and {d_io}")
        self.generator = generator
        self.dae = dae
        self.in_channels, self.out_channels = g_io
        self.image_size = getattr(generator, "image_size", None)

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        """``[B, out_channels, H, W]``: row ``i`` is ``dae(x_i, 0)`` if ``t_i == 0`` else ``generator(x_i, t_i)``."""
        if t.ndim == 0:
            t = t.expand(x.shape[0])
        if t.ndim != 1 or t.shape[0] != x.shape[0]:
            raise ValueError(f"t must have shape [{x.shape[0]}], got {tuple(t.shape)}")
        is_dae = t == DAE_TIMESTEP
        n_dae = int(is_dae.sum())
        if n_dae == 0:
            return self.generator(x, t)
        if n_dae == x.shape[0]:
            return self.dae(x, t)
        dae_idx = is_dae.nonzero(as_tuple=True)[0]
        gen_idx = (~is_dae).nonzero(as_tuple=True)[0]
        out_dae = self.dae(x[dae_idx], t[dae_idx])
        out_gen = self.generator(x[gen_idx], t[gen_idx])
        if out_dae.dtype != out_gen.dtype:  # e.g. one subset under a different autocast region
            out_dae = out_dae.to(out_gen.dtype)
        stacked = torch.cat([out_dae, out_gen], dim=0)  # rows in order dae_idx ++ gen_idx
        order = torch.cat([dae_idx, gen_idx])
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(order.numel(), device=order.device)
        return stacked[inverse]

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False):
        """:meth:`nn.Module.load_state_dict`, with a clear error for the weights of a single U-Net.

        A joint DAED's keys all start with ``generator.`` or ``dae.``; a state dict without any such key
        (the weights of a ``kind: ddgm`` model, or of one of the two networks alone) raises
        :class:`ValueError` instead of PyTorch's list of hundreds of missing and unexpected keys.
        """
        keys = list(state_dict.keys())
        if keys and not any(str(k).startswith(_PREFIXES) for k in keys):
            raise ValueError(
                "these weights are not those of a joint DAED (kind: daed): its state dict has keys "
                "'generator.*' and 'dae.*', but got keys like "
                f"{', '.join(repr(k) for k in keys[:3])}, the weights of a single U-Net (a kind: ddgm model?). "
                "Train the model with kind: daed (train-ddgm) or set the model's kind to match its weights"
            )
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
