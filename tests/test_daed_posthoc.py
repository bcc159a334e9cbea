"""Post-hoc DAED sampling, split labels, the bf16 precision wrapper, the training-dynamics sums and the
DAED tables in the paper's layout."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
import yaml

from diffrepro.analysis.dynamics import contributions, read_terms
from diffrepro.artifacts.ddgm import weights_metadata
from diffrepro.cli import main as cli_main
from diffrepro.config import ConfigError, model_config, posthoc_splits, split_label, validate_config
from diffrepro.diffusion.daed import daed_sample
from diffrepro.diffusion.schedules import alphas_cumprod, split_step
from diffrepro.factory import build_betas, build_diffusion, build_unet
from diffrepro.models.precision import with_precision
from diffrepro.reporting.tables import TABLES
from diffrepro.tensorfile import read_metadata, save_safetensors
from diffrepro.timing import read_timing

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny():
    return yaml.safe_load((REPO / "configs/tiny.yaml").read_text())


def test_split_labels_are_the_values_as_written(tiny):
    assert split_label(0.1) == "0.1" and split_label(0.001) == "0.001" and split_label("linear") == "linear"
    assert posthoc_splits(tiny) == {"0.1": 0.1, "linear": "linear"}


def test_config_rejects_a_posthoc_generator_that_is_a_daed_and_an_unknown_beta(tiny):
    bad = copy.deepcopy(tiny)
    bad["daed"]["posthoc"]["studies"]["digits"]["generator"] = "daed_combine"
    with pytest.raises(ConfigError, match="daed.posthoc.studies.digits.generator.*kind daed"):
        validate_config(bad)
    bad = copy.deepcopy(tiny)
    bad["models"]["ddgm_a"]["sample"].update(method="ddim", steps=4)
    with pytest.raises(ConfigError, match="models.ddgm_a.sample.method: 'ddim'.*post-hoc study 'digits'"):
        validate_config(bad)
    bad = copy.deepcopy(tiny)
    bad["analysis"]["transferability"]["beta_1"] = 0.2
    with pytest.raises(ConfigError, match="analysis.transferability.beta_1: 0.2 is not one of"):
        validate_config(bad)
    bad = copy.deepcopy(tiny)
    bad["analysis"]["dynamics"]["daed"] = "ddgm_a"
    with pytest.raises(ConfigError, match="analysis.dynamics.daed.*a daed is needed"):
        validate_config(bad)


def test_bf16_wrapper_returns_float32_close_to_fp32():
    torch.manual_seed(0)
    net = torch.nn.Conv2d(1, 1, 3, padding=1)
    model = lambda x, t: net(x)  # noqa: E731
    x, t = torch.randn(4, 1, 8, 8), torch.zeros(4, dtype=torch.long)
    assert with_precision(model, "fp32", "cpu") is model
    out = with_precision(model, "bf16", "cpu")(x, t)
    ref = model(x, t)
    assert out.dtype == torch.float32
    assert torch.allclose(out, ref, atol=0.05) and not torch.equal(out, ref)
    with pytest.raises(ValueError, match="unknown precision 'fp16'"):
        with_precision(model, "fp16", "cpu")


@pytest.mark.parametrize("s", [0, 3, 17])
def test_sampler_states_are_what_daed_sample_hands_to_the_dae(tiny, s):
    mcfg = model_config(tiny, "ddgm_a")
    diffusion = build_diffusion(mcfg)
    torch.manual_seed(0)
    net = build_unet(mcfg, image_size=8, channels=1).eval()
    states = {}
    diffusion.sample(
        net,
        (3, 1, 8, 8),
        generator=torch.Generator().manual_seed(5),
        on_state=lambda t, x: states.__setitem__(t, x.clone()),
    )
    assert sorted(states) == list(range(diffusion.num_timesteps))
    seen = []

    def dae(x, t):
        seen.append((x.clone(), t.clone()))
        return torch.zeros_like(x)

    daed_sample(
        diffusion,
        net,
        dae,
        (3, 1, 8, 8),
        split_step=s,
        variance="fixed_small",
        generator=torch.Generator().manual_seed(5),
    )
    assert len(seen) == 1 and bool((seen[0][1] == s).all())
    torch.testing.assert_close(seen[0][0], states[s], rtol=0, atol=0)


def _write_params(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _write_generator(tmp_path: Path, config: dict):
    """ddgm_a's config, a seeded network of it and its weights' metadata; the weights in ``gen.safetensors``."""
    mcfg = model_config(config, "ddgm_a")
    torch.manual_seed(0)
    net = build_unet(mcfg, image_size=8, channels=1)
    meta = weights_metadata("ddgm_a", mcfg, {"dataset": "digits"}, 8, 1, 20, 1)
    save_safetensors(net.state_dict(), tmp_path / "gen.safetensors", meta)
    return mcfg, net, meta


@pytest.mark.parametrize("method", ["ancestral", "respaced"])
def test_sample_posthoc_counts_calls_and_writes_every_split(tiny, tmp_path, monkeypatch, method):
    """The generator's chain (all T steps, or respaced on 2 steps plus every split step) runs once per batch and
    each split point's DAE once per batch; the timing counts the generator calls down to each split step."""
    config = copy.deepcopy(tiny)
    config["models"]["ddgm_a"]["sample"].update(
        num_samples=6, batch_size=4, method=method, steps=None if method == "ancestral" else 2
    )
    params = _write_params(tmp_path, config)
    mcfg, net, meta = _write_generator(tmp_path, config)
    ab = alphas_cumprod(build_betas(mcfg))
    splits = {"0.1": split_step(ab, 0.1), "linear": 0}
    for label, s in splits.items():
        (tmp_path / "daes" / label).mkdir(parents=True)
        save_safetensors(
            net.state_dict(), tmp_path / "daes" / label / "ema.safetensors", {**meta, "split_step": str(s)}
        )
    calls = {"count": 0, "t": []}
    from diffrepro.models import unet as unet_module

    original = unet_module.UNet.forward

    def counting(self, x, t):
        calls["count"] += 1
        calls["t"].append(int(t[0]))
        return original(self, x, t)

    monkeypatch.setattr(unet_module.UNet, "forward", counting)
    rc = cli_main(
        [
            "sample-posthoc",
            "--params",
            str(params),
            "--study",
            "digits",
            "--generator",
            str(tmp_path / "gen.safetensors"),
            "--daes",
            str(tmp_path / "daes"),
            "--out",
            str(tmp_path / "out"),
            "--timing",
            str(tmp_path / "timing.json"),
            "--device",
            "cpu",
        ]
    )
    assert rc in (0, None)
    T = mcfg.timesteps
    chain = list(range(T)) if method == "ancestral" else sorted({0, T - 1, *splits.values()})
    n = len(chain)
    assert 0 < splits["0.1"] < T - 1 and n == (T if method == "ancestral" else 3)
    # two batches (4 + 2) of the generator's chain, then one DAE call per batch per split point
    assert calls["count"] == 2 * n + 2 * len(splits)
    assert calls["t"][:n] == chain[::-1]
    assert sorted(calls["t"][2 * n :]) == sorted([s for s in splits.values() for _ in range(2)])
    timing = read_timing(tmp_path / "timing.json", "sample-posthoc digits")
    assert timing["study"] == "digits" and timing["generator"] == "ddgm_a"
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.suffix == ".json") == []  # no timing inside
    for label, s in splits.items():
        assert (tmp_path / "out" / f"{label}.png").is_file()
        assert timing["splits"][label]["generator_calls"] == sum(t > s for t in chain)
        assert method == "respaced" or sum(t > s for t in chain) == T - 1 - s
        assert timing["splits"][label]["dae_calls"] == 1
        assert timing["splits"][label]["seconds_per_sample"] > 0
        assert "seconds_per_sample" not in read_metadata(tmp_path / "out" / f"{label}.safetensors")


