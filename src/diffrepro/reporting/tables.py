"""The studies' tables, built from the DAG's per-model records with the published values beside ours (written
as Markdown, CSV and LaTeX by :func:`diffrepro.reporting.render.write_table`, which adds the Δ = ours - paper
columns).

Each table is a function ``records -> (rows, columns, title, notes)``; :data:`TABLES` names them.
A model is a row of a table when its ``tables`` section names it (mapped to the key of the paper's
row shown beside it, or null).  The records of one model are:

* ``tables`` (the model's ``tables`` section: table -> paper row key),
* ``metrics`` (evaluate: FID, KID, precision/recall, the classifier-logit score, samples/s, and the
  model's settings), ``nll`` (bits/dim), ``train`` (parameters, train time) and ``snapshots``
  (metrics of the EMA weights kept during training).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .catalogue import MODEL_TABLES
from .paper_values import COURSEWORK_DDPM_800K, DEJA_EXTENDED_NUMBER, paper_row, paper_rows, paper_run

Record = dict[str, Any]
TableResult = tuple[list[dict[str, Any]], list[str], str, list[str]]

LOSS_NAMES = {"simple": "Simple", "vlb": "VLB", "hybrid": "Hybrid", "iwdiff": "IWDiff"}
NOT_AVAILABLE = "n/a"

#: metric key -> column label; Prec/Rec are the distribution precision/recall of Sajjadi et al. 2018 (the
#: definition of Deja et al.), k-NN Prec/Rec those of Kynkaanniemi et al. 2019
METRIC_LABELS = {
    "score": "IS",
    "fid": "FID",
    "sfid": "sFID",
    "kid": "KID×1e3",
    "prd_precision": "Prec",
    "prd_recall": "Rec",
    "precision": "k-NN Prec",
    "recall": "k-NN Rec",
}
BACKEND_LABELS = {"inception": "Inception", "classifier": "classifier"}


def backends_of(records: Sequence[Record]) -> list[str]:
    """The metric backends of the records' metrics, primary first (records made before backends: none)."""
    for rec in records:
        m = rec.get("metrics") or rec
        if m.get("backends"):
            primary = m.get("backend")
            return ([primary] if primary in m["backends"] else []) + sorted(b for b in m["backends"] if b != primary)
    return []


def metric_column(key: str, backend: str) -> str:
    return f"{METRIC_LABELS[key]} [{BACKEND_LABELS.get(backend, backend)}]"


def quality_columns(backends: Sequence[str], keys: Sequence[str]) -> list[str]:
    """Column names of ``keys`` for every backend, grouped by metric (FID [Inception], FID [classifier], ...)."""
    return [metric_column(k, b) for k in keys for b in backends]


#: a table's metric key -> the record's field whose bootstrap interval it shows (``<field>_lo``, ``<field>_hi``)
INTERVAL_FIELD = {"kid": "kid_mean"}


def _metric_value(mb: Record, key: str) -> Any:
    if key == "score":
        if mb.get("score_mean") is None:
            return NOT_AVAILABLE
        return f"{mb['score_mean']:.2f} ± {mb['score_std']:.2f}"
    if key == "kid":
        return None if mb.get("kid_mean") is None else 1000.0 * mb["kid_mean"]
    if key in ("prd_precision", "prd_recall", "precision", "recall"):
        return None if mb.get(key) is None else 100.0 * mb[key]
    if key == "sfid" and mb.get("sfid") is None:
        return NOT_AVAILABLE
    return mb.get(key)


def quality(m: Record | None, backends: Sequence[str], keys: Sequence[str]) -> dict[str, Any]:
    """One metrics record's values of ``keys`` on every backend (empty when ``m`` is None)."""
    if m is None:
        return {}
    per = m.get("backends") or {}
    out: dict[str, Any] = {}
    for b in backends:
        mb = per.get(b)
        for k in keys:
            column = metric_column(k, b)
            out[column] = None if mb is None else _metric_value(mb, k)
            field = INTERVAL_FIELD.get(k, k)
            if mb is not None and mb.get(f"{field}_lo") is not None and isinstance(out[column], float):
                scale = out[column] / mb[field] if mb.get(field) else 1.0
                out[f"{column}_lo"], out[f"{column}_hi"] = scale * mb[f"{field}_lo"], scale * mb[f"{field}_hi"]
    if backends:
        out["N"] = m.get("n_generated")
    return out


