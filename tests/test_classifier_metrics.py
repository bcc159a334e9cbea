"""SmallClassifier training/IO, its torch-fidelity feature extractor and the pipeline's metrics on the classifier
backend (the Evaluator every evaluation step runs), on CPU with synthetic data.

No test touches torch-fidelity's built-in extractors (their weight downloads need the
internet); everything runs on a tiny classifier trained on 8x8 synthetic patterns.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from diffrepro.devices import resolve_device
from diffrepro.evaluation.backends import load_backend
from diffrepro.evaluation.evaluator import Evaluator
from diffrepro.evaluation.feature_extractors import ClassifierFeatureExtractor
from diffrepro.evaluation.records import metrics_for
from diffrepro.evaluation.reference import save_reference
from diffrepro.models.classifier import SmallClassifier, load_classifier
from diffrepro.training.classifier import save_classifier, train_classifier, uint8_to_unit_range
from metric_oracles import frechet_distance

SIZE = 8
TRAIN_KW = dict(width=8, feature_dim=32, epochs=6, batch_size=64, lr=3e-3, seed=0, progress=False)


def make_patterns(n: int, seed: int, size: int = SIZE, noise: float = 0.08) -> tuple[torch.Tensor, torch.Tensor]:
    """Four separable grey classes: dark, bright, horizontal stripes, vertical stripes (+ noise)."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 4
    stripes_h = ((torch.arange(size) // 2) % 2).float().view(size, 1).expand(size, size)
    patterns = torch.stack(
        [
            torch.full((size, size), 0.2),
            torch.full((size, size), 0.8),
            0.2 + 0.6 * stripes_h,
            0.2 + 0.6 * stripes_h.T,
        ]
    )
    x = patterns[labels].unsqueeze(1) + noise * torch.randn(n, 1, size, size, generator=g)
    return (x.clamp(0, 1) * 255).round().to(torch.uint8), labels


@pytest.fixture(scope="module")
def data():
    xtr, ytr = make_patterns(512, seed=0)
    xte, yte = make_patterns(256, seed=1)
    return xtr, ytr, xte, yte


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    xtr, ytr, xte, yte = data
    lines: list[str] = []
    model, metrics = train_classifier(xtr, ytr, xte, yte, log=lines.append, **TRAIN_KW)
    path = tmp_path_factory.mktemp("clf") / "classifier.safetensors"
    save_classifier(model, path, metrics)
    return model, metrics, str(path), lines


def features_of(model: SmallClassifier, images_uint8: torch.Tensor) -> np.ndarray:
    with torch.inference_mode():
        feats, _ = model.features_and_logits(uint8_to_unit_range(images_uint8))
    return feats.double().numpy()


# --------------------------------------------------------------------------- classifier


def test_classifier_trains_accurately_and_deterministically(data, trained):
    model, metrics, _, lines = trained
    assert metrics["test_accuracy"] > 0.9
    assert set(metrics) == {"test_accuracy", "train_loss_final", "epochs", "steps", "seconds"}
    assert metrics["epochs"] == TRAIN_KW["epochs"] and metrics["steps"] == TRAIN_KW["epochs"] * 8
    assert np.isfinite(metrics["train_loss_final"])
    assert not model.training
    assert any("test accuracy" in line for line in lines)

    state_before = torch.get_rng_state()
    model2, metrics2 = train_classifier(*data, **TRAIN_KW)
    assert torch.equal(torch.get_rng_state(), state_before)  # global RNG left untouched
    sd1, sd2 = model.state_dict(), model2.state_dict()
    assert sd1.keys() == sd2.keys()
    assert all(torch.equal(sd1[k], sd2[k]) for k in sd1)
    assert metrics2["test_accuracy"] == metrics["test_accuracy"]


def test_classifier_shapes_and_config():
    model = SmallClassifier(in_channels=3, num_classes=5, image_size=16, width=8, feature_dim=24)
    assert json.loads(json.dumps(model.config())) == model.config()
    clone = SmallClassifier(**model.config())
    assert sum(p.numel() for p in clone.parameters()) == sum(p.numel() for p in model.parameters())
    feats, logits = model.eval().features_and_logits(torch.zeros(2, 3, 16, 16))
    assert feats.shape == (2, 24) and logits.shape == (2, 5)
    assert (feats >= 0).all()
    with pytest.raises(ValueError):
        model(torch.zeros(2, 1, 16, 16))


def test_save_load_round_trip(trained, data, tmp_path):
    model, _, path, _ = trained
    xte = data[2][:32]
    loaded = load_classifier(path)
    assert loaded.config() == model.config()
    x = uint8_to_unit_range(xte)
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))

    bare = tmp_path / "no_config.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bare))
    with pytest.raises(ValueError, match="no_config.safetensors"):
        load_classifier(bare)

    bad = tmp_path / "bad_config.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(bad), metadata={"config": "{not json"})
    with pytest.raises(ValueError, match="bad_config.safetensors"):
        load_classifier(bad)


# --------------------------------------------------------------------------- extractor


def test_extractor_preprocessing_and_features(trained, tmp_path):
    model, _, path, _ = trained
    # grey classifier: the channel mean of the replicated channels reproduces the direct features
    fe = ClassifierFeatureExtractor("clf", ["features", "logits"], feature_extractor_weights_path=path)
    x = make_patterns(6, seed=3)[0]
    feats, logits = fe(x.expand(-1, 3, -1, -1).contiguous())
    ref_feats, ref_logits = model.features_and_logits(uint8_to_unit_range(x))
    assert torch.allclose(feats, ref_feats, atol=1e-5) and torch.allclose(logits, ref_logits, atol=1e-5)
    assert fe.convert_features_tuple_to_dict(fe(x.expand(-1, 3, -1, -1)))["features"].shape == (6, 32)

    # RGB classifier at 16x16 accepts 8x8 inputs (resized) and returns requested features in order
    other = SmallClassifier(in_channels=3, num_classes=3, image_size=16, width=8, feature_dim=16).eval()
    other_path = tmp_path / "rgb16.safetensors"
    save_classifier(other, other_path, {"note": "untrained"})
    fe2 = ClassifierFeatureExtractor("rgb", ["logits", "features"], feature_extractor_weights_path=str(other_path))
    lg, ft = fe2(torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8))
    assert lg.shape == (4, 3) and ft.shape == (4, 16)
    with pytest.raises(ValueError):
        fe2(torch.zeros(4, 3, 8, 8))  # not uint8
    with pytest.raises(ValueError, match="needs a classifier weights file"):
        ClassifierFeatureExtractor("none", ["features"])
    with pytest.raises(ValueError, match="feature_extractor_internal_dtype"):
        ClassifierFeatureExtractor(
            "f16", ["features"], feature_extractor_weights_path=path, feature_extractor_internal_dtype="float16"
        )


