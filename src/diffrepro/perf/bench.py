"""``diffrepro bench``: training and sampling throughput of the parameter file's networks, per speed variant.

For every selected workload (:mod:`.workloads`: the models, the post-hoc DAE, the GANs, the DDDM) and
every variant of :data:`VARIANTS` it measures

* training images/s: the training engine's own steps (forward, backward, gradient clipping, optimiser, EMA,
  the model kind's own updates) at the workload's training batch size (or ``--batch``), i.e.
  ``batch / seconds per step``;
* sampling: network evaluations at the sampling batch size (or ``--sample-batch``), as image-evaluations/s
  (``batch / seconds per call``) and as images/s for each configured number of sampling steps
  (``image-evaluations/s / NFE``);

and once per workload the model FLOPs per image of a forward pass and of a training step
(:func:`.flops.count_flops`), from which it reports the achieved TFLOP/s, and on CUDA the device's dense
peak (:data:`.flops.PEAK_TFLOPS`, null for an unknown device) and the fraction of it. Each variant's
speedup is over the ``plain`` variant (float32, eager, SDPA attention, contiguous memory, the default
foreach AdamW). Timing: every variant is built and run ``--warmup`` times (the first call, which
compiles for the compile variants, is timed as ``first_call_seconds``); then ``--repeats`` rounds time
``--iters`` calls of every variant in turn with the wall clock (:func:`time.perf_counter`; on CUDA
:func:`torch.cuda.synchronize` before the clock starts and before it stops), and each variant reports
the median round, so a machine whose load drifts (a shared CPU) touches every variant alike. The
output is one JSON file described, field by field, by :data:`BENCH_SCHEMA` and validated against it
before it is written.
"""

from __future__ import annotations

import datetime as _dt
import gc
import hashlib
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_json
from ..config import load_config
from ..runlog import get_logger
from .flops import count_flops, peak_for
from .workloads import Workload, all_workloads, default_selection, select

__all__ = [
    "VARIANTS",
    "BENCH_SCHEMA",
    "SCHEMA_ID",
    "run_bench",
    "workload_flops",
    "validate_bench",
    "add_arguments",
    "main",
]

SCHEMA_ID = "diffrepro-bench/1"

#: The variants: arithmetic precision of the network (both training and sampling) and the speed switches.
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"precision": "fp32", "speed": {}},
    "channels_last": {"precision": "fp32", "speed": {"channels_last": True}},
    "bf16": {"precision": "bf16", "speed": {}},
    "fused_adamw": {"precision": "fp32", "speed": {"fused_adamw": True}},
    "compile": {"precision": "fp32", "speed": {"compile": True}},
    "math_attention": {"precision": "fp32", "speed": {"attention": "math"}},
    "all": {"precision": "bf16", "speed": {"channels_last": True, "fused_adamw": True, "compile": True}},
}

