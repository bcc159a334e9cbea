"""Where the HTML report (``snakemake --report``) shows each table, figure and sample grid: under its study
(the category), as Tables, Figures or Samples (the subcategory), with one label naming it.

A table's study is the prefix of its name (``coursework_4_1`` -> the coursework); a model's sample grid is
shown under the study of the first table it is a row of (:func:`model_study`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..reporting.catalogue import CATALOGUE

__all__ = ["DATA_AND_MODELS", "PAPER_TABLES", "STUDIES", "SUBCATEGORIES", "model_study", "table_label", "table_study"]

#: study key (the prefix of its tables' names) -> the report's category
STUDIES = {
    "deja": "Deja et al. 2022",
    "coursework": "Coursework (Baryshnikov 2022)",
    "dddm": "DDDM (Zhang et al. 2024)",
    "claims": "Findings: which reproduce",
}
#: the category of the sample grids of models that no table names
DATA_AND_MODELS = "Data and models"
#: report kind -> the report's subcategory
SUBCATEGORIES = {"table": "Tables", "figure": "Figures", "samples": "Samples"}
#: the name of each table in its paper
PAPER_TABLES = {name: info.paper for name, info in CATALOGUE.items()}


def table_study(table: str) -> str:
    """The report category of table ``table``: the study its name starts with."""
    return STUDIES[table.split("_")[0]]


def table_label(table: str) -> str:
    """``deja_table1 (Table 1)``: the table's name and its name in the paper."""
    return f"{table} ({PAPER_TABLES[table]})" if table in PAPER_TABLES else table


def model_study(config: Mapping[str, Any], model: str) -> str:
    """The category of a model's sample grid: the study of the first table it is a row of; a surrogate without
    tables (DDPM-16) belongs to the coursework, a joint DAED without tables that a composed DAED takes its generator
    or DAE from to Deja et al., any other model to :data:`DATA_AND_MODELS`. A training-seed replicate's grid goes
    where its model's does."""
    if model not in config["models"] and model in config["replicates"]:
        model = config["replicates"][model]["model"]
    tables = config["models"][model]["tables"]
    if tables:
        return table_study(next(iter(tables)))
    composed = (config.get("daed") or {}).get("composed") or {}
    if any(model in (c["generator"], c["dae"]) for c in composed.values()):  # a part of a composed DAED (Table 4)
        return STUDIES["deja"]
    return STUDIES["coursework"] if model in config["surrogate"]["surrogates"] else DATA_AND_MODELS
