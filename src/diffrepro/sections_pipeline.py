"""Typed sections of the parameter file besides ``models`` (:mod:`diffrepro.sections`): ``classifier``,
``evaluation``, ``analysis``, ``daed``, ``gans``, ``surrogate`` and ``dddm``, as frozen dataclasses on the same
:class:`~diffrepro.sections.Section` base.

As there, every field is a property of the section's schema, in schema order, with no default of its own (the
schema's ``default`` keywords fill them in, tests/test_config_types.py checks the fields); a nested mapping with
a fixed set of keys is a section of its own (``evaluation.prd`` is a :class:`PRDConfig`), a mapping of named
entries a read-only mapping of sections (``dddm.runs``: run name -> :class:`DDDMRunConfig`; ``gans`` is one
:class:`GANConfig` per name), lists are tuples. ``as_dict()`` gives the section back as the plain mapping the
steps read before (the one GAN and DDDM fingerprints and weights' metadata are made of). The accessors that
build them from a loaded parameter file are in :mod:`diffrepro.config` (:func:`~diffrepro.config.gan_config`,
:func:`~diffrepro.config.dddm_config`, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar

from .sections import Section, UNetConfig

__all__ = [
    "AnalysisConfig",
    "BootstrapConfig",
    "ClassifierConfig",
    "DAEDConfig",
    "DDDMConfig",
    "DDDMRunConfig",
    "DDDMRunSection",
    "DDDMSampleConfig",
    "DDDMTrainConfig",
    "DynamicsConfig",
    "EvaluationConfig",
    "DDDMSection",
    "GANConfig",
    "GANSection",
    "GANTrainConfig",
    "InceptionConfig",
    "PRDConfig",
    "PosthocConfig",
    "PosthocStudy",
    "ComposedDAED",
    "PosthocTrainConfig",
    "PosthocTrainSection",
    "ReconstructionConfig",
    "ReconstructionPanel",
    "SNRConfig",
    "SurrogateConfig",
    "ToyExamplesConfig",
    "TransferabilityConfig",
    "TransferabilityFigure",
    "TransferabilityModels",
    "TransferabilitySource",
]


# --------------------------------------------------------------------------------------------- classifier
@dataclass(frozen=True)
class ClassifierConfig(Section):
    """The ``classifier`` section (the metric backend trained on the data set)."""

    SCHEMA: ClassVar[str] = "classifier"

    width: int
    feature_dim: int
    epochs: int
    batch_size: int
    lr: float


# --------------------------------------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class InceptionConfig(Section):
    """``evaluation.inception``: where the Inception weights come from."""

    SCHEMA: ClassVar[str] = "evaluation.inception"

    source: str


@dataclass(frozen=True)
class PRDConfig(Section):
    """``evaluation.prd``: the distribution precision/recall of Sajjadi et al. 2018."""

    SCHEMA: ClassVar[str] = "evaluation.prd"

    clusters: int
    angles: int
    runs: int


@dataclass(frozen=True)
class BootstrapConfig(Section):
    """``evaluation.bootstrap``: the seeded bootstrap of every evaluation."""

    SCHEMA: ClassVar[str] = "evaluation.bootstrap"

    replicates: int


@dataclass(frozen=True)
class EvaluationConfig(Section):
    """The ``evaluation`` section (the first of ``backends`` is the primary one)."""

    SCHEMA: ClassVar[str] = "evaluation"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType(
        {"inception": InceptionConfig, "prd": PRDConfig, "bootstrap": BootstrapConfig}
    )

    backends: tuple[str, ...]
    inception: InceptionConfig
    reference_split: str
    reference_images: int | None
    kid_subset_size: int
    kid_subsets: int
    prc_neighborhood: int
    prd: PRDConfig
    bootstrap: BootstrapConfig
    batch_size: int
    nll_images: int
    nll_steps: int | None


# ----------------------------------------------------------------------------------------------- analysis
@dataclass(frozen=True)
class SNRConfig(Section):
    """``analysis.snr``: the SNR of the forward process (Deja et al. Fig 1, 8)."""

    SCHEMA: ClassVar[str] = "analysis.snr"

    data: str | tuple[str, ...]
    timesteps: int
    schedules: tuple[str, ...]

    @property
    def datasets(self) -> tuple[str, ...]:
        """The data sets, in order (``data`` names one or lists several): one row of panels each."""
        return (self.data,) if isinstance(self.data, str) else tuple(self.data)


@dataclass(frozen=True)
class ReconstructionPanel(Section):
    """``analysis.reconstruction.panels.<name>``: one panel, a DDGM and the image sets it reconstructs."""

    SCHEMA: ClassVar[str] = "analysis.reconstruction.panels.*"

    data: str
    model: str
    targets: tuple[str, ...]


@dataclass(frozen=True)
class ReconstructionConfig(Section):
    """``analysis.reconstruction``: DDGMs' reconstruction error over their first steps (Fig 2, 3), one panel
    per entry of ``panels`` (in the parameters' order; the claims read the first)."""

    SCHEMA: ClassVar[str] = "analysis.reconstruction"
    ENTRIES: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"panels": ReconstructionPanel})

    fraction: float
    points: int
    images: int
    panels: Mapping[str, ReconstructionPanel]


