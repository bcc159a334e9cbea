"""The split points of the post-hoc DAEs (Deja et al. Sec. 6.2): a label of ``daed.posthoc.split_points``
(``0.1`` or ``linear``) names the point, and the point gives the 0-based split step ``s`` on the generator's
schedule, the first step whose ``beta_1``-equivalent noise level the DAE removes in one pass (``linear``: the
plain schedule's first step, ``s = 0``). What a DAE's weights record about their split point is
:func:`split_metadata`."""

from __future__ import annotations

from typing import Any

from .config import ConfigError, posthoc_splits
from .diffusion.schedules import alphas_cumprod, log_snr, split_step
from .factory import build_betas
from .sections import ModelSection

__all__ = ["ddgm_split_step", "split_metadata", "split_of"]


def ddgm_split_step(mcfg: ModelSection, beta_1: float) -> int:
    """``split_step(alpha_bar, beta_1)`` on the model's own schedule."""
    return split_step(alphas_cumprod(build_betas(mcfg)), float(beta_1))


def split_of(config: dict[str, Any], label: str, mcfg: ModelSection) -> tuple[float | str, int]:
    """(split point, 0-based split step s on the generator's schedule) of a split label."""
    splits = posthoc_splits(config)
    if label not in splits:
        raise ConfigError(
            f"split point {label!r} is not one of daed.posthoc.split_points (labels: {', '.join(splits) or 'none'})"
        )
    point = splits[label]
    if point == "linear":
        return point, 0
    return point, ddgm_split_step(mcfg, float(point))


def split_metadata(label: str, point: float | str, s: int, generator: str, mcfg: ModelSection) -> dict[str, str]:
    """The split point's part of a post-hoc DAE's weights metadata (the generator's log-SNR and alpha_bar at s)."""
    ab = alphas_cumprod(build_betas(mcfg))
    return {
        "split": label,
        "beta_1": str(point),
        "split_step": str(s),
        "generator": generator,
        "log_snr": f"{float(log_snr(ab)[s]):.6f}",
        "alpha_bar": f"{float(ab[s]):.8f}",
    }
