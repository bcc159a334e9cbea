"""Training of the surrogate SNGAN (hinge loss; Adam with betas (0, 0.9); ``n_dis`` discriminator steps
per generator step; an EMA of the generator is the exported model), resumable like every training step.

Hinge loss (Lim & Ye 2017, as in SNGAN's code): D minimises ``E[relu(1 - D(x))] + E[relu(1 + D(G(z)))]``,
G minimises ``-E[D(G(z))]``. Training runs on the engine (:mod:`.engine`, task :class:`GanTask`; one
engine step is one generator step). A seed fixes initialisation, data order (one seeded permutation per
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

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ..errors import DiffreproError
from ..hashing import json_sha256
from ..models.sngan import SNGANDiscriminator, SNGANGenerator
from ..models.unet import count_parameters
from ..sections import thawed
from ..sections_pipeline import GANSection
from ..seeding import derive_seed, generator
from ..tensorfile import read as read_tensors
from .engine import LoopResult, LoopSettings, StepResult, TrainingImages, TrainTask, train
from .speed import make_adam, prepare_model

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .engine import RunContext, TrainLoop, TrainOptions

__all__ = [
    "GanTask",
    "GanTrainResult",
    "GanWeightsError",
    "WEIGHTS_KIND",
    "build_discriminator",
    "build_generator",
    "d_hinge_loss",
    "g_hinge_loss",
    "gan_fingerprint",
    "gan_sample",
    "load_gan_generator",
    "train_gan",
]

# Keys of ``train`` that do not change what training computes (as ``ddgm.NON_TRAINING_TRAIN_KEYS``).
NON_TRAINING_TRAIN_KEYS = ("steps", "checkpoint_every", "log_every")
WEIGHTS_KIND = "sngan_generator"
# metadata of an exported generator that load_gan_generator needs (train-gan writes more)
REQUIRED_METADATA = ("kind", "image_size", "channels", "z_dim", "width")
#: the configuration section of a GAN's training (for messages)
KEYS = "gans.*.train."


def d_hinge_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss ``mean(relu(1 - D(x))) + mean(relu(1 + D(G(z))))``."""
    return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()


