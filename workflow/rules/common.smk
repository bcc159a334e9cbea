# Shared definitions: the parameter file and its validation, and the parts of each step's Snakemake rule made
# from the step declaration (diffrepro.dag.steps): its command, inputs, outputs, parameter keys and resources.
import inspect
import os
import re

from diffrepro.config import ConfigError, validate_config
from diffrepro.paramfile import read_params
from diffrepro.dag import STEPS
from diffrepro.reporting.tables import TABLES
from diffrepro.dag.report import STUDIES, SUBCATEGORIES, model_study, table_label, table_study
from diffrepro.dag.spec import lookup

# The parameter file every step reads: params.yaml (DVC's too; `diffrepro preset NAME` switches it), or the one
# file given with `snakemake --configfile FILE` (then FILE alone is the config, not merged into params.yaml, and
# the steps read FILE).  `--config KEY=VALUE` overrides are refused: the steps would not see them.
_cli_files = [os.path.relpath(str(f)) for f in (workflow.overwrite_configfiles or [])]
if len(_cli_files) > 1:
    raise WorkflowError(f"give one parameter file with --configfile, got {', '.join(_cli_files)}")
PARAMS_FILE = _cli_files[0] if _cli_files else "params.yaml"
try:  # strictly: a duplicate key or a YAML error stops the plan, naming the file and line
    _file_config = read_params(PARAMS_FILE)
except ConfigError as err:
    raise WorkflowError(str(err))
if (workflow.config_settings.overwrite_config or {}) != (_file_config if _cli_files else {}):
    raise WorkflowError(
        "--config overrides are not supported: the diffrepro steps (and DVC) read the parameter file, so edit it, "
        "use `dvc exp run -S KEY=VALUE`, or switch presets with `diffrepro preset NAME` / `--configfile FILE`"
    )
config.clear()  # the file as read strictly (Snakemake's own loader lets a duplicate key's last value win)
config.update(_file_config)

try:
    validate_config(config, source=PARAMS_FILE)
except ConfigError as err:
    raise WorkflowError(str(err))


def element(step, wildcards):
    """The foreach element of a job (None when the step runs once)."""
    return wildcards[step.foreach.wildcard] if step.foreach else None


def pattern(step, template):
    """A path template as a Snakemake pattern: the foreach element is the wildcard, params values filled in, in
    the folders of the preset (presets/NAME/ unless it is the default)."""
    return step.path(template, config, f"{{{step.foreach.wildcard}}}" if step.foreach else None)


def step_inputs(step):
    """The input function: the step's input files (of a directory argument, the files listed inside) and its
    code, the source files it runs (its module's import closure and the loaders of the data sets it loads)."""

    def inputs(wildcards):
        key = element(step, wildcards)
        files = {step.input_key(a): step.input_files(a, config, key) for a in step.inputs_of(config)}
        files["code"] = step.code(config, key)
        return files

    return inputs


def report_entry(step, out, path):
    """``path`` marked for the report: under its study, as a table, figure or sample grid, with its label."""
    entry = out.report

    def name(wildcards):
        return step.resolve(entry.label, config, element(step, wildcards))

    if entry.kind == "table":
        category = lambda w: table_study(name(w))
        labels = lambda w: {"table": table_label(name(w))}
    else:
        if entry.study is not None:
            category = STUDIES[entry.study]
        else:  # a model's sample grid: under the study of its tables
            category = lambda w: model_study(config, element(step, w))
        labels = lambda w: {entry.kind: name(w)}
    return report(
        path,
        caption=f"../report/{entry.caption}.rst",
        category=category,
        subcategory=SUBCATEGORIES[entry.kind],
        labels=labels,
    )


def step_outputs(step):
    outputs = {}
    for out in step.outputs:
        path = pattern(step, out.path)
        if out.members:
            outputs[out.name] = out.members.files(path, config)
        elif out.directory:
            outputs[out.name] = directory(path)
        elif out.report:
            outputs[out.name] = report_entry(step, out, path)
        else:
            outputs[out.name] = path
    return outputs


def step_constraints(step):
    """The foreach wildcard matches the elements of the parameter file only (never, when there are none)."""
    if not step.foreach:
        return {}
    return {step.foreach.wildcard: "|".join(re.escape(e) for e in step.elements(config)) or "(?!)"}


def step_resources(step):
    return {"mem_mb": step.mem_mb, **({"gpu": step.gpu} if step.gpu else {})}


def step_threads(step):
    """The cores a job asks for: its step's fixed torch thread count (the command runs on exactly that many,
    so the numbers do not depend on --cores)."""
    return step.threads


def step_params(step):
    """The params of a step's rule: ``tracked``, the parameter keys the step reads with their values (a change
    reruns the job), ``command``, the job's command line (the rule's shell command), and for the ``table``
    step ``description``, what the table holds (its report caption shows it: the docstring of its builder)."""

    def tracked(wildcards):
        return {k: lookup(config, k) for k in step.param_keys(config, element(step, wildcards))}

    def command(wildcards):
        return " ".join(step.argv(config, element(step, wildcards), PARAMS_FILE))

    params = {"tracked": tracked, "command": command}
    if step.name == "table":
        params["description"] = lambda wildcards: " ".join(inspect.getdoc(TABLES[element(step, wildcards)]).split())
    return params


def final_targets():
    """Every output of every job."""
    return [
        path
        for step in STEPS
        for key in step.elements(config)
        for out in step.outputs
        for path in step.output_files(out, config, key)
    ]
