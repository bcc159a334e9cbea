# Shared definitions: config validation, paths, code dependencies and input functions.
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
DATA = "data/processed/dataset.safetensors"
CLASSIFIER = "models/classifier/classifier.safetensors"

# Source files each step depends on (dvc.yaml lists the same files as deps).
PKG = "src/diffrepro"
CODE = {
    "common": [f"{PKG}/{m}.py" for m in ("cli", "config", "atomic", "runlog")] + [f"{PKG}/steps/common.py"],
    "prepare_data": sorted(glob_wildcards(f"{PKG}/data/{{m}}.py").m),
}
CODE["prepare_data"] = [f"{PKG}/data/{m}.py" for m in CODE["prepare_data"]] + [f"{PKG}/steps/prepare_data.py"]
CODE["train_classifier"] = [f"{PKG}/models/classifier.py", f"{PKG}/training/classifier.py", f"{PKG}/steps/train_classifier.py"]
CODE["diffusion"] = [f"{PKG}/diffusion/{m}.py" for m in ("schedules", "gaussian_diffusion")] + [
    f"{PKG}/models/unet.py", f"{PKG}/factory.py", f"{PKG}/seeding.py"]
CODE["train_ddgm"] = CODE["diffusion"] + [f"{PKG}/training/{m}.py" for m in ("ddgm", "ema", "checkpoint")] + [
    f"{PKG}/steps/train_ddgm.py"]
CODE["sample"] = CODE["diffusion"] + [f"{PKG}/reporting/figures.py", f"{PKG}/steps/sample.py"]
CODE["evaluate"] = [f"{PKG}/evaluation/{m}.py" for m in ("feature_extractors", "metrics")] + [
    f"{PKG}/models/classifier.py", f"{PKG}/steps/evaluate.py"]
CODE["table1"] = [f"{PKG}/reporting/{m}.py" for m in ("tables", "paper_values")] + [f"{PKG}/steps/table1.py"]


def code(step):
    return CODE["common"] + CODE[step]


def model_section(name, *keys):
    """The parts of one model's parameters a rule depends on (a params rerun trigger)."""
    section = config["models"][name]
    return {k: section[k] for k in keys}


def final_targets():
    return (
        ["results/tables/table1.md", "results/tables/table1.csv"]
        + expand("results/figures/samples_{model}.png", model=MODELS)
        + expand("results/metrics/ddgm/{model}.json", model=MODELS)
    )
