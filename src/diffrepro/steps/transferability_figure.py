"""Step: one figure of ``analysis.transferability.figures`` (``--figure``): the reconstructions of several
transferability sources' models of one target set side by side (Deja et al. Fig 6a: CelebA images denoised by the
DDGM trained on CelebA, the one trained on ImageNet, the DAED trained on CelebA and the one trained on ImageNet).

Each source's ``transferability`` step kept the first ``analysis.transferability.examples`` images of every target
set with each model's noisy input and reconstruction (``<source>_examples.safetensors``). Every source draws the
same images of a target set and the same noise (the seeded streams are the target's, not the source's), so the rows
line up; this step checks that the clean images are identical across the sources it reads. Rows: the kept images;
columns: the clean image, the noisy input of the first column's model, then one column per entry of ``columns``.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..analysis.loading import AnalysisInputError
from ..config import analysis_config, load_config
from ..imaging import to_model_range
from ..reporting.image_panels import save_image_panel
from ..runlog import get_logger
from ..tensorfile import read

__all__ = ["figure_rows", "run"]

DAED = "DAED"


def figure_rows(
    config: dict, name: str, examples_dir: str
) -> tuple[list[list[torch.Tensor]], list[str], list[str], str]:
    """The rows (uint8 ``[C, H, W]`` images), row labels, column labels and title of figure ``name``."""
    tcfg = analysis_config(config).transferability
    if name not in tcfg.figures:
        raise AnalysisInputError(
            f"--figure {name!r} is not one of analysis.transferability.figures ({', '.join(tcfg.figures) or 'none'})"
        )
    fig = tcfg.figures[name]
    files: dict[str, tuple[dict[str, torch.Tensor], dict[str, str]]] = {}
    columns, labels = [], []
    clean = None
    for col in fig.columns:
        source, role = col["source"], col["model"]
        if source not in files:
            path = Path(examples_dir) / f"{source}_examples.safetensors"
            if not path.is_file():
                raise AnalysisInputError(f"{path}: no such file; run the transferability step of source {source!r}")
            files[source] = read(path, {"source": source})
        tensors, meta = files[source]
        model = DAED if role == DAED else tcfg.sources[source].models.as_dict()[role]
        key = f"{fig.target}/{model}/reconstruction"
        if key not in tensors:
            raise AnalysisInputError(
                f"{examples_dir}/{source}_examples.safetensors has no {key!r}: rerun transferability for {source}"
            )
        here = tensors[f"{fig.target}/clean"]
        if clean is None:
            clean, noisy = here, tensors[f"{fig.target}/{model}/noisy"]
        elif not torch.equal(here, clean):
            raise AnalysisInputError(
                f"{source}_examples.safetensors holds other {fig.target} images than "
                f"{fig.columns[0]['source']}_examples.safetensors: rerun both transferability steps with one seed"
            )
        columns.append(tensors[key])
        steps = json.loads(meta["split_steps"])
        labels.append(f"{meta['dataset']} {'DAED' if role == DAED else 'DDGM ' + role} (s={steps[model]})")
    n = min(t.shape[0] for t in columns)
    rows = [[clean[i], noisy[i], *(c[i] for c in columns)] for i in range(n)]
    col_labels = ["clean", "noisy", *labels]
    title = f"{fig.target}: reconstructions by each source's models (beta_1 = {tcfg.beta_1:g})"
    return rows, [f"{fig.target} {i}" for i in range(n)], col_labels, title


def run(args) -> None:
    config = load_config(args.params)
    rows, row_labels, col_labels, title = figure_rows(config, args.figure, args.examples_dir)
    save_image_panel(
        [[to_model_range(img) for img in row] for row in rows],
        args.out_png,
        row_labels=row_labels,
        col_labels=col_labels,
        title=title,
        svg_path=args.out_svg,
    )
    get_logger().info("wrote %s (%d rows x %d columns)", args.out_png, len(rows), len(col_labels))
