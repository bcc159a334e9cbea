"""The paper preset: every study on its own data sets with the papers' hyperparameters, planned completely by
Snakemake (``--configfile configs/paper.yaml``) and DVC, each within the 10 seconds a researcher waits for a plan."""

from __future__ import annotations

import re
import time

import pytest
import yaml

from diffrepro.config import load_config
from workflow_tools import REPO, make_workspace, sh, tool

#: every table file of the three studies (the per-model tables, Table 2, Table 4.5, the DDDM table)
ALL_TABLES = [
    "deja_table1",
    "deja_extended",
    "deja_table7",
    "coursework_4_1",
    "coursework_4_2",
    "coursework_4_3",
    "coursework_4_4",
    "deja_table2",
    "coursework_4_5",
    "dddm_table1",
]


@pytest.fixture(scope="module")
def paper():
    return load_config(REPO / "configs" / "paper.yaml")


def test_paper_preset_covers_all_three_studies(paper):
    assert {k: d["dataset"] for k, d in paper["datasets"].items()} == {
        "fashion_mnist": "fashion_mnist",
        "cifar10": "cifar10",
        "celeba64": "celeba64",
        "imagenet64": "imagenet64",  # Table 2's ImageNet source alone
    }
    models = paper["models"]
    by_data = {d: {n for n, m in models.items() if m["data"] == d} for d in paper["datasets"]}
    # Table 2's ImageNet source, and the joint DAED whose DAE Table 4's "DAED (IN)" row takes
    assert by_data["imagenet64"] == {"in64_iddpm_vlb", "in64_iddpm_simple", "in64_daed_simple_b01"}
    # Deja et al.: T=500 on Fashion-MNIST, T=1000 on CIFAR-10 and CelebA (the DDGMs), Table 6 sizes and steps
    for name, data, T, steps, batch, channels in [
        ("ddgm_simple", "fashion_mnist", 500, 100000, 128, [1, 2, 2]),
        ("c10_ddgm_simple", "cifar10", 1000, 500000, 160, [1, 2, 2, 2]),
        ("celeba_ddgm_simple", "celeba64", 1000, 200000, 160, [1, 2, 3, 4]),
    ]:
        m = models[name]
        assert (m["data"], m["timesteps"], m["train"]["steps"], m["train"]["batch_size"]) == (data, T, steps, batch)
        assert m["unet"]["channel_mult"] == channels and m["train"]["lr"] == 1e-4
    # Table 1 rows on each data set
    for data in ("fashion_mnist", "cifar10", "celeba64"):
        rows = {models[n]["tables"].get("deja_table1") for n in by_data[data]} - {None}
        assert rows == {
            "ddgm_vlb",
            "daed_vlb_b0.1",
            "daed_vlb_linear",
            "ddgm_simple",
            "daed_simple_b0.1",
            "daed_simple_b0.001",
        }, data
    # the coursework: CIFAR-10, 150k steps, the six Table 4.3 architectures, the T=100 variant, Table 4.4 rows
    cw = {n: m for n, m in models.items() if n.startswith("cw_")}
    assert all(m["data"] == "cifar10" for m in cw.values())
    assert models["cw_default"]["train"]["steps"] == 150000
    assert {m["tables"]["coursework_4_3"] for m in cw.values() if "coursework_4_3" in m["tables"]} == {
        "Default",
        "DeepRes1",
        "ShallowRes2",
        "ShallowRes1",
        "MBConv64",
        "MBConv96",
    }
    assert any(m["timesteps"] == 100 and "coursework_4_2" in m["tables"] for m in cw.values())
    assert paper["surrogate"]["data"] == "cifar10" and paper["gans"]["sngan"]["data"] == "cifar10"
    # DDDM on CIFAR-10; 50,000 samples per evaluation everywhere; Inception metrics
    assert paper["dddm"]["datasets"] == ["cifar10", "imagenet64"] and paper["dddm"]["sample"]["num_samples"] == 50000
    assert {m["sample"]["num_samples"] for m in models.values()} == {50000}
    assert paper["surrogate"]["num_samples"] == 50000
    assert paper["evaluation"]["backends"][0] == "inception"


