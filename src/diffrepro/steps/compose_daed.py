"""Step: one composed DAED (``--name``, a key of ``daed.composed``): the generator of one trained joint DAED with the
DAE of another (Deja et al. 2022, Table 4 "DAED (IN)" and Fig 13: the DDGM part trained on CelebA, the DAE on
ImageNet).

A joint DAED's weights hold two complete U-Nets, ``generator.*`` (steps ``t >= 1``) and ``dae.*`` (step ``t = 0``,
:mod:`diffrepro.models.joint_daed`). The composed weights are the ``generator.*`` tensors of ``generator`` and the
``dae.*`` tensors of ``dae``, unchanged. Their metadata is the generator's (so ``sample`` and ``evaluate`` run them
as that model, whose sampler, T and data set they keep) plus ``composed`` (the entry's name), the DAE's model, data
set and the content hash of each source file; both sources are read through their content hash and checked against
their model's configuration, and the two must have the same image size and channels.
"""

from __future__ import annotations

from ..artifacts.ddgm import load_weights
from ..config import ConfigError, daed_config, load_config, model_config
from ..runlog import get_logger
from ..tensorfile import CONTENT_KEY, save_safetensors

__all__ = ["compose", "run"]

_PARTS = {"generator": "generator.", "dae": "dae."}


def compose(config: dict, name: str, generator_weights: str, dae_weights: str) -> tuple[dict, dict[str, str]]:
    """The tensors and metadata of composed DAED ``name`` from its two sources' weight files (checked)."""
    entries = daed_config(config).composed
    if name not in entries:
        raise ConfigError(f"unknown composed DAED {name!r}: daed.composed has {', '.join(sorted(entries)) or 'none'}")
    entry = entries[name]
    sources = {"generator": (entry.generator, generator_weights), "dae": (entry.dae, dae_weights)}
    loaded = {}
    for part, (model, path) in sources.items():
        state, meta = load_weights(path, model_config(config, model), expect={"model": model})
        if not any(k.startswith(_PARTS[part]) for k in state):
            raise ValueError(f"{path}: no '{_PARTS[part]}*' tensors: not the weights of a joint DAED (kind: daed)")
        loaded[part] = (state, meta, path)
    gen_meta, dae_meta = loaded["generator"][1], loaded["dae"][1]
    for key in ("image_size", "channels"):
        if gen_meta[key] != dae_meta[key]:
            raise ValueError(
                f"{loaded['dae'][2]}: {key} {dae_meta[key]}, but the generator's weights "
                f"({loaded['generator'][2]}) have {gen_meta[key]}; a DAE replaces another only at the same shape"
            )
    tensors = {k: v for part, (state, _, _) in loaded.items() for k, v in state.items() if k.startswith(_PARTS[part])}
    meta = {k: v for k, v in gen_meta.items() if k != CONTENT_KEY}
    meta.update(
        {
            "composed": name,
            "dae_model": entry.dae,
            "dae_dataset": dae_meta.get("dataset", ""),
            "generator_content_sha256": gen_meta[CONTENT_KEY],
            "dae_content_sha256": dae_meta[CONTENT_KEY],
        }
    )
    return tensors, meta


def run(args) -> None:
    config = load_config(args.params)
    tensors, meta = compose(config, args.name, args.generator_weights, args.dae_weights)
    save_safetensors(tensors, args.out, meta)
    get_logger().info(
        "composed %s: the generator of %s (%s) with the DAE of %s (%s), %d tensors -> %s",
        args.name,
        meta["model"],
        meta.get("dataset", ""),
        meta["dae_model"],
        meta["dae_dataset"],
        len(tensors),
        args.out,
    )
