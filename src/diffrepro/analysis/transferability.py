"""Denoising a noised image: a DDGM's reverse process from ``s`` against a DAE in one pass
(Deja et al. 2022, Sec. 6.3, Table 2 and Fig. 6).

Protocol (:func:`compare_denoisers`), for images ``x0`` in ``[-1, 1]`` and ONE noise draw
``eps`` per image shared by every denoiser:

* each denoiser ``d`` sees ``x_s = sqrt(ab_s) x0 + sqrt(1 - ab_s) eps``
  (:func:`~diffrepro.diffusion.daed.dae_input`) with its own schedule ``ab`` and split step
  ``s_d``; for a DAE of noise level ``beta_1`` the step of a DDGM is ``split_step(ab, beta_1)``
  on that DDGM's schedule, so all denoisers remove the same amount of noise, and with equal
  schedules they see the very same ``x_s``;
* a **DDGM** (``kind="ddgm"``) runs its ancestral reverse process from ``s`` down to ``0``
  (:func:`reverse_from`: ``s + 1`` network calls per batch, ``p_sample`` with the model's
  variance, the step noise from the denoiser's own generator), the result clamped to ``[-1, 1]``;
* a **DAE** (``kind="dae"``) maps ``x_s`` to ``x0`` in one network call per batch
  (:func:`~diffrepro.diffusion.daed.dae_predict`, clamped to ``[-1, 1]``);
* per image, MAE and MS-SSIM against ``x0`` on ``[0, 1]`` images
  (:func:`~diffrepro.analysis.image_quality.to_unit_range`, ``data_range = 1``, the small-image
  settings of :func:`~diffrepro.analysis.image_quality.ms_ssim_settings`), exactly as
  :mod:`diffrepro.analysis.reconstruction` does for Fig. 2 and 3; summaries are the mean over
  images and its standard error (``std(ddof=1) / sqrt(n)``, ``nan`` for one image).

:data:`DEJA_TABLE2` holds the published Table 2; :func:`table2_markdown` and :func:`table2_latex` lay out
our rows the way the paper does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from ..diffusion.daed import dae_input, dae_predict
from ..reporting.render import html_document, html_section, render_latex
from .image_quality import mae, ms_ssim, ms_ssim_settings, to_unit_range
from .reconstruction import _mean_sem

__all__ = [
    "DEJA_TABLE2",
    "DEJA_TABLE2_TARGETS",
    "Denoiser",
    "Comparison",
    "compare_denoisers",
    "denoise",
    "reverse_from",
    "TABLE2_CAVEAT",
    "Table2Rows",
    "table2_html",
    "table2_latex",
    "table2_markdown",
    "table2_rows",
]

ModelFn = Callable[[Tensor, Tensor], Tensor]

#: Deja et al. 2022, Table 2: source -> model -> target -> (MAE, MS-SSIM). The paper's DDGMs are
#: the pre-trained improved-DDPM models (4000 steps, cosine schedule) denoising from the step
#: with the DAE's noise level; "CelebA*" as printed in the paper.
DEJA_TABLE2_TARGETS = ("CIFAR10", "CIFAR100", "CelebA*")
DEJA_TABLE2: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "CIFAR10": {
        "DDGM VLB": {"CIFAR10": (0.091, 0.94), "CIFAR100": (0.097, 0.94), "CelebA*": (0.093, 0.95)},
        "DDGM Simple": {"CIFAR10": (0.085, 0.95), "CIFAR100": (0.097, 0.94), "CelebA*": (0.096, 0.95)},
        "DAED": {"CIFAR10": (0.065, 0.97), "CIFAR100": (0.074, 0.97), "CelebA*": (0.068, 0.97)},
    },
    "ImageNet": {
        "DDGM VLB": {"CIFAR10": (0.113, 0.93), "CIFAR100": (0.110, 0.93), "CelebA*": (0.077, 0.96)},
        "DDGM Simple": {"CIFAR10": (0.113, 0.94), "CIFAR100": (0.111, 0.93), "CelebA*": (0.068, 0.96)},
        "DAED": {"CIFAR10": (0.071, 0.97), "CIFAR100": (0.071, 0.97), "CelebA*": (0.050, 0.98)},
    },
}


@dataclass
class Denoiser:
    """One way of denoising ``x_s``.

    ``kind``: ``"ddgm"`` (reverse process from ``split_step``) or ``"dae"`` (one call).
    ``model``: eps-predicting ``model(x, t)`` on the compute device, in eval mode.
    ``diffusion``: the model's :class:`~diffrepro.diffusion.GaussianDiffusion` (the DAE's is its
    generator's). ``variance`` and ``generator`` (the reverse-step noise) are used by DDGMs only.
    """

    name: str
    kind: str
    model: ModelFn
    diffusion: Any
    split_step: int
    variance: str = "fixed_small"
    generator: torch.Generator | None = None
    clip_denoised: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("ddgm", "dae"):
            raise ValueError(f"denoiser {self.name!r}: kind must be 'ddgm' or 'dae', got {self.kind!r}")
        s, T = self.split_step, int(self.diffusion.num_timesteps)
        if isinstance(s, bool) or int(s) != s or not 0 <= int(s) < T:
            raise ValueError(f"denoiser {self.name!r}: split step {s!r} outside 0..{T - 1}")
        self.split_step = int(s)


def reverse_from(
    diffusion: Any,
    model: ModelFn,
    x_s: Tensor,
    s: int,
    *,
    variance: str,
    generator: torch.Generator | None,
    clip_denoised: bool = True,
) -> Tensor:
    """The ancestral reverse process from ``x_s`` (0-based step ``s``) down to ``x_0``: ``s + 1``
    calls of ``diffusion.p_sample``, result clamped to ``[-1, 1]`` (as in
    :func:`~diffrepro.analysis.reconstruction.reconstruction_error`)."""
    x = x_s
    n = x.shape[0]
    for step in range(int(s), -1, -1):
        t = torch.full((n,), step, dtype=torch.long, device=x.device)
        x = diffusion.p_sample(model, x, t, variance=variance, generator=generator, clip_denoised=clip_denoised)
    return x.clamp(-1.0, 1.0)


def denoise(den: Denoiser, x_s: Tensor) -> Tensor:
    """``den``'s reconstruction of ``x0`` from ``x_s`` (``[-1, 1]``)."""
    if den.kind == "dae":
        return dae_predict(den.model, den.diffusion, x_s, den.split_step, clip=True)
    return reverse_from(
        den.diffusion,
        den.model,
        x_s,
        den.split_step,
        variance=den.variance,
        generator=den.generator,
        clip_denoised=den.clip_denoised,
    )


