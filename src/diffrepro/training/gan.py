"""Training of the surrogate SNGAN (hinge loss; Adam with betas (0, 0.9); ``n_dis`` discriminator steps
per generator step; an EMA of the generator is the exported model), resumable like every training step.

Hinge loss (Lim & Ye 2017, as in SNGAN's code): D minimises ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``,
G minimises ``-E[D(G(z))]``. A seed fixes initialisation, data order (one seeded permutation per
epoch, consumed by the discriminator's real batches) and every z draw, so a killed run resumes
bit-identically from its last checkpoint. Like a DDGM's, the run's fingerprint leaves out
``train.steps``, ``checkpoint_every`` and ``log_every``: raising ``steps`` continues the same run.

Data-parallel training (``torchrun``, :mod:`.distributed`): ``train.batch_size`` is the global batch.
Both networks are wrapped in DDP (spectral normalisation's power iteration depends on the weights only,
so its buffers stay equal on every process). Every process draws the global batch's real images and
z as a single process does. The generator has BatchNorm, whose batch statistics must be those of the
global batch, so every process runs the generator on the whole global z (in the discriminator steps
without gradients) and keeps its own rows of the fakes; each of the ``n_dis`` discriminator steps and
the generator step then runs the discriminator on the process's rows only. The losses are means over
the process's rows and DDP averages the gradients, which gives the single process's gradients (the
generator's too: its output is the same on every process). The discriminator call of the generator
step is not wrapped, so its (unused) gradient is not averaged. The logged losses come from the
gathered logits; only rank 0 writes checkpoints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file

from ..errors import DiffreproError
from ..models.sngan import SNGANDiscriminator, SNGANGenerator
from ..models.unet import count_parameters
from ..runlog import Progress, get_logger
from ..seeding import derive_seed, generator
from .checkpoint import CheckpointStore, fingerprint, optimizer_from_tensors, optimizer_to_tensors
from .ddgm import TrainingDivergedError, to_model_range
from .distributed import Distributed
from .ema import EMA
from .speed import make_adam, prepare_model

__all__ = ["GanTrainResult", "GanWeightsError", "WEIGHTS_KIND", "build_discriminator", "build_generator",
           "d_hinge_loss", "g_hinge_loss", "gan_fingerprint", "gan_sample", "load_gan_generator", "train_gan"]

# Keys of ``train`` that do not change what training computes (as ``ddgm.NON_TRAINING_TRAIN_KEYS``).
NON_TRAINING_TRAIN_KEYS = ("steps", "checkpoint_every", "log_every")
DEFAULT_BETAS = (0.0, 0.9)
WEIGHTS_KIND = "sngan_generator"
# metadata of an exported generator that load_gan_generator needs (train-gan writes more)
REQUIRED_METADATA = ("kind", "image_size", "channels", "z_dim", "width")


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss ``-mean(D(G(z)))``."""
    return -fake_logits.mean()


def build_generator(gan_cfg: dict[str, Any], image_size: int, channels: int) -> SNGANGenerator:
    """The generator of ``gan_cfg`` (``z_dim``, width ``channels``) for ``channels`` x ``image_size``^2 images."""
    return SNGANGenerator(gan_cfg["z_dim"], gan_cfg["channels"], image_size, channels)


def build_discriminator(gan_cfg: dict[str, Any], image_size: int, channels: int) -> SNGANDiscriminator:
    """The spectrally normalised discriminator of ``gan_cfg`` (width ``channels``)."""
    return SNGANDiscriminator(gan_cfg["channels"], image_size, channels)


def gan_fingerprint(gan_cfg: dict[str, Any], *, seed: int, data_id: str, image_shape: tuple[int, ...]) -> str:
    """Hash of everything that determines the weights at a given generator step."""
    cfg = {**{k: v for k, v in gan_cfg.items() if k != "data"},  # the data set's name; its content is data_id
           "train": {k: v for k, v in gan_cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS}}
    cfg["train"]["betas"] = list(cfg["train"].get("betas", DEFAULT_BETAS))
    return fingerprint({"gan": cfg, "seed": seed, "data": data_id, "shape": list(image_shape)})


