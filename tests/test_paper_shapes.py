"""The paper-shape smoke run (issue 16, item 7), one model per data set and family: the real Snakemake DAG runs
the smoke preset of configs/paper.yaml on stand-in CIFAR-10 and CelebA files and Fashion-MNIST, from data
preparation through training, sampling and evaluation, for

* a DDGM and a joint DAED on each of Fashion-MNIST (28 px, T=500), CIFAR-10 (32 px, T=1000) and CelebA (64 px);
* the post-hoc DAEs (every split point) of the Fashion-MNIST study;
* a DDDM run (CIFAR-10, cross-attention to x_bar, Pseudo-LPIPS on the stand-in backbone of
  ``diffrepro standin-weights``);
* ImageNet 64: the improved-DDPM DDGM of Table 2's source (T=4000, cosine), the joint DAED whose DAE is Table 4's
  "DAED (IN)" and the class-conditional DDDM of Zhang et al.'s Table 2 (192 x (1, 2, 3, 4) channels, 299M
  parameters with a 1000-class label embedding). Their processed file is a small one in the real format (64 px,
  labels up to 999) placed in the workspace: the stand-in of the official 1.28M images is 16 GB, which the whole
  smoke run writes and prepares (README).

The surrogate diffusion (coursework Table 4.5) is the smoke run's only: its chains take the respaced steps of
``surrogate.steps`` (``diffrepro.diffusion.surrogate.chain_steps``), checked in tests/test_surrogate.py.

Checked: every job succeeds; each trained network has exactly the tensors (names and shapes) of the network that
configs/paper.yaml describes, built independently here; the processed stand-in sets have the real sets' shapes and
say STAND-IN in their source; every evaluation holds a finite FID on the Inception backend, the paper preset's only
one (no classifier is trained: CelebA has no class labels); the CelebA joint DAED's training job stays far below
the 18 GB it took when its test-error record ran 256 images in one batch.
"""

from __future__ import annotations

import json
import math
import os

import pytest
import yaml
from safetensors import safe_open

from diffrepro.config import load_config, model_config, split_label
from diffrepro.diffusion.samplers import chain_timesteps
from diffrepro.factory import build_unet
from diffrepro.smoke import SAMPLING_STEPS, smoke_config
from workflow_tools import REPO, make_workspace, sh, tool

pytestmark = pytest.mark.e2e

#: one model per data set and family: name -> (data set, resolution, channels)
MODELS = {
    "ddgm_simple": ("fashion_mnist", 28, 1),
    "daed_simple_b01": ("fashion_mnist", 28, 1),
    "c10_ddgm_simple": ("cifar10", 32, 3),
    "c10_daed_simple_b01": ("cifar10", 32, 3),
    "celeba_ddgm_simple": ("celeba64", 64, 3),
    "celeba_daed_simple_b01": ("celeba64", 64, 3),  # 242 M parameters (generator and DAE)
    "in64_iddpm_simple": ("imagenet64", 64, 3),  # Table 2's ImageNet source, T=4000
    "in64_daed_simple_b01": ("imagenet64", 64, 3),  # the DAE of Table 4's "DAED (IN)"
}
#: the peak resident memory (MB, Snakemake's benchmark) the CelebA joint DAED's training may take: 18,300 MB when
#: its test-error record ran the 256 test images through the DAE in one batch, 15,590 MB while the training images
#: were held as float32 (8 GB), 8,740 MB measured with uint8 images converted a batch at a time
DAED_TRAIN_PEAK_MB = 12000
#: the real sets' split shapes (images), which the stand-ins keep
SHAPES = {
    "cifar10": {"train_images": [50000, 3, 32, 32], "test_images": [10000, 3, 32, 32]},
    "celeba64": {"train_images": [162770, 3, 64, 64], "test_images": [19962, 3, 64, 64]},
}
DDDM_RUN = "dddm_pseudo_lpips"
#: the class-conditional ImageNet 64 DDDM run (Zhang et al. Table 2)
DDDM_IN64 = "dddm_in64"


