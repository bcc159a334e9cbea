"""Step: FID, KID, precision/recall and the classifier score of one surrogate's samples at every t_mid."""

from __future__ import annotations

from ..config import evaluation_config, load_config
from ..devices import resolve_device
from ..evaluation.evaluator import Evaluator
from ..evaluation.intervals import write_metrics
from ..evaluation.records import metrics_per_set
from ..evaluation.sample_files import load_sample_file
from ..runlog import get_logger


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    tensors, meta = load_sample_file(args.samples, ("surrogate", "t_mid", "num_samples"), "sample-surrogate")
    device = resolve_device(args.device)
    evaluator = Evaluator.from_step_args(config, args, device, log.info)
    n = int(meta["num_samples"])
    rows = []
    sets = metrics_per_set(tensors, meta["t_mid"], "tmid", evaluator, "t_mid={}".format)
    for t_mid, metrics, kept, dmeta in sets:  # noqa: B007 (dmeta: every set's data set; read after the loop)
        rows.append(
            {
                "t_mid": t_mid,
                **kept,
            }
        )
        log.info("%s t_mid=%d: FID %.3f", meta["surrogate"], t_mid, metrics["fid"])
    write_metrics(
        args.out,
        args.out_bootstrap,
        {
            "surrogate": meta["surrogate"],
            "surrogate_kind": meta["surrogate_kind"],
            "native_image_size": int(meta["native_image_size"]),
            "base_model": meta["base_model"],
            "timesteps": int(meta["timesteps"]),
            "num_samples": n,
            "device": meta["device"],
            "dataset": dmeta.get("dataset"),
            "resolution": dmeta.get("resolution"),
            "reference_split": evaluation_config(config).reference_split,
            "rows": rows,
        },
    )
    log.info("wrote %s", args.out)
