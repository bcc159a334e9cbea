"""Shared resolution and verification for MNIST-like data sets stored as four IDX files.

A folder is accepted when it holds the four files, each either uncompressed or
``.gz``, directly or in torchvision's layout ``<folder>/<TorchvisionClass>/raw/``.
For every file:

* a ``.gz`` whose md5 equals torchvision's published sum is recorded as such; a
  different ``.gz`` md5 is *not* an error (e.g. Debian recompressed its archives);
* the md5 of the decompressed IDX bytes is verified when the spec knows it
  (:class:`ChecksumError` otherwise);
* the IDX structure is always verified: magic, dtype, exact byte length, image
  size, number of examples per split and label range.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .checksums import md5_bytes, md5_file, verify_md5
from .constants import IdxDatasetSpec
from .dataset import LoadedDataset, Split
from .errors import DatasetFormatError
from .idx import parse_idx, read_idx_bytes
from .sources import Probe, resolve

SPLITS = ("train", "test")


def candidate_folders(folder: str | Path, spec: IdxDatasetSpec) -> list[Path]:
    folder = Path(folder)
    return [folder, folder / spec.torchvision_class / "raw"]


def find_idx_files(folder: Path, spec: IdxDatasetSpec) -> tuple[dict[tuple[str, str], Path] | None, str]:
    """Return ``(files, "")`` when ``folder`` holds all four files, else ``(None, reason)``."""
    if not folder.is_dir():
        return None, f"{folder} is not a directory"
    found: dict[tuple[str, str], Path] = {}
    missing: list[str] = []
    for key, stem in spec.files.items():
        for cand in (folder / stem, folder / f"{stem}.gz"):  # uncompressed first: no decompression needed
            if cand.is_file():
                found[key] = cand
                break
        else:
            missing.append(f"{stem}[.gz]")
    if missing:
        return None, f"{folder} lacks {', '.join(missing)}"
    return found, ""


def read_idx_dataset(spec: IdxDatasetSpec, files: dict[tuple[str, str], Path], origin: str) -> LoadedDataset:
    """Read, verify and assemble the four IDX files; ``origin`` describes where they are."""
    checksums: dict[str, str] = {}
    arrays: dict[tuple[str, str], np.ndarray] = {}
    gz_matched, gz_differs = [], []
    for key, path in files.items():
        stem = spec.files[key]
        compressed = path.suffix == ".gz"
        if compressed:
            gz_md5 = md5_file(path)
            published = spec.archive_md5.get(f"{stem}.gz")
            if published is not None and gz_md5 == published:
                checksums[path.name] = gz_md5
                gz_matched.append(path.name)
            else:
                gz_differs.append(path.name)
        raw = read_idx_bytes(path)
        raw_md5 = md5_bytes(raw)
        expected = spec.idx_md5.get(stem)
        if expected is not None:
            verify_md5(path, raw_md5, expected, what="decompressed contents of" if compressed else "")
        checksums[stem] = raw_md5
        arrays[key] = parse_idx(raw, path)

    splits = {}
    for split in SPLITS:
        img_path, lab_path = files[(split, "images")], files[(split, "labels")]
        images, labels = arrays[(split, "images")], arrays[(split, "labels")]
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != spec.image_shape:
            raise DatasetFormatError(
                f"{img_path}: expected uint8 images of shape N x {spec.image_shape[0]} x {spec.image_shape[1]}, "
                f"got {images.dtype} {images.shape}"
            )
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DatasetFormatError(f"{lab_path}: expected a 1-D uint8 label file, got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise DatasetFormatError(f"{img_path} has {len(images)} images but {lab_path} has {len(labels)} labels")
        if len(images) != spec.split_sizes[split]:
            raise DatasetFormatError(
                f"{img_path}: {spec.name} {split} split should have {spec.split_sizes[split]} examples, "
                f"found {len(images)}; delete the files and re-obtain them"
            )
        if len(labels) and int(labels.max()) >= spec.num_classes:
            raise DatasetFormatError(f"{lab_path}: label {int(labels.max())} outside 0..{spec.num_classes - 1}")
        splits[split] = Split(np.ascontiguousarray(images[:, None]), labels.astype(np.int64))

    if spec.idx_md5:
        verified = "md5 of the decompressed IDX files verified"
    else:
        verified = "IDX structure verified (no published md5 of the decompressed files)"
    notes = [verified]
    if gz_matched:
        notes.append(f"{len(gz_matched)} .gz archive(s) match torchvision's published md5")
    if gz_differs:
        notes.append(f"{len(gz_differs)} .gz archive(s) differ from torchvision's bytes (recompressed)")
    folder = files[("train", "images")].parent
    return LoadedDataset(spec.name, splits, f"{origin}: IDX files in {folder} ({'; '.join(notes)})", checksums)


def probe_idx_folder(spec: IdxDatasetSpec) -> Probe:
    """A :data:`~diffrepro.data.sources.Probe` looking in a folder and its torchvision layout."""

    def probe(folder: Path, origin: str) -> tuple[LoadedDataset | None, str]:
        reasons = []
        for cand in candidate_folders(folder, spec):
            files, why = find_idx_files(cand, spec)
            if files is not None:
                return read_idx_dataset(spec, files, origin), ""
            reasons.append(why)
        return None, "; ".join(reasons)

    return probe


def torchvision_download(spec: IdxDatasetSpec) -> Callable[[Path], None]:
    """Let torchvision fetch the archives into ``<dir>/<Class>/raw`` (it verifies their md5)."""

    def fetch(download_dir: Path) -> None:
        import torchvision.datasets as tvd

        getattr(tvd, spec.torchvision_class)(str(download_dir), train=True, download=True)

    return fetch


def resolve_idx_dataset(
    spec: IdxDatasetSpec,
    root: str | None,
    download: bool,
    download_dir: str,
    local_sources: Sequence[tuple[str, Path]] = (),
    how_to_fix: Sequence[str] = (),
) -> LoadedDataset:
    """Resolve ``spec`` offline first (see :func:`diffrepro.data.sources.resolve`)."""
    return resolve(
        spec.name,
        root,
        download,
        download_dir,
        probe=probe_idx_folder(spec),
        download_fn=torchvision_download(spec),
        how_to_fix=how_to_fix,
        local_sources=local_sources,
    )


def idx_file_list(spec: IdxDatasetSpec) -> str:
    return ", ".join(spec.files.values())