@dataclass
class GanTrainResult:
    """A finished (or, with ``stop_at_step``, interrupted) run; ``ema_state`` is the exported generator."""

    generator: SNGANGenerator
    discriminator: SNGANDiscriminator
    ema_state: dict[str, torch.Tensor]
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0
    seconds_total: float = 0.0
    resumed_from: int = 0
    parameters_g: int = 0
    parameters_d: int = 0


def _prefixed(prefix: str, d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {f"{prefix}{k}": v for k, v in d.items()}


def _unprefixed(prefix: str, d: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k[len(prefix):]: v for k, v in d.items() if k.startswith(prefix)}


def train_gan(images_u8: torch.Tensor, gan_cfg: dict[str, Any], *, seed: int, checkpoint_dir: str | Path,
              data_id: str, device: str = "cpu", stop_at_step: int | None = None,
              speed: dict[str, Any] | None = None, distributed: Distributed | None = None) -> GanTrainResult:
    """Train (or resume) one SNGAN on uint8 images [N, C, H, W]; ``stop_at_step`` simulates a kill.
    ``speed``: the speed switches (:mod:`.speed`), which do not enter the fingerprint. ``distributed``:
    this process's place in a data-parallel group (default: a single process on ``device``), see the
    module docstring; not part of the fingerprint either."""
    log = get_logger()
    t = gan_cfg["train"]
    n, channels, height, width = images_u8.shape
    if height != width:
        raise ValueError(f"images must be square, got {height}x{width}")
    batch, n_dis, total = t["batch_size"], t["n_dis"], t["steps"]
    if batch > n:
        raise ValueError(f"gans.*.train.batch_size={batch} exceeds the {n} training images")
    if n_dis < 1:
        raise ValueError(f"gans.*.train.n_dis must be at least 1, got {n_dis}")
    if t["checkpoint_every"] % t["log_every"]:
        raise ValueError("gans.*.train.checkpoint_every must be a multiple of log_every "
                         f"(got {t['checkpoint_every']} and {t['log_every']})")
    dist = Distributed.single(device) if distributed is None else distributed
    local = dist.local_slice(batch, "gans.*.train.batch_size")  # this process's rows of each global batch
    torch.manual_seed(derive_seed(seed, "gan-init"))
    G = prepare_model(build_generator(gan_cfg, height, channels).to(device), speed)
    D = prepare_model(build_discriminator(gan_cfg, height, channels).to(device), speed)
    betas = tuple(t.get("betas", DEFAULT_BETAS))
    opt_g = make_adam(G.parameters(), speed, decoupled=False, lr=t["lr_g"], betas=betas)
    opt_d = make_adam(D.parameters(), speed, decoupled=False, lr=t["lr_d"], betas=betas)
    ema = EMA(G, t["ema_decay"])
    run_fp = gan_fingerprint(gan_cfg, seed=seed, data_id=data_id, image_shape=tuple(images_u8.shape[1:]))
    store = CheckpointStore(checkpoint_dir, run_fp)
    start, history, seconds_before = 0, [], 0.0
    ckpt, reason = store.load_latest()
    log.info("%s", reason)
    if ckpt is not None and ckpt.step > total:
        log.info("checkpoint step %d is past train.steps=%d: training again from scratch", ckpt.step, total)
        ckpt = None
    if ckpt is not None:
        G.load_state_dict(_unprefixed("g.", ckpt.tensors["model"]))
        D.load_state_dict(_unprefixed("d.", ckpt.tensors["model"]))
        ema.load_state_dict(ckpt.tensors["ema"])
        opt_tensors = ckpt.tensors.get("optimizer", {})
        optimizer_from_tensors(opt_g, _unprefixed("g/", opt_tensors), ckpt.state["optimizer_g"])
        optimizer_from_tensors(opt_d, _unprefixed("d/", opt_tensors), ckpt.state["optimizer_d"])
        start, history = ckpt.step, list(ckpt.state["history"])
        seconds_before = float(ckpt.state.get("seconds", 0.0))

    def save(step: int, seconds: float) -> None:
        tg, mg = optimizer_to_tensors(opt_g)
        td, md = optimizer_to_tensors(opt_d)
        store.save(step, {"model": {**_prefixed("g.", G.state_dict()), **_prefixed("d.", D.state_dict())},
                          "ema": ema.state_dict(), "optimizer": {**_prefixed("g/", tg), **_prefixed("d/", td)}},
                   {"optimizer_g": mg, "optimizer_d": md, "history": history, "seconds": seconds})

    data = to_model_range(images_u8).to(device)
    per_epoch = n // batch
    perm: dict[int, torch.Tensor] = {}
    params_g, params_d = count_parameters(G), count_parameters(D)
    log.info("training an SNGAN: G %d and D %d parameters, %d generator steps x %d discriminator steps "
             "(batch %d, %dx%d) on %s", params_g, params_d, total, n_dis, batch, height, width, device)
    G_ddp, D_ddp = dist.wrap(G), dist.wrap(D)
    G.train()
    D.train()
    sums = {"d_loss": 0.0, "g_loss": 0.0, "d_real": 0.0, "d_fake": 0.0}
    count, last_saved = 0, start
    t0 = time.perf_counter()
    with Progress(total, desc="train gan", initial=min(start, total), log_every=t["log_every"],
                  disable=not dist.is_main) as bar:
        for step in range(start, total):
            for i in range(n_dis):
                epoch, j = divmod(step * n_dis + i, per_epoch)
                if epoch not in perm:
                    perm.clear()
                    perm[epoch] = torch.randperm(n, generator=generator(seed, "gan-epoch", epoch)).to(device)
                real = data[perm[epoch][j * batch:(j + 1) * batch][local]]
                z = torch.randn(batch, gan_cfg["z_dim"], generator=generator(seed, "gan-zd", step, i)).to(device)
                with torch.no_grad():
                    fake = G(z)[local]  # BatchNorm over the global batch, then this process's rows
                d_real, d_fake = D_ddp(real), D_ddp(fake)
                d_loss_local = d_hinge_loss(d_real, d_fake)
                d_real_all = dist.all_gather_ordered(d_real.detach())
                d_fake_all = dist.all_gather_ordered(d_fake.detach())
                # the global batch's loss (a single process's own: the loss is computed once)
                d_loss = d_hinge_loss(d_real_all, d_fake_all) if dist.active else d_loss_local
                if not torch.isfinite(d_loss):
                    raise _diverged("discriminator", float(d_loss.detach()), step + 1, last_saved, store.directory)
                opt_d.zero_grad(set_to_none=True)
                d_loss_local.backward()
                opt_d.step()
            z = torch.randn(batch, gan_cfg["z_dim"], generator=generator(seed, "gan-zg", step)).to(device)
            g_logits = D(G_ddp(z)[local])
            g_loss_local = g_hinge_loss(g_logits)
            g_loss = g_hinge_loss(dist.all_gather_ordered(g_logits.detach())) if dist.active else g_loss_local
            if not torch.isfinite(g_loss):
                raise _diverged("generator", float(g_loss.detach()), step + 1, last_saved, store.directory)
            opt_g.zero_grad(set_to_none=True)
            g_loss_local.backward()
            opt_g.step()
            ema.update(G)
            vals = {"d_loss": float(d_loss.detach()), "g_loss": float(g_loss.detach()),
                    "d_real": float(d_real_all.mean()), "d_fake": float(d_fake_all.mean())}
            for k, v in vals.items():
                sums[k] += v
            count += 1
            done = step + 1
            if done % t["log_every"] == 0 or done == total:
                history.append({"step": done, **{k: v / count for k, v in sums.items()}})
                sums = dict.fromkeys(sums, 0.0)
                count = 0
            bar.update(1, d_loss=vals["d_loss"], g_loss=vals["g_loss"])
            if done % t["checkpoint_every"] == 0 or done == total:
                if dist.is_main:
                    save(done, seconds_before + time.perf_counter() - t0)
                last_saved = done
            if stop_at_step is not None and done >= stop_at_step:
                break
    seconds = time.perf_counter() - t0
    G.eval()
    D.eval()
    steps_done = min(max(start, total), total if stop_at_step is None else stop_at_step)
    return GanTrainResult(generator=G, discriminator=D, ema_state=ema.state_dict(), history=history, steps=steps_done,
                          seconds=seconds, seconds_total=seconds_before + seconds, resumed_from=start,
                          parameters_g=params_g, parameters_d=params_d)


def _diverged(which: str, value: float, step: int, last_saved: int, directory: Path) -> TrainingDivergedError:
    kept = (f"the last good checkpoint (step {last_saved}) in {directory} is intact" if last_saved
            else "no checkpoint had been written yet")
    return TrainingDivergedError(f"the {which} loss became {value} at generator step {step}; training stopped "
                                 f"without saving; {kept}; lower gans.*.train.lr_g/lr_d and rerun to resume")


class GanWeightsError(DiffreproError, ValueError):
    """A generator weights file is not one of train-gan's or does not match the configuration."""


def load_gan_generator(path: str | Path, gan_cfg: dict[str, Any], device: str, *, image_size: int | None = None,
                       channels: int | None = None) -> tuple[SNGANGenerator, dict[str, str]]:
    """The exported (EMA) generator of ``train-gan`` in eval mode, and its metadata.

    The metadata's ``z_dim`` and ``width`` must equal ``gan_cfg``'s ``z_dim`` and ``channels``, and its
    ``image_size``/``channels`` the given ones (when given). Only safetensors are read; nothing is unpickled.
    """
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except (OSError, SafetensorError) as exc:
        raise GanWeightsError(f"cannot read the generator weights {path}: {exc}") from exc
    if meta.get("kind") != WEIGHTS_KIND:
        raise GanWeightsError(f"{path} is not an SNGAN generator written by train-gan (metadata kind "
                              f"{meta.get('kind')!r}, expected {WEIGHTS_KIND!r})")
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise GanWeightsError(f"{path} lacks the metadata {', '.join(missing)}; rerun train-gan")
    try:
        found = {k: int(meta[k]) for k in ("image_size", "channels", "z_dim", "width")}
    except ValueError as exc:
        raise GanWeightsError(f"{path} has malformed metadata: {exc}") from exc
    expected = {"z_dim": (gan_cfg["z_dim"], "gans.*.z_dim"), "width": (gan_cfg["channels"], "gans.*.channels"),
                "image_size": (image_size, "the data"), "channels": (channels, "the data")}
    for key, (want, source) in expected.items():
        if want is not None and found[key] != int(want):
            raise GanWeightsError(f"{path} was trained with {key}={found[key]} but {source} says {want}; "
                                  "rerun train-gan")
    try:
        G = build_generator(gan_cfg, found["image_size"], found["channels"])
        G.load_state_dict(load_file(str(path)))
    except (ValueError, RuntimeError) as exc:
        raise GanWeightsError(f"{path} does not hold the generator its metadata describes: {exc}") from exc
    return G.to(device).eval(), meta


def gan_sample(generator_module: SNGANGenerator, n: int, *, z_dim: int, batch_size: int,
               generator: torch.Generator, device: str) -> torch.Tensor:
    """``n`` samples in [-1, 1] as float32 on the CPU [n, C, H, W].

    All ``n`` latents are drawn at once from the CPU ``generator`` (so the samples do not depend on
    ``batch_size``), then fed to the network ``batch_size`` at a time on ``device``.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    z_all = torch.randn(n, z_dim, generator=generator)
    out = []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            out.append(generator_module(z_all[start:start + batch_size].to(device)).float().cpu())
    return torch.cat(out)