def g_hinge_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator hinge loss ``-mean(D(G(z)))``."""
    return -fake_logits.mean()


def build_generator(gan_cfg: GANSection, image_size: int, channels: int) -> SNGANGenerator:
    """The generator of ``gan_cfg`` (``z_dim``, width ``channels``) for ``channels`` x ``image_size``^2 images."""
    gan_cfg = thawed(gan_cfg)
    return SNGANGenerator(gan_cfg["z_dim"], gan_cfg["channels"], image_size, channels)


def build_discriminator(gan_cfg: GANSection, image_size: int, channels: int) -> SNGANDiscriminator:
    """The spectrally normalised discriminator of ``gan_cfg`` (width ``channels``)."""
    return SNGANDiscriminator(thawed(gan_cfg)["channels"], image_size, channels)


def gan_fingerprint(gan_cfg: GANSection, *, seed: int, data_id: str, image_shape: tuple[int, ...]) -> str:
    """Hash of everything that determines the weights at a given generator step (of the section as plain data)."""
    gan_cfg = thawed(gan_cfg)
    cfg = {
        **{k: v for k, v in gan_cfg.items() if k != "data"},  # the data set's name; its content is data_id
        "train": {k: v for k, v in gan_cfg["train"].items() if k not in NON_TRAINING_TRAIN_KEYS},
    }
    cfg["train"]["betas"] = list(cfg["train"]["betas"])
    return json_sha256({"gan": cfg, "seed": seed, "data": data_id, "shape": list(image_shape)})


@dataclass(kw_only=True)
class GanTrainResult(LoopResult):
    """A finished (or, with ``stop_at_step``, interrupted) run; ``ema_state`` is the exported generator."""

    generator: SNGANGenerator
    discriminator: SNGANDiscriminator
    parameters_g: int
    parameters_d: int


class GanTask(TrainTask):
    """One SNGAN on uint8 images [N, C, H, W]; the networks are ``g`` and ``d``, the EMA is the generator's."""

    ema_module = "g"

    def __init__(self, images_u8: torch.Tensor, gan_cfg: GANSection, run: RunContext) -> None:
        self.run, self.seed, self.device, speed = run, run.seed, run.device, run.speed
        self.gan_cfg = gan_cfg = thawed(gan_cfg)  # the section as plain data (tests give partial mappings)
        t = gan_cfg["train"]
        self.batch, self.n_dis = batch, n_dis = t["batch_size"], t["n_dis"]
        self.images = images = TrainingImages(
            images_u8, batch, key=f"{KEYS}batch_size", seed=run.seed, purpose="gan-epoch", device=run.device
        )
        if n_dis < 1:
            raise ValueError(f"{KEYS}n_dis must be at least 1, got {n_dis}")
        self.settings = LoopSettings.from_section(
            t, KEYS, hint=f"lower {KEYS}lr_g/lr_d", desc="train gan", step_name="generator step"
        )
        self.dist = dist = run.dist
        self.local = dist.local_slice(batch, f"{KEYS}batch_size")  # this process's rows of each global batch
        device = run.device
        torch.manual_seed(derive_seed(run.seed, "gan-init"))
        self.G = G = prepare_model(build_generator(gan_cfg, images.size, images.channels).to(device), speed)
        self.D = D = prepare_model(build_discriminator(gan_cfg, images.size, images.channels).to(device), speed)
        betas = tuple(t["betas"])
        self.modules = {"g": G, "d": D}
        self.optimizers = {
            "g": make_adam(G.parameters(), speed, decoupled=False, lr=t["lr_g"], betas=betas),
            "d": make_adam(D.parameters(), speed, decoupled=False, lr=t["lr_d"], betas=betas),
        }
        self.parameters_g, self.parameters_d = count_parameters(G), count_parameters(D)
        self.G_ddp, self.D_ddp = dist.wrap(G), dist.wrap(D)

    def fingerprint(self) -> str:
        return gan_fingerprint(self.gan_cfg, seed=self.seed, data_id=self.run.data_id, image_shape=self.images.shape)

    def describe(self) -> str:
        size = self.images.size
        return (
            f"training an SNGAN: G {self.parameters_g} and D {self.parameters_d} parameters, "
            f"{self.settings.steps} generator steps x {self.n_dis} discriminator steps (batch {self.batch}, "
            f"{size}x{size}) on {self.device}"
        )

    def step(self, step: int, loop: TrainLoop) -> StepResult:
        dist, local, z_dim = self.dist, self.local, self.gan_cfg["z_dim"]
        for i in range(self.n_dis):
            _, idx = self.images.order.batch(step * self.n_dis + i)
            real = self.images.batch(idx[local])
            z = torch.randn(self.batch, z_dim, generator=generator(self.seed, "gan-zd", step, i)).to(self.device)
            with torch.no_grad():
                fake = self.G(z)[local]  # BatchNorm over the global batch, then this process's rows
            d_real, d_fake = self.D_ddp(real), self.D_ddp(fake)
            d_loss_local = d_hinge_loss(d_real, d_fake)
            d_real_all = dist.all_gather_ordered(d_real.detach())
            d_fake_all = dist.all_gather_ordered(d_fake.detach())
            # the global batch's loss (a single process's own: the loss is computed once)
            d_loss = d_hinge_loss(d_real_all, d_fake_all) if dist.active else d_loss_local
            loop.optimize(d_loss_local, d_loss, optimizer="d", what="the discriminator loss")
        z = torch.randn(self.batch, z_dim, generator=generator(self.seed, "gan-zg", step)).to(self.device)
        g_logits = self.D(self.G_ddp(z)[local])
        g_loss_local = g_hinge_loss(g_logits)
        g_loss = g_hinge_loss(dist.all_gather_ordered(g_logits.detach())) if dist.active else g_loss_local
        loop.optimize(g_loss_local, g_loss, optimizer="g", what="the generator loss")  # and the EMA
        values = {
            "d_loss": float(d_loss.detach()),
            "g_loss": float(g_loss.detach()),
            "d_real": float(d_real_all.mean()),
            "d_fake": float(d_fake_all.mean()),
        }
        return StepResult(values, postfix={"d_loss": values["d_loss"], "g_loss": values["g_loss"]})


