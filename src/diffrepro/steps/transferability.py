"""Step: transferability of the denoising part (Deja et al. Sec. 6.3, Table 2), one source.

Source ``--source`` of ``analysis.transferability.sources``: its DDGMs ``models`` (``{vlb: NAME, simple:
NAME}``, the paper's "DDGM VLB" and "DDGM Simple" rows; one ``--ddgm NAME=PATH`` each) and the post-hoc DAE of
noise level ``analysis.transferability.beta_1`` of its study ``posthoc`` (``--dae``)
denoise the same noised test images of each set in its ``targets``
(:mod:`diffrepro.data.targets`): per image one shared noise draw, ``x_s ~ q(x_s | x0)`` at the
split step of ``beta_1`` on each model's own schedule; a DDGM runs its reverse process from ``s``
down to 0, the DAE (the "DAED" row) removes the noise in one pass
(:mod:`diffrepro.analysis.transferability`). Outputs: a CSV (one row per model and target), the source's block
of Table 2 as JSON (rows, row labels, description; ``diffrepro transferability-table`` lays out every source's
block beside the published ones), a PNG and SVG figure with one example per target (clean, noisy, each
model's reconstruction), and the first ``analysis.transferability.examples`` images of every target with each
model's noisy input and reconstruction as a tensor file (uint8), from which ``transferability-figure`` sets
several sources side by side (Fig 6a)."""

from __future__ import annotations

import json
import math

import torch

from ..analysis.loading import AnalysisInputError, load_ddgm, load_posthoc_dae
from ..analysis.transferability import Denoiser, compare_denoisers
from ..atomic import write_json
from ..config import analysis_config, dataset_of, load_config, target_location
from ..csvio import write_csv
from ..data import load_processed
from ..data.targets import load_target_sets
from ..devices import resolve_device
from ..imaging import to_model_range, to_uint8
from ..posthoc import ddgm_split_step
from ..reporting.image_panels import save_image_panel
from ..runlog import get_logger
from ..seeding import generator
from ..tensorfile import save_safetensors

NAME = "transferability"

CSV_COLUMNS = ("source", "model", "target", "split_step", "mae_mean", "mae_sem", "ms_ssim_mean", "ms_ssim_sem")
DAED_ROW = "DAED"


#: Table 2's DDGM rows: a source's ``models`` role -> the paper's row label.
PAPER_ROWS = {"vlb": "DDGM VLB", "simple": "DDGM Simple"}


def transfer_models(models) -> list[tuple[str, str | None]]:
    """A source's ``models`` -> ``[(model name, paper row label or None)]``: the mapping
    ``{vlb: NAME, simple: NAME}`` in the paper's row order (a model named twice is run once, under
    the first label); a plain list of names is taken as it is, without paper labels."""
    if isinstance(models, dict):
        unknown = sorted(set(models) - set(PAPER_ROWS))
        if unknown:
            raise AnalysisInputError(
                f"analysis.transferability.sources.*.models: unknown role(s) {unknown}; roles are "
                f"{', '.join(PAPER_ROWS)}"
            )
        out: list[tuple[str, str | None]] = []
        for role, label in PAPER_ROWS.items():
            if role in models and models[role] not in [n for n, _ in out]:
                out.append((models[role], label))
        return out
    return [(name, None) for name in dict.fromkeys(models)]


def parse_ddgm_args(values: list[str], expected: list[str]) -> dict[str, str]:
    """``["NAME=PATH", ...]`` -> ``{NAME: PATH}`` in the order of ``expected``, which must be named
    exactly once each."""
    paths: dict[str, str] = {}
    for v in values:
        name, sep, path = v.partition("=")
        if not sep or not name or not path:
            raise AnalysisInputError(f"--ddgm {v!r}: expected NAME=PATH")
        if name in paths:
            raise AnalysisInputError(f"--ddgm {name} is given twice")
        paths[name] = path
    if set(paths) != set(expected):
        raise AnalysisInputError(f"--ddgm names {sorted(paths)} differ from the source's models {sorted(expected)}")
    return {name: paths[name] for name in expected}


def _g(v: float) -> str:
    return f"{v:.8g}"