def test_dynamics_contributions_against_hand_sums(tmp_path):
    path = tmp_path / "terms.csv"
    path.write_text("t,nll_bpd,cumulative_bpd,fraction_of_total\n1,3.0,3,0.75\n2,0.5,3.5,0.875\n3,0.5,4,1\n")
    terms = read_terms(str(path))
    full = contributions(terms)
    assert full["cumulative"] == [3.0, 3.5, 4.0] and full["first_step_share"] == 0.75
    rest = contributions(terms, skip_first=True)
    assert rest["cumulative"] == [0.5, 1.0] and rest["total"] == 1.0
    path.write_text("t,nll_bpd\n1,1\n3,1\n")
    with pytest.raises(ValueError, match="without gaps"):
        read_terms(str(path))


def _record(model, kind, objective, T, fid, table_key, table, schedule="linear", options=None, params=1_000_000):
    return {
        "tables": {table: table_key},
        "metrics": {
            "model": model,
            "kind": kind,
            "objective": objective,
            "schedule": schedule,
            "schedule_options": options or {},
            "timesteps": T,
            "fid": fid,
            "precision": 0.5,
            "recall": 0.25,
            "classifier_score_mean": 2.0,
            "classifier_score_std": 0.1,
            "samples_per_second": 4.0,
            "unet": {"base_channels": 16, "num_res_blocks": 1},
            "n_generated": 500,
            "backend": "inception",
            "backends": {
                "inception": {
                    "fid": fid,
                    "precision": 0.5,
                    "recall": 0.25,
                    "prd_precision": 0.4,
                    "prd_recall": 0.3,
                    "sfid": 2.0,
                    "kid_mean": 0.001,
                    "score_mean": None,
                    "score_std": None,
                    "n_generated": 500,
                },
                "classifier": {
                    "fid": fid / 10,
                    "precision": 0.5,
                    "recall": 0.25,
                    "prd_precision": 0.4,
                    "prd_recall": 0.3,
                    "sfid": None,
                    "kid_mean": 0.001,
                    "score_mean": 2.0,
                    "score_std": 0.1,
                    "n_generated": 500,
                },
            },
        },
        "nll": {"bits_per_dim": 3.5},
        "train": {"parameters": params, "seconds_per_step": 0.1},
    }


