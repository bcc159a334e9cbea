"""Data sets: offline-first loading with integrity checks, and the processed artifact.

Public API::

    load_dataset(name, root=None, download=True, download_dir="data/raw") -> LoadedDataset
    DATASETS                         # registry: name -> DatasetEntry (callable loader)
    LoadedDataset, Split             # containers (uint8 N x C x H x W images, int64 labels)
    UNLABELLED                       # the label (-1) of every image of an unlabelled data set
    DatasetNotFoundError, ChecksumError
    resize_images(images, size), save_processed(path, dataset, resolution), load_processed(path)

To add a data set, write a module that decorates its loader with
``@register("name")`` (see :mod:`diffrepro.data.registry`) and import it below.
"""

from .dataset import UNLABELLED, LoadedDataset, Split
from .errors import ChecksumError, DatasetFormatError, DatasetNotFoundError
from .processed import load_processed, resize_images, save_processed
from .registry import DATASETS, load_dataset, register

# Loader modules register themselves on import.
from . import celeba, cifar, fashion_mnist, imagenet, mnist, small_sets  # noqa: E402,F401  isort: skip

__all__ = [
    "DATASETS",
    "ChecksumError",
    "DatasetFormatError",
    "DatasetNotFoundError",
    "LoadedDataset",
    "Split",
    "UNLABELLED",
    "load_dataset",
    "load_processed",
    "register",
    "resize_images",
    "save_processed",
]