# --------------------------------------------------------------------------- metrics (the Evaluator's path)

#: evaluation settings of the tests' Evaluator (the parameter file's ``evaluation`` section)
EVALUATION = {
    "backends": ["classifier"],
    "reference_split": "test",
    "batch_size": 64,
    "kid_subset_size": 100,
    "kid_subsets": 100,
    "prc_neighborhood": 3,
    "prd": {"clusters": 20, "angles": 1001, "runs": 10},
    "bootstrap": {"replicates": 50},
}


def evaluator_of(weights: str, reference: torch.Tensor, folder, **evaluation) -> Evaluator:
    """The Evaluator of the evaluation steps on the classifier backend, ``reference``'s features saved as the
    reference-features step saves them."""
    backend = load_backend("classifier", weights, batch_size=64)
    save_reference(
        str(folder / "classifier.safetensors"),
        backend.features(reference),
        {
            "backend": "classifier",
            "weights_sha256": backend.weights_sha256,
            "dataset": "patterns",
            "split": "test",
            "resolution": reference.shape[-1],
            "images": reference.shape[0],
        },
    )
    config = {"seed": 2020, "evaluation": {**EVALUATION, **evaluation}}
    return Evaluator.from_files(config, classifier=weights, inception="unused", references=str(folder))


def test_grey_images_are_replicated_to_three_channels(trained, data):
    _, _, path, _ = trained
    backend = load_backend("classifier", path, batch_size=7)
    x = data[2][:20]
    grey, rgb = backend.features(x), backend.features(x.expand(-1, 3, -1, -1).contiguous())
    assert set(grey) == {"pool", "logits"} and grey["pool"].shape == (20, 32)
    assert all(torch.equal(grey[k], rgb[k]) for k in grey)
    assert backend.last_images_per_second > 0


