"""DDGM training: determinism, resume after an interruption, NaN handling, checkpoint format."""

import copy
import json

import pytest
import torch

from diffrepro.training.checkpoint import CheckpointStore
from diffrepro.training.ddgm import TrainingDivergedError, train_ddgm


@pytest.fixture
def images():
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (64, 1, 8, 8), generator=g, dtype=torch.uint8)


@pytest.fixture
def cfg(tiny_config):
    c = copy.deepcopy(tiny_config["models"]["ddgm_a"])
    c["unet"]["dropout"] = 0.1  # exercise the dropout RNG too
    c["train"].update(steps=12, checkpoint_every=4, log_every=2, batch_size=8)
    return c


def run(images, cfg, ckpt_dir, **kw):
    return train_ddgm(images, cfg, seed=3, checkpoint_dir=ckpt_dir, data_id="test", **kw)


def assert_same(sd1, sd2):
    assert sd1.keys() == sd2.keys()
    for k in sd1:
        assert torch.equal(sd1[k], sd2[k]), k


@pytest.mark.parametrize("name", ["ddgm_a", "ddgm_hybrid", "ddgm_iwdiff", "ddgm_vlb"])
def test_resume_after_interrupt_matches_uninterrupted_run(images, tiny_config, tmp_path, name):
    """Every objective and loss-aware sampler resumes exactly: weights, EMA, the sampler's loss history
    (it decides the timesteps drawn after the restart), the loss records and the snapshots."""
    cfg = copy.deepcopy(tiny_config["models"][name])
    cfg["unet"]["dropout"] = 0.1
    cfg["train"].update(steps=12, checkpoint_every=4, log_every=2, batch_size=8, snapshots=[0.25, 0.75])
    if "history" not in str(cfg["timestep_sampler"]) and "second_moment" in str(cfg["timestep_sampler"]):
        cfg["timestep_sampler"] = {"name": cfg["timestep_sampler"], "history": 1}  # warm up within 12 steps
    full = run(images, cfg, tmp_path / "a")
    # "Kill" the second run after step 6: the last checkpoint is at step 4, so steps 5-6 are lost
    partial = run(images, cfg, tmp_path / "b", stop_at_step=6)
    assert partial.steps == 6
    latest = json.loads((tmp_path / "b" / "latest.json").read_text())
    assert latest["step"] == 4
    resumed = run(images, cfg, tmp_path / "b")
    assert resumed.resumed_from == 4
    assert_same(full.model.state_dict(), resumed.model.state_dict())
    assert_same(full.ema_state, resumed.ema_state)
    assert full.history == resumed.history
    assert full.bucket_history == resumed.bucket_history
    assert [h["step"] for h in full.history] == [2, 4, 6, 8, 10, 12]
    assert sorted(full.snapshots) == sorted(resumed.snapshots) == [3, 9]
    from safetensors.torch import load_file

    for step in (3, 9):
        assert_same(load_file(str(full.snapshots[step])), load_file(str(resumed.snapshots[step])))


def test_same_seed_same_weights_and_a_different_seed_differs(images, cfg, tmp_path):
    a = run(images, cfg, tmp_path / "a")
    b = run(images, cfg, tmp_path / "b")
    assert_same(a.ema_state, b.ema_state)
    c = train_ddgm(images, cfg, seed=4, checkpoint_dir=tmp_path / "c", data_id="test")
    assert any(not torch.equal(a.ema_state[k], c.ema_state[k]) for k in a.ema_state)


def test_changed_config_does_not_resume_foreign_checkpoint(images, cfg, tmp_path):
    run(images, cfg, tmp_path / "a")
    other = copy.deepcopy(cfg)
    other["train"]["lr"] = 0.002
    res = run(images, other, tmp_path / "a")
    assert res.resumed_from == 0