def test_snakemake_plans_every_table_of_the_paper_preset_within_10_s(tmp_path):
    ws = make_workspace(tmp_path / "ws", preset="params.yaml")  # the default preset is active ...
    start = time.perf_counter()
    out = sh([tool("snakemake"), "-n", "-p", "--cores", "1", "--configfile", "configs/paper.yaml"], ws).stdout
    seconds = time.perf_counter() - start
    # ... and --configfile replaces it (not merged into it): the steps read configs/paper.yaml
    assert "--params configs/paper.yaml" in out and "--params params.yaml" not in out
    # ... and writes under presets/paper/, beside the default preset's results
    for table in ALL_TABLES:
        assert f"presets/paper/results/tables/{table}.md" in out, table
    for data in ("fashion_mnist", "cifar10", "celeba64"):
        assert f"--dataset {data} --out presets/paper/data/processed/{data}.safetensors" in out
    counts = dict(re.findall(r"(?m)^(\w+)\s+(\d+)$", out))
    paper = yaml.safe_load((REPO / "configs" / "paper.yaml").read_text())
    assert int(counts["train_ddgm"]) == int(counts["evaluate"]) == len(paper["models"])
    assert int(counts["train_dddm"]) == len(paper["dddm"]["runs"])
    assert "train_classifier" not in counts and "--classifier" not in out  # Inception alone (CelebA has no labels)
    assert seconds <= 10, f"snakemake -n on the paper preset took {seconds:.1f} s"


def test_dvc_status_on_the_paper_preset_within_10_s(tmp_path):
    ws = make_workspace(tmp_path / "ws", preset="configs/paper.yaml", dvc=True)
    start = time.perf_counter()
    proc = sh([tool("dvc"), "status", "--json"], ws, check=False)
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, proc.stderr
    assert "train_ddgm@c10_ddgm_simple" in proc.stdout and "prepare_data@celeba64" in proc.stdout
    assert seconds <= 10, f"dvc status on the paper preset took {seconds:.1f} s"