def _bpd(rec: Record) -> float | None:
    nll = rec.get("nll")
    return None if not nll else nll.get("bits_per_dim")


def _paper(table: str, dataset: str, rec: Record) -> dict[str, float]:
    return paper_row(table, dataset, rec["tables"].get(table)) or {}


def backend_notes(records: Sequence[Record]) -> list[str]:
    """What produced the metric columns: each backend with its sample counts, and the definitions."""
    m0 = next((r.get("metrics") or r for r in records if (r.get("metrics") or r).get("backends")), None)
    if m0 is None:
        return []
    notes = []
    for b in backends_of([m0]):
        mb = m0["backends"][b]
        notes.append(
            f"[{BACKEND_LABELS.get(b, b)}]: {mb.get('feature_extractor')}; {mb.get('n_generated')} "
            f"generated vs {mb.get('n_reference')} reference images ({mb.get('reference_split')} split) "
            "per number (N column: generated images of the row)."
        )
    notes += inception_score_notes(records)
    if "classifier" in m0["backends"]:
        notes.append(
            "IS [classifier]: the classifier-logit Inception-style score of the in-pipeline classifier (not "
            "the Inception Score); [classifier] columns are comparable between our rows only."
        )
    notes.append(
        "Prec/Rec: distribution precision/recall of Sajjadi et al. 2018 (F_1/8 / F_8, k-means on the "
        "features), the definition Deja et al. report; k-NN Prec/Rec: Kynkaanniemi et al. 2019 (k = "
        f"{(next(iter(m0['backends'].values())) or {}).get('prc_neighborhood', 3)}); both in percent. "
        "KID×1e3: kernel Inception distance times 1000. sFID: Fréchet distance of the first 7 mixed_6/conv "
        "channels (Nash et al. 2021)."
    )
    return notes


def inception_score_notes(records: Sequence[Record]) -> list[str]:
    """The note on the IS [Inception] column: which Inception weights gave its numbers (those with the classifier
    layer: the Inception Score, with its splits) and which, without it, give n/a; none without an Inception
    backend."""
    evaluated = [((r.get("metrics") or r).get("backends") or {}).get("inception") for r in records]
    evaluated = [mb for mb in evaluated if mb]
    if not evaluated:
        return []

    def distinct(values: Any) -> str:
        return "; ".join(dict.fromkeys(str(v) for v in values))

    scored = [mb for mb in evaluated if mb.get("score_mean") is not None]
    unscored = [mb for mb in evaluated if mb.get("score_mean") is None]
    if not scored:
        return [
            "IS [Inception]: n/a: the Inception weights used have no classifier layer (no logits), so no Inception "
            f"Score is reported ({distinct(mb.get('feature_extractor') for mb in unscored)}); torch-fidelity's "
            "weights file, which has it, gives the IS."
        ]
    splits = distinct(mb.get("isc_splits") or "?" for mb in scored)
    note = (
        "IS [Inception]: the Inception Score, torch-fidelity's definition (softmax of the logits; "
        f"exp(E[KL(p(y|x) || p(y))]) in each of {splits} splits; mean ± std over the splits), from Inception "
        f"weights with the classifier layer ({distinct(mb.get('feature_extractor') for mb in scored)})."
    )
    if unscored:
        note += (
            " n/a in the rows evaluated with weights without it "
            f"({distinct(mb.get('feature_extractor') for mb in unscored)})."
        )
    return [note]


def common_notes(records: Sequence[Record], dataset: str) -> list[str]:
    if not records:
        return []
    m = records[0]["metrics"]
    return (
        [f"Data set: {dataset} at {m.get('resolution')} px; reference: the {m.get('reference_split')} split."]
        + backend_notes(records)
        + denoiser_share_notes(records)
        + composed_notes(records)
    )


def composed_notes(records: Sequence[Record]) -> list[str]:
    """A note per composed DAED row (``daed.composed``): which generator and which DAE it joins; it has no
    bits/dim (no NLL job) and no training of its own."""
    notes = []
    for r in records:
        c = (r.get("metrics") or {}).get("composed")
        if c:
            notes.append(
                f"{r['metrics']['model']}: a composed DAED, the generator of {c['generator']} with the DAE of "
                f"{c['dae']} (trained on {c['dae_data']}), sampled with {c['generator']}'s sampler and noise; "
                "no bits/dim (not computed for composed DAEDs)."
            )
    return notes


