"""Tests of diffrepro.data: IDX parsing, integrity checks, source resolution, readers, artifact."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from diffrepro.data import (
    DATASETS,
    UNLABELLED,
    ChecksumError,
    DatasetNotFoundError,
    LoadedDataset,
    Split,
    cifar,
    constants,
    idx_datasets,
    load_dataset,
    load_processed,
    resize_images,
    save_processed,
)
from diffrepro.data.errors import DatasetFormatError
from diffrepro.data.idx import IdxFormatError, encode_idx, parse_idx, read_idx, write_idx
from diffrepro.data.safe_pickle import restricted_loads
from diffrepro.tensorfile import save_safetensors

IDX_NAMES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}


def md5(b: bytes) -> str:
    return hashlib.md5(b).hexdigest()


# --------------------------------------------------------------------------- IDX format
@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "array",
    [
        np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
        np.array([-5, 0, 70000, 2**31 - 1], dtype=np.int32),
        np.linspace(-1, 1, 6, dtype=np.float32).reshape(3, 2),
        np.array([[-3, 4]], dtype=np.int16),
    ],
    ids=["u1-3d", "i4-1d", "f4-2d", "i2-2d"],
)
def test_idx_round_trip(tmp_path, array, suffix):
    path = write_idx(tmp_path / f"a-idx{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype.newbyteorder("=")
    assert back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    if suffix:
        assert path.read_bytes()[:2] == b"\x1f\x8b"  # really gzip-compressed


def test_idx_header_is_big_endian_and_exact():
    raw = encode_idx(np.zeros((2, 3), dtype=np.uint8))
    assert raw[:4] == b"\x00\x00\x08\x02"
    assert struct.unpack(">2I", raw[4:12]) == (2, 3)
    assert len(raw) == 4 + 8 + 6


def test_idx_errors(tmp_path):
    good = encode_idx(np.ones((2, 28, 28), dtype=np.uint8))
    with pytest.raises(IdxFormatError, match=r"bad IDX magic.*1f8b"):
        parse_idx(gzip.compress(good), "x.idx")  # gzip bytes without a .gz suffix
    with pytest.raises(IdxFormatError, match=r"x\.idx: IDX file truncated"):
        parse_idx(good[:-1], "x.idx")
    with pytest.raises(IdxFormatError, match="trailing bytes"):
        parse_idx(good + b"\x00", "x.idx")
    with pytest.raises(IdxFormatError, match="unknown IDX dtype code 0x07"):
        parse_idx(b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", "x.idx")
    with pytest.raises(IdxFormatError, match="truncated IDX header"):
        parse_idx(good[:7], "x.idx")
    with pytest.raises(IdxFormatError, match="too short"):
        parse_idx(b"\x00\x00", "x.idx")
    bad_gz = tmp_path / "b-idx1-ubyte.gz"
    bad_gz.write_bytes(b"not gzip at all")
    with pytest.raises(IdxFormatError, match=str(bad_gz)):
        read_idx(bad_gz)


# --------------------------------------------------------------------------- (Fashion-)MNIST
def make_tiny_idx_set(folder: Path, compress: bool, seed: int = 0, n_train: int = 6, n_test: int = 4):
    """Write four tiny IDX files; return (arrays, md5 of decompressed bytes, md5 of written files)."""
    rng = np.random.default_rng(seed)
    arrays = {
        ("train", "images"): rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        ("train", "labels"): rng.integers(0, 10, n_train, dtype=np.uint8),
        ("test", "images"): rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        ("test", "labels"): np.array([9, 2, 1, 1][:n_test], dtype=np.uint8),
    }
    folder.mkdir(parents=True, exist_ok=True)
    idx_md5, file_md5 = {}, {}
    for key, name in IDX_NAMES.items():
        path = write_idx(folder / (name + (".gz" if compress else "")), arrays[key])
        idx_md5[name] = md5(encode_idx(arrays[key]))
        file_md5[path.name] = md5(path.read_bytes())
    return arrays, idx_md5, file_md5


@pytest.fixture
def no_debian(monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "no-such-debian-dir")


def use_tiny_spec(monkeypatch, attr: str, idx_md5: dict, archive_md5: dict | None = None):
    spec = getattr(constants, attr)
    tiny = dataclasses.replace(
        spec,
        idx_md5=idx_md5,
        split_sizes={"train": 6, "test": 4},
        archive_md5=spec.archive_md5 if archive_md5 is None else archive_md5,
    )
    monkeypatch.setattr(constants, attr, tiny)


def test_fashion_from_root_torchvision_layout_gz(tmp_path, monkeypatch, no_debian):
    arrays, idx_md5, _ = make_tiny_idx_set(tmp_path / "FashionMNIST" / "raw", compress=True)
    use_tiny_spec(monkeypatch, "FASHION_MNIST", idx_md5)
    ds = load_dataset("fashion_mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    assert ds.name == "fashion_mnist"
    for split in ("train", "test"):
        s = ds.splits[split]
        assert s.images.dtype == np.uint8 and s.labels.dtype == np.int64
        np.testing.assert_array_equal(s.images[:, 0], arrays[(split, "images")])
        np.testing.assert_array_equal(s.labels, arrays[(split, "labels")])
    assert ds.splits["train"].images.shape == (6, 1, 28, 28)
    assert ds.checksums == idx_md5
    assert "datasets.NAME.root" in ds.source and str(tmp_path / "FashionMNIST" / "raw") in ds.source
    assert "differ from torchvision" in ds.source  # our tiny .gz are not torchvision's bytes: not an error


def test_fashion_gz_with_torchvision_bytes_is_recorded(tmp_path, monkeypatch, no_debian):
    _, idx_md5, file_md5 = make_tiny_idx_set(tmp_path, compress=True)
    use_tiny_spec(monkeypatch, "FASHION_MNIST", idx_md5, archive_md5=file_md5)  # pretend these are torchvision's
    ds = load_dataset("fashion_mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    assert "4 .gz archive(s) match torchvision" in ds.source
    for name, s in file_md5.items():
        assert ds.checksums[name] == s


def test_fashion_checksum_mismatch_names_file_and_sums(tmp_path, monkeypatch, no_debian):
    arrays, idx_md5, _ = make_tiny_idx_set(tmp_path, compress=False)
    use_tiny_spec(monkeypatch, "FASHION_MNIST", idx_md5)
    bad = tmp_path / "train-images-idx3-ubyte"
    raw = bytearray(bad.read_bytes())
    raw[-1] ^= 0xFF  # corrupt one pixel: structure still valid, only the md5 can tell
    bad.write_bytes(bytes(raw))
    with pytest.raises(ChecksumError) as ei:
        load_dataset("fashion_mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    msg = str(ei.value)
    assert isinstance(ei.value, ValueError)
    assert str(bad) in msg
    assert idx_md5["train-images-idx3-ubyte"] in msg
    assert md5(bytes(raw)) in msg
    assert "delete" in msg and "re-obtain" in msg


def test_fashion_published_sums_are_recorded():
    assert constants.FASHION_MNIST.archive_md5["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert constants.FASHION_MNIST.archive_md5["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert constants.FASHION_MNIST.idx_md5["t10k-images-idx3-ubyte"] == "8181f5470baa50b63fa0f6fddb340f0a"
    assert len(constants.FASHION_MNIST.idx_md5) == 4 and len(constants.FASHION_MNIST.archive_md5) == 4


def test_fashion_not_found_names_all_three_ways(tmp_path, no_debian):
    empty = tmp_path / "empty"
    empty.mkdir()
    dl = tmp_path / "downloads"
    with pytest.raises(DatasetNotFoundError) as ei:
        load_dataset("fashion_mnist", root=str(empty), download=False, download_dir=str(dl))
    assert isinstance(ei.value, FileNotFoundError)
    msg = str(ei.value)
    assert "(`datasets.NAME.root`) in params.yaml" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert f"torchvision download into {dl}" in msg
    # what was tried and why each failed
    assert f"{empty} lacks train-images-idx3-ubyte[.gz]" in msg
    assert f"{tmp_path / 'no-such-debian-dir'} is not a directory" in msg
    assert "skipped (download=False)" in msg
    assert len(ei.value.attempts) == 4


def test_fashion_download_failure_is_reported(tmp_path, monkeypatch, no_debian):
    calls = []

    def fake(spec):
        def fetch(d):
            calls.append(d)
            raise OSError("network is unreachable")

        return fetch

    monkeypatch.setattr(idx_datasets, "torchvision_download", fake)
    with pytest.raises(DatasetNotFoundError, match="failed: OSError: network is unreachable"):
        load_dataset("fashion_mnist", root=None, download=True, download_dir=str(tmp_path / "dl"))
    assert calls == [tmp_path / "dl"]


def test_fashion_download_result_is_read_and_verified(tmp_path, monkeypatch, no_debian):
    holder = {}

    def fake(spec):
        def fetch(d):  # imitate torchvision: archives + extracted files in <dir>/FashionMNIST/raw
            holder.update(zip(("arrays", "md5"), make_tiny_idx_set(d / "FashionMNIST" / "raw", compress=False)))

        return fetch

    monkeypatch.setattr(idx_datasets, "torchvision_download", fake)
    _, idx_md5, _ = make_tiny_idx_set(tmp_path / "scratch", compress=False)  # same seed -> same sums
    use_tiny_spec(monkeypatch, "FASHION_MNIST", idx_md5)
    ds = load_dataset("fashion_mnist", download=True, download_dir=str(tmp_path / "dl"))
    assert ds.source.startswith("torchvision download")
    np.testing.assert_array_equal(ds.splits["test"].labels, [9, 2, 1, 1])
    # a second call finds the earlier download offline
    ds2 = load_dataset("fashion_mnist", download=False, download_dir=str(tmp_path / "dl"))
    assert ds2.source.startswith("earlier download")


@pytest.mark.skipif(
    not constants.DEBIAN_FASHION_MNIST_DIR.is_dir(),
    reason=f"{constants.DEBIAN_FASHION_MNIST_DIR} absent (apt-get install dataset-fashion-mnist)",
)
def test_fashion_mnist_from_debian_package(tmp_path):
    ds = load_dataset("fashion_mnist", root=None, download=False, download_dir=str(tmp_path / "dl"))
    train, test = ds.splits["train"], ds.splits["test"]
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels.shape == (60000,) and test.labels.shape == (10000,)
    assert test.labels[:5].tolist() == [9, 2, 1, 1, 6]
    assert abs(train.images.mean() / 255.0 - 0.2860) < 0.001
    assert np.bincount(train.labels).tolist() == [6000] * 10
    assert ds.checksums == constants.FASHION_MNIST_IDX_MD5
    assert "Debian" in ds.source


def test_mnist_uncompressed_torchvision_layout_and_structure_checks(tmp_path, monkeypatch):
    raw = tmp_path / "MNIST" / "raw"
    arrays, idx_md5, _ = make_tiny_idx_set(raw, compress=False, seed=3)
    use_tiny_spec(monkeypatch, "MNIST", idx_md5={})  # MNIST: structure only
    ds = load_dataset("mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    np.testing.assert_array_equal(ds.splits["train"].images[:, 0], arrays[("train", "images")])
    assert ds.checksums == idx_md5  # recorded even though not published
    assert "IDX structure verified" in ds.source
    # a label file with one label too many is caught by the structure check
    write_idx(raw / "t10k-labels-idx1-ubyte", np.array([1, 2, 3, 4, 5], dtype=np.uint8))
    with pytest.raises(DatasetFormatError, match="4 images but .* 5 labels"):
        load_dataset("mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    # the real spec demands 60000/10000 examples
    monkeypatch.setattr(
        constants, "MNIST", dataclasses.replace(constants.MNIST, split_sizes={"train": 60000, "test": 10000})
    )
    make_tiny_idx_set(raw, compress=False, seed=3)
    with pytest.raises(DatasetFormatError, match="should have 60000 examples, found 6"):
        load_dataset("mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))


def test_mnist_not_found_has_no_debian_advice(tmp_path):
    with pytest.raises(DatasetNotFoundError) as ei:
        load_dataset("mnist", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    msg = str(ei.value)
    assert "(`datasets.NAME.root`) in params.yaml" in msg and "apt-get" not in msg


# --------------------------------------------------------------------------- CIFAR
def cifar_images(n, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)


def write_cifar10_binary(folder: Path, per_file: int = 3, seed: int = 0):
    folder.mkdir(parents=True)
    out = {"train": [], "test": []}
    names = [(f"data_batch_{i}.bin", "train") for i in range(1, 6)] + [("test_batch.bin", "test")]
    for j, (name, split) in enumerate(names):
        imgs = cifar_images(per_file, seed + j)
        labels = np.arange(per_file, dtype=np.uint8) + j
        recs = b"".join(bytes([labels[k]]) + imgs[k].tobytes() for k in range(per_file))  # R, G, B planes
        (folder / name).write_bytes(recs)
        out[split].append((imgs, labels))
    return {s: (np.concatenate([i for i, _ in v]), np.concatenate([lab for _, lab in v])) for s, v in out.items()}


@pytest.fixture
def tiny_cifar_sizes(monkeypatch):
    monkeypatch.setattr(constants, "CIFAR10_SPLIT_SIZES", {"train": 15, "test": 3})
    monkeypatch.setattr(constants, "CIFAR100_SPLIT_SIZES", {"train": 3, "test": 2})


def test_cifar10_binary_reader(tmp_path, tiny_cifar_sizes):
    expected = write_cifar10_binary(tmp_path / "cifar-10-batches-bin")
    ds = load_dataset("cifar10", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    for split, (imgs, labels) in expected.items():
        np.testing.assert_array_equal(ds.splits[split].images, imgs)
        np.testing.assert_array_equal(ds.splits[split].labels, labels)
    assert ds.splits["train"].images.shape == (15, 3, 32, 32)
    assert "binary version" in ds.source and len(ds.checksums) == 6
    # truncating a file by one byte is caught
    p = tmp_path / "cifar-10-batches-bin" / "test_batch.bin"
    p.write_bytes(p.read_bytes()[:-1])
    with pytest.raises(DatasetFormatError, match="not a positive multiple of the 3073-byte"):
        load_dataset("cifar10", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))


def test_cifar100_binary_uses_fine_label(tmp_path, tiny_cifar_sizes):
    folder = tmp_path / "cifar-100-binary"
    folder.mkdir()
    imgs = cifar_images(5, 1)
    coarse, fine = [3, 19, 0, 7, 7], [42, 99, 0, 5, 63]
    recs = [bytes([coarse[k], fine[k]]) + imgs[k].tobytes() for k in range(5)]
    (folder / "train.bin").write_bytes(b"".join(recs[:3]))
    (folder / "test.bin").write_bytes(b"".join(recs[3:]))
    ds = load_dataset("cifar100", root=str(folder), download=False, download_dir=str(tmp_path / "dl"))
    assert ds.splits["train"].labels.tolist() == [42, 99, 0]
    assert ds.splits["test"].labels.tolist() == [5, 63]
    np.testing.assert_array_equal(ds.splits["test"].images, imgs[3:])


def write_cifar10_python(folder: Path, seed: int = 10, per_file: int = 3):
    folder.mkdir(parents=True)
    out = {"train": [], "test": []}
    names = [(f"data_batch_{i}", "train") for i in range(1, 6)] + [("test_batch", "test")]
    for j, (name, split) in enumerate(names):
        imgs = cifar_images(per_file, seed + j)
        labels = [(j + k) % 10 for k in range(per_file)]
        entry = {  # the official layout: bytes keys, data uint8 N x 3072, labels a list of ints
            b"batch_label": f"batch {j}".encode(),
            b"labels": labels,
            b"data": imgs.reshape(per_file, -1),
            b"filenames": [f"img_{j}_{k}.png".encode() for k in range(per_file)],
        }
        with open(folder / name, "wb") as f:
            pickle.dump(entry, f)
        out[split].append((imgs, np.array(labels)))
    return {s: (np.concatenate([i for i, _ in v]), np.concatenate([lab for _, lab in v])) for s, v in out.items()}


def test_cifar10_python_version_reader(tmp_path, tiny_cifar_sizes, monkeypatch):
    monkeypatch.setattr(constants, "CIFAR10_PY_MD5", {})  # our files are not the published ones
    expected = write_cifar10_python(tmp_path / "cifar-10-batches-py")
    ds = load_dataset("cifar10", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    for split, (imgs, labels) in expected.items():
        np.testing.assert_array_equal(ds.splits[split].images, imgs)
        np.testing.assert_array_equal(ds.splits[split].labels, labels)
    assert "python version" in ds.source and "restricted unpickler" in ds.source


def test_cifar_python_md5_checked_before_unpickling(tmp_path, tiny_cifar_sizes):
    write_cifar10_python(tmp_path / "cifar-10-batches-py")  # real published sums stay in place
    with pytest.raises(ChecksumError, match=r"data_batch_1: expected c99cafc152244af753f735de768cd75f"):
        load_dataset("cifar10", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))


def test_cifar_binary_preferred_over_python(tmp_path, tiny_cifar_sizes, monkeypatch):
    monkeypatch.setattr(constants, "CIFAR10_PY_MD5", {})
    write_cifar10_python(tmp_path / "cifar-10-batches-py")
    expected = write_cifar10_binary(tmp_path / "cifar-10-batches-bin", seed=50)
    ds = load_dataset("cifar10", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    np.testing.assert_array_equal(ds.splits["train"].images, expected["train"][0])
    assert "binary version" in ds.source


def py2_cifar_pickle(data: np.ndarray, labels: list[int]) -> bytes:
    """Hand-assembled protocol-2 pickle as Python 2 + numpy 1.x wrote the official files."""

    def s(b: bytes) -> bytes:  # py2 str
        return b"U" + bytes([len(b)]) + b if len(b) < 256 else b"T" + struct.pack("<I", len(b)) + b

    n, m = data.shape
    dtype = (
        b"cnumpy\ndtype\n"
        + s(b"u1")
        + b"K\x00K\x01\x87R(K\x03"
        + s(b"|")
        + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb"
    )
    array = (
        b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85"
        + s(b"b")
        + b"\x87R"
        + b"(K\x01"
        + b"M"
        + struct.pack("<H", n)
        + b"M"
        + struct.pack("<H", m)
        + b"\x86"
        + dtype
        + b"\x89"
        + s(data.tobytes())
        + b"tb"
    )
    lab = b"](" + b"".join(b"K" + bytes([v]) for v in labels) + b"e"
    return b"\x80\x02}(" + s(b"data") + array + s(b"labels") + lab + b"u."


def test_restricted_unpickler_reads_python2_official_format(tmp_path):
    imgs = cifar_images(2, 7)
    p = tmp_path / "data_batch_1"
    p.write_bytes(py2_cifar_pickle(imgs.reshape(2, -1), [3, 8]))
    split = cifar.read_cifar_python(p, "labels", 10)
    np.testing.assert_array_equal(split.images, imgs)
    assert split.labels.tolist() == [3, 8]


class _Evil:
    def __reduce__(self):
        return (os.system, (f"touch {_Evil.marker}",))


def test_malicious_pickle_is_refused(tmp_path, tiny_cifar_sizes, monkeypatch):
    monkeypatch.setattr(constants, "CIFAR10_PY_MD5", {})
    write_cifar10_python(tmp_path / "cifar-10-batches-py")
    marker = tmp_path / "pwned"
    _Evil.marker = marker
    with open(tmp_path / "cifar-10-batches-py" / "data_batch_1", "wb") as f:
        pickle.dump({b"data": _Evil(), b"labels": [0]}, f)
    with pytest.raises(pickle.UnpicklingError, match=r"refused to load global (posix|os)\.system"):
        load_dataset("cifar10", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError, match=r"builtins\.eval"):
        restricted_loads(b"\x80\x02cbuiltins\neval\nX\x04\x00\x00\x001+1q\x85R.")
    with pytest.raises(pickle.UnpicklingError, match=r"numpy\.load"):
        restricted_loads(pickle.dumps(np.load))


# --------------------------------------------------------------------------- CelebA
TOP, LEFT = 39, 19  # torchvision CenterCrop(140) offsets on 178 x 218 images


def make_celeba(root: Path, partitions: dict[str, int]):
    img_dir = root / "img_align_celeba"
    img_dir.mkdir(parents=True)
    colors = {}
    for i, name in enumerate(sorted(partitions)):
        arr = np.zeros((218, 178, 3), dtype=np.uint8)
        arr[...] = (255, 0, 255)  # outside the crop
        color = (20 * i + 10, 200 - 30 * i, 5 * i)
        arr[TOP : TOP + 140, LEFT : LEFT + 140] = color
        Image.fromarray(arr).save(img_dir / name)
        colors[name] = color
    (root / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in partitions.items()))
    return colors


def test_celeba_folder_reader(tmp_path, monkeypatch):
    monkeypatch.setattr(constants, "CELEBA_PARTITION_MD5", None)
    parts = {"000001.png": 0, "000002.png": 0, "000003.png": 1, "000004.png": 2, "000005.png": 0}
    colors = make_celeba(tmp_path / "celeba", parts)  # torchvision layout root/celeba/
    ds = load_dataset("celeba64", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    train, test = ds.splits["train"], ds.splits["test"]
    assert train.images.shape == (3, 3, 64, 64) and test.images.shape == (1, 3, 64, 64)
    assert train.labels.tolist() == [UNLABELLED] * 3 and test.labels.dtype == np.int64  # no classes
    # only the 140x140 center crop survives (no magenta border), each image its own colour
    for img, name in zip(train.images, ["000001.png", "000002.png", "000005.png"]):
        assert (img.reshape(3, -1).T == colors[name]).all()
    assert (test.images[0].reshape(3, -1).T == colors["000004.png"]).all()
    assert "list_eval_partition.txt" in ds.checksums


def test_celeba_partition_md5_and_missing_image(tmp_path, monkeypatch):
    make_celeba(tmp_path, {"a.png": 0, "b.png": 2})
    with pytest.raises(ChecksumError, match="d32c9cbf5e040fd4025c592c306e6668"):
        load_dataset("celeba64", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))
    monkeypatch.setattr(constants, "CELEBA_PARTITION_MD5", None)
    (tmp_path / "img_align_celeba" / "b.png").unlink()
    with pytest.raises(DatasetFormatError, match="missing"):
        load_dataset("celeba64", root=str(tmp_path), download=False, download_dir=str(tmp_path / "dl"))


# --------------------------------------------------------------------------- bundled small sets
def test_digits():
    ds = load_dataset("digits")
    train, test = ds.splits["train"], ds.splits["test"]
    assert train.images.shape == (1438, 1, 8, 8) and test.images.shape == (359, 1, 8, 8)
    assert train.images.dtype == np.uint8 and int(train.images.min()) == 0 and int(train.images.max()) == 255
    assert set(np.unique(train.labels)) == set(range(10))
    # 0..16 rescaled: every value is round(k * 255 / 16) for an integer k
    allowed = {int(round(k * 255 / 16)) for k in range(17)}
    assert set(np.unique(train.images).tolist()) <= allowed
    assert load_dataset("digits").checksums == ds.checksums  # deterministic


def test_lfw_subset():
    ds = load_dataset("lfw_subset")
    train, test = ds.splits["train"], ds.splits["test"]
    assert train.images.shape == (160, 1, 25, 25) and test.images.shape == (40, 1, 25, 25)
    assert train.images.dtype == np.uint8 and int(train.images.max()) == 255 and int(train.images.min()) == 0
    assert np.bincount(train.labels).tolist() == [80, 80] and np.bincount(test.labels).tolist() == [20, 20]
    assert train.images.std() > 10  # real pictures, not a constant


def test_registry_and_unknown_name():
    assert {"fashion_mnist", "mnist", "cifar10", "cifar100", "celeba64", "digits", "lfw_subset"} <= set(DATASETS)
    with pytest.raises(ValueError, match=r"unknown data set 'imagenet'.*celeba64.*fashion_mnist.*lfw_subset"):
        load_dataset("imagenet")


def test_split_validates_dtypes():
    with pytest.raises(TypeError, match="uint8"):
        Split(np.zeros((2, 1, 4, 4), np.float32), np.zeros(2, np.int64))
    with pytest.raises(ValueError, match="2 images but 3 labels"):
        Split(np.zeros((2, 1, 4, 4), np.uint8), np.zeros(3, np.int64))


# --------------------------------------------------------------------------- processed artifact
def tiny_dataset(n=5, c=3, hw=32) -> LoadedDataset:
    rng = np.random.default_rng(0)

    def mk(k):
        return Split(rng.integers(0, 256, (k, c, hw, hw), dtype=np.uint8), rng.integers(0, 10, k).astype(np.int64))

    return LoadedDataset("tiny", {"train": mk(n), "test": mk(2)}, "unit test", {"f": "0" * 32})


def test_resize_images():
    imgs = tiny_dataset().splits["train"].images
    out = resize_images(imgs, 16)
    assert out.shape == (5, 3, 16, 16) and out.dtype == np.uint8
    assert out.min() >= imgs.min() and out.max() <= imgs.max()
    flat = np.full((2, 1, 32, 32), 200, np.uint8)
    flat[:, :, :, 16:] = 40
    half = resize_images(flat, 16)
    assert (half[..., :7] == 200).all() and (half[..., 9:] == 40).all()  # edges stay sharp away from the seam
    assert (resize_images(np.full((1, 1, 28, 28), 255, np.uint8), 16) == 255).all()  # no overflow past 255
    assert resize_images(imgs, 32) is imgs
    assert abs(float(out.mean()) - float(imgs.mean())) < 2.0
    # antialiasing: a sparse dot grid shrunk 4x keeps its mean brightness (plain bilinear would miss the dots)
    dots = np.zeros((1, 1, 32, 32), np.uint8)
    dots[..., ::4, ::4] = 255
    small = resize_images(dots, 8)
    assert abs(float(small.mean()) - float(dots.mean())) < 1.5 and small.min() > 0


def test_save_load_processed_round_trip(tmp_path):
    ds = tiny_dataset()
    path = save_processed(tmp_path / "out" / "tiny.safetensors", ds, resolution=None)
    tensors, meta = load_processed(path)
    for split in ("train", "test"):
        assert torch.equal(tensors[f"{split}_images"], torch.from_numpy(ds.splits[split].images))
        assert torch.equal(tensors[f"{split}_labels"], torch.from_numpy(ds.splits[split].labels))
    assert meta["dataset"] == "tiny" and meta["source"] == "unit test" and meta["format_version"] == "1"
    assert meta["resolution"] == "32" and meta["channels"] == "3"
    assert json.loads(meta["checksums"]) == {"f": "0" * 32}
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.safetensors"]  # no temp file left

    save_processed(path, ds, resolution=16)  # replaces atomically
    tensors, meta = load_processed(path)
    assert tuple(tensors["train_images"].shape) == (5, 3, 16, 16) and meta["resolution"] == "16"
    assert tensors["train_labels"].dtype == torch.int64


def test_load_processed_rejects_bad_artifacts(tmp_path):
    ds = tiny_dataset()
    meta = {
        "dataset": "tiny",
        "source": "x",
        "resolution": "32",
        "channels": "3",
        "checksums": "{}",
        "format_version": "1",
    }
    good = {
        "train_images": torch.from_numpy(ds.splits["train"].images),
        "train_labels": torch.from_numpy(ds.splits["train"].labels),
        "test_images": torch.from_numpy(ds.splits["test"].images),
        "test_labels": torch.from_numpy(ds.splits["test"].labels),
    }
    missing = tmp_path / "missing.safetensors"
    save_safetensors({k: v for k, v in good.items() if k != "test_labels"}, missing, meta)
    with pytest.raises(ValueError, match=rf"{missing}: tensor 'test_labels' is missing"):
        load_processed(missing)
    bad_dtype = tmp_path / "bad_dtype.safetensors"
    save_safetensors({**good, "train_labels": good["train_labels"].to(torch.int32)}, bad_dtype, meta)
    with pytest.raises(ValueError, match="'train_labels' must be int64"):
        load_processed(bad_dtype)
    no_meta = tmp_path / "no_meta.safetensors"
    save_safetensors(good, no_meta)
    with pytest.raises(ValueError, match="metadata key 'dataset' is missing"):
        load_processed(no_meta)
    unhashed = tmp_path / "unhashed.safetensors"  # written by plain safetensors: no content hash recorded
    save_file(good, str(unhashed), metadata=meta)
    with pytest.raises(ValueError, match=rf"{unhashed}: no 'content_sha256' in its metadata"):
        load_processed(unhashed)
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match=rf"{garbage}: damaged safetensors header"):
        load_processed(garbage)
    with pytest.raises(FileNotFoundError):
        load_processed(tmp_path / "nope.safetensors")
