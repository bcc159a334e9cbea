"""Step: one panel of the reconstruction analysis, the reconstruction error of a DDGM over the first
steps of the diffusion, on its own test images and on other data sets (Deja et al. Fig. 2 and 3).

For panel ``--panel`` of ``analysis.reconstruction.panels``, its DDGM ``model`` and each set in its
``targets``, ``analysis.reconstruction.images`` test images (:mod:`diffrepro.data.targets`: the panel's own data
set is its processed test split; another set is loaded through the data registry and brought to the source's channels
and resolution) are noised to ``x_t`` and denoised by the model's reverse process from ``t``
(:func:`~diffrepro.analysis.reconstruction.reconstruction_error`) at the steps
``first_fraction_steps(T, fraction, points)``. Outputs: a CSV (one row per target and step) and a
JSON summary; ``diffrepro reconstruction-figure`` draws every panel."""

from __future__ import annotations

import math

from ..analysis.loading import AnalysisInputError, load_ddgm
from ..analysis.reconstruction import first_fraction_steps, reconstruction_error
from ..atomic import write_json
from ..config import analysis_config, dataset_of, load_config, target_location
from ..csvio import write_csv
from ..data import load_processed
from ..data.targets import load_target_sets
from ..devices import resolve_device
from ..imaging import to_model_range
from ..runlog import get_logger
from ..seeding import generator

NAME = "reconstruction"

CSV_COLUMNS = ("target", "in_domain", "t", "t_fraction", "mae_mean", "mae_sem", "ms_ssim_mean", "ms_ssim_sem")


def _g(v: float) -> str:
    return f"{v:.8g}"


def _finite(v: float) -> float | None:
    return v if math.isfinite(v) else None


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    rcfg = analysis_config(config).reconstruction
    if args.panel not in rcfg.panels:
        raise AnalysisInputError(
            f"--panel {args.panel!r} is not one of analysis.reconstruction.panels ({', '.join(rcfg.panels)})"
        )
    panel = rcfg.panels[args.panel]
    device = resolve_device(args.device)
    tensors, meta = load_processed(args.data)
    dcfg = dataset_of(config, panel.model)
    source = dcfg["dataset"]
    if meta["dataset"] != source:
        raise AnalysisInputError(f"{args.data} holds {meta['dataset']!r}, but the model's data set is {source!r}")
    net = load_ddgm(args.weights, config, panel.model, device)
    test = tensors["test_images"]
    if (net.channels, net.image_size) != (int(test.shape[1]), int(test.shape[2])):
        raise AnalysisInputError(
            f"{args.weights} is a {net.channels}x{net.image_size}x{net.image_size} model, "
            f"but {args.data} holds {tuple(test.shape[1:])} images"
        )
    T = net.diffusion.num_timesteps
    steps = first_fraction_steps(T, rcfg.fraction, rcfg.points)
    batch_size = net.mcfg.sample.batch_size
    log.info("panel %s, %s (T=%d): steps %s on %s", args.panel, panel.model, T, steps, ", ".join(panel.targets))

    results = {}
    for name, target in load_target_sets(
        panel.targets,
        rcfg.images,
        seed=config["seed"],
        source_dataset=source,
        source_test_images=test,
        locate=lambda target: target_location(config, target, dcfg["download"]),
        download_dir=args.download_dir,
        warn=log.warning,
    ):
        rows = reconstruction_error(
            net.diffusion,
            net.model,
            to_model_range(target.images),
            steps,
            variance=net.mcfg.variance,
            generator=generator(config["seed"], NAME, name),
            device=device,
            batch_size=batch_size,
        )
        results[name] = (target, rows)
        log.info(
            "%s (%s, %d images): MAE %.4f -> %.4f, MS-SSIM %.4f -> %.4f over t = %d..%d",
            name,
            "in-domain" if target.in_domain else "out-of-domain",
            target.n,
            rows[0]["mae"],
            rows[-1]["mae"],
            rows[0]["ms_ssim"],
            rows[-1]["ms_ssim"],
            steps[0],
            steps[-1],
        )

    write_csv(
        args.out_csv,
        CSV_COLUMNS,
        [
            [
                name,
                str(target.in_domain).lower(),
                r["t"],
                _g((r["t"] + 1) / T),
                _g(r["mae"]),
                _g(r["mae_sem"]),
                _g(r["ms_ssim"]),
                _g(r["ms_ssim_sem"]),
            ]
            for name, (target, rows) in results.items()
            for r in rows
        ],
    )

    in_domain = next((rows for target, rows in results.values() if target.in_domain), None)
    summary = {
        "panel": args.panel,
        "model": panel.model,
        "dataset": source,
        "resolution": net.image_size,
        "channels": net.channels,
        "timesteps": T,
        "fraction": rcfg.fraction,
        "steps": steps,
        "t_fraction": [(t + 1) / T for t in steps],
        "metrics_range": "[0, 1] images",
        "targets": {},
    }
    for name, (target, rows) in results.items():
        entry = {
            "in_domain": target.in_domain,
            "n": target.n,
            "available": target.available,
            "source": target.source,
            "mae": [_finite(r["mae"]) for r in rows],
            "ms_ssim": [_finite(r["ms_ssim"]) for r in rows],
        }
        if in_domain is not None and not target.in_domain:
            # Fig. 3: how far the out-of-domain curve lies above the in-domain one, per step
            entry["mae_minus_in_domain"] = [_finite(r["mae"] - q["mae"]) for r, q in zip(rows, in_domain)]
            entry["ms_ssim_minus_in_domain"] = [_finite(r["ms_ssim"] - q["ms_ssim"]) for r, q in zip(rows, in_domain)]
        summary["targets"][name] = entry
    write_json(args.out_json, summary)