_NUM = {"type": "number", "minimum": 0}
_NUM_OR_NULL = {"type": ["number", "null"], "minimum": 0}
_VARIANT_RESULT = {
    "type": "object",
    "description": "one variant's measurements, or {skipped: reason} / {error: message}",
    "oneOf": [
        {
            "type": "object",
            "required": ["skipped"],
            "additionalProperties": False,
            "properties": {"skipped": {"type": "string"}},
        },
        {
            "type": "object",
            "required": ["error"],
            "additionalProperties": False,
            "properties": {"error": {"type": "string"}},
        },
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["precision", "speed", "train", "sample"],
            "properties": {
                "precision": {"enum": ["fp32", "bf16"], "description": "the network's arithmetic in this variant"},
                "speed": {
                    "type": "object",
                    "description": "the speed switches (diffrepro.training.speed), all spelled out",
                },
                "train": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": [
                        "seconds_per_step",
                        "seconds_per_step_rounds",
                        "images_per_s",
                        "tflops_per_s",
                        "fraction_of_peak",
                        "peak_basis",
                        "speedup",
                        "first_call_seconds",
                    ],
                    "properties": {
                        "seconds_per_step": {
                            **_NUM,
                            "description": "median over the rounds of the mean wall-clock "
                            "seconds of one full training step",
                        },
                        "seconds_per_step_rounds": {"type": "array", "items": _NUM, "description": "each round's mean"},
                        "images_per_s": {**_NUM, "description": "training batch / seconds_per_step"},
                        "tflops_per_s": {**_NUM, "description": "flops.train_step_per_image * images_per_s / 1e12"},
                        "fraction_of_peak": {
                            **_NUM_OR_NULL,
                            "description": "tflops_per_s / the device's dense peak (CUDA, known device)",
                        },
                        "peak_basis": {
                            "type": ["string", "null"],
                            "description": "which peak: bf16, tf32 (fp32 with TF32 convolutions, PyTorch's "
                            "default) or fp32",
                        },
                        "speedup": {**_NUM_OR_NULL, "description": "images_per_s / the plain variant's"},
                        "first_call_seconds": {**_NUM, "description": "the first warm-up step (includes compilation)"},
                    },
                },
                "sample": {
                    "description": "null when the variant does not change sampling (fused_adamw)",
                    "oneOf": [
                        {"type": "null"},
                        {
                            "type": "object",
                            "additionalProperties": False,
                            "required": [
                                "seconds_per_call",
                                "seconds_per_call_rounds",
                                "evals_per_s",
                                "images_per_s",
                                "tflops_per_s",
                                "fraction_of_peak",
                                "peak_basis",
                                "speedup",
                                "first_call_seconds",
                            ],
                            "properties": {
                                "seconds_per_call": {
                                    **_NUM,
                                    "description": "median round's mean seconds of one network "
                                    "evaluation on a sampling batch",
                                },
                                "seconds_per_call_rounds": {"type": "array", "items": _NUM},
                                "evals_per_s": {
                                    **_NUM,
                                    "description": "image-evaluations per second: sampling batch / seconds_per_call",
                                },
                                "images_per_s": {
                                    "type": "object",
                                    "additionalProperties": _NUM,
                                    "description": "NFE (as a string) -> finished images/s: evals_per_s / NFE",
                                },
                                "tflops_per_s": {**_NUM, "description": "flops.forward_per_image * evals_per_s / 1e12"},
                                "fraction_of_peak": _NUM_OR_NULL,
                                "peak_basis": {"type": ["string", "null"]},
                                "speedup": _NUM_OR_NULL,
                                "first_call_seconds": _NUM,
                            },
                        },
                    ],
                },
            },
        },
    ],
}

