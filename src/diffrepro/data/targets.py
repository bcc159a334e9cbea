"""Image sets that a trained model is evaluated on (Deja et al. 2022, Fig. 3, Table 2, Fig. 6b).

A *target set* is ``n`` test images of a data set, brought to the source model's format:

* the preset's own data set (``in_domain``) is the processed test split as written by
  ``prepare-data`` (already at the source resolution and channel count, taken as it is);
* any other registered data set (:mod:`diffrepro.data.registry`) is loaded with
  :func:`~diffrepro.data.load_dataset` and its test split conformed to the source
  (:func:`conform_images`): channels converted, centre-cropped to a square, resized.

Which images: :func:`select_indices` draws a permutation of the split from a generator seeded
by ``(seed, "targets", name)`` (:mod:`diffrepro.seeding`) and keeps its first ``n`` entries,
sorted. The choice depends only on the seed, the set's name and its size: every analysis that
asks for ``n`` images of a set gets the same ones, and a smaller ``n`` gives a subset of them.
When the split holds fewer than ``n`` images, all of them are used (the count is reported).

Conversions (:func:`conform_images`), all on float32 values in ``[0, 255]`` with one final
rounding to uint8:

* grey -> RGB repeats the channel; RGB -> grey is the ITU-R BT.601 luma
  ``0.299 R + 0.587 G + 0.114 B`` (what PIL's ``"L"`` mode and torchvision use);
* a non-square image is centre-cropped to its shorter side (offsets ``(H - side) // 2``,
  ``(W - side) // 2``);
* resizing is bilinear with antialiasing (``F.interpolate(mode="bilinear", antialias=True,
  align_corners=False)``), the filter :func:`diffrepro.data.processed.resize_images` uses to write
  the processed data set, so an out-of-domain set is downscaled the way the source set was.

:func:`photo_images` applies the same conversions to the scikit-image example photos
(``skimage.data``, bundled with the package, no download) used for the toy examples (Fig. 6b).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..seeding import generator
from . import load_dataset

__all__ = [
    "LUMA_WEIGHTS",
    "PHOTOS",
    "TargetSet",
    "center_crop_square",
    "conform_images",
    "load_target_sets",
    "load_target_set",
    "photo_images",
    "select_indices",
]

#: ITU-R BT.601 luma weights for RGB -> grey.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: scikit-image example photos the toy examples may use (``skimage.data.<name>()``, all bundled).
PHOTOS = ("astronaut", "camera", "cat", "coffee", "coins", "moon", "page", "rocket", "text", "chelsea")


@dataclass(frozen=True)
class TargetSet:
    """``images``: uint8 ``[n, C, H, W]`` in the source format; ``indices``: their positions in the
    test split; ``in_domain``: the preset's own data set; ``source``: where the images came from."""

    name: str
    images: Tensor
    indices: tuple[int, ...]
    in_domain: bool
    source: str
    available: int

    @property
    def n(self) -> int:
        return int(self.images.shape[0])