def test_nan_loss_stops_and_keeps_last_good_checkpoint(images, cfg, tmp_path, monkeypatch):
    run(images, cfg, tmp_path / "a", stop_at_step=4)
    ckpt_dir = tmp_path / "a"
    before = {p.name: p.read_bytes() for p in (ckpt_dir / "step_00000004").iterdir()}

    import diffrepro.training.ddgm as ddgm_module

    original = ddgm_module.training_loss
    calls = {"n": 0}

    def poisoned(*args, **kwargs):
        calls["n"] += 1
        loss, parts = original(*args, **kwargs)
        return (loss * float("nan"), parts) if calls["n"] == 3 else (loss, parts)

    monkeypatch.setattr(ddgm_module, "training_loss", poisoned)
    with pytest.raises(TrainingDivergedError, match=r"loss became nan at step 7.*last good checkpoint \(step 4\)"):
        run(images, cfg, ckpt_dir)
    after = {p.name: p.read_bytes() for p in (ckpt_dir / "step_00000004").iterdir()}
    assert before == after
    assert json.loads((ckpt_dir / "latest.json").read_text())["step"] == 4
    assert not list(ckpt_dir.glob("step_00000008"))


def test_checkpoint_files_are_safetensors_and_json(images, cfg, tmp_path):
    run(images, cfg, tmp_path / "a", stop_at_step=4)
    step_dir = tmp_path / "a" / "step_00000004"
    names = sorted(p.name for p in step_dir.iterdir())
    assert names == [
        "ema.safetensors",
        "model.safetensors",
        "optimizer.safetensors",
        "sampler.safetensors",
        "state.json",
    ]
    state = json.loads((step_dir / "state.json").read_text())
    assert state["step"] == 4 and state["optimizer"]["param_groups"]
    store = CheckpointStore(tmp_path / "a", state["fingerprint"])
    ckpt, _ = store.load_latest()
    assert ckpt.step == 4 and "exp_avg" in "".join(ckpt.tensors["optimizer"])


def test_longer_training_resumes_and_shorter_or_new_snapshots_restart(images, cfg, tmp_path):
    """train.steps and train.snapshots are not part of the checkpoint fingerprint: extending training
    continues from the checkpoint, but a checkpoint past the new end, or one that lacks a newly asked
    snapshot, cannot give the asked-for weights, so training starts again."""
    cfg = copy.deepcopy(cfg)
    cfg["train"]["snapshots"] = []
    base = run(images, cfg, tmp_path / "a")  # 12 steps
    longer = copy.deepcopy(cfg)
    longer["train"]["steps"] = 16
    ext = run(images, longer, tmp_path / "a")
    assert ext.resumed_from == 12 and ext.steps == 16
    assert_same(ext.ema_state, run(images, longer, tmp_path / "fresh").ema_state)
    shorter = copy.deepcopy(cfg)
    shorter["train"]["steps"] = 8
    short = run(images, shorter, tmp_path / "a")
    assert short.resumed_from == 0 and short.steps == 8
    snap = copy.deepcopy(cfg)
    snap["train"]["snapshots"] = [0.25]  # step 3, before the checkpoint at step 8
    again = run(images, snap, tmp_path / "a")
    assert again.resumed_from == 0 and sorted(again.snapshots) == [3]
    assert_same(again.ema_state, base.ema_state)


def test_bf16_training_runs_the_network_in_bf16_and_keeps_float32_state(images, cfg, tmp_path, monkeypatch):
    """train.precision=bf16: every convolution computes in bfloat16 while the weights, EMA and losses stay
    float32; the run is repeatable, close to the fp32 run and not identical to it."""
    seen = set()
    orig = torch.nn.Conv2d.forward

    def spy(self, x):
        out = orig(self, x)
        seen.add(out.dtype)
        return out

    monkeypatch.setattr(torch.nn.Conv2d, "forward", spy)
    bf = copy.deepcopy(cfg)
    bf["train"]["precision"] = "bf16"
    a = run(images, bf, tmp_path / "a")
    assert seen == {torch.bfloat16}
    seen.clear()
    fp = run(images, cfg, tmp_path / "fp")
    assert seen == {torch.float32}
    b = run(images, bf, tmp_path / "b")
    assert_same(a.ema_state, b.ema_state)
    assert all(v.dtype == torch.float32 for v in a.model.state_dict().values() if v.is_floating_point())
    assert all(v.dtype == torch.float32 for v in a.ema_state.values() if v.is_floating_point())
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in a.history)
    diffs = [
        float((a.ema_state[k] - fp.ema_state[k]).abs().max())
        for k in fp.ema_state
        if fp.ema_state[k].is_floating_point()
    ]
    assert max(diffs) > 0  # bf16 arithmetic did change the trajectory
    rel = abs(a.history[-1]["loss"] - fp.history[-1]["loss"]) / fp.history[-1]["loss"]
    assert rel < 0.2, rel
