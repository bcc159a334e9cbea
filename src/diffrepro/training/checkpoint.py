"""Resumable training checkpoints: safetensors for tensors, JSON for everything else.

Layout of a checkpoint directory::

    <dir>/step_00000500/model.safetensors      network weights
    <dir>/step_00000500/ema.safetensors        EMA shadow weights
    <dir>/step_00000500/optimizer.safetensors  optimizer tensors (flattened, see below)
    <dir>/step_00000500/sampler.safetensors    the timestep sampler's loss history (loss-aware samplers)
    <dir>/step_00000500/state.json             step, optimizer param groups, history, fingerprint
    <dir>/latest.json                          {"step": 500, "dir": "step_00000500", "fingerprint": ...}

A checkpoint is first written to a hidden temporary directory, which is renamed into place only
when complete; ``latest.json`` is then replaced atomically. ``state.json`` records each tensor file's content hash,
checked on loading: a damaged checkpoint is skipped for the previous one.  A killed job therefore leaves either
the previous checkpoint or the new one, never a partial one.  Nothing is ever unpickled: optimizer
state is stored as named tensors plus JSON.  The fingerprint (a hash of everything that makes the
run what it is) guards against resuming a run whose configuration has since changed.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..atomic import read_json, write_json
from ..errors import DiffreproError
from ..tensorfile import CONTENT_KEY, ArtifactError, read, recorded_content_sha256, verify, write

TENSOR_FILES = ("model", "ema", "optimizer", "sampler")


def optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into named tensors and JSON-able param groups."""
    sd = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, pstate in sd["state"].items():
        for key, value in pstate.items():
            if torch.is_tensor(value):
                tensors[f"{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


#: Param-group keys that choose an optimizer's implementation, not its arithmetic: the running
#: optimizer keeps its own (a checkpoint written with another ``speed.fused_adamw`` resumes as configured).
IMPLEMENTATION_KEYS = ("fused", "foreach")


def optimizer_from_tensors(
    optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        state.setdefault(int(idx), {})[key] = value
    for idx, extra in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(extra)
    groups = [
        {**saved, **{k: ours[k] for k in IMPLEMENTATION_KEYS if k in ours}}
        for saved, ours in zip(meta["param_groups"], optimizer.param_groups)
    ]
    groups += meta["param_groups"][len(groups) :]  # a count mismatch is load_state_dict's error to raise
    optimizer.load_state_dict({"state": state, "param_groups": groups})
    # saved tensors are contiguous; give each state tensor its parameter's memory format (channels-last
    # weights), which the fused CPU kernels assume (they give wrong updates for differing strides)
    for p, pstate in optimizer.state.items():
        for key, value in pstate.items():
            if torch.is_tensor(value) and value.shape == p.shape and value.stride() != p.stride():
                pstate[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


class CheckpointLockedError(DiffreproError, RuntimeError):
    """Another process is training into the same checkpoint folder."""


@contextmanager
def directory_lock(directory: str | Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (``.lock`` inside it, ``fcntl.flock``: released by the kernel when
    the process ends, so a killed run leaves no stale lock); :class:`CheckpointLockedError` when another process
    holds it."""
    import fcntl
    import os

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / ".lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            raise CheckpointLockedError(
                f"another training process (pid {holder}) is writing checkpoints to {directory}; wait for it to end "
                "(two runs on one checkpoint folder would overwrite each other's checkpoints)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


@dataclass
class Checkpoint:
    step: int
    tensors: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any]
    path: Path
    #: written by a run with other optimiser settings (resumed because the run allows it)
    changed_optimizer: bool = False


class CheckpointStore:
    """Save and find the latest intact checkpoint of one training run.

    Each checkpoint's ``state.json`` records the content hash of each of its tensor files; loading checks every file
    against it (:func:`diffrepro.tensorfile.read`). A damaged latest checkpoint is skipped with a warning for the
    previous one (``keep`` checkpoints are kept, 2 by default, so there is one to fall back to)."""

    def __init__(
        self,
        directory: str | Path,
        run_fingerprint: str,
        keep: int = 2,
        warn=None,
        resume_fingerprint: str | None = None,
        allow_new_optimizer: bool = False,
    ):
        self.directory = Path(directory)
        self.fingerprint = run_fingerprint
        self.keep = max(1, int(keep))
        self.warn = warn or (lambda message: None)
        # the run's fingerprint without its optimiser settings: a checkpoint that differs in those only is resumed
        # when the run allows it (train.resume_with_new_optimizer), and otherwise named as such
        self.resume_fingerprint = resume_fingerprint
        self.allow_new_optimizer = allow_new_optimizer

    @property
    def latest_file(self) -> Path:
        return self.directory / "latest.json"

    def save(self, step: int, tensors: dict[str, dict[str, torch.Tensor]], state: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"step_{step:08d}"
        tmp = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=self.directory))
        try:
            files = {}
            for name, group in tensors.items():
                target = tmp / f"{name}.safetensors"
                write(target, group)
                files[name] = recorded_content_sha256(target)
            record = {"fingerprint": self.fingerprint, "resume_fingerprint": self.resume_fingerprint}
            write_json(tmp / "state.json", {**state, "step": step, **record, "files": files})
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        write_json(self.latest_file, {"step": step, "dir": final.name, **record})
        self._prune(keep_names={final.name})
        return final

    def _prune(self, keep_names: set[str]) -> None:
        steps = sorted(p for p in self.directory.glob("step_*") if p.is_dir())
        for old in steps[: max(0, len(steps) - self.keep)]:
            if old.name not in keep_names:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.directory.glob(".incomplete-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def _load(self, path: Path, fingerprint: str) -> Checkpoint:
        """The checkpoint in ``path`` of the run ``fingerprint``, every file checked (``ValueError``/``OSError``
        naming the file otherwise)."""
        state = read_json(path / "state.json")
        if not isinstance(state, dict) or state.get("fingerprint") != fingerprint:
            raise ValueError(f"{path / 'state.json'}: not a checkpoint of this run (fingerprint differs)")
        files = state.get("files")
        if not isinstance(files, dict):
            raise ValueError(f"{path / 'state.json'}: no 'files' record of the checkpoint's tensor files")
        tensors = {}
        for name, recorded in files.items():
            file = path / f"{name}.safetensors"
            if name in TENSOR_FILES:
                tensors[name], meta = read(file)
            else:  # a task's own group (the DDDM's x_bar store), read lazily by the task: checked here
                meta = verify(file)
            if meta[CONTENT_KEY] != recorded:
                raise ArtifactError(
                    f"{path / name}.safetensors: content hash {meta[CONTENT_KEY]} is not the one state.json records "
                    f"({recorded})"
                )
        changed = fingerprint != self.fingerprint
        return Checkpoint(step=int(state["step"]), tensors=tensors, state=state, path=path, changed_optimizer=changed)

    def load_latest(self) -> tuple[Checkpoint | None, str]:
        """Return (checkpoint, reason).  checkpoint is None when there is nothing usable to resume."""
        if not self.latest_file.exists():
            return None, f"no checkpoint in {self.directory}"
        latest = read_json(self.latest_file)
        found = latest.get("fingerprint")
        optimizer_only = (
            self.resume_fingerprint is not None and latest.get("resume_fingerprint") == self.resume_fingerprint
        )
        if found != self.fingerprint and not (optimizer_only and self.allow_new_optimizer):
            if optimizer_only:
                return None, (
                    f"the checkpoint in {self.directory} (step {latest.get('step')}) differs from this run in its "
                    "optimiser settings only; training again from step 0, which replaces it (set "
                    "train.resume_with_new_optimizer: true to resume from it with the new settings instead)"
                )
            return None, (
                f"checkpoint in {self.directory} belongs to a different configuration "
                "(fingerprint mismatch); starting from scratch"
            )
        # the latest first, then the older ones kept beside it, newest first
        first = self.directory / str(latest.get("dir"))
        older = sorted((p for p in self.directory.glob("step_*") if p.is_dir() and p != first), reverse=True)
        candidates = ([first] if first.parent == self.directory and first.is_dir() else []) + older
        if not candidates:
            return None, f"{self.latest_file} points to a missing checkpoint {first}; starting from scratch"
        for path in candidates:
            try:
                ckpt = self._load(path, found)
            except (ValueError, OSError) as exc:
                self.warn(f"WARNING: checkpoint {path} is unusable ({exc}); trying the previous one")
                continue
            note = "" if path == first else f" (the latest, {first.name}, is damaged or missing)"
            if ckpt.changed_optimizer:
                note += (
                    " with this run's optimiser settings (train.resume_with_new_optimizer: the checkpoint was "
                    "written with others; the result differs from an uninterrupted run with either)"
                )
            return ckpt, f"resuming from {path}{note}"
        return None, f"no intact checkpoint in {self.directory}; starting from scratch"