#: JSON Schema (draft 2020-12) of the file ``diffrepro bench`` writes; every field is described here.
BENCH_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "diffrepro bench results",
    "type": "object",
    "additionalProperties": False,
    "required": ["schema", "created", "params", "params_sha256", "device", "timing", "variants", "workloads"],
    "properties": {
        "schema": {"const": SCHEMA_ID},
        "created": {"type": "string", "description": "UTC time the run finished (ISO 8601)"},
        "params": {"type": "string", "description": "the parameter file"},
        "params_sha256": {"type": "string"},
        "note": {"type": "string", "description": "free text from --note (e.g. that the machine was shared)"},
        "device": {
            "type": "object",
            "additionalProperties": False,
            "required": [
                "type",
                "name",
                "torch",
                "cuda",
                "threads",
                "interop_threads",
                "cpu_count",
                "cpu_capability",
                "peak_product",
                "peak_tflops",
            ],
            "properties": {
                "type": {"enum": ["cpu", "cuda"]},
                "name": {"type": "string", "description": "torch.cuda.get_device_name, or the CPU model"},
                "torch": {"type": "string"},
                "cuda": {"type": ["string", "null"], "description": "torch.version.cuda"},
                "threads": {"type": "integer", "description": "torch.get_num_threads()"},
                "interop_threads": {"type": "integer"},
                "cpu_count": {
                    "type": ["integer", "null"],
                    "description": "os.cpu_count() (the machine, not this job's share)",
                },
                "cpu_capability": {
                    "type": ["string", "null"],
                    "description": "torch.backends.cpu.get_cpu_capability()",
                },
                "peak_product": {"type": ["string", "null"], "description": "the PEAK_TFLOPS entry the device matched"},
                "peak_tflops": {
                    "oneOf": [{"type": "null"}, {"type": "object", "additionalProperties": _NUM}],
                    "description": "dense peaks (bf16, tf32, fp32) in TFLOP/s; null on CPU or an unknown GPU",
                },
            },
        },
        "timing": {
            "type": "object",
            "additionalProperties": False,
            "required": ["method", "warmup", "iters", "repeats"],
            "properties": {
                "method": {"type": "string"},
                "warmup": {"type": "integer", "minimum": 1},
                "iters": {"type": "integer", "minimum": 1, "description": "calls per round"},
                "repeats": {"type": "integer", "minimum": 1, "description": "interleaved rounds"},
            },
        },
        "variants": {
            "type": "object",
            "description": "variant name -> {precision, speed}",
            "additionalProperties": {"type": "object"},
        },
        "workloads": {
            "type": "object",
            "description": "workload key (a model name, daed/posthoc/STUDY, gans/NAME, dddm/RUN) -> its results",
            "additionalProperties": {
                "type": "object",
                "additionalProperties": False,
                "required": [
                    "section",
                    "kind",
                    "dataset",
                    "image_size",
                    "channels",
                    "parameters",
                    "cost_key",
                    "describe",
                    "step_unit",
                    "configured_precision",
                    "train_batch",
                    "configured_train_batch",
                    "sample_batch",
                    "configured_sample_batch",
                    "nfe",
                    "flops",
                    "results",
                ],
                "properties": {
                    "section": {"enum": ["models", "daed", "gans", "dddm"]},
                    "kind": {"enum": ["ddgm", "daed", "dae", "gan", "dddm"]},
                    "dataset": {"type": "string"},
                    "image_size": {"type": "integer"},
                    "channels": {"type": "integer"},
                    "parameters": {"type": "integer", "description": "trainable parameters of all its networks"},
                    "cost_key": {
                        "type": "string",
                        "description": "hash of what sets the cost per image (gpu-hours matches on it)",
                    },
                    "describe": {"type": "object", "description": "the settings cost_key hashes"},
                    "step_unit": {"type": "string", "description": "what one training step is (one train.steps unit)"},
                    "configured_precision": {"type": "object", "description": "the params' train/sample precision"},
                    "train_batch": {"type": "integer", "description": "batch size measured"},
                    "configured_train_batch": {"type": "integer"},
                    "sample_batch": {"type": "integer"},
                    "configured_sample_batch": {"type": "integer"},
                    "nfe": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "configured network evaluations per sample",
                    },
                    "flops": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["forward_per_image", "train_step_per_image", "method"],
                        "properties": {
                            "forward_per_image": {**_NUM, "description": "one network evaluation of one image"},
                            "train_step_per_image": {**_NUM, "description": "one training step divided by its batch"},
                            "method": {"type": "string"},
                        },
                    },
                    "results": {"type": "object", "additionalProperties": _VARIANT_RESULT},
                },
            },
        },
    },
}

FLOP_METHOD = (
    "torch.utils.flop_counter.FlopCounterMode over one call at batch {batch}, divided by the batch: "
    "matrix products and convolutions, forward and backward (2 FLOPs per multiply-add); float32, eager, "
    "attention on the math path (PyTorch counts nothing for the CPU SDPA kernel)"
)
FLOP_BATCH = 2


