"""Step: the verdict on each finding of the registry (``workflow/claims.yaml``) from this preset's metrics,
bootstrap replicates and analyses: the claims table (Markdown, CSV, LaTeX, HTML), its summary as an HTML fragment
for the report's landing page and ``results/metrics/claims.json``."""

from __future__ import annotations

import os

from ..atomic import read_json, write_json, write_text
from ..claims.assess import assess
from ..claims.registry import load_registry
from ..claims.sources import Record, Results
from ..config import (
    analysis_config,
    daed_config,
    dddm_config,
    evaluation_config,
    load_config,
    replicate_runs,
    surrogate_config,
)
from ..csvio import read_csv, write_csv
from ..reporting.claims_table import DETAIL_COLUMNS, claims_record, detail_rows, significant, summary_rows
from ..reporting.render import (
    html_beside,
    html_document,
    html_fragment,
    html_section,
    render_latex,
    render_markdown,
    tex_beside,
)
from ..runlog import get_logger
from ..timing import read_timing

NOTES = [
    "A finding compares quantities a and b and states the sign of a - b. Verdicts: reproduced (our 95% interval "
    "of a - b excludes 0 on the paper's side; for ≈: lies within the margin), contradicted (excludes 0 on the "
    "other side; for ≈: lies outside the margin), inconclusive (otherwise), not in this preset (a quantity was "
    "not produced).",
    "Intervals of sample-quality metrics are paired bootstrap intervals: the generated and reference features "
    "of both evaluations resampled with the same seed, the reference alike in each replicate (sampling "
    "uncertainty of the evaluation; not training-seed uncertainty), except for models trained with several seeds "
    "(params.replicates): their mean over runs, with Welch's t-interval over training runs. Analyses use their "
    "standard errors (normal "
    "interval); counts and closed forms (network calls, the log-SNR crossing) are exact, and timings are single "
    "measurements (taken as exact).",
    "The verdict of a finding is that of the primary metric backend (the first of evaluation.backends); the "
    "paper's numbers are from the data set named beside them, ours from this preset's.",
]


def _records(directory: str, names, bootstrap_dir: str | None, suffix: str = ".json") -> dict[str, Record]:
    out = {}
    for name in names:
        path = os.path.join(directory, f"{name}{suffix}")
        reps = os.path.join(bootstrap_dir, f"{name}.safetensors") if bootstrap_dir else None
        out[name] = Record.load(path, reps)
    return out


def run(args) -> None:
    log = get_logger()
    config = load_config(args.params)
    claims = load_registry(args.registry)
    first_study = daed_config(config).posthoc.first  # Fig 4's first study (the claims' data set)
    analysis = analysis_config(config)
    first_panel = next(iter(analysis.reconstruction.panels))
    first_source = next(iter(analysis.transferability.sources))  # Fig 2's (the claims' data set)
    snr = read_json(args.snr)["datasets"][analysis.snr.datasets[0]]  # the first data set's (Fig 1)
    results = Results(
        config=config,
        models=_records(args.metrics_dir, config["models"], args.bootstrap_dir),
        replicates={
            name: [Record.load(os.path.join(args.metrics_dir, f"{run}.json")) for run, _ in runs]
            for name in config["models"]
            if (runs := replicate_runs(config, name)[1:])
        },
        snapshots=_records(args.snapshots_dir, config["models"], args.snapshots_bootstrap_dir),
        posthoc=Record.load(
            os.path.join(args.posthoc, f"{first_study}.json"),
            os.path.join(args.posthoc_bootstrap, f"{first_study}.safetensors"),
        ),
        surrogates=_records(args.surrogate_dir, surrogate_config(config).surrogates, args.surrogate_bootstrap_dir),
        dddm=_records(args.dddm_dir, dddm_config(config).runs, args.dddm_bootstrap_dir),
        reconstruction=read_csv(os.path.join(args.reconstruction, f"{first_panel}.csv")),
        transferability=read_csv(os.path.join(args.transferability, f"{first_source}.csv")),
        snr=snr,
        sample_timing={
            name: read_timing(os.path.join(args.sample_timing_dir, f"{name}.json")) for name in config["models"]
        },
        surrogate_timing={
            name: read_timing(os.path.join(args.surrogate_timing_dir, f"{name}.json"))
            for name in surrogate_config(config).surrogates
        },
    )
    backends = evaluation_config(config).backends
    assessed = assess(claims, results, backends)
    summary, summary_columns = summary_rows(assessed, backends)
    details = detail_rows(assessed)
    title = "Findings of the studies: do they reproduce in this preset?"
    md = render_markdown(summary, summary_columns, title, [])
    md += "\n" + render_markdown(
        [significant(row) for row in details], DETAIL_COLUMNS, "Each comparison: the paper's numbers and ours", NOTES
    )
    write_text(args.out_md, md)
    write_csv(args.out_csv, DETAIL_COLUMNS, [[row.get(c) for c in DETAIL_COLUMNS] for row in details])
    write_text(args.out_tex or tex_beside(args.out_md), render_latex(summary, summary_columns, title, NOTES))
    body = html_section(summary, summary_columns, title, []) + html_section(
        [significant(row) for row in details],
        DETAIL_COLUMNS,
        "Each comparison: the paper's numbers and ours",
        NOTES,
        level=2,
    )
    write_text(args.out_html or html_beside(args.out_md), html_document(title, body))
    write_text(args.out_summary_html, html_fragment(summary, summary_columns))
    record = claims_record(assessed, backends)
    write_json(args.out, record)
    log.info(
        "claims: %s -> %s",
        ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in record["counts"].items()),
        args.out_md,
    )
