"""The process group of data-parallel training (``torchrun`` + ``DistributedDataParallel``).

A :class:`Distributed` names one process of a group of ``world_size`` processes: its ``rank``, its
``local_rank`` on its machine, the ``device`` it trains on and whether it is the main process
(rank 0). :meth:`Distributed.single` is the group of one process, and every helper is then the
identity (no process group exists), so a training loop written against this class runs unchanged
without ``torchrun``. :func:`init_from_env` reads the environment ``torchrun`` sets (``WORLD_SIZE``,
``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and joins the group (backend ``nccl`` when
training on CUDA, else ``gloo``; CUDA device = ``local_rank``).

How the training loops use it (equality with one process by construction): the configured batch
size is the *global* batch. Every rank draws the randomness of the whole global batch exactly as a
single process does (the epoch's permutation, the timesteps, the noise, from the same seeded
generators) and keeps its contiguous rows ``[rank * b / W, (rank + 1) * b / W)``
(:meth:`Distributed.local_slice`). Each rank's loss is the mean over its rows and DDP averages the
gradients over the ranks, which is the gradient of the mean over the global batch. Whatever has to
see the whole batch (a loss-aware timestep sampler's history, logged losses, the DDDM store) is
assembled in global order with :meth:`Distributed.all_gather_ordered`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import ConfigError
from ..schema import apply_defaults

__all__ = ["BACKENDS", "Distributed", "distributed_settings", "init_from_env"]

#: values of ``distributed.backend``
BACKENDS = ("auto", "nccl", "gloo")


@dataclass(frozen=True)
class Distributed:
    """One process of a data-parallel group (``world_size == 1``: a single process, no group)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: str = "cpu"
    is_main: bool = True

    @classmethod
    def single(cls, device: str = "cpu") -> Distributed:
        """The group of one process training on ``device``."""
        return cls(rank=0, world_size=1, local_rank=0, device=str(device), is_main=True)

    @property
    def active(self) -> bool:
        """Whether more than one process trains (collectives run)."""
        return self.world_size > 1

    # ------------------------------------------------------------------ splitting a global batch
    def split_sizes(self, n: int) -> list[int]:
        """Rows of each rank when ``n`` rows are split into contiguous, nearly equal parts (the first
        ``n % world_size`` ranks get one row more), as :func:`torch.tensor_split` splits them."""
        base, extra = divmod(int(n), self.world_size)
        return [base + (1 if r < extra else 0) for r in range(self.world_size)]

    def local_range(self, n: int) -> tuple[int, int]:
        """``(lo, hi)``: this rank's contiguous rows of ``n`` global rows (see :meth:`split_sizes`)."""
        sizes = self.split_sizes(n)
        lo = sum(sizes[: self.rank])
        return lo, lo + sizes[self.rank]

    def local_slice(self, global_batch_size: int, name: str = "train.batch_size") -> slice:
        """This rank's rows ``[rank * b / W, (rank + 1) * b / W)`` of a global batch of ``b`` rows.

        Raises :class:`~diffrepro.config.ConfigError` naming the configuration key ``name`` when ``b``
        is not a multiple of the number of processes ``W``.
        """
        b = int(global_batch_size)
        if b % self.world_size:
            raise ConfigError(
                f"{name}={b} is not divisible by the {self.world_size} training processes "
                f"(distributed.nproc_per_node): the batch size is the global batch, split evenly over the "
                f"processes; choose a multiple of {self.world_size}"
            )
        per = b // self.world_size
        return slice(self.rank * per, (self.rank + 1) * per)

    def seed_keys(self) -> tuple[object, ...]:
        """Extra keys of :func:`~diffrepro.seeding.derive_seed` for draws that are local to a rank
        (dropout masks): none for a single process (its seeds stay what they were), ``("rank", rank)``
        otherwise."""
        return ("rank", self.rank) if self.active else ()

    # ------------------------------------------------------------------ collectives
    def _comm_device(self) -> torch.device:
        """Where tensors must be for the group's backend: the CUDA device for nccl, the CPU for gloo."""
        import torch.distributed as tdist

        return torch.device(self.device) if tdist.get_backend() == "nccl" else torch.device("cpu")

    def all_gather_ordered(self, tensor: Tensor, global_n: int | None = None) -> Tensor:
        """Every rank's ``tensor`` concatenated along dim 0 in rank order, i.e. the global batch's rows in
        their global order, on ``tensor``'s device (the tensor itself for a single process).

        Each rank holds ``split_sizes(global_n)[rank]`` rows; without ``global_n`` all ranks hold the
        same number. Not differentiable (use it on detached values).
        """
        if not self.active:
            return tensor
        import torch.distributed as tdist

        sizes = self.split_sizes(global_n) if global_n is not None else [tensor.shape[0]] * self.world_size
        if tensor.shape[0] != sizes[self.rank]:
            raise ValueError(f"rank {self.rank} holds {tensor.shape[0]} rows, expected {sizes[self.rank]}")
        width = max(sizes)
        dev = self._comm_device()
        local = tensor.detach().to(dev)
        if local.shape[0] < width:  # all_gather needs equal shapes: pad, then trim
            pad = torch.zeros((width - local.shape[0], *local.shape[1:]), dtype=local.dtype, device=dev)
            local = torch.cat([local, pad])
        parts = [torch.empty_like(local) for _ in range(self.world_size)]
        tdist.all_gather(parts, local.contiguous())
        return torch.cat([p[:s] for p, s in zip(parts, sizes)]).to(tensor.device)

    def mean_across(self, x: Tensor | float) -> Tensor | float:
        """The mean of ``x`` over the ranks (a float for a float, else a tensor on ``x``'s device)."""
        if not self.active:
            return x
        import torch.distributed as tdist

        as_float = not torch.is_tensor(x)
        t = torch.as_tensor(x, dtype=torch.float64 if as_float else None)
        buf = t.detach().to(self._comm_device()).clone()
        tdist.all_reduce(buf, op=tdist.ReduceOp.SUM)
        buf = buf / self.world_size
        return float(buf) if as_float else buf.to(t.device)

    def broadcast(self, tensor: Tensor, src: int = 0) -> Tensor:
        """Rank ``src``'s ``tensor`` on every rank (every rank passes a tensor of the same shape and
        dtype; the others' contents are ignored), on ``tensor``'s device."""
        if not self.active:
            return tensor
        import torch.distributed as tdist

        buf = tensor.detach().to(self._comm_device()).contiguous().clone()
        tdist.broadcast(buf, src=src)
        return buf.to(tensor.device)

    def local_mean(self, values: Tensor, global_n: int) -> Tensor:
        """This rank's share of the mean of ``values`` over ``global_n`` global rows, such that the average
        of the shares over the ranks (what DDP does to gradients) is the global mean: the plain mean of
        the rank's rows when the rows are split evenly, else ``sum * world_size / global_n``."""
        if values.shape[0] * self.world_size == global_n:
            return values.mean()
        return values.sum() * (self.world_size / global_n)

    def barrier(self) -> None:
        """Wait until every rank gets here (nothing for a single process)."""
        if self.active:
            import torch.distributed as tdist

            if tdist.get_backend() == "nccl":
                tdist.barrier(device_ids=[torch.device(self.device).index or 0])
            else:
                tdist.barrier()

    def wrap(self, model: nn.Module, *, find_unused_parameters: bool = False) -> nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` (which averages gradients over
        the ranks in the backward pass), or ``model`` itself for a single process.

        ``find_unused_parameters`` is for a model whose forward may leave parameters unused on a rank
        (a joint DAED's DAE when the rank's rows hold no ``t == 0``); parameters no rank used keep
        ``grad=None``, as in a single process.
        """
        if not self.active:
            return model
        from torch.nn.parallel import DistributedDataParallel

        dev = torch.device(self.device)
        if dev.type == "cuda":
            return DistributedDataParallel(
                model,
                device_ids=[dev.index or 0],
                output_device=dev.index or 0,
                find_unused_parameters=find_unused_parameters,
            )
        return DistributedDataParallel(model, find_unused_parameters=find_unused_parameters)

    def shutdown(self) -> None:
        """Leave the process group (idempotent; nothing for a single process)."""
        if self.active:
            import torch.distributed as tdist

            if tdist.is_initialized():
                tdist.destroy_process_group()


def distributed_settings(config: dict) -> dict:
    """The ``distributed`` section of a parameter file with the schema's defaults for what it leaves out (a
    section of :func:`~diffrepro.config.load_config`'s parameters has them already): ``nproc_per_node`` (1: one
    process, no ``torchrun``) and ``backend`` (``auto``: nccl on CUDA, gloo on the CPU)."""
    section = config["distributed"] if "distributed" in config else {}
    if not isinstance(section, dict):
        raise ConfigError(f"distributed must be a mapping, got {section!r}")
    section = apply_defaults(dict(section), "distributed")
    settings = {"nproc_per_node": section["nproc_per_node"], "backend": section["backend"]}
    nproc = settings["nproc_per_node"]
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ConfigError(f"distributed.nproc_per_node must be an integer >= 1, got {nproc!r}")
    if settings["backend"] not in BACKENDS:
        raise ConfigError(f"distributed.backend must be one of {', '.join(BACKENDS)}, got {settings['backend']!r}")
    return settings


def init_from_env(device_pref: str, backend: str = "auto") -> Distributed:
    """The process's place in the group ``torchrun`` started, joining the group (``env://``).

    Without ``torchrun`` (or with ``WORLD_SIZE`` 1) this is :meth:`Distributed.single` on ``device_pref``.
    Otherwise a CUDA ``device_pref`` means the device ``cuda:LOCAL_RANK`` (one GPU per process) and a
    CPU one the CPU; ``backend`` ``auto`` picks nccl for CUDA and gloo for the CPU (nccl on the CPU is
    a :class:`~diffrepro.config.ConfigError`).
    """
    if backend not in BACKENDS:
        raise ConfigError(f"distributed.backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed.single(device_pref)
    import torch.distributed as tdist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    dev = torch.device(device_pref)
    if dev.type == "cuda":
        count = torch.cuda.device_count()
        if local_rank >= count:
            raise ConfigError(
                f"process {local_rank} of distributed.nproc_per_node needs CUDA device "
                f"{local_rank}, but this process sees {count} (CUDA_VISIBLE_DEVICES="
                f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})"
            )
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
    elif dev.type == "cpu":
        device = "cpu"
    else:
        raise ConfigError(f"data-parallel training runs on CUDA or the CPU, not on {device_pref!r}")
    chosen = ("nccl" if device.startswith("cuda") else "gloo") if backend == "auto" else backend
    if chosen == "nccl" and device == "cpu":
        raise ConfigError("distributed.backend nccl needs CUDA devices; use gloo (or auto) to train on the CPU")
    if not tdist.is_initialized():
        tdist.init_process_group(backend=chosen, init_method="env://", rank=rank, world_size=world)
    return Distributed(rank=rank, world_size=world, local_rank=local_rank, device=device, is_main=rank == 0)
