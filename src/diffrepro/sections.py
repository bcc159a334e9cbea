"""Typed sections of the parameter file: frozen dataclasses built from a validated section with the schema's
defaults filled in (:mod:`diffrepro.schema`, the one place defaults live; no field here has a default of its
own, and tests/test_config_types.py checks that the fields are the schema's properties).

A model section (a value of ``models``) is a :class:`ModelConfig`: its ``unet``, ``train`` and ``sample``
are :class:`UNetConfig`, :class:`TrainConfig` and :class:`SampleConfig`; its named choices (``objective``,
``schedule``, ``timestep_sampler``) are :class:`Choice` objects, a name and its options with their defaults.
Lists are stored as tuples and mappings as read-only mappings, so a section cannot change after it is built;
``dataclasses.replace`` makes a changed copy. ``as_dict()`` gives the section back as plain data, exactly the
mapping the training fingerprints and the weights' metadata have always been made of (named choices spelled
out as ``{"name": ..., **options}``, every default filled in). The other sections (``evaluation``, ``analysis``,
``daed``, ``gans``, ``surrogate``, ``dddm``, ``classifier``) are typed the same way in
:mod:`diffrepro.sections_pipeline`: a :class:`Section` lists its nested sections in :attr:`Section.SECTIONS` and
its mappings of named sections in :attr:`Section.ENTRIES`.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from .schema import ConfigError, apply_defaults, choice_spec

__all__ = [
    "Choice",
    "ModelConfig",
    "ModelSection",
    "NETWORK_KEYS",
    "SampleConfig",
    "Section",
    "TrainConfig",
    "UNetConfig",
    "as_model",
    "frozen",
    "thawed",
]

S = TypeVar("S", bound="Section")


def frozen(value: Any) -> Any:
    """Plain data made read-only: lists -> tuples, mappings -> read-only mappings (recursively)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(frozen(v) for v in value)
    return value


def thawed(value: Any) -> Any:
    """The inverse of :func:`frozen`: typed sections -> dicts, tuples -> lists, read-only mappings -> dicts."""
    if isinstance(value, (Section, Choice)):
        return value.as_dict()
    if isinstance(value, Mapping):
        return {k: thawed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thawed(v) for v in value]
    return value


@dataclass(frozen=True)
class Choice:
    """A named choice (``objective``, ``schedule``, ``timestep_sampler``): its ``name`` and its ``options``
    with the schema's defaults for that name (``{"name": "iwdiff"}`` -> ``Choice("iwdiff", {"k": 2})``)."""

    name: str
    options: Mapping[str, Any]

    @classmethod
    def parse(cls, value: str | Mapping[str, Any] | Choice, dotted: str) -> Choice:
        """The choice ``value`` (a name or ``{"name": ..., **options}``) of the key at ``dotted`` in the schema
        (``"$defs.ddgm.objective"``), with the defaults of its options."""
        if isinstance(value, Choice):
            value = value.as_dict()
        spec = choice_spec(value, dotted)
        return cls(spec["name"], frozen({k: v for k, v in spec.items() if k != "name"}))

    def __getitem__(self, option: str) -> Any:
        """An option (``objective["k"]``); a KeyError for one this name does not take."""
        return self.options[option]

    def as_dict(self) -> dict[str, Any]:
        """``{"name": ..., **options}`` (options in name order)."""
        return {"name": self.name, **{k: thawed(v) for k, v in sorted(self.options.items())}}


@dataclass(frozen=True)
class Section:
    """A mapping of the parameter file as a frozen dataclass: one field per property of its schema
    (:attr:`SCHEMA`, a dotted key of :func:`diffrepro.schema.schema_node`)."""

    #: the schema of the section (``"$defs.ddgm.unet"``; ``"gans.*"``: a value of the mapping ``gans``)
    SCHEMA: ClassVar[str] = ""
    #: fields that are sections of their own (a mapping with a fixed set of keys): field -> its class
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({})
    #: fields that map names to sections (``dddm.runs``): field -> the class of its values
    ENTRIES: ClassVar[Mapping[str, type[Section]]] = MappingProxyType({})

    @classmethod
    def of(cls: type[S], section: S | Mapping[str, Any]) -> S:
        """``section`` as it is where it is one of this class, else built from the mapping (:meth:`from_dict`)."""
        return section if isinstance(section, cls) else cls.from_dict(section)

    @classmethod
    def from_dict(cls: type[S], data: Mapping[str, Any]) -> S:
        """The section from a valid mapping (defaults filled in here; its unknown keys are an error)."""
        values = apply_defaults(copy.deepcopy(dict(data)), cls.SCHEMA)
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(names))
        missing = [n for n in names if n not in values]
        if unknown or missing:
            problems = [f"unknown keys {unknown}"] * bool(unknown) + [f"missing keys {missing}"] * bool(missing)
            raise ConfigError(f"{cls.__name__}: {'; '.join(problems)} (the schema's keys: {', '.join(names)})")
        return cls(**{n: cls._field_value(n, values[n]) for n in names})

    @classmethod
    def _field_value(cls, name: str, value: Any) -> Any:
        if name in cls.SECTIONS:
            return cls.SECTIONS[name].from_dict(value)
        if name in cls.ENTRIES:
            return MappingProxyType({k: cls.ENTRIES[name].from_dict(v) for k, v in value.items()})
        return frozen(value)

    def as_dict(self) -> dict[str, Any]:
        """The section as plain data (lists, dicts), every key spelled out."""
        return {f.name: thawed(getattr(self, f.name)) for f in dataclasses.fields(self)}


