# diffrepro: one DAG from the data set to the papers' tables.  This file only includes the rules and names the
# final targets; the rules are made from the step declaration (src/diffrepro/dag/steps.py), from which dvc.yaml
# is generated too, and run the same `diffrepro <step>` commands.  Parameters: params.yaml (switch presets with
# `diffrepro preset NAME`, or give one with `--configfile FILE`).
from snakemake.utils import min_version

min_version("9.10")

# the parameter file (params.yaml, or --configfile FILE) is read strictly in workflow/rules/common.smk: a YAML error
# or a duplicate key stops the plan naming the file and line


# `snakemake --report results/report.html`: the landing page of the HTML report (see README, Report)
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/steps.smk"


rule all:
    default_target: True
    input:
        final_targets(),