def seed_notes(pooled: Mapping[str, Sequence[int]]) -> list[str]:
    """The note on the rows of models trained with several seeds (model -> its runs' seeds): what the value
    and the interval of such a row are; the other rows are one run each with its evaluation's bootstrap interval."""
    if not pooled:
        return []
    runs = "; ".join(f"{m}: {len(s)} runs, seeds {', '.join(map(str, s))}" for m, s in sorted(pooled.items()))
    return [
        f"Rows of models trained with several seeds ({runs}): the mean over the runs, interval the 95% t-interval "
        "of the mean over runs (training-seed and sampling spread together); every other row is one run, "
        "interval the 95% bootstrap interval of its evaluation."
    ]


def denoiser_share_notes(records: Sequence[Record]) -> list[str]:
    """A note per joint DAED trained with a ``denoiser_share`` (a departure from the paper's timestep sampler)."""
    notes = []
    for r in records:
        m = r.get("metrics") or r
        share = (m.get("timestep_sampler_options") or {}).get("denoiser_share")
        if m.get("kind") == "daed" and share is not None:
            notes.append(
                f"{m['model']}: its DAE got {share:g} of the training examples (timestep_sampler.denoiser_share; "
                "the paper's sampler gives it beta_1 T / (T - 1 + beta_1 T)) so that it sees as many as in the "
                "paper's run; the objective is the same in expectation."
            )
    return notes


def _split(m: Record) -> str:
    """The DAED split a metrics record stands for: "-" for a DDGM, "β1=<beta_1>" or "linear" for a joint DAED."""
    if m.get("kind", "ddgm") != "daed":
        return "-"
    beta = (m.get("schedule_options") or {}).get("beta_1")
    return f"β1={beta:g}" if m.get("schedule") == "linear_combine" and beta is not None else m.get("schedule", "-")


def _paper_split(key: str) -> str:
    if not key.startswith("daed"):
        return "-"
    tail = key.rsplit("_", 1)[-1]
    return "linear" if tail == "linear" else f"β1={tail[1:]}"