@dataclass(frozen=True)
class UNetConfig(Section):
    """A model's ``unet`` section (the DDDM's ``dddm.unet`` has the same schema)."""

    SCHEMA: ClassVar[str] = "$defs.ddgm.unet"

    base_channels: int
    channel_mult: tuple[int, ...]
    num_res_blocks: int
    attention_resolutions: tuple[int, ...]
    num_heads: int
    dropout: float
    block: str
    time_conditioning: str
    architecture: str | None


@dataclass(frozen=True)
class TrainConfig(Section):
    """A model's ``train`` section."""

    SCHEMA: ClassVar[str] = "$defs.ddgm.train"

    steps: int
    batch_size: int
    lr: float
    weight_decay: float
    warmup_steps: int
    grad_clip: float | None
    ema_decay: float
    checkpoint_every: int
    log_every: int
    loss_buckets: int
    snapshots: tuple[float, ...]
    precision: str
    resume_with_new_optimizer: bool


@dataclass(frozen=True)
class SampleConfig(Section):
    """A model's ``sample`` section."""

    SCHEMA: ClassVar[str] = "$defs.ddgm.sample"

    method: str
    steps: int | None
    eta: float
    num_samples: int
    batch_size: int
    precision: str


@dataclass(frozen=True)
class ModelConfig(Section):
    """A model section (a value of ``models``; :func:`diffrepro.config.model_config` builds it by name)."""

    SCHEMA: ClassVar[str] = "$defs.ddgm"
    #: the named choices of a model section
    CHOICES: ClassVar[tuple[str, ...]] = ("objective", "schedule", "timestep_sampler")
    SECTIONS: ClassVar[Mapping[str, type[Section]]] = MappingProxyType(
        {"unet": UNetConfig, "train": TrainConfig, "sample": SampleConfig}
    )

    data: str
    kind: str
    objective: Choice
    schedule: Choice
    timesteps: int
    resolution: int | None
    variance: str
    timestep_sampler: Choice
    unet: UNetConfig
    train: TrainConfig
    sample: SampleConfig
    tables: Mapping[str, str | None]

    @classmethod
    def _field_value(cls, name: str, value: Any) -> Any:
        if name in cls.CHOICES:
            return Choice.parse(value, f"{cls.SCHEMA}.{name}")
        return super()._field_value(name, value)

    def as_dict(self) -> dict[str, Any]:
        """The model section as :func:`diffrepro.config.normalize_model` has always given it: every default filled
        in, the named choices as ``{"name": ..., **options}``. Training fingerprints and weights' metadata are
        made of this mapping, so it must not change for an unchanged parameter file: an option added after
        artifacts were first recorded (:data:`LATE_OPTIONS`) is left out while it is at its default."""
        out = super().as_dict()
        for section, options in LATE_OPTIONS.items():
            out[section] = {k: v for k, v in out[section].items() if not (k in options and v == options[k])}
        return out


#: options a model section gained after artifacts were recorded, with their defaults: left out of
#: :meth:`ModelConfig.as_dict` (so of fingerprints and weights' metadata) while at that default, so that the
#: artifacts of a parameter file without them stay valid
LATE_OPTIONS = {"timestep_sampler": {"denoiser_share": None}, "train": {"resume_with_new_optimizer": False}}


#: the keys of a model section that fix its network and time axis (its weights record them and are refused by a
#: section that differs in one; ``unet.architecture`` is a label only)
NETWORK_KEYS = ("kind", "schedule", "timesteps", "unet", "objective", "variance", "resolution")


def network_settings(section: ModelSection) -> dict[str, Any]:
    """The :data:`NETWORK_KEYS` of a model section as plain data, ``unet`` without its ``architecture`` label."""
    d = as_model(section).as_dict()
    out = {k: d[k] for k in NETWORK_KEYS}
    out["unet"] = {k: v for k, v in out["unet"].items() if k != "architecture"}
    return out


#: a model section: typed, or as written in a parameter file (see :func:`as_model`)
ModelSection = ModelConfig | Mapping[str, Any]


def as_model(section: ModelSection) -> ModelConfig:
    """A :class:`ModelConfig` as it is, or one built from a model section as written in a parameter file (or
    normalised: the named choices spelled out)."""
    return section if isinstance(section, ModelConfig) else ModelConfig.from_dict(section)
