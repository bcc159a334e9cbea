"""The metrics records the evaluation steps write and the tables read: the metrics of one sample set on every
backend with what the reference features were made of (:func:`metrics_for`), and what a record says about the
DDGM it measures (:func:`model_record`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch

from ..sections import ModelSection, as_model
from .evaluator import Evaluator
from .sample_files import KEPT_METRICS

__all__ = ["metrics_for", "model_record", "reference_of"]


def reference_of(evaluator: Evaluator) -> dict[str, Any]:
    """What the reference features were made of (data set, split, resolution)."""
    meta = evaluator.reference_meta[evaluator.primary]
    return {"dataset": meta["dataset"], "resolution": int(meta["resolution"]), "reference_split": meta["split"]}


def metrics_for(samples: torch.Tensor, evaluator: Evaluator, desc: str = "samples") -> tuple[dict, dict]:
    """Metrics of uint8 samples on every backend; returns (record, what the reference was made of)."""
    ref = reference_of(evaluator)
    if samples.shape[-1] != ref["resolution"]:
        raise ValueError(
            f"{desc}: samples are {samples.shape[-1]} px but the reference features were made at {ref['resolution']} px"
        )
    return evaluator.evaluate(samples, desc=desc), ref


def model_record(name: str, mcfg: ModelSection) -> dict[str, Any]:
    """What a metrics record says about the model it measures (the tables read these)."""
    mcfg = as_model(mcfg)
    return {
        "model": name,
        "kind": mcfg.kind,
        "objective": mcfg.objective.name,
        "objective_options": {k: v for k, v in mcfg.objective.as_dict().items() if k != "name"},
        "schedule": mcfg.schedule.name,
        "schedule_options": {k: v for k, v in mcfg.schedule.as_dict().items() if k != "name"},
        "timesteps": mcfg.timesteps,
        "variance": mcfg.variance,
        "timestep_sampler": mcfg.timestep_sampler.name,
        "timestep_sampler_options": {k: v for k, v in mcfg.timestep_sampler.as_dict().items() if k != "name"},
        "sample_method": mcfg.sample.method,
        "sample_steps": mcfg.sample.steps or mcfg.timesteps,
        "unet": mcfg.unet.as_dict(),
    }


def metrics_per_set(
    tensors: dict[str, torch.Tensor], values: str, prefix: str, evaluator: Evaluator, desc: Callable[[int], str]
) -> Iterator[tuple[int, dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """The sets of a multi-set sample file, evaluated one by one in their order: ``values`` lists them
    (``"1,2,250"``), set ``v`` is the tensor ``images_<prefix><v>``. Yields ``(v, metrics, kept, data_meta)``:
    every metric, the :data:`~.sample_files.KEPT_METRICS` of them, and the metadata of the data set."""
    for value in (int(v) for v in values.split(",")):
        metrics, dmeta = metrics_for(tensors[f"images_{prefix}{value}"], evaluator, desc=desc(value))
        yield value, metrics, {k: metrics.get(k) for k in KEPT_METRICS}, dmeta
