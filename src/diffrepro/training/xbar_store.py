"""The DDDM x_bar store: the model's latest estimate of x0 for every training image (Zhang et al. 2024,
Sec. 3.1: the estimate from the previous epoch conditions the next one).

One row per training image, addressed by the image's index in the data set, in a memory-mapped file
(``numpy.memmap``, float16 or float32) so large data sets need no RAM for it. Rows start as N(0, I)
drawn from a seeded generator (the same values for a given seed).
:meth:`XBarStore.put` stores what the model *output* for those images; the public DDDM code instead
stores the clean batch (and uses per-GPU indices that collide across ranks), which this module does
not reproduce.

The live file changes every step, so it can run ahead of the last checkpoint. Checkpoints therefore
hold a snapshot of it (:meth:`XBarStore.state_tensors`, written as safetensors inside the atomically
renamed checkpoint directory), and a resumed run overwrites the live file with that snapshot
(:meth:`XBarStore.load_safetensors`). Nothing is pickled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..seeding import generator

__all__ = ["STORE_DTYPES", "XBarStore"]

#: dtype names accepted by :class:`XBarStore`.
STORE_DTYPES: dict[str, np.dtype] = {"float16": np.dtype(np.float16), "float32": np.dtype(np.float32)}
#: rows drawn or copied per chunk (bounds the RAM used by initialisation and restore)
CHUNK_ROWS = 4096
#: key of the store's tensor in a snapshot
SNAPSHOT_KEY = "xbar"


class XBarStore:
    """Memory-mapped ``[num_items, *item_shape]`` array of x_bar rows under ``directory``.

    Opening an existing file of the same shape and dtype reuses it; call :meth:`initialize` or
    :meth:`load_safetensors` to set its contents.
    """

    def __init__(
        self, directory: str | Path, num_items: int, item_shape: Sequence[int], dtype: str = "float16"
    ) -> None:
        if dtype not in STORE_DTYPES:
            raise ValueError(f"x_bar store dtype must be one of {', '.join(STORE_DTYPES)}, got {dtype!r}")
        if num_items < 1:
            raise ValueError(f"x_bar store needs at least one item, got {num_items}")
        self.num_items = int(num_items)
        self.item_shape = tuple(int(s) for s in item_shape)
        self.dtype = dtype
        self.np_dtype = STORE_DTYPES[dtype]
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        shape_label = "x".join(str(s) for s in (self.num_items, *self.item_shape))
        self.path = self.directory / f"xbar_{dtype}_{shape_label}.bin"
        shape = (self.num_items, *self.item_shape)
        nbytes = int(np.prod(shape)) * self.np_dtype.itemsize
        mode = "r+" if self.path.is_file() and self.path.stat().st_size == nbytes else "w+"
        self._array = np.memmap(self.path, dtype=self.np_dtype, mode=mode, shape=shape)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.num_items, *self.item_shape)

    def _rows(self, indices: Tensor | Sequence[int]) -> np.ndarray:
        idx = torch.as_tensor(indices, dtype=torch.long).cpu().numpy()
        if idx.ndim != 1:
            raise ValueError(f"indices must be 1-D, got shape {idx.shape}")
        if idx.size and (idx.min() < 0 or idx.max() >= self.num_items):
            raise IndexError(f"x_bar store index out of range [0, {self.num_items}): {idx.min()}..{idx.max()}")
        return idx

    def initialize(self, seed: int) -> None:
        """Fill every row with N(0, I) from ``generator(seed, "xbar-init")``, drawn in fixed chunks of rows."""
        g = generator(seed, "xbar-init")
        for start in range(0, self.num_items, CHUNK_ROWS):
            stop = min(start + CHUNK_ROWS, self.num_items)
            block = torch.randn((stop - start, *self.item_shape), generator=g)
            self._array[start:stop] = block.numpy().astype(self.np_dtype)
        self.flush()

    def get(self, indices: Tensor | Sequence[int]) -> Tensor:
        """Rows ``indices`` as a float32 CPU tensor ``[len(indices), *item_shape]``."""
        rows = np.asarray(self._array[self._rows(indices)], dtype=np.float32)
        return torch.from_numpy(rows)

    def put(self, indices: Tensor | Sequence[int], values: Tensor) -> None:
        """Overwrite rows ``indices`` with ``values`` (the model's outputs; cast to the store dtype).

        Indices must be distinct (a permutation batch is); with repeats the last value wins.
        """
        idx = self._rows(indices)
        values = values.detach().to("cpu", torch.float32)
        if tuple(values.shape) != (idx.size, *self.item_shape):
            raise ValueError(f"values of shape {tuple(values.shape)} do not match {idx.size} rows of {self.item_shape}")
        self._array[idx] = values.numpy().astype(self.np_dtype)

    def flush(self) -> None:
        """Write dirty pages of the memory map to its file."""
        self._array.flush()

    def state_tensors(self) -> dict[str, Tensor]:
        """The whole store as ``{"xbar": tensor}`` (a view of the memory map, for a checkpoint snapshot)."""
        self.flush()
        return {SNAPSHOT_KEY: torch.from_numpy(np.asarray(self._array))}

    def load(self, tensors: dict[str, Tensor]) -> None:
        """Overwrite the store with a snapshot from :meth:`state_tensors` (shape and dtype must match)."""
        value = tensors[SNAPSHOT_KEY]
        self._check_snapshot(tuple(value.shape), str(value.dtype).replace("torch.", ""))
        self._array[:] = value.cpu().numpy()
        self.flush()

    def load_safetensors(self, path: str | Path) -> None:
        """Overwrite the store with the snapshot in safetensors file ``path``, copying in chunks."""
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as fh:
            if SNAPSHOT_KEY not in fh.keys():
                raise ValueError(f"{path} holds no '{SNAPSHOT_KEY}' tensor")
            sl = fh.get_slice(SNAPSHOT_KEY)
            dtype = {"F16": "float16", "F32": "float32"}.get(sl.get_dtype(), sl.get_dtype())
            self._check_snapshot(tuple(sl.get_shape()), dtype)
            for start in range(0, self.num_items, CHUNK_ROWS):
                stop = min(start + CHUNK_ROWS, self.num_items)
                self._array[start:stop] = sl[start:stop].numpy()
        self.flush()

    def _check_snapshot(self, shape: tuple[int, ...], dtype: str) -> None:
        if shape != self.shape or dtype != self.dtype:
            raise ValueError(f"x_bar snapshot is {dtype} {shape}; the store is {self.dtype} {self.shape}")

    def close(self) -> None:
        """Flush and drop this handle's reference to the memory map (the OS unmaps it when no view is left)."""
        self.flush()
        del self._array
