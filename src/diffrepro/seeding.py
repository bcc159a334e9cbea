"""Deterministic seeds derived from the run's seed and a purpose.

Every random draw in a step (initialisation, data order per epoch, timesteps and noise per
training step, dropout per step, sampling noise) uses its own generator seeded by
``derive_seed(seed, purpose, index)``.  Random state is therefore a pure function of
(seed, step): a resumed run draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

import hashlib

import torch


def derive_seed(seed: int, *keys: object) -> int:
    digest = hashlib.sha256(repr((int(seed),) + tuple(str(k) for k in keys)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, *keys: object) -> torch.Generator:
    return torch.Generator().manual_seed(derive_seed(seed, *keys))
