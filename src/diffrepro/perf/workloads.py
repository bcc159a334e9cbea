"""The networks of a parameter file as benchmark workloads: one training step and one sampling call each.

A workload is one trained network of the DAG with its configured batch sizes:

* ``NAME`` -- a model of ``models`` (a DDGM, or a joint DAED with ``kind: daed``,
  :class:`~diffrepro.training.ddgm.DDGMTask`): the model's timestep sampler, objective and variance,
  backward, per-network gradient clipping, AdamW, EMA, the sampler's update and the forward-only loss
  evaluations of the ``loss_second_moment_plus2`` sampler;
* ``daed/posthoc/STUDY`` -- a post-hoc study's DAE fine-tuning (:class:`~diffrepro.training.dae.DAETask`, the
  generator's U-Net at split step 1; the cost does not depend on it);
* ``gans/NAME`` -- one SNGAN generator update (:class:`~diffrepro.training.gan.GanTask`: ``n_dis``
  discriminator updates, then the generator update and its EMA); ``train.steps`` counts these updates;
* ``dddm/RUN`` -- one DDDM step (:class:`~diffrepro.training.dddm.DDDMTask`) with the run's metric (LPIPS
  with a random backbone here: the same arithmetic as the ImageNet weights) in an epoch after the first
  (``w = 1/2``: both metric terms), the x_bar store's read and write included (a scratch store).

A training step is the training engine's own (:meth:`diffrepro.training.engine.TrainLoop.train_step` of the
model kind's task, built as the training step builds it but without checkpoints): the learning-rate
schedule and the task's step, i.e. exactly what ``train.steps`` repeats.

A sampling call is one network evaluation on a batch of the sampling batch size (``sample.batch_size``;
``surrogate.batch_size`` for a GAN), the unit every sampler repeats once per step (NFE); the sampler's
own elementwise arithmetic is left out. Synthetic inputs (uniform noise images, one training batch of them,
and Gaussian noise) stand in for the data: no step's cost depends on the pixel values.

The data set of a network -- for its image size, channels and (in :mod:`.gpu_hours`) its training-split
size -- comes from the parameter file's ``data`` section, or from the ``datasets`` map and the section's
``data:`` key, so both layouts work; :data:`DATASET_INFO` holds the known sets' geometry.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import itertools
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

#: Known data sets: channels, native image size and the number of training-split images (the
#: published split sizes; ``digits`` and ``lfw_subset`` as :mod:`diffrepro.data.small_sets` splits them,
#: ``celeba64`` the official train partition 0 of ``list_eval_partition.txt``).
DATASET_INFO: dict[str, dict[str, int]] = {
    "fashion_mnist": {"channels": 1, "size": 28, "train": 60_000, "classes": 10},
    "mnist": {"channels": 1, "size": 28, "train": 60_000, "classes": 10},
    "cifar10": {"channels": 3, "size": 32, "train": 50_000, "classes": 10},
    "cifar100": {"channels": 3, "size": 32, "train": 50_000, "classes": 100},
    "celeba64": {"channels": 3, "size": 64, "train": 162_770, "classes": 0},
    "imagenet32": {"channels": 3, "size": 32, "train": 1_281_167, "classes": 1000},
    "imagenet64": {"channels": 3, "size": 64, "train": 1_281_167, "classes": 1000},
    "digits": {"channels": 1, "size": 8, "train": 1_438, "classes": 10},
    "lfw_subset": {"channels": 1, "size": 25, "train": 160, "classes": 2},
}

#: Split step of the benchmarked post-hoc DAE (any step costs the same).
POSTHOC_BENCH_STEP = 1


def data_section(config: Mapping[str, Any], section: Mapping[str, Any] | None) -> dict[str, Any]:
    """The data-set settings (``dataset``, ``resolution``, ...) a model/GAN/DDDM section trains on, for
    either layout: a top-level ``data`` section, or a ``datasets`` map named by the section's ``data`` key
    (the only data set when the section names none)."""
    if "datasets" in config:
        sets = config["datasets"]
        name = (section or {}).get("data")
        if name is None:
            if len(sets) != 1:
                raise ValueError(f"the section names no data set and there are several ({', '.join(sets)})")
            name = next(iter(sets))
        return {"name": name, **sets[name]}
    return {"name": config["data"]["dataset"], **config["data"]}


def data_geometry(config: Mapping[str, Any], section: Mapping[str, Any] | None) -> dict[str, Any]:
    """``{"dataset", "channels", "size", "train", "classes"}`` of a section's data set (``size`` after
    ``resolution``; ``classes``: 0 for an unlabelled set)."""
    ds = data_section(config, section)
    kind = ds["dataset"]
    if kind not in DATASET_INFO:
        raise ValueError(f"unknown data set {kind!r}; known: {', '.join(DATASET_INFO)}")
    info = DATASET_INFO[kind]
    return {
        "dataset": kind,
        "channels": info["channels"],
        "size": ds.get("resolution") or info["size"],
        "train": info["train"],
        "classes": info["classes"],
    }


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Runner:
    """A built workload: ``train_step()`` runs one training step, ``sample_call()`` one network evaluation;
    ``scratch`` holds what must live as long as the runner (the DDDM store's temporary folder)."""

    train_step: Callable[[], None]
    sample_call: Callable[[], None]
    modules: list[nn.Module]
    scratch: Any = None


@dataclass
class Workload:
    """One network of the parameter file, its batch sizes and how to build it (see the module docstring)."""

    key: str
    section: str
    kind: str
    dataset: str
    image_size: int
    channels: int
    train_batch: int
    sample_batch: int
    nfe: list[int]
    precision: dict[str, str]
    has_attention: bool
    describe: dict[str, Any]
    build: Callable[..., Runner] = field(repr=False)
    #: what one training "step" of ``train.steps`` is (images per step = train_batch)
    step_unit: str = "training step"
    #: whether the training loop has a precision setting (else the bf16 variants do not apply)
    bf16: bool = True

    @property
    def cost_key(self) -> str:
        """Hash of everything that sets the cost per image (network, image size, loss): equal keys, equal FLOPs."""
        return _key({"kind": self.kind, "size": self.image_size, "channels": self.channels, **self.describe})


def _noise_images(n: int, channels: int, size: int, seed: int) -> torch.Tensor:
    """``n`` uint8 images of uniform noise (the training data set of a workload: one batch)."""
    return torch.randint(
        0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8
    )


def _engine_runner(task, sample_call: Callable[[], None], *, first_step: int = 0, scratch: Any = None) -> Runner:
    """The runner of a training task: its training step is the engine's (:meth:`TrainLoop.train_step`, from
    step ``first_step`` on, one step further each call), without checkpoints."""
    from ..training.engine import TrainLoop

    loop = TrainLoop(task, progress=False)
    loop.begin()
    steps = itertools.count(first_step)

    def train_step() -> None:
        loop.train()  # a sampling call leaves the networks in evaluation mode
        loop.train_step(next(steps))

    return Runner(train_step, sample_call, list(task.modules.values()), scratch)


def _evaluation(model: nn.Module, fn: Callable[[], Any]) -> Callable[[], None]:
    """A sampling call: ``fn()`` with ``model`` in evaluation mode, without gradients."""

    def sample_call() -> None:
        model.eval()
        with torch.no_grad():
            fn()

    return sample_call


def _model_workload(config, name: str) -> Workload:
    from ..config import model_config
    from ..diffusion.samplers import check_steps

    mcfg = model_config(config, name)
    geo = data_geometry(config, config["models"][name])
    size = mcfg.resolution or geo["size"]
    nfe = check_steps(mcfg.timesteps, mcfg.sample.steps)
    describe = {
        "unet": {k: v for k, v in mcfg.unet.as_dict().items() if k != "architecture"},
        "model_kind": mcfg.kind,
        "objective": mcfg.objective.as_dict(),
        "variance": mcfg.variance,
        "timesteps": mcfg.timesteps,
        "timestep_sampler": mcfg.timestep_sampler.name,
    }

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..models.precision import with_precision
        from ..training.ddgm import DDGMTask
        from ..training.engine import RunContext
        from ..training.speed import speed_network

        train = dataclasses.replace(mcfg.train, batch_size=train_batch, precision=train_precision, snapshots=())
        cfg = dataclasses.replace(mcfg, train=train)
        run = RunContext(seed, "bench", device, speed)
        task = DDGMTask(_noise_images(train_batch, geo["channels"], size, seed), cfg, run)
        net_sample = with_precision(speed_network(task.model, speed), sample_precision, device)
        g = torch.Generator().manual_seed(seed)
        xs = torch.randn(sample_batch, geo["channels"], size, size, generator=g).to(device)
        ts = torch.full((sample_batch,), task.T // 2, dtype=torch.long, device=device)  # t > 0: a DAED's generator
        return _engine_runner(task, _evaluation(task.model, lambda: net_sample(xs, ts)))

    return Workload(
        name,
        "models",
        mcfg.kind,
        geo["dataset"],
        size,
        geo["channels"],
        mcfg.train.batch_size,
        mcfg.sample.batch_size,
        [nfe],
        {"train": mcfg.train.precision, "sample": mcfg.sample.precision},
        True,
        describe,
        build,
    )


def _posthoc_workload(config, study: str) -> Workload:
    from ..config import model_config

    post = config["daed"]["posthoc"]
    gen = post["studies"][study]["generator"]
    mcfg = model_config(config, gen)
    geo = data_geometry(config, config["models"][gen])
    size = mcfg.resolution or geo["size"]
    t = post["train"]
    describe = {
        "unet": {k: v for k, v in mcfg.unet.as_dict().items() if k != "architecture"},
        "variance": mcfg.variance,
        "loss": "dae",
    }

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..factory import build_unet
        from ..models.precision import with_precision
        from ..training.dae import DAETask
        from ..training.engine import RunContext
        from ..training.speed import speed_network

        if train_precision == "bf16":
            raise ValueError("the post-hoc DAE loop has no precision setting (float32 only)")
        torch.manual_seed(seed)
        ddgm_state = build_unet(mcfg, image_size=size, channels=geo["channels"]).state_dict()
        run = RunContext(seed, "bench", device, speed)
        task = DAETask(
            _noise_images(train_batch, geo["channels"], size, seed),
            mcfg,
            {**t, "batch_size": train_batch},
            run,
            ddgm_state=ddgm_state,
            split_step=POSTHOC_BENCH_STEP,
        )
        net_sample = with_precision(speed_network(task.model, speed), sample_precision, device)
        g = torch.Generator().manual_seed(seed)
        xs = torch.randn(sample_batch, geo["channels"], size, size, generator=g).to(device)
        ts = torch.full((sample_batch,), POSTHOC_BENCH_STEP, dtype=torch.long, device=device)
        return _engine_runner(task, _evaluation(task.model, lambda: net_sample(xs, ts)))

    # the DAE loop has no precision setting (fp32); its samples run at the generator's sample.precision
    return Workload(
        f"daed/posthoc/{study}",
        "daed",
        "dae",
        geo["dataset"],
        size,
        geo["channels"],
        t["batch_size"],
        mcfg.sample.batch_size,
        [1],
        {"train": "fp32", "sample": mcfg.sample.precision},
        True,
        describe,
        build,
        bf16=False,
    )


def _gan_workload(config, name: str) -> Workload:
    gcfg = config["gans"][name]
    geo = data_geometry(config, gcfg)
    t = gcfg["train"]
    sample_batch = config["surrogate"]["batch_size"]
    describe = {"z_dim": gcfg["z_dim"], "width": gcfg["channels"], "n_dis": t["n_dis"]}

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..training.engine import RunContext
        from ..training.gan import GanTask

        if "bf16" in (train_precision, sample_precision):
            raise ValueError("the GAN loop has no precision setting (float32 only)")
        cfg = copy.deepcopy(gcfg)
        cfg["train"]["batch_size"] = train_batch
        run = RunContext(seed, "bench", device, speed)
        task = GanTask(_noise_images(train_batch, geo["channels"], geo["size"], seed), cfg, run)
        zs = torch.randn(sample_batch, gcfg["z_dim"], generator=torch.Generator().manual_seed(seed)).to(device)
        return _engine_runner(task, _evaluation(task.G, lambda: task.G(zs)))

    return Workload(
        f"gans/{name}",
        "gans",
        "gan",
        geo["dataset"],
        geo["size"],
        geo["channels"],
        t["batch_size"],
        sample_batch,
        [1],
        {"train": "fp32", "sample": "fp32"},
        False,
        describe,
        build,
        step_unit=f"generator update ({t['n_dis']} discriminator updates + 1 generator update)",
        bf16=False,
    )


def _dddm_workload(config, run: str) -> Workload:
    from ..config import dddm_run
    from ..diffusion.dddm_losses import normalize_metric

    if run not in config["dddm"]["runs"]:
        raise ValueError(f"unknown DDDM run {run!r}; runs: {', '.join(config['dddm']['runs'])}")
    section, run_cfg = dddm_run(config, run)
    dddm = section.as_dict()  # the section as this run trains it (its own T, epochs, network)
    geo = data_geometry(config, {"data": run_cfg.data})
    classes = geo["classes"] if run_cfg.class_conditional else 0
    metric_spec = normalize_metric(dddm["runs"][run]["metric"])
    describe = {
        "unet": {k: v for k, v in dddm["unet"].items() if k != "architecture"},
        "metric": metric_spec,
        **({"num_classes": classes} if classes else {}),
    }

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..diffusion.dddm import dddm_forward
        from ..diffusion.dddm_losses import build_metric
        from ..models.precision import with_precision
        from ..training.dddm import DDDMTask
        from ..training.engine import RunContext
        from ..training.speed import speed_network

        cfg = copy.deepcopy(dddm)
        cfg["train"].update(batch_size=train_batch, subset=None, precision=train_precision)
        scratch = tempfile.TemporaryDirectory(prefix="diffrepro-bench-")
        run = RunContext(seed, "bench", device, speed)
        labels = torch.arange(train_batch) % classes if classes else None
        task = DDDMTask(
            _noise_images(train_batch, geo["channels"], geo["size"], seed),
            cfg,
            run,
            run_cfg={"metric": metric_spec, "class_conditional": bool(classes)},
            store_dir=scratch.name,
            metric=build_metric(metric_spec, allow_random_backbone=True),
            labels=labels,
            num_classes=classes,
        )
        net_sample = with_precision(speed_network(task.model, speed), sample_precision, device)
        g = torch.Generator().manual_seed(seed)
        shape = (sample_batch, geo["channels"], geo["size"], geo["size"])
        xs, xb = torch.randn(shape, generator=g).to(device), torch.randn(shape, generator=g).to(device)
        ts = torch.full((sample_batch,), task.T - 1, dtype=torch.long, device=device)
        ys = (torch.arange(sample_batch) % classes).to(device) if classes else None
        return _engine_runner(
            task,
            _evaluation(
                task.model, lambda: dddm_forward(net_sample, xs, ts, xb, dddm.get("conditioning", "concat"), ys)
            ),
            first_step=task.images.order.steps_per_epoch,
            scratch=scratch,
        )

    return Workload(
        f"dddm/{run}",
        "dddm",
        "dddm",
        geo["dataset"],
        geo["size"],
        geo["channels"],
        dddm["train"]["batch_size"],
        dddm["sample"]["batch_size"],
        sorted(int(k) for k in dddm["sample"]["steps"]),
        {"train": dddm["train"]["precision"], "sample": dddm["sample"]["precision"]},
        True,
        describe,
        build,
    )


def all_workloads(config: Mapping[str, Any]) -> dict[str, Workload]:
    """Every workload of a parameter file, keyed ``NAME`` (models), ``daed/posthoc/STUDY``, ``gans/NAME``,
    ``dddm/RUN``."""
    config = copy.deepcopy(dict(config))
    out = {name: _model_workload(config, name) for name in config["models"]}
    for study in ((config.get("daed") or {}).get("posthoc") or {}).get("studies", {}):
        out[f"daed/posthoc/{study}"] = _posthoc_workload(config, study)
    for name in config.get("gans") or {}:
        out[f"gans/{name}"] = _gan_workload(config, name)
    if config.get("dddm"):
        for run in config["dddm"]["runs"]:
            out[f"dddm/{run}"] = _dddm_workload(config, run)
    return out


def default_selection(config: Mapping[str, Any], workloads: Mapping[str, Workload]) -> list[str]:
    """What ``diffrepro bench`` measures without ``--models``: every model, the post-hoc DAE, every GAN and
    the DDDM's main run (the other runs differ only in the metric)."""
    keys = [k for k, w in workloads.items() if w.section != "dddm"]
    if config.get("dddm"):
        keys.append(f"dddm/{config['dddm']['main']}")
    return keys


def select(workloads: Mapping[str, Workload], names: list[str], config: Mapping[str, Any]) -> list[str]:
    """Workload keys for ``--models`` names (``dddm`` alone means the main run); a clear error for unknown ones."""
    out = []
    for name in names:
        if name == "dddm" and config.get("dddm"):
            name = f"dddm/{config['dddm']['main']}"
        if name not in workloads:
            raise ValueError(f"unknown benchmark workload {name!r}; known: {', '.join(workloads)} (and 'dddm')")
        out.append(name)
    return out
