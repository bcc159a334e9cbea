# diffrepro: one DAG from the data set to the papers' tables.  This file only includes the rules
# and names the final targets; the steps themselves are `diffrepro <step>` commands, the same
# ones dvc.yaml runs.  Parameters: params.yaml (switch presets with `diffrepro preset NAME`).
from snakemake.utils import min_version

min_version("9.10")


configfile: "params.yaml"


# `snakemake --report results/report.html`: the landing page of the HTML report (see README, Report)
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/metrics.smk"
include: "workflow/rules/ddgm.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/daed.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/surrogate.smk"
include: "workflow/rules/dddm.smk"


rule all:
    input:
        final_targets(),
    default_target: True
