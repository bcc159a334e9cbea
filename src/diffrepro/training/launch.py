"""A training step's run of its model kind's training function: the :class:`~.engine.TrainOptions` from the
step's parsed arguments and parameter file, the process's place in a ``torchrun`` group, and which process
writes the outputs. Apart from :mod:`.engine` so that what only steps need (the device choice, the data
file's hash) stays out of the closure of code that trains without a step (the metric classifier).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from ..devices import resolve_device
from ..tensorfile import recorded_content_sha256
from .distributed import distributed_settings, init_from_env

__all__ = ["KEEP_CHECKPOINTS_ENV", "discard_checkpoints", "train_in_step"]

#: set to 1 to keep a finished training's checkpoints (to train it further by hand)
KEEP_CHECKPOINTS_ENV = "DIFFREPRO_KEEP_CHECKPOINTS"

Out = TypeVar("Out")


def train_in_step(
    args: Any,
    config: dict[str, Any],
    train_fn: Callable[..., Out],
    *inputs: Any,
    seed: int | None = None,
    **keywords: Any,
) -> tuple[Out, str] | None:
    """A training step's run of ``train_fn(*inputs, **keywords, **options)`` (a kind's training function): the
    :class:`~.engine.TrainOptions` come from the step's parsed arguments ``args`` (``device``, ``checkpoint_dir``,
    the processed ``data`` file whose content hash is the data id) and the parameter file ``config`` (``seed`` unless
    ``seed`` is given (a replicate's), ``speed``, ``distributed``). The process is one of ``torchrun``'s (see the
    CLI: one of ``distributed.nproc_per_node``, on cuda:LOCAL_RANK or the CPU) or the only one; the group is left
    after training. Returns ``(result, device)`` on rank 0 and None on the other ranks: rank 0 alone writes a
    step's outputs."""
    dist = init_from_env(resolve_device(args.device), distributed_settings(config)["backend"])
    result = train_fn(
        *inputs,
        **keywords,
        seed=config["seed"] if seed is None else seed,
        checkpoint_dir=args.checkpoint_dir,
        data_id=recorded_content_sha256(args.data),  # the tensors' hash, checked when the data is loaded
        device=dist.device,
        speed=config["speed"],
        distributed=dist,
    )
    dist.shutdown()
    return (result, dist.device) if dist.is_main else None


def discard_checkpoints(checkpoint_dir: str | Path) -> bool:
    """Remove a finished training's checkpoint folder, once the step has written all its outputs: checkpoints are
    resumable scratch for a run that fails (weights, EMA and optimiser, ~16 bytes per parameter each; 3.9 GB for
    the paper's CelebA joint DAED), and a later run must not resume from a finished one's. Kept when
    ``$DIFFREPRO_KEEP_CHECKPOINTS`` is 1. Returns whether it was removed."""
    if os.environ.get(KEEP_CHECKPOINTS_ENV) == "1":
        return False
    path = Path(checkpoint_dir)
    if not path.is_dir():
        return False
    shutil.rmtree(path)
    return True