@dataclass(frozen=True)
class TransferabilityModels(Section):
    """``analysis.transferability.sources.<name>.models``: the two DDGMs of a Table 2 block."""

    SCHEMA: ClassVar[str] = "analysis.transferability.sources.*.models"

    vlb: str
    simple: str


@dataclass(frozen=True)
class TransferabilitySource(Section):
    """``analysis.transferability.sources.<name>``: one block of Table 2, the DDGMs and the post-hoc DAE trained on
    the source ``data``, on each target set."""

    SCHEMA: ClassVar[str] = "analysis.transferability.sources.*"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"models": TransferabilityModels})

    data: str
    posthoc: str
    models: TransferabilityModels
    targets: tuple[str, ...]


@dataclass(frozen=True)
class TransferabilityFigure(Section):
    """``analysis.transferability.figures.<name>``: the reconstructions of several sources' models of one target
    set side by side (Fig 6a); ``columns``: ``{source, model}`` mappings, ``model`` a role of the source's
    ``models`` or ``"DAED"``."""

    SCHEMA: ClassVar[str] = "analysis.transferability.figures.*"

    target: str
    columns: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class TransferabilityConfig(Section):
    """``analysis.transferability``: Table 2, the DDGMs' reverse process from s vs the post-hoc DAE, a block per
    source (in the parameters' order; the claims read the first)."""

    SCHEMA: ClassVar[str] = "analysis.transferability"
    ENTRIES: ClassVar[Mapping[str, type[Section]]] = MappingProxyType(
        {"sources": TransferabilitySource, "figures": TransferabilityFigure}
    )

    beta_1: float
    images: int
    sources: Mapping[str, TransferabilitySource]
    examples: int
    figures: Mapping[str, TransferabilityFigure]


@dataclass(frozen=True)
class ToyExamplesConfig(Section):
    """``analysis.toy_examples``: photos denoised by a DDGM and the DAED (Fig 6b)."""

    SCHEMA: ClassVar[str] = "analysis.toy_examples"

    posthoc: str
    beta_1: float
    model: str
    photos: tuple[str, ...]


@dataclass(frozen=True)
class DynamicsConfig(Section):
    """``analysis.dynamics``: the DDGM and the joint DAED of Fig 14/15."""

    SCHEMA: ClassVar[str] = "analysis.dynamics"

    ddgm: str
    daed: str


@dataclass(frozen=True)
class AnalysisConfig(Section):
    """The ``analysis`` section, one section per analysis."""

    SCHEMA: ClassVar[str] = "analysis"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType(
        {
            "snr": SNRConfig,
            "reconstruction": ReconstructionConfig,
            "transferability": TransferabilityConfig,
            "toy_examples": ToyExamplesConfig,
            "dynamics": DynamicsConfig,
        }
    )

    snr: SNRConfig
    reconstruction: ReconstructionConfig
    transferability: TransferabilityConfig
    toy_examples: ToyExamplesConfig
    dynamics: DynamicsConfig
    target_roots: Mapping[str, str]
    reverse_steps: int | None


# --------------------------------------------------------------------------------------------------- daed
@dataclass(frozen=True)
class PosthocTrainConfig(Section):
    """``daed.posthoc.train``: the fine-tuning of the post-hoc DAEs."""

    SCHEMA: ClassVar[str] = "daed.posthoc.train"

    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    grad_clip: float | None
    ema_decay: float
    checkpoint_every: int
    log_every: int


@dataclass(frozen=True)
class PosthocStudy(Section):
    """``daed.posthoc.studies.<name>``: one post-hoc study, the DDGM whose last steps the DAEs replace."""

    SCHEMA: ClassVar[str] = "daed.posthoc.studies.*"

    data: str
    generator: str


@dataclass(frozen=True)
class PosthocConfig(Section):
    """``daed.posthoc``: the post-hoc DAEs of trained DDGMs, one per study (a generator) and split point (a
    ``beta_1`` or ``"linear"``); the first study is the one the tables and claims read (:attr:`first`)."""

    SCHEMA: ClassVar[str] = "daed.posthoc"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"train": PosthocTrainConfig})
    ENTRIES: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"studies": PosthocStudy})

    studies: Mapping[str, PosthocStudy]
    split_points: tuple[float | str, ...]
    train: PosthocTrainConfig

    @property
    def first(self) -> str:
        """The first study's name (the parameters' order)."""
        return next(iter(self.studies))


@dataclass(frozen=True)
class ComposedDAED(Section):
    """``daed.composed.<name>``: the generator of one joint DAED with the DAE of another (Deja et al. "DAED (IN)")."""

    SCHEMA: ClassVar[str] = "daed.composed.*"

    data: str
    generator: str
    dae: str
    tables: Mapping[str, str]


