"""Evaluating sample sets on every configured metric backend, sharing the work within one job.

An :class:`Evaluator` loads each backend of ``evaluation.backends`` (its weights and its cached
reference features) once; :meth:`Evaluator.evaluate` then featurises one set of samples per backend
and returns a record whose flat fields are the primary backend's (the first listed: what the figures
plot) and whose ``backends`` field holds every backend's metrics, each with its sample counts, its
definitions and the throughput of its feature extraction.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import torch

from .backends import LABELS, Backend, load_backend
from .intervals import REPLICATE_FIELDS, attach_intervals, interval_fields
from .metrics import metrics_from_features
from .reference import load_reference

__all__ = ["Evaluator", "BACKEND_FIELDS"]

#: the metrics that carry a bootstrap interval (``<metric>_lo``, ``<metric>_hi``)
INTERVAL_METRICS = tuple(REPLICATE_FIELDS.values())
#: per-backend fields copied into the flat part of a record (the primary backend's)
BACKEND_FIELDS = (
    "fid",
    "kid_mean",
    "kid_std",
    "precision",
    "recall",
    "f_score",
    "prd_precision",
    "prd_recall",
    "sfid",
    "score_mean",
    "score_std",
    "n_generated",
    "n_reference",
    "precision_recall_definition",
    "prd_definition",
    "score_definition",
    "backend",
    "backend_label",
    *(f for metric in INTERVAL_METRICS for f in interval_fields(metric)),
    "interval_level",
)


class Evaluator:
    def __init__(
        self,
        config: dict,
        weights: dict[str, str],
        references: dict[str, str],
        *,
        device: str = "cpu",
        log: Callable[[str], None] | None = None,
        split: str | None = None,
    ) -> None:
        """``split``: the split the reference features must be of (default ``evaluation.reference_split``; a
        hand-written ``evaluation`` without one checks none)."""
        ecfg = config["evaluation"]
        split = split or ecfg.get("reference_split")
        self.ecfg = ecfg
        self.seed = int(config["seed"])
        self.log = log or (lambda _m: None)
        self.backends: dict[str, Backend] = {}
        self.references: dict[str, dict[str, torch.Tensor]] = {}
        self.reference_meta: dict[str, dict[str, str]] = {}
        for name in ecfg["backends"]:
            if name not in weights or name not in references:
                raise ValueError(
                    f"evaluation.backends lists {name!r}, but no weights/reference file was given for it (--{name})"
                )
            backend = load_backend(name, weights[name], device=device, batch_size=ecfg["batch_size"])
            feats, meta = load_reference(references[name], backend=name, weights_sha256=backend.weights_sha256)
            if split is not None and meta["split"] != split:
                raise ValueError(
                    f"{references[name]}: reference features of the {meta['split']!r} split, expected {split!r}"
                )
            self.backends[name] = backend
            self.references[name] = feats
            self.reference_meta[name] = meta
        self.primary = ecfg["backends"][0]

    @classmethod
    def from_files(
        cls,
        config: dict,
        *,
        classifier: str | None,
        inception: str,
        references: str,
        device: str = "cpu",
        log: Callable[[str], None] | None = None,
        split: str | None = None,
    ) -> Evaluator:
        """An Evaluator over ``evaluation.backends`` from the classifier's and the converted Inception's weights
        files and the folder ``references`` of ``<backend>.safetensors`` reference features (of ``split``); the
        classifier's file may be None where it is no backend."""
        weights = {k: v for k, v in (("classifier", classifier), ("inception", inception)) if v is not None}
        refs = {b: os.path.join(references, f"{b}.safetensors") for b in config["evaluation"]["backends"]}
        return cls(config, weights, refs, device=device, log=log, split=split)

    @classmethod
    def from_step_args(
        cls, config: dict, args: Any, device: str, log: Callable[[str], None] | None = None, split: str | None = None
    ) -> Evaluator:
        """:meth:`from_files` for an evaluation step: its parsed arguments ``args`` name the weights files
        (``classifier``, ``inception``) and the ``references`` folder."""
        return cls.from_files(
            config,
            classifier=args.classifier,
            inception=args.inception,
            references=args.references,
            device=device,
            log=log,
            split=split,
        )

    def evaluate(self, images: torch.Tensor, desc: str = "samples") -> dict[str, Any]:
        per_backend: dict[str, dict[str, Any]] = {}
        for name, backend in self.backends.items():
            ref = self.references[name]
            meta = self.reference_meta[name]
            if int(meta["resolution"]) != images.shape[-1]:
                raise ValueError(
                    f"{desc}: samples are {images.shape[-1]} px, the {name} reference features "
                    f"were made at {meta['resolution']} px"
                )
            feats = backend.features(images, desc=desc, log=self.log)
            m = metrics_from_features(
                feats,
                ref,
                kid_subset_size=self.ecfg["kid_subset_size"],
                kid_subsets=self.ecfg["kid_subsets"],
                prc_neighborhood=self.ecfg["prc_neighborhood"],
                prd=self.ecfg["prd"],
                rng_seed=self.seed,
                bootstrap=self.ecfg["bootstrap"]["replicates"],
            )
            attach_intervals(m, m.pop("replicates"))
            m.update(
                {
                    "backend": name,
                    "backend_label": LABELS[name],
                    "feature_extractor": backend.description,
                    "weights_sha256": backend.weights_sha256,
                    "reference_split": meta["split"],
                    "reference_dataset": meta["dataset"],
                    "score_definition": backend.score_definition
                    or "unavailable: these Inception weights have no classifier layer (no logits), "
                    "so no Inception Score",
                }
            )
            per_backend[name] = m
            self.log(
                f"{desc} [{name}]: FID {m['fid']:.3f}"
                + (f", sFID {m['sfid']:.3f}" if m["sfid"] is not None else "")
                + f", KID {m['kid_mean']:.5f}, k-NN P/R {m['precision']:.3f}/{m['recall']:.3f}, "
                f"PRD P/R {m['prd_precision']:.3f}/{m['prd_recall']:.3f}"
                + (f", score {m['score_mean']:.3f}" if m["score_mean"] is not None else ", score unavailable")
            )
        primary = per_backend[self.primary]
        return {
            **{k: primary.get(k) for k in BACKEND_FIELDS},
            "feature_extractor": primary["feature_extractor"],
            "backends": per_backend,
        }
