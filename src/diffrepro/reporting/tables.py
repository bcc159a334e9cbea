"""The studies' tables, built from the DAG's per-model records and written as Markdown and CSV with
the published values beside ours.

Each table is a function ``records -> (rows, columns, title, notes)``; :data:`TABLES` names them.
A model is a row of a table when its ``tables`` section names it (mapped to the key of the paper's
row shown beside it, or null).  The records of one model are:

* ``tables`` (the model's ``tables`` section: table -> paper row key),
* ``metrics`` (evaluate: FID, KID, precision/recall, the classifier-logit score, samples/s, and the
  model's settings), ``nll`` (bits/dim), ``train`` (parameters, train time) and ``snapshots``
  (metrics of the EMA weights kept during training).
"""

from __future__ import annotations

import csv
import io
import math
from typing import Any, Callable, Sequence

from ..atomic import write_text
from .paper_values import (COURSEWORK_DDPM_800K, DEJA_EXTENDED_NUMBER, paper_row, paper_run)

Record = dict[str, Any]
TableResult = tuple[list[dict[str, Any]], list[str], str, list[str]]

LOSS_NAMES = {"simple": "Simple", "vlb": "VLB", "hybrid": "Hybrid", "iwdiff": "IWDiff"}
NOT_AVAILABLE = "n/a"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.2f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


def _score(m: Record) -> str:
    return f"{m['classifier_score_mean']:.2f} ± {m['classifier_score_std']:.2f}"


def _bpd(rec: Record) -> float | None:
    nll = rec.get("nll")
    return None if not nll else nll.get("bits_per_dim")


def _paper(table: str, dataset: str, rec: Record) -> dict[str, float]:
    return paper_row(table, dataset, rec["tables"].get(table)) or {}


def common_notes(records: Sequence[Record], dataset: str) -> list[str]:
    if not records:
        return []
    m = records[0]["metrics"]
    return [
        f"Data set: {dataset} at {m.get('resolution')} px; reference: the {m.get('reference_split')} split; "
        f"{m.get('n_generated')} generated vs {m.get('n_reference')} reference images per row.",
        f"Feature extractor: {m.get('feature_extractor')}. FID/Prec/Rec on the in-pipeline classifier's features "
        "are NOT comparable in absolute value with the papers' TF-Inception numbers; compare our rows with each "
        "other and the direction of the differences with the paper's.",
        "IS column: the classifier-logit Inception-style score of the in-pipeline classifier (not the Inception "
        "Score; the papers' IS is computed on Inception-v3).",
    ]


def deja_table1(records: Sequence[Record], dataset: str) -> TableResult:
    rows = []
    for rec in records:
        m, p = rec["metrics"], _paper("deja_table1", dataset, rec)
        rows.append({
            "Model": m["model"], "Loss": LOSS_NAMES[m["objective"]], "Schedule": m["schedule"], "T": m["timesteps"],
            "FID": m["fid"], "Prec": 100.0 * m["precision"], "Rec": 100.0 * m["recall"], "Bits/dim": _bpd(rec),
            "Paper T": p.get("T"), "Paper FID": p.get("FID"), "Paper Prec": p.get("Prec"), "Paper Rec": p.get("Rec"),
        })
    notes = common_notes(records, dataset) + [
        "Prec/Rec: k-NN precision/recall (Kynkaanniemi et al. 2019, k=3), in percent; the paper reports the "
        "distribution precision/recall of Sajjadi et al. 2018.",
        "Bits/dim: the exact variational bound over all T steps on test images (diffrepro nll).",
        "Paper columns: Deja et al. 2022, Table 1 (TF-Inception FID).",
    ]
    columns = ["Model", "Loss", "Schedule", "T", "FID", "Prec", "Rec", "Bits/dim",
               "Paper T", "Paper FID", "Paper Prec", "Paper Rec"]
    return rows, columns, "Table 1: DDGM sample quality (Deja et al. 2022 layout)", notes


