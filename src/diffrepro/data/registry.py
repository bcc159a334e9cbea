"""The data-set registry: name -> loader.

A data set is added by writing one module that decorates its loader with
:func:`register` (and importing that module in ``diffrepro/data/__init__.py``)::

    @register("my_set", "one-line description")
    def load_my_set(root, download, download_dir) -> LoadedDataset: ...

Every loader takes ``(root: str | None, download: bool, download_dir: str)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .dataset import LoadedDataset

Loader = Callable[[str | None, bool, str], LoadedDataset]


@dataclass(frozen=True)
class DatasetEntry:
    name: str
    loader: Loader
    description: str = ""

    def __call__(self, root: str | None, download: bool, download_dir: str) -> LoadedDataset:
        return self.loader(root, download, download_dir)


#: name -> :class:`DatasetEntry` (callable as ``entry(root, download, download_dir)``).
DATASETS: dict[str, DatasetEntry] = {}


def register(name: str, description: str = "") -> Callable[[Loader], Loader]:
    """Decorator adding a loader to :data:`DATASETS` under ``name``."""

    def deco(fn: Loader) -> Loader:
        if name in DATASETS and DATASETS[name].loader is not fn:
            raise ValueError(f"data set {name!r} is registered twice ({DATASETS[name].loader} and {fn})")
        DATASETS[name] = DatasetEntry(name, fn, description)
        return fn

    return deco


def load_dataset(
    name: str,
    root: str | None = None,
    download: bool = True,
    download_dir: str = "data/raw",
) -> LoadedDataset:
    """Load data set ``name`` with ``train``/``test`` splits (uint8 NCHW images, int64 labels).

    ``root`` is an explicit folder holding the files (tried first); ``download``
    allows fetching with torchvision into ``download_dir`` when no local copy works.
    Raises ``ValueError`` for an unknown name, :class:`DatasetNotFoundError` when
    no source works and :class:`ChecksumError` when a file fails verification.
    """
    try:
        entry = DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown data set {name!r}; known data sets: {', '.join(sorted(DATASETS))}") from None
    root = None if root in (None, "") else str(root)
    ds = entry(root, download, str(download_dir))
    if ds.name != name:
        raise RuntimeError(f"loader for {name!r} returned a data set named {ds.name!r}")
    return ds
