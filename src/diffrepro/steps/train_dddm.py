"""Step: train one DDDM run (one loss metric of ``dddm.runs``; resumable), then write its EMA weights,
loss curve and summary."""

from __future__ import annotations

from ..artifacts.dddm import weights_metadata
from ..atomic import write_json
from ..config import dddm_run, load_config
from ..csvio import write_csv
from ..data import load_processed
from ..diffusion.dddm_losses import normalize_metric
from ..runlog import get_logger
from ..tensorfile import save_safetensors
from ..timing import train_timing, write_timing
from ..training.dddm import train_dddm
from ..training.launch import discard_checkpoints, train_in_step


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    dddm, run_cfg = dddm_run(config, args.run)
    tensors, meta = load_processed(args.data)
    expected = config["datasets"][run_cfg.data]["dataset"]
    if meta["dataset"] != expected:
        raise ValueError(
            f"{args.data} holds data set {meta['dataset']!r}, but dddm.runs.{args.run}.data is {run_cfg.data!r} "
            f"({expected})"
        )
    images = tensors["train_images"]
    labels = tensors["train_labels"] if run_cfg.class_conditional else None
    # the classes of a conditional run: the training split's (its largest label + 1; a subset uses them all)
    num_classes = int(labels.max()) + 1 if labels is not None and labels.numel() else 0
    trained = train_in_step(args, config, train_dddm, images, dddm, run_cfg, labels=labels, num_classes=num_classes)
    if trained is None:  # rank 0 writes the outputs
        return
    result, device = trained
    image_size, channels = int(images.shape[-1]), int(images.shape[1])
    save_safetensors(
        result.ema_state,
        args.weights,
        weights_metadata(
            args.run,
            dddm,
            run_cfg,
            meta,
            image_size,
            channels,
            result.steps,
            result.parameters,
            result.reportable,
            result.images_used,
            num_classes,
        ),
    )
    write_csv(
        args.loss_csv,
        ["step", "epoch", "w", "loss"],
        [[h["step"], h["epoch"], f"{h['w']:.6f}", f"{h['loss']:.6f}"] for h in result.history],
    )
    steps_this_run = result.steps - result.resumed_from
    timing = train_timing(result)
    timing["steps_per_second_this_run"] = (
        round(steps_this_run / result.seconds, 4) if steps_this_run and result.seconds else None
    )
    write_timing(args.timing, f"train-dddm {args.run}", timing)
    write_json(
        args.summary,
        {
            "run": args.run,
            "metric": normalize_metric(run_cfg.as_dict()["metric"]),
            "reportable": result.reportable,
            "parameters": result.parameters,
            "steps": result.steps,
            "epochs": dddm.train.epochs,
            "images_used": result.images_used,
            "store_dtype": dddm.train.store_dtype,
            "precision": dddm.train.precision,
            "final_loss": result.history[-1]["loss"] if result.history else None,
            "device": device,
        },
    )
    discard_checkpoints(args.checkpoint_dir)
    log.info(
        "wrote %s (DDDM run %s, %d parameters, %d steps%s)",
        args.weights,
        args.run,
        result.parameters,
        result.steps,
        "" if result.reportable else ", NOT REPORTABLE",
    )