def validate_bench(data: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` unless ``data`` follows :data:`BENCH_SCHEMA`."""
    import jsonschema

    jsonschema.Draft202012Validator(BENCH_SCHEMA).validate(data)


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_calls(fn: Callable[[], None], *, iters: int, device: str) -> float:
    """Mean wall-clock seconds per call over ``iters`` calls (synchronised on CUDA)."""
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    _sync(device)
    return (time.perf_counter() - t0) / iters


def warm_up(fn: Callable[[], None], *, warmup: int, device: str) -> float:
    """Run ``fn`` ``warmup`` times; returns the seconds of the first call (compilation, allocator warm-up)."""
    first = time_calls(fn, iters=1, device=device)
    for _ in range(warmup - 1):
        fn()
    return first


def workload_flops(w: Workload, device: str = "cpu", batch: int = FLOP_BATCH) -> dict[str, Any]:
    """Model FLOPs per image of one forward pass and of one training step (see :mod:`.flops`)."""
    runner = w.build(
        device=device,
        speed={"attention": "math"},
        train_precision="fp32",
        sample_precision="fp32",
        train_batch=batch,
        sample_batch=batch,
    )
    out = {
        "forward_per_image": count_flops(runner.sample_call) / batch,
        "train_step_per_image": count_flops(runner.train_step) / batch,
        "method": FLOP_METHOD.format(batch=batch),
    }
    del runner
    gc.collect()
    return out


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def device_record(device: str) -> dict[str, Any]:
    kind = torch.device(device).type
    name = torch.cuda.get_device_name(torch.device(device)) if kind == "cuda" else _cpu_name()
    peak = peak_for(name) if kind == "cuda" else None
    return {
        "type": kind,
        "name": name,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "peak_product": peak[0] if peak else None,
        "peak_tflops": peak[1] if peak else None,
    }


def _peak_basis(precision: str, device_kind: str) -> str | None:
    if device_kind != "cuda":
        return None
    if precision == "bf16":
        return "bf16"
    return "tf32" if torch.backends.cudnn.allow_tf32 else "fp32"


def _skip_reason(w: Workload, variant: str) -> str | None:
    spec = VARIANTS[variant]
    if not w.bf16 and spec["precision"] == "bf16" and variant != "all":
        return f"the {'GAN' if w.kind == 'gan' else 'post-hoc DAE'} loop has no precision setting (float32 only)"
    if not w.has_attention and spec["speed"].get("attention") == "math":
        return "the network has no attention blocks"
    if w.kind == "gan" and variant == "compile":
        return "speed.compile leaves the SNGAN eager (spectral norm's in-place power iteration)"
    return None


def _variant_spec(w: Workload, variant: str) -> dict[str, Any]:
    spec = dict(VARIANTS[variant])
    if not w.bf16 and spec["precision"] == "bf16":  # "all" for a GAN or DAE: every switch it has
        spec["precision"] = "fp32"
    return spec


def bench_workload(
    w: Workload,
    *,
    variants: list[str],
    device: str,
    train_batch: int,
    sample_batch: int,
    warmup: int,
    iters: int,
    repeats: int,
    flops: dict[str, Any],
    peak: dict[str, float] | None,
) -> dict[str, Any]:
    """Every variant's measurements of one workload (the ``results`` of :data:`BENCH_SCHEMA`).

    All variants are built and warmed up first; then ``repeats`` rounds time every variant in turn
    (``iters`` training steps, then ``iters`` sampling calls), so a change in the machine's load touches
    all variants alike, and each variant reports the median of its rounds."""
    import statistics

    from ..training.speed import speed_settings

    log = get_logger()
    kind = torch.device(device).type
    results: dict[str, Any] = {}
    runners: dict[str, Any] = {}
    first: dict[str, dict[str, float | None]] = {}
    specs: dict[str, dict[str, Any]] = {}
    compiled = False

    def fail(variant: str, exc: Exception) -> None:  # one failing variant must not lose the others
        log.warning("%s / %s failed: %s: %s", w.key, variant, type(exc).__name__, exc)
        results[variant] = {"error": f"{type(exc).__name__}: {exc}"}
        runners.pop(variant, None)

    for variant in variants:
        reason = _skip_reason(w, variant)
        if reason:
            results[variant] = {"skipped": reason}
            continue
        spec = _variant_spec(w, variant)
        specs[variant] = {**spec, "speed": speed_settings(spec["speed"])}
        compiled = compiled or specs[variant]["speed"]["compile"]
        try:
            runner = w.build(
                device=device,
                speed=specs[variant]["speed"],
                train_precision=spec["precision"],
                sample_precision=spec["precision"],
                train_batch=train_batch,
                sample_batch=sample_batch,
            )
            runners[variant] = runner
            first[variant] = {
                "train": warm_up(runner.train_step, warmup=warmup, device=device),
                "sample": None
                if variant == "fused_adamw"
                else warm_up(runner.sample_call, warmup=warmup, device=device),
            }
        except Exception as exc:
            fail(variant, exc)
    rounds: dict[str, dict[str, list[float]]] = {v: {"train": [], "sample": []} for v in runners}
    for _ in range(repeats):
        for variant in list(runners):
            runner = runners[variant]
            try:
                rounds[variant]["train"].append(time_calls(runner.train_step, iters=iters, device=device))
                if variant != "fused_adamw":  # an optimiser switch: sampling is the plain path
                    rounds[variant]["sample"].append(time_calls(runner.sample_call, iters=iters, device=device))
            except Exception as exc:
                fail(variant, exc)
    runners.clear()
    if compiled:
        torch._dynamo.reset()  # the compiled code of this workload's modules
    gc.collect()
    if kind == "cuda":
        torch.cuda.empty_cache()

    for variant in variants:
        if variant in results:
            continue
        spec = specs[variant]
        basis = _peak_basis(spec["precision"], kind)
        peak_value = peak.get(basis) if (peak and basis) else None
        train_s = statistics.median(rounds[variant]["train"])
        train_ips = train_batch / train_s
        train_tflops = flops["train_step_per_image"] * train_ips / 1e12
        train = {
            "seconds_per_step": train_s,
            "seconds_per_step_rounds": rounds[variant]["train"],
            "images_per_s": train_ips,
            "tflops_per_s": train_tflops,
            "fraction_of_peak": train_tflops / peak_value if peak_value else None,
            "peak_basis": basis,
            "speedup": None,
            "first_call_seconds": first[variant]["train"],
        }
        sample = None
        if variant != "fused_adamw":
            sample_s = statistics.median(rounds[variant]["sample"])
            evals = sample_batch / sample_s
            tf = flops["forward_per_image"] * evals / 1e12
            sample = {
                "seconds_per_call": sample_s,
                "seconds_per_call_rounds": rounds[variant]["sample"],
                "evals_per_s": evals,
                "images_per_s": {str(k): evals / k for k in w.nfe},
                "tflops_per_s": tf,
                "fraction_of_peak": tf / peak_value if peak_value else None,
                "peak_basis": basis,
                "speedup": None,
                "first_call_seconds": first[variant]["sample"],
            }
        results[variant] = {"precision": spec["precision"], "speed": spec["speed"], "train": train, "sample": sample}
        log.info(
            "%s / %s: train %.2f images/s, sample %s image-evals/s",
            w.key,
            variant,
            train_ips,
            "-" if sample is None else f"{sample['evals_per_s']:.1f}",
        )
    base = results.get("plain", {})
    for res in results.values():
        if "train" not in res or "train" not in base:
            continue
        res["train"]["speedup"] = res["train"]["images_per_s"] / base["train"]["images_per_s"]
        if res["sample"] is not None and base.get("sample"):
            res["sample"]["speedup"] = res["sample"]["evals_per_s"] / base["sample"]["evals_per_s"]
    return {v: results[v] for v in variants}


def run_bench(
    config: dict[str, Any],
    *,
    params_path: str,
    models: list[str] | None = None,
    device: str = "cpu",
    batch: int | None = None,
    sample_batch: int | None = None,
    warmup: int = 2,
    iters: int = 5,
    repeats: int = 3,
    variants: list[str] | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Benchmark the selected workloads of ``config``; returns the document of :data:`BENCH_SCHEMA`."""
    log = get_logger()
    if min(warmup, iters, repeats) < 1:
        raise ValueError(f"--warmup, --iters and --repeats must be at least 1 (got {warmup}, {iters}, {repeats})")
    # every compiled variant's modules stay alive through the rounds: room for all their graphs
    for name in ("cache_size_limit", "recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, max(64, getattr(torch._dynamo.config, name)))
    variants = list(variants or VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"unknown variant(s) {', '.join(unknown)}; known: {', '.join(VARIANTS)}")
    if "plain" not in variants:
        variants.insert(0, "plain")  # the baseline of every speedup
    workloads = all_workloads(config)
    keys = select(workloads, models, config) if models else default_selection(config, workloads)
    dev = device_record(device)
    peak = dev["peak_tflops"]
    out_workloads = {}
    for key in keys:
        w = workloads[key]
        tb, sb = batch or w.train_batch, sample_batch or w.sample_batch
        log.info(
            "bench %s: train batch %d, sample batch %d, variants %s on %s", key, tb, sb, ",".join(variants), device
        )
        flops = workload_flops(w, device)
        runner = w.build(
            device="cpu", speed=None, train_precision="fp32", sample_precision="fp32", train_batch=1, sample_batch=1
        )
        params = sum(p.numel() for m in runner.modules for p in m.parameters() if p.requires_grad)
        del runner
        out_workloads[key] = {
            "section": w.section,
            "kind": w.kind,
            "dataset": w.dataset,
            "image_size": w.image_size,
            "channels": w.channels,
            "parameters": params,
            "cost_key": w.cost_key,
            "describe": w.describe,
            "step_unit": w.step_unit,
            "configured_precision": w.precision,
            "train_batch": tb,
            "configured_train_batch": w.train_batch,
            "sample_batch": sb,
            "configured_sample_batch": w.sample_batch,
            "nfe": list(w.nfe),
            "flops": flops,
            "results": bench_workload(
                w,
                variants=variants,
                device=device,
                train_batch=tb,
                sample_batch=sb,
                warmup=warmup,
                iters=iters,
                repeats=repeats,
                flops=flops,
                peak=peak,
            ),
        }
    doc = {
        "schema": SCHEMA_ID,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "params": str(params_path),
        "params_sha256": hashlib.sha256(Path(params_path).read_bytes()).hexdigest(),
        "device": dev,
        "timing": {
            "method": (
                "wall clock (time.perf_counter) around --iters calls of each variant in turn, "
                "--repeats interleaved rounds after --warmup calls, median round"
                + (
                    "; torch.cuda.synchronize() before starting and before stopping the clock"
                    if dev["type"] == "cuda"
                    else "; CPU (no synchronisation needed)"
                )
            ),
            "warmup": warmup,
            "iters": iters,
            "repeats": repeats,
        },
        "variants": {v: VARIANTS[v] for v in variants},
        "workloads": out_workloads,
    }
    if note:
        doc["note"] = note
    validate_bench(doc)
    return doc


def add_arguments(p) -> None:
    p.add_argument("--params", default="params.yaml", help="parameter file (default: params.yaml)")
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated workloads: model names, daed/posthoc/STUDY, gans/NAME, dddm/RUN or dddm (the main "
        "run); default: every model, each post-hoc study's DAE, every GAN and the DDDM's main run",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (cuda when present)")
    p.add_argument("--batch", type=int, default=None, help="training batch size (default: each workload's own)")
    p.add_argument("--sample-batch", type=int, default=None, help="sampling batch size (default: each workload's own)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls before timing (at least 1; compiles)")
    p.add_argument("--iters", type=int, default=5, help="timed calls per variant and round")
    p.add_argument("--repeats", type=int, default=3, help="interleaved rounds over the variants (median reported)")
    p.add_argument(
        "--variants", default=None, help=f"comma-separated subset of {','.join(VARIANTS)} (plain is always run)"
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for torch (default: all cores)")
    p.add_argument("--note", default=None, help="free text stored in the JSON (e.g. that the machine was shared)")
    p.add_argument("--out", required=True, help="output JSON file")


def main(args) -> None:
    from ..devices import resolve_device

    def split(value: str | None) -> list[str] | None:
        return [v.strip() for v in value.split(",") if v.strip()] if value else None

    config = load_config(args.params)
    device = resolve_device(args.device)
    doc = run_bench(
        config,
        params_path=args.params,
        models=split(args.models),
        device=device,
        batch=args.batch,
        sample_batch=args.sample_batch,
        warmup=args.warmup,
        iters=args.iters,
        repeats=args.repeats,
        variants=split(args.variants),
        note=args.note,
    )
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    write_json(args.out, doc)
    get_logger().info("wrote %s", args.out)
    for key, w in doc["workloads"].items():
        for variant, res in w["results"].items():
            if "train" in res:
                s = res["sample"]
                print(
                    f"{key:24s} {variant:15s} train {res['train']['images_per_s']:9.2f} img/s "
                    f"(x{res['train']['speedup']:.2f})"
                    + ("" if s is None else f"  sample {s['evals_per_s']:9.1f} evals/s (x{s['speedup']:.2f})")
                )
            else:
                print(f"{key:24s} {variant:15s} {next(iter(res.items()))}")
