"""The training engine (:mod:`diffrepro.training.engine`) on toy tasks with closed-form results: the learning-rate
warmup, the EMA and the interval means; resumption equal to an uninterrupted run (one and two networks); the NaN
guard that leaves the last checkpoint intact; snapshots at the right steps; when a checkpoint is not resumed; the
epoch-wise data order."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from diffrepro.training.checkpoint import Checkpoint
from diffrepro.training.engine import (
    EpochOrder,
    LoopSettings,
    RunContext,
    StepResult,
    TrainingDivergedError,
    TrainingImages,
    TrainLoop,
    TrainTask,
    train,
)

C = 3.0  # the minimiser of the toy loss


class Scalar(nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(value, dtype=torch.float64))


class Quadratic(TrainTask):
    """Minimise ``(w - C)^2`` by SGD from ``w = 0``: ``w_{k+1} - C = (1 - 2 lr_k) (w_k - C)``. Its own state, a
    running sum of the losses, goes into the checkpoint's JSON. ``nan_at`` poisons the loss of that step."""

    def __init__(self, settings: LoopSettings, *, momentum: float = 0.0, nan_at: int | None = None) -> None:
        self.settings, self.run = settings, RunContext(seed=0)
        self.net = Scalar(0.0)
        self.modules = {"": self.net}
        self.optimizers = {"": torch.optim.SGD(self.net.parameters(), lr=0.1, momentum=momentum)}
        self.nan_at, self.loss_sum, self.intervals = nan_at, 0.0, []

    def fingerprint(self) -> str:
        return "quadratic"

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        loss = (self.net.w - C) ** 2
        if step == self.nan_at:
            loss = loss * float("nan")
        loop.optimize(loss, loss.detach())
        value = float(loss.detach())
        self.loss_sum += value
        return StepResult({"loss": value}, latest={"w": float(self.net.w.detach())})

    def extra_state(self) -> dict:
        return {"loss_sum": self.loss_sum}

    def load_extra(self, ckpt: Checkpoint) -> None:
        self.loss_sum = ckpt.state["loss_sum"]

    def on_interval(self, done: int) -> None:
        self.intervals.append(done)


class TwoNetworks(TrainTask):
    """Two scalars ``a`` and ``b`` with their own optimisers (momentum: optimiser state to checkpoint), as a GAN's
    generator and discriminator; the EMA follows ``a``."""

    ema_module = "a"

    def __init__(self, settings: LoopSettings) -> None:
        self.settings, self.run = settings, RunContext(seed=0)
        self.modules = {"a": Scalar(1.0), "b": Scalar(-1.0)}
        self.optimizers = {
            name: torch.optim.SGD(m.parameters(), lr=0.05, momentum=0.9) for name, m in self.modules.items()
        }
        self.ema_updates: list[tuple[int, float]] = []

    def fingerprint(self) -> str:
        return "two"

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        a, b = self.modules["a"].w, self.modules["b"].w
        loss_b = (b - a.detach()) ** 2 + 0.1 * step
        loop.optimize(loss_b, loss_b.detach(), optimizer="b")
        shadow_before = float(loop.ema.shadow["w"])
        loss_a = (a - 2 * b.detach()) ** 2
        loop.optimize(loss_a, loss_a.detach(), optimizer="a")
        self.ema_updates.append((step, shadow_before))
        return StepResult({"a": float(loss_a.detach()), "b": float(loss_b.detach())})


def settings(**kw) -> LoopSettings:
    base = dict(steps=10, log_every=2, checkpoint_every=4, ema_decay=0.5, hint="lower the rate")
    return LoopSettings(**{**base, **kw})


