"""DDDM: the loss metrics (closed forms, LPIPS weight handling), the memory-mapped x_bar store, training
(store updates, w schedule, bit-identical resume, NaN stop), N-step sampling and the two CLI steps."""

from __future__ import annotations

import copy
import csv
import json
import math
from pathlib import Path

import jsonschema
import pytest
import torch
import yaml
from safetensors import safe_open

from diffrepro.cli import main as cli_main
from diffrepro.config import ConfigError, load_schema, validate_config
from diffrepro.diffusion.dddm import dddm_loss, dddm_sample, loss_weight, sample_times
from diffrepro.diffusion.dddm_losses import (
    LpipsWeightsMissingError,
    Metric,
    build_metric,
    lpips_backbone_path,
    normalize_metric,
)
from diffrepro.diffusion.schedules import alphas_cumprod
from diffrepro.errors import DiffreproError
from diffrepro.imaging import to_model_range
from diffrepro.models import unet as unet_module
from diffrepro.tensorfile import save_safetensors
from diffrepro.timing import read_timing
from diffrepro.training.dddm import dddm_betas, epoch_order, train_dddm
from diffrepro.training.engine import TrainingDivergedError
from diffrepro.training.xbar_store import XBarStore

DDDM = {
    "timesteps": 40,
    "schedule": "linear",
    "unet": {
        "base_channels": 8,
        "channel_mult": [1, 2],
        "num_res_blocks": 1,
        "attention_resolutions": [],
        "num_heads": 2,
        "dropout": 0.0,
    },
    "conditioning": "concat",
    "reference_split": "test",
    "train": {
        "epochs": 2,
        "subset": 16,
        "batch_size": 4,
        "lr": 0.001,
        "grad_clip": 1.0,
        "ema_decay": 0.9,
        "checkpoint_every": 2,
        "log_every": 1,
        "store_dtype": "float16",
        "precision": "fp32",
    },
    "sample": {"steps": [1, 2], "num_samples": 6, "batch_size": 4, "precision": "fp32"},
    "runs": {
        "l1": {"data": "digits", "metric": "l1"},
        "ph": {"data": "digits", "metric": {"name": "pseudo_huber", "c": 0.03}},
    },
    "main": "ph",
}
SEED = 3


