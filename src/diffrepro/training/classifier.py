"""Training and saving of the :class:`~diffrepro.models.classifier.SmallClassifier`
used as the metric feature extractor.

``train_classifier`` is deterministic for a given ``seed`` on CPU: parameter
initialisation and dropout draw from a forked global RNG seeded with ``seed`` (the
caller's global RNG state is restored afterwards) and shuffling uses a dedicated
``torch.Generator``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import time
from typing import Any, Callable

import torch
import torch.nn.functional as F
from tqdm import tqdm

from diffrepro.models.classifier import CLASSIFIER_FORMAT, SmallClassifier

__all__ = ["train_classifier", "save_classifier", "evaluate_accuracy", "uint8_to_unit_range"]

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
    n_train = train_images_uint8.shape[0]
    steps_per_epoch = math.ceil(n_train / batch_size)
    total_steps = epochs * steps_per_epoch

    x_train = train_images_uint8.to(device)
    y_train_dev = y_train.to(device)

    fork_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        model = SmallClassifier(
            in_channels=int(train_images_uint8.shape[1]),
            num_classes=int(num_classes),
            image_size=int(train_images_uint8.shape[2]),
            width=width,
            feature_dim=feature_dim,
        ).to(device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        shuffle_gen = torch.Generator(device="cpu")
        shuffle_gen.manual_seed(seed)

        emit(
            f"classifier: training {sum(p.numel() for p in model.parameters())} params on {n_train} images "
            f"{tuple(train_images_uint8.shape[1:])}, {num_classes} classes, {epochs} epochs x {steps_per_epoch} steps"
        )
        model.train()
        step = 0
        last_epoch_loss = float("nan")
        t0 = time.perf_counter()
        with tqdm(total=total_steps, desc="classifier", unit="step", disable=not progress, leave=False) as bar:
            for epoch in range(1, epochs + 1):
                perm = torch.randperm(n_train, generator=shuffle_gen).to(device)
                loss_sum, loss_count = 0.0, 0
                for start in range(0, n_train, batch_size):
                    idx = perm[start : start + batch_size]
                    xb = uint8_to_unit_range(x_train[idx])
                    yb = y_train_dev[idx]
                    loss = F.cross_entropy(model(xb), yb)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    step += 1
                    loss_value = float(loss.detach().item())
                    loss_sum += loss_value * idx.shape[0]
                    loss_count += idx.shape[0]
                    bar.update(1)
                    bar.set_postfix(epoch=f"{epoch}/{epochs}", loss=f"{loss_value:.4f}")
                    if step % LOG_EVERY_STEPS == 0 or step == total_steps:
                        elapsed = time.perf_counter() - t0
                        emit(
                            f"classifier: epoch {epoch}/{epochs} step {step}/{total_steps} "
                            f"loss {loss_value:.4f} {step / max(elapsed, 1e-9):.1f} it/s"
                        )
                last_epoch_loss = loss_sum / max(1, loss_count)
        seconds = time.perf_counter() - t0

    model.eval()
    test_accuracy = evaluate_accuracy(model, test_images_uint8, y_test, batch_size=max(batch_size, 256))
    model = model.cpu()
    model.requires_grad_(False)
    metrics = {
        "test_accuracy": float(test_accuracy),
        "train_loss_final": float(last_epoch_loss),
        "epochs": int(epochs),
        "steps": int(step),
        "seconds": float(seconds),
    }
    emit(
        f"classifier: done in {seconds:.1f}s, final train loss {last_epoch_loss:.4f}, "
        f"test accuracy {test_accuracy:.4f}"
    )
    return model, metrics


def save_classifier(model: SmallClassifier, path: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Write ``model`` to ``path`` as safetensors (weights + metadata ``config``/``metrics`` JSON).

    Atomic: written to a temporary file in the same directory, then ``os.replace``d.
    """
    from safetensors.torch import save_file

    if not isinstance(model, SmallClassifier):
        raise TypeError(f"save_classifier expects a SmallClassifier, got {type(model).__name__}")
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    metadata = {
        "format": CLASSIFIER_FORMAT,
        "config": json.dumps(model.config(), sort_keys=True),
        "metrics": json.dumps(metrics, sort_keys=True, default=str),
    }
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
