"""Offline-first resolution of a data set's source, shared by the file-based loaders.

Order: explicit ``root`` -> extra local folders (e.g. a Debian package) -> an earlier
download in ``download_dir`` -> a new torchvision download (only with
``download=True``). A source whose files are missing is skipped and reported if
every source fails (:class:`DatasetNotFoundError`); a source whose files are present
but corrupted raises at once (:class:`ChecksumError` / ``ValueError``), since falling
back silently would hide the corruption.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from .dataset import LoadedDataset
from .errors import DatasetNotFoundError, format_attempts

log = logging.getLogger(__name__)

#: ``probe(folder, origin)`` -> ``(dataset, "")`` when ``folder`` (or a known
#: sub-folder of it) holds the files, else ``(None, why_not)``.
Probe = Callable[[Path, str], tuple[LoadedDataset | None, str]]


def resolve(
    name: str,
    root: str | None,
    download: bool,
    download_dir: str,
    *,
    probe: Probe,
    download_fn: Callable[[Path], None] | None,
    how_to_fix: Sequence[str],
    local_sources: Sequence[tuple[str, Path]] = (),
) -> LoadedDataset:
    attempts: list[tuple[str, str]] = []

    def attempt(folder: Path, origin: str) -> LoadedDataset | None:
        ds, why = probe(folder, origin)
        if ds is None:
            attempts.append((f"{origin} ({folder})", why))
        return ds

    if root is not None:
        if (ds := attempt(Path(root), "datasets.NAME.root")) is not None:
            from .standins import MARKER, is_standin

            if is_standin(root):  # generated files (the paper-shape smoke run): said wherever the source is shown
                source = f"STAND-IN (generated files, {Path(root) / MARKER}; not the real data set): {ds.source}"
                return dataclasses.replace(ds, source=source)
            return ds
        log.warning("%s: not found under datasets.NAME.root=%s; trying the next source", name, root)
    else:
        attempts.append(("datasets.NAME.root", "not set"))
    for origin, folder in local_sources:
        if (ds := attempt(Path(folder), origin)) is not None:
            return ds
    dl = Path(download_dir)
    if (ds := attempt(dl, "earlier download")) is not None:
        return ds
    if download_fn is None:
        attempts.append(("download", f"no automatic download exists for {name}"))
    elif download:
        try:
            download_fn(dl)
        except Exception as e:  # network errors surface as URLError/RuntimeError/OSError
            attempts.append((f"torchvision download into {dl}", f"failed: {type(e).__name__}: {e}"))
        else:
            if (ds := attempt(dl, "torchvision download")) is not None:
                return ds
    else:
        attempts.append((f"torchvision download into {dl}", "skipped (download=False)"))
    fixes = "\n".join(f"  - {line}" for line in how_to_fix)
    raise DatasetNotFoundError(
        f"{name}: no usable copy found. Tried, in order:\n{format_attempts(attempts)}\nTo fix it, either:\n{fixes}",
        attempts,
    )
