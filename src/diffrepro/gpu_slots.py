"""One GPU per job on a machine with several (the ``local-gpus`` Snakemake profile).

Snakemake 9 *counts* GPUs -- ``--resources gpu=N`` lets at most N jobs that declare ``gpu=1`` run
at once -- but does not say *which* GPU a job gets (there is no per-job device id; snakemake issue
#281), and a step that asks for ``cuda`` uses GPU 0: N jobs would share one GPU. This module is the
missing piece. When ``DIFFREPRO_GPUS`` lists the machine's GPUs (``DIFFREPRO_GPUS=0,1,2,3``), a
step claims the first free one before CUDA starts (:func:`pin_gpus`, called by the ``diffrepro``
command before a step that runs on a device, :func:`diffrepro.cli.run_step`): it takes an exclusive ``flock`` on
``<lock dir>/gpu<id>.lock``, which the kernel releases when the process ends (also when it is
killed), and sets ``CUDA_VISIBLE_DEVICES=<id>`` so that ``cuda`` *is* that GPU. Snakemake runs at
most N GPU jobs at once, so a free GPU is there; a step that finds none (its rule lacks ``gpu=1``,
or another workflow uses the same GPUs) waits until one is released.

Nothing happens when ``DIFFREPRO_GPUS`` is unset or empty, when ``CUDA_VISIBLE_DEVICES`` is already
set (a SLURM allocation, or by hand), or in a process that ``torchrun`` started (``LOCAL_RANK``):
the launcher that starts the data-parallel processes claims ``nproc_per_node`` GPUs for all of them
with ``pin_gpus(n)``, and they inherit its ``CUDA_VISIBLE_DEVICES``. The locks live in
``$DIFFREPRO_GPU_LOCK_DIR`` (default ``/tmp/diffrepro-gpu-locks-<uid>``): one folder per machine
and user, so two workspaces on one machine share the GPUs correctly.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from pathlib import Path

__all__ = ["ENV_GPUS", "ENV_LOCK_DIR", "gpu_ids", "lock_dir", "pin_gpus"]

ENV_GPUS = "DIFFREPRO_GPUS"
ENV_LOCK_DIR = "DIFFREPRO_GPU_LOCK_DIR"
#: set by torchrun in the processes it starts (their GPUs were claimed by the launching process)
LAUNCHER_ENV = ("LOCAL_RANK", "TORCHELASTIC_RUN_ID")

log = logging.getLogger(__name__)
_held: list[int] = []  # descriptors of the claimed locks: open for the life of the process


def gpu_ids(value: str | None = None) -> list[str]:
    """The GPU ids of ``DIFFREPRO_GPUS`` (comma separated; ``value`` overrides the environment)."""
    raw = os.environ.get(ENV_GPUS, "") if value is None else value
    ids = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [i for i in ids if not i.isdigit()]
    if bad or len(set(ids)) != len(ids):
        raise ValueError(f"{ENV_GPUS}={raw!r}: expected distinct GPU indices separated by commas, e.g. 0,1,2,3")
    return ids


def lock_dir() -> Path:
    return Path(os.environ.get(ENV_LOCK_DIR) or f"/tmp/diffrepro-gpu-locks-{os.getuid()}")


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def pin_gpus(count: int = 1, *, poll_seconds: float = 1.0, timeout: float | None = None) -> list[str] | None:
    """Claim ``count`` free GPUs of ``DIFFREPRO_GPUS`` for this process and its children.

    Sets ``CUDA_VISIBLE_DEVICES`` to the claimed ids and returns them; returns None without doing
    anything when pinning is off (see the module doc). Waits while fewer than ``count`` are free
    (``timeout`` seconds at most, then ``TimeoutError``). Must run before CUDA is first used.
    """
    ids = gpu_ids()
    if not ids or "CUDA_VISIBLE_DEVICES" in os.environ or any(k in os.environ for k in LAUNCHER_ENV):
        return None
    if _held:
        raise RuntimeError("pin_gpus was already called in this process")
    if count < 1 or count > len(ids):
        raise ValueError(f"cannot claim {count} GPU(s): {ENV_GPUS} lists {len(ids)} ({','.join(ids)})")
    folder = lock_dir()
    folder.mkdir(parents=True, exist_ok=True)
    start, told = time.monotonic(), False
    while True:
        got: list[tuple[str, int]] = []
        for gpu in ids:
            fd = _try_lock(folder / f"gpu{gpu}.lock")
            if fd is not None:
                got.append((gpu, fd))
                if len(got) == count:
                    break
        if len(got) == count:
            break
        for _, fd in got:  # not enough: give back what was taken, so two waiters cannot deadlock
            os.close(fd)
        if timeout is not None and time.monotonic() - start >= timeout:
            raise TimeoutError(
                f"no {count} free GPU(s) of {ENV_GPUS}={','.join(ids)} within {timeout:g} s (locks in {folder})"
            )
        if not told:
            log.info("waiting for %d free GPU(s) of %s=%s (locks in %s)", count, ENV_GPUS, ",".join(ids), folder)
            told = True
        time.sleep(poll_seconds)
    for _, fd in got:
        os.set_inheritable(fd, True)  # an exec'd process (a launcher) keeps holding the lock
        _held.append(fd)
    claimed = [gpu for gpu, _ in got]
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(claimed)
    log.info("pinned to GPU %s (CUDA_VISIBLE_DEVICES=%s)", ",".join(claimed), os.environ["CUDA_VISIBLE_DEVICES"])
    return claimed