def _finite(v):
    """A JSON value: a non-finite float (the standard error of one image) as None."""
    return None if isinstance(v, float) and not math.isfinite(v) else v


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    tcfg = analysis_config(config).transferability
    if args.source not in tcfg.sources:
        raise AnalysisInputError(
            f"--source {args.source!r} is not one of analysis.transferability.sources ({', '.join(tcfg.sources)})"
        )
    src = tcfg.sources[args.source]
    seed, beta_1 = config["seed"], float(tcfg.beta_1)
    device = resolve_device(args.device)
    roles = dict(transfer_models(src.models.as_dict()))
    paths = parse_ddgm_args(args.ddgm, list(roles))
    tensors, meta = load_processed(args.data)
    dcfg = dataset_of(config, next(iter(roles)))  # the models' data set (config checks they share it)
    source = dcfg["dataset"]
    if meta["dataset"] != source:
        raise AnalysisInputError(f"{args.data} holds {meta['dataset']!r}, but the model's data set is {source!r}")
    test = tensors["test_images"]
    fmt = (int(test.shape[1]), int(test.shape[2]))

    ddgms = {name: load_ddgm(path, config, name, device) for name, path in paths.items()}
    dae = load_posthoc_dae(args.dae, config, device, beta_1=beta_1)
    for label, net, path in [(n, m, paths[n]) for n, m in ddgms.items()] + [("DAE", dae, args.dae)]:
        if (net.channels, net.image_size) != fmt:
            raise AnalysisInputError(
                f"{path} ({label}) is a {net.channels}x{net.image_size}x{net.image_size} model, "
                f"but {args.data} holds {fmt[0]}x{fmt[1]}x{fmt[1]} images"
            )
    steps = {name: ddgm_split_step(net.mcfg, beta_1) for name, net in ddgms.items()}
    steps[DAED_ROW] = dae.split_step
    log.info("beta_1=%g: split steps %s (DAE of %s)", beta_1, steps, dae.name)
    batch_size = min(net.mcfg.sample.batch_size for net in [*ddgms.values(), dae])

    reverse_steps = analysis_config(config).reverse_steps  # None: every step from s (the smoke run cuts them)
    rows, examples = [], []
    kept: dict[str, torch.Tensor] = {}  # the first analysis.transferability.examples images of every target
    for target_name, target in load_target_sets(
        src.targets,
        tcfg.images,
        seed=seed,
        source_dataset=source,
        source_test_images=test,
        locate=lambda target: target_location(config, target, dcfg["download"]),
        download_dir=args.download_dir,
        warn=log.warning,
    ):
        x0 = to_model_range(target.images)
        noise = torch.randn(x0.shape, generator=generator(seed, NAME, "noise", target_name))
        denoisers = [
            Denoiser(
                name,
                "ddgm",
                net.model,
                net.diffusion,
                steps[name],
                variance=net.mcfg.variance,
                generator=generator(seed, NAME, "reverse", name, target_name),
                steps=reverse_steps,
            )
            for name, net in ddgms.items()
        ]
        denoisers.append(Denoiser(DAED_ROW, "dae", dae.model, dae.diffusion, dae.split_step))
        keep = min(tcfg.examples, x0.shape[0])
        result = compare_denoisers(x0, denoisers, noise, batch_size=batch_size, device=device, keep=keep)
        kept[f"{target_name}/clean"] = to_uint8(x0[:keep])
        for d in denoisers:
            kept[f"{target_name}/{d.name}/noisy"] = to_uint8(result.noisy[d.name])
            kept[f"{target_name}/{d.name}/reconstruction"] = to_uint8(result.reconstructions[d.name])
        for r in result.summary():
            rows.append(
                {
                    "source": source,
                    "model": r["name"],
                    "target": target_name,
                    "split_step": r["split_step"],
                    **{k: r[k] for k in ("mae_mean", "mae_sem", "ms_ssim_mean", "ms_ssim_sem")},
                    "n": r["n"],
                }
            )
            log.info(
                "%s on %s (%d images, s=%d): MAE %.4f, MS-SSIM %.4f",
                r["name"],
                target_name,
                r["n"],
                r["split_step"],
                r["mae_mean"],
                r["ms_ssim_mean"],
            )
        examples.append(
            (target, x0[0], result.noisy[DAED_ROW][0], [result.reconstructions[d.name][0] for d in denoisers])
        )

    write_csv(
        args.out_csv,
        CSV_COLUMNS,
        [
            [
                r["source"],
                r["model"],
                r["target"],
                r["split_step"],
                _g(r["mae_mean"]),
                _g(r["mae_sem"]),
                _g(r["ms_ssim_mean"]),
                _g(r["ms_ssim_sem"]),
            ]
            for r in rows
        ],
    )

    models = [*ddgms, DAED_ROW]
    labels = {
        name: f"{roles[name] or 'DDGM ' + net.mcfg.objective.name} ({name}, T={net.diffusion.num_timesteps}, "
        f"s={steps[name]})"
        for name, net in ddgms.items()
    }
    labels[DAED_ROW] = f"DAED (post-hoc DAE of {dae.name}, beta_1={beta_1:g}, s={dae.split_step})"
    counts = ", ".join(f"{t}: {ex[0].n}" for t, ex in zip(src.targets, examples))
    title = f"Source {args.source} ({source})"
    description = (
        f"Each test image is noised once to x_s ~ q(x_s | x_0) with beta_1 = {beta_1:g} (s = the split step of "
        f"beta_1 on each model's schedule, 0-based); DDGM rows run the reverse process from s to 0, the DAED row "
        f"is the post-hoc DAE in one pass. MAE on [0, 1] images and MS-SSIM (data range 1), mean ± standard error "
        f"over the images ({counts}); {source} is in-domain, the other sets are resized to "
        f"{fmt[0]}x{fmt[1]}x{fmt[1]}."
    )
    block = {
        "source": args.source,
        "dataset": source,
        "title": title,
        "description": description,
        "targets": list(src.targets),
        "models": models,
        "labels": labels,
        "rows": [{k: _finite(v) for k, v in r.items()} for r in rows],
    }
    write_json(args.out_json, block)
    # the kept images, for the figures that set several sources side by side (transferability-figure)
    save_safetensors(
        kept,
        args.out_examples,
        {
            "source": args.source,
            "dataset": source,
            "beta_1": f"{beta_1:g}",
            "targets": json.dumps(list(src.targets)),
            "models": json.dumps(models),
            "labels": json.dumps(labels, sort_keys=True),
            "split_steps": json.dumps(steps, sort_keys=True),
        },
    )

    col_labels = ["clean", f"noisy (s={dae.split_step})", *[f"{m} (s={steps[m]})" for m in ddgms], DAED_ROW]
    save_image_panel(
        [[x, noisy, *recs] for _, x, noisy, recs in examples],
        args.out_png,
        row_labels=[t.name for t, *_ in examples],
        col_labels=col_labels,
        title=f"source {source}, beta_1 = {beta_1:g}",
        svg_path=args.out_svg,
    )