def _small_imagenet64(path) -> None:
    """A processed ImageNet 64 file in the real format with 24 train and 16 test images (seeded noise) whose labels
    reach class 999, so a conditional run has the 1000 classes of the real set."""
    import numpy as np

    from diffrepro.data import save_processed
    from diffrepro.data.dataset import LoadedDataset, Split

    rng = np.random.default_rng(0)

    def split(n: int) -> Split:
        labels = (np.arange(n, dtype=np.int64) * 97) % 1000
        labels[-1] = 999
        return Split(rng.integers(0, 256, (n, 3, 64, 64), dtype=np.uint8), labels)

    data = LoadedDataset("imagenet64", {"train": split(24), "test": split(16)}, "STAND-IN (test subset) imagenet64")
    path.parent.mkdir(parents=True, exist_ok=True)
    save_processed(path, data, None)


#: the post-hoc study run (its DAEs at every split point): Fashion-MNIST's
POSTHOC_STUDY = "fashion_mnist"


def _shapes(path) -> dict[str, list[int]]:
    with safe_open(str(path), "pt") as f:
        return {k: list(f.get_slice(k).get_shape()) for k in f.keys()}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("paper_shapes")
    standins = base / "standins"
    for name in ("cifar10", "cifar100", "celeba64"):
        sh([tool("diffrepro"), "standin-data", "--dataset", name, "--out", str(standins / name)], REPO, timeout=900)
    # ImageNet-64's stand-in is 16 GB (its official size): no job this test runs reads it, the folder only has to be
    # there for the preset's validation (the whole smoke run writes it: README)
    (standins / "imagenet64").mkdir()
    sh([tool("diffrepro"), "standin-weights", "--out", str(standins / "torch_home")], REPO)
    ws = make_workspace(base / "ws", preset="configs/paper.yaml")
    _small_imagenet64(ws / "data" / "processed" / "imagenet64.safetensors")
    smoke = smoke_config(yaml.safe_load((ws / "params.yaml").read_text()), standin_root=str(standins))
    smoke["preset"] = "default"  # the workspace runs it as its default preset: artifacts at its top
    (ws / "params.yaml").write_text(yaml.safe_dump(smoke, sort_keys=False))
    targets = [f"results/metrics/ddgm/{m}.json" for m in MODELS]
    targets += [f"results/metrics/daed_posthoc/{POSTHOC_STUDY}.json", f"results/metrics/dddm/{DDDM_RUN}.json"]
    targets += [f"results/metrics/dddm/{DDDM_IN64}.json"]
    # as the README's smoke command: the stand-in LPIPS backbones, and both cores for each network job
    env = {"TORCH_HOME": str(standins / "torch_home"), "DIFFREPRO_THREADS": "2"}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        sh([tool("snakemake"), "--profile", "workflow/profiles/smoke-cpu", *targets], ws, timeout=3600)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k)
            else:
                os.environ[k] = v
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
    metrics = json.loads((ws / "results" / "metrics" / "ddgm" / f"{name}.json").read_text())
    assert set(metrics["backends"]) == {"inception"} and metrics["backends"]["inception"]["n_generated"] == 10
    assert math.isfinite(metrics["backends"]["inception"]["fid"])


def test_no_classifier_is_trained_and_the_celeba_daed_fits_in_memory(run):
    """The paper preset evaluates on Inception alone (CelebA has no class labels to train the in-pipeline
    classifier on; the smoke run found every evaluation failing on it before): no classifier job ran, no
    reference features of a classifier exist. The CelebA joint DAED trained within DAED_TRAIN_PEAK_MB."""
    ws, _ = run
    assert not (ws / "models" / "classifier").exists() and not (ws / "benchmarks" / "train_classifier").exists()
    assert sorted(p.name for p in (ws / "results" / "reference" / "celeba64").iterdir()) == ["inception.safetensors"]
    header, row = (ws / "benchmarks" / "train_ddgm" / "celeba_daed_simple_b01.tsv").read_text().splitlines()[:2]
    peak = float(dict(zip(header.split("\t"), row.split("\t"), strict=True))["max_rss"])
    assert 0 < peak < DAED_TRAIN_PEAK_MB, peak


