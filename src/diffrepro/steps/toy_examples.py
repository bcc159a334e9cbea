"""Step: toy examples of denoising out-of-domain photos (Deja et al. Fig. 6b).

The scikit-image photos ``analysis.toy_examples.photos`` (bundled, offline; converted to the
source's channels, centre-cropped to a square and resized with antialiasing to the source
resolution, :func:`diffrepro.data.targets.photo_images`) are noised once (one seeded draw per
photo) to the split step of ``analysis.toy_examples.beta_1`` and denoised by the DDGM
``analysis.toy_examples.model`` (its reverse process from ``s``) and by the post-hoc DAE of that
noise level in one pass (:mod:`diffrepro.analysis.transferability`). Outputs: a PNG grid (rows
photos; columns original, noisy, DDGM, DAED) and a CSV with each photo's MAE and MS-SSIM."""

from __future__ import annotations

import torch

from ..analysis.loading import AnalysisInputError, load_ddgm, load_posthoc_dae
from ..analysis.transferability import Denoiser, compare_denoisers
from ..config import analysis_config, load_config
from ..csvio import write_csv
from ..data.targets import photo_images
from ..devices import resolve_device
from ..imaging import to_model_range
from ..posthoc import ddgm_split_step
from ..reporting.image_panels import save_image_panel
from ..runlog import get_logger
from ..seeding import generator

CSV_COLUMNS = ("photo", "model", "split_step", "mae", "ms_ssim")
DAED_ROW = "DAED"


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    tcfg = analysis_config(config).toy_examples
    seed, beta_1, name = config["seed"], float(tcfg.beta_1), tcfg.model
    device = resolve_device(args.device)
    ddgm = load_ddgm(args.weights, config, name, device)
    dae = load_posthoc_dae(args.dae, config, device, beta_1=beta_1)
    if (dae.channels, dae.image_size) != (ddgm.channels, ddgm.image_size):
        raise AnalysisInputError(
            f"{args.dae} is a {dae.channels}x{dae.image_size}x{dae.image_size} model, "
            f"{args.weights} a {ddgm.channels}x{ddgm.image_size}x{ddgm.image_size} one"
        )
    photos = list(tcfg.photos)
    x0 = to_model_range(photo_images(photos, ddgm.channels, ddgm.image_size))
    noise = torch.randn(x0.shape, generator=generator(seed, "toy-examples", "noise"))
    s = ddgm_split_step(ddgm.mcfg, beta_1)
    denoisers = [
        Denoiser(
            name,
            "ddgm",
            ddgm.model,
            ddgm.diffusion,
            s,
            variance=ddgm.mcfg.variance,
            generator=generator(seed, "toy-examples", "reverse", name),
            steps=analysis_config(config).reverse_steps,  # None: every step from s (the smoke run cuts them)
        ),
        Denoiser(DAED_ROW, "dae", dae.model, dae.diffusion, dae.split_step),
    ]
    batch_size = min(ddgm.mcfg.sample.batch_size, dae.mcfg.sample.batch_size)
    result = compare_denoisers(x0, denoisers, noise, batch_size=batch_size, device=device, keep=len(photos))

    lines = []
    for i, photo in enumerate(photos):
        for d in denoisers:
            m, q = float(result.mae[d.name][i]), float(result.ms_ssim[d.name][i])
            lines.append([photo, d.name, d.split_step, f"{m:.8g}", f"{q:.8g}"])
            log.info("%s, %s (s=%d): MAE %.4f, MS-SSIM %.4f", photo, d.name, d.split_step, m, q)
    write_csv(args.out_csv, CSV_COLUMNS, lines)

    rows = [
        [x0[i], result.noisy[DAED_ROW][i], result.reconstructions[name][i], result.reconstructions[DAED_ROW][i]]
        for i in range(len(photos))
    ]
    save_image_panel(
        rows,
        args.out_png,
        row_labels=photos,
        col_labels=["original", f"noisy (s={dae.split_step})", f"DDGM {name} (s={s})", "DAED"],
        title=f"beta_1 = {beta_1:g}, {ddgm.channels}x{ddgm.image_size}x{ddgm.image_size}",
        svg_path=args.out_svg,
    )
