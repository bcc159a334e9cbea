"""The paper-shape smoke preset: the paper preset cut to the least work that still runs every job.

:func:`smoke_config` transforms a parameter file (the paper preset by default) so that the whole DAG can run end
to end on a 2-core CPU as a check of the code at the papers' shapes. It keeps everything that fixes a network or
a job: every model, GAN, DDDM run, replicate, data set, split point, analysis and table; every architecture
(U-Net widths, depths, attention, dropout), every T and noise schedule, every resolution and data-set shape, every
objective and timestep sampler, the DDDM's conditioning and its runs' own T and depth. It cuts what only sets the amount
of work (:data:`RULES`): training steps and epochs to the fewest that checkpoint and snapshot, batches to 2,
sample and evaluation counts to :data:`SAMPLES`, the exact-NLL images to one, the bootstrap to its schema minimum,
the in-pipeline classifier (a metric backend of ours, not a network of the papers) to one epoch at width 8,
and the number of sampling steps to :data:`SAMPLING_STEPS`: a DDGM's ancestral sampler becomes the respaced
ancestral sampler (improved DDPM) on that many of its T steps, a respaced or DDIM sampler keeps its method on at
most that many steps (:func:`cut_sampling`; a post-hoc DAED's generator then runs those steps plus each split step,
:mod:`diffrepro.steps.sample_posthoc`), and the DDDM's numbers of steps are cut to the smallest two. The
network, its T and the diffusion arithmetic of every step are the job's; only how many of the T steps a sample
takes is cut (all T ancestral steps at the papers' shapes are ~1,000 network passes per sampling job: hours per
CelebA model on a 2-core CPU, where the respaced sampler takes seconds). The NLL job likewise takes the bound of
the respaced process on that many steps (``evaluation.nll_steps``): over all T steps the 45 NLL jobs took ~4 h of
the run (a CelebA joint DAED's alone 12.5 min, an ImageNet-64 DDGM's 4,000 steps ~50 min).

Its numbers measure nothing: the preset is named ``paper_smoke`` (its own folder, presets/paper_smoke/) and is
never a source of reported results. Data sets these machines cannot obtain (CIFAR-10/100, CelebA, ImageNet) need
``root:`` folders with files in the official formats; ``standin_root`` points every such data set at
``<standin_root>/<name>`` for generated stand-in files (an analysis' target set that no ``datasets`` entry reads
through ``analysis.target_roots``).
"""

from __future__ import annotations

import copy
from typing import Any

from .schema import property_defaults

__all__ = ["OFFLINE_DATASETS", "RULES", "SAMPLES", "SAMPLING_STEPS", "cut_sampling", "smoke_config"]

#: generated samples, reference images and analysis images per evaluation in the smoke run (enough for the
#: metrics' own minimums: covariances, k-NN with k = evaluation.prc_neighborhood, KID subsets)
SAMPLES = 10
#: reverse steps per sample of a DDGM in the smoke run (:func:`cut_sampling`)
SAMPLING_STEPS = 2
#: the data sets that the loaders can obtain on these offline machines (the others need stand-in files)
OFFLINE_DATASETS = frozenset({"fashion_mnist", "mnist", "digits", "lfw_subset"})

#: the dotted keys (``*``: every entry of a mapping) the transformation sets, and to what
RULES: dict[str, Any] = {
    "models.*.train.steps": 3,  # a step, a checkpoint and the snapshots at 1/3 and 2/3 of the steps
    "models.*.train.batch_size": 2,
    "models.*.train.checkpoint_every": 1,
    "models.*.train.log_every": 1,
    "models.*.train.warmup_steps": 0,
    "models.*.sample.num_samples": SAMPLES,
    "models.*.sample.batch_size": SAMPLES,
    "daed.posthoc.train.steps": 2,
    "daed.posthoc.train.batch_size": 2,
    "daed.posthoc.train.checkpoint_every": 1,
    "daed.posthoc.train.log_every": 1,
    "gans.*.train.steps": 2,
    "gans.*.train.batch_size": 2,
    "gans.*.train.checkpoint_every": 1,
    "gans.*.train.log_every": 1,
    "dddm.train.epochs": 1,
    "dddm.train.subset": 4,
    "dddm.train.batch_size": 2,
    # one checkpoint, the final one (of 2 steps): a checkpoint holds 16 bytes per parameter (8.3 GB for ImageNet 64's
    # DDDM-deep) and the store keeps two beside the one it writes, more than this machine's disk holds beside the rest
    "dddm.train.checkpoint_every": 2,
    "dddm.train.log_every": 1,
    "dddm.runs.*.epochs": lambda v: None if v is None else 1,
    "dddm.sample.num_samples": SAMPLES,
    "dddm.sample.batch_size": SAMPLES,
    "dddm.sample.steps": lambda v: sorted(v)[:2],
    "surrogate.num_samples": SAMPLES,
    "surrogate.batch_size": SAMPLES,
    # both surrogate chains on the respaced process (every step: ~1 h per t_mid at CIFAR-10 shapes on 2 cores)
    "surrogate.steps": SAMPLING_STEPS,
    "classifier.epochs": 1,
    # the in-pipeline classifier is a metric backend of ours, not a network of the papers: at the paper
    # preset's width 64 its one epoch over CelebA's 162,770 training images alone would take ~50 min here
    "classifier.width": 8,
    "evaluation.reference_images": SAMPLES,
    "evaluation.nll_images": 1,  # the schema minimum
    "evaluation.nll_steps": SAMPLING_STEPS,  # the bound of the 2-step respaced process (all T: hours per CelebA model)
    "daed.denoiser_test_images": SAMPLES,
    "evaluation.kid_subset_size": SAMPLES // 2,
    "evaluation.kid_subsets": 2,
    "evaluation.prd": {"clusters": 2, "angles": 11, "runs": 1},
    "evaluation.bootstrap.replicates": 20,
    "evaluation.batch_size": SAMPLES,
    "analysis.reconstruction.images": 2,
    "analysis.reconstruction.points": 2,
    "analysis.transferability.images": 2,
    # a DDGM denoising in an analysis: the respaced chain from s (every step: Table 2's 793 per image and model, 44 min
    # for the CIFAR-10 source's three targets; the ImageNet-64 source's 64 px networks ~4x that)
    "analysis.reverse_steps": SAMPLING_STEPS,
}


