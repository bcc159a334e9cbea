"""Step: one metric backend's features of the real reference images, computed once per data set, split
and resolution (the file's metadata names them) and read by every evaluation (the DDDM's, whose reference
split is its own, by :mod:`.dddm_reference_features`)."""

from __future__ import annotations

from ..config import evaluation_config, load_config
from ..devices import resolve_device
from ..evaluation.reference_set import write_reference_set


def run(args) -> None:
    config = load_config(args.params)
    write_reference_set(args, config, evaluation_config(config).reference_split, resolve_device(args.device))
