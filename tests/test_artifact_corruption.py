"""Every kind of tensor artifact, read by the reader the pipeline uses, refuses a flipped tensor byte and a
truncated file with an error naming the file; samples evaluated as another model are refused naming the key,
the expected and the found value.  (A damaged latest checkpoint falls back to the previous one:
tests/test_engine.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from diffrepro.artifacts.dddm import load_dddm_weights
from diffrepro.artifacts.ddgm import load_weights
from diffrepro.data.processed import load_processed, save_processed
from diffrepro.evaluation.inception import InceptionFID
from diffrepro.evaluation.intervals import REPLICATES_FORMAT, load_replicates
from diffrepro.evaluation.reference import load_reference
from diffrepro.evaluation.sample_files import load_sample_file, load_samples
from diffrepro.models.classifier import SmallClassifier, load_classifier
from diffrepro.tensorfile import ArtifactError, save_safetensors
from diffrepro.training.classifier import save_classifier
from diffrepro.training.gan import load_gan_generator
from test_data import tiny_dataset


def _samples(path: Path) -> None:
    images = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    save_safetensors({"images": images}, path, {"model": "ddgm_a", "seed": "0"})


def _tensors(path: Path) -> None:
    save_safetensors({"w": torch.arange(64, dtype=torch.float32)}, path, {"kind": "any"})


#: kind -> (writer of an intact file, the pipeline's reader of that kind); readers that need a parameter file
#: get None for it: the file's hash is checked before anything else is read
KINDS = {
    "processed data": (lambda p: save_processed(p, tiny_dataset(), resolution=None), load_processed),
    "samples": (_samples, lambda p: load_samples(str(p), {"model": "ddgm_a", "seed": "0"})),
    "multi-set samples": (_samples, lambda p: load_sample_file(str(p), [], "sample-dddm")),
    "bootstrap replicates": (
        lambda p: save_safetensors({"fid": torch.arange(30, dtype=torch.float64)}, p, {"format": REPLICATES_FORMAT}),
        load_replicates,
    ),
    "classifier weights": (
        lambda p: save_classifier(
            SmallClassifier(num_classes=3, in_channels=3, image_size=8, width=8, feature_dim=16), p, {}
        ),
        load_classifier,
    ),
    "DDGM weights": (_tensors, lambda p: load_weights(str(p), None)),
    "DDDM weights": (_tensors, lambda p: load_dddm_weights(str(p), "r", None, {"metric": "l2"})),
    "GAN generator": (_tensors, lambda p: load_gan_generator(p, None, "cpu")),
    "reference features": (_tensors, lambda p: load_reference(str(p), backend="inception", weights_sha256="x")),
    "Inception weights": (_tensors, lambda p: InceptionFID("t", ["2048"], feature_extractor_weights_path=str(p))),
}
INTACT_READ = {"processed data", "samples", "multi-set samples", "bootstrap replicates", "classifier weights"}


def _flip_last_tensor_byte(path: Path) -> None:
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_flipped_byte_and_a_truncated_file_are_refused_naming_the_file(kind, tmp_path):
    write, read = KINDS[kind]
    path = tmp_path / "artifact.safetensors"
    write(path)
    if kind in INTACT_READ:
        read(path)  # the intact file is read
    _flip_last_tensor_byte(path)
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*content hash") as err:
        read(path)
    assert re.search(r"recorded content_sha256 [0-9a-f]{64}, found [0-9a-f]{64}", str(err.value))
    write(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=re.escape(str(path)) + r".*truncated"):
        read(path)


def test_the_wrong_models_samples_are_refused_naming_key_expected_and_found(tmp_path):
    path = tmp_path / "ddgm_b.safetensors"
    _samples(path)
    with pytest.raises(
        ArtifactError, match=re.escape(str(path)) + r": metadata 'model' is 'ddgm_a', expected 'ddgm_b'"
    ):
        load_samples(str(path), {"model": "ddgm_b", "seed": "0"})
    with pytest.raises(ArtifactError, match=re.escape(str(path)) + r": metadata 'seed' is '0', expected '1'"):
        load_samples(str(path), {"model": "ddgm_a", "seed": "1"})
