"""The paper-shape smoke preset (issue 16, item 7): the paper preset with every job, architecture, T, resolution
and data-set shape kept and the work cut to the least that runs each job; generated, never edited."""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from diffrepro.config import ConfigError, load_config, model_config, target_location, validate_config
from diffrepro.smoke import RULES, SAMPLES, SAMPLING_STEPS, cut_sampling, smoke_config
from workflow_tools import REPO, make_workspace, sh, tool

PAPER = REPO / "configs" / "paper.yaml"
SMOKE = REPO / "configs" / "paper_smoke.yaml"


@pytest.fixture(scope="module")
def pair():
    return load_config(PAPER), load_config(SMOKE)


def test_the_committed_smoke_preset_is_the_transformation_of_the_paper_preset():
    proc = sh([tool("diffrepro"), "smoke-preset", "configs/paper.yaml", "--check", "configs/paper_smoke.yaml"], REPO)
    assert proc.returncode == 0, proc.stderr


def test_it_keeps_every_network_and_job_and_cuts_the_work(pair):
    paper, smoke = pair
    assert smoke["preset"] == "paper_smoke" and paper["preset"] == "paper"
    for section in ("datasets", "models", "gans", "replicates"):
        assert list(smoke[section]) == list(paper[section]), section
    assert list(smoke["dddm"]["runs"]) == list(paper["dddm"]["runs"])
    assert smoke["daed"]["posthoc"]["split_points"] == paper["daed"]["posthoc"]["split_points"]
    for name in paper["models"]:
        p, s = model_config(paper, name), model_config(smoke, name)
        for key in ("kind", "data", "objective", "schedule", "timesteps", "resolution", "variance", "unet"):
            assert getattr(s, key) == getattr(p, key), (name, key)
        assert s.timestep_sampler == p.timestep_sampler
        # the sampling steps are cut: ancestral becomes respaced ancestral, respaced/DDIM keep their method (the
        # post-hoc DAEs' generators too: sample-posthoc's respaced chain also passes through each split step)
        assert s.sample.method == ("respaced" if p.sample.method == "ancestral" else p.sample.method), name
        assert s.sample.steps == min(p.sample.steps or SAMPLING_STEPS, SAMPLING_STEPS)
        assert s.sample.eta == p.sample.eta
        assert (s.train.steps, s.train.batch_size, s.sample.num_samples) == (3, 2, SAMPLES)
        assert s.train.snapshots == p.train.snapshots
    for key in ("timesteps", "schedule", "unet", "conditioning", "reference_split", "datasets"):
        assert smoke["dddm"][key] == paper["dddm"][key], key
    kept = ("data", "class_conditional", "metric", "timesteps", "num_res_blocks", "base_channels", "channel_mult")
    for name, run in paper["dddm"]["runs"].items():
        mine = smoke["dddm"]["runs"][name]
        assert {k: mine.get(k) for k in kept} == {k: run.get(k) for k in kept}, name
        assert mine.get("epochs") in (None, 1)
    assert smoke["dddm"]["sample"]["steps"] == [1, 2] and smoke["dddm"]["train"]["epochs"] == 1
    assert smoke["evaluation"]["bootstrap"]["replicates"] == 20  # the schema's minimum
    assert (smoke["classifier"]["epochs"], smoke["classifier"]["width"]) == (1, 8)
    assert smoke["classifier"]["feature_dim"] == paper["classifier"]["feature_dim"]
    assert smoke["gans"] == {
        n: {**g, "train": {**g["train"], "steps": 2, "batch_size": 2, "checkpoint_every": 1, "log_every": 1}}
        for n, g in paper["gans"].items()
    }


def test_cut_sampling_keeps_the_method_where_it_already_takes_few_steps():
    assert cut_sampling({"num_samples": 10}) == {"num_samples": 10, "method": "respaced", "steps": SAMPLING_STEPS}
    assert cut_sampling({"method": "ancestral", "steps": None}) == {"method": "respaced", "steps": SAMPLING_STEPS}
    assert cut_sampling({"method": "ddim", "steps": 50, "eta": 0.5}) == {"method": "ddim", "steps": 2, "eta": 0.5}
    assert cut_sampling({"method": "respaced", "steps": 1}) == {"method": "respaced", "steps": 1}


def test_every_rule_applies_to_the_paper_preset_and_stand_ins_point_at_their_folder(tmp_path):
    from diffrepro.smoke import _apply

    raw = yaml.safe_load(PAPER.read_text())
    for dotted in RULES:
        assert _apply(yaml.safe_load(PAPER.read_text()), dotted.split("."), 0, dotted) >= 1, dotted
    roots = tmp_path / "standins"
    smoke = smoke_config(raw, standin_root=str(roots))
    offline = {n for n, d in smoke["datasets"].items() if d["root"] is None}
    assert offline == {"fashion_mnist"}
    assert smoke["datasets"]["cifar10"]["root"] == f"{roots}/cifar10" and not smoke["datasets"]["cifar10"]["download"]
    # the target sets no datasets entry reads (Table 2's CIFAR-100) read their stand-ins through target_roots
    assert smoke["analysis"]["target_roots"] == {"cifar100": f"{roots}/cifar100"}
    assert target_location(smoke, "cifar100", True) == (f"{roots}/cifar100", True)
    assert target_location(smoke, "celeba64", True) == (f"{roots}/celeba64", False)  # its datasets entry's
    assert target_location(raw, "celeba64", True) == (None, True)  # the paper preset: the registry's locations
    for name in set(smoke["datasets"]) - offline:
        (roots / name).mkdir(parents=True)
    with pytest.raises(ConfigError, match="analysis.target_roots.cifar100: .* does not exist"):
        validate_config(copy.deepcopy(smoke))
    (roots / "cifar100").mkdir()
    validate_config(smoke)  # the roots exist now


def test_snakemake_plans_the_same_jobs_for_the_smoke_and_the_paper_preset(tmp_path):
    ws = make_workspace(tmp_path / "ws", preset="params.yaml")
    counts = {}
    for preset in ("paper", "paper_smoke"):
        out = sh([tool("snakemake"), "-n", "--cores", "1", "--configfile", f"configs/{preset}.yaml"], ws).stdout
        counts[preset] = dict(re.findall(r"(?m)^(\w+)\s+(\d+)$", out))
    assert counts["paper"] == counts["paper_smoke"] and int(counts["paper"]["total"]) > 250
