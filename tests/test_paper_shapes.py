"""The paper-shape smoke run (issue 16, item 7), one model per data set and family: the real Snakemake DAG runs
the smoke preset of configs/paper.yaml on stand-in CIFAR-10 and CelebA files and Fashion-MNIST, from data
preparation through training, sampling and evaluation, for

* a DDGM on each of Fashion-MNIST (28 px, T=500), CIFAR-10 (32 px, T=1000) and CelebA (64 px), a joint DAED on
  the first two (CelebA's: see MODELS);
* the post-hoc DAEs (every split point) of the Fashion-MNIST study;
* a DDDM run (CIFAR-10, cross-attention to x_bar, Pseudo-LPIPS on the stand-in backbone of
  ``diffrepro standin-weights``).

The surrogate diffusion (coursework Table 4.5) is the smoke run's only: its samples take the base model's
``t_mid`` ancestral steps (250 to 750 at T=1000), ~10 min per surrogate here.

Checked: every job succeeds; each trained network has exactly the tensors (names and shapes) of the network that
configs/paper.yaml describes, built independently here; the processed stand-in sets have the real sets' shapes and
say STAND-IN in their source; every evaluation holds a finite FID on the Inception backend.
"""

from __future__ import annotations

import json
import math
import os

import pytest
import yaml
from safetensors import safe_open

from diffrepro.config import load_config, model_config, split_label
from diffrepro.factory import build_unet
from diffrepro.smoke import smoke_config
from workflow_tools import REPO, make_workspace, sh, tool

pytestmark = pytest.mark.e2e

#: one model per data set and family: name -> (data set, resolution, channels)
MODELS = {
    "ddgm_simple": ("fashion_mnist", 28, 1),
    "daed_simple_b01": ("fashion_mnist", 28, 1),
    "c10_ddgm_simple": ("cifar10", 32, 3),
    "c10_daed_simple_b01": ("cifar10", 32, 3),
    "celeba_ddgm_simple": ("celeba64", 64, 3),
}
# Not here: CelebA's joint DAED (242 M parameters). Its training job peaks at 18-21 GB resident on this 24 GB
# machine (the test-error record after training runs 256 test images through the DAE in one batch with autograd
# on): the smoke run trains it; it joins this test once that record runs under inference mode, in batches.
#: the real sets' split shapes (images), which the stand-ins keep
SHAPES = {
    "cifar10": {"train_images": [50000, 3, 32, 32], "test_images": [10000, 3, 32, 32]},
    "celeba64": {"train_images": [162770, 3, 64, 64], "test_images": [19962, 3, 64, 64]},
}
DDDM_RUN = "dddm_pseudo_lpips"


