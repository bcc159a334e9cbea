"""The networks of a parameter file as benchmark workloads: one training step and one sampling call each.

A workload is one trained network of the DAG with its configured batch sizes:

* ``NAME`` -- a model of ``models`` (a DDGM, or a joint DAED with ``kind: daed``): a training step is the
  loop's own (:func:`diffrepro.training.ddgm.train_ddgm`): the model's objective and variance through
  :func:`~diffrepro.diffusion.losses.training_loss` (or the joint DAED loss), backward, per-network
  gradient clipping, AdamW, EMA, plus the forward-only loss evaluations of the
  ``loss_second_moment_plus2`` sampler; t is drawn uniformly;
* ``daed/posthoc`` -- the post-hoc DAE fine-tuning of :mod:`diffrepro.training.dae` (the generator's
  U-Net, :func:`~diffrepro.diffusion.daed.dae_loss` at split step 1; the cost does not depend on it);
* ``gans/NAME`` -- one SNGAN generator update of :mod:`diffrepro.training.gan` (``n_dis`` discriminator
  updates, then the generator update and its EMA); ``train.steps`` counts these updates;
* ``dddm/RUN`` -- one DDDM step of :mod:`diffrepro.training.dddm` with the run's metric (LPIPS with a
  random backbone here: the same arithmetic as the ImageNet weights) and ``w = 1/2`` (both metric terms,
  as in every epoch after the first); the x_bar store's reads and writes are left out.

A sampling call is one network evaluation on a batch of the sampling batch size (``sample.batch_size``;
``surrogate.batch_size`` for a GAN), the unit every sampler repeats once per step (NFE); the sampler's
own elementwise arithmetic is left out. Synthetic inputs (uniform "images" in [-1, 1], Gaussian noise)
stand in for the data: no step's cost depends on the pixel values.

The data set of a network -- for its image size, channels and (in :mod:`.gpu_hours`) its training-split
size -- comes from the parameter file's ``data`` section, or from the ``datasets`` map and the section's
``data:`` key, so both layouts work; :data:`DATASET_INFO` holds the known sets' geometry.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch
from torch import nn

#: Known data sets: channels, native image size and the number of training-split images (the
#: published split sizes; ``digits`` and ``lfw_subset`` as :mod:`diffrepro.data.small_sets` splits them,
#: ``celeba64`` the official train partition 0 of ``list_eval_partition.txt``).
DATASET_INFO: dict[str, dict[str, int]] = {
    "fashion_mnist": {"channels": 1, "size": 28, "train": 60_000},
    "mnist": {"channels": 1, "size": 28, "train": 60_000},
    "cifar10": {"channels": 3, "size": 32, "train": 50_000},
    "cifar100": {"channels": 3, "size": 32, "train": 50_000},
    "celeba64": {"channels": 3, "size": 64, "train": 162_770},
    "digits": {"channels": 1, "size": 8, "train": 1_438},
    "lfw_subset": {"channels": 1, "size": 25, "train": 160},
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
    """``{"dataset", "channels", "size", "train"}`` of a section's data set (``size`` after ``resolution``)."""
    ds = data_section(config, section)
    kind = ds["dataset"]
    if kind not in DATASET_INFO:
        raise ValueError(f"unknown data set {kind!r}; known: {', '.join(DATASET_INFO)}")
    info = DATASET_INFO[kind]
    return {"dataset": kind, "channels": info["channels"], "size": ds.get("resolution") or info["size"],
            "train": info["train"]}