def select_indices(total: int, n: int, seed: int, name: str) -> list[int]:
    """``min(n, total)`` distinct indices of ``0 .. total - 1``: the first entries of a permutation
    drawn from ``generator(seed, "targets", name)``, sorted ascending."""
    if isinstance(total, bool) or not isinstance(total, int) or total < 1:
        raise ValueError(f"total must be a positive int, got {total!r}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    perm = torch.randperm(total, generator=generator(seed, "targets", name))
    return sorted(int(i) for i in perm[: min(n, total)])


def _to_channels(x: Tensor, channels: int) -> Tensor:
    """float ``[N, C, H, W]`` -> ``channels`` (1 or 3): repeat grey, BT.601 luma for RGB -> grey."""
    c = x.shape[1]
    if c == channels:
        return x
    if c == 1 and channels == 3:
        return x.repeat(1, 3, 1, 1)
    if c == 3 and channels == 1:
        w = x.new_tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
        return (x * w).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot convert {c}-channel images to {channels} channels (only 1 <-> 3)")


def center_crop_square(x: Tensor) -> Tensor:
    """Centre crop ``[..., H, W]`` to ``side x side`` with ``side = min(H, W)``."""
    h, w = x.shape[-2:]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return x[..., top : top + side, left : left + side]


def conform_images(images, channels: int, size: int, *, batch: int = 1024) -> Tensor:
    """uint8 ``[N, C, H, W]`` (numpy or torch) -> uint8 ``[N, channels, size, size]`` (module docstring).

    Images that already have the format are returned unchanged (as a torch tensor).
    """
    x = torch.as_tensor(np.asarray(images)) if not isinstance(images, Tensor) else images
    if x.dtype != torch.uint8 or x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 [N, C, H, W] images with C in (1, 3), got {x.dtype} {tuple(x.shape)}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if x.shape[1] == channels and x.shape[2] == size and x.shape[3] == size:
        return x
    out = []
    for start in range(0, x.shape[0], batch):
        y = center_crop_square(x[start : start + batch].to(torch.float32))
        y = _to_channels(y, channels)
        if y.shape[-1] != size:
            y = F.interpolate(y, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        out.append(y.round_().clamp_(0, 255).to(torch.uint8))
    return torch.cat(out)


def load_target_set(
    name: str,
    n: int,
    *,
    seed: int,
    source_dataset: str,
    source_test_images: Tensor,
    root: str | None = None,
    download: bool = False,
    download_dir: str = "data/raw",
) -> TargetSet:
    """``n`` test images of data set ``name`` in the format of ``source_test_images``.

    ``source_dataset`` / ``source_test_images``: the preset's data set name and its processed test
    split (uint8 ``[N, C, H, W]``); ``name == source_dataset`` selects from that split as it is.
    Any other name is loaded through the data registry (``root``, ``download`` and
    ``download_dir`` as in :func:`~diffrepro.data.load_dataset`) and conformed to the source's
    channel count and resolution. Image choice: :func:`select_indices` (module docstring).
    """
    src = source_test_images
    if not isinstance(src, Tensor) or src.dtype != torch.uint8 or src.ndim != 4:
        raise ValueError("source_test_images must be a uint8 [N, C, H, W] tensor")
    channels, size = int(src.shape[1]), int(src.shape[2])
    if name == source_dataset:
        pool, in_domain, where = src, True, f"{name} processed test split"
    else:
        ds = load_dataset(name, root=root, download=download, download_dir=download_dir)
        pool, in_domain = ds.splits["test"].images, False
        where = (
            f"{name} test split ({ds.source}), {ds.channels}x{ds.resolution}x{ds.resolution} -> "
            f"{channels}x{size}x{size}"
        )
    total = int(pool.shape[0])
    idx = select_indices(total, n, seed, name)
    chosen = pool[idx] if isinstance(pool, Tensor) else np.ascontiguousarray(pool[idx])
    images = conform_images(chosen, channels, size)
    return TargetSet(
        name=name, images=images.contiguous(), indices=tuple(idx), in_domain=in_domain, source=where, available=total
    )


def load_target_sets(
    names: list[str],
    n: int,
    *,
    seed: int,
    source_dataset: str,
    source_test_images: Tensor,
    locate: Callable[[str], tuple[str | None, bool]],
    download_dir: str = "data/raw",
    warn: Callable[[str], None] | None = None,
) -> Iterator[tuple[str, TargetSet]]:
    """``(name, target set)`` of each data set of ``names`` in turn (:func:`load_target_set`); ``locate(name)``
    gives its ``(root, download)`` (:func:`diffrepro.config.target_location`); ``warn`` is told of a set with fewer
    than ``n`` test images (all of them are used)."""
    for name in names:
        root, download = locate(name)
        target = load_target_set(
            name,
            n,
            seed=seed,
            source_dataset=source_dataset,
            source_test_images=source_test_images,
            root=root,
            download=download,
            download_dir=download_dir,
        )
        if target.n < n and warn is not None:
            warn(f"{name}: only {target.n} test images, using all of them (asked for {n})")
        yield name, target


def photo_images(names, channels: int, size: int) -> Tensor:
    """scikit-image photos ``names`` as uint8 ``[P, channels, size, size]`` (grey or RGB converted,
    centre-cropped to a square, resized with antialiasing: :func:`conform_images`)."""
    from skimage import data

    out = []
    for name in names:
        if name not in PHOTOS:
            raise ValueError(f"unknown photo {name!r}; known photos: {', '.join(PHOTOS)}")
        img = np.asarray(getattr(data, name)())
        if img.dtype != np.uint8:
            raise ValueError(f"skimage.data.{name}() is {img.dtype}, expected uint8")
        if img.ndim == 2:
            img = img[None]
        elif img.ndim == 3 and img.shape[2] in (3, 4):
            img = np.moveaxis(img[..., :3], 2, 0)
        else:
            raise ValueError(f"skimage.data.{name}() has shape {img.shape}; expected H x W or H x W x 3")
        out.append(conform_images(np.ascontiguousarray(img[None]), channels, size))
    return torch.cat(out)
