"""Fashion-MNIST (60000 train / 10000 test, 28x28 grey, 10 classes), offline first.

Resolution order: (a) ``root`` (IDX files, ``.gz`` or not, directly or in
``root/FashionMNIST/raw/``); (b) Debian's ``dataset-fashion-mnist`` package folder
:data:`~diffrepro.data.constants.DEBIAN_FASHION_MNIST_DIR`; (c) an earlier
torchvision download in ``download_dir/FashionMNIST/raw/``, or a new one when
``download=True``. Every source is verified against the md5 of the decompressed IDX
files (see :mod:`diffrepro.data.constants`).
"""

from __future__ import annotations

from pathlib import Path

from . import constants
from .dataset import LoadedDataset
from .idx_datasets import idx_file_list, resolve_idx_dataset


def load_fashion_mnist(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """Fashion-MNIST 28x28 grey, 60k/10k (IDX; root, Debian package or torchvision)."""
    spec = constants.FASHION_MNIST  # looked up at call time so tests can substitute it
    debian = Path(constants.DEBIAN_FASHION_MNIST_DIR)
    return resolve_idx_dataset(
        spec,
        root,
        download,
        download_dir,
        local_sources=[(f"Debian package {constants.DEBIAN_FASHION_MNIST_PACKAGE}", debian)],
        how_to_fix=[
            "set `root` of the data set (`datasets.NAME.root`) in params.yaml to a folder with the four IDX files "
            f"({idx_file_list(spec)}; "
            f"each .gz or uncompressed, directly in the folder or in FashionMNIST/raw/);",
            f"on Debian/Ubuntu: `apt-get install {constants.DEBIAN_FASHION_MNIST_PACKAGE}` (installs {debian});",
            f"run once on a connected machine with download enabled to let torchvision download into "
            f"{download_dir} (files land in {Path(download_dir) / spec.torchvision_class / 'raw'}), "
            "then copy that folder here.",
        ],
    )
