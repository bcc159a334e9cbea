"""Training and saving of the :class:`~diffrepro.models.classifier.SmallClassifier`
used as the metric feature extractor.

``train_classifier`` runs :class:`ClassifierTask` on the training engine (:mod:`.engine`; no checkpoints
and no EMA: the run takes seconds). It is deterministic for a given ``seed`` on CPU: parameter
initialisation and dropout draw from a forked global RNG seeded with ``seed`` (the caller's global RNG
state is restored afterwards) and shuffling uses a dedicated ``torch.Generator``, which draws one
permutation per epoch in turn.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from ..models.classifier import CLASSIFIER_FORMAT, SmallClassifier
from .engine import EpochOrder, LoopSettings, RunContext, StepResult, TrainLoop, TrainTask

#: metrics of a training run that measure time, not the model: logged, not written into the weights file
TIMING_KEYS = ("seconds",)

__all__ = ["ClassifierTask", "train_classifier", "save_classifier", "evaluate_accuracy", "uint8_to_unit_range"]

LOG_EVERY_STEPS = 50


def uint8_to_unit_range(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[-1, 1]``."""
    return x.to(torch.float32) / 127.5 - 1.0


def _check_images(name: str, x: torch.Tensor) -> None:
    if not torch.is_tensor(x) or x.dtype != torch.uint8 or x.dim() != 4:
        desc = f"{x.dtype} {tuple(x.shape)}" if torch.is_tensor(x) else type(x).__name__
        raise ValueError(f"{name} must be a uint8 tensor [N, C, H, W], got {desc}")
    if x.shape[0] == 0:
        raise ValueError(f"{name} is empty")
    if x.shape[2] != x.shape[3]:
        raise ValueError(f"{name} must hold square images, got {x.shape[2]}x{x.shape[3]}")


def _check_labels(name: str, y: torch.Tensor, n: int) -> torch.Tensor:
    if not torch.is_tensor(y) or y.dim() != 1 or y.shape[0] != n:
        desc = tuple(y.shape) if torch.is_tensor(y) else type(y).__name__
        raise ValueError(f"{name} must be a 1-D tensor of {n} labels, got {desc}")
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    return y.to(torch.int64)


