"""MNIST (60000 train / 10000 test, 28x28 grey, 10 classes).

Resolution order: ``root`` (IDX files, ``.gz`` or not, directly or in
``root/MNIST/raw/``), an earlier torchvision download in ``download_dir/MNIST/raw/``,
then a torchvision download when ``download=True``.

Integrity: ``.gz`` archives are compared with torchvision's published md5 (recorded
when they match). We know no published md5 of the *decompressed* MNIST IDX files,
so the decompressed files are verified structurally instead: IDX magic and dtype
code, exact byte length for the declared dims, 28x28 images, 60000/10000 examples,
labels in 0..9. Their md5 is still recorded in ``LoadedDataset.checksums``.
"""

from __future__ import annotations

from pathlib import Path

from . import constants
from .dataset import LoadedDataset
from .idx_datasets import idx_file_list, resolve_idx_dataset


def load_mnist(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """MNIST 28x28 grey, 60k/10k (IDX; root or torchvision)."""
    spec = constants.MNIST
    return resolve_idx_dataset(
        spec,
        root,
        download,
        download_dir,
        how_to_fix=[
            "set `root` of the data set (`datasets.NAME.root`) in params.yaml to a folder with the four IDX files "
            f"({idx_file_list(spec)}; "
            "each .gz or uncompressed, directly in the folder or in MNIST/raw/);",
            f"run once on a connected machine with download enabled to let torchvision download into "
            f"{download_dir} (files land in {Path(download_dir) / spec.torchvision_class / 'raw'}), "
            "then copy that folder here.",
        ],
    )
