"""Every table the pipeline writes, named once: its name, its name in the paper and the step that writes it.
Everything else that names tables reads this: the tables the ``table`` step assembles from model rows
(:data:`MODEL_TABLES`, the names a model's ``tables`` section may use, checked with the parameter file), their
builders (:data:`diffrepro.reporting.tables.TABLES`, whose docstrings the report caption shows) and the
report's labels (:mod:`diffrepro.dag.report`).

Imports nothing and holds no prose, so the config check can read it without editing a description rerunning
every step (it is in every step's code closure).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CATALOGUE", "MODEL_TABLES", "TableInfo"]


@dataclass(frozen=True)
class TableInfo:
    """``paper``: the table's name in its paper; ``step``: the step that writes it (``table`` assembles the
    rows of the models whose ``tables`` section names it)."""

    paper: str
    step: str


CATALOGUE: dict[str, TableInfo] = {
    "deja_table1": TableInfo("Table 1", "table"),
    "deja_table2": TableInfo("Table 2", "transferability_table"),
    "deja_extended": TableInfo("Tables 3-5", "table"),
    "deja_table7": TableInfo("Table 7", "table"),
    "coursework_4_1": TableInfo("Table 4.1", "table"),
    "coursework_4_2": TableInfo("Table 4.2", "table"),
    "coursework_4_3": TableInfo("Table 4.3", "table"),
    "coursework_4_4": TableInfo("Table 4.4", "table"),
    "coursework_4_5": TableInfo("Table 4.5", "surrogate_table"),
    "dddm_table1": TableInfo("Table 1", "dddm_tables"),
    "claims": TableInfo("the findings", "claims"),
}

#: the tables the ``table`` step assembles from model rows (the names a model's ``tables`` section may use)
MODEL_TABLES: tuple[str, ...] = tuple(name for name, info in CATALOGUE.items() if info.step == "table")