def test_metrics_of_a_set_against_itself(trained, data, tmp_path):
    _, _, path, _ = trained
    xte = data[2]
    out, ref = metrics_for(xte, evaluator_of(path, xte, tmp_path), desc="itself")
    assert abs(out["fid"]) < 1e-3
    assert out["precision"] == 1.0 and out["recall"] == 1.0
    assert abs(out["kid_mean"]) < 0.02
    assert out["score_mean"] is not None and out["score_mean"] >= 1.0
    assert out["n_generated"] == out["n_reference"] == 256
    assert out["backend"] == "classifier" and set(out["backends"]) == {"classifier"}
    assert out["precision_recall_definition"] == "k-NN (Kynkaanniemi et al. 2019, k=3)"
    assert out["score_definition"] == "classifier-logit Inception-style score (not the Inception Score)"
    assert "images_per_second" not in out  # a metrics record holds no timing (diffrepro.timing)
    assert ref == {"dataset": "patterns", "resolution": SIZE, "reference_split": "test"}


def test_fid_matches_independent_frechet_distance(trained, data, tmp_path):
    model, _, path, _ = trained
    _, _, xte, yte = data
    gen, gen_labels = make_patterns(240, seed=7, noise=0.15)
    gen = gen[gen_labels != 3]  # noisier and missing a class
    out = evaluator_of(path, xte, tmp_path, kid_subset_size=1000).evaluate(gen)
    assert out["backends"]["classifier"]["kid_subset_size"] == 180
    f1, f2 = features_of(model, gen), features_of(model, xte)
    expected = frechet_distance(f1.mean(0), np.cov(f1, rowvar=False), f2.mean(0), np.cov(f2, rowvar=False))
    assert expected > 0.01
    assert out["fid"] == pytest.approx(expected, rel=1e-3)


def test_different_sets_have_positive_fid_and_kid(trained, data, tmp_path):
    _, _, path, _ = trained
    _, _, xte, yte = data
    out = evaluator_of(path, xte, tmp_path, kid_subset_size=50).evaluate(xte[yte == 0])
    assert out["fid"] > 0.1
    assert out["kid_mean"] > 0
    assert out["precision"] == 1.0 and out["recall"] < 0.5  # one class out of four covered


def test_frechet_distance_closed_form():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 2.0])
    s1, s2 = np.eye(3), 4 * np.eye(3)
    # |mu1-mu2|^2 = 9; tr(S1 + S2 - 2 sqrt(S1 S2)) = 3 + 12 - 2 * 6 = 3
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(12.0)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError):
        frechet_distance(mu1, s1, np.zeros(2), np.eye(2))


def test_bad_inputs_raise_named_errors(trained, data, tmp_path):
    _, _, path, _ = trained
    x = data[2][:16]
    with pytest.raises(ValueError, match="no-such-backend"):
        load_backend("no-such-backend", path)
    with pytest.raises(FileNotFoundError, match="missing.safetensors.*train-classifier"):
        load_backend("classifier", tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="uint8"):
        load_backend("classifier", path).features(x.float())
    evaluator = evaluator_of(path, x, tmp_path)
    with pytest.raises(ValueError, match="16 px.*8 px"):
        metrics_for(torch.zeros(4, 1, 16, 16, dtype=torch.uint8), evaluator, desc="big")
    with pytest.raises(ValueError, match="no weights/reference file"):
        Evaluator(
            {"seed": 0, "evaluation": {**EVALUATION, "backends": ["classifier", "inception"]}},
            {"classifier": path},
            {"classifier": str(tmp_path / "classifier.safetensors")},
        )
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_reference_features_of_another_split_are_refused(trained, data, tmp_path):
    """An evaluation reads the reference set of its own split (the DDDM's is dddm.reference_split): features of
    another split are refused, naming the file and both splits."""
    _, _, path, _ = trained
    with pytest.raises(
        ValueError, match=r"classifier\.safetensors: reference features of the 'test' split, expected 'train'"
    ):
        evaluator_of(path, data[2], tmp_path, reference_split="train")
