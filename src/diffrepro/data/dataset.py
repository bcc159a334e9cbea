"""In-memory containers for a loaded data set."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The label of an image whose data set gives no class (e.g. the van den Oord et al. ImageNet PNGs).
#: Everything but the feature classifier works without labels; training that classifier refuses them.
UNLABELLED = -1


@dataclass
class Split:
    """One split: ``images`` uint8 ``N x C x H x W`` (C=1 grey, 3 RGB), ``labels`` int64 ``[N]``
    (class indices from 0, or :data:`UNLABELLED` for every image of an unlabelled data set)."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if not isinstance(self.images, np.ndarray) or self.images.dtype != np.uint8:
            raise TypeError(f"Split.images must be a uint8 numpy array, got {_describe(self.images)}")
        if self.images.ndim != 4 or self.images.shape[1] not in (1, 3):
            raise ValueError(f"Split.images must be N x C x H x W with C in (1, 3), got shape {self.images.shape}")
        if not isinstance(self.labels, np.ndarray) or self.labels.dtype != np.int64 or self.labels.ndim != 1:
            raise TypeError(f"Split.labels must be a 1-D int64 numpy array, got {_describe(self.labels)}")
        if len(self.labels) != len(self.images):
            raise ValueError(f"Split has {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return int(self.images.shape[0])


@dataclass
class LoadedDataset:
    """A data set with its ``train`` and ``test`` splits and where it came from.

    ``source`` says in words which folder/file/method provided the data;
    ``checksums`` maps file name -> md5 of the bytes that were verified.
    """

    name: str
    splits: dict[str, Split]
    source: str
    checksums: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = {"train", "test"} - set(self.splits)
        if missing:
            raise ValueError(f"LoadedDataset {self.name!r} lacks split(s) {sorted(missing)}")
        shapes = {k: s.images.shape[1:] for k, s in self.splits.items()}
        if len(set(shapes.values())) != 1:
            raise ValueError(f"LoadedDataset {self.name!r}: splits differ in C x H x W: {shapes}")

    @property
    def channels(self) -> int:
        return int(self.splits["train"].images.shape[1])

    @property
    def resolution(self) -> int:
        return int(self.splits["train"].images.shape[2])


def _describe(x: object) -> str:
    if isinstance(x, np.ndarray):
        return f"ndarray dtype={x.dtype} shape={x.shape}"
    return type(x).__name__
