"""Stand-in files for the data sets these offline machines cannot obtain, for the paper-shape smoke run only.

``diffrepro standin-data --dataset NAME --out DIR`` writes files in the data set's official on-disk format, with
the official split sizes and layout, so that its loader reads them exactly as it reads the real files (every
structural check included); the pixels are seeded noise and the labels cycle through the classes. Each folder
holds :data:`MARKER`, and a loader that resolves a data set from a folder with that file says so in its source
("STAND-IN ..."), which the processed data's metadata, and so every evaluation's provenance, carry: numbers
computed on stand-ins measure nothing and are never reported (``configs/paper_smoke.yaml``).

* ``cifar10`` / ``cifar100``: the binary version (``cifar-10-batches-bin/data_batch_{1..5}.bin``,
  ``test_batch.bin``; ``cifar-100-binary/train.bin``, ``test.bin``), 50,000 + 10,000 records.
* ``celeba64``: ``img_align_celeba/*.jpg`` (178 x 218 JPEGs) of the training and test partitions and the
  official ``list_eval_partition.txt`` (its layout is fixed: 000001-162770 train, 162771-182637 validation,
  182638-202599 test; the file written is byte-identical to the official one, whose MD5 the loader verifies).
  The validation images, which no loader reads, are not written.
* ``imagenet64``: Chrabaszcz et al.'s npz variant (``Imagenet64_train_part1_npz/train_data_batch_{1..5}.npz``,
  ``Imagenet64_train_part2_npz/train_data_batch_{6..10}.npz``, ``Imagenet64_val_npz/val_data.npz``): ``data``
  uint8 ``N x 12288`` (the red plane, then green, then blue), ``labels`` 1..1000, ``mean`` in the train batches;
  1,281,167 + 50,000 images (15.7 GB + 0.6 GB, uncompressed as ``np.savez`` writes; ~3 min here), written one
  batch at a time.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import constants

__all__ = ["MARKER", "STANDINS", "is_standin", "write_standin"]

#: the file that labels a folder of stand-in files
MARKER = "STANDIN.txt"
#: the official CelebA partitions: last image number of train (0) and validation (1); test (2) runs to the end
CELEBA_LAST = {0: 162770, 1: 182637, 2: 202599}


def is_standin(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` holds stand-in files (its :data:`MARKER`)."""
    return (Path(folder) / MARKER).is_file()


def _label(folder: Path, name: str) -> None:
    (folder / MARKER).write_text(
        f"Stand-in files for {name}, written by `diffrepro standin-data` for the paper-shape smoke run: the official "
        "format and split sizes with seeded noise for pixels. NOT the real data set; numbers computed on them "
        "measure nothing and are never reported.\n",
        encoding="utf-8",
    )