def test_closed_form_warmup_ema_and_interval_means():
    s = settings(steps=7, log_every=3, checkpoint_every=None, lr=0.1, warmup_steps=4, ema_decay=0.75)
    task = Quadratic(s)
    res = TrainLoop(task, progress=False).run()
    w, ema, losses, lrs = 0.0, 0.0, [], []
    for k in range(7):
        lr = 0.1 * min(1.0, (k + 1) / 4)
        losses.append((w - C) ** 2)
        w = C + (1 - 2 * lr) * (w - C)
        ema = 0.75 * ema + 0.25 * w
        lrs.append(lr)
    assert float(task.net.w.detach()) == pytest.approx(w, rel=1e-12)
    assert float(res.ema_state["w"]) == pytest.approx(ema, rel=1e-6)  # the shadow is float32
    assert [h["step"] for h in res.history] == [3, 6, 7] and task.intervals == [3, 6, 7]
    means = [sum(losses[0:3]) / 3, sum(losses[3:6]) / 3, losses[6]]
    assert [h["loss"] for h in res.history] == pytest.approx(means, rel=1e-12)
    assert res.history[-1]["w"] == pytest.approx(w, rel=1e-12)  # ``latest``: as at the interval's last step
    assert task.optimizers[""].param_groups[0]["lr"] == lrs[-1]
    assert res.steps == 7 and res.resumed_from == 0 and res.steps_this_run == 7 and res.snapshots == {}
    assert not task.net.training  # evaluation mode once the run ends


def test_resume_equals_an_uninterrupted_run(tmp_path):
    s = settings(lr=0.1, warmup_steps=3, snapshots=(3, 6))
    full_task = Quadratic(s, momentum=0.9)
    full = TrainLoop(full_task, checkpoint_dir=tmp_path / "full", progress=False).run()
    part = TrainLoop(Quadratic(s, momentum=0.9), checkpoint_dir=tmp_path / "b", stop_at_step=6, progress=False).run()
    assert part.steps == 6 and sorted(part.snapshots) == [3, 6]
    task = Quadratic(s, momentum=0.9)
    resumed = TrainLoop(task, checkpoint_dir=tmp_path / "b", progress=False).run()
    assert resumed.resumed_from == 4 and resumed.steps == 10 and resumed.steps_this_run == 6
    assert torch.equal(task.net.w, full_task.net.w) and torch.equal(resumed.ema_state["w"], full.ema_state["w"])
    assert resumed.history == full.history and task.loss_sum == full_task.loss_sum
    for step in (3, 6):
        assert resumed.snapshots[step].read_bytes() == full.snapshots[step].read_bytes()
    state = json.loads((tmp_path / "b" / "step_00000010" / "state.json").read_text())
    assert set(state) == {
        "optimizer",
        "history",
        "seconds",
        "loss_sum",
        "step",
        "fingerprint",
        "resume_fingerprint",
        "files",
    }
    assert sorted(p.name for p in (tmp_path / "b" / "step_00000010").iterdir()) == [
        "ema.safetensors",
        "model.safetensors",
        "optimizer.safetensors",
        "state.json",
    ]
    # a finished run resumes at its end and trains nothing
    again = TrainLoop(Quadratic(s, momentum=0.9), checkpoint_dir=tmp_path / "b", progress=False).run()
    assert again.resumed_from == 10 and again.steps_this_run == 0 and again.history == full.history


def test_two_networks_checkpoint_under_their_names_and_resume(tmp_path):
    s = settings(steps=8)
    full_task = TwoNetworks(s)
    full = TrainLoop(full_task, checkpoint_dir=tmp_path / "full", progress=False).run()
    TrainLoop(TwoNetworks(s), checkpoint_dir=tmp_path / "b", stop_at_step=5, progress=False).run()
    task = TwoNetworks(s)
    resumed = TrainLoop(task, checkpoint_dir=tmp_path / "b", progress=False).run()
    assert resumed.resumed_from == 4 and resumed.history == full.history
    for name in ("a", "b"):
        assert torch.equal(task.modules[name].w, full_task.modules[name].w)
    assert torch.equal(resumed.ema_state["w"], full.ema_state["w"])
    ckpt = tmp_path / "b" / "step_00000008"
    state = json.loads((ckpt / "state.json").read_text())
    assert {"optimizer_a", "optimizer_b"} <= set(state) and "optimizer" not in state
    from safetensors.torch import load_file

    assert set(load_file(str(ckpt / "model.safetensors"))) == {"a.w", "b.w"}
    assert set(load_file(str(ckpt / "optimizer.safetensors"))) == {"a/0.momentum_buffer", "b/0.momentum_buffer"}
    # the EMA follows network a only, updated right after a's optimiser step: before a's update at step k it
    # holds the EMA of a's values after steps 0..k-1 (decay 0.5; a starts at 1)
    a_values, shadow = [], 1.0
    check = TwoNetworks(settings(steps=3, checkpoint_every=None))
    loop = TrainLoop(check, progress=False)
    loop.begin()
    for k in range(3):
        loop.train_step(k)
        assert check.ema_updates[-1] == (k, pytest.approx(shadow, rel=1e-6))
        a_values.append(float(check.modules["a"].w.detach()))
        shadow = 0.5 * shadow + 0.5 * a_values[-1]


