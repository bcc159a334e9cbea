"""Step: the reference features of the DDDM's evaluation: its data set's ``dddm.reference_split`` (Zhang et al.
compute FID "between 50K generated samples and the whole training set"; the other studies use
``evaluation.reference_split``)."""

from __future__ import annotations

from ..config import dddm_config, load_config
from ..devices import resolve_device
from ..evaluation.reference_set import write_reference_set


def run(args) -> None:
    config = load_config(args.params)
    write_reference_set(args, config, dddm_config(config).reference_split, resolve_device(args.device))