@dataclass
class Comparison:
    """Per-image metrics of each denoiser (float64 ``[N]``, on ``[0, 1]`` images) and, for the
    first ``keep`` images, the noisy inputs and reconstructions (``[-1, 1]``, CPU)."""

    names: list[str]
    kinds: dict[str, str]
    split_steps: dict[str, int]
    mae: dict[str, Tensor]
    ms_ssim: dict[str, Tensor]
    noisy: dict[str, Tensor] = field(default_factory=dict)
    reconstructions: dict[str, Tensor] = field(default_factory=dict)

    def summary(self) -> list[dict[str, Any]]:
        """One row per denoiser: name, kind, split_step, n, mae_mean, mae_sem, ms_ssim_mean, ms_ssim_sem."""
        rows = []
        for name in self.names:
            mae_mean, mae_sem = _mean_sem(self.mae[name])
            ssim_mean, ssim_sem = _mean_sem(self.ms_ssim[name])
            rows.append(
                {
                    "name": name,
                    "kind": self.kinds[name],
                    "split_step": self.split_steps[name],
                    "n": int(self.mae[name].numel()),
                    "mae_mean": mae_mean,
                    "mae_sem": mae_sem,
                    "ms_ssim_mean": ssim_mean,
                    "ms_ssim_sem": ssim_sem,
                }
            )
        return rows


