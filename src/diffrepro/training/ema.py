"""Exponential moving average of model weights (DDPM, Ho et al. 2020, Appendix B: decay 0.9999).

``shadow <- decay * shadow + (1 - decay) * theta`` after every optimiser step. The shadow
is a float32 copy of every floating-point entry of ``model.state_dict()`` (parameters *and*
buffers); non-floating buffers (e.g. integer counters) are copied verbatim.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor, nn

__all__ = ["EMA"]


class EMA:
    """Float32 EMA shadow of a module's state dict, keyed like ``model.state_dict()``."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 <= float(decay) <= 1.0:
            raise ValueError(f"decay must be in [0, 1], got {decay!r}")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow: dict[str, Tensor] = {}
        with torch.no_grad():
            for k, v in model.state_dict().items():
                v = v.detach()
                self.shadow[k] = v.to(torch.float32).clone() if v.is_floating_point() else v.clone()

    def _pairs(self, model: nn.Module) -> tuple[list[Tensor], list[Tensor], list[tuple[Tensor, Tensor]]]:
        sd = model.state_dict()
        if sd.keys() != self.shadow.keys():
            missing = sorted(set(self.shadow) - set(sd))[:5]
            extra = sorted(set(sd) - set(self.shadow))[:5]
            raise KeyError(f"model state_dict keys differ from EMA keys (missing {missing}, extra {extra})")
        shadows, sources, others = [], [], []
        for k, s in self.shadow.items():
            v = sd[k].detach()
            if s.is_floating_point():
                shadows.append(s)
                sources.append(v.to(device=s.device, dtype=torch.float32))
            else:
                others.append((s, v))
        return shadows, sources, others

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """``shadow = decay * shadow + (1 - decay) * current`` for every floating entry."""
        shadows, sources, others = self._pairs(model)
        if shadows:
            weight = 1.0 - self.decay
            try:
                torch._foreach_lerp_(shadows, sources, weight)
            except (AttributeError, RuntimeError):  # pragma: no cover - fallback path
                for s, v in zip(shadows, sources):
                    s.lerp_(v, weight)
        for s, v in others:
            s.copy_(v)
        self.num_updates += 1

    def state_dict(self) -> dict[str, Tensor]:
        """Copy of the shadow, keyed like ``model.state_dict()``."""
        return {k: v.detach().clone() for k, v in self.shadow.items()}

    @torch.no_grad()
    def load_state_dict(self, state_dict: Mapping[str, Tensor]) -> None:
        """Load a shadow previously produced by :meth:`state_dict` (keys must match)."""
        if set(state_dict) != set(self.shadow):
            missing = sorted(set(self.shadow) - set(state_dict))[:5]
            extra = sorted(set(state_dict) - set(self.shadow))[:5]
            raise KeyError(f"EMA state_dict keys differ (missing {missing}, extra {extra})")
        for k, s in self.shadow.items():
            v = state_dict[k]
            if tuple(v.shape) != tuple(s.shape):
                raise ValueError(f"shape mismatch for {k!r}: {tuple(v.shape)} vs {tuple(s.shape)}")
            s.copy_(v)

    @torch.no_grad()
    def copy_to(self, model: nn.Module) -> None:
        """Write the shadow into ``model``'s parameters and buffers (cast to their dtype)."""
        sd = model.state_dict(keep_vars=True)
        if sd.keys() != self.shadow.keys():
            raise KeyError("model state_dict keys differ from EMA keys")
        for k, s in self.shadow.items():
            sd[k].data.copy_(s)

    def to(self, device: torch.device | str) -> EMA:
        """Move the shadow to ``device``; returns ``self``."""
        self.shadow = {k: v.to(device) for k, v in self.shadow.items()}
        return self
