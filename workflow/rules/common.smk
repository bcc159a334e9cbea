# Shared definitions: config validation, paths, code dependencies and input functions.
import os
from pathlib import Path

import yaml

from diffrepro.config import ConfigError, validate_config

PARAMS_FILE = "params.yaml"

try:
    validate_config(config, source=PARAMS_FILE)
except ConfigError as err:
    raise WorkflowError(str(err))

with open(PARAMS_FILE, encoding="utf-8") as _fh:
    if yaml.safe_load(_fh) != config:
        raise WorkflowError(
            "the Snakemake config differs from params.yaml (--config/--configfile overrides?); "
            "the diffrepro steps and DVC read params.yaml, so switch presets with "
            "`diffrepro preset NAME` instead"
        )

MODELS = sorted(config["models"])
# Per-model jobs (training, sampling) share the cores: on a small CPU, one thread per job with
# the models side by side beats one model at a time on all threads (measured on 2 cores).
MODEL_THREADS = max(1, workflow.cores // len(MODELS))
DATA = "data/processed/dataset.safetensors"
CLASSIFIER = "models/classifier/classifier.safetensors"

# Source files each step depends on; dvc.yaml lists the same files (a whole subpackage there is
# its folder, here the .py files in it; tests/test_workflow.py checks that the two agree).
PKG = "src/diffrepro"


def package_dir(name):
    return sorted(str(p) for p in Path(PKG, name).glob("*.py"))


def package_files(*names):
    return [f"{PKG}/{n}.py" for n in names]


CODE = {
    "common": package_files("cli", "config", "atomic", "runlog", "steps/common"),
    "prepare_data": package_dir("data") + package_files("steps/prepare_data"),
    "train_classifier": package_files("models/classifier", "training/classifier", "steps/train_classifier"),
}
MODEL_CODE = package_dir("diffusion") + package_dir("models") + package_files("factory", "seeding")
METRICS_CODE = package_dir("evaluation") + package_dir("data") + package_files("models/classifier", "steps/evaluate")
SAMPLE_CODE = MODEL_CODE + package_files("reporting/figures", "steps/sample")
CODE["train_ddgm"] = MODEL_CODE + package_files("training/ddgm", "training/ema", "training/checkpoint", "steps/train_ddgm")
CODE["sample"] = SAMPLE_CODE
CODE["evaluate"] = METRICS_CODE
CODE["evaluate_snapshots"] = sorted(set(SAMPLE_CODE + METRICS_CODE + package_files("steps/evaluate_snapshots")))
CODE["nll"] = sorted(set(SAMPLE_CODE + package_dir("data") + package_dir("training") + package_files("steps/nll")))
CODE["table"] = package_files("reporting/tables", "reporting/paper_values", "steps/table")

# The studies' tables (diffrepro.reporting.tables.TABLES); dvc.yaml's table stage lists the same names.
TABLES = ["deja_table1", "deja_extended", "coursework_4_1", "coursework_4_2", "coursework_4_3", "coursework_4_4"]


# Keys of a model's section that each kind of rule reads (Snakemake params and DVC params agree).
TRAIN_KEYS = ("objective", "schedule", "timesteps", "variance", "timestep_sampler", "unet", "train")
SAMPLE_KEYS = ("objective", "schedule", "timesteps", "variance", "unet", "sample")
NLL_KEYS = ("objective", "schedule", "timesteps", "variance", "unet")


def code(step):
    return sorted(set(CODE["common"] + CODE[step]))


def model_section(name, *keys):
    """The parts of one model's parameters a rule depends on (a params rerun trigger)."""
    section = config["models"][name]
    return {k: section[k] for k in keys}


def per_model(pattern):
    return expand(pattern, model=MODELS)


def final_targets():
    return (
        expand("results/tables/{table}.{ext}", table=TABLES, ext=["md", "csv"])
        + per_model("results/figures/samples_{model}.png")
        + per_model("results/metrics/ddgm/{model}.json")
        + per_model("results/metrics/nll/{model}.json")
        + per_model("results/metrics/snapshots/{model}.json")
    )