@dataclass(frozen=True)
class DAEDConfig(Section):
    """The ``daed`` section (joint DAEDs are models of kind daed)."""

    SCHEMA: ClassVar[str] = "daed"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"posthoc": PosthocConfig})
    ENTRIES: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"composed": ComposedDAED})

    denoiser_test_images: int
    composed: Mapping[str, ComposedDAED]
    posthoc: PosthocConfig


# --------------------------------------------------------------------------------------------------- gans
@dataclass(frozen=True)
class GANTrainConfig(Section):
    """A GAN's ``train`` section (``steps``: generator updates; ``n_dis`` discriminator steps each)."""

    SCHEMA: ClassVar[str] = "gans.*.train"

    steps: int
    batch_size: int
    lr_g: float
    lr_d: float
    betas: tuple[float, ...]
    n_dis: int
    ema_decay: float
    checkpoint_every: int
    log_every: int


@dataclass(frozen=True)
class GANConfig(Section):
    """A surrogate SNGAN (a value of ``gans``; :func:`diffrepro.config.gan_config` builds it by name)."""

    SCHEMA: ClassVar[str] = "gans.*"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"train": GANTrainConfig})

    data: str
    z_dim: int
    channels: int
    train: GANTrainConfig


# ---------------------------------------------------------------------------------------------- surrogate
@dataclass(frozen=True)
class SurrogateConfig(Section):
    """The ``surrogate`` section (coursework Algorithm 4)."""

    SCHEMA: ClassVar[str] = "surrogate"

    data: str
    base_model: str
    surrogates: tuple[str, ...]
    t_mid: tuple[float, ...]
    num_samples: int
    batch_size: int
    steps: int | None


# --------------------------------------------------------------------------------------------------- dddm
@dataclass(frozen=True)
class DDDMTrainConfig(Section):
    """``dddm.train``."""

    SCHEMA: ClassVar[str] = "dddm.train"

    epochs: int
    subset: int | None
    batch_size: int
    lr: float
    grad_clip: float | None
    ema_decay: float
    checkpoint_every: int
    log_every: int
    store_dtype: str
    precision: str


@dataclass(frozen=True)
class DDDMSampleConfig(Section):
    """``dddm.sample`` (``steps``: the numbers of sampling steps evaluated)."""

    SCHEMA: ClassVar[str] = "dddm.sample"

    steps: tuple[int, ...]
    method: str
    num_samples: int
    batch_size: int
    precision: str


#: a DDDM run's keys that replace the ``dddm`` section's (run key -> the section's dotted key)
RUN_OVERRIDES: Mapping[str, str] = MappingProxyType(
    {
        "timesteps": "timesteps",
        "epochs": "train.epochs",
        "lr": "train.lr",
        "store_dtype": "train.store_dtype",
        "num_res_blocks": "unet.num_res_blocks",
        "base_channels": "unet.base_channels",
        "channel_mult": "unet.channel_mult",
        "dropout": "unet.dropout",
    }
)


@dataclass(frozen=True)
class DDDMRunConfig(Section):
    """A DDDM run (a value of ``dddm.runs``): its data set, whether it is class-conditional, its loss metric, a name
    or ``{name, c}`` (a read-only mapping); its own T, epochs, network and training settings where it departs from
    the section (None: the section's, :data:`RUN_OVERRIDES`); the paper row it stands beside."""

    SCHEMA: ClassVar[str] = "dddm.runs.*"

    data: str
    class_conditional: bool
    base_channels: int | None
    channel_mult: tuple[int, ...] | None
    dropout: float | None
    lr: float | None
    store_dtype: str | None
    metric: str | Mapping[str, Any]
    timesteps: int | None
    epochs: int | None
    num_res_blocks: int | None
    paper_row: str | None

    def overrides(self) -> dict[str, Any]:
        """What this run sets in place of the ``dddm`` section's values, as dotted keys of that section."""
        return {dotted: getattr(self, k) for k, dotted in RUN_OVERRIDES.items() if getattr(self, k) is not None}


@dataclass(frozen=True)
class DDDMConfig(Section):
    """The ``dddm`` section (:func:`diffrepro.config.dddm_config`); ``unet`` has the model sections' schema."""

    SCHEMA: ClassVar[str] = "dddm"
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType(
        {"unet": UNetConfig, "train": DDDMTrainConfig, "sample": DDDMSampleConfig}
    )
    ENTRIES: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({"runs": DDDMRunConfig})

    datasets: tuple[str, ...]
    timesteps: int
    schedule: str
    unet: UNetConfig
    conditioning: str
    reference_split: str
    train: DDDMTrainConfig
    sample: DDDMSampleConfig
    runs: Mapping[str, DDDMRunConfig]
    main: str


#: sections as the training and weights modules take them: typed, or as plain mappings (a parameter file's
#: section, or a hand-written one in the tests); they read and hash them as plain data (``thawed``)
GANSection = GANConfig | Mapping[str, Any]
DDDMSection = DDDMConfig | Mapping[str, Any]
DDDMRunSection = DDDMRunConfig | Mapping[str, Any]
PosthocTrainSection = PosthocTrainConfig | Mapping[str, Any]
