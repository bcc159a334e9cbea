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


def test_imagenet64_standin_loads_with_the_official_loader(tmp_path, monkeypatch):
    """The npz variant's ten train batches and its validation file, on shrunken split sizes (the real ones are
    1,281,167 + 50,000 images, 16 GB): the loader reads them, labels 1..1000 become 0..999, and a seed fixes the
    bytes."""
    from diffrepro.data import registry

    monkeypatch.setitem(registry.SPLIT_SIZES, "imagenet64", {"train": 25, "test": 7})
    written = st.write_standin("imagenet64", tmp_path / "in64", seed=3)
    names = [p.relative_to(tmp_path / "in64").as_posix() for p in written]
    assert names[0] == "Imagenet64_train_part1_npz/train_data_batch_1.npz"
    assert names[9] == "Imagenet64_train_part2_npz/train_data_batch_10.npz"
    assert names[10] == "Imagenet64_val_npz/val_data.npz" and len(names) == 11
    with np.load(written[0], allow_pickle=False) as f:
        assert sorted(f.files) == ["data", "labels", "mean"] and f["data"].shape == (3, 12288)
        assert f["labels"].tolist() == [1, 2, 3] and f["mean"].shape == (12288,)
    ds = load_dataset("imagenet64", root=str(tmp_path / "in64"))
    assert {k: v.images.shape for k, v in ds.splits.items()} == {"train": (25, 3, 64, 64), "test": (7, 3, 64, 64)}
    assert ds.splits["train"].labels.tolist() == list(range(25)) and ds.splits["test"].labels.tolist() == list(
        range(25, 32)
    )
    assert ds.source.startswith("STAND-IN") and "npz variant" in ds.source
    images = ds.splits["train"].images
    assert images.std() > 10 and len(np.unique(images)) > 200  # neither constant nor a few values
    again = st.write_standin("imagenet64", tmp_path / "again", seed=3)
    assert [p.read_bytes() for p in written] == [p.read_bytes() for p in again]


def test_a_data_set_without_a_writer_is_named():
    with pytest.raises(ValueError, match="no stand-in writer for data set 'imagenet32'"):
        st.write_standin("imagenet32", "/tmp/unused")