def _noise(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Seeded uint8 images: a smooth per-image colour ramp with noise (compressible, not constant)."""
    ramp = np.linspace(0, 1, shape[-1], dtype=np.float32)
    base = rng.integers(0, 256, size=(n, *shape[:-2], 1, 1)).astype(np.float32)
    img = base * 0.6 + 100 * ramp[None, None, None, :] + rng.normal(0, 20, size=(n, *shape)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def _write_cifar(folder: Path, name: str, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    if name == "cifar10":
        sub, files, label_bytes, classes = "cifar-10-batches-bin", [f"data_batch_{i}.bin" for i in range(1, 6)], 1, 10
        sizes = [10000] * 5 + [constants.CIFAR10_SPLIT_SIZES["test"]]
        files.append("test_batch.bin")
    else:
        sub, files, label_bytes, classes = "cifar-100-binary", ["train.bin", "test.bin"], 2, 100
        sizes = [constants.CIFAR100_SPLIT_SIZES["train"], constants.CIFAR100_SPLIT_SIZES["test"]]
    out = folder / sub
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fname, n in zip(files, sizes, strict=True):
        pixels = _noise(rng, n, (3, 32, 32)).reshape(n, -1)
        labels = (np.arange(n) % classes).astype(np.uint8).reshape(n, 1)
        if label_bytes == 2:  # coarse label, then fine label
            labels = np.concatenate([(labels // 5).astype(np.uint8), labels], axis=1)
        path = out / fname
        tmp = path.with_suffix(".tmp")
        np.concatenate([labels, pixels], axis=1).tofile(tmp)
        tmp.replace(path)
        written.append(path)
    return written


def celeba_partition_text() -> bytes:
    """The official ``list_eval_partition.txt`` (CRLF lines ``NNNNNN.jpg P``)."""
    lines = []
    for i in range(1, CELEBA_LAST[2] + 1):  # (read at call time: tests shrink the layout)
        part = 0 if i <= CELEBA_LAST[0] else 1 if i <= CELEBA_LAST[1] else 2
        lines.append(f"{i:06d}.jpg {part}\r\n")
    return "".join(lines).encode("ascii")


def _write_celeba(folder: Path, seed: int, workers: int) -> list[Path]:
    from PIL import Image

    img_dir = folder / "img_align_celeba"
    img_dir.mkdir(parents=True, exist_ok=True)
    numbers = [*range(1, CELEBA_LAST[0] + 1), *range(CELEBA_LAST[1] + 1, CELEBA_LAST[2] + 1)]
    chunk = 2048

    def write_chunk(start: int) -> None:
        part = numbers[start : start + chunk]
        rng = np.random.default_rng([seed, start])
        imgs = _noise(rng, len(part), (3, 218, 178)).transpose(0, 2, 3, 1)  # [N, H=218, W=178, RGB]
        for i, arr in zip(part, imgs, strict=True):
            path = img_dir / f"{i:06d}.jpg"
            if not path.is_file():
                Image.fromarray(np.ascontiguousarray(arr)).save(path, quality=60)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(write_chunk, range(0, len(numbers), chunk)))
    part_path = folder / "list_eval_partition.txt"
    part_path.write_bytes(celeba_partition_text())
    return [img_dir, part_path]


def _fast_noise(rng: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """Seeded uint8 images as :func:`_noise` draws them (a per-image colour, a ramp, noise) in uint8 arithmetic
    alone: ImageNet's 15.7 GB would take minutes through float32."""
    ramp = np.linspace(0, 95, shape[-1]).astype(np.uint8)
    img = rng.integers(0, 64, size=(n, *shape), dtype=np.uint8)
    img += rng.integers(0, 96, size=(n, *shape[:-2], 1, 1), dtype=np.uint8)
    img += ramp
    return img


def _write_imagenet64(folder: Path, seed: int) -> list[Path]:
    from .registry import SPLIT_SIZES  # (not the loader: the loaders import this module)

    train_total, val_total = SPLIT_SIZES["imagenet64"]["train"], SPLIT_SIZES["imagenet64"]["test"]
    size, train_folders, val_folder = 64, constants.IMAGENET64_NPZ_TRAIN_FOLDERS, constants.IMAGENET64_NPZ_VAL_FOLDER
    batches = [len(part) for part in np.array_split(np.arange(train_total), 10)]
    files = [
        (folder / train_folders[0 if i <= 5 else 1] / f"train_data_batch_{i}.npz", n)
        for i, n in zip(range(1, 11), batches, strict=True)
    ]
    files.append((folder / val_folder / "val_data.npz", val_total))
    written, first = [], 0
    for number, (path, n) in enumerate(files):
        rng = np.random.default_rng([seed, number])
        data = np.empty((n, 3 * size * size), dtype=np.uint8)
        for start in range(0, n, 8192):  # ~100 MB at a time
            stop = min(n, start + 8192)
            data[start:stop] = _fast_noise(rng, stop - start, (3, size, size)).reshape(stop - start, -1)
        labels = (np.arange(first, first + n) % constants.IMAGENET_CLASSES + 1).astype(np.int64)  # 1..1000
        first += n
        arrays = {"data": data, "labels": labels}
        if path.parent.name != val_folder:
            arrays["mean"] = data.mean(axis=0)  # the train batches carry their mean image (no loader reads it)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        tmp.replace(path)
        written.append(path)
        del data, arrays
    return written


#: the data sets with a stand-in writer
STANDINS = ("cifar10", "cifar100", "celeba64", "imagenet64")


def write_standin(name: str, folder: str | os.PathLike[str], seed: int = 0, workers: int | None = None) -> list[Path]:
    """Write stand-in files of data set ``name`` into ``folder`` (its ``root:``) and label the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if name in ("cifar10", "cifar100"):
        written = _write_cifar(folder, name, seed)
    elif name == "celeba64":
        written = _write_celeba(folder, seed, workers or max(1, min(8, os.cpu_count() or 1)))
    elif name == "imagenet64":
        written = _write_imagenet64(folder, seed)
    else:
        raise ValueError(f"no stand-in writer for data set {name!r}; writers: {', '.join(STANDINS)}")
    _label(folder, name)
    return written


def add_arguments(parser) -> None:
    parser.add_argument("--dataset", required=True, choices=STANDINS, help="the data set to stand in for")
    parser.add_argument("--out", required=True, help="the folder to write (the smoke preset's datasets.NAME.root)")
    parser.add_argument("--seed", type=int, default=0)


def main(args) -> None:
    written = write_standin(args.dataset, args.out, args.seed)
    print(f"wrote stand-in {args.dataset} files ({', '.join(str(p) for p in written)}) and {Path(args.out) / MARKER}")
