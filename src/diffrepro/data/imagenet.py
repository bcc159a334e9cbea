"""Downsampled ImageNet at 32x32 ("imagenet32") and 64x64 ("imagenet64"), RGB.

Two different published data sets go by this name, and both are read; neither can be
downloaded automatically (image-net.org needs a login), so the files must already be on
disk under ``data.root`` (or under ``download_dir``, ``data/raw`` by default).

* **Chrabaszcz et al. 2017** ("A Downsampled Variant of ImageNet as an Alternative to the
  CIFAR datasets"; image-net.org, Download, "Downsampled ImageNet"), *labelled*, 1000
  classes. npz variant (preferred, no unpickling)::

      Imagenet32_train_npz/train_data_batch_1.npz ... train_data_batch_10.npz
      Imagenet32_val_npz/val_data.npz
      Imagenet64_train_part1_npz/train_data_batch_1.npz ... _5.npz
      Imagenet64_train_part2_npz/train_data_batch_6.npz ... _10.npz
      Imagenet64_val_npz/val_data.npz

  Each archive holds ``data`` (uint8 ``N x 3*S*S``: the S x S red plane row-major, then
  green, then blue, so a row reshapes directly to ``3 x S x S``) and ``labels`` (1..1000;
  converted to 0..999); the train batches also hold ``mean``, which is not used. Read with
  ``numpy.load(allow_pickle=False)``. The pickle variant (``Imagenet32_train/
  train_data_batch_1`` ..., ``Imagenet32_val/val_data``; ``Imagenet64_train_part1/``,
  ``Imagenet64_train_part2/``, ``Imagenet64_val/``) holds the same dicts pickled; it is
  read with :mod:`diffrepro.data.safe_pickle`'s restricted unpickler. The batch files may
  also lie directly in the folder (the archives' contents moved up one level).
* **van den Oord et al. 2016** (PixelRNN; the set of the generative-modelling literature:
  Glow, VDM, improved DDPM's ImageNet-64 NLL), *unlabelled*::

      train_32x32/*.png   valid_32x32/*.png     (resp. train_64x64/, valid_64x64/)

  extracted from ``train_32x32.tar`` and ``valid_32x32.tar``. Images are read in file-name
  order (sorted as strings), so the order is the same on every machine.

Splits: ``train`` is the training set, ``test`` the validation set (ImageNet's test labels
were never released). Every image must be exactly S x S and RGB (a PNG in another mode or
size, or an npz row of another length, is an error naming the file).

Unlabelled images (the van den Oord PNGs) get the label :data:`~diffrepro.data.dataset.UNLABELLED`
(-1), never a made-up class: preparing the data, training, sampling, NLL and the Inception
metrics work without labels; training the feature classifier (the ``classifier`` metric
backend, which the workflow's evaluation rules read) needs class labels and stops with an
error that says so -- use the labelled Chrabaszcz et al. files for the whole DAG.

When a folder holds both a labelled and an unlabelled copy, the labelled one is used (the
``source`` of the processed artifact says which) and a warning names the one left out.

Counts are not checked against published totals (the releases are not documented to the
image); every batch file of a variant must be present, and the counts are reported. Memory:
the full training set is held in memory, about 3.9 GB at 32x32 and 15.7 GB at 64x64.
"""

from __future__ import annotations

import logging
import os
import pickle
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile
from PIL import Image

from . import constants
from .checksums import md5_bytes, md5_file
from .dataset import UNLABELLED, LoadedDataset, Split
from .errors import DatasetFormatError
from .safe_pickle import restricted_load
from .sources import resolve

log = logging.getLogger(__name__)

NUM_CLASSES = constants.IMAGENET_CLASSES
TRAIN_BATCHES = tuple(range(1, 11))
WHERE_TO_GET = (
    "https://image-net.org (log in, then Download -> 'Downsampled ImageNet'; ImageNet's terms of access apply)"
)


@dataclass(frozen=True)
class ImagenetLayout:
    name: str
    size: int
    #: van den Oord et al. 2016: folders of PNGs
    png_folders: dict[str, str]
    png_tarballs: str
    #: Chrabaszcz et al. 2017: folders holding ``train_data_batch_{i}[.npz]`` (first match wins) and ``val_data[.npz]``
    npz_train_folders: tuple[str, ...]
    npz_val_folder: str
    pkl_train_folders: tuple[str, ...]
    pkl_val_folder: str
    npz_archives: str

    @property
    def pixels(self) -> int:
        return 3 * self.size * self.size


