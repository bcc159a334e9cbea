# Shared definitions: config validation, paths, code dependencies and input functions.
import os
import re
import yaml

from diffrepro.config import ConfigError, data_of, posthoc_splits, split_label, surrogate_kind, validate_config

# The parameter file every step reads: params.yaml (DVC's too; `diffrepro preset NAME` switches it), or the one
# file given with `snakemake --configfile FILE` (then FILE alone is the config, not merged into params.yaml, and
# the steps read FILE).  `--config KEY=VALUE` overrides are refused: the steps would not see them.
_cli_files = [os.path.relpath(str(f)) for f in (workflow.overwrite_configfiles or [])]
if len(_cli_files) > 1:
    raise WorkflowError(f"give one parameter file with --configfile, got {', '.join(_cli_files)}")
PARAMS_FILE = _cli_files[0] if _cli_files else "params.yaml"
with open(PARAMS_FILE, encoding="utf-8") as _fh:
    _file_config = yaml.safe_load(_fh)
if (workflow.config_settings.overwrite_config or {}) != (_file_config if _cli_files else {}):
    raise WorkflowError(
        "--config overrides are not supported: the diffrepro steps (and DVC) read the parameter file, so edit it, "
        "use `dvc exp run -S KEY=VALUE`, or switch presets with `diffrepro preset NAME` / `--configfile FILE`"
    )
if _cli_files:
    config.clear()
    config.update(_file_config)

try:
    validate_config(config, source=PARAMS_FILE)
except ConfigError as err:
    raise WorkflowError(str(err))

