"""The data-set registry: name -> the loader, imported only when that data set is loaded.

:data:`DATASETS` names each loader as ``"module:function"``; :func:`load_dataset` imports the module at call
time. Nothing imports every loader, so a step's code (its import closure, :mod:`diffrepro.codedeps`) holds no
loader, and a step that loads data sets by name lists the loaders of the sets it loads: editing the
ImageNet loader reruns nothing of a Fashion-MNIST DAG. A data set is added by writing its loader, a function
``load_my_set(root: str | None, download: bool, download_dir: str) -> LoadedDataset`` whose docstring describes
the set, in a module of this package and naming it here (a literal table: :mod:`diffrepro.codedeps` reads it
without importing anything).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from .dataset import LoadedDataset

__all__ = ["DATASETS", "UNLABELLED_SETS", "Loader", "load_dataset", "loader"]

Loader = Callable[[str | None, bool, str], LoadedDataset]

#: data-set name -> ``"module:function"`` of its loader
DATASETS: dict[str, str] = {
    "celeba64": "diffrepro.data.celeba:load_celeba64",
    "cifar10": "diffrepro.data.cifar:load_cifar10",
    "cifar100": "diffrepro.data.cifar:load_cifar100",
    "digits": "diffrepro.data.small_sets:load_digits_dataset",
    "fashion_mnist": "diffrepro.data.fashion_mnist:load_fashion_mnist",
    "imagenet32": "diffrepro.data.imagenet:load_imagenet32",
    "imagenet64": "diffrepro.data.imagenet:load_imagenet64",
    "lfw_subset": "diffrepro.data.small_sets:load_lfw_subset",
    "mnist": "diffrepro.data.mnist:load_mnist",
}


#: examples per split of each data set as its loader returns it (the parameter file's sizes are checked against
#: these before any job runs: a batch larger than the training set, more reference images than the split holds)
SPLIT_SIZES: dict[str, dict[str, int]] = {
    "fashion_mnist": {"train": 60000, "test": 10000},
    "mnist": {"train": 60000, "test": 10000},
    "cifar10": {"train": 50000, "test": 10000},
    "cifar100": {"train": 50000, "test": 10000},
    "celeba64": {"train": 162770, "test": 19962},  # the official partitions 0 and 2
    "imagenet32": {"train": 1281167, "test": 50000},  # test: the validation set
    "imagenet64": {"train": 1281167, "test": 50000},
    "digits": {"train": 1438, "test": 359},
    "lfw_subset": {"train": 160, "test": 40},
}


#: data sets whose loaders give no class labels (every label :data:`~diffrepro.data.dataset.UNLABELLED`): the
#: in-pipeline classifier cannot be trained on them, so the parameter file may not make it a metric backend there
#: (ImageNet's van den Oord PNGs are unlabelled too, its npz files are not: the format decides, checked by the step)
UNLABELLED_SETS = frozenset({"celeba64"})


def loader(name: str) -> Loader:
    """The loader of data set ``name``, its module imported now; ``ValueError`` naming the known data sets."""
    try:
        module, function = DATASETS[name].split(":")
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(sorted(DATASETS))}") from None
    return getattr(importlib.import_module(module), function)


def load_dataset(
    name: str,
    root: str | None = None,
    download: bool = True,
    download_dir: str = "data/raw",
) -> LoadedDataset:
    """Load data set ``name`` with ``train``/``test`` splits (uint8 NCHW images, int64 labels).

    ``root`` is an explicit folder holding the files (tried first); ``download``
    allows fetching with torchvision into ``download_dir`` when no local copy works.
    Raises ``ValueError`` for an unknown name, :class:`DatasetNotFoundError` when
    no source works and :class:`ChecksumError` when a file fails verification.
    """
    load = loader(name)
    root = None if root in (None, "") else str(root)
    ds = load(root, download, str(download_dir))
    if ds.name != name:
        raise RuntimeError(f"loader for {name!r} returned a data set named {ds.name!r}")
    return ds
