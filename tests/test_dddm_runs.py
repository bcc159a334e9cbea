"""DDDM runs that depart from the dddm section (Zhang et al. Table 3's T and epochs sweep, DDDM-deep): the
section as each run trains it, their fingerprints, the table rows beside the paper's other rows, the sweep table
and the claims' choice of the metric-ablation runs."""

from __future__ import annotations

import copy

import pytest

from diffrepro.claims.sources import _dddm_run
from diffrepro.config import ConfigError, dddm_run, validate_config
from diffrepro.reporting.dddm_table import dddm_table, sweep_rows, table_rows
from diffrepro.training.dddm import dddm_fingerprint


@pytest.fixture
def config(tiny_config):
    cfg = copy.deepcopy(tiny_config)
    cfg["dddm"]["runs"]["dddm_long"] = {
        "data": "digits",
        "metric": {"name": "pseudo_huber", "c": 0.03},
        "timesteps": 60,
        "epochs": 5,
        "paper_row": "DDDM (T=8000)",
    }
    cfg["dddm"]["runs"]["dddm_deep"] = {
        "data": "digits",
        "metric": {"name": "pseudo_huber", "c": 0.03},
        "num_res_blocks": 2,
    }
    validate_config(cfg)
    return cfg


def test_a_run_trains_the_section_with_its_own_T_epochs_and_blocks(config, tiny_config):
    plain, _ = dddm_run(config, "dddm_phuber")
    long, run = dddm_run(config, "dddm_long")
    deep, _ = dddm_run(config, "dddm_deep")
    section = config["dddm"]
    assert (plain.timesteps, plain.train.epochs, plain.unet.num_res_blocks) == (
        section["timesteps"],
        section["train"]["epochs"],
        section["unet"]["num_res_blocks"],
    )
    assert (long.timesteps, long.train.epochs, long.unet.num_res_blocks) == (60, 5, section["unet"]["num_res_blocks"])
    assert (deep.timesteps, deep.unet.num_res_blocks) == (section["timesteps"], 2)
    assert run.overrides() == {"timesteps": 60, "train.epochs": 5} and run.paper_row == "DDDM (T=8000)"
    # everything else is the section's; a run without overrides is the section itself (its fingerprint unchanged)
    assert long.as_dict()["sample"] == plain.as_dict()["sample"] and long.conditioning == plain.conditioning
    before, run0 = dddm_run(tiny_config, "dddm_phuber")
    fp = {n: dddm_fingerprint(*dddm_run(config, n), seed=0, data_id="x") for n in ("dddm_phuber", "dddm_long")}
    assert fp["dddm_phuber"] == dddm_fingerprint(before, run0, seed=0, data_id="x") != fp["dddm_long"]


def test_a_run_names_only_a_row_the_paper_has(config):
    bad = copy.deepcopy(config)
    bad["dddm"]["runs"]["dddm_long"]["paper_row"] = "DDDM (T=16000)"
    with pytest.raises(ConfigError, match=r"dddm\.runs\.dddm_long\.paper_row"):
        validate_config(bad)
    with pytest.raises(ValueError, match="no row 'DDDM-huge' in Zhang et al. Table 1"):
        table_rows(_record("x", 1000, 1000, 3), "DDDM-huge")


def _record(run, T, epochs, blocks, metric="pseudo_lpips", fid=5.0):
    return {
        "run": run,
        "metric": {"name": metric, "c": 0.00014} if metric.startswith("pseudo") else metric,
        "timesteps": T,
        "epochs": epochs,
        "num_res_blocks": blocks,
        "reportable": True,
        "num_samples": 10,
        "dataset": "cifar10",
        "resolution": 32,
        "reference_split": "train",
        "rows": [
            {"nfe": k, "fid": fid + k, "precision": 0.5, "recall": 0.5, "samples_per_second": 1.0, "n_reference": 9}
            for k in (1, 2, 8)
        ],
    }


def test_the_sweep_holds_the_runs_that_differ_from_main_in_T_or_epochs_only():
    records = [
        _record("main", 1000, 1000, 3, fid=3.0),
        _record("t8000", 8000, 8000, 3, fid=2.0),
        _record("t2000", 2000, 2000, 3, fid=2.5),
        _record("odd", 2000, 500, 3, fid=9.0),  # not a row of Table 3: no paper value
        _record("deep", 1000, 1000, 6),  # another network: not in the sweep
        _record("l1", 1000, 1000, 3, metric="l1"),  # another metric: not in the sweep
    ]
    rows = sweep_rows(records, "main")
    assert [(r["run"], r["timesteps"], r["epochs"], r["fid_nfe1"], r["paper_fid_nfe1"]) for r in rows] == [
        ("main", 1000, 1000, 4.0, 2.90),
        ("odd", 2000, 500, 10.0, None),
        ("t2000", 2000, 2000, 3.5, 2.86),
        ("t8000", 8000, 8000, 3.0, 2.82),
    ]


def test_the_table_puts_each_run_beside_its_paper_row():
    main, long = _record("main", 1000, 1000, 3), _record("t8000", 8000, 8000, 3)
    rows, columns, _, _ = dddm_table(main, [(long, "DDDM (T=8000)")])
    assert "Paper method" in columns
    by = {(r["Paper method"], r["NFE"]): r for r in rows}
    assert by[("DDDM (T=1000)", 1)]["Paper FID"] == 2.90 and by[("DDDM (T=8000)", 1)]["Paper FID"] == 2.82
    assert by[("DDDM (T=8000)", 8)]["Paper FID"] == 1.74  # our largest NFE beside their 1000 steps
    assert by[("DDDM (T=8000)", 2)]["Method"] == "DDDM (t8000, T=8000)"


def test_the_claims_compare_metrics_on_the_runs_at_the_sections_settings(config):
    config["dddm"]["runs"]["dddm_a_l1_deep"] = {
        "data": "digits",
        "metric": "l1",
        "num_res_blocks": 2,
    }  # sorts before dddm_l1
    assert _dddm_run(config, "l1") == "dddm_l1"
    assert _dddm_run(config, "pseudo_huber") == "dddm_phuber"  # the main run, not dddm_long or dddm_deep
