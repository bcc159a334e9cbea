"""Step: FID, KID, precision/recall (and the classifier-logit score) of one model's samples."""

from __future__ import annotations

from ..config import load_config, model_config, run_seed
from ..devices import resolve_device
from ..evaluation.evaluator import Evaluator
from ..evaluation.intervals import write_metrics
from ..evaluation.records import metrics_for, model_record
from ..evaluation.sample_files import load_samples
from ..runlog import get_logger


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    mcfg = model_config(config, args.model)
    # the samples of this run: a file of another model or seed is refused, naming the file and the key
    samples, _ = load_samples(args.samples, {"model": args.model, "seed": str(run_seed(config, args.seed))})
    evaluator = Evaluator.from_step_args(config, args, resolve_device(args.device), log.info)
    metrics, dmeta = metrics_for(samples, evaluator, desc=args.model)
    record = {
        **metrics,
        **model_record(args.model, mcfg),
        **dmeta,
    }
    write_metrics(args.out, args.out_bootstrap, record)
    log.info(
        "%s: FID %.3f, precision %.3f, recall %.3f -> %s",
        args.model,
        record["fid"],
        record["precision"],
        record["recall"],
        args.out,
    )