def _key(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass
class Runner:
    """A built workload: ``train_step()`` runs one training step, ``sample_call()`` one network evaluation."""

    train_step: Callable[[], None]
    sample_call: Callable[[], None]
    modules: list[nn.Module]


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

    @property
    def cost_key(self) -> str:
        """Hash of everything that sets the cost per image (network, image size, loss): equal keys, equal FLOPs."""
        return _key({"kind": self.kind, "size": self.image_size, "channels": self.channels, **self.describe})


def _uniform_images(batch: int, channels: int, size: int, g: torch.Generator, device) -> torch.Tensor:
    return torch.rand(batch, channels, size, size, generator=g).mul_(2).sub_(1).to(device)


def _model_workload(config, name: str) -> Workload:
    from ..config import model_config
    from ..diffusion.samplers import check_steps

    mcfg = model_config(config, name)
    geo = data_geometry(config, config["models"][name])
    size = mcfg.get("resolution") or geo["size"]
    nfe = check_steps(mcfg["timesteps"], mcfg["sample"]["steps"])
    describe = {"unet": {k: v for k, v in mcfg["unet"].items() if k != "architecture"}, "model_kind": mcfg["kind"],
                "objective": mcfg["objective"], "variance": mcfg["variance"], "timesteps": mcfg["timesteps"],
                "timestep_sampler": mcfg["timestep_sampler"]["name"]}

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        return _build_model(mcfg, size, geo["channels"], device=device, speed=speed, train_precision=train_precision,
                            sample_precision=sample_precision, train_batch=train_batch, sample_batch=sample_batch,
                            seed=seed)

    return Workload(name, "models", mcfg["kind"], geo["dataset"], size, geo["channels"], mcfg["train"]["batch_size"],
                    mcfg["sample"]["batch_size"], [nfe],
                    {"train": mcfg["train"]["precision"], "sample": mcfg["sample"]["precision"]}, True, describe, build)


def _build_model(mcfg, size, channels, *, device, speed, train_precision, sample_precision, train_batch,
                 sample_batch, seed) -> Runner:
    from ..diffusion.daed import joint_training_loss
    from ..diffusion.losses import training_loss
    from ..factory import build_diffusion, build_timestep_sampler_for, build_unet, model_kind
    from ..models.joint_daed import JointDAED
    from ..models.precision import with_precision
    from ..training.ema import EMA
    from ..training.speed import make_adam, prepare_model, speed_network

    torch.manual_seed(seed)
    tcfg = mcfg["train"]
    model = prepare_model(build_unet(mcfg, image_size=size, channels=channels).to(device), speed)
    diffusion = build_diffusion(mcfg)
    T = diffusion.num_timesteps
    clip_groups = ([list(model.generator.parameters()), list(model.dae.parameters())]
                   if isinstance(model, JointDAED) else [list(model.parameters())])
    optimizer = make_adam(model.parameters(), speed, lr=tcfg["lr"], weight_decay=tcfg["weight_decay"])
    ema = EMA(model, tcfg["ema_decay"])
    net_train = with_precision(speed_network(model, speed), train_precision, device)
    net_sample = with_precision(speed_network(model, speed), sample_precision, device)
    extra = build_timestep_sampler_for(mcfg).extra_forward_evaluations
    objective, variance, kind = mcfg["objective"], mcfg["variance"], model_kind(mcfg)
    g = torch.Generator().manual_seed(seed)
    x0 = _uniform_images(train_batch, channels, size, g, device)

    def loss_of(t, noise):
        if kind == "daed":
            return joint_training_loss(diffusion, net_train, x0, t, noise, objective["name"], variance, generator=g)[0]
        return training_loss(diffusion, net_train, x0, t, noise, objective["name"], variance,
                             hybrid_lambda=objective.get("lambda", 0.001), iwdiff_k=objective.get("k", 1),
                             generator=g)[0]

    def train_step() -> None:
        model.train()
        t = torch.randint(0, T, (train_batch,), generator=g).to(device)
        loss = loss_of(t, torch.randn(x0.shape, generator=g).to(device)).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if tcfg["grad_clip"]:
            for group in clip_groups:
                torch.nn.utils.clip_grad_norm_(group, tcfg["grad_clip"])
        optimizer.step()
        ema.update(model)
        with torch.no_grad():
            for _ in range(extra):
                loss_of(torch.randint(0, T, (train_batch,), generator=g).to(device),
                        torch.randn(x0.shape, generator=g).to(device))

    xs = torch.randn(sample_batch, channels, size, size, generator=g).to(device)
    ts = torch.full((sample_batch,), T // 2, dtype=torch.long, device=device)  # t > 0: the generator of a DAED

    def sample_call() -> None:
        model.eval()
        with torch.no_grad():
            net_sample(xs, ts)

    return Runner(train_step, sample_call, [model])


def _posthoc_workload(config) -> Workload:
    from ..config import model_config

    post = config["daed"]["posthoc"]
    gen = post["generator"]
    mcfg = model_config(config, gen)
    geo = data_geometry(config, config["models"][gen])
    size = mcfg.get("resolution") or geo["size"]
    t = post["train"]
    describe = {"unet": {k: v for k, v in mcfg["unet"].items() if k != "architecture"}, "variance": mcfg["variance"],
                "loss": "dae"}

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..diffusion.daed import dae_loss
        from ..factory import build_diffusion, build_unet
        from ..models.precision import with_precision
        from ..training.ema import EMA
        from ..training.speed import make_adam, prepare_model, speed_network

        torch.manual_seed(seed)
        model = prepare_model(build_unet(mcfg, image_size=size, channels=geo["channels"]).to(device), speed)
        diffusion = build_diffusion(mcfg)
        optimizer = make_adam(model.parameters(), speed, lr=t["lr"], weight_decay=t["weight_decay"])
        ema = EMA(model, t["ema_decay"])
        net_train = with_precision(speed_network(model, speed), train_precision, device)
        net_sample = with_precision(speed_network(model, speed), sample_precision, device)
        g = torch.Generator().manual_seed(seed)
        x0 = _uniform_images(train_batch, geo["channels"], size, g, device)
        s = POSTHOC_BENCH_STEP

        def train_step() -> None:
            model.train()
            loss = dae_loss(net_train, diffusion, x0, s, torch.randn(x0.shape, generator=g).to(device)).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if t["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), t["grad_clip"])
            optimizer.step()
            ema.update(model)

        xs = torch.randn(sample_batch, geo["channels"], size, size, generator=g).to(device)
        ts = torch.full((sample_batch,), s, dtype=torch.long, device=device)

        def sample_call() -> None:
            model.eval()
            with torch.no_grad():
                net_sample(xs, ts)

        return Runner(train_step, sample_call, [model])

    # the DAE loop has no precision setting (fp32); its samples run at the generator's sample.precision
    return Workload("daed/posthoc", "daed", "dae", geo["dataset"], size, geo["channels"], t["batch_size"],
                    mcfg["sample"]["batch_size"], [1], {"train": "fp32", "sample": mcfg["sample"]["precision"]},
                    True, describe, build)


def _gan_workload(config, name: str) -> Workload:
    gcfg = config["gans"][name]
    geo = data_geometry(config, gcfg)
    t = gcfg["train"]
    sur = config.get("surrogate") or {}
    sample_batch = sur.get("batch_size", t["batch_size"])
    describe = {"z_dim": gcfg["z_dim"], "width": gcfg["channels"], "n_dis": t["n_dis"]}

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..training.ema import EMA
        from ..training.gan import DEFAULT_BETAS, build_discriminator, build_generator, d_hinge_loss, g_hinge_loss
        from ..training.speed import make_adam, prepare_model

        if "bf16" in (train_precision, sample_precision):
            raise ValueError("the GAN loop has no precision setting (float32 only)")
        torch.manual_seed(seed)
        G = prepare_model(build_generator(gcfg, geo["size"], geo["channels"]).to(device), speed)
        D = prepare_model(build_discriminator(gcfg, geo["size"], geo["channels"]).to(device), speed)
        betas = tuple(t.get("betas", DEFAULT_BETAS))
        opt_g = make_adam(G.parameters(), speed, decoupled=False, lr=t["lr_g"], betas=betas)
        opt_d = make_adam(D.parameters(), speed, decoupled=False, lr=t["lr_d"], betas=betas)
        ema = EMA(G, t["ema_decay"])
        g = torch.Generator().manual_seed(seed)
        real = _uniform_images(train_batch, geo["channels"], geo["size"], g, device)

        def z(n: int) -> torch.Tensor:
            return torch.randn(n, gcfg["z_dim"], generator=g).to(device)

        def train_step() -> None:
            G.train()
            D.train()
            for _ in range(t["n_dis"]):
                with torch.no_grad():
                    fake = G(z(train_batch))
                d_loss = d_hinge_loss(D(real), D(fake))
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            g_loss = g_hinge_loss(D(G(z(train_batch))))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            ema.update(G)

        zs = z(sample_batch)

        def sample_call() -> None:
            G.eval()
            with torch.no_grad():
                G(zs)

        return Runner(train_step, sample_call, [G, D])

    return Workload(f"gans/{name}", "gans", "gan", geo["dataset"], geo["size"], geo["channels"], t["batch_size"],
                    sample_batch, [1], {"train": "fp32", "sample": "fp32"}, False, describe, build,
                    step_unit=f"generator update ({t['n_dis']} discriminator updates + 1 generator update)")


def _dddm_workload(config, run: str) -> Workload:
    from ..diffusion.dddm_losses import normalize_metric

    dddm = config["dddm"]
    if run not in dddm["runs"]:
        raise ValueError(f"unknown DDDM run {run!r}; runs: {', '.join(dddm['runs'])}")
    geo = data_geometry(config, dddm)
    metric_spec = normalize_metric(dddm["runs"][run]["metric"])
    describe = {"unet": {k: v for k, v in dddm["unet"].items() if k != "architecture"}, "metric": metric_spec}

    def build(*, device, speed, train_precision, sample_precision, train_batch, sample_batch, seed=0) -> Runner:
        from ..diffusion.dddm import build_dddm_unet, dddm_forward, dddm_loss
        from ..diffusion.dddm_losses import build_metric
        from ..diffusion.schedules import alphas_cumprod
        from ..models.precision import with_precision
        from ..training.dddm import dddm_betas
        from ..training.ema import EMA
        from ..training.speed import make_adam, prepare_model, speed_network

        tcfg = dddm["train"]
        torch.manual_seed(seed)
        model = prepare_model(build_dddm_unet(dddm["unet"], image_size=geo["size"], channels=geo["channels"])
                              .to(device), speed)
        optimizer = make_adam(model.parameters(), speed, decoupled=False, lr=tcfg["lr"])
        ema = EMA(model, tcfg["ema_decay"])
        metric = build_metric(metric_spec, allow_random_backbone=True)
        ab = alphas_cumprod(dddm_betas(dddm))
        T = dddm["timesteps"]
        net_train = with_precision(speed_network(model, speed), train_precision, device)
        net_sample = with_precision(speed_network(model, speed), sample_precision, device)
        g = torch.Generator().manual_seed(seed)
        x0 = _uniform_images(train_batch, geo["channels"], geo["size"], g, device)
        x_bar = torch.randn(x0.shape, generator=g).to(device)

        def train_step() -> None:
            model.train()
            t = torch.randint(0, T, (train_batch,), generator=g).to(device)
            noise = torch.randn(x0.shape, generator=g).to(device)
            losses, _ = dddm_loss(net_train, x0, x_bar, t, noise, ab, metric, 0.5)
            loss = losses.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if tcfg["grad_clip"]:
                torch.nn.utils.clip_grad_norm_(model.parameters(), tcfg["grad_clip"])
            optimizer.step()
            ema.update(model)

        shape = (sample_batch, geo["channels"], geo["size"], geo["size"])
        xs, xb = torch.randn(shape, generator=g).to(device), torch.randn(shape, generator=g).to(device)
        ts = torch.full((sample_batch,), T - 1, dtype=torch.long, device=device)

        def sample_call() -> None:
            model.eval()
            with torch.no_grad():
                dddm_forward(net_sample, xs, ts, xb)

        return Runner(train_step, sample_call, [model])

    return Workload(f"dddm/{run}", "dddm", "dddm", geo["dataset"], geo["size"], geo["channels"],
                    dddm["train"]["batch_size"], dddm["sample"]["batch_size"], sorted(int(k) for k in dddm["sample"]["steps"]),
                    {"train": dddm["train"]["precision"], "sample": dddm["sample"]["precision"]}, True, describe, build)


def all_workloads(config: Mapping[str, Any]) -> dict[str, Workload]:
    """Every workload of a parameter file, keyed ``NAME`` (models), ``daed/posthoc``, ``gans/NAME``, ``dddm/RUN``."""
    config = copy.deepcopy(dict(config))
    out = {name: _model_workload(config, name) for name in config["models"]}
    if (config.get("daed") or {}).get("posthoc"):
        out["daed/posthoc"] = _posthoc_workload(config)
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