@torch.inference_mode()
def evaluate_accuracy(
    model: SmallClassifier, images_uint8: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 256
) -> float:
    """Top-1 accuracy of ``model`` (evaluated in eval mode, batched, under inference mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, images_uint8.shape[0], batch_size):
        xb = uint8_to_unit_range(images_uint8[start : start + batch_size].to(device))
        yb = labels[start : start + batch_size].to(device)
        correct += int((model(xb).argmax(dim=1) == yb).sum().item())
    model.train(was_training)
    return correct / max(1, images_uint8.shape[0])


class ClassifierTask(TrainTask):
    """A :class:`SmallClassifier` (``network``: its ``num_classes``, ``width`` and ``feature_dim``) trained with
    AdamW and cross-entropy on uint8 images ``x_train`` and labels ``y_train`` (on the run's device) for
    ``hyper["epochs"]`` epochs of batches of ``hyper["batch_size"]`` (``lr``, ``weight_decay``); built from the
    global RNG (seed it first), shuffled by a generator seeded with the run's seed. No EMA, no checkpoints;
    ``emit`` receives the log lines."""

    ema_module = None

    def __init__(
        self,
        x_train: torch.Tensor,
        y_train: torch.Tensor,
        run: RunContext,
        network: dict[str, int],
        hyper: dict[str, Any],
        emit: Callable[[str], None],
    ) -> None:
        n_train, self.epochs, batch_size = x_train.shape[0], hyper["epochs"], hyper["batch_size"]
        per_epoch = math.ceil(n_train / batch_size)
        self.settings = LoopSettings(
            steps=self.epochs * per_epoch, log_every=LOG_EVERY_STEPS, desc="classifier", hint="lower classifier.lr"
        )
        self.run, self.x_train, self.y_train, self.emit = run, x_train, y_train, emit
        net = SmallClassifier(in_channels=int(x_train.shape[1]), image_size=int(x_train.shape[2]), **network)
        self.model = model = net.to(x_train.device)
        self.modules = {"": model}
        self.optimizers = {
            "": torch.optim.AdamW(model.parameters(), lr=hyper["lr"], weight_decay=hyper["weight_decay"])
        }
        shuffle_gen = torch.Generator(device="cpu")
        shuffle_gen.manual_seed(run.seed)
        self.order = EpochOrder(
            lambda _epoch: torch.randperm(n_train, generator=shuffle_gen), per_epoch, batch_size, x_train.device
        )
        self.epoch, self.loss_sum, self.loss_count, self.last_loss, self.t0 = -1, 0.0, 0, float("nan"), 0.0

    def describe(self) -> str:
        return (
            f"classifier: training {sum(p.numel() for p in self.model.parameters())} params on "
            f"{self.x_train.shape[0]} images {tuple(self.x_train.shape[1:])}, {self.model.num_classes} classes, "
            f"{self.epochs} epochs x {self.order.steps_per_epoch} steps"
        )

    def start_fresh(self) -> None:
        self.t0 = time.perf_counter()

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        epoch, idx = self.order.batch(step)
        if epoch != self.epoch:
            self.epoch, self.loss_sum, self.loss_count = epoch, 0.0, 0
        loss = F.cross_entropy(self.model(uint8_to_unit_range(self.x_train[idx])), self.y_train[idx])
        loop.optimize(loss, loss)
        self.last_loss = float(loss.detach().item())
        self.loss_sum += self.last_loss * idx.shape[0]
        self.loss_count += idx.shape[0]
        return StepResult(
            {"loss": self.last_loss}, postfix={"epoch": f"{epoch + 1}/{self.epochs}", "loss": self.last_loss}
        )

    def on_interval(self, done: int) -> None:
        elapsed = time.perf_counter() - self.t0
        self.emit(
            f"classifier: epoch {self.epoch + 1}/{self.epochs} step {done}/{self.settings.steps} "
            f"loss {self.last_loss:.4f} {done / max(elapsed, 1e-9):.1f} it/s"
        )

    def epoch_loss(self) -> float:
        """The mean loss over the examples of the last epoch trained."""
        return self.loss_sum / max(1, self.loss_count)


def train_classifier(
    train_images_uint8: torch.Tensor,
    train_labels: torch.Tensor,
    test_images_uint8: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    width: int,
    feature_dim: int,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    num_classes: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = None,
    weight_decay: float = 0.01,
    device: str | torch.device = "cpu",
) -> tuple[SmallClassifier, dict[str, Any]]:
    """Train a :class:`SmallClassifier` with AdamW and cross-entropy.

    Images are uint8 ``[N, C, H, W]`` (square), converted to ``[-1, 1]`` internally;
    ``in_channels`` and ``image_size`` are taken from them. ``num_classes`` defaults
    to ``max(label) + 1`` over both splits.

    Returns ``(model, metrics)``: the model on CPU in eval mode and
    ``{"test_accuracy", "train_loss_final" (mean loss of the last epoch), "epochs",
    "steps", "seconds"}``.
    """
    _check_images("train_images_uint8", train_images_uint8)
    _check_images("test_images_uint8", test_images_uint8)
    if tuple(train_images_uint8.shape[1:]) != tuple(test_images_uint8.shape[1:]):
        raise ValueError(
            f"train and test images differ in shape: {tuple(train_images_uint8.shape[1:])} vs "
            f"{tuple(test_images_uint8.shape[1:])}"
        )
    y_train = _check_labels("train_labels", train_labels, train_images_uint8.shape[0])
    y_test = _check_labels("test_labels", test_labels, test_images_uint8.shape[0])
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    max_label = int(max(y_train.max().item(), y_test.max().item()))
    min_label = int(min(y_train.min().item(), y_test.min().item()))
    if num_classes is None:
        num_classes = max_label + 1
    if min_label < 0 or max_label >= num_classes:
        raise ValueError(f"labels must lie in [0, {num_classes - 1}], got range [{min_label}, {max_label}]")

    emit = log if log is not None else (lambda _msg: None)
    device = torch.device(device)
    x_train = train_images_uint8.to(device)
    y_train_dev = y_train.to(device)

    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        network = {"num_classes": int(num_classes), "width": width, "feature_dim": feature_dim}
        hyper = {"epochs": epochs, "batch_size": batch_size, "lr": lr, "weight_decay": weight_decay}
        task = ClassifierTask(x_train, y_train_dev, RunContext(seed, device=str(device)), network, hyper, emit)
        run = TrainLoop(task, progress=progress, log=emit).run()
    model, last_epoch_loss, seconds = task.model, task.epoch_loss(), run.seconds  # the model in eval mode
    test_accuracy = evaluate_accuracy(model, test_images_uint8, y_test, batch_size=max(batch_size, 256))
    model = model.cpu()
    model.requires_grad_(False)
    metrics = {
        "test_accuracy": float(test_accuracy),
        "train_loss_final": float(last_epoch_loss),
        "epochs": int(epochs),
        "steps": int(run.steps),
        "seconds": float(seconds),
    }
    emit(
        f"classifier: done in {seconds:.1f}s, final train loss {last_epoch_loss:.4f}, test accuracy {test_accuracy:.4f}"
    )
    return model, metrics


def save_classifier(model: SmallClassifier, path: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Write ``model`` to ``path`` as safetensors (weights + metadata ``config``/``metrics`` JSON).

    Atomic and canonical (:func:`diffrepro.tensorfile.save_safetensors`); the metrics without their timings.
    """
    from ..tensorfile import save_safetensors

    if not isinstance(model, SmallClassifier):
        raise TypeError(f"save_classifier expects a SmallClassifier, got {type(model).__name__}")
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    # timings stay out of the file: the reference features record this file's content hash, which must move
    # only when the weights do (the seconds are in the step's metrics JSON)
    recorded = {k: v for k, v in metrics.items() if k not in TIMING_KEYS}
    metadata = {
        "format": CLASSIFIER_FORMAT,
        "config": json.dumps(model.config(), sort_keys=True),
        "metrics": json.dumps(recorded, sort_keys=True, default=str),
    }
    save_safetensors(tensors, path, metadata)