def _finite_fids(rows) -> list[float]:
    fids = [row["fid"] for row in rows]
    assert fids and all(math.isfinite(f) for f in fids), fids
    return fids


def test_the_posthoc_and_dddm_families_run_at_paper_shapes(run):
    ws, paper = run
    read = lambda rel: json.loads((ws / "results" / "metrics" / rel).read_text())  # noqa: E731
    posthoc = read(f"daed_posthoc/{POSTHOC_STUDY}.json")
    assert [r["split"] for r in posthoc["splits"]] == [split_label(p) for p in paper["daed"]["posthoc"]["split_points"]]
    generator = paper["daed"]["posthoc"]["studies"][POSTHOC_STUDY]["generator"]
    assert posthoc["generator"] == generator and posthoc["timesteps"] == 500
    # the generator's respaced chain (the smoke cut: its 2 evenly spaced steps) passes through every split step
    splits = [r["split_step"] for r in posthoc["splits"]]
    chain = chain_timesteps(500, "respaced", SAMPLING_STEPS, splits)
    assert [r["generator_calls"] for r in posthoc["splits"]] == [sum(t > s for t in chain) for s in splits]
    assert len(chain) == len(set(splits) | {0, 499})
    _finite_fids(posthoc["splits"])

    dddm = read(f"dddm/{DDDM_RUN}.json")
    assert [r["nfe"] for r in dddm["rows"]] == [1, 2] and dddm["dataset"] == "cifar10"
    assert (dddm["timesteps"], dddm["num_res_blocks"]) == (
        paper["dddm"]["timesteps"],
        paper["dddm"]["unet"]["num_res_blocks"],
    )
    _finite_fids(dddm["rows"])


def test_the_class_conditional_imagenet64_dddm_runs_at_paper_shape(run):
    """Zhang et al. Table 2's DDDM: its network is the one the paper preset describes (192 x (1, 2, 3, 4), three
    blocks, cross-attention at 16 and 8) with a label embedding of the 1000 classes; its samples keep their classes
    and are evaluated against ImageNet 64's own training-split reference."""
    from diffrepro.config import dddm_run
    from diffrepro.diffusion.dddm import build_dddm_unet

    ws, paper = run
    section, run_cfg = dddm_run(paper, DDDM_IN64)
    assert run_cfg.class_conditional and run_cfg.data == "imagenet64"
    net = build_dddm_unet(section.unet, image_size=64, channels=3, conditioning=section.conditioning, num_classes=1000)
    expected = {k: list(v.shape) for k, v in net.state_dict().items()}
    weights = ws / "models" / "dddm" / DDDM_IN64 / "ema.safetensors"
    assert _shapes(weights) == expected and expected["label_embed.weight"][0] == 1000
    with safe_open(str(weights), "pt") as f:
        meta = f.metadata()
    assert meta["num_classes"] == "1000" and int(meta["parameters"]) == sum(math.prod(s) for s in expected.values())
    with safe_open(str(ws / "results" / "samples" / "dddm" / f"{DDDM_IN64}.safetensors"), "pt") as f:
        labels, images = f.get_tensor("labels"), list(f.get_slice("images_nfe1").get_shape())
    assert images == [10, 3, 64, 64] and labels.shape == (10,) and int(labels.max()) < 1000
    metrics = json.loads((ws / "results" / "metrics" / "dddm" / f"{DDDM_IN64}.json").read_text())
    assert metrics["dataset"] == "imagenet64" and metrics["reference_split"] == "train"
    assert sorted(p.name for p in (ws / "results" / "reference" / "dddm" / "imagenet64").iterdir()) == [
        "inception.safetensors"
    ]
    _finite_fids(metrics["rows"])