def train_gan(images_u8: torch.Tensor, gan_cfg: GANSection, **options: Unpack[TrainOptions]) -> GanTrainResult:
    """Train (or resume) one SNGAN on uint8 images [N, C, H, W]. ``options``: :class:`~.engine.TrainOptions`
    (``stop_at_step`` simulates a kill; neither the speed switches nor the process group enter the
    fingerprint, see the module docstring)."""
    task, result = train(lambda run: GanTask(images_u8, gan_cfg, run), options)
    return result.extend(
        GanTrainResult,
        generator=task.G,
        discriminator=task.D,
        parameters_g=task.parameters_g,
        parameters_d=task.parameters_d,
    )


class GanWeightsError(DiffreproError, ValueError):
    """A generator weights file is not one of train-gan's or does not match the configuration."""


def load_gan_generator(
    path: str | Path,
    gan_cfg: GANSection,
    device: str,
    *,
    image_size: int | None = None,
    channels: int | None = None,
) -> tuple[SNGANGenerator, dict[str, str]]:
    """The exported (EMA) generator of ``train-gan`` in eval mode, and its metadata.

    The metadata's ``z_dim`` and ``width`` must equal ``gan_cfg``'s ``z_dim`` and ``channels``, and its
    ``image_size``/``channels`` the given ones (when given). Only safetensors are read; nothing is unpickled.
    """
    try:
        state, meta = read_tensors(path)  # content hash checked
    except (OSError, ValueError) as exc:
        raise GanWeightsError(f"cannot read the generator weights {path}: {exc}") from exc
    if meta.get("kind") != WEIGHTS_KIND:
        raise GanWeightsError(
            f"{path} is not an SNGAN generator written by train-gan (metadata kind "
            f"{meta.get('kind')!r}, expected {WEIGHTS_KIND!r})"
        )
    missing = [k for k in REQUIRED_METADATA if k not in meta]
    if missing:
        raise GanWeightsError(f"{path} lacks the metadata {', '.join(missing)}; rerun train-gan")
    try:
        found = {k: int(meta[k]) for k in ("image_size", "channels", "z_dim", "width")}
    except ValueError as exc:
        raise GanWeightsError(f"{path} has malformed metadata: {exc}") from exc
    gan_cfg = thawed(gan_cfg)
    expected = {
        "z_dim": (gan_cfg["z_dim"], "gans.*.z_dim"),
        "width": (gan_cfg["channels"], "gans.*.channels"),
        "image_size": (image_size, "the data"),
        "channels": (channels, "the data"),
    }
    for key, (want, source) in expected.items():
        if want is not None and found[key] != int(want):
            raise GanWeightsError(
                f"{path} was trained with {key}={found[key]} but {source} says {want}; rerun train-gan"
            )
    try:
        G = build_generator(gan_cfg, found["image_size"], found["channels"])
        G.load_state_dict(state)
    except (ValueError, RuntimeError) as exc:
        raise GanWeightsError(f"{path} does not hold the generator its metadata describes: {exc}") from exc
    return G.to(device).eval(), meta


def gan_sample(
    generator_module: SNGANGenerator, n: int, *, z_dim: int, batch_size: int, generator: torch.Generator, device: str
) -> torch.Tensor:
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
            out.append(generator_module(z_all[start : start + batch_size].to(device)).float().cpu())
    return torch.cat(out)
