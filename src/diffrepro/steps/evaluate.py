"""Step: FID, KID, precision/recall (and the classifier-logit score) of one model's samples (``--composed NAME``: a
composed DAED's, sampled as its generator's model; its record carries its own name and what it is made of)."""

from __future__ import annotations

from ..config import daed_config, load_config, model_config, run_seed
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
    composed = getattr(args, "composed", None)  # a composed DAED sampled as its generator's model
    seed = str(run_seed(config, getattr(args, "seed", None)))
    samples, _ = load_samples(args.samples, {"model": args.model, "seed": seed, "composed": composed})
    evaluator = Evaluator.from_step_args(config, args, resolve_device(args.device), log.info)
    metrics, dmeta = metrics_for(samples, evaluator, desc=composed or args.model)
    record = {
        **metrics,
        **model_record(args.model, mcfg),
        **dmeta,
    }
    if composed:  # its row in the tables: the composed DAED's name, and what it is made of
        entry = daed_config(config).composed[composed]
        record.update(
            model=composed,
            composed={"generator": entry.generator, "dae": entry.dae, "dae_data": model_config(config, entry.dae).data},
        )
    write_metrics(args.out, args.out_bootstrap, record)
    log.info(
        "%s: FID %.3f, precision %.3f, recall %.3f -> %s",
        args.model,
        record["fid"],
        record["precision"],
        record["recall"],
        args.out,
    )
