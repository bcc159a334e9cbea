"""Tiny data sets bundled with installed libraries (no files, no download).

* ``digits``: scikit-learn's ``load_digits`` -- 1797 8x8 grey images with values
  0..16, rescaled to 0..255 (``round(v * 255 / 16)``), labels 0..9. Split: the last
  20% (``n // 5`` = 359 images, in the library's order) is ``test``.
* ``lfw_subset``: scikit-image's ``data.lfw_subset()`` -- 100 faces then 100
  non-faces, 25x25 grey floats in [0, 1], converted with ``round(v * 255)``; labels
  1 face / 0 non-face. Split: the last 20 of each class are ``test`` (40 images),
  the first 80 of each ``train`` (160), so both splits are balanced.

``root``, ``download`` and ``download_dir`` are ignored. ``checksums`` holds the md5
of the converted uint8 arrays, which pins the library's data.
"""

from __future__ import annotations

import numpy as np

from .checksums import md5_bytes
from .dataset import LoadedDataset, Split


def _to_uint8(x: np.ndarray, scale: float) -> np.ndarray:
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * scale), 0, 255).astype(np.uint8)


def load_digits_dataset(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """scikit-learn digits, 8x8 grey, 1438/359 (bundled)."""
    import sklearn
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = _to_uint8(bunch.images, 255.0 / 16.0)[:, None]  # N x 1 x 8 x 8
    labels = np.asarray(bunch.target, dtype=np.int64)
    n_test = len(images) // 5
    cut = len(images) - n_test
    splits = {
        "train": Split(images[:cut].copy(), labels[:cut].copy()),
        "test": Split(images[cut:].copy(), labels[cut:].copy()),
    }
    return LoadedDataset(
        "digits",
        splits,
        f"scikit-learn {sklearn.__version__} load_digits() (bundled), 0..16 rescaled to 0..255, last 20% as test",
        {"digits_images_uint8": md5_bytes(images.tobytes()), "digits_labels_int64": md5_bytes(labels.tobytes())},
    )


def load_lfw_subset(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """scikit-image LFW subset, 25x25 grey faces/non-faces, 160/40 (bundled)."""
    import skimage
    from skimage import data

    raw = np.asarray(data.lfw_subset())
    if raw.shape != (200, 25, 25):
        raise ValueError(f"skimage.data.lfw_subset() returned shape {raw.shape}, expected (200, 25, 25)")
    images = _to_uint8(raw, 255.0)[:, None]
    labels = np.concatenate([np.ones(100, np.int64), np.zeros(100, np.int64)])
    test_idx = np.r_[80:100, 180:200]
    train_idx = np.r_[0:80, 100:180]
    splits = {
        "train": Split(images[train_idx], labels[train_idx]),
        "test": Split(images[test_idx], labels[test_idx]),
    }
    return LoadedDataset(
        "lfw_subset",
        splits,
        f"scikit-image {skimage.__version__} data.lfw_subset() (bundled), [0,1] -> 0..255, "
        "last 20 faces + last 20 non-faces as test",
        {"lfw_subset_images_uint8": md5_bytes(images.tobytes())},
    )