MODELS = sorted(config["models"])
# Per-model jobs (training, sampling) share the cores: on a small CPU, one thread per job with
# the models side by side beats one model at a time on all threads (measured on 2 cores).
MODEL_THREADS = max(1, workflow.cores // len(MODELS))
# Data sets by name (the keys of `datasets`); each model, GAN and the DDDM names its own with `data:`
DATASETS = list(config["datasets"])


def data_file(dataset):
    return f"data/processed/{dataset}.safetensors"


def model_data_file(name):
    """The processed data set model or GAN ``name`` is trained on."""
    return data_file(data_of(config, name))


# Post-hoc DAEDs: split-point labels (the values as written: 0.1, linear) and their generator DDGM
SPLITS = list(posthoc_splits(config))
GENERATOR = config["daed"]["posthoc"]["generator"]
ANALYSIS = config["analysis"]
TRANSFER_SPLIT = split_label(ANALYSIS["transferability"]["beta_1"])
TOY_SPLIT = split_label(ANALYSIS["toy_examples"]["beta_1"])

# Surrogate diffusion (coursework Algorithm 4): GANs, the surrogates over the t_mid grid, their base DDGM
GANS = sorted(config["gans"])
SURROGATES = list(config["surrogate"]["surrogates"])
SURROGATE_BASE = config["surrogate"]["base_model"]
# DDDM: one run per loss metric (the ablation); the main run fills the table
DDDM_RUNS = sorted(config["dddm"]["runs"])

wildcard_constraints:
    model="|".join(re.escape(m) for m in MODELS),
# Metric backends: the converted FID Inception weights (one file) and the classifier trained on each data set;
# per data set, the reference features of its real images on both backends (one job, as in dvc.yaml, whose
# stages cannot depend on a list), read by every evaluation of a model of that data set for the backends of
# evaluation.backends
INCEPTION = "models/inception/inception-2015-12-05.safetensors"
BACKENDS = list(config["evaluation"]["backends"])
ALL_BACKENDS = ["inception", "classifier"]


def classifier_file(dataset):
    return f"models/classifier/{dataset}.safetensors"


def reference_dir(dataset):
    return f"results/reference/{dataset}"


def metric_inputs(name):
    """Inputs of an evaluation of model/GAN ``name`` (or ``"dddm"``): the classifier and the reference features
    of its data set, and the Inception weights.  ``name`` may be a function of the wildcards."""
    of = name if callable(name) else (lambda w: name)
    return {
        "classifier": lambda w: classifier_file(data_of(config, of(w))),
        "inception": INCEPTION,
        "references": lambda w: [f"{reference_dir(data_of(config, of(w)))}/{b}.safetensors" for b in BACKENDS],
    }


def references_param(name):
    of = name if callable(name) else (lambda w: name)
    return lambda w: reference_dir(data_of(config, of(w)))

# Source files each step depends on: the import closure of its `diffrepro <step>` module
# (diffrepro.codedeps), so editing a module a step never imports reruns nothing.  dvc.yaml lists
# the same files (`python -m diffrepro.codedeps STEP` prints them; tests/test_workflow.py checks).
from diffrepro.codedeps import step_code

STEP_MODULE = {
    "prepare_data": "prepare_data",
    "convert_inception": "convert_inception",
    "reference_features": "reference_features",
    "train_classifier": "train_classifier",
    "train_ddgm": "train_ddgm",
    "sample": "sample",
    "nll": "nll",
    "evaluate": "evaluate",
    "evaluate_snapshots": "evaluate_snapshots",
    "table": "table",
    "snr": "snr",
    "train_dae": "train_dae",
    "sample_posthoc": "sample_posthoc",
    "evaluate_posthoc": "evaluate_posthoc",
    "reconstruction": "reconstruction",
    "transferability": "transferability",
    "toy_examples": "toy_examples",
    "dynamics": "dynamics",
    "train_gan": "train_gan",
    "sample_surrogate": "sample_surrogate",
    "evaluate_surrogate": "evaluate_surrogate",
    "surrogate_table": "surrogate_table",
    "train_dddm": "train_dddm",
    "sample_dddm": "sample_dddm",
    "evaluate_dddm": "evaluate_dddm",
    "dddm_tables": "dddm_tables",
}

# The studies' tables (diffrepro.reporting.tables.TABLES); dvc.yaml's table stage lists the same names.
TABLES = ["deja_table1", "deja_extended", "deja_table7", "coursework_4_1", "coursework_4_2", "coursework_4_3", "coursework_4_4"]

# The HTML report (`snakemake --report`): every table, figure and sample grid under its study (the category),
# as Tables, Figures or Samples (the subcategory), one label naming it; captions: workflow/report/*.rst.
STUDIES = {"deja": "Deja et al. 2022", "coursework": "Coursework (Baryshnikov 2022)", "dddm": "DDDM (Zhang et al. 2024)"}
DATA_AND_MODELS = "Data and models"  # sample grids of models that no table names
#: the name of each table in its paper (the prefix of a table's name is its study)
PAPER_TABLES = {"deja_table1": "Table 1", "deja_table2": "Table 2", "deja_extended": "Tables 3-5", "deja_table7": "Table 7",
                "coursework_4_1": "Table 4.1", "coursework_4_2": "Table 4.2", "coursework_4_3": "Table 4.3",
                "coursework_4_4": "Table 4.4", "coursework_4_5": "Table 4.5", "dddm_table1": "Table 1"}


def study(table):
    return STUDIES[table.split("_")[0]]


def table_label(table):
    return f"{table} ({PAPER_TABLES[table]})" if table in PAPER_TABLES else table


def model_study(model):
    """The study a model's sample grid is shown under: that of the first table it is a row of; a surrogate
    without tables (DDPM-16) belongs to the coursework."""
    tables = config["models"][model]["tables"]
    if tables:
        return study(next(iter(tables)))
    return STUDIES["coursework"] if model in SURROGATES else DATA_AND_MODELS


def report_table(path, caption, table=None):
    """A table's Markdown marked for the report; ``table`` is its name, None for the {table} wildcard."""
    name = (lambda w: w.table) if table is None else (lambda w: table)
    return report(path, caption=f"../report/{caption}.rst", category=lambda w: study(name(w)), subcategory="Tables",
                  labels=lambda w: {"table": table_label(name(w))})


def report_figure(path, caption, study_key, label):
    return report(path, caption=f"../report/{caption}.rst", category=STUDIES[study_key], subcategory="Figures",
                  labels={"figure": label})


def report_samples(path, caption, category, label):
    """A sample grid marked for the report; ``category`` may be a function of the wildcards, ``label`` name them."""
    return report(path, caption=f"../report/{caption}.rst", category=category, subcategory="Samples",
                  labels={"samples": label})


# Keys of a model's section that each kind of rule reads (Snakemake params and DVC params agree).
TRAIN_KEYS = ("kind", "objective", "schedule", "timesteps", "variance", "timestep_sampler", "unet", "resolution", "train")
SAMPLE_KEYS = ("kind", "objective", "schedule", "timesteps", "variance", "unet", "resolution", "sample")
NLL_KEYS = ("kind", "objective", "schedule", "timesteps", "variance", "unet", "resolution")


def code(step):
    return step_code(STEP_MODULE[step])


def model_section(name, *keys):
    """The parts of one model's parameters a rule depends on (a params rerun trigger)."""
    section = config["models"][name]
    return {k: section[k] for k in keys}


def surrogate_section(name):
    """The parameters of one surrogate (a params rerun trigger)."""
    if surrogate_kind(config, name) == "gan":
        return config["gans"][name]
    return model_section(name, *SAMPLE_KEYS)


def per_model(pattern):
    return expand(pattern, model=MODELS)


#: every matplotlib figure is written as PNG and SVG (sample grids: PNG only)
FIGURE_EXTS = ["png", "svg"]


def final_targets():
    return (
        ["results/metrics/inception.json"]
        + expand("results/reference/{dataset}/{backend}.safetensors", dataset=DATASETS, backend=ALL_BACKENDS)
        + expand("results/tables/{table}.{ext}", table=TABLES, ext=["md", "csv", "tex"])
        + per_model("results/figures/samples_{model}.png")
        + per_model("results/metrics/ddgm/{model}.json")
        + per_model("results/metrics/nll/{model}.json")
        + per_model("results/metrics/snapshots/{model}.json")
        + ["results/analysis/snr.json"] + expand("results/figures/snr.{ext}", ext=FIGURE_EXTS)
        + ["results/metrics/daed_posthoc.json"] + expand("results/figures/fid_vs_split.{ext}", ext=FIGURE_EXTS)
        + ["results/analysis/reconstruction.json"] + expand("results/figures/reconstruction.{ext}", ext=FIGURE_EXTS)
        + expand("results/tables/deja_table2.{ext}", ext=["md", "tex"])
        + expand("results/figures/{name}.{ext}", name=["transferability", "toy_examples", "dynamics"], ext=FIGURE_EXTS)
        + ["results/analysis/dynamics.json"]
        + expand("results/figures/samples_gan_{gan}.png", gan=GANS)
        + expand("results/tables/coursework_4_5.{ext}", ext=["md", "csv", "tex"])
        + expand("results/figures/samples_surrogate_{name}.png", name=SURROGATES)
        + expand("results/tables/dddm_table1.{ext}", ext=["md", "csv", "tex"])
        + ["results/analysis/dddm_ablation.csv"] + expand("results/figures/dddm_ablation.{ext}", ext=FIGURE_EXTS)
        + expand("results/figures/samples_dddm_{run}.png", run=DDDM_RUNS)
    )