def test_config_overrides_are_refused_with_the_reason(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    proc = sh([tool("snakemake"), "-n", "--cores", "1", "--config", "seed=3"], ws, check=False)
    assert proc.returncode != 0 and "--config overrides are not supported" in proc.stdout + proc.stderr


#: Deja et al. Table 6 (train steps; channels per level) and A.4 (dropout p = 0.3 for all models)
DEJA_TABLE6 = {
    "fashion_mnist": (100_000, [64, 128, 128]),
    "cifar10": (500_000, [128, 256, 256, 256]),
    "celeba64": (200_000, [128, 256, 384, 512]),
}
#: where the texts disagree with each other: (data set, Table 1 row) -> the T values printed (Table 1, extended)
DEJA_T_DISAGREEMENTS = {("celeba64", "daed_vlb_linear"): {999, 1000}}


def test_paper_preset_holds_the_values_the_texts_state(paper):
    """Every Deja et al. model of the paper preset has its table's T, Table 6's steps and channels, A.4's dropout
    and the uniform sampler for DDGMs (Sec. 4); the DDDM has Zhang et al.'s Sec. 5.1 settings."""
    from diffrepro.reporting.paper_values import DEJA_EXTENDED, DEJA_TABLE1

    checked = set()
    for name, m in paper["models"].items():
        tables = m.get("tables") or {}
        rows = {t: tables.get(t) for t in ("deja_table1", "deja_extended") if tables.get(t)}
        if not rows:
            continue
        data = m["data"]
        printed = set()
        if "deja_table1" in rows:
            printed.add(DEJA_TABLE1[data][rows["deja_table1"]]["T"])
        if "deja_extended" in rows:
            printed.add(DEJA_EXTENDED[data][rows["deja_extended"]]["T"])
        if len(printed) > 1:  # only where we know the texts disagree
            assert printed == DEJA_T_DISAGREEMENTS[(data, rows["deja_table1"])], name
        assert m["timesteps"] in printed, (name, m["timesteps"], printed)
        steps, channels = DEJA_TABLE6[data]
        assert m["train"]["steps"] == steps, name
        assert [m["unet"]["base_channels"] * k for k in m["unet"]["channel_mult"]] == channels, name
        assert m["unet"]["dropout"] == 0.3, name
        if m["kind"] == "ddgm":
            assert m["timestep_sampler"] == "uniform", name  # "for the standard DDGM ... a uniform sampler"
        checked.add((data, rows.get("deja_extended")))
    # every row of Tables 3-5 has its model but Table 4's "DAED (IN)", whose DAE is trained on ImageNet (not built)
    wanted = {(data, row) for data, table in DEJA_EXTENDED.items() for row in table}
    assert wanted - checked == {("celeba64", "daed_in_simple_b0.1")}
    d = paper["dddm"]
    assert (d["unet"]["base_channels"], d["unet"]["channel_mult"], d["unet"]["num_res_blocks"]) == (
        128,
        [1, 2, 2, 2],
        3,
    )
    assert d["unet"]["dropout"] == 0.3
    t = d["train"]
    assert (t["epochs"], t["batch_size"], t["lr"], t["ema_decay"]) == (1000, 1024, 2e-4, 0.9999)


def test_paper_preset_has_the_dddm_rows_and_sweeps(paper):
    """Zhang et al.: Table 1's three CIFAR-10 rows (a run stands beside each), Table 2's two ImageNet 64 rows,
    Table 3's T and epochs sweep, the Fig 2a metrics and a Fig 2b c sweep of both c metrics; the schema's paper
    rows are Table 1's."""
    from diffrepro.config import dddm_run
    from diffrepro.reporting.paper_values import DDDM_TABLE1, DDDM_TABLE2_IMAGENET64, DDDM_TABLE3
    from diffrepro.schema import schema_node

    runs = paper["dddm"]["runs"]
    cifar = {n: r for n, r in runs.items() if r["data"] == "cifar10"}
    rows = {r["paper_row"] for r in cifar.values() if r.get("paper_row")} | {"DDDM (T=1000)"}  # main's
    assert rows == set(DDDM_TABLE1) and runs[paper["dddm"]["main"]]["data"] == "cifar10"
    assert set(schema_node("dddm.runs.*")["properties"]["paper_row"]["enum"]) - {None} == set(DDDM_TABLE1)
    imagenet = {r["paper_row"]: n for n, r in runs.items() if r["data"] == "imagenet64"}
    assert set(imagenet) == set(DDDM_TABLE2_IMAGENET64)
    main_metric = runs[paper["dddm"]["main"]]["metric"]
    sweep = {
        (dddm_run(paper, n)[0].timesteps, dddm_run(paper, n)[0].train.epochs)
        for n, r in cifar.items()
        if r["metric"] == main_metric and not r.get("num_res_blocks")
    }
    assert sweep == set(DDDM_TABLE3)
    deep = [n for n, r in cifar.items() if r.get("paper_row") == "DDDM-deep (T=1000)"]
    assert [dddm_run(paper, n)[0].unet.num_res_blocks for n in deep] == [2 * paper["dddm"]["unet"]["num_res_blocks"]]
    metrics = {r["metric"] if isinstance(r["metric"], str) else r["metric"]["name"] for r in runs.values()}
    assert metrics == {"l1", "l2", "lpips", "pseudo_huber", "pseudo_lpips"}
    for name in ("pseudo_lpips", "pseudo_huber"):
        cs = {r["metric"]["c"] for r in runs.values() if isinstance(r["metric"], dict) and r["metric"]["name"] == name}
        assert len(cs) >= 3, name
    assert {1, 2, 1000} <= set(paper["dddm"]["sample"]["steps"]) and len(paper["dddm"]["sample"]["steps"]) >= 8


def test_paper_preset_has_the_imagenet64_dddm_runs_of_sec_5_1(paper):
    """Zhang et al. Sec. 5.1 on ImageNet 64x64: base channels 192 x (1, 2, 3, 4), 3 residual blocks (DDDM-deep:
    doubled), cross-attention at 16 and 8, class-conditional, 520 epochs at a constant lr 1e-4, batch 1024, EMA
    0.9999; its FID reference is the training split, its own (results/reference/dddm/imagenet64)."""
    from diffrepro.config import dddm_run

    runs = {r["paper_row"]: n for n, r in paper["dddm"]["runs"].items() if r["data"] == "imagenet64"}
    assert paper["datasets"]["imagenet64"]["dataset"] == "imagenet64"
    assert "imagenet64" in paper["dddm"]["datasets"] and paper["dddm"]["reference_split"] == "train"
    for row, depth in (("DDDM (T=1000)", 3), ("DDDM-deep (T=1000)", 6)):
        section, run = dddm_run(paper, runs[row])
        assert run.class_conditional and run.data == "imagenet64"
        assert section.unet.base_channels == 192 and tuple(section.unet.channel_mult) == (1, 2, 3, 4)
        assert section.unet.num_res_blocks == depth and tuple(section.unet.attention_resolutions) == (16, 8)
        assert section.conditioning == "cross_attention" and section.timesteps == 1000
        assert (section.train.epochs, section.train.lr, section.train.batch_size) == (520, 0.0001, 1024)
        assert section.train.ema_decay == 0.9999


def test_paper_preset_analyses_cover_the_papers_data_sets(paper):
    """Deja et al.'s analyses on the data sets the texts show them on: SNR (Fig 1: Fashion-MNIST and CIFAR-10;
    appendix Fig 8: the three sets), reconstruction (Fig 2: Fashion-MNIST and CIFAR-10; Fig 3: the CIFAR-10 DDGM
    on CIFAR-10 and CelebA), the loss dynamics (appendix Fig 14/15: a CIFAR-10 DDGM trained with the VLB and the
    DAED with the same betas)."""
    analysis = paper["analysis"]
    assert analysis["snr"]["data"] == ["fashion_mnist", "cifar10", "celeba64"]
    panels = analysis["reconstruction"]["panels"]
    assert [p["data"] for p in panels.values()] == ["fashion_mnist", "cifar10"]
    assert panels["cifar10"]["targets"] == ["cifar10", "celeba64"]
    models = paper["models"]
    assert all(models[p["model"]]["data"] == p["data"] for p in panels.values())
    # Table 2: the CIFAR-10 and ImageNet sources on CIFAR-10, CIFAR-100 and CelebA
    sources = analysis["transferability"]["sources"]
    c10, in64 = sources["cifar10"], sources["imagenet64"]
    assert analysis["transferability"]["beta_1"] == 0.1
    for data, src in (("cifar10", c10), ("imagenet64", in64)):
        assert src["targets"] == ["cifar10", "cifar100", "celeba64"] and src["data"] == data
        assert paper["daed"]["posthoc"]["studies"][src["posthoc"]]["data"] == data
        assert {models[m]["objective"] for m in src["models"].values()} == {"vlb", "simple"}
        assert all(models[m]["data"] == data for m in src["models"].values())
    studies = paper["daed"]["posthoc"]["studies"]
    assert [s["data"] for s in studies.values()][:3] == ["fashion_mnist", "cifar10", "celeba64"]  # Fig 4
    # Table 2 and Fig 6b: the improved-DDPM CIFAR-10 DDGMs (4000 steps, cosine), the noise of beta_1 = 0.1 at step
    # 793 of 4000 ("793 steps of the forward and backward diffusion", Sec. 6.3), the DAE of the Simple one
    from diffrepro.config import model_config
    from diffrepro.posthoc import ddgm_split_step

    for src in (c10, in64):
        for name in src["models"].values():
            assert (models[name]["timesteps"], models[name]["schedule"]) == (4000, "cosine")
            assert ddgm_split_step(model_config(paper, name), 0.1) == 793  # alpha_bar_793 = 0.9001 (0-based t)
        assert studies[src["posthoc"]]["generator"] == src["models"]["simple"]
    # Fig 6a: CelebA reconstructed by the CelebA-trained DDGM and DAED (a source of its own) and the ImageNet ones
    celeba = sources["celeba64"]
    assert (celeba["data"], celeba["targets"], celeba["posthoc"]) == ("celeba64", ["celeba64"], "celeba64")
    assert {models[m]["data"] for m in celeba["models"].values()} == {"celeba64"} and "celeba64" in in64["targets"]
    # the improved-DDPM ImageNet-64 U-Net: 128 channels x (1, 2, 3, 4), 3 residual blocks, attention at 16 and 8
    unet = models["in64_iddpm_simple"]["unet"]
    assert (unet["channel_mult"], unet["num_res_blocks"], unet["attention_resolutions"]) == ([1, 2, 3, 4], 3, [16, 8])
    toy = analysis["toy_examples"]
    assert (toy["model"], toy["posthoc"]) == (c10["models"]["simple"], c10["posthoc"])
    ddgm, daed = models[analysis["dynamics"]["ddgm"]], models[analysis["dynamics"]["daed"]]
    assert ddgm["data"] == daed["data"] == "cifar10" and ddgm["objective"] == daed["objective"] == "vlb"
    assert daed["kind"] == "daed" and ddgm["timesteps"] == 1000 and daed["timesteps"] == 999  # the first step detached


def test_table4_daed_in_row_is_the_celeba_generator_with_an_imagenet_dae(paper):
    """Deja et al. Table 4 "DAED (IN) β1=0.1, Simple, T=900" (Fig 13: "the DDGM part was trained on CelebA dataset
    while DAE on ImageNet"): a composed DAED of the CelebA Simple β1=0.1 joint DAED's generator and the DAE of the
    same network trained on ImageNet 64x64; every published CelebA row of Table 4 has a model or composed entry."""
    from diffrepro.reporting.paper_values import DEJA_EXTENDED

    composed = paper["daed"]["composed"]
    assert list(composed) == ["celeba_daed_in_simple_b01"]
    entry = composed["celeba_daed_in_simple_b01"]
    gen, dae = paper["models"][entry["generator"]], paper["models"][entry["dae"]]
    assert (entry["data"], gen["data"], dae["data"]) == ("celeba64", "celeba64", "imagenet64")
    assert entry["tables"] == {"deja_extended": "daed_in_simple_b0.1"}
    assert DEJA_EXTENDED["celeba64"]["daed_in_simple_b0.1"]["T"] == gen["timesteps"] == dae["timesteps"] == 900
    for key in ("kind", "objective", "schedule", "timesteps", "unet", "variance", "resolution"):
        assert gen[key] == dae[key], key
    assert gen["objective"] == "simple" and gen["schedule"] == {"name": "linear_combine", "beta_1": 0.1}
    rows = {m["tables"].get("deja_extended") for m in paper["models"].values() if m["data"] == "celeba64"}
    rows |= {c["tables"].get("deja_extended") for c in composed.values() if c["data"] == "celeba64"}
    assert set(DEJA_EXTENDED["celeba64"]) <= rows


def test_fig6a_sets_the_celeba_and_imagenet_sources_side_by_side(paper):
    """Deja et al. Sec. 6.3: "In columns 3-6 in Figure 6.a, we present reconstructions for the DDGM trained on CelebA,
    the DDGM trained on ImageNet, DAED trained on CelebA, and DAED trained on ImageNet, respectively" (columns 1-2:
    the clean and the noisy image)."""
    transfer = paper["analysis"]["transferability"]
    fig = transfer["figures"]["fig6a"]
    assert fig["target"] == "celeba64"
    cols = [(c["source"], c["model"]) for c in fig["columns"]]
    assert cols == [("celeba64", "simple"), ("imagenet64", "simple"), ("celeba64", "DAED"), ("imagenet64", "DAED")]
    assert [transfer["sources"][s]["data"] for s, _ in cols] == ["celeba64", "imagenet64"] * 2
