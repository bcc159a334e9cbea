"""Stand-in data for the paper-shape smoke run: official formats and split sizes, read by the real loaders, and
labelled as stand-ins in the source every processed file and evaluation carries."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from diffrepro.data import constants, load_dataset
from diffrepro.data import standins as st


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_standins_load_with_the_official_loader_and_say_so(name, tmp_path):
    st.write_standin(name, tmp_path / name, seed=1)
    ds = load_dataset(name, root=str(tmp_path / name))
    sizes = constants.CIFAR10_SPLIT_SIZES if name == "cifar10" else constants.CIFAR100_SPLIT_SIZES
    assert {k: len(v) for k, v in ds.splits.items()} == sizes
    assert ds.splits["train"].images.shape[1:] == (3, 32, 32) and ds.splits["train"].images.dtype == np.uint8
    classes = 10 if name == "cifar10" else 100
    assert sorted(set(ds.splits["test"].labels.tolist())) == list(range(classes))
    assert ds.source.startswith("STAND-IN (generated files") and "binary version" in ds.source
    # seeded: the same seed writes the same bytes
    again = st.write_standin(name, tmp_path / "again", seed=1)
    first = sorted((tmp_path / name).rglob("*.bin"))
    assert [p.read_bytes() for p in first] == [p.read_bytes() for p in sorted(again)]


def test_the_celeba_partition_file_is_the_official_one():
    assert hashlib.md5(st.celeba_partition_text()).hexdigest() == constants.CELEBA_PARTITION_MD5


def test_celeba_standin_loads_with_the_official_loader(tmp_path, monkeypatch):
    """The same writer on a shrunken layout (the real one is 182,732 JPEGs): train 1-3, validation 4, test 5-6."""
    monkeypatch.setattr(st, "CELEBA_LAST", {0: 3, 1: 4, 2: 6})
    monkeypatch.setattr(constants, "CELEBA_PARTITION_MD5", hashlib.md5(st.celeba_partition_text()).hexdigest())
    st.write_standin("celeba64", tmp_path / "celeba", workers=1)
    assert sorted(p.name for p in (tmp_path / "celeba" / "img_align_celeba").iterdir()) == [
        "000001.jpg",
        "000002.jpg",
        "000003.jpg",
        "000005.jpg",
        "000006.jpg",
    ]
    ds = load_dataset("celeba64", root=str(tmp_path / "celeba"))
    assert {k: v.images.shape for k, v in ds.splits.items()} == {"train": (3, 3, 64, 64), "test": (2, 3, 64, 64)}
    assert ds.source.startswith("STAND-IN") and (tmp_path / "celeba" / st.MARKER).is_file()


def test_a_data_set_without_a_writer_is_named():
    with pytest.raises(ValueError, match="no stand-in writer for data set 'imagenet64'"):
        st.write_standin("imagenet64", "/tmp/unused")
