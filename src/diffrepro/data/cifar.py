"""CIFAR-10 and CIFAR-100 (32x32 RGB; 50000 train / 10000 test).

Two official on-disk formats are read:

* binary version (preferred: no unpickling) -- ``cifar-10-batches-bin/
  data_batch_{1..5}.bin, test_batch.bin`` with records of 1 label byte + 3072 pixel
  bytes; ``cifar-100-binary/train.bin, test.bin`` with 2 label bytes (coarse, fine)
  + 3072 pixel bytes. Pixels are 1024 R, then 1024 G, then 1024 B, row-major, so a
  record reshapes directly to 3 x 32 x 32. Verified structurally (record length,
  example counts, label ranges); no published md5 of these files is known to us.
* python version -- ``cifar-10-batches-py/data_batch_{1..5}, test_batch`` and
  ``cifar-100-python/train, test``: pickled dicts ``{b"data": uint8 N x 3072,
  b"labels" | b"fine_labels": [int]}``, md5-verified against torchvision's sums and
  read with :mod:`diffrepro.data.safe_pickle`'s restricted unpickler.

CIFAR-100 labels are the 100 fine labels. Resolution: ``root`` (the folder holding
the ``cifar-*`` folder, or that folder itself), an earlier download in
``download_dir``, then a torchvision download (python version) when ``download=True``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import constants
from .checksums import md5_file, verify_md5
from .dataset import LoadedDataset, Split
from .errors import DatasetFormatError
from .safe_pickle import restricted_load
from .sources import Probe, resolve

PIXELS = 3 * 32 * 32


@dataclass(frozen=True)
class CifarLayout:
    name: str
    title: str
    num_classes: int
    bin_folder: str
    bin_files: dict[str, tuple[str, ...]]
    label_bytes: int  # 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine)
    coarse_classes: int  # range of the first label byte when label_bytes == 2
    py_folder: str
    py_files: dict[str, tuple[str, ...]]
    py_label_key: str
    torchvision_class: str
    tarball: str

    def py_md5(self) -> dict[str, str]:
        return constants.CIFAR10_PY_MD5 if self.name == "cifar10" else constants.CIFAR100_PY_MD5

    def split_sizes(self) -> dict[str, int]:
        return constants.CIFAR10_SPLIT_SIZES if self.name == "cifar10" else constants.CIFAR100_SPLIT_SIZES


CIFAR10 = CifarLayout(
    name="cifar10",
    title="CIFAR-10",
    num_classes=10,
    bin_folder="cifar-10-batches-bin",
    bin_files={"train": tuple(f"data_batch_{i}.bin" for i in range(1, 6)), "test": ("test_batch.bin",)},
    label_bytes=1,
    coarse_classes=0,
    py_folder="cifar-10-batches-py",
    py_files={"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)},
    py_label_key="labels",
    torchvision_class="CIFAR10",
    tarball="cifar-10-binary.tar.gz or cifar-10-python.tar.gz",
)
CIFAR100 = CifarLayout(
    name="cifar100",
    title="CIFAR-100",
    num_classes=100,
    bin_folder="cifar-100-binary",
    bin_files={"train": ("train.bin",), "test": ("test.bin",)},
    label_bytes=2,
    coarse_classes=20,
    py_folder="cifar-100-python",
    py_files={"train": ("train",), "test": ("test",)},
    py_label_key="fine_labels",
    torchvision_class="CIFAR100",
    tarball="cifar-100-binary.tar.gz or cifar-100-python.tar.gz",
)


def read_cifar_binary(path: str | Path, label_bytes: int, num_classes: int, coarse_classes: int = 0) -> Split:
    """Read one binary-version file; the last label byte is the (fine) label."""
    path = Path(path)
    data = np.fromfile(path, dtype=np.uint8)
    rec = label_bytes + PIXELS
    if data.size == 0 or data.size % rec:
        raise DatasetFormatError(
            f"{path}: {data.size} bytes is not a positive multiple of the {rec}-byte CIFAR record "
            f"({label_bytes} label byte(s) + {PIXELS} pixels); the file is truncated or not CIFAR binary"
        )
    data = data.reshape(-1, rec)
    labels = data[:, label_bytes - 1].astype(np.int64)
    if int(labels.max()) >= num_classes:
        raise DatasetFormatError(f"{path}: label {int(labels.max())} outside 0..{num_classes - 1}")
    if label_bytes == 2 and int(data[:, 0].max()) >= coarse_classes:
        raise DatasetFormatError(f"{path}: coarse label {int(data[:, 0].max())} outside 0..{coarse_classes - 1}")
    images = np.ascontiguousarray(data[:, label_bytes:].reshape(-1, 3, 32, 32))
    return Split(images, labels)


def read_cifar_python(path: str | Path, label_key: str, num_classes: int, expected_md5: str | None = None) -> Split:
    """Read one python-version file with the restricted unpickler, after checking its md5."""
    path = Path(path)
    if expected_md5 is not None:
        verify_md5(path, md5_file(path), expected_md5)
    obj = restricted_load(path)
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    data, labels = entry.get("data"), entry.get(label_key)
    if data is None or labels is None:
        raise DatasetFormatError(f"{path}: missing key 'data' or {label_key!r} (keys: {sorted(map(str, entry))})")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != PIXELS:
        shape = getattr(data, "shape", None)
        raise DatasetFormatError(
            f"{path}: 'data' must be a uint8 array N x {PIXELS}, got {type(data).__name__} {shape}"
        )
    if not isinstance(labels, (list, np.ndarray)) or not all(isinstance(v, (int, np.integer)) for v in labels):
        raise DatasetFormatError(f"{path}: {label_key!r} must be a list of ints")
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetFormatError(f"{path}: labels outside 0..{num_classes - 1}")
    return Split(np.ascontiguousarray(data.reshape(-1, 3, 32, 32)), labels)


def _concat(parts: list[Split]) -> Split:
    if len(parts) == 1:
        return parts[0]
    return Split(np.concatenate([p.images for p in parts]), np.concatenate([p.labels for p in parts]))


def _check_sizes(layout: CifarLayout, splits: dict[str, Split], folder: Path) -> None:
    for split, expected in layout.split_sizes().items():
        if len(splits[split]) != expected:
            raise DatasetFormatError(
                f"{folder}: {layout.title} {split} split should have {expected} examples, found "
                f"{len(splits[split])}; delete the files and re-obtain them"
            )


def _missing(folder: Path, names: dict[str, tuple[str, ...]]) -> list[str]:
    return [n for files in names.values() for n in files if not (folder / n).is_file()]


def load_cifar_folder(layout: CifarLayout, folder: Path, origin: str) -> tuple[LoadedDataset | None, str]:
    """Read ``layout`` from ``folder`` (binary version preferred), or say why not."""
    reasons = []
    for cand in (folder / layout.bin_folder, folder):
        if not cand.is_dir():
            reasons.append(f"{cand} is not a directory")
            continue
        if missing := _missing(cand, layout.bin_files):
            reasons.append(f"{cand} lacks binary-version {', '.join(missing)}")
            continue
        splits, sums = {}, {}
        for split, names in layout.bin_files.items():
            parts = []
            for n in names:
                parts.append(read_cifar_binary(cand / n, layout.label_bytes, layout.num_classes, layout.coarse_classes))
                sums[n] = md5_file(cand / n)
            splits[split] = _concat(parts)
        _check_sizes(layout, splits, cand)
        src = f"{origin}: {layout.title} binary version in {cand} (record structure and counts verified)"
        return LoadedDataset(layout.name, splits, src, sums), ""
    for cand in (folder / layout.py_folder, folder):
        if not cand.is_dir():
            if cand != folder:
                reasons.append(f"{cand} is not a directory")
            continue
        if missing := _missing(cand, layout.py_files):
            reasons.append(f"{cand} lacks python-version {', '.join(missing)}")
            continue
        known = layout.py_md5()
        splits, sums = {}, {}
        for split, names in layout.py_files.items():
            parts = []
            for n in names:
                parts.append(read_cifar_python(cand / n, layout.py_label_key, layout.num_classes, known.get(n)))
                sums[n] = known.get(n) or md5_file(cand / n)
            splits[split] = _concat(parts)
        _check_sizes(layout, splits, cand)
        verified = (
            "torchvision md5 verified"
            if all(n in known for v in layout.py_files.values() for n in v)
            else ("structure verified; no published md5 for these file names")
        )
        src = f"{origin}: {layout.title} python version in {cand} ({verified}; restricted unpickler)"
        return LoadedDataset(layout.name, splits, src, sums), ""
    return None, "; ".join(reasons)


def _probe(layout: CifarLayout) -> Probe:
    return lambda folder, origin: load_cifar_folder(layout, folder, origin)


def _download(layout: CifarLayout) -> Callable[[Path], None]:
    def fetch(download_dir: Path) -> None:
        import torchvision.datasets as tvd

        getattr(tvd, layout.torchvision_class)(str(download_dir), train=True, download=True)

    return fetch


def _load(layout: CifarLayout, root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    return resolve(
        layout.name,
        root,
        download,
        download_dir,
        probe=_probe(layout),
        download_fn=_download(layout),
        how_to_fix=[
            f"set `root` of the data set (`datasets.NAME.root`) in params.yaml to a folder holding "
            f"{layout.bin_folder}/ "
            f"or {layout.py_folder}/ "
            f"(extracted from the official {layout.tarball});",
            f"run once on a connected machine with download enabled to let torchvision download into "
            f"{download_dir}, then copy {Path(download_dir) / layout.py_folder} here.",
        ],
    )


def load_cifar10(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """CIFAR-10 32x32 RGB, 50k/10k (binary or python version; root or torchvision)."""
    return _load(CIFAR10, root, download, download_dir)


def load_cifar100(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """CIFAR-100 32x32 RGB, 50k/10k, fine labels (binary or python version; root or torchvision)."""
    return _load(CIFAR100, root, download, download_dir)
