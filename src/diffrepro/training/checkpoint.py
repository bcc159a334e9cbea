"""Resumable training checkpoints: safetensors for tensors, JSON for everything else.

Layout of a checkpoint directory::

    <dir>/step_00000500/model.safetensors      network weights
    <dir>/step_00000500/ema.safetensors        EMA shadow weights
    <dir>/step_00000500/optimizer.safetensors  optimizer tensors (flattened, see below)
    <dir>/step_00000500/sampler.safetensors    the timestep sampler's loss history (loss-aware samplers)
    <dir>/step_00000500/state.json             step, optimizer param groups, history, fingerprint
    <dir>/latest.json                          {"step": 500, "dir": "step_00000500", "fingerprint": ...}

A checkpoint is first written to a hidden temporary directory, which is renamed into place only
when complete; ``latest.json`` is then replaced atomically.  A killed job therefore leaves either
the previous checkpoint or the new one, never a partial one.  Nothing is ever unpickled: optimizer
state is stored as named tensors plus JSON.  The fingerprint (a hash of everything that makes the
run what it is) guards against resuming a run whose configuration has since changed.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from ..atomic import read_json, write_json

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


@dataclass
class Checkpoint:
    step: int
    tensors: dict[str, dict[str, torch.Tensor]]
    state: dict[str, Any]
    path: Path


class CheckpointStore:
    """Save and find the latest checkpoint of one training run."""

    def __init__(self, directory: str | Path, run_fingerprint: str, keep: int = 1):
        self.directory = Path(directory)
        self.fingerprint = run_fingerprint
        self.keep = keep

    @property
    def latest_file(self) -> Path:
        return self.directory / "latest.json"

    def save(self, step: int, tensors: dict[str, dict[str, torch.Tensor]], state: dict[str, Any]) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self.directory / f"step_{step:08d}"
        tmp = Path(tempfile.mkdtemp(prefix=".incomplete-", dir=self.directory))
        try:
            for name, group in tensors.items():
                save_file(
                    {k: v.detach().contiguous().cpu() for k, v in group.items()}, str(tmp / f"{name}.safetensors")
                )
            write_json(tmp / "state.json", {**state, "step": step, "fingerprint": self.fingerprint})
            if final.exists():
                shutil.rmtree(final)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
        write_json(self.latest_file, {"step": step, "dir": final.name, "fingerprint": self.fingerprint})
        self._prune(keep_names={final.name})
        return final

    def _prune(self, keep_names: set[str]) -> None:
        steps = sorted(p for p in self.directory.glob("step_*") if p.is_dir())
        for old in steps[: max(0, len(steps) - self.keep)]:
            if old.name not in keep_names:
                shutil.rmtree(old, ignore_errors=True)
        for stale in self.directory.glob(".incomplete-*"):
            shutil.rmtree(stale, ignore_errors=True)

    def load_latest(self) -> tuple[Checkpoint | None, str]:
        """Return (checkpoint, reason).  checkpoint is None when there is nothing usable to resume."""
        if not self.latest_file.exists():
            return None, f"no checkpoint in {self.directory}"
        latest = read_json(self.latest_file)
        if latest.get("fingerprint") != self.fingerprint:
            return None, (
                f"checkpoint in {self.directory} belongs to a different configuration "
                "(fingerprint mismatch); starting from scratch"
            )
        path = self.directory / str(latest["dir"])
        if path.parent != self.directory or not path.is_dir():
            return None, f"{self.latest_file} points to a missing checkpoint {path}; starting from scratch"
        state = read_json(path / "state.json")
        tensors = {
            name: load_file(str(path / f"{name}.safetensors"))
            for name in TENSOR_FILES
            if (path / f"{name}.safetensors").exists()
        }
        return Checkpoint(step=int(state["step"]), tensors=tensors, state=state, path=path), f"resuming from {path}"