def _paper_layout(
    table: str,
    records: Sequence[Record],
    dataset: str,
    row: Callable[[Record | None, str | None, dict[str, float]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """Rows in the paper's order: every published row of ``table`` for ``dataset`` (with ours beside it when a
    model maps to it; empty columns when this preset trains no such model), then our models without a
    published row."""
    paper = paper_rows(table, dataset)
    mapped: dict[str, list[Record]] = {}
    extra = []
    for rec in records:
        key = rec["tables"].get(table)
        if key is not None and key in paper:
            mapped.setdefault(key, []).append(rec)
        else:
            extra.append(rec)
    rows = []
    for key, p in paper.items():
        for rec in mapped.get(key) or [None]:
            rows.append(row(rec, key, p))
    rows.extend(
        row(rec, rec["tables"].get(table), paper_row(table, dataset, rec["tables"].get(table)) or {}) for rec in extra
    )
    return rows


#: the metrics of Deja et al.'s Table 1 and of its appendix Tables 3-5
TABLE1_KEYS = ("fid", "prd_precision", "prd_recall", "precision", "recall")
EXTENDED_KEYS = ("score", "fid", "sfid", "kid", "prd_precision", "prd_recall", "precision", "recall")
IS_FID_KEYS = ("score", "fid")


def _ours(rec: Record | None, backends: Sequence[str], keys: Sequence[str]) -> dict[str, Any]:
    if rec is None:
        return {}
    m = rec["metrics"]
    return {
        "Model": m["model"],
        "Kind": m.get("kind", "ddgm").upper(),
        "Loss": LOSS_NAMES[m["objective"]],
        "Split": _split(m),
        "T": m["timesteps"],
        **quality(m, backends, keys),
        "Bits/dim": _bpd(rec),
    }


def _deja_quality(
    table: str, records: Sequence[Record], dataset: str, keys: Sequence[str], paper_keys: Sequence[str]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and columns of a Deja et al. quality table in the paper's layout: the paper's row and split, ours
    (``keys`` on every backend, :func:`_ours`) and the published values ``paper_keys`` ("Paper <key>")."""
    bk = backends_of(records)
    paper_columns = [f"Paper {k}" for k in paper_keys]

    def row(rec, key, p):
        return {
            "Paper row": key or "-",
            "Paper split": _paper_split(key) if key else "-",
            **_ours(rec, bk, keys),
            **{c: p.get(k) for c, k in zip(paper_columns, paper_keys, strict=True)},
        }

    columns = [
        "Paper row",
        "Paper split",
        "Model",
        "Kind",
        "Loss",
        "Split",
        "T",
        *quality_columns(bk, keys),
        "N",
        "Bits/dim",
        *paper_columns,
    ]
    return _paper_layout(table, records, dataset, row), columns


def deja_table1(records: Sequence[Record], dataset: str) -> TableResult:
    """Deja et al. 2022, Table 1: DDGMs and joint DAEDs (T, FID, distribution and k-NN precision and recall, bits/dim
    on test images)."""
    rows, columns = _deja_quality("deja_table1", records, dataset, TABLE1_KEYS, ("T", "FID", "Prec", "Rec"))
    notes = common_notes(records, dataset) + [
        "Bits/dim: the exact variational bound over all T steps on test images (diffrepro nll).",
        "DAED rows are joint DAEDs (models of kind daed): split β1=x is the linear_combine schedule with "
        "betas[0] = x; linear is the plain linear schedule whose first step the DAE takes. Rows with empty "
        "'ours' columns are published rows this preset does not train.",
        "Paper columns: Deja et al. 2022, Table 1 (TF-Inception FID).",
    ]
    return (
        rows,
        columns,
        "Table 1: DDGM and DAED sample quality (Deja et al. 2022 layout)",
        notes,
    )


def deja_extended(records: Sequence[Record], dataset: str) -> TableResult:
    """Deja et al. 2022, appendix Tables 3-5 (the one of this data set): IS, FID, sFID, KID, precision and recall
    (distribution and k-NN) and bits/dim of every DDGM and DAED."""
    rows, columns = _deja_quality(
        "deja_extended", records, dataset, EXTENDED_KEYS, ("T", "IS", "FID", "sFID", "Prec", "Rec")
    )
    number = DEJA_EXTENDED_NUMBER.get(dataset)
    notes = common_notes(records, dataset) + [
        "sFID [classifier]: n/a (sFID needs the Inception mixed_6 spatial features).",
        "DAED rows are joint DAEDs; rows with empty 'ours' columns are published rows this preset does not train.",
        (
            f"Paper columns: Deja et al. 2022, appendix Table {number}."
            if number
            else f"Paper columns: Deja et al. 2022 report no {dataset} rows."
        ),
    ]
    title = f"Tables 3-5: extended evaluation (Deja et al. 2022 appendix{f', Table {number}' if number else ''} layout)"
    return rows, columns, title, notes


def deja_table7(records: Sequence[Record], dataset: str) -> TableResult:
    """Deja et al. 2022, appendix Table 7: the DAED against larger DDGMs (1.5x channels, 2x residual blocks):
    parameters, seconds per sample, FID, precision and recall."""
    bk = backends_of(records)

    def row(rec, key, p):
        out = {"Paper row": key or "-"}
        if rec is not None:
            m, t = rec["metrics"], rec["train"]
            sps = m.get("samples_per_second")
            out.update(
                {
                    "Model": m["model"],
                    "Kind": m.get("kind", "ddgm").upper(),
                    "Base ch": m["unet"]["base_channels"],
                    "Res blocks": m["unet"]["num_res_blocks"],
                    "Params (M)": t["parameters"] / 1e6,
                    "Seconds/sample": (1.0 / sps) if sps else None,
                    **quality(m, bk, TABLE1_KEYS[:3]),
                }
            )
        out.update({f"Paper {k}": p.get(k) for k in ("Params (M)", "Seconds/sample", "FID", "Prec", "Rec")})
        return out

    sample_note = ""
    if records:
        m = records[0]["metrics"]
        sample_note = (
            f" Ours: wall-clock sampling seconds of the sample step divided by the {m.get('n_generated')} "
            "samples (batched as params' sample.batch_size, on this machine; jobs may share the CPU)."
        )
    notes = common_notes(records, dataset) + [
        "Params: all trainable parameters (a joint DAED holds two U-Nets)." + sample_note,
        "Paper columns: Deja et al. 2022, appendix Table 7 (Fashion-MNIST, 28 px, one GPU).",
    ]
    columns = [
        "Paper row",
        "Model",
        "Kind",
        "Base ch",
        "Res blocks",
        "Params (M)",
        "Seconds/sample",
        *quality_columns(bk, TABLE1_KEYS[:3]),
        "N",
        "Paper Params (M)",
        "Paper Seconds/sample",
        "Paper FID",
        "Paper Prec",
        "Paper Rec",
    ]
    return (
        _paper_layout("deja_table7", records, dataset, row),
        columns,
        "Table 7: DAED vs larger DDGMs (Deja et al. 2022 appendix layout)",
        notes,
    )


def _training_steps(table: str, records: Sequence[Record], dataset: str, title: str) -> TableResult:
    bk = backends_of(records)
    rows = []
    for rec in records:
        m = rec["metrics"]
        total = rec["snapshots"]["final_step"]
        points = [(s["step"], s) for s in rec["snapshots"]["snapshots"]] + [(total, m)]
        paper = paper_run(table, rec["tables"].get(table)) or []
        for step, point in points:
            frac = step / total
            match = next((p for p in paper if abs(p["fraction"] - frac) < 0.02), {})
            rows.append(
                {
                    "Model": m["model"],
                    "T": m["timesteps"],
                    "Iterations": step,
                    "Fraction": round(frac, 3),
                    **quality(point, bk, IS_FID_KEYS),
                    "Paper iterations": match.get("Iterations"),
                    "Paper IS": match.get("IS"),
                    "Paper FID": match.get("FID"),
                }
            )
    notes = common_notes(records, dataset) + [
        "Rows of one model: its EMA weights at the train.snapshots fractions of training, then the final weights; "
        "paper rows are matched by the fraction of training (the paper evaluated every 50k of 150k steps).",
        "Paper columns: Baryshnikov 2022 (coursework), CIFAR-10, "
        + (
            "T=1000; the original DDPM reached IS "
            f"{COURSEWORK_DDPM_800K['IS']}, FID {COURSEWORK_DDPM_800K['FID']} after 800k steps."
            if table == "coursework_4_1"
            else "T=100 with betas 4e-4..0.18."
        ),
    ]
    columns = [
        "Model",
        "T",
        "Iterations",
        "Fraction",
        *quality_columns(bk, IS_FID_KEYS),
        "N",
        "Paper iterations",
        "Paper IS",
        "Paper FID",
    ]
    return rows, columns, title, notes


def coursework_4_1(records: Sequence[Record], dataset: str) -> TableResult:
    """Coursework (Baryshnikov 2022) Table 4.1: IS and FID against training iterations, one row per EMA snapshot of
    ``train.snapshots`` and the final weights (the paper: T = 1000)."""
    return _training_steps("coursework_4_1", records, dataset, "Table 4.1: quality vs training iterations")


def coursework_4_2(records: Sequence[Record], dataset: str) -> TableResult:
    """Coursework (Baryshnikov 2022) Table 4.2: IS and FID against training iterations for T = 100 (betas 4e-4 to
    0.18), one row per EMA snapshot and the final weights."""
    return _training_steps("coursework_4_2", records, dataset, "Table 4.2: quality vs training iterations, T = 100")


def coursework_4_3(records: Sequence[Record], dataset: str) -> TableResult:
    """Coursework (Baryshnikov 2022) Table 4.3: U-Net architectures (standard ResNet or MBConv blocks, channel
    multipliers, residual blocks, base channels): parameters, samples per second, training seconds per step, IS and
    FID."""
    bk = backends_of(records)
    rows = []
    for rec in records:
        m, t, p = rec["metrics"], rec["train"], _paper("coursework_4_3", dataset, rec)
        u = m["unet"]
        rows.append(
            {
                "Model": m["model"],
                "Architecture": u.get("architecture") or "-",
                "Block": {"resnet": "Standard", "mbconv": "MBConv"}[u.get("block", "resnet")],
                "Channel mult": "(" + ", ".join(map(str, u["channel_mult"])) + ")",
                "Res blocks": u["num_res_blocks"],
                "Base ch": u["base_channels"],
                "Params (M)": t["parameters"] / 1e6,
                "Samples/s": m["samples_per_second"],
                "Train s/step": t["seconds_per_step"],
                **quality(m, bk, IS_FID_KEYS),
                "Paper params (M)": p.get("Params (M)"),
                "Paper samples/s": p.get("Samples/s"),
                "Paper train h": p.get("Train h"),
                "Paper IS": p.get("IS"),
                "Paper FID": p.get("FID"),
            }
        )
    notes = common_notes(records, dataset) + [
        "Samples/s: measured by our sample step on this machine with the configured sampler; Train s/step: "
        "wall-clock seconds per training step over the runs that made the weights (jobs may share the CPU).",
        "Paper columns: Baryshnikov 2022 (coursework) Table 4.3, CIFAR-10 at 32 px on one V100 (150k steps).",
    ]
    columns = [
        "Model",
        "Architecture",
        "Block",
        "Channel mult",
        "Res blocks",
        "Base ch",
        "Params (M)",
        "Samples/s",
        "Train s/step",
        *quality_columns(bk, IS_FID_KEYS),
        "N",
        "Paper params (M)",
        "Paper samples/s",
        "Paper train h",
        "Paper IS",
        "Paper FID",
    ]
    return rows, columns, "Table 4.3: architectures", notes


def coursework_4_4(records: Sequence[Record], dataset: str) -> TableResult:
    """Coursework (Baryshnikov 2022) Table 4.4: objectives (Simple, VLB, hybrid, IWDiff) and timestep samplers
    (uniform, importance sampling): training time per step relative to the DDPM row, IS, FID and bits/dim."""
    reference = next(
        (r for r in records if r["tables"].get("coursework_4_4") == "DDPM"), records[0] if records else None
    )
    base = reference["train"]["seconds_per_step"] if reference else None
    bk = backends_of(records)
    rows = []
    for rec in records:
        m, t, p = rec["metrics"], rec["train"], _paper("coursework_4_4", dataset, rec)
        opts = m.get("objective_options") or {}
        setup = LOSS_NAMES[m["objective"]] + (f" (k={opts['k']})" if "k" in opts else "")
        rows.append(
            {
                "Model": m["model"],
                "Objective": setup,
                "Timestep sampler": m["timestep_sampler"],
                "Train s/step": t["seconds_per_step"],
                "Time ratio": (t["seconds_per_step"] / base) if base and t["seconds_per_step"] else None,
                **quality(m, bk, IS_FID_KEYS),
                "Bits/dim": _bpd(rec),
                "Paper setup": rec["tables"].get("coursework_4_4"),
                "Paper time ratio": p.get("Time ratio"),
                "Paper IS": p.get("IS"),
                "Paper FID": p.get("FID"),
            }
        )
    notes = common_notes(records, dataset) + [
        f"Time ratio: train seconds per step relative to {reference['metrics']['model'] if reference else '-'} "
        "(the row standing for the paper's DDPM).",
        "Paper columns: Baryshnikov 2022 (coursework) Table 4.4, CIFAR-10 (IWDiff with k=2).",
    ]
    columns = [
        "Model",
        "Objective",
        "Timestep sampler",
        "Train s/step",
        "Time ratio",
        *quality_columns(bk, IS_FID_KEYS),
        "N",
        "Bits/dim",
        "Paper setup",
        "Paper time ratio",
        "Paper IS",
        "Paper FID",
    ]
    return rows, columns, "Table 4.4: objectives and timestep samplers", notes


#: table name -> the function that builds it, for the tables the catalogue has the ``table`` step assemble
#: (:data:`~diffrepro.reporting.catalogue.MODEL_TABLES`; each is the function of the same name above)
TABLES: dict[str, Callable[[Sequence[Record], str], TableResult]] = {name: globals()[name] for name in MODEL_TABLES}


DATASET_COLUMN = "Data set"


def table_over_datasets(name: str, groups: Sequence[tuple[str, str, Sequence[Record]]]) -> TableResult:
    """Table ``name`` over several data sets: ``groups`` holds ``(label, dataset, records)`` per data set (the
    key of ``datasets``, the registered data-set name that selects the paper's rows, that data set's models).
    One group gives the table as :data:`TABLES` builds it; several give their rows one after the other with a
    leading "Data set" column, the union of the columns and every group's notes once."""
    if not groups:
        raise ValueError(f"{name}: no data set has a model in this table")
    if len(groups) == 1:
        _, dataset, records = groups[0]
        return TABLES[name](records, dataset)
    rows, columns, title, notes = [], [DATASET_COLUMN], None, []
    for label, dataset, records in groups:
        g_rows, g_columns, g_title, g_notes = TABLES[name](records, dataset)
        title = title or g_title
        rows.extend({DATASET_COLUMN: label, **r} for r in g_rows)
        columns.extend(c for c in g_columns if c not in columns)
        notes.extend(n for n in g_notes if n not in notes)
    return rows, columns, title, notes
