"""Data sets: offline-first loading with integrity checks, and the processed artifact.

Public API::

    load_dataset(name, root=None, download=True, download_dir="data/raw") -> LoadedDataset
    DATASETS                         # registry: name -> "module:function" of its loader (imported when used)
    LoadedDataset, Split             # containers (uint8 N x C x H x W images, int64 labels)
    UNLABELLED                       # the label (-1) of every image of an unlabelled data set
    DatasetNotFoundError, ChecksumError
    resize_images(images, size), save_processed(path, dataset, resolution), load_processed(path)

To add a data set, write its loader and name it in :data:`~diffrepro.data.registry.DATASETS`. No loader is
imported here: a loader runs only when its data set is loaded (:mod:`diffrepro.data.registry`).
"""

from .dataset import UNLABELLED, LoadedDataset, Split
from .errors import ChecksumError, DatasetFormatError, DatasetNotFoundError
from .processed import load_processed, resize_images, save_processed
from .registry import DATASETS, load_dataset

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
    "resize_images",
    "save_processed",
]