def _apply(node: Any, path: list[str], rule: Any, dotted: str) -> int:
    """Set ``path`` under ``node`` by ``rule`` (a value, or a function of the old value); the count of keys set."""
    key, rest = path[0], path[1:]
    if not isinstance(node, dict):
        raise ValueError(f"smoke rule {dotted}: {key!r} is not under a mapping")
    keys = list(node) if key == "*" else [key] if key in node else []
    count = 0
    for k in keys:
        if rest:
            count += _apply(node[k], rest, rule, dotted)
        else:
            node[k] = rule(node[k]) if callable(rule) else copy.deepcopy(rule)
            count += 1
    return count


def cut_sampling(sample: dict[str, Any]) -> dict[str, Any]:
    """A model's ``sample`` section on at most :data:`SAMPLING_STEPS` reverse steps: ``ancestral`` (or no method,
    the schema's default) becomes ``respaced``; ``respaced`` and ``ddim`` keep their method (and DDIM its eta)."""
    out = dict(sample)
    method = out["method"] if "method" in out else property_defaults("$defs.ddgm.sample")["method"]
    if method == "ancestral":
        out["method"] = "respaced"
    steps = out.get("steps")
    out["steps"] = SAMPLING_STEPS if steps is None else min(steps, SAMPLING_STEPS)
    return out


def smoke_config(config: dict[str, Any], *, standin_root: str | None = None) -> dict[str, Any]:
    """``config`` (a parameter file as loaded) cut to the smoke run's work (:data:`RULES`), as preset
    ``paper_smoke``; with ``standin_root``, every data set outside :data:`OFFLINE_DATASETS` reads
    ``<standin_root>/<name>``. A rule whose key the file does not hold is skipped (a preset without GANs)."""
    out = copy.deepcopy(config)
    out["preset"] = "paper_smoke"
    for dotted, rule in RULES.items():
        _apply(out, dotted.split("."), rule, dotted)
    for model in out["models"].values():
        model["sample"] = cut_sampling(model["sample"])
    if standin_root is not None:
        base = standin_root.rstrip("/")
        for name, ds in out["datasets"].items():
            if ds["dataset"] not in OFFLINE_DATASETS:
                ds["root"] = f"{base}/{name}"
                ds["download"] = False
        # target sets that no datasets entry reads (Table 2's CIFAR-100) read their stand-ins too
        have = {ds["dataset"] for ds in out["datasets"].values()}
        analysis = out.get("analysis", {})
        entries = [*analysis.get("reconstruction", {}).get("panels", {}).values()]
        entries += [*analysis.get("transferability", {}).get("sources", {}).values()]
        targets = sorted({t for entry in entries for t in entry["targets"]} - have - OFFLINE_DATASETS)
        if targets:
            roots = analysis.setdefault("target_roots", {})
            roots.update({t: f"{base}/{t}" for t in targets})
    return out


HEADER = """\
# The paper-shape smoke preset, generated: `diffrepro smoke-preset configs/paper.yaml --out configs/paper_smoke.yaml`
# (diffrepro/smoke.py). The paper preset with every model, run, job, architecture, T, resolution and data-set
# shape kept and the work cut to the least that runs each job (its numbers measure nothing: never reported).
# CIFAR-10/100, CelebA and ImageNet need files in their official formats under each data set's root (stand-ins
# for this run only: --standin-root DIR). Edit configs/paper.yaml and regenerate, never this file.
"""


def add_arguments(parser) -> None:
    parser.add_argument("params", nargs="?", default="configs/paper.yaml", help="the preset to cut (the paper's)")
    parser.add_argument("--out", help="write the smoke preset here (default: print it)")
    parser.add_argument(
        "--standin-root",
        help="a folder whose <data set name>/ subfolders hold stand-in files of the offline-missing sets",
    )
    parser.add_argument("--check", metavar="FILE", help="instead: exit 1 unless FILE holds exactly this preset")


def render(params: str, standin_root: str | None = None) -> str:
    """The smoke preset of the parameter file ``params`` as YAML text (validated first)."""
    import yaml

    from .config import load_config, validate_config
    from .paramfile import read_params

    smoke = smoke_config(read_params(params), standin_root=standin_root)
    load_config(params)  # the source itself is valid
    validate_config(copy.deepcopy(smoke))
    return HEADER + yaml.safe_dump(smoke, sort_keys=False, width=120)


def main(args) -> None:
    from .atomic import write_text
    from .errors import DiffreproError

    text = render(args.params, args.standin_root)
    if args.check:
        with open(args.check, encoding="utf-8") as fh:
            if fh.read() != text:
                raise DiffreproError(
                    f"{args.check} is not the smoke preset of {args.params}: run "
                    f"`diffrepro smoke-preset {args.params} --out {args.check}`"
                )
    elif args.out:
        write_text(args.out, text)
        print(f"wrote {args.out}")
    else:
        print(text, end="")