def deja_extended(records: Sequence[Record], dataset: str) -> TableResult:
    rows = []
    for rec in records:
        m, p = rec["metrics"], _paper("deja_extended", dataset, rec)
        rows.append({
            "Model": m["model"], "Loss": LOSS_NAMES[m["objective"]], "T": m["timesteps"], "IS": _score(m),
            "FID": m["fid"], "sFID": NOT_AVAILABLE, "Prec": 100.0 * m["precision"], "Rec": 100.0 * m["recall"],
            "Bits/dim": _bpd(rec), "Paper IS": p.get("IS"), "Paper FID": p.get("FID"), "Paper sFID": p.get("sFID"),
            "Paper Prec": p.get("Prec"), "Paper Rec": p.get("Rec"),
        })
    number = DEJA_EXTENDED_NUMBER.get(dataset)
    notes = common_notes(records, dataset) + [
        "sFID: n/a with this backend (it needs the Inception mixed_6 spatial features: the Inception backend).",
        "Prec/Rec: k-NN (Kynkaanniemi et al. 2019, k=3), in percent; the paper's are Sajjadi et al. 2018.",
        (f"Paper columns: Deja et al. 2022, appendix Table {number}." if number
         else f"Paper columns: Deja et al. 2022 report no {dataset} rows."),
    ]
    columns = ["Model", "Loss", "T", "IS", "FID", "sFID", "Prec", "Rec", "Bits/dim",
               "Paper IS", "Paper FID", "Paper sFID", "Paper Prec", "Paper Rec"]
    title = f"Tables 3-5: extended evaluation (Deja et al. 2022 appendix{f', Table {number}' if number else ''} layout)"
    return rows, columns, title, notes


def _training_steps(table: str, records: Sequence[Record], dataset: str, title: str) -> TableResult:
    rows = []
    for rec in records:
        m = rec["metrics"]
        total = rec["snapshots"]["final_step"]
        points = [(s["step"], s) for s in rec["snapshots"]["snapshots"]] + [(total, m)]
        paper = paper_run(table, rec["tables"].get(table)) or []
        for step, point in points:
            frac = step / total
            match = next((p for p in paper if abs(p["fraction"] - frac) < 0.02), {})
            rows.append({
                "Model": m["model"], "T": m["timesteps"], "Iterations": step, "Fraction": round(frac, 3),
                "IS": _score(point), "FID": point["fid"], "Paper iterations": match.get("Iterations"),
                "Paper IS": match.get("IS"), "Paper FID": match.get("FID"),
            })
    notes = common_notes(records, dataset) + [
        "Rows of one model: its EMA weights at the train.snapshots fractions of training, then the final weights; "
        "paper rows are matched by the fraction of training (the paper evaluated every 50k of 150k steps).",
        "Paper columns: Baryshnikov 2022 (coursework), CIFAR-10, "
        + ("T=1000; the original DDPM reached IS "
           f"{COURSEWORK_DDPM_800K['IS']}, FID {COURSEWORK_DDPM_800K['FID']} after 800k steps."
           if table == "coursework_4_1" else "T=100 with betas 4e-4..0.18."),
    ]
    columns = ["Model", "T", "Iterations", "Fraction", "IS", "FID", "Paper iterations", "Paper IS", "Paper FID"]
    return rows, columns, title, notes


def coursework_4_1(records: Sequence[Record], dataset: str) -> TableResult:
    return _training_steps("coursework_4_1", records, dataset, "Table 4.1: quality vs training iterations")


def coursework_4_2(records: Sequence[Record], dataset: str) -> TableResult:
    return _training_steps("coursework_4_2", records, dataset, "Table 4.2: quality vs training iterations, T = 100")


