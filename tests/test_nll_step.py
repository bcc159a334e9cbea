"""The nll step: the bound over all T steps, or (``evaluation.nll_steps = K``, the paper-shape smoke run's cut)
the exact bound of the model's K-step respaced process, checked against calc_bpd_loop on that process."""

from __future__ import annotations

import copy
import csv
import json

import pytest
import torch
import yaml

from diffrepro.artifacts.ddgm import weights_metadata
from diffrepro.cli import main as cli_main
from diffrepro.config import model_config
from diffrepro.data import load_dataset, load_processed, save_processed
from diffrepro.diffusion.losses import calc_bpd_loop
from diffrepro.diffusion.respace import RespacedDiffusion, space_timesteps
from diffrepro.factory import build_diffusion, build_unet
from diffrepro.imaging import to_model_range
from diffrepro.seeding import generator
from diffrepro.tensorfile import save_safetensors
from workflow_tools import REPO


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    base = tmp_path_factory.mktemp("nll")
    config = yaml.safe_load((REPO / "configs" / "tiny.yaml").read_text())
    mcfg = model_config(config, "ddgm_a")
    torch.manual_seed(0)
    net = build_unet(mcfg, image_size=8, channels=1)
    save_safetensors(net.state_dict(), base / "w.safetensors", weights_metadata("ddgm_a", mcfg, {}, 8, 1, 5, 7))
    save_processed(base / "digits.safetensors", load_dataset("digits"), 8)
    return base, config, mcfg, net.eval()


def _run(base, config, nll_steps, name):
    config = copy.deepcopy(config)
    config["evaluation"].update(nll_images=3, nll_steps=nll_steps)
    params = base / f"{name}.yaml"
    params.write_text(yaml.safe_dump(config))
    argv = ["nll", "--params", str(params), "--model", "ddgm_a", "--weights", str(base / "w.safetensors")]
    argv += ["--data", str(base / "digits.safetensors"), "--out", str(base / f"{name}.json")]
    assert cli_main([*argv, "--terms-csv", str(base / f"{name}.csv"), "--device", "cpu"]) in (0, None)
    with open(base / f"{name}.csv", newline="") as fh:
        return json.loads((base / f"{name}.json").read_text()), list(csv.DictReader(fh))


@pytest.mark.parametrize("nll_steps", [None, 4])
def test_the_bound_is_calc_bpd_loop_on_the_process_the_parameters_name(setup, nll_steps):
    base, config, mcfg, net = setup
    record, rows = _run(base, config, nll_steps, f"k{nll_steps}")
    T = mcfg.timesteps
    diffusion, model = build_diffusion(mcfg), net
    if nll_steps is not None:
        diffusion = RespacedDiffusion(diffusion, space_timesteps(T, nll_steps))
        model = diffusion.wrap_model(net)
    x0 = to_model_range(load_processed(base / "digits.safetensors")[0]["test_images"][:3])
    ref = calc_bpd_loop(diffusion, model, x0, mcfg.variance, generator=generator(config["seed"], "nll", "ddgm_a"))
    assert record["bits_per_dim"] == pytest.approx(float(ref["total_bpd"].double().mean()), rel=1e-6)
    assert record["timesteps"] == T and record["n_images"] == 3
    steps = T if nll_steps is None else nll_steps
    assert [int(r["t"]) for r in rows] == list(range(1, steps + 1))  # the dynamics analysis reads 1..K
    assert ("nll_steps" in record) == (nll_steps is not None) and record.get("nll_steps", T) == steps
