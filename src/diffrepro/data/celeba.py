"""CelebA at 64x64 ("celeba64"), from the aligned-and-cropped images.

Reads ``img_align_celeba/`` (JPEG or PNG, 178 x 218) and ``list_eval_partition.txt``
(lines ``<file> <0|1|2>``: 0 train, 1 valid, 2 test) from ``root`` or
``root/celeba/`` (torchvision's layout). Each image is converted to RGB,
center-cropped to 140 x 140 (offsets rounded as torchvision's ``CenterCrop``) and
resized to 64 x 64 with PIL's antialiased bilinear filter -- the common
"CelebA 64" protocol (``CenterCrop(140)`` + ``Resize(64)``). Splits: ``train`` =
partition 0, ``test`` = partition 2; the validation partition (1) is not used.
Labels are all zero (unconditional). The partition file is verified against
torchvision's published md5; a listed image that is missing is an error.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from . import constants
from .checksums import md5_file, verify_md5
from .dataset import UNLABELLED, LoadedDataset, Split
from .errors import DatasetFormatError
from .sources import resolve

IMAGE_FOLDER = "img_align_celeba"
PARTITION_FILE = "list_eval_partition.txt"
PARTITIONS = {"train": 0, "test": 2}


def read_partition(path: Path) -> dict[str, int]:
    """Parse ``list_eval_partition.txt`` into ``{file name: partition}``."""
    out: dict[str, int] = {}
    for lineno, line in enumerate(path.read_text(encoding="ascii").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DatasetFormatError(f"{path}:{lineno}: expected '<image file> <0|1|2>', got {line!r}")
        out[parts[0]] = int(parts[1])
    if not out:
        raise DatasetFormatError(f"{path}: empty partition file")
    return out


def center_crop_resize(img: Image.Image, crop: int, size: int) -> np.ndarray:
    """RGB ``crop x crop`` center crop, resized to ``size x size``; returns uint8 3 x size x size."""
    img = img.convert("RGB")
    w, h = img.size
    if w < crop or h < crop:
        raise DatasetFormatError(f"image of {w}x{h} is smaller than the {crop}x{crop} crop")
    top, left = int(round((h - crop) / 2.0)), int(round((w - crop) / 2.0))
    img = img.crop((left, top, left + crop, top + crop))
    if crop != size:
        img = img.resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)


def _load_one(path: Path, crop: int, size: int) -> np.ndarray:
    try:
        with Image.open(path) as img:
            return center_crop_resize(img, crop, size)
    except (OSError, DatasetFormatError) as e:
        raise DatasetFormatError(f"{path}: cannot use image ({e}); delete it and re-obtain it") from e


def read_celeba_folder(folder: Path, origin: str, crop: int | None = None, size: int | None = None) -> LoadedDataset:
    crop = constants.CELEBA_CROP if crop is None else crop
    size = constants.CELEBA_RESOLUTION if size is None else size
    part_path = folder / PARTITION_FILE
    part_md5 = md5_file(part_path)
    if constants.CELEBA_PARTITION_MD5 is not None:
        verify_md5(part_path, part_md5, constants.CELEBA_PARTITION_MD5)
    partition = read_partition(part_path)
    img_dir = folder / IMAGE_FOLDER
    splits = {}
    workers = max(1, min(8, os.cpu_count() or 1))
    for split, code in PARTITIONS.items():
        names = sorted(n for n, p in partition.items() if p == code)
        if not names:
            raise DatasetFormatError(f"{part_path}: no image in partition {code} ({split})")
        paths = [img_dir / n for n in names]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DatasetFormatError(
                f"{len(missing)} image(s) listed in {part_path} are missing, e.g. {missing[:3]}; "
                "re-extract img_align_celeba"
            )
        images = np.empty((len(paths), 3, size, size), dtype=np.uint8)
        with ThreadPoolExecutor(workers) as pool:  # PIL releases the GIL while decoding
            for i, arr in enumerate(pool.map(lambda p: _load_one(p, crop, size), paths, chunksize=64)):
                images[i] = arr
        splits[split] = Split(images, np.full(len(paths), UNLABELLED, dtype=np.int64))  # no classes: attributes only
    src = (
        f"{origin}: {img_dir} + {part_path} (center crop {crop}, bilinear resize to {size}; "
        f"partition md5 {'verified' if constants.CELEBA_PARTITION_MD5 else 'recorded'})"
    )
    return LoadedDataset("celeba64", splits, src, {PARTITION_FILE: part_md5})


def _probe(folder: Path, origin: str) -> tuple[LoadedDataset | None, str]:
    reasons = []
    for cand in (folder, folder / "celeba"):
        if not (cand / IMAGE_FOLDER).is_dir() or not (cand / PARTITION_FILE).is_file():
            reasons.append(f"{cand} lacks {IMAGE_FOLDER}/ or {PARTITION_FILE}")
            continue
        return read_celeba_folder(cand, origin), ""
    return None, "; ".join(reasons)


def _download(download_dir: Path) -> None:
    import torchvision.datasets as tvd

    tvd.CelebA(str(download_dir), split="all", target_type=[], download=True)  # needs gdown


def load_celeba64(root: str | None, download: bool, download_dir: str) -> LoadedDataset:
    """CelebA aligned, center crop 140, resized to 64x64 RGB (root or torchvision)."""
    return resolve(
        "celeba64",
        root,
        download,
        download_dir,
        probe=_probe,
        download_fn=_download,
        how_to_fix=[
            f"set `root` of the data set (`datasets.NAME.root`) in params.yaml to a folder holding {IMAGE_FOLDER}/ "
            f"and {PARTITION_FILE} "
            "(or celeba/ with both inside);",
            f"run once on a connected machine with download enabled (needs `gdown`) to let torchvision "
            f"download into {download_dir}, then copy {Path(download_dir) / 'celeba'} here.",
        ],
    )