def _shapes(path) -> dict[str, list[int]]:
    with safe_open(str(path), "pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("paper_shapes")
    standins = base / "standins"
    for name in ("cifar10", "celeba64"):
        sh([tool("diffrepro"), "standin-data", "--dataset", name, "--out", str(standins / name)], REPO, timeout=900)
    sh([tool("diffrepro"), "standin-weights", "--out", str(standins / "torch_home")], REPO)
    ws = make_workspace(base / "ws", preset="configs/paper.yaml")
    smoke = smoke_config(yaml.safe_load((ws / "params.yaml").read_text()), standin_root=str(standins))
    smoke["preset"] = "default"  # the workspace runs it as its default preset: artifacts at its top
    smoke["evaluation"]["backends"] = ["inception"]  # the metric checked here (the DAG still trains the classifiers)
    (ws / "params.yaml").write_text(yaml.safe_dump(smoke, sort_keys=False))
    # CelebA's samples, not its evaluations: see test_celeba_evaluations_need_a_metric_backend_without_labels
    targets = [f"results/metrics/ddgm/{m}.json" for m in MODELS if MODELS[m][0] != "celeba64"]
    targets += [f"results/samples/{m}.safetensors" for m in MODELS if MODELS[m][0] == "celeba64"]
    targets += ["results/metrics/daed_posthoc.json", f"results/metrics/dddm/{DDDM_RUN}.json"]
    env_home = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(standins / "torch_home")
    try:
        sh([tool("snakemake"), "--profile", "workflow/profiles/smoke-cpu", *targets], ws, timeout=3600)
    finally:
        if env_home is None:
            os.environ.pop("TORCH_HOME")
        else:
            os.environ["TORCH_HOME"] = env_home
    return ws, load_config(REPO / "configs" / "paper.yaml")


def test_stand_in_sets_have_the_real_shapes_and_say_so(run):
    ws, _ = run
    for name, shapes in SHAPES.items():
        path = ws / "data" / "processed" / f"{name}.safetensors"
        got = _shapes(path)
        assert {k: got[k] for k in shapes} == shapes, name
        with safe_open(str(path), "pt") as f:
            assert f.metadata()["source"].startswith("STAND-IN"), name


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_network_is_the_papers_and_its_evaluation_is_finite(run, name):
    ws, paper = run
    data, size, channels = MODELS[name]
    cfg = model_config(paper, name)
    assert cfg.data == data
    expected = {k: list(v.shape) for k, v in build_unet(cfg, image_size=size, channels=channels).state_dict().items()}
    weights = ws / "models" / name / "ema.safetensors"
    assert _shapes(weights) == expected
    with safe_open(str(weights), "pt") as f:
        assert int(f.metadata()["parameters"]) == sum(math.prod(s) for s in expected.values())
    with safe_open(str(ws / "results" / "samples" / f"{name}.safetensors"), "pt") as f:
        assert list(f.get_slice("images").get_shape()) == [10, channels, size, size]
    if data == "celeba64":
        return
    metrics = json.loads((ws / "results" / "metrics" / "ddgm" / f"{name}.json").read_text())
    assert metrics["backends"]["inception"]["n_generated"] == 10
    assert math.isfinite(metrics["backends"]["inception"]["fid"])


@pytest.mark.xfail(
    strict=True,
    reason="found by the smoke run (issue 16): every evaluation also needs the in-pipeline classifier of its data "
    "set, which cannot be trained on CelebA (no class labels: 'SmallClassifier: num_classes must be >= 2, got 1'); "
    "to fix with the next rerun of the committed presets: the classifier backend only where evaluation.backends "
    "asks for it, and the paper preset's CelebA evaluations on Inception alone",
)
def test_celeba_evaluations_need_a_metric_backend_without_labels(run):
    ws, _ = run
    sh(
        [tool("snakemake"), "--profile", "workflow/profiles/smoke-cpu", "results/metrics/ddgm/celeba_ddgm_simple.json"],
        ws,
    )


def _finite_fids(rows) -> list[float]:
    fids = [row["fid"] for row in rows]
    assert fids and all(math.isfinite(f) for f in fids), fids
    return fids


def test_the_posthoc_and_dddm_families_run_at_paper_shapes(run):
    ws, paper = run
    read = lambda rel: json.loads((ws / "results" / "metrics" / rel).read_text())  # noqa: E731
    posthoc = read("daed_posthoc.json")
    assert [r["split"] for r in posthoc["splits"]] == [split_label(p) for p in paper["daed"]["posthoc"]["split_points"]]
    assert posthoc["generator"] == paper["daed"]["posthoc"]["generator"] and posthoc["timesteps"] == 500
    _finite_fids(posthoc["splits"])

    dddm = read(f"dddm/{DDDM_RUN}.json")
    assert [r["nfe"] for r in dddm["rows"]] == [1, 2] and dddm["dataset"] == "cifar10"
    assert (dddm["timesteps"], dddm["num_res_blocks"]) == (
        paper["dddm"]["timesteps"],
        paper["dddm"]["unet"]["num_res_blocks"],
    )
    _finite_fids(dddm["rows"])