def test_nan_guard_stops_before_the_update_and_keeps_the_last_checkpoint(tmp_path):
    s = settings()
    TrainLoop(Quadratic(s), checkpoint_dir=tmp_path, stop_at_step=5, progress=False).run()
    before = {p.name: p.read_bytes() for p in (tmp_path / "step_00000004").iterdir()}
    latest = (tmp_path / "latest.json").read_bytes()
    task = Quadratic(s, nan_at=6)
    with pytest.raises(
        TrainingDivergedError,
        match=r"loss became nan at step 7; training stopped without saving\. "
        r"The last good checkpoint \(step 4\) .* is intact, but a changed setting makes another run: after you lower "
        r"the rate, training starts again from step 0",
    ):
        TrainLoop(task, checkpoint_dir=tmp_path, progress=False).run()
    assert {p.name: p.read_bytes() for p in (tmp_path / "step_00000004").iterdir()} == before
    assert (tmp_path / "latest.json").read_bytes() == latest
    assert not (tmp_path / "step_00000008").exists()
    # the optimiser never saw the poisoned loss: w is finite (the update of step 6 was not made)
    assert math.isfinite(float(task.net.w.detach()))
    with pytest.raises(TrainingDivergedError, match="No checkpoint had been written yet; lower the rate"):
        TrainLoop(Quadratic(s, nan_at=1), checkpoint_dir=tmp_path / "fresh", progress=False).run()
    with pytest.raises(TrainingDivergedError, match="loss became nan at step 2; training stopped without saving; "):
        TrainLoop(Quadratic(settings(checkpoint_every=None), nan_at=1), progress=False).run()


def test_snapshots_are_the_ema_at_their_steps(tmp_path):
    from safetensors import safe_open

    res = TrainLoop(Quadratic(settings(snapshots=(3, 7))), checkpoint_dir=tmp_path / "a", progress=False).run()
    assert sorted(res.snapshots) == [3, 7]
    assert sorted(p.name for p in res.snapshots[3].parent.iterdir()) == [
        "ema_step_00000003.safetensors",
        "ema_step_00000007.safetensors",
    ]
    assert res.snapshots[3].parent.name.startswith("snapshots-")
    for step in (3, 7):
        upto = TrainLoop(Quadratic(settings(checkpoint_every=None)), stop_at_step=step, progress=False).run()
        with safe_open(str(res.snapshots[step]), framework="pt") as fh:
            assert {k: v for k, v in fh.metadata().items() if k != "content_sha256"} == {"step": str(step)}
            assert torch.equal(fh.get_tensor("w"), upto.ema_state["w"])
    with pytest.raises(ValueError, match="snapshots are kept beside the checkpoints"):
        TrainLoop(Quadratic(settings(checkpoint_every=None, snapshots=(3,))), progress=False)


def test_checkpoints_past_the_end_without_a_snapshot_or_rejected_restart(tmp_path):
    TrainLoop(Quadratic(settings()), checkpoint_dir=tmp_path, progress=False).run()  # step 10
    assert TrainLoop(Quadratic(settings(steps=6)), checkpoint_dir=tmp_path, progress=False).run().resumed_from == 0
    TrainLoop(Quadratic(settings()), checkpoint_dir=tmp_path, stop_at_step=8, progress=False).run()  # step 8
    longer = TrainLoop(Quadratic(settings(steps=12)), checkpoint_dir=tmp_path, progress=False).run()
    assert longer.resumed_from == 8
    # a snapshot asked for now (step 2) was not kept by the run that wrote the checkpoint
    snap = TrainLoop(Quadratic(settings(steps=12, snapshots=(2,))), checkpoint_dir=tmp_path, progress=False).run()
    assert snap.resumed_from == 0 and sorted(snap.snapshots) == [2]

    class Picky(Quadratic):
        def reject(self, ckpt: Checkpoint) -> str | None:
            return f"checkpoint {ckpt.step} is not wanted"

    assert TrainLoop(Picky(settings(steps=12)), checkpoint_dir=tmp_path, progress=False).run().resumed_from == 0

    class Other(Quadratic):
        def fingerprint(self) -> str:
            return "another configuration"

    assert TrainLoop(Other(settings(steps=12)), checkpoint_dir=tmp_path, progress=False).run().resumed_from == 0