def test_deja_tables_follow_the_paper_rows_with_ours_beside():
    records = [
        _record("ddgm_simple", "ddgm", "simple", 500, 1.5, "ddgm_simple", "deja_extended"),
        _record(
            "daed_simple",
            "daed",
            "simple",
            499,
            1.2,
            "daed_simple_b0.001",
            "deja_extended",
            schedule="linear_combine",
            options={"beta_1": 0.001},
        ),
        _record("extra", "ddgm", "vlb", 500, 9.0, None, "deja_extended"),
    ]
    rows, columns, _, _ = TABLES["deja_extended"](records, "fashion_mnist")
    assert [r["Paper row"] for r in rows][:5] == [
        "ddgm_vlb",
        "daed_vlb_b0.1",
        "daed_vlb_b0.025",
        "daed_vlb_linear",
        "ddgm_simple",
    ]
    by_row = {r["Paper row"]: r for r in rows}
    assert by_row["ddgm_simple"]["FID [Inception]"] == 1.5 and by_row["ddgm_simple"]["Paper FID"] == 7.8
    assert by_row["ddgm_simple"]["FID [classifier]"] == 0.15 and by_row["ddgm_simple"]["Prec [Inception]"] == 40.0
    assert (
        by_row["ddgm_simple"]["IS [Inception]"] == "n/a" and by_row["ddgm_simple"]["IS [classifier]"] == "2.00 ± 0.10"
    )
    assert by_row["ddgm_simple"]["sFID [classifier]"] == "n/a" and by_row["ddgm_simple"]["N"] == 500
    assert columns.index("FID [Inception]") < columns.index("FID [classifier]")
    assert by_row["daed_simple_b0.001"]["Split"] == "β1=0.001" and by_row["daed_simple_b0.001"]["Paper T"] == 499
    assert "FID [Inception]" not in by_row["daed_vlb_b0.1"] and by_row["daed_vlb_b0.1"]["Paper FID"] == 9.1
    assert rows[-1]["Model"] == "extra" and rows[-1]["Paper row"] == "-"
    assert len(rows) == 10 + 1


def test_deja_table7_rows_params_and_seconds():
    records = [
        _record("ddgm_simple", "ddgm", "simple", 500, 1.5, "DDGM", "deja_table7", params=2_500_000),
        _record("daed_simple", "daed", "simple", 499, 1.2, "DAED", "deja_table7", params=5_000_000),
    ]
    rows, _, title, _ = TABLES["deja_table7"](records, "fashion_mnist")
    assert title.startswith("Table 7")
    by_row = {r["Paper row"]: r for r in rows}
    assert by_row["DDGM"]["Params (M)"] == 2.5 and by_row["DDGM"]["Seconds/sample"] == 0.25
    assert by_row["DAED"]["Params (M)"] == 5.0 and by_row["DAED"]["Paper Params (M)"] == 17.6
    assert by_row["DDGM 2x blocks"].get("Model") is None and by_row["DDGM 2x blocks"]["Paper FID"] == 7.5