def coursework_4_3(records: Sequence[Record], dataset: str) -> TableResult:
    rows = []
    for rec in records:
        m, t, p = rec["metrics"], rec["train"], _paper("coursework_4_3", dataset, rec)
        u = m["unet"]
        rows.append({
            "Model": m["model"], "Architecture": u.get("architecture") or "-",
            "Block": {"resnet": "Standard", "mbconv": "MBConv"}[u.get("block", "resnet")],
            "Channel mult": "(" + ", ".join(map(str, u["channel_mult"])) + ")", "Res blocks": u["num_res_blocks"],
            "Base ch": u["base_channels"], "Params (M)": t["parameters"] / 1e6,
            "Samples/s": m["samples_per_second"], "Train s/step": t["seconds_per_step"], "IS": _score(m),
            "FID": m["fid"], "Paper params (M)": p.get("Params (M)"), "Paper samples/s": p.get("Samples/s"),
            "Paper train h": p.get("Train h"), "Paper IS": p.get("IS"), "Paper FID": p.get("FID"),
        })
    notes = common_notes(records, dataset) + [
        "Samples/s: measured by our sample step on this machine with the configured sampler; Train s/step: "
        "wall-clock seconds per training step over the runs that made the weights (jobs may share the CPU).",
        "Paper columns: Baryshnikov 2022 (coursework) Table 4.3, CIFAR-10 at 32 px on one V100 (150k steps).",
    ]
    columns = ["Model", "Architecture", "Block", "Channel mult", "Res blocks", "Base ch", "Params (M)", "Samples/s",
               "Train s/step", "IS", "FID", "Paper params (M)", "Paper samples/s", "Paper train h", "Paper IS",
               "Paper FID"]
    return rows, columns, "Table 4.3: architectures", notes


def coursework_4_4(records: Sequence[Record], dataset: str) -> TableResult:
    reference = next((r for r in records if r["tables"].get("coursework_4_4") == "DDPM"),
                     records[0] if records else None)
    base = reference["train"]["seconds_per_step"] if reference else None
    rows = []
    for rec in records:
        m, t, p = rec["metrics"], rec["train"], _paper("coursework_4_4", dataset, rec)
        opts = m.get("objective_options") or {}
        setup = LOSS_NAMES[m["objective"]] + (f" (k={opts['k']})" if "k" in opts else "")
        rows.append({
            "Model": m["model"], "Objective": setup, "Timestep sampler": m["timestep_sampler"],
            "Train s/step": t["seconds_per_step"],
            "Time ratio": (t["seconds_per_step"] / base) if base and t["seconds_per_step"] else None,
            "IS": _score(m), "FID": m["fid"], "Bits/dim": _bpd(rec),
            "Paper setup": rec["tables"].get("coursework_4_4"), "Paper time ratio": p.get("Time ratio"),
            "Paper IS": p.get("IS"), "Paper FID": p.get("FID"),
        })
    notes = common_notes(records, dataset) + [
        f"Time ratio: train seconds per step relative to {reference['metrics']['model'] if reference else '-'} "
        "(the row standing for the paper's DDPM).",
        "Paper columns: Baryshnikov 2022 (coursework) Table 4.4, CIFAR-10 (IWDiff with k=2).",
    ]
    columns = ["Model", "Objective", "Timestep sampler", "Train s/step", "Time ratio", "IS", "FID", "Bits/dim",
               "Paper setup", "Paper time ratio", "Paper IS", "Paper FID"]
    return rows, columns, "Table 4.4: objectives and timestep samplers", notes


TABLES: dict[str, Callable[[Sequence[Record], str], TableResult]] = {
    "deja_table1": deja_table1,
    "deja_extended": deja_extended,
    "coursework_4_1": coursework_4_1,
    "coursework_4_2": coursework_4_2,
    "coursework_4_3": coursework_4_3,
    "coursework_4_4": coursework_4_4,
}


def render_markdown(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str, notes: Sequence[str]) -> str:
    out = [f"# {title}", ""]
    if rows:
        out.append("| " + " | ".join(columns) + " |")
        out.append("|" + "|".join("---" for _ in columns) + "|")
        for row in rows:
            out.append("| " + " | ".join(_fmt(row.get(c)) for c in columns) + " |")
    else:
        out.append("No model of this preset is a row of this table (see each model's `tables` in params.yaml).")
    out.append("")
    out.extend(f"- {n}" for n in notes)
    return "\n".join(out) + "\n"


def render_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: ("" if row.get(c) is None else row.get(c)) for c in columns})
    return buf.getvalue()


def write_table(rows, columns, *, md_path: str, csv_path: str, title: str, notes: Sequence[str]) -> None:
    write_text(md_path, render_markdown(rows, columns, title, notes))
    write_text(csv_path, render_csv(rows, columns))