def test_settings_and_loop_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"train\.checkpoint_every must be a multiple of log_every \(got 5 and 2\)"):
        LoopSettings(steps=10, log_every=2, checkpoint_every=5, keys="train.")
    with pytest.raises(ValueError, match="keeps no checkpoints"):
        TrainLoop(Quadratic(settings(checkpoint_every=None)), checkpoint_dir=tmp_path)


def test_the_data_order_draws_one_seeded_permutation_per_epoch():
    images = torch.zeros(10, 1, 1, 1, dtype=torch.uint8)
    order = TrainingImages(images, 3, key="k", seed=1, purpose="epoch").order
    assert order.steps_per_epoch == 3  # the remainder of each epoch is dropped
    batches = [order.batch(i) for i in range(6)]
    assert [e for e, _ in batches] == [0, 0, 0, 1, 1, 1]
    for epoch in (0, 1):
        seen = torch.cat([idx for e, idx in batches if e == epoch])
        assert len(set(seen.tolist())) == 9 and all(0 <= i < 10 for i in seen.tolist())
    assert not torch.equal(torch.cat([b for _, b in batches[:3]]), torch.cat([b for _, b in batches[3:]]))
    again = TrainingImages(images, 3, key="k", seed=1, purpose="epoch").order
    assert torch.equal(again.batch(4)[1], batches[4][1])  # a function of (seed, epoch): resumable mid-run
    ceil = TrainingImages(images, 3, key="k", seed=1, purpose="epoch", steps_per_epoch=4).order
    assert [len(ceil.batch(i)[1]) for i in range(5)] == [3, 3, 3, 1, 3]
    calls: list[int] = []
    counted = EpochOrder(lambda e: calls.append(e) or torch.arange(4), 2, 2)
    for i in range(6):
        counted.batch(i)
    assert calls == [0, 1, 2]  # drawn once per epoch, in turn (the classifier's sequential generator)


def test_training_images_check_and_convert():
    images = torch.tensor([0, 255, 51, 204], dtype=torch.uint8).reshape(4, 1, 1, 1).expand(4, 1, 2, 2).contiguous()
    data = TrainingImages(images, 2, key="train.batch_size", seed=0, purpose="epoch", n=3)
    assert data.n == 3 and data.shape == (1, 2, 2) and data.order.steps_per_epoch == 1
    assert data.images_u8.dtype == torch.uint8 and data.images_u8.data_ptr() == images.data_ptr()  # no copy
    batch = data.batch(torch.tensor([2, 0, 1]))
    assert batch.dtype == torch.float32 and batch[:, 0, 0, 0].tolist() == [pytest.approx(-0.6), -1.0, 1.0]
    with pytest.raises(IndexError):
        data.batch(torch.tensor([3]))  # beyond the n=3 images used
    with pytest.raises(TypeError, match="training images must be uint8, got torch.float32"):
        TrainingImages(images.float(), 1, key="k", seed=0, purpose="epoch")
    with pytest.raises(ValueError, match=r"train\.batch_size=5 exceeds the 4 training images$"):
        TrainingImages(images, 5, key="train.batch_size", seed=0, purpose="epoch")
    with pytest.raises(ValueError, match="exceeds the 3 training images used"):
        TrainingImages(images, 4, key="k", seed=0, purpose="epoch", n=3)
    with pytest.raises(ValueError, match="images must be square, got 2x1"):
        TrainingImages(images[..., :1], 1, key="k", seed=0, purpose="epoch")


def test_train_checks_its_options_and_builds_the_task_with_the_run(tmp_path):
    seen: list[RunContext] = []

    def build(run: RunContext) -> Quadratic:
        seen.append(run)
        return Quadratic(settings())

    task, res = train(build, {"seed": 4, "checkpoint_dir": tmp_path, "data_id": "d", "stop_at_step": 4})
    assert seen == [RunContext(4, "d", "cpu")] and seen[0].dist.world_size == 1 and seen[0].dist.device == "cpu"
    assert res.steps == 4 and isinstance(task, Quadratic) and (tmp_path / "latest.json").exists()
    with pytest.raises(TypeError, match=r"missing \['data_id'\], unknown \['sed'\]"):
        train(build, {"sed": 4, "seed": 4, "checkpoint_dir": tmp_path})