IMAGENET32 = ImagenetLayout(
    name="imagenet32",
    size=32,
    png_folders={"train": "train_32x32", "test": "valid_32x32"},
    png_tarballs="train_32x32.tar and valid_32x32.tar",
    npz_train_folders=("Imagenet32_train_npz",),
    npz_val_folder="Imagenet32_val_npz",
    pkl_train_folders=("Imagenet32_train",),
    pkl_val_folder="Imagenet32_val",
    npz_archives="Imagenet32_train_npz.zip and Imagenet32_val_npz.zip",
)
IMAGENET64 = ImagenetLayout(
    name="imagenet64",
    size=64,
    png_folders={"train": "train_64x64", "test": "valid_64x64"},
    png_tarballs="train_64x64.tar and valid_64x64.tar",
    npz_train_folders=constants.IMAGENET64_NPZ_TRAIN_FOLDERS,
    npz_val_folder=constants.IMAGENET64_NPZ_VAL_FOLDER,
    pkl_train_folders=("Imagenet64_train_part1", "Imagenet64_train_part2"),
    pkl_val_folder="Imagenet64_val",
    npz_archives="Imagenet64_train_part1_npz.zip, Imagenet64_train_part2_npz.zip and Imagenet64_val_npz.zip",
)


# ----------------------------------------------------------------------------- Chrabaszcz et al. batches
def _check_batch(path: Path, data: object, labels: object, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Validate one batch's arrays; return images ``N x 3 x S x S`` (uint8) and labels 0..999 (int64)."""
    pixels = 3 * size * size
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        desc = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DatasetFormatError(f"{path}: 'data' must be a uint8 array N x {pixels}, got {desc}")
    if data.shape[1] != pixels:
        other = {3 * s * s: s for s in (8, 16, 32, 64)}.get(data.shape[1])
        hint = f" (the {other}x{other} release)" if other else ""
        raise DatasetFormatError(
            f"{path}: rows hold {data.shape[1]} values, expected {pixels} (3 x {size} x {size} RGB){hint}; "
            f"these images are not {size}x{size}"
        )
    if isinstance(labels, list):
        if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in labels):
            raise DatasetFormatError(f"{path}: 'labels' must be integers")
        labels = np.asarray(labels, dtype=np.int64)
    if not isinstance(labels, np.ndarray) or labels.ndim != 1 or labels.dtype.kind not in "iu":
        desc = f"{labels.dtype} {labels.shape}" if isinstance(labels, np.ndarray) else type(labels).__name__
        raise DatasetFormatError(f"{path}: 'labels' must be a 1-D integer array, got {desc}")
    if len(labels) != len(data):
        raise DatasetFormatError(f"{path}: {len(data)} images but {len(labels)} labels")
    if len(labels) and (int(labels.min()) < 1 or int(labels.max()) > NUM_CLASSES):
        raise DatasetFormatError(
            f"{path}: labels span {int(labels.min())}..{int(labels.max())}, expected 1..{NUM_CLASSES} "
            "(the release numbers classes from 1)"
        )
    return data.reshape(-1, 3, size, size), labels.astype(np.int64) - 1


def _npz_error(path: Path, e: Exception) -> DatasetFormatError:
    return DatasetFormatError(
        f"{path}: cannot read this npz ({type(e).__name__}: {e}); it is truncated or corrupted: "
        "delete it and extract it again"
    )


_NPZ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)