def test_train_dae_trains_every_split_point_of_its_study(tiny, tmp_path):
    """One job per post-hoc study: a DAE per split point, each from the study's generator, with its own split step
    in its weights; one loss CSV (a split column) and one summary; the checkpoints go once all is written; a rerun
    writes the same bytes, and a study the parameters do not hold is refused."""
    import csv
    import json

    from diffrepro.data import load_dataset, save_processed
    from diffrepro.posthoc import ddgm_split_step

    config = copy.deepcopy(tiny)
    config["daed"]["posthoc"]["train"].update(steps=2, checkpoint_every=2, log_every=1, batch_size=4)
    config["daed"]["denoiser_test_images"] = 7
    params = _write_params(tmp_path, config)
    mcfg = _write_generator(tmp_path, config)[0]
    data = tmp_path / "digits.safetensors"
    save_processed(data, load_dataset("digits"), 8)

    def train(study: str, out: str) -> int:
        argv = ["train-dae", "--params", str(params), "--study", study, "--device", "cpu"]
        argv += ["--generator", str(tmp_path / "gen.safetensors"), "--data", str(data)]
        argv += ["--checkpoint-dir", str(tmp_path / out / "ckpt"), "--weights-dir", str(tmp_path / out / "daes")]
        argv += ["--loss-csv", str(tmp_path / out / "loss.csv"), "--summary", str(tmp_path / out / "summary.json")]
        return cli_main([*argv, "--timing", str(tmp_path / out / "timing.json")])

    assert train("digits", "a") in (0, None)
    out = tmp_path / "a"
    expected = {"0.1": ddgm_split_step(mcfg, 0.1), "linear": 0}
    for label, s in expected.items():
        md = read_metadata(out / "daes" / label / "ema.safetensors")
        assert (md["split"], md["split_step"], md["generator"]) == (label, str(s), "ddgm_a")
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["study"], summary["generator"]) == ("digits", "ddgm_a")
    assert {k: v["split_step"] for k, v in summary["splits"].items()} == expected
    assert all(v["steps"] == 2 for v in summary["splits"].values())
    # each DAE's reconstruction error at its split step, on the first daed.denoiser_test_images test images
    for label, s in expected.items():
        error = summary["splits"][label]["denoiser_test_error"]
        assert (error["images"], error["split_step"]) == (7, s) and 0 < error["mae"] < 1 and error["mae_sem"] > 0
    with open(out / "loss.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["split"], r["step"]) for r in rows] == [(k, str(i)) for k in expected for i in (1, 2)]
    assert set(read_timing(out / "timing.json", "train-dae digits")["splits"]) == set(expected)
    assert not (out / "ckpt").exists()  # checkpoints removed once every split point's outputs are written
    # the same study again: the same weights (seeded; the DAE of a split point does not depend on the others)
    assert train("digits", "b") in (0, None)
    for label in expected:
        a, b = (tmp_path / d / "daes" / label / "ema.safetensors" for d in ("a", "b"))
        assert a.read_bytes() == b.read_bytes()
    assert train("cifar", "c") == 1 and not (tmp_path / "c" / "daes").exists()


def test_posthoc_figure_draws_a_panel_per_study(tiny, tmp_path, capsys):
    """Fig 4: a panel per study in the parameters' order, from the studies' CSVs; a missing CSV is named."""
    from diffrepro.steps.posthoc_figure import read_study

    config = copy.deepcopy(tiny)
    config["datasets"]["faces"] = dict(config["datasets"]["digits"])  # a second data set (the same images)
    config["models"]["ddgm_b"]["data"] = "faces"
    config["daed"]["posthoc"]["studies"]["faces"] = {"data": "faces", "generator": "ddgm_b"}
    params = _write_params(tmp_path, config)
    csvs = tmp_path / "fid_vs_split"
    csvs.mkdir()
    header = "split,beta_1,split_step,t_fraction,log_snr,fid,kid_mean,precision,recall,generator_calls\n"
    (csvs / "digits.csv").write_text(
        header + "ddgm,,,,,50.5,,,,40\n0.1,0.1,3,0.1,2.2,60.25,,,,36\nlinear,linear,0,0.025,5,52,,,,39\n"
    )
    argv = ["posthoc-figure", "--params", str(params), "--studies", str(csvs), "--out-png", str(tmp_path / "f.png")]
    assert cli_main(argv) == 1 and not (tmp_path / "f.png").exists()
    assert "faces.csv does not exist" in capsys.readouterr().err  # the faces study's CSV is missing
    (csvs / "faces.csv").write_text(header + "ddgm,,,,,nan,,,,40\n0.1,0.1,3,0.1,2.2,70,,,,36\n")
    assert cli_main(argv) in (0, None)
    assert (tmp_path / "f.png").stat().st_size > 0 and (tmp_path / "f.svg").stat().st_size > 0
    ddgm, points = read_study(csvs / "digits.csv")
    assert ddgm == 50.5 and [(p["split"], p["log_snr"], p["fid"]) for p in points] == [
        ("0.1", 2.2, 60.25),
        ("linear", 5.0, 52.0),
    ]
    assert read_study(csvs / "faces.csv")[0] is None  # a generator without a finite FID draws no line
    (csvs / "faces.csv").write_text("split,fid\n0.1,3\n")
    with pytest.raises(Exception, match="not an evaluate-posthoc CSV"):
        read_study(csvs / "faces.csv")