def test_loop_result_extends_to_a_kinds_result(tmp_path: Path):
    from diffrepro.training.dae import DAETrainResult

    res = TrainLoop(Quadratic(settings(checkpoint_every=None)), progress=False).run()
    model = nn.Linear(1, 1)
    out = res.extend(DAETrainResult, model=model, parameters=2)
    assert out.history == res.history and out.steps == 10 and out.model is model and out.steps_this_run == 10


class Resumable(Quadratic):
    """Quadratic whose fingerprint holds its learning rate, and whose checkpoints a run with another learning rate
    may resume (``allow``), as a DDGM with ``train.resume_with_new_optimizer``."""

    def __init__(self, settings: LoopSettings, *, allow: bool, nan_at: int | None = None) -> None:
        super().__init__(settings, nan_at=nan_at)
        self.allow = allow

    def fingerprint(self) -> str:
        return f"quadratic lr={self.settings.lr}"

    def resume_fingerprint(self) -> str:
        return "quadratic"

    def allows_new_optimizer(self) -> bool:
        return self.allow


def test_a_damaged_latest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    s = settings(lr=0.1)
    full_task = Quadratic(s)
    TrainLoop(full_task, checkpoint_dir=tmp_path / "full", progress=False).run()
    TrainLoop(Quadratic(s), checkpoint_dir=tmp_path / "b", stop_at_step=9, progress=False).run()
    assert sorted(p.name for p in (tmp_path / "b").glob("step_*")) == ["step_00000004", "step_00000008"]
    damaged = tmp_path / "b" / "step_00000008" / "model.safetensors"
    blob = bytearray(damaged.read_bytes())
    blob[-1] ^= 0x40
    damaged.write_bytes(bytes(blob))
    said: list[str] = []
    task = Quadratic(s)
    resumed = TrainLoop(task, checkpoint_dir=tmp_path / "b", progress=False, log=said.append).run()
    assert resumed.resumed_from == 4 and torch.equal(task.net.w, full_task.net.w)
    assert any("step_00000008 is unusable" in m and "content hash mismatch" in m for m in said)
    assert any("resuming from" in m and "(the latest, step_00000008, is damaged or missing)" in m for m in said)


def test_two_processes_cannot_train_into_one_checkpoint_folder(tmp_path):
    from diffrepro.training.checkpoint import CheckpointLockedError, directory_lock

    with (
        directory_lock(tmp_path),
        pytest.raises(CheckpointLockedError, match=rf"pid \d+\) is writing checkpoints to {tmp_path}"),
    ):
        TrainLoop(Quadratic(settings()), checkpoint_dir=tmp_path, progress=False).run()
    TrainLoop(Quadratic(settings()), checkpoint_dir=tmp_path, progress=False).run()  # released: trains


def test_after_a_divergence_a_lower_learning_rate_resumes_only_when_asked(tmp_path):
    first = settings(lr=0.4)
    with pytest.raises(
        TrainingDivergedError,
        match=r"set resume_with_new_optimizer: true, then rerun: training "
        r"resumes at step 4 with the new settings",
    ):
        TrainLoop(Resumable(first, allow=False, nan_at=6), checkpoint_dir=tmp_path, progress=False).run()
    lower = settings(lr=0.1)
    said: list[str] = []
    task = Resumable(lower, allow=True)
    resumed = TrainLoop(task, checkpoint_dir=tmp_path, progress=False, log=said.append).run()
    w = 0.0  # closed form: 4 steps with lr 0.4, then 6 with lr 0.1
    for k in range(10):
        w = C + (1 - 2 * (0.4 if k < 4 else 0.1)) * (w - C)
    assert resumed.resumed_from == 4 and float(task.net.w.detach()) == pytest.approx(w, rel=1e-12)
    assert any("with this run's optimiser settings" in m for m in said)
    # without the setting, a changed learning rate trains from step 0, and says why
    said.clear()
    again = TrainLoop(
        Resumable(settings(lr=0.2), allow=False), checkpoint_dir=tmp_path, progress=False, log=said.append
    )
    assert again.run().resumed_from == 0
    assert any("differs from this run in its optimiser settings only" in m for m in said)
