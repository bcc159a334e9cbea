"""Published checksums, expected structure and well-known locations of the data sets.

Every number here is copied from a source we can cite, never guessed:

* Archive md5 sums of Fashion-MNIST, MNIST and the CIFAR python-version files are
  the ones torchvision publishes (``torchvision/datasets/mnist.py`` ``resources``
  and ``torchvision/datasets/cifar.py`` ``train_list``/``test_list``, torchvision 0.29).
* The md5 sums of the *decompressed* Fashion-MNIST IDX files were computed from
  Debian's ``dataset-fashion-mnist`` package and agree with the contents of
  torchvision's archives (the IDX bytes are the same; only the gzip wrapper differs).
* We do not know published md5 sums of the decompressed MNIST IDX files nor of the
  CIFAR binary-version files, so those are checked structurally instead (IDX magic,
  dtype, dimensions and exact byte length; CIFAR record length and label ranges).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class IdxDatasetSpec:
    """Description of an MNIST-like data set shipped as four IDX files.

    ``files`` maps ``(split, kind)`` with kind ``"images"``/``"labels"`` to the
    decompressed IDX file name; ``archive_md5`` holds torchvision's md5 of the
    ``.gz`` archives; ``idx_md5`` the md5 of the decompressed files (empty when
    unknown: then only the structure is verified); ``split_sizes`` the expected
    number of examples per split.
    """

    name: str
    torchvision_class: str
    archive_md5: dict[str, str]
    idx_md5: dict[str, str]
    split_sizes: dict[str, int]
    image_shape: tuple[int, int] = (28, 28)
    num_classes: int = 10
    files: dict[tuple[str, str], str] = field(
        default_factory=lambda: {
            ("train", "images"): "train-images-idx3-ubyte",
            ("train", "labels"): "train-labels-idx1-ubyte",
            ("test", "images"): "t10k-images-idx3-ubyte",
            ("test", "labels"): "t10k-labels-idx1-ubyte",
        }
    )


# --- Fashion-MNIST -----------------------------------------------------------------
#: torchvision's published md5 of the four archives (Debian's recompressed .gz differ).
FASHION_MNIST_ARCHIVE_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
#: md5 of the decompressed IDX files; verified for every source.
FASHION_MNIST_IDX_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}
FASHION_MNIST = IdxDatasetSpec(
    name="fashion_mnist",
    torchvision_class="FashionMNIST",
    archive_md5=FASHION_MNIST_ARCHIVE_MD5,
    idx_md5=FASHION_MNIST_IDX_MD5,
    split_sizes={"train": 60000, "test": 10000},
)
#: Folder installed by Debian's ``dataset-fashion-mnist`` package.
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
DEBIAN_FASHION_MNIST_PACKAGE = "dataset-fashion-mnist"

# --- MNIST -------------------------------------------------------------------------
#: torchvision's published md5 of the four archives (same bytes on all its mirrors).
MNIST_ARCHIVE_MD5: dict[str, str] = {
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
MNIST = IdxDatasetSpec(
    name="mnist",
    torchvision_class="MNIST",
    archive_md5=MNIST_ARCHIVE_MD5,
    idx_md5={},  # not known to us: structure (magic, dims, byte length, counts) is verified
    split_sizes={"train": 60000, "test": 10000},
)

# --- CIFAR -------------------------------------------------------------------------
#: torchvision's md5 of the python-version (pickle) files.
CIFAR10_PY_MD5: dict[str, str] = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR100_PY_MD5: dict[str, str] = {
    "train": "16019d7e3df5f24257cddd939b257f8d",
    "test": "f0ef6b0ae62326f3e7ffdfab6717acfc",
}
CIFAR10_SPLIT_SIZES = {"train": 50000, "test": 10000}
CIFAR100_SPLIT_SIZES = {"train": 50000, "test": 10000}

# --- Downsampled ImageNet (Chrabaszcz et al. 2017), npz variant -------------------------
#: the classes of its labels (1..1000 in the files)
IMAGENET_CLASSES = 1000
#: the folders of the 64x64 npz archives (train batches 1-5, 6-10; validation)
IMAGENET64_NPZ_TRAIN_FOLDERS = ("Imagenet64_train_part1_npz", "Imagenet64_train_part2_npz")
IMAGENET64_NPZ_VAL_FOLDER = "Imagenet64_val_npz"

# --- CelebA ------------------------------------------------------------------------
#: Protocol used for "CelebA 64x64": center crop 140x140, then resize to 64x64.
CELEBA_CROP = 140
CELEBA_RESOLUTION = 64
#: torchvision's published md5 of CelebA's ``list_eval_partition.txt``.
CELEBA_PARTITION_MD5: str | None = "d32c9cbf5e040fd4025c592c306e6668"
