"""The DAG, declared once: every step's command, inputs, outputs, parameter keys, foreach, resources and report
entries (:mod:`diffrepro.dag.steps`, in the vocabulary of :mod:`diffrepro.dag.spec`).

Made from it: the Snakemake rules (``workflow/rules/steps.smk`` loops over :data:`STEPS`), ``dvc.yaml``
(:mod:`diffrepro.dag.dvc`, ``diffrepro dag dvc-yaml``) and each step command's argument parser
(:mod:`diffrepro.cli`). Nothing here imports torch: Snakemake reads it while it parses the workflow.
"""

from .spec import Foreach, In, Members, Option, Out, Plot, Report, Step, Value
from .steps import STEPS, step

__all__ = ["STEPS", "Foreach", "In", "Members", "Option", "Out", "Plot", "Report", "Step", "Value", "step"]