def _npz_arrays(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of the npz archive ``path`` (``allow_pickle=False``; other members are not read)."""
    try:
        f = np.load(path, allow_pickle=False)
    except _NPZ_ERRORS as e:
        raise _npz_error(path, e) from e
    if not isinstance(f, NpzFile):
        raise DatasetFormatError(f"{path}: not an npz archive (a single .npy array)")
    with f:
        missing = [k for k in keys if k not in f.files]
        if missing:
            raise DatasetFormatError(f"{path}: lacks array(s) {missing} (has {sorted(f.files)})")
        try:
            return {k: f[k] for k in keys}
        except _NPZ_ERRORS as e:
            raise _npz_error(path, e) from e


def read_npz_batch(path: str | Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one ``*.npz`` batch (``allow_pickle=False``): images ``N x 3 x S x S`` uint8, labels 0..999."""
    path = Path(path)
    arrays = _npz_arrays(path, ("data", "labels"))
    return _check_batch(path, arrays["data"], arrays["labels"], size)


def npz_count(path: Path) -> int:
    """Number of examples in one npz batch, from its (small) ``labels`` array alone."""
    labels = _npz_arrays(path, ("labels",))["labels"]
    if labels.ndim != 1:
        raise DatasetFormatError(f"{path}: 'labels' must be 1-D, got shape {labels.shape}")
    return int(labels.shape[0])


def read_pickle_batch(path: str | Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Read one pickle-variant batch with the restricted unpickler (no arbitrary code is run)."""
    path = Path(path)
    try:
        obj = restricted_load(path)
    except pickle.UnpicklingError as e:
        raise DatasetFormatError(f"{path}: cannot read this pickle batch ({e}); delete it and extract it again") from e
    if not isinstance(obj, dict):
        raise DatasetFormatError(f"{path}: expected a pickled dict, got {type(obj).__name__}")
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}
    if "data" not in entry or "labels" not in entry:
        raise DatasetFormatError(f"{path}: missing key 'data' or 'labels' (keys: {sorted(map(str, entry))})")
    return _check_batch(path, entry["data"], entry["labels"], size)


def _find(folder: Path, subfolders: tuple[str, ...], name: str) -> Path | None:
    for cand in (*(folder / s for s in subfolders), folder):
        if (cand / name).is_file():
            return cand / name
    return None


def _batch_files(layout: ImagenetLayout, folder: Path, variant: str) -> tuple[dict[str, list[Path]] | None, str]:
    """The train and validation batch files of ``variant`` ("npz" or "pickle") under ``folder``, or why not."""
    ext = ".npz" if variant == "npz" else ""
    train_dirs = layout.npz_train_folders if variant == "npz" else layout.pkl_train_folders
    val_dir = layout.npz_val_folder if variant == "npz" else layout.pkl_val_folder
    found: dict[str, list[Path]] = {"train": [], "test": []}
    missing_batches = []
    for i in TRAIN_BATCHES:
        if (p := _find(folder, train_dirs, f"train_data_batch_{i}{ext}")) is None:
            missing_batches.append(i)
        else:
            found["train"].append(p)
    if len(missing_batches) == len(TRAIN_BATCHES):
        missing = [f"train_data_batch_{TRAIN_BATCHES[0]}{ext} ... _{TRAIN_BATCHES[-1]}{ext}"]
    else:
        missing = [f"train_data_batch_{i}{ext}" for i in missing_batches]
    if (p := _find(folder, (val_dir,), f"val_data{ext}")) is None:
        missing.append(f"val_data{ext}")
    else:
        found["test"].append(p)
    if missing:
        where = ", ".join(f"{d}/" for d in (*train_dirs, val_dir))
        return None, f"lacks {variant} variant {', '.join(missing)} (looked in {where} and the folder itself)"
    return found, ""


def load_batches(layout: ImagenetLayout, files: dict[str, list[Path]], variant: str) -> dict[str, Split]:
    """Read the batches into one preallocated array per split (npz: counts read from the labels first)."""
    splits = {}
    for split, paths in files.items():
        if variant == "npz":
            counts = [npz_count(p) for p in paths]
            images = np.empty((sum(counts), 3, layout.size, layout.size), dtype=np.uint8)
            labels = np.empty(len(images), dtype=np.int64)
            start = 0
            for p, n in zip(paths, counts):
                imgs, labs = read_npz_batch(p, layout.size)
                if len(imgs) != n:  # the file changed between the two reads
                    raise DatasetFormatError(f"{p}: holds {len(imgs)} images, {n} when first read")
                images[start : start + n], labels[start : start + n] = imgs, labs
                start += n
        else:
            parts = [read_pickle_batch(p, layout.size) for p in paths]
            images = np.concatenate([im for im, _ in parts]) if len(parts) > 1 else np.ascontiguousarray(parts[0][0])
            labels = np.concatenate([lb for _, lb in parts])
        if len(images) == 0:
            raise DatasetFormatError(f"{paths[0].parent}: the {split} batches hold no image")
        splits[split] = Split(images, labels)
    return splits


# ----------------------------------------------------------------------------- van den Oord et al. PNGs
def _load_png(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            img.load()
            if img.size != (size, size) or img.mode != "RGB":
                w, h = img.size
                raise DatasetFormatError(
                    f"{path}: image is {w}x{h} {img.mode}, expected {size}x{size} RGB; it does not belong to "
                    f"the {size}x{size} release"
                )
            return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    except DatasetFormatError:
        raise
    except (OSError, ValueError, SyntaxError) as e:  # PIL reports broken files as OSError/SyntaxError
        raise DatasetFormatError(f"{path}: cannot decode this PNG ({e}); delete it and extract it again") from e


def read_png_folder(folder: str | Path, size: int) -> np.ndarray:
    """All ``*.png`` of ``folder`` in sorted file-name order as uint8 ``N x 3 x S x S``."""
    folder = Path(folder)
    paths = sorted((p for p in folder.iterdir() if p.suffix == ".png" and p.is_file()), key=lambda p: p.name)
    if not paths:
        raise DatasetFormatError(f"{folder}: holds no *.png image")
    images = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
        for i, arr in enumerate(pool.map(lambda p: _load_png(p, size), paths, chunksize=256)):
            images[i] = arr
    return images


def _has_pngs(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix == ".png" for p in folder.iterdir())


# ----------------------------------------------------------------------------- resolution
def load_imagenet_folder(layout: ImagenetLayout, folder: Path, origin: str) -> tuple[LoadedDataset | None, str]:
    """Read ``layout`` from ``folder`` (npz, then pickle, then PNG folders), or say why not."""
    reasons = []
    png_dirs = {split: folder / name for split, name in layout.png_folders.items()}
    for variant in ("npz", "pickle"):
        files, why = _batch_files(layout, folder, variant)
        if files is None:
            reasons.append(f"{folder} {why}")
            continue
        if all(_has_pngs(d) for d in png_dirs.values()):
            log.warning(
                "%s: %s holds both the labelled Chrabaszcz et al. %s files and the unlabelled van den Oord et al. "
                "PNG folders %s; using the labelled files (point data.root at a folder holding only the PNG folders "
                "to use those)",
                layout.name,
                folder,
                variant,
                ", ".join(layout.png_folders.values()),
            )
        splits = load_batches(layout, files, variant)
        sums = {str(p.relative_to(folder)): md5_file(p) for paths in files.values() for p in paths}
        how = "numpy.load(allow_pickle=False)" if variant == "npz" else "restricted unpickler"
        src = (
            f"{origin}: Chrabaszcz et al. 2017 downsampled ImageNet {layout.size}x{layout.size}, {variant} variant "
            f"in {folder} ({len(splits['train'])} train / {len(splits['test'])} validation images, labels 1..1000 "
            f"-> 0..999; structure verified, md5 recorded; {how})"
        )
        return LoadedDataset(layout.name, splits, src, sums), ""
    lacking = [f"{d.name}/" for d in png_dirs.values() if not _has_pngs(d)]
    if lacking:
        reasons.append(f"{folder} lacks PNG folder(s) {', '.join(lacking)} (or they hold no *.png)")
        return None, "; ".join(reasons)
    splits, sums = {}, {}
    for split, d in png_dirs.items():
        images = read_png_folder(d, layout.size)
        splits[split] = Split(images, np.full(len(images), UNLABELLED, dtype=np.int64))
        sums[f"{d.name}/*.png (decoded uint8, sorted by name)"] = md5_bytes(images.tobytes())
    src = (
        f"{origin}: van den Oord et al. 2016 downsampled ImageNet {layout.size}x{layout.size} PNG folders in {folder} "
        f"({len(splits['train'])} train / {len(splits['test'])} validation images, sorted by file name; "
        f"unlabelled: labels {UNLABELLED})"
    )
    return LoadedDataset(layout.name, splits, src, sums), ""


def _probe(layout: ImagenetLayout):
    def probe(folder: Path, origin: str) -> tuple[LoadedDataset | None, str]:
        reasons = []
        for cand in (folder, folder / layout.name):
            if not cand.is_dir():
                reasons.append(f"{cand} is not a directory")
                continue
            ds, why = load_imagenet_folder(layout, cand, origin)
            if ds is not None:
                return ds, ""
            reasons.append(why)
        return None, "; ".join(reasons)

    return probe


def _load(layout: ImagenetLayout, root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    s = layout.size
    first_train = layout.npz_train_folders[0]
    return resolve(
        layout.name,
        root,
        download,
        download_dir,
        probe=_probe(layout),
        download_fn=None,  # image-net.org needs a login: never downloaded
        how_to_fix=[
            f"labelled (Chrabaszcz et al. 2017, the whole DAG works): get {layout.npz_archives} from {WHERE_TO_GET}, "
            f"unzip them into one folder (giving {first_train}/train_data_batch_1.npz ... and "
            f"{layout.npz_val_folder}/val_data.npz) and set `root` of this data set in params.yaml to that folder;",
            f"unlabelled (van den Oord et al. 2016; preparing, training, sampling and Inception metrics work, the "
            f"classifier backend does not): get {layout.png_tarballs} from the same page, extract them into one "
            f"folder (giving {layout.png_folders['train']}/*.png and {layout.png_folders['test']}/*.png) and set "
            f"`root` to that folder;",
            f"or put either layout under {Path(download_dir) / layout.name} (no download is attempted: "
            f"ImageNet needs a login). Every image must be {s}x{s} RGB.",
        ],
    )


def load_imagenet32(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """Downsampled ImageNet 32x32 RGB (Chrabaszcz npz/pickle, labelled; or van den Oord PNGs, unlabelled; root only)."""
    return _load(IMAGENET32, root, download, download_dir)


def load_imagenet64(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """Downsampled ImageNet 64x64 RGB (Chrabaszcz npz/pickle, labelled; or van den Oord PNGs, unlabelled; root only)."""
    return _load(IMAGENET64, root, download, download_dir)