def _cfg(**train) -> dict:
    cfg = copy.deepcopy(DDDM)
    cfg["train"].update(train)
    return cfg


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.randint(0, 256, (20, 1, 8, 8), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


@pytest.fixture
def hub_dir(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache (restored after the test)."""
    monkeypatch.setattr(torch.hub, "_hub_dir", torch.hub._hub_dir)
    torch.hub.set_dir(str(tmp_path / "hub"))
    return tmp_path / "hub"


# ----------------------------------------------------------------------------------------------- metrics
def test_l1_and_l2_against_hand_computations():
    a = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[0.0, 0.0], [0.0, 0.0]]]])
    b = torch.tensor([[[[0.0, 2.0], [5.0, 4.0]]], [[[1.0, -1.0], [1.0, -1.0]]]])
    # example 0: |d| = 1, 0, 2, 0 -> mean 0.75, squares 1, 0, 4, 0 -> 1.25; example 1: all |d| = 1
    torch.testing.assert_close(build_metric("l1")(a, b), torch.tensor([0.75, 1.0]))
    torch.testing.assert_close(build_metric("l2")(a, b), torch.tensor([1.25, 1.0]))


def test_pseudo_huber_closed_form_and_both_limits():
    c = 0.03
    metric = build_metric({"name": "pseudo_huber", "c": c})
    shape = (2, 1, 4, 4)  # 16 entries per example
    small = torch.full(shape, 1e-4)
    large = torch.full(shape, 10.0)
    norm_small, norm_large = 1e-4 * 4, 10.0 * 4  # ||d||_2 = |d| sqrt(16)
    zero = torch.zeros(shape)
    ds, dl = metric(small, zero).double(), metric(large, zero).double()
    torch.testing.assert_close(
        ds, torch.full((2,), math.sqrt(norm_small**2 + c * c) - c, dtype=torch.float64), rtol=1e-4, atol=0
    )
    # small differences: ~ ||d||^2 / (2c); large: ~ ||d|| - c ~ ||d||
    assert abs(float(ds[0]) / (norm_small**2 / (2 * c)) - 1) < 1e-3
    assert abs(float(dl[0]) - (norm_large - c)) < 1e-4 and abs(float(dl[0]) / norm_large - 1) < 1e-3
    assert metric(zero, zero).abs().max() == 0


def test_metric_specs_are_validated():
    assert normalize_metric("lpips") == {"name": "lpips", "net": "vgg"}
    assert normalize_metric({"name": "pseudo_lpips", "c": 0.03}) == {"name": "pseudo_lpips", "c": 0.03, "net": "vgg"}
    with pytest.raises(ValueError, match="needs the option c"):
        build_metric({"name": "pseudo_huber"})
    with pytest.raises(ValueError, match="unknown DDDM metric 'l3'"):
        build_metric("l3")
    with pytest.raises(ValueError, match="takes no option"):
        build_metric({"name": "l1", "c": 1.0})


def test_lpips_without_backbone_weights_raises_a_clear_error(hub_dir):
    for spec, file in (
        ("lpips", "vgg16-397923af.pth"),
        ({"name": "pseudo_lpips", "c": 0.03, "net": "alex"}, "alexnet-owt-7be5be79.pth"),
    ):
        with pytest.raises(LpipsWeightsMissingError) as info:
            build_metric(spec)
        assert isinstance(info.value, DiffreproError)
        assert str(hub_dir / "checkpoints" / file) in str(info.value)


def test_random_backbone_lpips_only_when_allowed_and_never_reportable(hub_dir):
    a = torch.rand(2, 1, 8, 8) * 2 - 1
    b = torch.rand(2, 1, 8, 8) * 2 - 1
    for spec in ({"name": "lpips", "net": "alex"}, {"name": "pseudo_lpips", "c": 0.03, "net": "alex"}):
        metric = build_metric(spec, allow_random_backbone=True)
        assert metric.reportable is False
        value = metric(a, b)
        assert value.shape == (2,) and bool((value > 0).all()) and bool(torch.isfinite(value).all())
        assert metric(a, a).abs().max() < 1e-6


def test_lpips_with_the_backbone_file_loads_it_and_is_reportable(hub_dir):
    import torchvision

    path = lpips_backbone_path("alex")
    assert path == hub_dir / "checkpoints" / "alexnet-owt-7be5be79.pth"
    path.parent.mkdir(parents=True)
    torch.manual_seed(0)
    features = {f"features.{k}": v for k, v in torchvision.models.alexnet(weights=None).features.state_dict().items()}
    torch.save(features, path)
    metric = build_metric({"name": "lpips", "net": "alex"}, allow_random_backbone=True)
    assert metric.reportable is True
    net = metric.network.net
    torch.testing.assert_close(getattr(net.slice1, "0").weight, features["features.0.weight"], rtol=0, atol=0)
    torch.testing.assert_close(getattr(net.slice5, "10").weight, features["features.10.weight"], rtol=0, atol=0)


# ----------------------------------------------------------------------------------------------- x_bar store
@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_store_round_trip_and_snapshot(tmp_path, dtype):
    store = XBarStore(tmp_path / "a", 10, (1, 4, 4), dtype)
    store.initialize(seed=1)
    init = store.get(range(10))
    assert init.dtype == torch.float32 and 0.5 < float(init.std()) < 1.5
    again = XBarStore(tmp_path / "b", 10, (1, 4, 4), dtype)
    again.initialize(seed=1)
    assert torch.equal(again.get(range(10)), init)
    values = torch.randn(3, 1, 4, 4) * 3
    store.put(torch.tensor([7, 2, 5]), values)
    expected = values.half().float() if dtype == "float16" else values
    assert torch.equal(store.get([7, 2, 5]), expected)
    assert torch.equal(store.get([0, 1, 3, 4, 6, 8, 9]), init[[0, 1, 3, 4, 6, 8, 9]])
    # snapshot -> safetensors -> another store
    save_safetensors(store.state_tensors(), tmp_path / "snap.safetensors")
    other = XBarStore(tmp_path / "c", 10, (1, 4, 4), dtype)
    other.load_safetensors(tmp_path / "snap.safetensors")
    assert torch.equal(other.get(range(10)), store.get(range(10)))
    in_memory = XBarStore(tmp_path / "e", 10, (1, 4, 4), dtype)
    in_memory.load(store.state_tensors())
    assert torch.equal(in_memory.get(range(10)), store.get(range(10)))
    # reopening the file keeps its contents; a wrong snapshot is refused
    assert torch.equal(XBarStore(tmp_path / "a", 10, (1, 4, 4), dtype).get(range(10)), store.get(range(10)))
    with pytest.raises(ValueError, match="snapshot"):
        XBarStore(tmp_path / "d", 9, (1, 4, 4), dtype).load_safetensors(tmp_path / "snap.safetensors")
    with pytest.raises(IndexError):
        store.get([10])


# ----------------------------------------------------------------------------------------------- training
def _record_outputs(monkeypatch) -> list[torch.Tensor]:
    outputs: list[torch.Tensor] = []
    original = unet_module.UNet.forward

    def recording(self, x, t):
        out = original(self, x, t)
        outputs.append(out.detach().clone())
        return out

    monkeypatch.setattr(unet_module.UNet, "forward", recording)
    return outputs


def test_store_gets_the_model_output_at_the_batch_indices_only(images, tmp_path, monkeypatch):
    cfg = _cfg(subset=16, batch_size=4)
    outputs = _record_outputs(monkeypatch)
    result = train_dddm(
        images, cfg, {"metric": "l1"}, seed=SEED, checkpoint_dir=tmp_path / "ck", data_id="x", stop_at_step=3
    )
    assert result.images_used == 16 and len(outputs) == 3
    init = XBarStore(tmp_path / "fresh", 16, (1, 8, 8), "float16")
    init.initialize(SEED)
    order = epoch_order(SEED, 0, 16)
    stored = result.store.get(range(16))
    x0 = to_model_range(images)
    visited = set()
    for step in range(3):
        idx = order[step * 4 : (step + 1) * 4]
        visited.update(idx.tolist())
        assert torch.equal(stored[idx], outputs[step].half().float())  # the model's output ...
        assert not torch.allclose(stored[idx], x0[idx], atol=0.05)  # ... not the clean images
    assert bool(outputs[2].abs().sum() > 0)  # a trained step's output, not the zero-initialised head's
    untouched = sorted(set(range(16)) - visited)
    assert torch.equal(stored[untouched], init.get(untouched))


def test_w_is_one_over_epoch_plus_one(images, tmp_path):
    assert [loss_weight(e) for e in range(4)] == [1.0, 0.5, 1 / 3, 0.25]
    result = train_dddm(
        images,
        _cfg(epochs=3, subset=8, batch_size=4, log_every=1, checkpoint_every=8),
        {"metric": "l2"},
        seed=SEED,
        checkpoint_dir=tmp_path,
        data_id="x",
    )
    assert [(h["step"], h["epoch"]) for h in result.history] == [(s, (s - 1) // 2) for s in range(1, 7)]
    assert all(h["w"] == 1.0 / (h["epoch"] + 1) for h in result.history)

    # the loss combines both terms with w and 1 - w
    f = torch.full((2, 1, 8, 8), 0.5)
    x0, x_bar = torch.zeros_like(f), torch.ones_like(f) * 2
    metric = build_metric("l1")
    ab = alphas_cumprod(dddm_betas(DDDM))
    loss, out = dddm_loss(lambda x, t: f, x0, x_bar, torch.tensor([0, 39]), torch.randn_like(f), ab, metric, 0.25)
    assert torch.equal(out, f)
    torch.testing.assert_close(loss, torch.full((2,), 0.25 * 0.5 + 0.75 * 1.5))


def test_cross_attention_conditioning_trains_samples_and_has_its_own_fingerprint(images, tmp_path):
    """The paper's conditioning: C input channels, x_bar through cross-attention; training moves x_bar's store
    and the weights, sampling feeds the previous estimate through the condition, and the fingerprint (so the
    checkpoints) differs from the concatenating network's."""
    from diffrepro.diffusion.dddm import build_dddm_unet
    from diffrepro.training.dddm import dddm_fingerprint

    cfg = _cfg(epochs=2, subset=8, batch_size=4, checkpoint_every=4, log_every=1)
    cfg["unet"]["attention_resolutions"] = [4]
    cross = {**cfg, "conditioning": "cross_attention"}
    net = build_dddm_unet(cross["unet"], image_size=8, channels=1, conditioning="cross_attention")
    assert net.in_channels == 1 and net.cond_channels == 1
    assert build_dddm_unet(cfg["unet"], image_size=8, channels=1).in_channels == 2
    result = train_dddm(images, cross, {"metric": "l1"}, seed=SEED, checkpoint_dir=tmp_path / "x", data_id="x")
    assert result.steps == 4 and all(math.isfinite(h["loss"]) for h in result.history)
    calls = []

    def spy(x, t, cond=None):
        calls.append((x.shape[1], None if cond is None else cond.clone()))
        return result.model(x, t, cond=cond)

    out = dddm_sample(
        spy,
        (2, 1, 8, 8),
        steps=2,
        num_timesteps=40,
        generator=torch.Generator().manual_seed(0),
        conditioning="cross_attention",
    )
    assert out.shape == (2, 1, 8, 8) and [c for c, _ in calls] == [1, 1]
    assert all(cond is not None for _, cond in calls)
    assert dddm_fingerprint(cross, {"metric": "l1"}, seed=SEED, data_id="x") != dddm_fingerprint(
        cfg, {"metric": "l1"}, seed=SEED, data_id="x"
    )
    with pytest.raises(ValueError, match="unknown DDDM conditioning 'film'"):
        build_dddm_unet(cfg["unet"], image_size=8, channels=1, conditioning="film")


def test_killed_run_resumes_bit_identical_including_the_store(images, tmp_path):
    cfg, run_cfg = _cfg(epochs=2, subset=16, batch_size=4, checkpoint_every=2, log_every=1), {"metric": "l1"}
    full = train_dddm(images, cfg, run_cfg, seed=SEED, checkpoint_dir=tmp_path / "full", data_id="x")
    assert full.steps == 8
    part = train_dddm(images, cfg, run_cfg, seed=SEED, checkpoint_dir=tmp_path / "part", data_id="x", stop_at_step=5)
    # killed after step 5: the live store has moved past the step-4 checkpoint's snapshot
    snap_path = sorted((tmp_path / "part").glob("step_*"))[-1] / "xbar.safetensors"
    assert snap_path.parent.name == "step_00000004"
    with safe_open(str(snap_path), framework="pt") as fh:
        snapshot = fh.get_tensor("xbar").float()
    assert not torch.equal(part.store.get(range(16)), snapshot)
    resumed = train_dddm(images, cfg, run_cfg, seed=SEED, checkpoint_dir=tmp_path / "part", data_id="x")
    assert resumed.resumed_from == 4 and resumed.steps == 8
    assert torch.equal(resumed.store.get(range(16)), full.store.get(range(16)))
    for key, value in full.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
    for key, value in full.ema_state.items():
        assert torch.equal(resumed.ema_state[key], value), key
    assert resumed.history == full.history


class _NaNAfter(Metric):
    """L1 that turns NaN from the ``after``-th call on."""

    def __init__(self, after: int) -> None:
        super().__init__({"name": "l1"})
        self.calls, self.after = 0, after

    def distance(self, a, b):
        self.calls += 1
        value = (a - b).abs().reshape(a.shape[0], -1).mean(1)
        return value * float("nan") if self.calls >= self.after else value


def test_nan_stops_without_touching_the_last_checkpoint(images, tmp_path):
    cfg = _cfg(epochs=2, subset=16, batch_size=4, checkpoint_every=2, log_every=1)
    # epoch 0 evaluates one metric term per step: the 3rd call is step 3
    with pytest.raises(TrainingDivergedError, match="step 3.*checkpoint \\(step 2\\).*intact"):
        train_dddm(images, cfg, {"metric": "l1"}, seed=SEED, checkpoint_dir=tmp_path, data_id="x", metric=_NaNAfter(3))
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["step"] == 2 and (tmp_path / "step_00000002" / "xbar.safetensors").is_file()


# ----------------------------------------------------------------------------------------------- sampling
@pytest.mark.parametrize("method", ["fixed_point", "renoise"])
def test_n_step_sampling_calls_the_network_n_times(method):
    T = 40
    ab = alphas_cumprod(dddm_betas(DDDM))
    first_inputs = {}
    for steps in (1, 2, 5):
        calls = []

        def net(x, t, calls=calls):
            calls.append((x.clone(), t.clone()))
            return x[:, :1] * 0.5 + x[:, 1:] * 0.25

        out = dddm_sample(
            net,
            (3, 1, 8, 8),
            steps=steps,
            num_timesteps=T,
            generator=torch.Generator().manual_seed(7),
            method=method,
            alphas_cumprod=ab,
        )
        assert len(calls) == steps and out.shape == (3, 1, 8, 8)
        times = [int(t[0]) for _, t in calls]
        assert times == sample_times(steps, T, method)
        assert times[0] == T - 1 and (method == "fixed_point" or steps == 1 or times[-1] == 0)
        if method == "fixed_point":  # the same x_T at every call, x_bar = the previous output
            assert all(torch.equal(x[:, :1], calls[0][0][:, :1]) for x, _ in calls)
        for i in range(1, steps):
            prev = calls[i - 1][0]
            assert torch.equal(calls[i][0][:, 1:], prev[:, :1] * 0.5 + prev[:, 1:] * 0.25)
        first_inputs[steps] = calls[0][0]
    # the same seeded x_T and initial x_bar for every number of steps
    assert torch.equal(first_inputs[1], first_inputs[2]) and torch.equal(first_inputs[1], first_inputs[5])


# ----------------------------------------------------------------------------------------------- CLI steps
def _params(tmp_path: Path, tiny_config: dict, monkeypatch) -> Path:
    """tiny preset + the test's dddm section. The dddm section is always checked against the schema; if the
    tiny preset itself does not validate yet (sections being integrated), the steps read the file unvalidated."""
    config = copy.deepcopy(tiny_config)
    data = next(iter(config["datasets"]))
    config["dddm"] = {"datasets": [data], **copy.deepcopy(DDDM)}
    for run in config["dddm"]["runs"].values():
        run["data"] = data
    schema = load_schema()
    jsonschema.Draft202012Validator({"$defs": schema.get("$defs", {}), **schema["properties"]["dddm"]}).validate(
        config["dddm"]
    )
    try:
        validate_config(copy.deepcopy(config))
    except ConfigError as exc:
        assert "dddm" not in str(exc), str(exc)
        from diffrepro.steps import sample_dddm
        from diffrepro.steps import train_dddm as train_step

        def unvalidated(path):
            return yaml.safe_load(Path(path).read_text())

        monkeypatch.setattr(train_step, "load_config", unvalidated)
        monkeypatch.setattr(sample_dddm, "load_config", unvalidated)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_and_sample_steps_write_every_output(tmp_path, tiny_config, monkeypatch, capsys):
    from diffrepro.data import load_dataset, save_processed

    params = _params(tmp_path, tiny_config, monkeypatch)
    data = tmp_path / "digits.safetensors"
    save_processed(data, load_dataset("digits"), 8)
    out = tmp_path / "out"
    common = ["--params", str(params), "--device", "cpu", "--threads", "2"]
    rc = cli_main(
        [
            "train-dddm",
            "--run",
            "nope",
            "--data",
            str(data),
            "--checkpoint-dir",
            str(out / "ck"),
            "--weights",
            str(out / "w.safetensors"),
            "--loss-csv",
            str(out / "loss.csv"),
            "--summary",
            str(out / "summary.json"),
            *common,
        ]
    )
    assert rc == 1 and "unknown DDDM run 'nope'" in capsys.readouterr().err
    rc = cli_main(
        [
            "train-dddm",
            "--run",
            "ph",
            "--data",
            str(data),
            "--checkpoint-dir",
            str(out / "ck"),
            "--weights",
            str(out / "w.safetensors"),
            "--loss-csv",
            str(out / "loss.csv"),
            "--summary",
            str(out / "summary.json"),
            *common,
        ]
    )
    assert rc == 0
    with safe_open(str(out / "w.safetensors"), framework="pt") as fh:
        meta = fh.metadata()
    assert meta["run"] == "ph" and json.loads(meta["metric"]) == {"name": "pseudo_huber", "c": 0.03}
    assert (meta["image_size"], meta["channels"], meta["timesteps"], meta["steps"], meta["reportable"]) == (
        "8",
        "1",
        "40",
        "8",
        "true",
    )
    assert int(meta["parameters"]) > 0
    rows = list(csv.DictReader((out / "loss.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 9)) and float(rows[-1]["w"]) == 0.5
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 8 and summary["images_used"] == 16 and summary["reportable"] is True

    rc = cli_main(
        [
            "sample-dddm",
            "--run",
            "ph",
            "--weights",
            str(out / "w.safetensors"),
            "--out",
            str(out / "samples.safetensors"),
            "--timing",
            str(out / "timing.json"),
            "--grid",
            str(out / "grid.png"),
            *common,
        ]
    )
    assert rc == 0 and (out / "grid.png").stat().st_size > 0
    with safe_open(str(out / "samples.safetensors"), framework="pt") as fh:
        smeta = fh.metadata()
        keys = set(fh.keys())
        imgs = {k: fh.get_tensor(k) for k in keys}
    assert keys == {"images_nfe1", "images_nfe2"}
    assert all(v.dtype == torch.uint8 and tuple(v.shape) == (6, 1, 8, 8) for v in imgs.values())
    assert smeta["nfe"] == "1,2" and smeta["num_samples"] == "6" and smeta["run"] == "ph"
    assert smeta["reportable"] == "true"
    assert not any(key.startswith(("seconds", "samples_per_second")) for key in smeta)  # timings: apart
    timing = read_timing(out / "timing.json", "sample-dddm ph")
    assert all(timing[f"seconds_nfe{k}"] > 0 and timing[f"samples_per_second_nfe{k}"] > 0 for k in (1, 2))
    # weights of another run are refused
    rc = cli_main(
        [
            "sample-dddm",
            "--run",
            "l1",
            "--weights",
            str(out / "w.safetensors"),
            "--out",
            str(out / "x.safetensors"),
            "--grid",
            str(out / "x.png"),
            *common,
        ]
    )
    assert rc == 1 and "holds DDDM run 'ph'" in capsys.readouterr().err