def compare_denoisers(
    x0: Tensor,
    denoisers: Sequence[Denoiser],
    noise: Tensor,
    *,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    keep: int = 0,
) -> Comparison:
    """Noise ``x0`` once per image and denoise it with each of ``denoisers`` (module docstring).

    Args:
        x0: ``[N, C, H, W]`` images in ``[-1, 1]`` (any device; moved batch by batch).
        denoisers: distinct names; their models already on ``device`` and in eval mode.
        noise: the shared draw ``eps``, same shape as ``x0`` (e.g. ``torch.randn`` from a seeded
            generator); batch ``b`` of every denoiser uses the same rows of it.
        batch_size: images per network call (a DAE makes exactly ``ceil(N / batch_size)`` calls).
        keep: how many leading images' noisy inputs and reconstructions to return.

    Runs under :func:`torch.inference_mode`. Denoisers are run one after the other over all
    batches, so a DDGM's reverse-step noise depends only on its own generator.
    """
    if not isinstance(x0, Tensor) or x0.ndim != 4 or x0.shape[0] < 1:
        raise ValueError(f"x0 must be a non-empty [N, C, H, W] tensor, got {getattr(x0, 'shape', type(x0))}")
    if not isinstance(noise, Tensor) or noise.shape != x0.shape:
        raise ValueError(f"noise must have the shape of x0 {tuple(x0.shape)}, got {getattr(noise, 'shape', None)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    names = [d.name for d in denoisers]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"denoisers need distinct names, got {names}")
    device = torch.device(device)
    win_size, weights = ms_ssim_settings(x0.shape[-2], x0.shape[-1])
    keep = max(0, min(int(keep), x0.shape[0]))
    result = Comparison(
        names=names,
        kinds={d.name: d.kind for d in denoisers},
        split_steps={d.name: d.split_step for d in denoisers},
        mae={},
        ms_ssim={},
    )
    with torch.inference_mode():
        for den in denoisers:
            maes, ssims, noisy, recs = [], [], [], []
            for start in range(0, x0.shape[0], batch_size):
                xb = x0[start : start + batch_size].to(device)
                eb = noise[start : start + batch_size].to(device=device, dtype=xb.dtype)
                x_s = dae_input(den.diffusion, xb, den.split_step, eb)
                rec = denoise(den, x_s)
                ref = to_unit_range(xb)
                out = to_unit_range(rec)
                maes.append(mae(ref, out).cpu())
                ssims.append(ms_ssim(ref, out, 1.0, win_size=win_size, weights=weights).cpu())
                if start < keep:
                    noisy.append(x_s[: keep - start].cpu())
                    recs.append(rec[: keep - start].cpu())
            result.mae[den.name] = torch.cat(maes)
            result.ms_ssim[den.name] = torch.cat(ssims)
            if keep:
                result.noisy[den.name] = torch.cat(noisy)
                result.reconstructions[den.name] = torch.cat(recs)
    return result


def _fmt(mean: float, sem: float | None, digits: int) -> str:
    if mean is None or not math.isfinite(mean):
        return "n/a"
    if sem is None or not math.isfinite(sem):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {sem:.{digits}f}"


def table2_markdown(table: Table2Rows, *, preamble: str = "") -> str:
    """Table 2 layout: one row per model, ``MAE | MS-SSIM`` columns per target (:func:`table2_rows`), after
    ``preamble``; below it the paper's rows for its reference source from :data:`DEJA_TABLE2`, with a note that
    absolute values do not compare across data sets and resolutions."""

    def lines(rows: list[dict], columns: list[str]) -> list[str]:
        head = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        return head + ["| " + " | ".join(row[c] for c in columns) + " |" for row in rows]

    out = ([preamble.rstrip(), ""] if preamble else []) + lines(table.ours, table.columns)
    out += ["", table.paper_title + ":", "", *lines(table.paper, table.paper_columns)]
    return "\n".join([*out, "", "Note: " + TABLE2_CAVEAT, ""])


@dataclass(frozen=True)
class Table2Rows:
    """Table 2 as rows of cells: ours and their columns, then the paper's rows for ``reference_source``."""

    ours: list[dict]
    columns: list[str]
    paper: list[dict]
    paper_columns: list[str]
    reference_source: str

    @property
    def paper_title(self) -> str:
        return f"Published values (Deja et al. 2022, Table 2, source {self.reference_source}), for reference"


def table2_rows(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    targets: Sequence[str],
    models: Sequence[str],
    labels: Mapping[str, str] | None = None,
    reference_source: str = "CIFAR10",
) -> Table2Rows:
    """Table 2's cells: ``rows`` are dicts with ``model``, ``target``, ``mae_mean``, ``mae_sem``,
    ``ms_ssim_mean``, ``ms_ssim_sem`` (the CSV rows); ``models`` gives the row order and ``labels`` the text
    shown for each; the paper's rows are those of ``reference_source`` (:data:`DEJA_TABLE2`)."""
    labels = dict(labels or {})
    cell = {(r["model"], r["target"]): r for r in rows}
    columns = ["Source", "Model", *[c for t in targets for c in (f"{t} MAE ↓", f"{t} MS-SSIM ↑")]]
    ours = []
    for i, model in enumerate(models):
        row = {"Source": source if i == 0 else "", "Model": labels.get(model, model)}
        for t in targets:
            r = cell.get((model, t))
            row[f"{t} MAE ↓"] = "n/a" if r is None else _fmt(r["mae_mean"], r["mae_sem"], 3)
            row[f"{t} MS-SSIM ↑"] = "n/a" if r is None else _fmt(r["ms_ssim_mean"], r["ms_ssim_sem"], 3)
        ours.append(row)
    paper_columns = ["Source", "Model", *[c for t in DEJA_TABLE2_TARGETS for c in (f"{t} MAE", f"{t} MS-SSIM")]]
    paper = []
    for i, (model, vals) in enumerate(DEJA_TABLE2[reference_source].items()):
        row = {"Source": reference_source if i == 0 else "", "Model": model}
        for t in DEJA_TABLE2_TARGETS:
            row[f"{t} MAE"], row[f"{t} MS-SSIM"] = f"{vals[t][0]:.3f}", f"{vals[t][1]:.2f}"
        paper.append(row)
    return Table2Rows(ours, columns, paper, paper_columns, reference_source)


def table2_latex(table: Table2Rows, *, title: str, notes: Sequence[str] = ()) -> str:
    """:func:`table2_markdown` as LaTeX: our rows (captioned ``title``, ``notes`` below) and the paper's rows as
    a second table. No difference columns: the paper's source, targets and models differ from ours (see
    :data:`TABLE2_CAVEAT`)."""
    paper = render_latex(table.paper, table.paper_columns, table.paper_title, ["Note: " + TABLE2_CAVEAT])
    return render_latex(table.ours, table.columns, title, notes) + "\n" + paper


def table2_html(table: Table2Rows, *, title: str, description: str = "") -> str:
    """:func:`table2_markdown` as an HTML document: the title, the ``description``, our rows, then the paper's
    rows with the caveat (:data:`TABLE2_CAVEAT`)."""
    body = html_section(table.ours, table.columns, title, [], preamble=[description] if description else [])
    body += html_section(table.paper, table.paper_columns, table.paper_title, ["Note: " + TABLE2_CAVEAT], level=2)
    return html_document(title, body)


TABLE2_CAVEAT = (
    "absolute values are not comparable across data sets and resolutions. The paper's rows come "
    "from pre-trained improved-DDPM models (4000 steps, cosine schedule) at 32x32 or 64x64 RGB, denoising "
    "from the step with the DAE's noise level; MAE and MS-SSIM depend on the image content, size and "
    "channel count (MS-SSIM on small images uses fewer scales and a narrower window, see "
    "diffrepro.analysis.image_quality), and the paper does not state the value range of its MAE "
    "(ours is on [0, 1] images). Compare the ordering of the rows (DAED vs DDGMs) and in- vs "
    "out-of-domain gaps, not the numbers."
)
