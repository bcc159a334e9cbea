"""Tests of the downsampled-ImageNet loaders (diffrepro.data.imagenet) on tiny files in the real layouts:
Chrabaszcz et al. 2017 npz and pickle batches, van den Oord et al. 2016 PNG folders."""

from __future__ import annotations

import logging
import pickle
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diffrepro.data import DATASETS, UNLABELLED, DatasetNotFoundError, load_dataset, load_processed, save_processed
from diffrepro.data.errors import DatasetFormatError
from diffrepro.data.imagenet import IMAGENET32, IMAGENET64, read_npz_batch
from diffrepro.errors import DiffreproError

#: images per train batch 1..10 (uneven, so a wrong batch order shows) and in the validation file
TRAIN_COUNTS = [2, 1, 3, 1, 1, 2, 1, 1, 1, 2]
VAL_COUNT = 3


def rows(n: int, size: int, seed: int) -> np.ndarray:
    """``n`` images as the release stores them: R plane, G plane, B plane, each row-major."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, 3 * size * size), dtype=np.uint8)


def release(size: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], tuple[np.ndarray, np.ndarray]]:
    """Train batches 1..10 and the validation batch: (data rows, labels 1..1000)."""
    train = []
    for i, n in enumerate(TRAIN_COUNTS, 1):
        labels = np.array([(i * 97 + j * 31) % 1000 + 1 for j in range(n)], dtype=np.int64)
        train.append((rows(n, size, seed=i), labels))
    labels_val = np.array([1, 1000, 500], dtype=np.int64)
    return train, (rows(VAL_COUNT, size, seed=99), labels_val)


def train_folders(layout, variant: str) -> list[str]:
    """The folder of each train batch 1..10 in the official archives."""
    folders = layout.npz_train_folders if variant == "npz" else layout.pkl_train_folders
    return [folders[0] if len(folders) == 1 or i <= 5 else folders[1] for i in range(1, 11)]


def write_chrabaszcz(root: Path, size: int, variant: str = "npz", flat: bool = False):
    """Write the batches in the official layout (``flat``: all files directly in ``root``)."""
    layout = IMAGENET32 if size == 32 else IMAGENET64
    train, val = release(size)
    ext = ".npz" if variant == "npz" else ""
    mean = np.mean(np.concatenate([d for d, _ in train]), axis=0)
    for i, ((data, labels), folder) in enumerate(zip(train, train_folders(layout, variant)), 1):
        path = root / ("" if flat else folder) / f"train_data_batch_{i}{ext}"
        path.parent.mkdir(parents=True, exist_ok=True)
        if variant == "npz":
            np.savez(path, data=data, labels=labels, mean=mean)
        else:  # as the release's script wrote them: labels a list of ints
            path.write_bytes(pickle.dumps({"data": data, "labels": labels.tolist(), "mean": mean}))
    val_dir = layout.npz_val_folder if variant == "npz" else layout.pkl_val_folder
    path = root / ("" if flat else val_dir) / f"val_data{ext}"
    path.parent.mkdir(parents=True, exist_ok=True)
    if variant == "npz":
        np.savez(path, data=val[0], labels=val[1])
    else:
        path.write_bytes(pickle.dumps({"data": val[0], "labels": val[1].tolist()}))
    return train, val


def expected(batches, size: int) -> tuple[np.ndarray, np.ndarray]:
    data = np.concatenate([d for d, _ in batches])
    labels = np.concatenate([lb for _, lb in batches])
    return data.reshape(-1, 3, size, size), labels - 1


def load(name: str, root: Path, tmp_path: Path, download: bool = False):
    return load_dataset(name, root=str(root), download=download, download_dir=str(tmp_path / "no-downloads"))


def test_registered():
    assert {"imagenet32", "imagenet64"} <= set(DATASETS)


def test_npz_imagenet32_official_layout(tmp_path):
    train, val = write_chrabaszcz(tmp_path / "in", 32)
    ds = load("imagenet32", tmp_path / "in", tmp_path)
    assert ds.name == "imagenet32" and ds.resolution == 32 and ds.channels == 3
    assert len(ds.splits["train"]) == sum(TRAIN_COUNTS) and len(ds.splits["test"]) == VAL_COUNT
    for split, batches in (("train", train), ("test", [val])):
        images, labels = expected(batches, 32)
        np.testing.assert_array_equal(ds.splits[split].images, images)  # batches 1, 2, ..., 10 in that order
        np.testing.assert_array_equal(ds.splits[split].labels, labels)
    # channel planes: the first 1024 values are red, row-major (row 0 then row 1 ...)
    first = train[0][0][0]
    assert ds.splits["train"].images[0, 0, 1, 2] == first[1 * 32 + 2]
    assert ds.splits["train"].images[0, 2, 31, 0] == first[2 * 1024 + 31 * 32]
    np.testing.assert_array_equal(ds.splits["test"].labels, [0, 999, 499])
    assert ds.splits["train"].labels.dtype == np.int64
    assert "Chrabaszcz" in ds.source and "npz variant" in ds.source
    assert set(ds.checksums) == {f"Imagenet32_train_npz/train_data_batch_{i}.npz" for i in range(1, 11)} | {
        "Imagenet32_val_npz/val_data.npz"
    }
    again = load("imagenet32", tmp_path / "in", tmp_path)  # deterministic
    np.testing.assert_array_equal(again.splits["train"].images, ds.splits["train"].images)


def test_npz_imagenet64_two_train_parts(tmp_path):
    train, val = write_chrabaszcz(tmp_path, 64)
    assert (tmp_path / "Imagenet64_train_part2_npz" / "train_data_batch_6.npz").is_file()
    ds = load("imagenet64", tmp_path, tmp_path)
    images, labels = expected(train, 64)
    np.testing.assert_array_equal(ds.splits["train"].images, images)
    np.testing.assert_array_equal(ds.splits["train"].labels, labels)
    assert ds.splits["test"].images.shape == (VAL_COUNT, 3, 64, 64)


def test_npz_flat_layout_and_named_subfolder(tmp_path):
    train, _ = write_chrabaszcz(tmp_path / "imagenet32", 32, flat=True)  # <root>/imagenet32/train_data_batch_1.npz
    ds = load("imagenet32", tmp_path, tmp_path)
    np.testing.assert_array_equal(ds.splits["train"].images, expected(train, 32)[0])


def test_pickle_variant_uses_restricted_unpickler(tmp_path):
    train, val = write_chrabaszcz(tmp_path, 32, variant="pickle")
    ds = load("imagenet32", tmp_path, tmp_path)
    assert "pickle variant" in ds.source and "restricted unpickler" in ds.source
    np.testing.assert_array_equal(ds.splits["train"].images, expected(train, 32)[0])
    np.testing.assert_array_equal(ds.splits["test"].labels, val[1] - 1)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (tmp_path / "Imagenet32_val" / "val_data").write_bytes(pickle.dumps({"data": Evil(), "labels": [1]}))
    with pytest.raises(DatasetFormatError, match=r"val_data.*refused to load global builtins\.print"):
        load("imagenet32", tmp_path, tmp_path)


def write_pngs(folder: Path, names: list[str], size: int, seed: int, mode: str = "RGB") -> dict[str, np.ndarray]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        hwc = rng.integers(0, 256, size=(size, size, 3), dtype=np.uint8)
        Image.fromarray(hwc, "RGB").convert(mode).save(folder / name)
        out[name] = hwc.transpose(2, 0, 1)
    return out


@pytest.mark.parametrize("size", [32, 64])
def test_van_den_oord_png_folders_unlabelled(tmp_path, size):
    train = write_pngs(tmp_path / f"train_{size}x{size}", ["0003.png", "0001.png", "0010.png", "0002.png"], size, 1)
    valid = write_pngs(tmp_path / f"valid_{size}x{size}", ["b.png", "a.png"], size, 2)
    (tmp_path / f"train_{size}x{size}" / "README.txt").write_text("not an image")  # ignored
    ds = load(f"imagenet{size}", tmp_path, tmp_path)
    assert len(ds.splits["train"]) == 4 and len(ds.splits["test"]) == 2
    for split, imgs in (("train", train), ("test", valid)):
        order = sorted(imgs)  # file-name order
        np.testing.assert_array_equal(ds.splits[split].images, np.stack([imgs[n] for n in order]))
        assert (ds.splits[split].labels == UNLABELLED).all() and ds.splits[split].labels.dtype == np.int64
    assert "van den Oord" in ds.source and "unlabelled" in ds.source


def test_labelled_files_preferred_over_pngs(tmp_path, caplog):
    train, _ = write_chrabaszcz(tmp_path, 32)
    write_pngs(tmp_path / "train_32x32", ["a.png"], 32, 1)
    write_pngs(tmp_path / "valid_32x32", ["a.png"], 32, 2)
    with caplog.at_level(logging.WARNING, logger="diffrepro.data.imagenet"):
        ds = load("imagenet32", tmp_path, tmp_path)
    assert len(ds.splits["train"]) == sum(TRAIN_COUNTS) and "Chrabaszcz" in ds.source
    assert "using the labelled files" in caplog.text and "train_32x32" in caplog.text


def test_unlabelled_artifact_round_trip_and_classifier_refuses_it(tmp_path, monkeypatch):
    write_pngs(tmp_path / "train_32x32", ["a.png", "b.png"], 32, 1)
    write_pngs(tmp_path / "valid_32x32", ["c.png"], 32, 2)
    ds = load("imagenet32", tmp_path, tmp_path)
    path = save_processed(tmp_path / "imagenet32.safetensors", ds, None)
    tensors, meta = load_processed(path)
    assert tensors["train_labels"].tolist() == [UNLABELLED, UNLABELLED] and meta["dataset"] == "imagenet32"

    from diffrepro.steps import train_classifier as step

    monkeypatch.setattr(step, "load_config", lambda _p: {"seed": 0, "classifier": {}})
    monkeypatch.setattr(step, "train_classifier", lambda *a, **k: pytest.fail("must not train on unlabelled data"))
    args = Namespace(
        params="params.yaml", data=str(path), out=str(tmp_path / "c.safetensors"), metrics=str(tmp_path / "c.json")
    )
    with pytest.raises(DiffreproError, match=r"'imagenet32' has no class labels.*Chrabaszcz et al\. npz"):
        step.run(args)


# ----------------------------------------------------------------------------- errors
def test_missing_files_name_the_expected_layouts(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        load("imagenet32", tmp_path / "empty", tmp_path, download=True)
    msg = str(err.value)
    for needle in (
        "Imagenet32_train_npz",
        "Imagenet32_val_npz/val_data.npz",
        "train_32x32",
        "valid_32x32",
        "image-net.org",
        "no automatic download exists for imagenet32",
        "Imagenet32_train_npz.zip",
    ):
        assert needle in msg, needle
    assert not (tmp_path / "no-downloads").exists()
    with pytest.raises(DatasetNotFoundError, match=r"Imagenet64_train_part1_npz.*train_64x64"):
        load("imagenet64", tmp_path / "empty", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"root: not set"):
        load_dataset("imagenet32", root=None, download=False, download_dir=str(tmp_path / "nothing"))


def test_missing_batch_is_named(tmp_path):
    write_chrabaszcz(tmp_path, 32)
    (tmp_path / "Imagenet32_train_npz" / "train_data_batch_7.npz").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"lacks npz variant train_data_batch_7\.npz"):
        load("imagenet32", tmp_path, tmp_path)
    (tmp_path / "train_32x32").mkdir()  # an empty PNG folder is not a copy either
    with pytest.raises(DatasetNotFoundError, match=r"train_32x32/, valid_32x32/"):
        load("imagenet32", tmp_path, tmp_path)


def test_corrupt_npz_names_the_file(tmp_path):
    write_chrabaszcz(tmp_path, 32)
    bad = tmp_path / "Imagenet32_train_npz" / "train_data_batch_3.npz"
    bad.write_bytes(bad.read_bytes()[:200])  # truncated
    with pytest.raises(DatasetFormatError, match=r"train_data_batch_3\.npz: cannot read this npz"):
        load("imagenet32", tmp_path, tmp_path)
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetFormatError, match=r"train_data_batch_3\.npz: cannot read this npz"):
        load("imagenet32", tmp_path, tmp_path)


def test_npz_structure_errors(tmp_path):
    path = tmp_path / "b.npz"
    np.savez(path, data=rows(2, 64, 0), labels=np.array([1, 2]))
    with pytest.raises(DatasetFormatError, match=r"b\.npz: rows hold 12288 values, expected 3072.*64x64 release"):
        read_npz_batch(path, 32)
    np.savez(path, data=rows(2, 32, 0), labels=np.array([0, 2]))
    with pytest.raises(DatasetFormatError, match=r"b\.npz: labels span 0\.\.2, expected 1\.\.1000"):
        read_npz_batch(path, 32)
    np.savez(path, data=rows(2, 32, 0), labels=np.array([1]))
    with pytest.raises(DatasetFormatError, match=r"2 images but 1 labels"):
        read_npz_batch(path, 32)
    np.savez(path, data=rows(2, 32, 0))
    with pytest.raises(DatasetFormatError, match=r"lacks array\(s\) \['labels'\]"):
        read_npz_batch(path, 32)
    np.savez(path, data=np.array([{"x": 1}], dtype=object), labels=np.array([1]))
    with pytest.raises(DatasetFormatError, match=r"b\.npz: cannot read this npz.*allow_pickle"):
        read_npz_batch(path, 32)
    np.savez(path, data=rows(2, 32, 0).astype(np.int16), labels=np.array([1, 2]))
    with pytest.raises(DatasetFormatError, match=r"'data' must be a uint8 array"):
        read_npz_batch(path, 32)


def test_wrong_png_size_or_mode_names_the_file(tmp_path):
    write_pngs(tmp_path / "train_32x32", ["a.png", "b.png"], 32, 1)
    write_pngs(tmp_path / "valid_32x32", ["a.png"], 32, 2)
    write_pngs(tmp_path / "train_32x32", ["c.png"], 64, 3)  # a 64x64 image in the 32x32 folder
    with pytest.raises(DatasetFormatError, match=r"train_32x32/c\.png: image is 64x64 RGB, expected 32x32 RGB"):
        load("imagenet32", tmp_path, tmp_path)
    (tmp_path / "train_32x32" / "c.png").unlink()
    write_pngs(tmp_path / "valid_32x32", ["g.png"], 32, 4, mode="L")
    with pytest.raises(DatasetFormatError, match=r"valid_32x32/g\.png: image is 32x32 L, expected 32x32 RGB"):
        load("imagenet32", tmp_path, tmp_path)
    (tmp_path / "valid_32x32" / "g.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(DatasetFormatError, match=r"valid_32x32/g\.png: cannot decode this PNG"):
        load("imagenet32", tmp_path, tmp_path)
